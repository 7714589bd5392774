//! Market-data sources.
//!
//! Every source (the Hyperliquid WebSocket, REST polling, replay files)
//! publishes the same typed [`FeedEvent`]s: ticks, updates of the open
//! candle, and closed candles. Parsing and candle bookkeeping are pure and
//! live in their own modules so they can be tested and benchmarked without
//! a network.

pub mod candles;
pub mod hyperliquid;
pub mod interval;
pub mod replay;
pub mod source;
pub mod types;

pub use candles::CandleTracker;
pub use interval::Interval;
pub use source::Source;
pub use types::{Candle, FeedEvent};
