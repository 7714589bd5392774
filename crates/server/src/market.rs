//! Market data inside the service: runs the configured source, keeps the
//! latest price per symbol in memory, and stores candles.
//!
//! The source publishes into a bounded channel; one consumer task applies
//! events: ticks update the in-memory prices (no database write per
//! tick), open candles are written at most once a second per series, and
//! closed candles are written at once. Other subsystems (the rule engine)
//! subscribe to the same events through a broadcast channel.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tradehook_core::time::now_ms;
use tradehook_feeds::hyperliquid::feed::{FeedConfig, FeedStatus, HyperliquidFeed};
use tradehook_feeds::hyperliquid::rest::RestClient;
use tradehook_feeds::{Candle, FeedEvent, Interval, Source};
use tradehook_store::{CandleRow, Store};

use crate::config::Config;

/// Capacity of the source → consumer channel.
const FEED_CHANNEL: usize = 4096;

/// The latest price of a symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub price: f64,
    /// Feed timestamp, Unix ms.
    pub ts: i64,
    pub source: String,
}

/// Shared market state: latest prices, feed health, the universe.
#[derive(Clone)]
pub struct Market {
    pub source: String,
    prices: Arc<RwLock<HashMap<String, Price>>>,
    status: Arc<RwLock<Option<Arc<FeedStatus>>>>,
    events: broadcast::Sender<FeedEvent>,
    rest: Option<RestClient>,
    symbols: Vec<String>,
    intervals: Vec<Interval>,
    universe: Arc<tokio::sync::Mutex<Option<CachedUniverse>>>,
    /// The rule evaluator's lossless feed (see [`Market::attach_evaluator`]).
    evaluator: Arc<std::sync::Mutex<Option<mpsc::Sender<FeedEvent>>>>,
}

/// Events queued for the rule evaluator. Large, so a burst (a replay at
/// full speed, the evaluator loading a million rules) is absorbed; when
/// full, the feed waits rather than dropping an event the rules need.
const EVALUATOR_QUEUE: usize = 65_536;

/// The universe and when it was read (Unix ms).
type CachedUniverse = (i64, Vec<String>);

impl Market {
    pub fn new(config: &Config) -> Self {
        let rest = (config.market.source == "hyperliquid").then(|| {
            RestClient::new(
                &config.hyperliquid.rest_url,
                config.hyperliquid.rest_weight_per_minute,
            )
        });
        Market {
            source: config.market.source.clone(),
            prices: Arc::new(RwLock::new(HashMap::new())),
            status: Arc::new(RwLock::new(None)),
            events: broadcast::channel(4096).0,
            rest,
            symbols: config.market.symbol_list(),
            intervals: {
                let mut v = config.market.interval_list().unwrap_or_default();
                v.sort_by_key(|i| i.millis());
                v
            },
            universe: Arc::new(tokio::sync::Mutex::new(None)),
            evaluator: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// The exchange's REST client, when the source is Hyperliquid.
    pub fn rest(&self) -> Option<&RestClient> {
        self.rest.as_ref()
    }

    /// The candle intervals kept, smallest first.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// Every symbol's latest price.
    pub fn prices(&self) -> Vec<(String, Price)> {
        let mut v: Vec<_> = self
            .prices
            .read()
            .expect("lock")
            .iter()
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn price(&self, symbol: &str) -> Option<Price> {
        self.prices.read().expect("lock").get(symbol).cloned()
    }

    /// Feed events as they are applied (for the rule engine and streams).
    pub fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.events.subscribe()
    }

    pub fn feed_status(&self) -> Option<Arc<FeedStatus>> {
        self.status.read().expect("lock").clone()
    }

    /// The configured symbols.
    pub fn followed(&self) -> &[String] {
        &self.symbols
    }

    /// The tradable universe: Hyperliquid's `meta` (cached 5 minutes), or
    /// the followed symbols for other sources.
    pub async fn universe(&self) -> Result<Vec<String>, String> {
        let Some(rest) = &self.rest else {
            return Ok(self.symbols.clone());
        };
        let mut cache = self.universe.lock().await;
        if let Some((at, list)) = cache.as_ref()
            && now_ms() - at < 300_000
        {
            return Ok(list.clone());
        }
        let list = rest.universe().await.map_err(|e| e.to_string())?;
        *cache = Some((now_ms(), list.clone()));
        Ok(list)
    }

    /// Whether `symbol` is known (exact match).
    pub async fn knows(&self, symbol: &str) -> bool {
        if self.symbols.iter().any(|s| s == symbol) {
            return true;
        }
        self.universe()
            .await
            .is_ok_and(|u| u.iter().any(|s| s == symbol))
    }

    /// A lossless, ordered copy of every event for the rule evaluator.
    /// Unlike [`Market::subscribe`] (which drops events for a slow
    /// receiver), the feed waits for the evaluator. Call before the source
    /// starts.
    pub fn attach_evaluator(&self) -> mpsc::Receiver<FeedEvent> {
        let (tx, rx) = mpsc::channel(EVALUATOR_QUEUE);
        *self.evaluator.lock().expect("lock") = Some(tx);
        rx
    }

    fn evaluator_feed(&self) -> Option<mpsc::Sender<FeedEvent>> {
        self.evaluator.lock().expect("lock").clone()
    }

    /// Applies an event as if the source had published it: prices,
    /// subscribers and the rule evaluator (not candle storage). Tests and
    /// the demo drive the service with it.
    pub async fn inject(&self, event: FeedEvent) {
        self.apply(&event);
        if let Some(tx) = self.evaluator_feed() {
            let _ = tx.send(event).await;
        }
    }

    /// Applies one event to the in-memory state and re-broadcasts it.
    fn apply(&self, event: &FeedEvent) {
        if let FeedEvent::Tick { symbol, price, ts } = event {
            self.prices.write().expect("lock").insert(
                symbol.clone(),
                Price {
                    price: *price,
                    ts: *ts,
                    source: self.source.clone(),
                },
            );
        }
        let _ = self.events.send(event.clone());
    }
}

pub(crate) fn row(c: &Candle, closed: bool) -> CandleRow {
    CandleRow {
        symbol: c.symbol.clone(),
        interval: c.interval.as_str().to_string(),
        open_time: c.open_time,
        open: c.open,
        high: c.high,
        low: c.low,
        close: c.close,
        volume: c.volume,
        trades: c.trades as i64,
        closed,
    }
}

/// Starts the configured market-data source and its consumer.
pub async fn spawn(
    config: &Config,
    store: &Store,
    market: &Market,
    workers: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let intervals = config.market.interval_list().map_err(anyhow::Error::msg)?;
    let keep = config.market.retention_list().map_err(anyhow::Error::msg)?;
    let source = match config.market.source.as_str() {
        "hyperliquid" => {
            let symbols = config.market.symbol_list();
            let mut last_closed = Vec::new();
            for symbol in &symbols {
                for interval in &intervals {
                    if let Some(t) = store
                        .last_closed_candle(&market.source, symbol, interval.as_str())
                        .await?
                    {
                        last_closed.push((symbol.clone(), *interval, t));
                    }
                }
            }
            let rest = market
                .rest
                .clone()
                .expect("hyperliquid source has a REST client");
            let mut feed_config =
                FeedConfig::new(&config.hyperliquid.ws_url, rest, symbols, intervals);
            feed_config.ping_interval = Duration::from_secs(config.hyperliquid.ping_interval_secs);
            feed_config.silence_timeout =
                Duration::from_secs(config.hyperliquid.silence_timeout_secs);
            feed_config.grace = Duration::from_millis(config.market.candle_grace_ms);
            feed_config.initial_lookback_bars = i64::from(config.market.initial_backfill_bars);
            feed_config.trades = config.hyperliquid.trades;
            if config.market.mode == "poll" {
                Source::Poll {
                    config: Box::new(feed_config),
                    every: Duration::from_millis(config.market.poll_interval_ms),
                    last_closed,
                }
            } else {
                let feed = HyperliquidFeed::new(feed_config, &last_closed);
                *market.status.write().expect("lock") = Some(feed.status());
                Source::Stream(Box::new(feed))
            }
        }
        "replay" => {
            let path = &config.market.replay_file;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read market.replay_file {path}"))?;
            let rows = tradehook_feeds::replay::parse(path, &text)?;
            tracing::info!(rows = rows.len(), file = %path, speed = config.market.replay_speed, "replaying market data");
            Source::Replay {
                rows,
                intervals,
                speed: config.market.replay_speed,
            }
        }
        _ => return Ok(()),
    };
    let (tx, rx) = mpsc::channel(FEED_CHANNEL);
    workers.spawn(source.run(tx, shutdown.clone()));
    workers.spawn(consume(store.clone(), market.clone(), rx, shutdown.clone()));
    workers.spawn(retention(store.clone(), keep, shutdown.clone()));
    Ok(())
}

/// Applies feed events: prices in memory, candles to storage.
pub async fn consume(
    store: Store,
    market: Market,
    mut rx: mpsc::Receiver<FeedEvent>,
    stop: CancellationToken,
) {
    let mut open: HashMap<(String, Interval), Candle> = HashMap::new();
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    let mut batch = Vec::with_capacity(256);
    // When each symbol last had news (Unix ms), for the age gauge.
    let mut last_seen: HashMap<String, i64> = HashMap::new();
    let evaluator = market.evaluator_feed();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = flush.tick() => {
                let now = now_ms();
                for (symbol, at) in &last_seen {
                    metrics::gauge!("tradehook_feed_last_message_age_seconds", "symbol" => symbol.clone())
                        .set((now - at).max(0) as f64 / 1000.0);
                }
                let rows: Vec<CandleRow> = open.drain().map(|(_, c)| row(&c, false)).collect();
                write(&store, &market.source, &rows).await;
            }
            n = rx.recv_many(&mut batch, 256) => {
                if n == 0 { break; }
                let mut closed = Vec::new();
                for event in batch.drain(..) {
                    market.apply(&event);
                    let symbol = match &event {
                        FeedEvent::Tick { symbol, .. } => symbol,
                        FeedEvent::CandleUpdate(c) | FeedEvent::CandleClosed(c) | FeedEvent::CandleRevised(c) => &c.symbol,
                    };
                    if let Some(at) = last_seen.get_mut(symbol.as_str()) {
                        *at = now_ms();
                    } else {
                        last_seen.insert(symbol.clone(), now_ms());
                    }
                    if let Some(tx) = &evaluator
                        && tx.send(event.clone()).await.is_err()
                    {
                        tracing::debug!("the rule evaluator stopped");
                    }
                    match event {
                        FeedEvent::CandleUpdate(c) => { open.insert((c.symbol.clone(), c.interval), c); }
                        FeedEvent::CandleClosed(c) | FeedEvent::CandleRevised(c) => {
                            open.remove(&(c.symbol.clone(), c.interval));
                            closed.push(row(&c, true));
                        }
                        FeedEvent::Tick { .. } => {}
                    }
                }
                write(&store, &market.source, &closed).await;
            }
        }
    }
    let rows: Vec<CandleRow> = open.drain().map(|(_, c)| row(&c, false)).collect();
    write(&store, &market.source, &rows).await;
}

async fn write(store: &Store, source: &str, rows: &[CandleRow]) {
    if rows.is_empty() {
        return;
    }
    // A closed candle must not be lost: retry a few times.
    for attempt in 0..5u32 {
        match store.upsert_candles(source, rows, now_ms()).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, attempt, "could not store candles; retrying");
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    }
    tracing::error!(
        count = rows.len(),
        "gave up storing candles; the next backfill restores them"
    );
}

/// Deletes candles past their interval's retention, hourly, in batches.
async fn retention(store: Store, keep: Vec<(Interval, i64)>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                for (interval, keep_ms) in &keep {
                    let before = now_ms() - keep_ms;
                    loop {
                        match store.prune_candles(interval.as_str(), before, 1000).await {
                            Ok(0) => break,
                            Ok(_) => tokio::task::yield_now().await,
                            Err(e) => {
                                tracing::warn!(error = %e, "candle retention failed");
                                break;
                            }
                        }
                        if stop.is_cancelled() { break; }
                    }
                }
            }
        }
    }
}
