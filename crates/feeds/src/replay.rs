//! Replaying recorded market data from a file.
//!
//! A replay file is CSV or JSONL (the format is in
//! `docs/replay-format.md`). Candle rows are published as closed candles
//! (and a tick at the close); tick rows are published as ticks and also
//! aggregated into candles of the configured intervals, closed by the same
//! [`CandleTracker`] as the live feed. `speed` scales the gaps between
//! rows' timestamps: 1 is real time, 0 is as fast as possible.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::candles::CandleTracker;
use crate::interval::Interval;
use crate::types::{Candle, FeedEvent};

/// One row of a replay file.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayRow {
    Candle(Candle),
    Tick {
        symbol: String,
        price: f64,
        ts: i64,
        size: f64,
    },
}

impl ReplayRow {
    /// The row's time: a candle's end, a tick's timestamp.
    pub fn time(&self) -> i64 {
        match self {
            ReplayRow::Candle(c) => c.close_time(),
            ReplayRow::Tick { ts, .. } => *ts,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {message}")]
pub struct ReplayError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// A number given as a JSON number or a decimal string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Num {
    F(f64),
    S(String),
}

impl Num {
    fn get(&self) -> Result<f64, String> {
        let v = match self {
            Num::F(f) => *f,
            Num::S(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("`{s}` is not a number"))?,
        };
        if v.is_finite() {
            Ok(v)
        } else {
            Err("not a finite number".into())
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum JsonRow {
    Candle {
        symbol: String,
        interval: String,
        t: i64,
        o: Num,
        h: Num,
        l: Num,
        c: Num,
        #[serde(default)]
        v: Option<Num>,
        #[serde(default)]
        n: Option<u64>,
    },
    Tick {
        symbol: String,
        ts: i64,
        price: Num,
        #[serde(default)]
        size: Option<Num>,
    },
}

fn candle(
    symbol: String,
    interval: &str,
    t: i64,
    ohlcv: [f64; 5],
    n: u64,
) -> Result<Candle, String> {
    let interval: Interval = interval
        .parse()
        .map_err(|e: crate::interval::UnknownInterval| e.to_string())?;
    if interval.bucket_start(t) != t {
        return Err(format!("time {t} is not a {interval} boundary"));
    }
    let [open, high, low, close, volume] = ohlcv;
    if high < low || high < open.max(close) || low > open.min(close) {
        return Err("high/low do not contain open and close".into());
    }
    Ok(Candle {
        symbol,
        interval,
        open_time: t,
        open,
        high,
        low,
        close,
        volume,
        trades: n,
    })
}

/// Parses a whole replay file; `name` is used in errors. JSONL when the
/// first non-empty line starts with `{`, CSV otherwise.
pub fn parse(name: &str, text: &str) -> Result<Vec<ReplayRow>, ReplayError> {
    let err = |line: usize, message: String| ReplayError {
        file: name.to_string(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((first_no, first)) = lines.next() else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    if first.trim_start().starts_with('{') {
        for (no, line) in std::iter::once((first_no, first)).chain(lines) {
            let row: JsonRow =
                serde_json::from_str(line).map_err(|e| err(no + 1, e.to_string()))?;
            rows.push(match row {
                JsonRow::Candle {
                    symbol,
                    interval,
                    t,
                    o,
                    h,
                    l,
                    c,
                    v,
                    n,
                } => {
                    let nums = [
                        o.get(),
                        h.get(),
                        l.get(),
                        c.get(),
                        v.map_or(Ok(0.0), |v| v.get()),
                    ];
                    let mut ohlcv = [0.0; 5];
                    for (slot, n) in ohlcv.iter_mut().zip(nums) {
                        *slot = n.map_err(|m| err(no + 1, m))?;
                    }
                    ReplayRow::Candle(
                        candle(symbol, &interval, t, ohlcv, n.unwrap_or(0))
                            .map_err(|m| err(no + 1, m))?,
                    )
                }
                JsonRow::Tick {
                    symbol,
                    ts,
                    price,
                    size,
                } => ReplayRow::Tick {
                    symbol,
                    ts,
                    price: price.get().map_err(|m| err(no + 1, m))?,
                    size: size
                        .map_or(Ok(0.0), |s| s.get())
                        .map_err(|m| err(no + 1, m))?,
                },
            });
        }
    } else {
        let header: Vec<String> = first
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let col = |name: &str| header.iter().position(|h| h == name);
        let candles = ["symbol", "interval", "time", "open", "high", "low", "close"]
            .iter()
            .all(|c| col(c).is_some());
        let ticks = ["symbol", "time", "price"].iter().all(|c| col(c).is_some());
        if !candles && !ticks {
            return Err(err(first_no + 1, "CSV header must be symbol,interval,time,open,high,low,close[,volume] or symbol,time,price[,size]".into()));
        }
        for (no, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != header.len() {
                return Err(err(
                    no + 1,
                    format!("{} cells, the header has {}", cells.len(), header.len()),
                ));
            }
            let num = |name: &str| -> Result<f64, String> {
                match col(name) {
                    None => Ok(0.0),
                    Some(i) => Num::S(cells[i].to_string()).get(),
                }
            };
            let time: i64 = cells[col("time").expect("checked")]
                .parse()
                .map_err(|_| err(no + 1, "time must be Unix milliseconds".into()))?;
            let symbol = cells[col("symbol").expect("checked")].to_string();
            rows.push(if candles {
                let nums = [
                    num("open"),
                    num("high"),
                    num("low"),
                    num("close"),
                    num("volume"),
                ];
                let mut ohlcv = [0.0; 5];
                for (slot, n) in ohlcv.iter_mut().zip(nums) {
                    *slot = n.map_err(|m| err(no + 1, m))?;
                }
                ReplayRow::Candle(
                    candle(
                        symbol,
                        cells[col("interval").expect("checked")],
                        time,
                        ohlcv,
                        0,
                    )
                    .map_err(|m| err(no + 1, m))?,
                )
            } else {
                ReplayRow::Tick {
                    symbol,
                    ts: time,
                    price: num("price").map_err(|m| err(no + 1, m))?,
                    size: num("size").map_err(|m| err(no + 1, m))?,
                }
            });
        }
    }
    rows.sort_by_key(ReplayRow::time);
    Ok(rows)
}

/// Turns rows into feed events, aggregating ticks into `intervals`.
pub struct ReplayState {
    tracker: CandleTracker,
    intervals: Vec<Interval>,
}

impl ReplayState {
    pub fn new(intervals: Vec<Interval>) -> Self {
        ReplayState {
            tracker: CandleTracker::new(0),
            intervals,
        }
    }

    pub fn tracker_mut(&mut self) -> &mut CandleTracker {
        &mut self.tracker
    }

    pub fn apply(&mut self, row: ReplayRow, out: &mut Vec<FeedEvent>) {
        match row {
            ReplayRow::Candle(c) => {
                let (symbol, price, ts) = (c.symbol.clone(), c.close, c.close_time());
                // Larger buckets that ended before this bar are closed first.
                self.tracker.on_clock(c.open_time, out);
                // Aggregate into every configured interval that is a
                // multiple of the row's (1m rows make 5m and 1h candles).
                for interval in self.intervals.clone() {
                    if interval == c.interval || interval.millis() % c.interval.millis() != 0 {
                        continue;
                    }
                    let t = interval.bucket_start(c.open_time);
                    let bar = match self.tracker.open_candle(&symbol, interval) {
                        Some(open) if open.open_time == t => Candle {
                            high: open.high.max(c.high),
                            low: open.low.min(c.low),
                            close: c.close,
                            volume: open.volume + c.volume,
                            trades: open.trades + c.trades,
                            ..open.clone()
                        },
                        _ => Candle {
                            interval,
                            open_time: t,
                            ..c.clone()
                        },
                    };
                    self.tracker.on_update(bar, out);
                }
                self.tracker.on_update(c.clone(), out);
                self.tracker.on_closed(c, out);
                out.push(FeedEvent::Tick { symbol, price, ts });
            }
            ReplayRow::Tick {
                symbol,
                price,
                ts,
                size,
            } => {
                // Buckets that ended before this tick are closed first.
                self.tracker.on_clock(ts, out);
                for interval in self.intervals.clone() {
                    let t = interval.bucket_start(ts);
                    let bar = match self.tracker.open_candle(&symbol, interval) {
                        Some(open) if open.open_time == t => Candle {
                            high: open.high.max(price),
                            low: open.low.min(price),
                            close: price,
                            volume: open.volume + size,
                            trades: open.trades + 1,
                            ..open.clone()
                        },
                        _ => Candle {
                            symbol: symbol.clone(),
                            interval,
                            open_time: t,
                            open: price,
                            high: price,
                            low: price,
                            close: price,
                            volume: size,
                            trades: 1,
                        },
                    };
                    self.tracker.on_update(bar, out);
                }
                out.push(FeedEvent::Tick { symbol, price, ts });
            }
        }
    }

    /// Closes every bucket left open at the end of the file.
    pub fn finish(&mut self, out: &mut Vec<FeedEvent>) {
        self.tracker.on_clock(i64::MAX, out);
    }
}

/// Plays `rows` into `out` at `speed` (0 = as fast as possible).
pub async fn play(
    rows: Vec<ReplayRow>,
    intervals: Vec<Interval>,
    speed: f64,
    out: mpsc::Sender<FeedEvent>,
    shutdown: CancellationToken,
) {
    let mut state = ReplayState::new(intervals);
    let mut previous: Option<i64> = None;
    let mut events = Vec::new();
    for row in rows {
        if speed > 0.0
            && let Some(prev) = previous
        {
            let gap = Duration::from_millis((row.time() - prev).max(0) as u64).div_f64(speed);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(gap) => {}
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
        previous = Some(row.time());
        state.apply(row, &mut events);
        for e in events.drain(..) {
            if out.send(e).await.is_err() {
                return;
            }
        }
    }
    state.finish(&mut events);
    for e in events.drain(..) {
        if out.send(e).await.is_err() {
            return;
        }
    }
    tracing::info!("replay finished");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_candles_and_ticks_parse_with_numbers_or_strings() {
        let rows = parse(
            "x.jsonl",
            "{\"type\":\"tick\",\"symbol\":\"BTC\",\"ts\":61000,\"price\":\"100.5\"}\n\
             {\"type\":\"candle\",\"symbol\":\"BTC\",\"interval\":\"1m\",\"t\":0,\"o\":1,\"h\":2,\"l\":0.5,\"c\":1.5,\"v\":\"3\"}\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            matches!(&rows[0], ReplayRow::Candle(c) if c.close == 1.5 && c.volume == 3.0),
            "sorted by time"
        );
        assert!(matches!(&rows[1], ReplayRow::Tick { price, .. } if *price == 100.5));
    }

    #[test]
    fn csv_candles_and_ticks_parse() {
        let candles = parse(
            "c.csv",
            "symbol,interval,time,open,high,low,close,volume\nBTC,1m,60000,1,2,0.5,1.5,10\n",
        )
        .unwrap();
        assert!(
            matches!(&candles[0], ReplayRow::Candle(c) if c.open_time == 60_000 && c.volume == 10.0)
        );
        let ticks = parse("t.csv", "symbol,time,price\nETH,5,3000.25\n").unwrap();
        assert_eq!(
            ticks,
            vec![ReplayRow::Tick {
                symbol: "ETH".into(),
                ts: 5,
                price: 3000.25,
                size: 0.0
            }]
        );
    }

    #[test]
    fn bad_rows_name_the_file_and_line() {
        let e = parse("bad.csv", "symbol,interval,time,open,high,low,close\nBTC,1m,60000,1,2,0.5,1.5\nBTC,1m,60001,1,2,0.5,1.5\n").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("bad.csv", 3));
        assert!(e.message.contains("boundary"), "{e}");
        assert!(
            parse(
                "b.jsonl",
                "{\"type\":\"tick\",\"symbol\":\"BTC\",\"ts\":1,\"price\":\"abc\"}"
            )
            .is_err()
        );
        assert!(parse("b.jsonl", "{\"type\":\"bar\"}").is_err());
        assert!(parse("b.csv", "a,b\n1,2\n").is_err());
        assert!(
            parse(
                "b.csv",
                "symbol,interval,time,open,high,low,close\nBTC,1m,0,1,0.5,2,1\n"
            )
            .is_err(),
            "high < low"
        );
    }

    #[test]
    fn one_minute_rows_aggregate_into_five_minute_candles() {
        let mut s = ReplayState::new(vec![Interval::M1, Interval::M5]);
        let mut out = Vec::new();
        for i in 0..10 {
            let p = 100.0 + i as f64;
            let row = candle(
                "BTC".into(),
                "1m",
                i * 60_000,
                [p, p + 0.5, p - 0.5, p + 0.25, 1.0],
                2,
            )
            .unwrap();
            s.apply(ReplayRow::Candle(row), &mut out);
        }
        s.finish(&mut out);
        let five: Vec<&Candle> = out
            .iter()
            .filter_map(|e| match e {
                FeedEvent::CandleClosed(c) if c.interval == Interval::M5 => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(five.len(), 2);
        assert_eq!(
            (five[0].open, five[0].high, five[0].low, five[0].close),
            (100.0, 104.5, 99.5, 104.25)
        );
        assert_eq!((five[0].volume, five[0].trades), (5.0, 10));
        assert_eq!(five[1].open_time, 300_000);
        let ones = out
            .iter()
            .filter(|e| matches!(e, FeedEvent::CandleClosed(c) if c.interval == Interval::M1))
            .count();
        assert_eq!(ones, 10, "each 1m row closes once");
    }

    #[test]
    fn ticks_aggregate_into_candles_closed_once() {
        let mut s = ReplayState::new(vec![Interval::M1]);
        let mut out = Vec::new();
        for (ts, p) in [(1_000, 10.0), (30_000, 12.0), (59_000, 9.0), (61_000, 11.0)] {
            s.apply(
                ReplayRow::Tick {
                    symbol: "BTC".into(),
                    price: p,
                    ts,
                    size: 1.0,
                },
                &mut out,
            );
        }
        s.finish(&mut out);
        let closed: Vec<&Candle> = out
            .iter()
            .filter_map(|e| match e {
                FeedEvent::CandleClosed(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(closed.len(), 2);
        assert_eq!(
            (
                closed[0].open,
                closed[0].high,
                closed[0].low,
                closed[0].close,
                closed[0].volume
            ),
            (10.0, 12.0, 9.0, 9.0, 3.0)
        );
        assert_eq!((closed[1].open_time, closed[1].close), (60_000, 11.0));
    }
}
