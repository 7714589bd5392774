//! Candle intervals and the bucket arithmetic behind them.
//!
//! Everything here is pure calendar maths on UTC milliseconds, so it can
//! be unit-tested without a server. Alignment of the multi-day intervals
//! is not documented by Hyperliquid: `3d` and `1w` are fixed lengths
//! counted from the Unix epoch (so weeks start on Thursday), and `1M` is
//! the calendar month in UTC.

use std::fmt;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// One of the 14 intervals Hyperliquid accepts. `1m` (minute) and `1M`
/// (month) differ only by case, like on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    M1,
    M3,
    M5,
    M15,
    M30,
    H1,
    H2,
    H4,
    H8,
    H12,
    D1,
    D3,
    W1,
    Month1,
}

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 14] = [
        Interval::M1,
        Interval::M3,
        Interval::M5,
        Interval::M15,
        Interval::M30,
        Interval::H1,
        Interval::H2,
        Interval::H4,
        Interval::H8,
        Interval::H12,
        Interval::D1,
        Interval::D3,
        Interval::W1,
        Interval::Month1,
    ];

    /// Parses the wire spelling, case-sensitively.
    pub fn parse(s: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M3 => "3m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::M30 => "30m",
            Interval::H1 => "1h",
            Interval::H2 => "2h",
            Interval::H4 => "4h",
            Interval::H8 => "8h",
            Interval::H12 => "12h",
            Interval::D1 => "1d",
            Interval::D3 => "3d",
            Interval::W1 => "1w",
            Interval::Month1 => "1M",
        }
    }

    /// The length in milliseconds, or `None` for `1M`, whose length varies.
    pub fn fixed_ms(self) -> Option<i64> {
        Some(match self {
            Interval::M1 => MINUTE,
            Interval::M3 => 3 * MINUTE,
            Interval::M5 => 5 * MINUTE,
            Interval::M15 => 15 * MINUTE,
            Interval::M30 => 30 * MINUTE,
            Interval::H1 => HOUR,
            Interval::H2 => 2 * HOUR,
            Interval::H4 => 4 * HOUR,
            Interval::H8 => 8 * HOUR,
            Interval::H12 => 12 * HOUR,
            Interval::D1 => DAY,
            Interval::D3 => 3 * DAY,
            Interval::W1 => 7 * DAY,
            Interval::Month1 => return None,
        })
    }

    /// The open time of the bucket containing `ts_ms`.
    pub fn bucket_start(self, ts_ms: i64) -> i64 {
        match self.fixed_ms() {
            Some(len) => ts_ms - ts_ms.rem_euclid(len),
            None => {
                let (y, m, _) = civil_from_days(ts_ms.div_euclid(DAY));
                days_from_civil(y, m, 1) * DAY
            }
        }
    }

    /// The open time of the bucket after the one opening at `open_ms`.
    pub fn next_start(self, open_ms: i64) -> i64 {
        match self.fixed_ms() {
            Some(len) => open_ms + len,
            None => {
                let (y, m, _) = civil_from_days(open_ms.div_euclid(DAY));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * DAY
            }
        }
    }

    /// `T` on the wire: the last millisecond of the bucket opening at
    /// `open_ms`.
    pub fn close_time(self, open_ms: i64) -> i64 {
        self.next_start(open_ms) - 1
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Howard Hinnant's civil-date algorithms (public domain): exact for every
// proleptic Gregorian date, no tables, no dependency.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both casts are in range by construction: day 1..=31, month 1..=12.
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_and_month_are_told_apart_by_case() {
        assert_eq!(Interval::parse("1m"), Some(Interval::M1));
        assert_eq!(Interval::parse("1M"), Some(Interval::Month1));
        assert_eq!(Interval::parse("1H"), None);
        assert_eq!(Interval::parse("2m"), None);
    }

    #[test]
    fn fixed_buckets_close_one_millisecond_before_the_next_opens() {
        // The reference's wire sample.
        let t = 1_787_195_040_000;
        assert_eq!(Interval::M1.bucket_start(t + 59_999), t);
        assert_eq!(Interval::M1.close_time(t), 1_787_195_099_999);
        assert_eq!(
            Interval::H1.bucket_start(1_684_702_007_000),
            1_684_699_200_000
        );
    }

    #[test]
    fn buckets_before_the_epoch_round_down() {
        assert_eq!(Interval::M1.bucket_start(-1), -MINUTE);
    }

    #[test]
    fn months_follow_the_calendar_including_leap_februaries() {
        // 2024-02-15T00:00:00Z
        let mid_feb = 1_707_955_200_000;
        let feb_1 = 1_706_745_600_000;
        let mar_1 = 1_709_251_200_000;
        assert_eq!(Interval::Month1.bucket_start(mid_feb), feb_1);
        assert_eq!(Interval::Month1.next_start(feb_1), mar_1);
        assert_eq!((mar_1 - feb_1) / DAY, 29);
        // December rolls into the next year.
        let dec_1_2023 = 1_701_388_800_000;
        let jan_1_2024 = 1_704_067_200_000;
        assert_eq!(Interval::Month1.next_start(dec_1_2023), jan_1_2024);
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 1, 19_000, 20_000, 800_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "day {days}");
        }
    }
}
