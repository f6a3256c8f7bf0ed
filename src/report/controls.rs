//! The report's values made fit to lay out, before any layout happens:
//! secrets masked (so a mask never shifts a table border, and the tool's
//! own words around a value are never rewritten), control characters
//! written out, and each text capped for display.
//!
//! Control characters — a terminal escape sequence, a carriage return that
//! overwrites a line, a NUL — can come from what a hostile server sent.
//! Text formats show each one written out (`\u{1b}`) instead; a newline
//! stays (layout) and a tab becomes a space. JSON escapes C0 controls
//! itself; DEL and C1 controls (U+0080–U+009F, which some terminals obey)
//! it leaves raw, so they are escaped after it.
//!
//! A server can also send a megabyte where a version string belongs: text
//! formats show the first [`MAX_CHARS`] characters and [`MAX_LINES`] lines
//! of each value and say how much was left out; JSON (and the bundle's
//! report.json) keep every character.

use std::borrow::Cow;

use super::Report;

/// The most characters of one value a text format shows.
pub const MAX_CHARS: usize = 2000;
/// The most lines of one value a text format shows.
pub const MAX_LINES: usize = 40;

/// `text` with every control character but `\n` written out, a tab as a space.
pub fn escape(text: &str) -> Cow<'_, str> {
    write_out(text, is_unwanted, |c| {
        if c == u32::from('\t') {
            " ".to_owned()
        } else {
            format!("\\u{{{c:x}}}")
        }
    })
}

/// `text` cut to [`MAX_CHARS`] characters and [`MAX_LINES`] lines, saying
/// how much was left out.
pub fn capped(text: &str) -> Cow<'_, str> {
    let mut cut_at = None;
    let mut lines = 1;
    for (count, (at, c)) in text.char_indices().enumerate() {
        if count == MAX_CHARS || (c == '\n' && lines == MAX_LINES) {
            cut_at = Some(at);
            break;
        }
        if c == '\n' {
            lines += 1;
        }
    }
    let Some(at) = cut_at else {
        return Cow::Borrowed(text);
    };
    let rest = text[at..].chars().count();
    Cow::Owned(format!(
        "{}… [{rest} more characters not shown; the JSON report has them all]",
        &text[..at]
    ))
}

/// One value as text formats show it: masked, controls written out, capped.
fn displayed(text: &str) -> Cow<'_, str> {
    let masked = crate::redact::scrub(text);
    match unmasked_display(&masked) {
        Cow::Borrowed(_) => masked,
        Cow::Owned(shown) => Cow::Owned(shown),
    }
}

/// The report as [`for_display`] shows it, secrets left to the caller.
pub fn for_display_unmasked(report: &Report) -> Cow<'_, Report> {
    mapped(report, &unmasked_display).unwrap_or(Cow::Borrowed(report))
}

/// One value capped, then with controls written out (capping first, so a
/// megabyte from a server is scanned once and escaped only where shown).
fn unmasked_display(masked: &str) -> Cow<'_, str> {
    let shown = capped(masked);
    match escape(&shown) {
        Cow::Borrowed(_) => shown,
        Cow::Owned(e) => Cow::Owned(e),
    }
}

/// `json` with DEL and every C1 control written as a `\u` escape: they can
/// only stand inside strings, where the escape means the same character.
pub fn escape_raw_controls_in_json(json: String) -> String {
    // DEL is 0x7F and every C1 control starts with 0xC2 in UTF-8: a byte
    // scan finds the common case, nothing to escape, quickly.
    if !json.bytes().any(|b| b == 0x7f || b == 0xc2) {
        return json;
    }
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
    c.is_control() && c != '\n'
}

/// The report as JSON with every secret masked in its values (keys included).
pub fn masked_json(report: &Report) -> String {
    if !crate::redact::any_registered() {
        return escape_raw_controls_in_json(report.to_json());
    }
    let json = match mapped(report, &|text| crate::redact::scrub(text)) {
        Some(masked) => masked.to_json(),
        None => crate::redact::scrub(&report.to_json()).into_owned(),
    };
    escape_raw_controls_in_json(json)
}

/// The report with every text in it, keys included, as text formats show
/// it: masked, control characters written out, capped. `None` when masking
/// made it no report (a secret that is also a word of the report's own
/// vocabulary, such as a status): then only the rendered text can be masked.
pub fn for_display(report: &Report) -> Option<Cow<'_, Report>> {
    mapped(report, &displayed)
}

/// The report with every secret masked in its values, keys included, for
/// layouts of its own (a bundle's README); the report itself when masking
/// made it no report.
pub fn masked(report: &Report) -> Cow<'_, Report> {
    mapped(report, &|text| crate::redact::scrub(text)).unwrap_or(Cow::Borrowed(report))
}

/// The report with `change` applied to every text in it, keys included.
fn mapped<'r>(
    report: &'r Report,
    change: &dyn Fn(&str) -> Cow<'_, str>,
) -> Option<Cow<'r, Report>> {
    let mut value = serde_json::to_value(report).ok()?;
    if !crate::redact::map_strings(&mut value, change) {
        return Some(Cow::Borrowed(report));
    }
    serde_json::from_value(value).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_written_out_and_layout_stays() {
        assert_eq!(
            escape("a\u{1b}[31mred\r\n\tb\u{0}\u{9b}"),
            "a\\u{1b}[31mred\\u{d}\n b\\u{0}\\u{9b}"
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

    fn sample() -> Report {
        Report::from_json(include_str!("../../tests/data/sample-report.json")).unwrap()
    }

    /// A secret is masked in the values, so the table's borders stay
    /// aligned and the tool's own words around it are untouched.
    #[test]
    fn secrets_are_masked_in_values_before_layout() {
        crate::redact::register("sql01.corp.example.com");
        let table = sample().render(super::super::Format::Table, super::super::Style::PLAIN);
        assert!(!table.contains("sql01.corp.example.com"), "{table}");
        assert!(table.contains("<redacted>"));
        let widths: std::collections::BTreeSet<usize> = table
            .lines()
            .filter(|l| l.starts_with('│'))
            .map(unicode_width::UnicodeWidthStr::width)
            .collect();
        // Three family tables, each with its own width, all rows aligned.
        assert!(widths.len() <= 3, "{widths:?}\n{table}");
        let json = sample().render(super::super::Format::Json, super::super::Style::PLAIN);
        assert!(!json.contains("sql01.corp"), "{json}");
    }

    /// A secret that is also a word the report's structure needs (a status)
    /// cannot be masked in the values; the rendered text is masked instead.
    #[test]
    fn a_secret_that_is_a_status_word_is_still_masked() {
        crate::redact::register("waived");
        for format in [super::super::Format::Table, super::super::Format::Json] {
            let text = sample().render(format, super::super::Style::PLAIN);
            assert!(!text.contains("waived"), "{text}");
        }
    }

    #[test]
    fn long_values_are_cut_for_display_saying_how_much() {
        let long = "x".repeat(MAX_CHARS + 5);
        let shown = capped(&long);
        assert!(shown.starts_with(&"x".repeat(MAX_CHARS)));
        assert!(shown.ends_with("… [5 more characters not shown; the JSON report has them all]"));
        let many_lines = "l\n".repeat(MAX_LINES + 2);
        let shown = capped(&many_lines);
        assert_eq!(shown.matches('\n').count(), MAX_LINES - 1);
        assert!(shown.contains("[5 more characters"), "{shown}");
        assert!(matches!(capped("short\ntext"), Cow::Borrowed(_)));
    }
}
