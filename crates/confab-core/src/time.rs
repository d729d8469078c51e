//! Instants as the API shows them.
//!
//! Times are kept as milliseconds since the Unix epoch in UTC and written in
//! RFC 2822 with a zero-padded day and `+0000`, the exact form Twilio emits
//! (`Tue, 24 Sep 2024 21:00:00 +0000`). Date filters are `YYYY-MM-DD` in UTC.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// RFC 2822 text, e.g. `Fri, 18 Feb 2011 21:07:19 +0000`.
    pub fn rfc2822(self) -> String {
        // Written field by field: this runs for every date of every response,
        // and a strftime pattern would be parsed again on each call.
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let at = DateTime::<Utc>::from_timestamp_millis(self.0).unwrap_or_default();
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
            DAYS[at.weekday().num_days_from_monday() as usize],
            at.day(),
            MONTHS[at.month0() as usize],
            at.year(),
            at.hour(),
            at.minute(),
            at.second()
        )
    }

    /// The time `ms` milliseconds later.
    pub fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

/// A UTC calendar day given in a date filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    start: Timestamp,
}

impl Day {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Day> {
        let date = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
        let start = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
        Some(Day {
            start: Timestamp(start),
        })
    }

    /// The first millisecond of the day.
    pub fn start(self) -> Timestamp {
        self.start
    }

    /// The UTC day an instant falls on.
    pub fn of(at: Timestamp) -> Day {
        Day {
            start: Timestamp(at.0.div_euclid(86_400_000) * 86_400_000),
        }
    }

    /// The first millisecond of the next day.
    pub fn end(self) -> Timestamp {
        self.start.plus_millis(86_400_000)
    }
}

/// A date filter's value: a calendar day (`2026-12-01`) or an instant (RFC 3339,
/// `2026-12-01T09:30:00Z`), as Twilio's clients send either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateBound {
    /// A whole UTC day.
    Day(Day),
    /// One instant.
    Instant(Timestamp),
}

/// Which of the three forms of a date filter (`X`, `X<`, `X>`) a value came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateForm {
    /// `X=`: that day.
    On,
    /// `X>=` (sent as `X>`): at or after.
    AtOrAfter,
    /// `X<=` (sent as `X<`): at or before.
    AtOrBefore,
}

impl DateBound {
    /// Parses `YYYY-MM-DD` or an RFC 3339 date and time.
    pub fn parse(s: &str) -> Option<DateBound> {
        let s = s.trim();
        if let Some(day) = Day::parse(s) {
            return Some(DateBound::Day(day));
        }
        let at = DateTime::parse_from_rfc3339(s).ok()?;
        Some(DateBound::Instant(Timestamp(at.timestamp_millis())))
    }
}

/// A range of instants, `[from, until)`, built from the three forms of a date
/// filter (`X=D`, `X<=D`, `X>=D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateRange {
    /// Inclusive lower bound.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound.
    pub until: Option<Timestamp>,
}

impl DateRange {
    /// Narrows the range to the day `on`.
    pub fn on(&mut self, day: Day) {
        self.at_or_after(day);
        self.at_or_before(day);
    }

    /// Keeps instants on or after the start of `day`.
    pub fn at_or_after(&mut self, day: Day) {
        self.from = Some(self.from.map_or(day.start(), |f| f.max(day.start())));
    }

    /// Keeps instants on or before `day` (the whole day included).
    pub fn at_or_before(&mut self, day: Day) {
        self.until = Some(self.until.map_or(day.end(), |u| u.min(day.end())));
    }

    /// Narrows the range as a filter value says: `X=` keeps its whole day, `X>=` (`after`)
    /// what is at or after it, `X<=` what is at or before it. A day counts whole; an instant
    /// (the clients send `2026-12-01T09:30:00Z` for `StartTime`) counts from that instant.
    pub fn narrow(&mut self, bound: DateBound, form: DateForm) {
        match (bound, form) {
            (DateBound::Day(day), DateForm::On) => self.on(day),
            (DateBound::Day(day), DateForm::AtOrAfter) => self.at_or_after(day),
            (DateBound::Day(day), DateForm::AtOrBefore) => self.at_or_before(day),
            (DateBound::Instant(at), DateForm::On) => self.on(Day::of(at)),
            (DateBound::Instant(at), DateForm::AtOrAfter) => {
                self.from = Some(self.from.map_or(at, |f| f.max(at)));
            }
            (DateBound::Instant(at), DateForm::AtOrBefore) => {
                let end = at.plus_millis(1);
                self.until = Some(self.until.map_or(end, |u| u.min(end)));
            }
        }
    }

    /// Whether no bound is set.
    pub fn is_unbounded(&self) -> bool {
        self.from.is_none() && self.until.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2822_has_padded_day_and_utc_offset() {
        // 2011-02-04T09:07:19Z
        assert_eq!(
            Timestamp(1_296_810_439_000).rfc2822(),
            "Fri, 04 Feb 2011 09:07:19 +0000"
        );
    }

    #[test]
    fn rfc2822_matches_the_strftime_form_across_the_calendar() {
        // One instant a little over every 9 days for 30 years, against chrono's own formatting.
        for step in 0..1200i64 {
            let t = Timestamp(946_684_800_000 + step * 790_003_123);
            let at = DateTime::<Utc>::from_timestamp_millis(t.0).expect("in range");
            assert_eq!(
                t.rfc2822(),
                at.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
            );
        }
    }

    #[test]
    fn day_filters_cover_whole_days() {
        let day = Day::parse("2024-09-24").expect("valid date");
        let mut range = DateRange::default();
        range.on(day);
        assert_eq!(
            range.until.map(|u| u.0 - range.from.map_or(0, |f| f.0)),
            Some(86_400_000)
        );
        assert!(Day::parse("2024-13-01").is_none());
        let mut instants = DateRange::default();
        let at = DateBound::parse("2024-09-24T10:00:00Z").expect("instant");
        instants.narrow(at, DateForm::AtOrAfter);
        instants.narrow(
            DateBound::parse("2024-09-24T11:00:00+01:00").expect("instant"),
            DateForm::AtOrBefore,
        );
        assert_eq!(instants.from, Some(Timestamp(1_727_172_000_000)));
        assert_eq!(
            instants.until,
            Some(Timestamp(1_727_172_000_001)),
            "10:00Z inclusive"
        );
        let mut whole = DateRange::default();
        whole.narrow(at, DateForm::On);
        assert_eq!(whole, range, "X= keeps the instant's whole day");
        assert!(DateBound::parse("2024-09-24T10:00").is_none());
        assert!(Day::parse("yesterday").is_none());
    }
}
