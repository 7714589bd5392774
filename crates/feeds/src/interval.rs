//! Candle intervals.

use serde::{Deserialize, Serialize};

/// A candle interval with a fixed length. Hyperliquid's monthly `1M` is
/// not supported: its buckets have no fixed length, and no rule needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Interval {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "3m")]
    M3,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "30m")]
    M30,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "2h")]
    H2,
    #[serde(rename = "4h")]
    H4,
    #[serde(rename = "8h")]
    H8,
    #[serde(rename = "12h")]
    H12,
    #[serde(rename = "1d")]
    D1,
    #[serde(rename = "3d")]
    D3,
    #[serde(rename = "1w")]
    W1,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown interval `{0}`: expected one of 1m 3m 5m 15m 30m 1h 2h 4h 8h 12h 1d 3d 1w")]
pub struct UnknownInterval(pub String);

impl Interval {
    pub const ALL: [Interval; 13] = [
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
    ];

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
        }
    }

    pub fn millis(self) -> i64 {
        const M: i64 = 60_000;
        match self {
            Interval::M1 => M,
            Interval::M3 => 3 * M,
            Interval::M5 => 5 * M,
            Interval::M15 => 15 * M,
            Interval::M30 => 30 * M,
            Interval::H1 => 60 * M,
            Interval::H2 => 120 * M,
            Interval::H4 => 240 * M,
            Interval::H8 => 480 * M,
            Interval::H12 => 720 * M,
            Interval::D1 => 1440 * M,
            Interval::D3 => 3 * 1440 * M,
            Interval::W1 => 7 * 1440 * M,
        }
    }

    /// The open time of the bucket containing `ts`. Buckets are aligned
    /// to the Unix epoch, as Hyperliquid's are (weeks start on Thursday
    /// 00:00 UTC, like the epoch).
    pub fn bucket_start(self, ts: i64) -> i64 {
        ts - ts.rem_euclid(self.millis())
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Interval {
    type Err = UnknownInterval;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Interval::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| UnknownInterval(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_trip_and_are_case_sensitive() {
        for i in Interval::ALL {
            assert_eq!(i.as_str().parse::<Interval>().unwrap(), i);
        }
        assert!(
            "1M".parse::<Interval>().is_err(),
            "monthly is refused, and 1M is not 1m"
        );
        assert!("1H".parse::<Interval>().is_err());
    }

    #[test]
    fn buckets_align_to_the_epoch() {
        assert_eq!(
            Interval::M1.bucket_start(1_787_195_099_999),
            1_787_195_040_000
        );
        assert_eq!(
            Interval::M1.bucket_start(1_787_195_040_000),
            1_787_195_040_000
        );
        assert_eq!(
            Interval::H1.bucket_start(1_684_702_007_000),
            1_684_699_200_000
        );
    }
}
