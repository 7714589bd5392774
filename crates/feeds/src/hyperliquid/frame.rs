//! Parsing Hyperliquid WebSocket frames.
//!
//! Every data frame is `{"channel": …, "data": …}`. The channel is read
//! first and the payload is parsed only for the channels we use, from
//! borrowed strings, so a full `allMids` frame (~1,100 keys) costs one
//! pass. Anything unexpected — non-JSON text, unknown channels, odd
//! shapes — becomes an error value, never a panic.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::interval::Interval;
use crate::types::Candle;

/// A parsed frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// The ack of a subscription (or unsubscription).
    SubscriptionResponse(serde_json::Value),
    Pong,
    /// Every mid price, as (coin, price).
    AllMids(Vec<(String, f64)>),
    Candle(Candle),
    Trades(Vec<Trade>),
    /// The server's error text.
    Error(String),
    /// A channel we do not use.
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    pub coin: String,
    pub price: f64,
    pub size: f64,
    pub time: i64,
    pub tid: u64,
    /// `true` when the buyer was the aggressor (`side: "B"`).
    pub buy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not a JSON frame: {0}")]
    NotJson(String),
    #[error("malformed {channel} frame: {detail}")]
    Malformed { channel: String, detail: String },
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireCandle<'a> {
    t: i64,
    #[serde(borrow)]
    s: &'a str,
    #[serde(borrow)]
    i: &'a str,
    #[serde(borrow)]
    o: &'a str,
    #[serde(borrow)]
    c: &'a str,
    #[serde(borrow)]
    h: &'a str,
    #[serde(borrow)]
    l: &'a str,
    #[serde(borrow)]
    v: &'a str,
    #[serde(default)]
    n: u64,
}

#[derive(Deserialize)]
struct WireTrade<'a> {
    #[serde(borrow)]
    coin: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    px: &'a str,
    #[serde(borrow)]
    sz: &'a str,
    time: i64,
    #[serde(default)]
    tid: u64,
}

fn malformed(channel: &str, detail: impl ToString) -> FrameError {
    FrameError::Malformed {
        channel: channel.to_string(),
        detail: detail.to_string(),
    }
}

fn price(channel: &str, field: &str, text: &str) -> Result<f64, FrameError> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(malformed(
            channel,
            format!("{field} is not a number: {text:?}"),
        )),
    }
}

/// Parses a candle object (also the shape of REST `candleSnapshot` items).
pub fn parse_candle(json: &str) -> Result<Candle, FrameError> {
    let w: WireCandle = serde_json::from_str(json).map_err(|e| malformed("candle", e))?;
    candle_from_wire(&w)
}

fn candle_from_wire(w: &WireCandle) -> Result<Candle, FrameError> {
    let interval: Interval = w.i.parse().map_err(|e| malformed("candle", e))?;
    if w.t < 0 || interval.bucket_start(w.t) != w.t {
        return Err(malformed(
            "candle",
            format!("open time {} is not a {} boundary", w.t, w.i),
        ));
    }
    Ok(Candle {
        symbol: w.s.to_string(),
        interval,
        open_time: w.t,
        open: price("candle", "o", w.o)?,
        high: price("candle", "h", w.h)?,
        low: price("candle", "l", w.l)?,
        close: price("candle", "c", w.c)?,
        volume: price("candle", "v", w.v)?,
        trades: w.n,
    })
}

/// Parses one WebSocket text frame.
pub fn parse_frame(text: &str) -> Result<Frame, FrameError> {
    parse_frame_keeping(text, |_| true)
}

/// Like [`parse_frame`], but an `allMids` frame keeps only the coins
/// `keep` accepts: the others are neither allocated nor parsed as
/// numbers, which is most of the cost of a ~1,100-key frame.
pub fn parse_frame_keeping(text: &str, keep: impl Fn(&str) -> bool) -> Result<Frame, FrameError> {
    // allMids frames are large and frequent: when the channel comes first
    // (as Hyperliquid sends it), read them in one pass instead of the
    // envelope-then-payload two passes below.
    if text.starts_with(r#"{"channel":"allMids""#)
        && let Ok(frame) = serde_json::from_str::<MidsFrame>(text)
    {
        return Ok(Frame::AllMids(keep_mids(frame.data.mids.0, &keep)));
    }
    let env: Envelope = serde_json::from_str(text).map_err(|_| {
        let shown: String = text.chars().take(80).collect();
        FrameError::NotJson(shown)
    })?;
    let channel = env.channel;
    let data = || env.data.ok_or_else(|| malformed(channel, "no data"));
    match channel {
        "pong" => Ok(Frame::Pong),
        "subscriptionResponse" => {
            let v = serde_json::from_str(data()?.get()).map_err(|e| malformed(channel, e))?;
            Ok(Frame::SubscriptionResponse(v))
        }
        "error" => {
            let raw = data()?.get();
            let text = serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string());
            Ok(Frame::Error(text))
        }
        "candle" => {
            let w: WireCandle =
                serde_json::from_str(data()?.get()).map_err(|e| malformed(channel, e))?;
            candle_from_wire(&w).map(Frame::Candle)
        }
        "allMids" => {
            let raw = data()?.get();
            let w: WireMidsMap = serde_json::from_str(raw).map_err(|e| malformed(channel, e))?;
            Ok(Frame::AllMids(keep_mids(w.mids.0, &keep)))
        }
        "trades" => {
            let w: Vec<WireTrade> =
                serde_json::from_str(data()?.get()).map_err(|e| malformed(channel, e))?;
            let trades = w
                .iter()
                .map(|t| {
                    Ok(Trade {
                        coin: t.coin.to_string(),
                        price: price(channel, "px", t.px)?,
                        size: price(channel, "sz", t.sz)?,
                        time: t.time,
                        tid: t.tid,
                        buy: t.side == "B",
                    })
                })
                .collect::<Result<_, FrameError>>()?;
            Ok(Frame::Trades(trades))
        }
        other => Ok(Frame::Other(other.to_string())),
    }
}

/// The kept coins with their prices; one bad value never drops the frame.
fn keep_mids(pairs: Vec<(&str, &str)>, keep: &impl Fn(&str) -> bool) -> Vec<(String, f64)> {
    let mut mids = Vec::new();
    for (coin, px) in pairs {
        if !keep(coin) {
            continue;
        }
        if let Ok(p) = px.parse::<f64>()
            && p.is_finite()
        {
            mids.push((coin.to_string(), p));
        }
    }
    mids
}

/// A whole `allMids` frame, for the one-pass path (the caller has checked
/// the channel; serde skips it here).
#[derive(Deserialize)]
struct MidsFrame<'a> {
    #[serde(borrow)]
    data: WireMidsMap<'a>,
}

/// `{"mids": {coin: price, …}}` read as pairs in document order.
#[derive(Deserialize)]
struct WireMidsMap<'a> {
    #[serde(borrow)]
    mids: Pairs<'a>,
}

struct Pairs<'a>(Vec<(&'a str, &'a str)>);

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Pairs<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of coin to decimal string")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(1200));
                while let Some((k, v)) = m.next_entry::<&'de str, &'de str>()? {
                    out.push((k, v));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candle_frame_parses_with_string_prices() {
        let f = parse_frame(r#"{"channel":"candle","data":{"t":1787195040000,"T":1787195099999,"s":"BTC","i":"1m","o":"69170.0","c":"69172.0","h":"69174.0","l":"69170.0","v":"0.80052","n":47}}"#).unwrap();
        let Frame::Candle(c) = f else { panic!("{f:?}") };
        assert_eq!(
            (c.symbol.as_str(), c.interval, c.open_time),
            ("BTC", Interval::M1, 1_787_195_040_000)
        );
        assert_eq!(
            (c.open, c.high, c.low, c.close, c.volume, c.trades),
            (69170.0, 69174.0, 69170.0, 69172.0, 0.80052, 47)
        );
        assert_eq!(c.close_time(), 1_787_195_099_999);
    }

    #[test]
    fn all_mids_parse_every_key_and_skip_bad_values() {
        let f = parse_frame(r#"{"channel":"allMids","data":{"mids":{"BTC":"69172.5","@107":"69.408","xyz:XYZ100":"1.5","BAD":"n/a"}}}"#).unwrap();
        let Frame::AllMids(m) = f else { panic!() };
        assert_eq!(m.len(), 3);
        assert!(m.contains(&("BTC".to_string(), 69172.5)));
        assert!(m.contains(&("@107".to_string(), 69.408)));
    }

    #[test]
    fn all_mids_can_keep_only_followed_coins() {
        let f = parse_frame_keeping(
            r#"{"channel":"allMids","data":{"mids":{"BTC":"1.5","ETH":"2.5","@1":"x"}}}"#,
            |c| c == "ETH",
        )
        .unwrap();
        assert_eq!(f, Frame::AllMids(vec![("ETH".to_string(), 2.5)]));
    }

    #[test]
    fn all_mids_parse_the_same_whatever_the_key_order() {
        let channel_first = r#"{"channel":"allMids","data":{"mids":{"BTC":"1.5","ETH":"2.5"}}}"#;
        let data_first = r#"{"data":{"mids":{"BTC":"1.5","ETH":"2.5"}},"channel":"allMids"}"#;
        assert_eq!(
            parse_frame(channel_first).unwrap(),
            parse_frame(data_first).unwrap()
        );
        // A malformed frame that starts like allMids still gets an error.
        assert!(parse_frame(r#"{"channel":"allMids","data":{"mids":7}}"#).is_err());
    }

    #[test]
    fn control_frames_parse() {
        assert_eq!(parse_frame(r#"{"channel":"pong"}"#).unwrap(), Frame::Pong);
        assert!(matches!(
            parse_frame(r#"{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{"type":"allMids"}}}"#).unwrap(),
            Frame::SubscriptionResponse(_)
        ));
        assert_eq!(
            parse_frame(r#"{"channel":"error","data":"Already subscribed: {}"}"#).unwrap(),
            Frame::Error("Already subscribed: {}".into())
        );
        assert_eq!(
            parse_frame(r#"{"channel":"l2Book","data":{}}"#).unwrap(),
            Frame::Other("l2Book".into())
        );
    }

    #[test]
    fn trades_parse_with_the_aggressor_side() {
        let f = parse_frame(r#"{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"100.5","sz":"0.1","time":5,"hash":"0x0","tid":7,"users":["a","b"]}]}"#).unwrap();
        let Frame::Trades(t) = f else { panic!() };
        assert_eq!(
            t[0],
            Trade {
                coin: "BTC".into(),
                price: 100.5,
                size: 0.1,
                time: 5,
                tid: 7,
                buy: true
            }
        );
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        for bad in [
            "Websocket connection established.",
            "",
            "{",
            r#"{"data":{}}"#,
            r#"{"channel":"candle"}"#,
            r#"{"channel":"candle","data":{"t":1,"s":"BTC","i":"1m","o":"1","c":"1","h":"1","l":"1","v":"1"}}"#,
            r#"{"channel":"candle","data":{"t":60000,"s":"BTC","i":"7m","o":"1","c":"1","h":"1","l":"1","v":"1"}}"#,
            r#"{"channel":"candle","data":{"t":60000,"s":"BTC","i":"1m","o":"x","c":"1","h":"1","l":"1","v":"1"}}"#,
            r#"{"channel":"candle","data":{"t":60000,"s":"BTC","i":"1m","o":"NaN","c":"1","h":"1","l":"1","v":"1"}}"#,
            r#"{"channel":"allMids","data":{"mids":[1,2]}}"#,
            r#"{"channel":"trades","data":{"coin":"BTC"}}"#,
        ] {
            assert!(parse_frame(bad).is_err(), "{bad:?} should be an error");
        }
    }
}
