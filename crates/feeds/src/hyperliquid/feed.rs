//! The Hyperliquid WebSocket feed: subscribe, keep the connection alive,
//! close candles exactly once, and fill every gap from REST.
//!
//! At start and after every (re)connect, each series is backfilled over
//! REST from its last closed candle, then live frames take over. A ping is
//! sent at least every 30 s; 60 s without any message is a dead
//! connection. Reconnects back off exponentially with full jitter, capped
//! at 30 s, and resubscribe everything. Symbols are checked against the
//! REST `meta` universe first, because one unknown or mis-cased coin makes
//! the server drop the whole socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::candles::CandleTracker;
use crate::hyperliquid::frame::{Frame, parse_frame_keeping};
use crate::hyperliquid::rest::{RestClient, RestError};
use crate::interval::Interval;
use crate::types::{Candle, FeedEvent};

/// Settings of the WebSocket feed.
#[derive(Clone)]
pub struct FeedConfig {
    pub ws_url: String,
    pub rest: RestClient,
    pub symbols: Vec<String>,
    pub intervals: Vec<Interval>,
    pub ping_interval: Duration,
    pub silence_timeout: Duration,
    /// How long after a bucket's end the clock closes it.
    pub grace: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Candles fetched per series at the first start (nothing stored yet).
    pub initial_lookback_bars: i64,
    /// How long after a live close the bar is checked against REST.
    pub reconcile_after: Duration,
    /// The wall clock (Unix ms); tests pass a controlled one.
    pub clock: Clock,
    /// Also subscribe to each symbol's `trades` and publish a tick per
    /// trade (at the trade's own time), on top of `allMids`.
    pub trades: bool,
}

/// A source of the current time in Unix milliseconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(now_ms)
}

impl FeedConfig {
    pub fn new(
        ws_url: &str,
        rest: RestClient,
        symbols: Vec<String>,
        intervals: Vec<Interval>,
    ) -> Self {
        FeedConfig {
            ws_url: ws_url.to_string(),
            rest,
            symbols,
            intervals,
            ping_interval: Duration::from_secs(30),
            silence_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(2),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            initial_lookback_bars: 500,
            reconcile_after: Duration::from_secs(1),
            clock: system_clock(),
            trades: false,
        }
    }
}

/// Live state for health checks and the API.
#[derive(Debug, Default)]
pub struct FeedStatus {
    pub connected: AtomicBool,
    pub reconnects: AtomicU64,
    /// Unix ms of the last message received (0: never).
    pub last_message_at: AtomicI64,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("none of the configured symbols is in the Hyperliquid universe")]
    NoValidSymbols,
}

/// The feed. `run` consumes it.
pub struct HyperliquidFeed {
    config: FeedConfig,
    tracker: CandleTracker,
    status: Arc<FeedStatus>,
    symbols: Vec<String>,
    /// The validated symbols as a set, for per-frame filtering.
    followed: std::collections::HashSet<String>,
    /// Per coin, the newest trade time published and the trade ids at it.
    seen_trades: std::collections::HashMap<String, (i64, Vec<u64>)>,
    /// Bars closed from live frames, to check against REST when due.
    to_reconcile: Vec<(i64, Candle)>,
    backfilling: bool,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The sleep before reconnect attempt `n` (0-based): full jitter over an
/// exponential ceiling, capped.
pub fn backoff(base: Duration, cap: Duration, attempt: u32, unit: f64) -> Duration {
    let ceiling = base
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(cap);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

enum Ended {
    Shutdown,
    Lost(String),
}

impl HyperliquidFeed {
    /// `last_closed`: the newest stored closed candle per series.
    pub fn new(config: FeedConfig, last_closed: &[(String, Interval, i64)]) -> Self {
        let mut tracker = CandleTracker::new(config.grace.as_millis() as i64);
        for (symbol, interval, t) in last_closed {
            tracker.set_last_closed(symbol, *interval, *t);
        }
        HyperliquidFeed {
            symbols: config.symbols.clone(),
            config,
            tracker,
            status: Arc::new(FeedStatus::default()),
            followed: std::collections::HashSet::new(),
            seen_trades: std::collections::HashMap::new(),
            to_reconcile: Vec::new(),
            backfilling: false,
        }
    }

    pub fn status(&self) -> Arc<FeedStatus> {
        self.status.clone()
    }

    /// Runs until `shutdown`, publishing to `out`.
    pub async fn run(
        mut self,
        out: mpsc::Sender<FeedEvent>,
        shutdown: CancellationToken,
    ) -> Result<(), FeedError> {
        let mut attempt = 0u32;
        // Validate symbols once, retrying until REST answers.
        loop {
            match self.config.rest.universe().await {
                Ok(universe) => {
                    self.symbols = validate_symbols(&self.config.symbols, &universe);
                    self.followed = self.symbols.iter().cloned().collect();
                    if self.symbols.is_empty() {
                        return Err(FeedError::NoValidSymbols);
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the Hyperliquid universe; retrying");
                    if self.wait_backoff(&mut attempt, &shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
        attempt = 0;
        loop {
            match self.session(&out, &shutdown).await {
                Ended::Shutdown => return Ok(()),
                Ended::Lost(reason) => {
                    self.status.connected.store(false, Ordering::Relaxed);
                    self.status.reconnects.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("tradehook_feed_reconnects_total").increment(1);
                    tracing::warn!(%reason, "Hyperliquid connection lost; reconnecting");
                }
            }
            if self.wait_backoff(&mut attempt, &shutdown).await {
                return Ok(());
            }
        }
    }

    /// Sleeps the next backoff; true if shutdown came first.
    async fn wait_backoff(&self, attempt: &mut u32, shutdown: &CancellationToken) -> bool {
        let unit: f64 = rand::rng().random();
        let delay = backoff(
            self.config.backoff_base,
            self.config.backoff_max,
            *attempt,
            unit,
        );
        *attempt = attempt.saturating_add(1);
        tokio::select! {
            () = shutdown.cancelled() => true,
            () = tokio::time::sleep(delay) => false,
        }
    }

    /// One connection: connect, subscribe, backfill, then read until lost.
    async fn session(
        &mut self,
        out: &mpsc::Sender<FeedEvent>,
        shutdown: &CancellationToken,
    ) -> Ended {
        let connect = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(&self.config.ws_url),
        );
        let (ws, _) = match connect.await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => return Ended::Lost(format!("connect: {e}")),
            Err(_) => return Ended::Lost("connect timed out".into()),
        };
        let (mut sink, mut stream) = ws.split();
        let mut subscriptions =
            vec![serde_json::json!({"method": "subscribe", "subscription": {"type": "allMids"}})];
        for symbol in &self.symbols {
            for interval in &self.config.intervals {
                subscriptions.push(serde_json::json!({"method": "subscribe", "subscription": {"type": "candle", "coin": symbol, "interval": interval.as_str()}}));
            }
            if self.config.trades {
                subscriptions.push(serde_json::json!({"method": "subscribe", "subscription": {"type": "trades", "coin": symbol}}));
            }
        }
        for s in subscriptions {
            if let Err(e) = sink.send(Message::Text(s.to_string().into())).await {
                return Ended::Lost(format!("subscribe: {e}"));
            }
        }
        self.status.connected.store(true, Ordering::Relaxed);
        tracing::info!(symbols = ?self.symbols, intervals = ?self.config.intervals, "Hyperliquid connected");

        // Fill the gap since the last closed candle before reading live
        // frames (they wait in the socket meanwhile).
        self.backfilling = true;
        let filled = self.backfill(out).await;
        self.backfilling = false;
        if let Err(e) = filled {
            return Ended::Lost(format!("backfill: {e}"));
        }

        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.reset();
        let mut clock = tokio::time::interval(Duration::from_millis(500));
        let mut last_message = tokio::time::Instant::now();
        let mut events = Vec::new();
        loop {
            let silence = last_message + self.config.silence_timeout;
            tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = sink.send(Message::Close(None)).await;
                    return Ended::Shutdown;
                }
                () = tokio::time::sleep_until(silence) => return Ended::Lost("no message for the silence timeout".into()),
                _ = ping.tick() => {
                    if let Err(e) = sink.send(Message::Text(r#"{"method":"ping"}"#.into())).await {
                        return Ended::Lost(format!("ping: {e}"));
                    }
                }
                _ = clock.tick() => {
                    let now = (self.config.clock)();
                    self.tracker.on_clock(now, &mut events);
                    self.reconcile_due(now, out);
                    if !self.publish(out, &mut events).await { return Ended::Shutdown; }
                }
                message = stream.next() => {
                    let text = match message {
                        None => return Ended::Lost("connection closed".into()),
                        Some(Err(e)) => return Ended::Lost(format!("read: {e}")),
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(frame))) => return Ended::Lost(format!("closed by server: {frame:?}")),
                        Some(Ok(_)) => { last_message = tokio::time::Instant::now(); continue; }
                    };
                    last_message = tokio::time::Instant::now();
                    self.status.last_message_at.store((self.config.clock)(), Ordering::Relaxed);
                    self.on_text(&text, &mut events).await;
                    if !self.publish(out, &mut events).await { return Ended::Shutdown; }
                }
            }
        }
    }

    /// Whether a trade has not been published yet. A `trades`
    /// subscription starts with a batch of recent trades, so after a
    /// resubscribe some arrive again; a trade is identified by (time,
    /// coin, tid) and trades come in time order per coin.
    fn trade_is_new(&mut self, coin: &str, time: i64, tid: u64) -> bool {
        let seen = self
            .seen_trades
            .entry(coin.to_string())
            .or_insert((i64::MIN, Vec::new()));
        if time < seen.0 {
            return false;
        }
        if time > seen.0 {
            *seen = (time, vec![tid]);
            return true;
        }
        if seen.1.contains(&tid) {
            return false;
        }
        seen.1.push(tid);
        true
    }

    async fn on_text(&mut self, text: &str, events: &mut Vec<FeedEvent>) {
        let followed = &self.followed;
        match parse_frame_keeping(text, |coin| followed.contains(coin)) {
            Ok(Frame::Candle(c)) => {
                metrics::counter!("tradehook_feed_frames_total", "channel" => "candle")
                    .increment(1);
                if self.followed.contains(&c.symbol) {
                    self.fill_gap_before(&c, events).await;
                    self.tracker.on_update(c, events);
                }
            }
            Ok(Frame::AllMids(mids)) => {
                metrics::counter!("tradehook_feed_frames_total", "channel" => "allMids")
                    .increment(1);
                let ts = (self.config.clock)();
                for (symbol, price) in mids {
                    events.push(FeedEvent::Tick { symbol, price, ts });
                }
            }
            Ok(Frame::Trades(trades)) => {
                metrics::counter!("tradehook_feed_frames_total", "channel" => "trades")
                    .increment(1);
                for t in trades {
                    if self.followed.contains(&t.coin) && self.trade_is_new(&t.coin, t.time, t.tid)
                    {
                        events.push(FeedEvent::Tick {
                            symbol: t.coin,
                            price: t.price,
                            ts: t.time,
                        });
                    }
                }
            }
            Ok(Frame::Error(e)) => {
                metrics::counter!("tradehook_feed_frames_total", "channel" => "error").increment(1);
                tracing::warn!(error = %e, "Hyperliquid sent an error frame");
            }
            Ok(other) => {
                let channel = match other {
                    Frame::Pong => "pong",
                    Frame::SubscriptionResponse(_) => "subscriptionResponse",
                    _ => "other",
                };
                metrics::counter!("tradehook_feed_frames_total", "channel" => channel).increment(1);
            }
            Err(e) => {
                metrics::counter!("tradehook_feed_parse_errors_total").increment(1);
                tracing::warn!(error = %e, "unparseable Hyperliquid frame skipped");
            }
        }
    }

    /// Sends events; ticks are dropped (and counted) when the consumer is
    /// full, candles wait. Returns false if the consumer is gone.
    async fn publish(
        &mut self,
        out: &mpsc::Sender<FeedEvent>,
        events: &mut Vec<FeedEvent>,
    ) -> bool {
        for event in events.drain(..) {
            if let FeedEvent::CandleClosed(c) = &event
                && !self.backfilling
            {
                let due = (self.config.clock)() + self.config.reconcile_after.as_millis() as i64;
                self.to_reconcile.push((due, c.clone()));
            }
            match event {
                FeedEvent::Tick { .. } => match out.try_send(event) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        metrics::counter!("tradehook_feed_ticks_dropped_total").increment(1);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                },
                other => {
                    if out.send(other).await.is_err() {
                        return false;
                    }
                }
            }
        }
        metrics::gauge!("tradehook_feed_channel_lag")
            .set((out.max_capacity() - out.capacity()) as f64);
        true
    }

    /// Fetches every candle closed since the last closed one of each
    /// series and closes them in order.
    async fn backfill(&mut self, out: &mpsc::Sender<FeedEvent>) -> Result<(), RestError> {
        let now = (self.config.clock)();
        for symbol in self.symbols.clone() {
            for interval in self.config.intervals.clone() {
                let step = interval.millis();
                let start = match self.tracker.last_closed(&symbol, interval) {
                    Some(t) => t + step,
                    None => interval.bucket_start(now) - self.config.initial_lookback_bars * step,
                };
                let current = interval.bucket_start(now);
                if start >= current {
                    continue;
                }
                let candles = self
                    .config
                    .rest
                    .candles_between(&symbol, interval, start, current - 1)
                    .await?;
                let mut events = Vec::new();
                for c in candles.into_iter().filter(|c| c.close_time() < now) {
                    self.tracker.on_closed(c, &mut events);
                }
                tracing::debug!(%symbol, %interval, closed = events.len(), "backfilled");
                if !self.publish(out, &mut events).await {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

impl HyperliquidFeed {
    /// When a live frame is more than one bucket past what we have (the
    /// open bucket, or the last closed one), the buckets in between —
    /// including a stale open one — are fetched from REST and closed in
    /// order first, so a jump never leaves a gap or closes a partial bar.
    async fn fill_gap_before(&mut self, c: &Candle, events: &mut Vec<FeedEvent>) {
        let step = c.interval.millis();
        let from = match (
            self.tracker.open_candle(&c.symbol, c.interval),
            self.tracker.last_closed(&c.symbol, c.interval),
        ) {
            (Some(open), _) if c.open_time > open.open_time + step => open.open_time,
            (None, Some(last)) if c.open_time > last + 2 * step => last + step,
            _ => return,
        };
        match self
            .config
            .rest
            .candles_between(&c.symbol, c.interval, from, c.open_time - 1)
            .await
        {
            Ok(missing) => {
                for bar in missing.into_iter().filter(|b| b.open_time < c.open_time) {
                    self.tracker.on_closed(bar, events);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, symbol = %c.symbol, "could not fill a candle gap; the next backfill will")
            }
        }
    }

    /// Checks bars closed from live frames against REST, off the read
    /// loop; a bar that differs is published as `CandleRevised`.
    fn reconcile_due(&mut self, now: i64, out: &mpsc::Sender<FeedEvent>) {
        let (due, later): (Vec<_>, Vec<_>) =
            self.to_reconcile.drain(..).partition(|(at, _)| *at <= now);
        self.to_reconcile = later;
        if due.is_empty() {
            return;
        }
        let rest = self.config.rest.clone();
        let out = out.clone();
        tokio::spawn(async move {
            for (_, closed) in due {
                let t = closed.open_time;
                match rest
                    .candle_snapshot(&closed.symbol, closed.interval, t, t)
                    .await
                {
                    Ok(bars) => {
                        if let Some(truth) = bars.into_iter().find(|b| b.open_time == t)
                            && truth != closed
                        {
                            metrics::counter!("tradehook_feed_candles_revised_total").increment(1);
                            if out.send(FeedEvent::CandleRevised(truth)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, symbol = %closed.symbol, "could not reconcile a closed candle")
                    }
                }
            }
        });
    }
}

/// The configured symbols that are in the universe (exact, case-sensitive
/// match); the others are logged with a hint and left out.
pub fn validate_symbols(wanted: &[String], universe: &[String]) -> Vec<String> {
    let mut ok = Vec::new();
    for symbol in wanted {
        if universe.contains(symbol) {
            ok.push(symbol.clone());
        } else {
            let hint = universe
                .iter()
                .find(|u| u.eq_ignore_ascii_case(symbol))
                .map(|u| format!(" (did you mean {u}? coins are case-sensitive)"))
                .unwrap_or_default();
            tracing::error!(%symbol, "not in the Hyperliquid universe; not subscribing{hint}");
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_to_the_cap_with_full_jitter() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(30);
        assert_eq!(backoff(base, cap, 0, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(base, cap, 3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(base, cap, 10, 1.0), cap);
        assert_eq!(backoff(base, cap, 50, 1.0), cap);
        assert_eq!(
            backoff(base, cap, 5, 0.0),
            Duration::ZERO,
            "full jitter reaches zero"
        );
        assert_eq!(backoff(base, cap, 3, 0.5), Duration::from_secs(2));
    }

    #[test]
    fn unknown_and_mis_cased_symbols_are_left_out() {
        let universe = vec!["BTC".to_string(), "ETH".to_string(), "kPEPE".to_string()];
        let wanted = vec![
            "BTC".to_string(),
            "eth".to_string(),
            "DOGE".to_string(),
            "kPEPE".to_string(),
        ];
        assert_eq!(
            validate_symbols(&wanted, &universe),
            vec!["BTC".to_string(), "kPEPE".to_string()]
        );
    }
}
