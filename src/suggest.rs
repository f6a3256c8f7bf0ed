//! "Did you mean …?" for mistyped names: one place for the distance rule.

/// The candidate closest to `wanted`, when it is close enough to be a
/// plausible typo (normalised Damerau-Levenshtein similarity of at least 0.6,
/// or one is a prefix of the other).
pub fn nearest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (c, strsim::normalized_damerau_levenshtein(wanted, c)))
        .filter(|(c, score)| *score >= 0.6 || c.starts_with(wanted) || wanted.starts_with(*c))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// ` (did you mean `x`?)`, or nothing.
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    nearest(wanted, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["host", "port", "instance", "database"];
        assert_eq!(nearest("hots", names), Some("host"));
        assert_eq!(nearest("databse", names), Some("database"));
        assert_eq!(nearest("zebra", names), None);
    }
}
