//! Windows security descriptors written as SDDL (the string form
//! `ConvertSecurityDescriptorToStringSecurityDescriptorW` gives and `icacls`
//! `/save` reads), parsed in pure Rust so that who may read a file is judged
//! by the same code on every platform and tested anywhere. Only what decides
//! read access is kept: the owner and the DACL's allow and deny entries.

use serde::Serialize;

/// A security descriptor's owner and discretionary ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityDescriptor {
    /// The owner's SID (`S-1-…`), when the string had `O:`.
    pub owner: Option<String>,
    /// `None` is a NULL DACL (no `D:` part, or `D:NO_ACCESS_CONTROL`):
    /// everyone has every right. An empty list grants nothing to anyone.
    pub dacl: Option<Vec<Ace>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AceKind {
    Allow,
    Deny,
    /// Audit, alarm, label, object and resource entries: they grant nothing.
    Other,
}

/// One access control entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub kind: AceKind,
    /// `IO`: the entry only passes to children; it does not apply to the
    /// object itself.
    pub inherit_only: bool,
    pub mask: u32,
    /// `S-1-…`, or a domain-relative alias (`DA`, `DU`…) kept as written,
    /// since its SID depends on the domain.
    pub sid: String,
}

/// Rights that let a reader see a file's contents.
const FILE_READ_DATA: u32 = 0x1;
const GENERIC_ALL: u32 = 0x1000_0000;
const GENERIC_READ: u32 = 0x8000_0000;
const READS_CONTENTS: u32 = FILE_READ_DATA | GENERIC_ALL | GENERIC_READ;

pub const EVERYONE: &str = "S-1-1-0";
pub const SYSTEM: &str = "S-1-5-18";
pub const ADMINISTRATORS: &str = "S-1-5-32-544";
pub const TRUSTED_INSTALLER: &str =
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";
const CREATOR_OWNER: &str = "S-1-3-0";
const CREATOR_GROUP: &str = "S-1-3-1";
const OWNER_RIGHTS: &str = "S-1-3-4";

/// SDDL's two-letter SID aliases that name the same account on every
/// machine, and the account's name as `icacls` prints it.
const WELL_KNOWN: &[(&str, &str, &str)] = &[
    ("WD", "S-1-1-0", "Everyone"),
    ("CO", "S-1-3-0", "CREATOR OWNER"),
    ("CG", "S-1-3-1", "CREATOR GROUP"),
    ("OW", "S-1-3-4", "OWNER RIGHTS"),
    ("NU", "S-1-5-2", "NT AUTHORITY\\NETWORK"),
    ("IU", "S-1-5-4", "NT AUTHORITY\\INTERACTIVE"),
    ("SU", "S-1-5-6", "NT AUTHORITY\\SERVICE"),
    ("AN", "S-1-5-7", "NT AUTHORITY\\ANONYMOUS LOGON"),
    (
        "ED",
        "S-1-5-9",
        "NT AUTHORITY\\ENTERPRISE DOMAIN CONTROLLERS",
    ),
    ("PS", "S-1-5-10", "NT AUTHORITY\\SELF"),
    ("AU", "S-1-5-11", "NT AUTHORITY\\Authenticated Users"),
    ("RC", "S-1-5-12", "NT AUTHORITY\\RESTRICTED"),
    ("SY", "S-1-5-18", "NT AUTHORITY\\SYSTEM"),
    ("LS", "S-1-5-19", "NT AUTHORITY\\LOCAL SERVICE"),
    ("NS", "S-1-5-20", "NT AUTHORITY\\NETWORK SERVICE"),
    ("WR", "S-1-5-33", "NT AUTHORITY\\WRITE RESTRICTED"),
    ("BA", "S-1-5-32-544", "BUILTIN\\Administrators"),
    ("BU", "S-1-5-32-545", "BUILTIN\\Users"),
    ("BG", "S-1-5-32-546", "BUILTIN\\Guests"),
    ("PU", "S-1-5-32-547", "BUILTIN\\Power Users"),
    ("AO", "S-1-5-32-548", "BUILTIN\\Account Operators"),
    ("SO", "S-1-5-32-549", "BUILTIN\\Server Operators"),
    ("PO", "S-1-5-32-550", "BUILTIN\\Print Operators"),
    ("BO", "S-1-5-32-551", "BUILTIN\\Backup Operators"),
    ("RE", "S-1-5-32-552", "BUILTIN\\Replicator"),
    (
        "RU",
        "S-1-5-32-554",
        "BUILTIN\\Pre-Windows 2000 Compatible Access",
    ),
    ("RD", "S-1-5-32-555", "BUILTIN\\Remote Desktop Users"),
    (
        "NO",
        "S-1-5-32-556",
        "BUILTIN\\Network Configuration Operators",
    ),
    ("MU", "S-1-5-32-558", "BUILTIN\\Performance Monitor Users"),
    ("LU", "S-1-5-32-559", "BUILTIN\\Performance Log Users"),
    ("IS", "S-1-5-32-568", "BUILTIN\\IIS_IUSRS"),
    ("AC", "S-1-15-2-1", "ALL APPLICATION PACKAGES"),
];

/// Names for SIDs SDDL has no alias for.
const OTHER_NAMES: &[(&str, &str)] = &[(TRUSTED_INSTALLER, "NT SERVICE\\TrustedInstaller")];

/// Domain-relative aliases: their SID depends on the domain, so they are
/// kept as written and named here.
const DOMAIN_RELATIVE: &[(&str, &str)] = &[
    ("DA", "Domain Admins"),
    ("DU", "Domain Users"),
    ("DG", "Domain Guests"),
    ("DC", "Domain Computers"),
    ("DD", "Domain Controllers"),
    ("CA", "Cert Publishers"),
    ("EA", "Enterprise Admins"),
    ("SA", "Schema Admins"),
    ("PA", "Group Policy Creator Owners"),
    ("RS", "RAS and IAS Servers"),
    ("LA", "the local Administrator account"),
    ("LG", "the local Guest account"),
    ("CN", "Cloneable Domain Controllers"),
    ("AP", "Protected Users"),
    ("KA", "Key Admins"),
    ("EK", "Enterprise Key Admins"),
    ("RO", "Enterprise Read-only Domain Controllers"),
];

/// The account's name where it is known everywhere, else its SID.
pub fn account_name(sid: &str) -> String {
    WELL_KNOWN
        .iter()
        .find(|(_, s, _)| *s == sid)
        .map(|(_, _, name)| *name)
        .or_else(|| OTHER_NAMES.iter().find(|(s, _)| *s == sid).map(|(_, n)| *n))
        .or_else(|| {
            DOMAIN_RELATIVE
                .iter()
                .find(|(alias, _)| *alias == sid)
                .map(|(_, name)| *name)
        })
        .map(str::to_owned)
        .unwrap_or_else(|| sid.to_owned())
}

impl SecurityDescriptor {
    /// Parses `O:…G:…D:…S:…`; the group and SACL are read past, not kept.
    pub fn parse(sddl: &str) -> Result<SecurityDescriptor, String> {
        let text: String = sddl.chars().filter(|c| !c.is_whitespace()).collect();
        let mut owner = None;
        let mut dacl = None;
        for (tag, body) in components(&text)? {
            match tag {
                'O' => owner = Some(sid(body)?),
                'D' => dacl = acl(body)?,
                _ => {}
            }
        }
        Ok(SecurityDescriptor { owner, dacl })
    }

    /// The accounts that may read the file's contents, as SIDs, in the order
    /// their entries appear. A deny entry that takes read access away counts
    /// for the account it names, and for all when it names Everyone; group
    /// membership is not known here, so a deny on a group does not remove an
    /// allow for its members.
    pub fn readers(&self) -> Readers {
        let Some(dacl) = &self.dacl else {
            return Readers::Everyone;
        };
        let applies = |ace: &&Ace| !ace.inherit_only && ace.mask & READS_CONTENTS != 0;
        let denied: Vec<&str> = dacl
            .iter()
            .filter(applies)
            .filter(|ace| ace.kind == AceKind::Deny)
            .map(|ace| ace.sid.as_str())
            .collect();
        if denied.contains(&EVERYONE) {
            return Readers::Accounts(Vec::new());
        }
        let mut readers: Vec<String> = Vec::new();
        for ace in dacl.iter().filter(applies) {
            if ace.kind != AceKind::Allow || denied.contains(&ace.sid.as_str()) {
                continue;
            }
            // CREATOR OWNER/GROUP only matter when inherited; OWNER RIGHTS
            // is whoever owns the file.
            let sid = match ace.sid.as_str() {
                CREATOR_OWNER | CREATOR_GROUP => continue,
                OWNER_RIGHTS => match &self.owner {
                    Some(owner) => owner.clone(),
                    None => continue,
                },
                sid => sid.to_owned(),
            };
            if !readers.contains(&sid) {
                readers.push(sid);
            }
        }
        Readers::Accounts(readers)
    }
}

/// Who may read a file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readers {
    /// A NULL DACL: no access control at all.
    Everyone,
    Accounts(Vec<String>),
}

/// Splits `O:x G:y D:z S:w` at the tags: a tag is one of O, G, D, S followed
/// by a colon, outside parentheses.
fn components(text: &str) -> Result<Vec<(char, &str)>, String> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            // SIDs, aliases and ACL flags never hold a colon.
            b'O' | b'G' | b'D' | b'S' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                starts.push(i);
            }
            _ => {}
        }
    }
    if starts.first() != Some(&0) {
        return Err(format!(
            "`{text}` is not a security descriptor in SDDL: it must start with O:, G:, D: or S:"
        ));
    }
    Ok(starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(text.len());
            (bytes[start] as char, &text[start + 2..end])
        })
        .collect())
}

/// `PAI(A;;FA;;;SY)(…)`: flags, then entries. `NO_ACCESS_CONTROL` is a NULL DACL.
fn acl(body: &str) -> Result<Option<Vec<Ace>>, String> {
    let flags_end = body.find('(').unwrap_or(body.len());
    let flags = &body[..flags_end];
    if flags.contains("NO_ACCESS_CONTROL") {
        return Ok(None);
    }
    // P (protected), AI and AR (auto-inherited, and its request).
    if !flags
        .replace("AI", "")
        .replace("AR", "")
        .chars()
        .all(|c| c == 'P')
    {
        return Err(format!("`{flags}` is not an ACL's flags"));
    }
    let mut aces = Vec::new();
    let mut rest = &body[flags_end..];
    while !rest.is_empty() {
        let end = entry_end(rest)?;
        aces.push(ace(&rest[1..end])?);
        rest = &rest[end + 1..];
    }
    Ok(Some(aces))
}

/// The index of the parenthesis closing the entry `rest` starts with
/// (conditional entries nest parentheses).
fn entry_end(rest: &str) -> Result<usize, String> {
    if !rest.starts_with('(') {
        return Err(format!("expected an entry in parentheses at `{rest}`"));
    }
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err(format!("the entry `{rest}` is not closed"))
}

/// `type;flags;rights;object;inherited object;sid[;condition]`.
fn ace(text: &str) -> Result<Ace, String> {
    let fields: Vec<&str> = text.splitn(7, ';').collect();
    let [kind, flags, rights, _object, _inherited_object, account, ..] = fields[..] else {
        return Err(format!("the entry `({text})` does not have six fields"));
    };
    let kind = match kind {
        "A" | "XA" => AceKind::Allow,
        "D" | "XD" => AceKind::Deny,
        _ => AceKind::Other,
    };
    Ok(Ace {
        kind,
        inherit_only: two_letter_codes(flags)?.contains(&"IO"),
        mask: rights_mask(rights).map_err(|why| format!("the entry `({text})`: {why}"))?,
        sid: sid(account)?,
    })
}

fn two_letter_codes(text: &str) -> Result<Vec<&str>, String> {
    if !text.is_ascii() || !text.len().is_multiple_of(2) {
        return Err(format!("`{text}` is not a run of two-letter codes"));
    }
    Ok((0..text.len())
        .step_by(2)
        .map(|i| &text[i..i + 2])
        .collect())
}

/// An access mask as a number (hex `0x…`, octal `0…` or decimal) or as
/// two-letter rights.
fn rights_mask(rights: &str) -> Result<u32, String> {
    if let Some(hex) = rights
        .strip_prefix("0x")
        .or_else(|| rights.strip_prefix("0X"))
    {
        return u32::from_str_radix(hex, 16).map_err(|_| format!("`{rights}` is not a number"));
    }
    if rights.starts_with(|c: char| c.is_ascii_digit()) {
        let (digits, radix) = match rights.strip_prefix('0') {
            Some(octal) if !octal.is_empty() => (octal, 8),
            _ => (rights, 10),
        };
        return u32::from_str_radix(digits, radix)
            .map_err(|_| format!("`{rights}` is not a number"));
    }
    two_letter_codes(rights)?
        .into_iter()
        .try_fold(0u32, |mask, code| {
            right(code)
                .map(|bits| mask | bits)
                .ok_or_else(|| format!("`{code}` is not an access right"))
        })
}

fn right(code: &str) -> Option<u32> {
    Some(match code {
        "GA" => GENERIC_ALL,
        "GR" => GENERIC_READ,
        "GW" => 0x4000_0000,
        "GX" => 0x2000_0000,
        "RC" => 0x2_0000,
        "SD" => 0x1_0000,
        "WD" => 0x4_0000,
        "WO" => 0x8_0000,
        "CC" => 0x1,
        "DC" => 0x2,
        "LC" => 0x4,
        "SW" => 0x8,
        "RP" => 0x10,
        "WP" => 0x20,
        "DT" => 0x40,
        "LO" => 0x80,
        "CR" => 0x100,
        "FA" => 0x1F_01FF,
        "FR" => 0x12_0089,
        "FW" => 0x12_0116,
        "FX" => 0x12_00A0,
        "KA" => 0xF_003F,
        "KR" | "KX" => 0x2_0019,
        "KW" => 0x2_0006,
        "NR" | "NW" | "NX" => 0,
        _ => return None,
    })
}

/// A SID as `S-1-…`, or an alias turned into one (domain-relative aliases
/// stay as written).
fn sid(text: &str) -> Result<String, String> {
    if let Some(parts) = text.strip_prefix("S-") {
        let valid = parts.split('-').all(|part| {
            !part.is_empty()
                && (part.chars().all(|c| c.is_ascii_digit())
                    || part.starts_with("0x") && part.len() > 2)
        });
        return if valid {
            Ok(text.to_owned())
        } else {
            Err(format!("`{text}` is not a SID"))
        };
    }
    if let Some((_, sid, _)) = WELL_KNOWN.iter().find(|(alias, _, _)| *alias == text) {
        return Ok((*sid).to_owned());
    }
    if DOMAIN_RELATIVE.iter().any(|(alias, _)| *alias == text) {
        return Ok(text.to_owned());
    }
    Err(format!("`{text}` is not a SID or an SDDL account alias"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers(sddl: &str) -> Readers {
        SecurityDescriptor::parse(sddl).unwrap().readers()
    }

    fn accounts(list: &[&str]) -> Readers {
        Readers::Accounts(list.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn a_typical_program_files_file_is_read_by_users() {
        // What Windows gives a file created under C:\Program Files.
        let sddl = "O:BAG:SYD:AI(A;ID;FA;;;S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464)(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)(A;ID;0x1200a9;;;AC)";
        assert_eq!(
            readers(sddl),
            accounts(&[
                TRUSTED_INSTALLER,
                SYSTEM,
                ADMINISTRATORS,
                "S-1-5-32-545",
                "S-1-15-2-1"
            ])
        );
    }

    #[test]
    fn inherit_only_and_creator_entries_do_not_apply_to_the_file() {
        let sddl = "O:S-1-5-21-1-2-3-1001G:SYD:P(A;OICIIO;GA;;;BU)(A;;FA;;;CO)(A;;FA;;;SY)";
        assert_eq!(readers(sddl), accounts(&[SYSTEM]));
    }

    #[test]
    fn rights_without_read_data_do_not_make_a_reader() {
        // Write and execute only, and read-attributes/read-control (0x120080).
        assert_eq!(
            readers("D:(A;;FWFX;;;WD)(A;;0x120080;;;AU)(A;;GR;;;SY)"),
            accounts(&[SYSTEM])
        );
    }

    #[test]
    fn a_deny_removes_the_account_it_names_and_everyone_removes_all() {
        assert_eq!(
            readers("D:(D;;FR;;;BU)(A;;FA;;;BA)(A;;FR;;;BU)"),
            accounts(&[ADMINISTRATORS])
        );
        // A deny on a group does not remove a member's own allow.
        assert_eq!(
            readers("D:(D;;FR;;;BU)(A;;FR;;;S-1-5-21-1-2-3-1001)"),
            accounts(&["S-1-5-21-1-2-3-1001"])
        );
        assert_eq!(readers("D:(D;;GA;;;WD)(A;;FA;;;SY)"), accounts(&[]));
    }

    #[test]
    fn null_and_empty_dacls() {
        assert_eq!(readers("O:BAG:SY"), Readers::Everyone);
        assert_eq!(readers("D:NO_ACCESS_CONTROL"), Readers::Everyone);
        assert_eq!(readers("O:BAD:P"), accounts(&[]));
    }

    #[test]
    fn owner_rights_is_the_owner_and_numbers_parse_in_every_base() {
        let owner = "S-1-5-21-7-8-9-500";
        assert_eq!(
            readers(&format!("O:{owner}D:(A;;0x1;;;OW)(A;;1;;;SY)(A;;01;;;BA)")),
            accounts(&[owner, SYSTEM, ADMINISTRATORS])
        );
    }

    #[test]
    fn conditional_entries_nest_parentheses() {
        let sddl = "D:(XA;;FR;;;AU;(@User.Department == \"IT\"))(A;;FA;;;SY)";
        assert_eq!(readers(sddl), accounts(&["S-1-5-11", SYSTEM]));
    }

    #[test]
    fn domain_relative_aliases_stay_as_written_with_their_names() {
        assert_eq!(readers("D:(A;;FR;;;DU)"), accounts(&["DU"]));
        assert_eq!(account_name("DU"), "Domain Users");
        assert_eq!(account_name("S-1-5-32-545"), "BUILTIN\\Users");
        assert_eq!(
            account_name(TRUSTED_INSTALLER),
            "NT SERVICE\\TrustedInstaller"
        );
        assert_eq!(account_name("S-1-5-21-1-2-3-1001"), "S-1-5-21-1-2-3-1001");
    }

    #[test]
    fn malformed_descriptors_are_refused_with_the_reason() {
        for (sddl, why) in [
            ("hello", "must start with"),
            ("D:(A;;FR;;BU)", "six fields"),
            ("D:(A;;QQ;;;BU)", "`QQ` is not an access right"),
            ("D:(A;;FR;;;XY)", "not a SID"),
            ("D:(A;;FR;;;S-1-x)", "not a SID"),
            ("D:(A;;FR;;;BU", "not closed"),
            ("D:PAIx", "not an ACL's flags"),
            ("D:P(A;;FR;;;BU)x", "expected an entry"),
        ] {
            let error = SecurityDescriptor::parse(sddl).unwrap_err();
            assert!(error.contains(why), "{sddl}: {error}");
        }
    }
}
