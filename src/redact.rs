//! The one redactor: every secret the run learns is registered here, and
//! everything the tool writes — reports, logs, bundles — passes through
//! [`scrub`] on its way out.

use std::borrow::Cow;

use parking_lot::RwLock;

pub const MASK: &str = "<redacted>";

/// Every form of every registered secret, as bytes, longest first.
static SECRETS: RwLock<Vec<Vec<u8>>> = RwLock::new(Vec::new());

/// Registers a secret, and the forms it takes elsewhere — escaped inside JSON
/// and TOML strings, and as UTF-16LE (how TDS and Windows carry text) — so
/// none of them is ever written.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json_inner = json
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(secret);
    let forms = [
        secret.as_bytes().to_vec(),
        json_inner.as_bytes().to_vec(),
        secret.escape_default().to_string().into_bytes(),
        secret.encode_utf16().flat_map(u16::to_le_bytes).collect(),
    ];
    let mut secrets = SECRETS.write();
    for form in forms {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Whether any secret has been registered (nothing to mask otherwise).
pub fn any_registered() -> bool {
    !SECRETS.read().is_empty()
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read();
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        let Ok(secret) = std::str::from_utf8(secret) else {
            continue;
        };
        if out.contains(secret) {
            out = Cow::Owned(out.replace(secret, MASK));
        }
    }
    out
}

/// Applies `change` to every string in `value`; true if anything changed.
pub fn map_strings(value: &mut serde_json::Value, change: &dyn Fn(&str) -> Cow<'_, str>) -> bool {
    match value {
        serde_json::Value::String(text) => match change(text) {
            Cow::Owned(clean) => {
                *text = clean;
                true
            }
            Cow::Borrowed(_) => false,
        },
        serde_json::Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= map_strings(item, change);
            }
            changed
        }
        serde_json::Value::Object(map) => {
            let mut changed = false;
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                changed |= map_strings(&mut v, change);
                let key = match change(&key) {
                    Cow::Owned(clean) => {
                        changed = true;
                        clean
                    }
                    Cow::Borrowed(_) => key,
                };
                map.insert(key, v);
            }
            changed
        }
        _ => false,
    }
}

/// `value` with every registered secret masked in each string and key: a
/// value masked before it is laid out, so the layout around it is never
/// rewritten.
pub fn scrub_json(value: &mut serde_json::Value) {
    map_strings(value, &|text| scrub(text));
}

/// Bytes version of [`scrub`] for binary-safe members of a bundle: every
/// form is masked, whether or not the bytes are UTF-8.
pub fn scrub_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    let secrets = SECRETS.read();
    let mut out = Cow::Borrowed(bytes);
    for secret in secrets.iter() {
        if find(&out, secret).is_some() {
            out = Cow::Owned(replace_bytes(&out, secret, MASK.as_bytes()));
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = find(rest, needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// A writer for logs that scrubs each write before passing it on.
pub struct ScrubbingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&scrub_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_plain_and_escaped_forms() {
        register("s3cr\"et-canary");
        assert_eq!(scrub("pw=s3cr\"et-canary!"), "pw=<redacted>!");
        let json = serde_json::to_string("s3cr\"et-canary").unwrap();
        assert!(!scrub(&json).contains("s3cr"), "{}", scrub(&json));
        assert_eq!(&*scrub_bytes(b"\xffs3cr\"et-canary"), b"\xff<redacted>");
    }

    #[test]
    fn masks_utf16le_forms_in_bytes() {
        register("u16-canary");
        let wide: Vec<u8> = "x u16-canary y"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let scrubbed = scrub_bytes(&wide);
        let needle: Vec<u8> = "u16-canary"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(find(&scrubbed, &needle).is_none());
        assert!(find(&scrubbed, MASK.as_bytes()).is_some());
    }

    /// The log writer passes every byte on exactly once, masked, and claims
    /// the whole input as written (a shorter count would make `write_all`
    /// write the rest again; zero would make it fail).
    #[test]
    fn the_log_writer_passes_each_line_on_once_masked_byte_for_byte() {
        use std::io::Write;
        register("log-canary-77");
        let mut writer = ScrubbingWriter(Vec::new());
        let line = b"user=sa password=log-canary-77 ok\n";
        assert_eq!(writer.write(line).unwrap(), line.len());
        writer.write_all(b"second \xff line\n").unwrap();
        let (word, secret) = ("third", "log-canary-77");
        writeln!(writer, "{word} and {secret}").unwrap();
        writer.flush().unwrap();
        assert_eq!(
            writer.0,
            b"user=sa password=<redacted> ok\nsecond \xff line\nthird and <redacted>\n".to_vec()
        );
    }
}
