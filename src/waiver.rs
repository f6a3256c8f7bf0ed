//! Waivers: a target file accepting a check's warning or failure on purpose,
//! with a justification and, optionally, the last day it applies. The engine
//! applies them where policy meets verdicts (`engine::result_of`).

use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::format_description;

use crate::finding::Status;

/// A waiver as the target file states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    pub justification: String,
    /// The last day (UTC) the waiver applies; none means until removed.
    pub expires: Option<Date>,
}

/// What a report says about a waiver that met a warning or failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverNote {
    pub justification: String,
    /// The last day the waiver applies, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The waiver's date has passed: it no longer applies.
    pub expired: bool,
    /// The verdict the waiver covers (`warn` or `fail`).
    pub verdict: Status,
}

impl WaiverNote {
    /// One line for human formats: why the problem is accepted, or that the
    /// acceptance has run out.
    pub fn describe(&self) -> String {
        match (&self.expires, self.expired) {
            (Some(day), true) => format!(
                "the waiver expired on {day}, so this {} counts again (it said: {}); fix the problem or renew the waiver in the target file",
                self.verdict, self.justification
            ),
            (Some(day), false) => format!(
                "waived {} until {day}: {}",
                self.verdict, self.justification
            ),
            (None, _) => format!("waived {}: {}", self.verdict, self.justification),
        }
    }
}

impl Waiver {
    /// Reads a `[[waiver]]` table's values; the message says what is wrong.
    pub fn new(
        justification: &str,
        expires: Option<&toml::value::Datetime>,
    ) -> Result<Waiver, String> {
        let justification = justification.trim();
        if justification.is_empty() {
            return Err(
                "`justification` is empty: say why this problem is accepted (e.g. a ticket number and reason)"
                    .to_owned(),
            );
        }
        let expires = match expires {
            None => None,
            Some(datetime) => match (datetime.date, datetime.time, datetime.offset) {
                (Some(d), None, None) => Some(
                    Date::from_calendar_date(
                        i32::from(d.year),
                        time::Month::try_from(d.month).map_err(|e| e.to_string())?,
                        d.day,
                    )
                    .map_err(|e| format!("`expires` is not a real date: {e}"))?,
                ),
                _ => {
                    return Err(format!(
                        "`expires` must be a date without a time, like 2026-12-31 (not {datetime})"
                    ));
                }
            },
        };
        Ok(Waiver {
            justification: justification.to_owned(),
            expires,
        })
    }

    /// Whether the waiver still applies on `today` (its last day included).
    pub fn applies_on(&self, today: Date) -> bool {
        self.expires.is_none_or(|last| today <= last)
    }

    /// The status a verdict is reported with under this waiver, and what the
    /// report says about it. Only warnings and failures can be waived: a
    /// check that passed, skipped or could not run is reported as it is.
    pub fn apply(&self, status: Status, today: Date) -> (Status, Option<WaiverNote>) {
        if !matches!(status, Status::Warn | Status::Fail) {
            return (status, None);
        }
        let active = self.applies_on(today);
        let note = WaiverNote {
            justification: self.justification.clone(),
            expires: self.expires.map(format_date),
            expired: !active,
            verdict: status,
        };
        (if active { Status::Waived } else { status }, Some(note))
    }
}

fn format_date(date: Date) -> String {
    date.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_else(|_| date.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn waiver(expires: Option<&str>) -> Waiver {
        let expires = expires.map(|d| d.parse::<toml::value::Datetime>().unwrap());
        Waiver::new("ticket 42", expires.as_ref()).unwrap()
    }

    #[test]
    fn an_active_waiver_turns_problems_into_waived() {
        let w = waiver(Some("2030-01-31"));
        let (status, note) = w.apply(Status::Fail, date!(2030 - 01 - 31));
        assert_eq!(status, Status::Waived);
        let note = note.unwrap();
        assert!(!note.expired);
        assert_eq!(note.verdict, Status::Fail);
        assert_eq!(note.expires.as_deref(), Some("2030-01-31"));
        assert_eq!(
            w.apply(Status::Warn, date!(2020 - 01 - 01)).0,
            Status::Waived
        );
    }

    #[test]
    fn an_expired_waiver_stops_applying_and_says_so() {
        let (status, note) = waiver(Some("2030-01-31")).apply(Status::Warn, date!(2030 - 02 - 01));
        assert_eq!(status, Status::Warn);
        let note = note.unwrap();
        assert!(note.expired);
        assert!(
            note.describe().contains("expired on 2030-01-31"),
            "{}",
            note.describe()
        );
    }

    #[test]
    fn passes_skips_and_errors_are_left_alone() {
        let w = waiver(None);
        for status in [Status::Pass, Status::Skip, Status::Error] {
            assert_eq!(w.apply(status, date!(2030 - 01 - 01)), (status, None));
        }
    }

    #[test]
    fn justification_and_date_are_required_to_make_sense() {
        assert!(
            Waiver::new("  ", None)
                .unwrap_err()
                .contains("justification")
        );
        let with_time = "2030-01-01T10:00:00"
            .parse::<toml::value::Datetime>()
            .unwrap();
        assert!(
            Waiver::new("x", Some(&with_time))
                .unwrap_err()
                .contains("without a time")
        );
    }
}
