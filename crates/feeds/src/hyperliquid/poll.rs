//! Poll mode: REST only, for networks that break WebSockets.
//!
//! Every period it reads `allMids` for ticks and, per series, the candles
//! since the last closed one: finished buckets are closed (once, through
//! the same [`CandleTracker`] as the stream) and the current one is
//! published as an update.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::candles::CandleTracker;
use crate::hyperliquid::feed::{FeedConfig, validate_symbols};
use crate::types::FeedEvent;

/// Polls until `shutdown`. `last_closed` as for the stream.
pub async fn run_poll(
    config: FeedConfig,
    every: Duration,
    last_closed: &[(String, crate::Interval, i64)],
    out: mpsc::Sender<FeedEvent>,
    shutdown: CancellationToken,
) {
    let mut tracker = CandleTracker::new(config.grace.as_millis() as i64);
    for (s, i, t) in last_closed {
        tracker.set_last_closed(s, *i, *t);
    }
    let mut symbols: Option<Vec<String>> = None;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let wanted = match &symbols {
            Some(s) => s.clone(),
            None => match config.rest.universe().await {
                Ok(universe) => {
                    let valid = validate_symbols(&config.symbols, &universe);
                    symbols = Some(valid.clone());
                    valid
                }
                Err(e) => {
                    tracing::warn!(error = %e, "poll: cannot read the universe");
                    continue;
                }
            },
        };
        let mut events = Vec::new();
        match config.rest.all_mids().await {
            Ok(mids) => {
                let ts = (config.clock)();
                for (symbol, price) in mids {
                    if wanted.contains(&symbol) {
                        events.push(FeedEvent::Tick { symbol, price, ts });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "poll: allMids failed"),
        }
        let now = (config.clock)();
        for symbol in &wanted {
            for interval in &config.intervals {
                let step = interval.millis();
                let start = tracker
                    .last_closed(symbol, *interval)
                    .map(|t| t + step)
                    .unwrap_or_else(|| {
                        interval.bucket_start(now) - config.initial_lookback_bars * step
                    });
                match config
                    .rest
                    .candles_between(symbol, *interval, start, now)
                    .await
                {
                    Ok(candles) => {
                        for c in candles {
                            if c.close_time() < now {
                                tracker.on_closed(c, &mut events);
                            } else {
                                tracker.on_update(c, &mut events);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %symbol, %interval, "poll: candles failed")
                    }
                }
            }
        }
        for e in events {
            if out.send(e).await.is_err() {
                return;
            }
        }
    }
}
