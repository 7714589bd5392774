//! Every market-data source behind one type.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hyperliquid::feed::{FeedConfig, HyperliquidFeed};
use crate::hyperliquid::poll::run_poll;
use crate::interval::Interval;
use crate::replay::{ReplayRow, play};
use crate::types::FeedEvent;

/// A configured source; [`Source::run`] publishes its events until
/// shutdown (or, for a replay, the end of the file).
pub enum Source {
    /// The Hyperliquid WebSocket with REST backfill.
    Stream(Box<HyperliquidFeed>),
    /// Hyperliquid REST only, every `every`.
    Poll {
        config: Box<FeedConfig>,
        every: Duration,
        last_closed: Vec<(String, Interval, i64)>,
    },
    /// A recorded file.
    Replay {
        rows: Vec<ReplayRow>,
        intervals: Vec<Interval>,
        speed: f64,
    },
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::Stream(_) => "hyperliquid-ws",
            Source::Poll { .. } => "hyperliquid-poll",
            Source::Replay { .. } => "replay",
        }
    }

    pub async fn run(self, out: mpsc::Sender<FeedEvent>, shutdown: CancellationToken) {
        match self {
            Source::Stream(feed) => {
                if let Err(e) = feed.run(out, shutdown).await {
                    tracing::error!(error = %e, "market feed stopped");
                }
            }
            Source::Poll {
                config,
                every,
                last_closed,
            } => run_poll(*config, every, &last_closed, out, shutdown).await,
            Source::Replay {
                rows,
                intervals,
                speed,
            } => play(rows, intervals, speed, out, shutdown).await,
        }
    }
}
