//! When care emails go out, in the customer's own time zone: the send hour, quiet hours,
//! and which birthdays and anniversaries fall on a local day. Pure functions, so the
//! calendar corner cases (29 February, daylight-saving gaps) are unit-tested.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// The customer's zone; an unknown name (never stored by the API, which validates it)
/// reads as UTC rather than skipping the customer.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// `hour:00` on `day` in `zone`, as UTC. In a daylight-saving gap the first valid time
/// after it; in an overlap the earlier of the two.
pub fn local_time(zone: Tz, day: NaiveDate, hour: u32) -> DateTime<Utc> {
    let naive = day.and_time(NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or_default());
    (0..4)
        .find_map(|h| {
            zone.from_local_datetime(&(naive + Duration::hours(h)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| naive.and_utc())
}

/// When an email for `day` goes out: at the send hour, or at once when the producer runs
/// later than that on the day.
pub fn send_time(zone: Tz, day: NaiveDate, hour: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    local_time(zone, day, hour).max(now)
}

/// The customer's local date now.
pub fn local_date(zone: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// Quiet hours `[start, end)` in local hours; a window that crosses midnight (21–8) is
/// the usual case. `start == end` means none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: u32,
    pub end: u32,
}

impl QuietHours {
    fn contains(self, hour: u32) -> bool {
        match self.start.cmp(&self.end) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => (self.start..self.end).contains(&hour),
            std::cmp::Ordering::Greater => hour >= self.start || hour < self.end,
        }
    }

    /// None when `now` is outside quiet hours in `zone`; else when they end.
    pub fn deferral(self, zone: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&zone);
        if !self.contains(local.hour()) {
            return None;
        }
        let today = local.date_naive();
        let end_day = if local.hour() >= self.end {
            today.succ_opt().unwrap_or(today)
        } else {
            today
        };
        Some(local_time(zone, end_day, self.end).max(now))
    }
}

/// The `MM-DD` of dates greeted on `day`: the day itself, and 29 February on 28 February
/// of a year that has none.
pub fn greeted_month_days(day: NaiveDate) -> Vec<String> {
    let mut days = vec![format!("{:02}-{:02}", day.month(), day.day())];
    if day.month() == 2 && day.day() == 28 && NaiveDate::from_ymd_opt(day.year(), 2, 29).is_none() {
        days.push("02-29".to_owned());
    }
    days
}

/// Whether a date that recurs yearly (a birthday, a first order) is greeted on `day`.
pub fn is_greeted_on(date: NaiveDate, day: NaiveDate) -> bool {
    greeted_month_days(day).contains(&format!("{:02}-{:02}", date.month(), date.day()))
}

/// Whole years from `since` to `day` (an anniversary's count).
pub fn years_between(since: NaiveDate, day: NaiveDate) -> i32 {
    let mut years = day.year() - since.year();
    if (day.month(), day.day()) < (since.month(), since.day()) && !is_greeted_on(since, day) {
        years -= 1;
    }
    years
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn leap_day_birthdays_are_greeted_on_28_february_in_other_years() {
        let leap = d(2000, 2, 29);
        assert!(is_greeted_on(leap, d(2027, 2, 28)));
        assert!(!is_greeted_on(leap, d(2027, 3, 1)));
        assert!(is_greeted_on(leap, d(2028, 2, 29)));
        assert!(
            !is_greeted_on(leap, d(2028, 2, 28)),
            "a leap year has its own 29th"
        );
        assert!(is_greeted_on(d(1990, 2, 28), d(2027, 2, 28)));
        assert_eq!(greeted_month_days(d(2028, 2, 28)), vec!["02-28"]);
        assert_eq!(years_between(leap, d(2027, 2, 28)), 27);
        assert_eq!(years_between(d(2024, 11, 23), d(2026, 11, 23)), 2);
        assert_eq!(years_between(d(2024, 11, 24), d(2026, 11, 23)), 1);
    }

    #[test]
    fn send_hour_is_local_and_late_producers_send_at_once() {
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        let day = d(2026, 11, 23);
        // 09:00 in Shanghai is 01:00 UTC.
        assert_eq!(local_time(shanghai, day, 9), utc("2026-11-23T01:00:00Z"));
        assert_eq!(
            send_time(shanghai, day, 9, utc("2026-11-22T20:00:00Z")),
            utc("2026-11-23T01:00:00Z")
        );
        let late = utc("2026-11-23T05:30:00Z");
        assert_eq!(send_time(shanghai, day, 9, late), late);
        assert_eq!(local_date(shanghai, utc("2026-11-22T16:30:00Z")), day);
    }

    #[test]
    fn a_send_hour_in_a_daylight_saving_gap_moves_to_the_first_valid_time() {
        let new_york: Tz = "America/New_York".parse().unwrap();
        // 2027-03-14 02:00 does not exist in New York; 03:00 EDT is 07:00 UTC.
        assert_eq!(
            local_time(new_york, d(2027, 3, 14), 2),
            utc("2027-03-14T07:00:00Z")
        );
    }

    #[test]
    fn quiet_hours_defer_to_their_end_in_the_customer_zone() {
        let quiet = QuietHours { start: 21, end: 8 };
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        // 14:00 UTC = 22:00 Shanghai → 08:00 next day = 00:00 UTC.
        assert_eq!(
            quiet.deferral(shanghai, utc("2026-11-23T14:00:00Z")),
            Some(utc("2026-11-24T00:00:00Z"))
        );
        // 19:00 UTC = 03:00 Shanghai (after midnight) → 08:00 same day.
        assert_eq!(
            quiet.deferral(shanghai, utc("2026-11-23T19:00:00Z")),
            Some(utc("2026-11-24T00:00:00Z"))
        );
        // 02:00 UTC = 10:00 Shanghai: fine.
        assert_eq!(quiet.deferral(shanghai, utc("2026-11-23T02:00:00Z")), None);
        // The same instant is daytime in London's evening? 14:00 UTC = 14:00 London.
        assert_eq!(
            quiet.deferral(Tz::Europe__London, utc("2026-11-23T14:00:00Z")),
            None
        );
        let day_window = QuietHours { start: 12, end: 14 };
        assert_eq!(
            day_window.deferral(Tz::UTC, utc("2026-11-23T12:30:00Z")),
            Some(utc("2026-11-23T14:00:00Z"))
        );
        assert_eq!(
            QuietHours { start: 0, end: 0 }.deferral(Tz::UTC, utc("2026-11-23T03:00:00Z")),
            None
        );
    }
}
