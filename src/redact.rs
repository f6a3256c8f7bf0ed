//! The one redactor: every secret the run learns is registered here, and
//! everything the tool writes — reports, logs, bundles — passes through
//! [`scrub`] on its way out.

use std::borrow::Cow;
use std::sync::RwLock;

pub const MASK: &str = "<redacted>";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a secret, and the escaped forms it takes inside JSON and TOML
/// strings, so none of them is ever written.
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
        secret.to_owned(),
        json_inner.to_owned(),
        secret.escape_default().to_string(),
    ];
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// Bytes version of [`scrub`] for binary-safe members of a bundle.
pub fn scrub_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    match std::str::from_utf8(bytes) {
        Ok(text) => match scrub(text) {
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        },
        Err(_) => {
            let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
            let mut out = bytes.to_vec();
            for secret in secrets.iter() {
                out = replace_bytes(&out, secret.as_bytes(), MASK.as_bytes());
            }
            Cow::Owned(out)
        }
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
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
}
