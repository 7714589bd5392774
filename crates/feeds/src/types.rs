//! The events every market-data source publishes.
//!
//! Prices are `f64`: market data feeds indicators, which are computed in
//! floating point (as TA-Lib does). Money that changes hands (orders,
//! positions) uses decimals elsewhere.

use serde::{Deserialize, Serialize};

use crate::interval::Interval;

/// One OHLCV bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    pub symbol: String,
    pub interval: Interval,
    /// Open time, Unix ms (the bucket's start).
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    /// Trades in the bucket, when the source knows.
    pub trades: u64,
}

impl Candle {
    /// The last millisecond of the bucket.
    pub fn close_time(&self) -> i64 {
        self.open_time + self.interval.millis() - 1
    }
}

/// What a source publishes.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// The latest price of a symbol.
    Tick { symbol: String, price: f64, ts: i64 },
    /// The open (still changing) candle.
    CandleUpdate(Candle),
    /// A finished candle; published once per (symbol, interval, open_time).
    CandleClosed(Candle),
    /// A correction of a closed candle after checking it against REST
    /// (live frames missed part of the bucket). Store it; rules already
    /// saw the close and do not fire again.
    CandleRevised(Candle),
}
