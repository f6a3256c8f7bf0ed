//! Control characters in a report's text — a terminal escape sequence, a
//! carriage return that overwrites a line, a NUL — can come from what a
//! hostile server sent. Text formats show each one written out (`\u{1b}`)
//! instead; newlines and tabs stay, they are layout. JSON escapes C0
//! controls itself; DEL and C1 controls (U+0080–U+009F, which some
//! terminals obey) it leaves raw, so they are escaped after it.

use std::borrow::Cow;

use serde_json::Value;

use super::Report;

/// `text` with every control character but `\n` and `\t` written out.
pub fn escape(text: &str) -> Cow<'_, str> {
    write_out(text, is_unwanted, |c| format!("\\u{{{c:x}}}"))
}

/// `json` with DEL and every C1 control written as a `\u` escape: they can
/// only stand inside strings, where the escape means the same character.
pub fn escape_raw_controls_in_json(json: String) -> String {
    match write_out(&json, left_raw_by_json, |c| format!("\\u{c:04x}")) {
        Cow::Borrowed(_) => json,
        Cow::Owned(escaped) => escaped,
    }
}

/// `text` with each character `unwanted` picks replaced by `spelled(code)`.
fn write_out(
    text: &str,
    unwanted: impl Fn(char) -> bool,
    spelled: impl Fn(u32) -> String,
) -> Cow<'_, str> {
    if !text.chars().any(&unwanted) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unwanted(c) {
            out.push_str(&spelled(u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The control characters serde_json writes raw: DEL and C1.
fn left_raw_by_json(c: char) -> bool {
    ('\u{7f}'..='\u{9f}').contains(&c)
}

fn is_unwanted(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// The report with [`escape`] applied to every text in it, keys included.
pub fn escaped(report: &Report) -> Cow<'_, Report> {
    let Ok(mut value) = serde_json::to_value(report) else {
        return Cow::Borrowed(report);
    };
    if !escape_all(&mut value) {
        return Cow::Borrowed(report);
    }
    match serde_json::from_value(value) {
        Ok(clean) => Cow::Owned(clean),
        Err(_) => Cow::Borrowed(report),
    }
}

/// Escapes every string in `value`; true if anything changed.
fn escape_all(value: &mut Value) -> bool {
    match value {
        Value::String(text) => match escape(text) {
            Cow::Owned(clean) => {
                *text = clean;
                true
            }
            Cow::Borrowed(_) => false,
        },
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= escape_all(item);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = false;
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                changed |= escape_all(&mut v);
                let key = match escape(&key) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_written_out_and_layout_stays() {
        assert_eq!(
            escape("a\u{1b}[31mred\r\n\tb\u{0}\u{9b}"),
            "a\\u{1b}[31mred\\u{d}\n\tb\\u{0}\\u{9b}"
        );
        assert!(matches!(escape("plain\ntext"), Cow::Borrowed(_)));
        let json = serde_json::to_string("a\u{9b}b").unwrap();
        let escaped = escape_raw_controls_in_json(json);
        assert_eq!(escaped, "\"a\\u009bb\"");
        assert_eq!(
            serde_json::from_str::<String>(&escaped).unwrap(),
            "a\u{9b}b"
        );
    }
}
