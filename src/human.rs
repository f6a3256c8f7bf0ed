//! Figures as people say and write them, shared by checks, reporters and
//! every place that reads a duration: "finished 3 hours ago", "expires in
//! 12 days", and one way to read "5s, 500ms or 2m". Depends on nothing else
//! in the crate, so checks use it without depending on reporters.

use std::time::Duration;

/// How long ago (or from now) `seconds` is, in the largest whole unit:
/// "3 hours ago", "in 12 days", "just now".
pub fn relative(seconds: i64) -> String {
    let span = seconds.unsigned_abs();
    let (n, unit) = match span {
        0..60 => return "just now".to_owned(),
        60..3600 => (span / 60, "minute"),
        3600..86_400 => (span / 3600, "hour"),
        _ => (span / 86_400, "day"),
    };
    let amount = format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if seconds < 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// What a duration looks like, as every error about one says it.
pub const DURATION_EXAMPLES: &str = "5s, 500ms or 2m";

/// A duration as written on the command line, in a target or inventory
/// file, or in `serve` options: a number and a unit, more than zero. The
/// error reads the same wherever the text came from.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err(format!(
            "`{text}` is no time at all: a duration must be more than zero, like {DURATION_EXAMPLES}"
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "`{text}` is not a duration like {DURATION_EXAMPLES}: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_use_the_largest_whole_unit() {
        assert_eq!(relative(10_800), "3 hours ago");
        assert_eq!(relative(3_600), "1 hour ago");
        assert_eq!(relative(-12 * 86_400), "in 12 days");
        assert_eq!(relative(-86_399), "in 23 hours");
        assert_eq!(relative(59), "just now");
        assert_eq!(relative(90), "1 minute ago");
    }

    #[test]
    fn durations_read_one_way_with_one_error() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        let wrong = parse_duration("soon").unwrap_err();
        assert!(
            wrong.starts_with("`soon` is not a duration like 5s, 500ms or 2m"),
            "{wrong}"
        );
        let zero = parse_duration("0s").unwrap_err();
        assert!(zero.contains("like 5s, 500ms or 2m"), "{zero}");
    }
}
