//! Which slot a run is for: the hour and date in the configured time zone,
//! with daylight-saving gaps and repeats resolved.

use anyhow::Result;
use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::db::slots::check_hour;
use crate::error::refuse;

/// One slot on one day: what a run is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTime {
    pub date: NaiveDate,
    pub hour: i64,
    /// When the slot starts. An hour that occurs twice starts at its first
    /// occurrence; an hour skipped by a DST gap starts when the gap ends.
    pub starts_at: DateTime<Tz>,
}

impl SlotTime {
    /// The slot `hour` on `date` in `tz`.
    pub fn at(tz: Tz, date: NaiveDate, hour: i64) -> Result<SlotTime> {
        check_hour(hour)?;
        let local = date.and_time(NaiveTime::from_hms_opt(hour as u32, 0, 0).expect("hour 0-23"));
        let starts_at = match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t,
            LocalResult::Ambiguous(first, _) => first,
            LocalResult::None => first_instant_after_gap(tz, local)?,
        };
        Ok(SlotTime {
            date,
            hour,
            starts_at,
        })
    }

    /// The slot `now` falls in: its local date and hour, rounded down.
    pub fn containing(tz: Tz, now: DateTime<Utc>) -> SlotTime {
        let local = now.with_timezone(&tz);
        SlotTime::at(tz, local.date_naive(), local.hour() as i64).expect("the current hour exists")
    }

    /// The hours of the same day just before this one that did not exist
    /// (skipped by a DST gap): the timer never fires for them, so their runs
    /// are created with this one.
    pub fn skipped_before(&self) -> Vec<SlotTime> {
        let tz = self.starts_at.timezone();
        let mut skipped = Vec::new();
        for hour in (0..self.hour).rev() {
            let local = self
                .date
                .and_time(NaiveTime::from_hms_opt(hour as u32, 0, 0).expect("hour"));
            if !matches!(tz.from_local_datetime(&local), LocalResult::None) {
                break;
            }
            skipped.push(SlotTime::at(tz, self.date, hour).expect("valid hour"));
        }
        skipped.reverse();
        skipped
    }

    /// The local date as `YYYY-MM-DD`.
    pub fn date_text(&self) -> String {
        self.date.format("%Y-%m-%d").to_string()
    }

    /// The start as RFC 3339 with the zone's offset.
    pub fn rfc3339(&self) -> String {
        self.starts_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    }
}

/// Parses `--date YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate> {
    // chrono reads `26-01-05` as the year 26: the year must have four digits.
    let four_digit_year = text
        .split('-')
        .next()
        .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()));
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| four_digit_year)
        .ok_or_else(|| {
            refuse(format!(
                "date `{text}` is not valid; use YYYY-MM-DD, e.g. 2026-11-27"
            ))
        })
}

/// The first instant after a local time that falls in a gap, found by walking
/// forward minute by minute (gaps are at most a few hours).
fn first_instant_after_gap(tz: Tz, local: chrono::NaiveDateTime) -> Result<DateTime<Tz>> {
    for minutes in 1..=24 * 60 {
        let later = local + Duration::minutes(minutes);
        match tz.from_local_datetime(&later) {
            LocalResult::Single(t) => return Ok(t),
            LocalResult::Ambiguous(first, _) => return Ok(first),
            LocalResult::None => continue,
        }
    }
    Err(refuse(format!("{local} does not exist in {tz}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(text: &str) -> NaiveDate {
        parse_date(text).unwrap()
    }

    #[test]
    fn the_current_hour_is_rounded_down_in_the_slot_time_zone() {
        let slot = SlotTime::containing(chrono_tz::America::Bogota, utc("2026-11-27T15:42:10Z"));
        assert_eq!(slot.hour, 10);
        assert_eq!(slot.rfc3339(), "2026-11-27T10:00:00-05:00");
        assert_eq!(slot.date_text(), "2026-11-27");
    }

    #[test]
    fn an_hour_in_a_spring_forward_gap_starts_when_the_gap_ends() {
        let slot = SlotTime::at(chrono_tz::Europe::Madrid, date("2026-03-29"), 2).unwrap();
        assert_eq!(slot.rfc3339(), "2026-03-29T03:00:00+02:00");
        assert_eq!(slot.hour, 2);
    }

    #[test]
    fn the_hour_after_a_gap_also_runs_the_skipped_hour() {
        let slot = SlotTime::containing(chrono_tz::Europe::Madrid, utc("2026-03-29T01:05:00Z"));
        assert_eq!(slot.hour, 3);
        let skipped: Vec<i64> = slot.skipped_before().iter().map(|s| s.hour).collect();
        assert_eq!(skipped, vec![2]);
        let ordinary = SlotTime::containing(chrono_tz::Europe::Madrid, utc("2026-03-29T03:05:00Z"));
        assert!(ordinary.skipped_before().is_empty());
    }

    #[test]
    fn an_hour_that_occurs_twice_is_one_slot_starting_at_its_first_occurrence() {
        let tz = chrono_tz::Europe::Madrid;
        let first = SlotTime::containing(tz, utc("2026-10-25T00:10:00Z"));
        let second = SlotTime::containing(tz, utc("2026-10-25T01:10:00Z"));
        assert_eq!(first.hour, 2);
        assert_eq!(second.hour, 2);
        assert_eq!(first, second);
        assert_eq!(first.rfc3339(), "2026-10-25T02:00:00+02:00");
    }

    #[test]
    fn a_bad_date_is_refused() {
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("tomorrow").is_err());
    }
}
