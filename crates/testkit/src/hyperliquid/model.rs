//! Market data values and their exact wire form.
//!
//! Hyperliquid sends prices and sizes as decimal strings. The fake keeps
//! them as `f64` but rounds every stored value to 12 significant digits,
//! so a value sent on the wire and parsed back is bit-for-bit the value
//! the fake holds, and tests can compare a client's candles with
//! [`FakeHyperliquid::candles`](super::FakeHyperliquid::candles) using `==`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

use super::interval::Interval;

/// Rounds to 12 significant digits, which strips the noise of summing
/// sizes (`0.1 + 0.2`) while keeping every price a test would write.
pub(crate) fn normalize(x: f64) -> f64 {
    assert!(
        x.is_finite(),
        "hyperliquid fake: {x} is not a price or size"
    );
    if x == 0.0 {
        // Also turns -0 into 0: the wire never says "-0".
        return 0.0;
    }
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// A decimal string as Hyperliquid writes it: `69172.5`, `69170.0`,
/// `0.00001234`; never scientific notation, never float noise.
pub fn decimal(x: f64) -> String {
    // `Display` for f64 prints the shortest round-trip digits and never
    // uses an exponent; only the ".0" of whole numbers is missing.
    let s = normalize(x).to_string();
    if s.contains('.') { s } else { s + ".0" }
}

/// One bucket of one coin and interval: the fake's ground truth, and what
/// both the `candle` channel and REST `candleSnapshot` carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Candle {
    /// `s` on the wire.
    pub coin: String,
    /// `i` on the wire.
    pub interval: String,
    /// `t`: the bucket's open time, ms.
    pub open_time: i64,
    /// `T`: `open_time` + interval − 1 ms.
    pub close_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// `v`: base-asset volume.
    pub volume: f64,
    /// `n`: number of trades.
    pub trades: u64,
}

impl Candle {
    /// A bucket with no range and no trades at `price`, for seeding
    /// history. Panics if `interval` is not a Hyperliquid interval or
    /// `open_time` is not aligned to it.
    pub fn flat(coin: &str, interval: &str, open_time: i64, price: f64) -> Candle {
        let iv = Interval::parse(interval)
            .unwrap_or_else(|| panic!("hyperliquid fake: unknown interval {interval:?}"));
        assert_eq!(
            iv.bucket_start(open_time),
            open_time,
            "hyperliquid fake: {open_time} is not the start of a {interval} bucket"
        );
        Candle {
            coin: coin.to_owned(),
            interval: interval.to_owned(),
            open_time,
            close_time: iv.close_time(open_time),
            open: price,
            high: price,
            low: price,
            close: price,
            volume: 0.0,
            trades: 0,
        }
    }

    /// Rounds every value like the wire does (see the module docs).
    pub(crate) fn normalized(mut self) -> Candle {
        for x in [
            &mut self.open,
            &mut self.high,
            &mut self.low,
            &mut self.close,
            &mut self.volume,
        ] {
            *x = normalize(*x);
        }
        self
    }

    /// The wire object: `{"t","T","s","i","o","c","h","l","v","n"}`.
    pub fn to_wire(&self) -> Value {
        json!({
            "t": self.open_time,
            "T": self.close_time,
            "s": self.coin,
            "i": self.interval,
            "o": decimal(self.open),
            "c": decimal(self.close),
            "h": decimal(self.high),
            "l": decimal(self.low),
            "v": decimal(self.volume),
            "n": self.trades,
        })
    }
}

/// The wire form, field for field; prices may be strings or numbers when
/// reading, so the fake's tests can also read the documented-but-wrong
/// numeric form.
#[derive(Serialize, Deserialize)]
struct WireCandle {
    t: i64,
    #[serde(rename = "T")]
    close_time: i64,
    s: String,
    i: String,
    #[serde(deserialize_with = "de_decimal")]
    o: f64,
    #[serde(deserialize_with = "de_decimal")]
    c: f64,
    #[serde(deserialize_with = "de_decimal")]
    h: f64,
    #[serde(deserialize_with = "de_decimal")]
    l: f64,
    #[serde(deserialize_with = "de_decimal")]
    v: f64,
    n: u64,
}

fn de_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        S(String),
        F(f64),
    }
    match Num::deserialize(d)? {
        Num::S(s) => s.parse().map_err(serde::de::Error::custom),
        Num::F(f) => Ok(f),
    }
}

impl Serialize for Candle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_wire().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Candle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Candle, D::Error> {
        let w = WireCandle::deserialize(d)?;
        Ok(Candle {
            coin: w.s,
            interval: w.i,
            open_time: w.t,
            close_time: w.close_time,
            open: w.o,
            high: w.h,
            low: w.l,
            close: w.c,
            volume: w.v,
            trades: w.n,
        })
    }
}

/// The aggressor: `B` buys from the book, `A` sells into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_wire(self) -> &'static str {
        match self {
            Side::Buy => "B",
            Side::Sell => "A",
        }
    }
}

/// One fill on the `trades` channel. The coin comes from
/// [`FakeHyperliquid::push_trades`](super::FakeHyperliquid::push_trades).
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    pub side: Side,
    pub px: f64,
    pub sz: f64,
    /// ms
    pub time: i64,
    /// All zeros is legitimate: third parties see it on the real feed.
    pub hash: String,
    /// A 50-bit id, unique only together with `time` and the coin.
    pub tid: u64,
    /// `[buyer, seller]`.
    pub users: [String; 2],
}

impl Trade {
    /// A trade with a `tid` derived from its fields (so equal inputs give
    /// equal ids, as a replayed feed would), a zero hash and two fixed
    /// users.
    pub fn new(side: Side, px: f64, sz: f64, time: i64) -> Trade {
        // splitmix64 finaliser: cheap, deterministic and well spread.
        let mut z = (time as u64)
            ^ px.to_bits().rotate_left(17)
            ^ sz.to_bits().rotate_left(41)
            ^ (side as u64);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Trade {
            side,
            px,
            sz,
            time,
            hash: format!("0x{}", "0".repeat(64)),
            tid: z & ((1 << 50) - 1),
            users: [
                "0x1111111111111111111111111111111111111111".to_owned(),
                "0x2222222222222222222222222222222222222222".to_owned(),
            ],
        }
    }

    pub(crate) fn to_wire(&self, coin: &str) -> Value {
        json!({
            "coin": coin,
            "side": self.side.as_wire(),
            "px": decimal(self.px),
            "sz": decimal(self.sz),
            "time": self.time,
            "hash": self.hash,
            "tid": self.tid,
            "users": self.users,
        })
    }
}

/// One price level of a book: `{"px","sz","n"}`, `n` being the number of
/// orders resting there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub px: f64,
    pub sz: f64,
    pub n: u32,
}

impl Level {
    pub fn new(px: f64, sz: f64, n: u32) -> Level {
        Level { px, sz, n }
    }

    pub(crate) fn to_wire(self) -> Value {
        json!({"px": decimal(self.px), "sz": decimal(self.sz), "n": self.n})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_have_no_noise_no_exponent_and_keep_a_fraction() {
        assert_eq!(decimal(69172.5), "69172.5");
        assert_eq!(decimal(69170.0), "69170.0");
        assert_eq!(decimal(0.1 + 0.2), "0.3");
        assert_eq!(decimal(0.000_012_34), "0.00001234");
        assert_eq!(decimal(1e21), "1000000000000000000000.0");
        assert_eq!(decimal(-0.0), "0.0");
    }

    #[test]
    fn a_normalized_candle_survives_the_wire_unchanged() {
        let mut c = Candle::flat("BTC", "1m", 1_787_195_040_000, 69170.0);
        c.volume = 0.1 + 0.2 + 0.000_52;
        c.high = 69174.0;
        c.trades = 3;
        let c = c.normalized();
        let back: Candle = serde_json::from_value(c.to_wire()).unwrap();
        assert_eq!(back, c);
        assert_eq!(c.to_wire()["T"], 1_787_195_099_999_i64);
    }

    #[test]
    fn trade_ids_fit_in_fifty_bits_and_differ_between_trades() {
        let a = Trade::new(Side::Buy, 100.0, 1.0, 1);
        let b = Trade::new(Side::Buy, 100.0, 1.0, 2);
        assert!(a.tid < 1 << 50);
        assert_ne!(a.tid, b.tid);
        assert_eq!(a.tid, Trade::new(Side::Buy, 100.0, 1.0, 1).tid);
    }
}
