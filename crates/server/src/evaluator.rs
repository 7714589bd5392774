//! The rule evaluator inside the service.
//!
//! One task owns the in-memory [`Engine`]: it loads the active rules,
//! warms indicators from stored candles (backfilling from the exchange
//! when they are missing), then applies market events in order. Firings
//! go through a bounded channel to a committer task that writes each
//! alert, its event and the event's deliveries in one transaction; a
//! unique key on `(rule_id, window_start, window_end)` makes a second
//! evaluator (another replica, or this one after a restart) lose quietly.
//!
//! Rule changes: the API wakes the local evaluator at once; changes made
//! by other replicas are read every `rules.poll_interval_ms` by a cheap
//! query on `updated_at` (the last few seconds are re-read each time and
//! compared by revision, so a transaction that committed late is not
//! missed). Expiry is a conditional update, so each rule expires once
//! across replicas.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tradehook_core::event::{Event, rfc3339_ms};
use tradehook_core::time::now_ms;
use tradehook_delivery::Outbox;
use tradehook_feeds::{Candle, FeedEvent, Interval};
use tradehook_rules::{Engine, Firing, Frequency, Rule, RuleConfig, RuleType};
use tradehook_store::{AlertRecord, CandleQuery, CandleRow, NewAlert, RuleRecord, Store};

use crate::api::price_alerts;
use crate::market::Market;

/// Overlap of successive change polls: a change committed up to this
/// long after its `updated_at` is still seen.
const POLL_OVERLAP_MS: i64 = 5_000;
/// Firings waiting for the committer.
const FIRING_QUEUE: usize = 8192;

/// The API's handle on the local evaluator.
#[derive(Clone, Default)]
pub struct RulesHandle {
    wake: Arc<Notify>,
}

impl RulesHandle {
    /// A rule changed: apply it now instead of at the next poll.
    pub fn changed(&self) {
        self.wake.notify_one();
    }
}

/// Everything the evaluator tasks need.
#[derive(Clone)]
pub struct EvaluatorContext {
    pub store: Store,
    pub outbox: Outbox,
    pub market: Market,
    pub handle: RulesHandle,
    pub poll_interval: Duration,
    /// Alerts older than this are deleted; `None` keeps them.
    pub alert_retention: Option<Duration>,
}

/// Starts the evaluator and its committer.
///
/// `feed` comes from [`Market::attach_evaluator`], attached before the
/// source starts and before rules load, so no event is missed: events
/// queue while the rules load and warm up.
pub fn spawn(
    ctx: EvaluatorContext,
    feed: mpsc::Receiver<FeedEvent>,
    workers: &TaskTracker,
    stop: &CancellationToken,
) {
    let (tx, rx) = mpsc::channel(FIRING_QUEUE);
    workers.spawn(run_engine(ctx.clone(), feed, tx, stop.clone()));
    workers.spawn(run_committer(ctx, rx));
}

/// Converts a stored rule into what the engine needs; `None` for rules
/// that do not evaluate (disabled, finished, or unreadable).
pub fn engine_rule(r: &RuleRecord) -> Option<Rule> {
    if r.status != "active" || !r.enabled {
        return None;
    }
    let config = match RuleConfig::parse(&r.rule_type, &r.config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(rule = %r.id, error = %e, "stored rule does not validate; skipped");
            return None;
        }
    };
    let frequency = match Frequency::parse(&r.frequency) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(rule = %r.id, error = %e, "stored rule does not validate; skipped");
            return None;
        }
    };
    Some(Rule {
        id: r.id.clone(),
        symbol: r.symbol.clone(),
        config,
        frequency,
        cooldown_ms: r.cooldown_seconds.saturating_mul(1000),
        expires_at: r.expires_at,
        created_at: r.created_at,
        last_fired_at: r.last_fired_at,
    })
}

struct Evaluator {
    ctx: EvaluatorContext,
    engine: Engine,
    /// Revisions applied recently, with their `updated_at`, so re-read
    /// changes are not applied twice.
    recent: HashMap<String, (i64, i64)>,
    /// `updated_at` from which the next poll reads.
    since: i64,
    /// Series whose indicators wait for warm-up, with the bars they need.
    pending: HashMap<(String, Interval), usize>,
}

async fn run_engine(
    ctx: EvaluatorContext,
    mut feed: mpsc::Receiver<FeedEvent>,
    fires: mpsc::Sender<Firing>,
    stop: CancellationToken,
) {
    let mut ev = Evaluator {
        ctx: ctx.clone(),
        engine: Engine::new(),
        recent: HashMap::new(),
        since: 0,
        pending: HashMap::new(),
    };
    metrics::gauge!("tradehook_rules_evaluator_ready").set(0.0);
    // Load every active rule; keep trying while the database is away.
    loop {
        let started = now_ms();
        match ev.load_all().await {
            Ok(symbols) => {
                ev.since = started - POLL_OVERLAP_MS;
                tracing::info!(
                    rules = ev.engine.len(),
                    ms = now_ms() - started,
                    "rules loaded"
                );
                break symbols;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot load rules; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    }
    ev.refresh_pending();
    ev.publish_gauges();
    metrics::gauge!("tradehook_rules_evaluator_ready").set(1.0);

    let mut poll = tokio::time::interval(ctx.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = 0i64;
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            received = feed.recv() => match received {
                Some(event) => {
                    if let FeedEvent::Tick { symbol, ts, .. } = &event
                        && !seen.contains(symbol)
                    {
                        seen.insert(symbol.clone());
                        ev.seed_price(symbol, *ts).await;
                    }
                    if let FeedEvent::CandleClosed(c) = &event
                        && !ev.pending.is_empty()
                    {
                        ev.warm_before(c).await;
                    }
                    let started = Instant::now();
                    ev.engine.on_event(&event, &mut out);
                    metrics::histogram!("tradehook_rule_eval_seconds")
                        .record(started.elapsed().as_secs_f64());
                    for firing in out.drain(..) {
                        if fires.send(firing).await.is_err() {
                            return;
                        }
                    }
                }
                None => break,
            },
            () = ctx.handle.wake.notified() => ev.apply_changes().await,
            _ = poll.tick() => ev.apply_changes().await,
            _ = sweep.tick() => {
                ev.expire().await;
                let now = now_ms();
                if now - last_prune > 3_600_000 {
                    last_prune = now;
                    ev.prune_alerts().await;
                }
            }
        }
    }
}

impl Evaluator {
    /// Loads every live rule.
    async fn load_all(&mut self) -> anyhow::Result<()> {
        for r in &self.ctx.store.load_active_rules().await? {
            if let Some(rule) = engine_rule(r) {
                self.engine.upsert(rule);
            }
        }
        Ok(())
    }

    /// Before the first tick of a symbol, the price it had before: the
    /// close of the newest stored candle of an earlier bucket. So a
    /// crossing across a restart is still a crossing, and a candle stored
    /// after this tick (the feed runs ahead of the evaluator) is not used.
    async fn seed_price(&mut self, symbol: &str, ts: i64) {
        let Some(interval) = self.ctx.market.intervals().first().copied() else {
            return;
        };
        let q = CandleQuery {
            source: self.ctx.market.source.clone(),
            symbol: symbol.to_string(),
            interval: interval.as_str().to_string(),
            from: None,
            to: Some(interval.bucket_start(ts)),
            after: None,
            limit: 1,
        };
        match self.ctx.store.latest_candles(&q).await {
            Ok(rows) => {
                if let Some(c) = rows.last() {
                    self.engine
                        .seed_price(symbol, c.close, c.open_time + interval.millis() - 1);
                }
            }
            Err(e) => tracing::warn!(error = %e, %symbol, "cannot read the last price"),
        }
    }

    /// Recomputes which series wait for warm-up.
    fn refresh_pending(&mut self) {
        self.pending = self
            .engine
            .warmup_needs()
            .into_iter()
            .map(|n| ((n.symbol, n.interval), n.bars))
            .collect();
        metrics::gauge!("tradehook_rules_warming_series").set(self.pending.len() as f64);
    }

    /// Before the first closed candle of a series that waits for warm-up:
    /// builds its indicators from the stored candles before it (after a
    /// backfill from the exchange when they are missing). Only candles
    /// before this one: the feed stores candles ahead of the evaluator,
    /// and a candle used for warm-up is never evaluated.
    async fn warm_before(&mut self, c: &Candle) {
        let key = (c.symbol.clone(), c.interval);
        let Some(bars) = self.pending.remove(&key) else {
            return;
        };
        let candles = self.history(&c.symbol, c.interval, bars, c.open_time).await;
        tracing::debug!(symbol = %c.symbol, interval = %c.interval, bars = candles.len(), needed = bars, "warming indicators");
        self.engine.warm(&c.symbol, c.interval, &candles);
        metrics::gauge!("tradehook_rules_warming_series").set(self.pending.len() as f64);
    }

    async fn history(
        &self,
        symbol: &str,
        interval: Interval,
        bars: usize,
        before: i64,
    ) -> Vec<Candle> {
        let store = &self.ctx.store;
        let source = &self.ctx.market.source;
        // More than the indicator's lookback: EMA-based indicators carry
        // their whole history, and from a few hundred bars back the
        // difference to an uninterrupted run is below 1e-12, so a restart
        // computes the same crossings.
        let want = (bars as i64 * 4).max(500) + 2;
        let q = CandleQuery {
            source: source.clone(),
            symbol: symbol.to_string(),
            interval: interval.as_str().to_string(),
            from: None,
            to: Some(before),
            after: None,
            limit: want,
        };
        let mut rows = store.latest_candles(&q).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read stored candles for warm-up");
            Vec::new()
        });
        rows.retain(|c| c.closed);
        if (rows.len() as i64) < bars as i64
            && let Some(rest) = self.ctx.market.rest()
        {
            let now = now_ms();
            let end = before.min(interval.bucket_start(now)) - 1;
            let start = end + 1 - want * interval.millis();
            match rest.candles_between(symbol, interval, start, end).await {
                Ok(fetched) => {
                    let fresh: Vec<CandleRow> = fetched
                        .iter()
                        .filter(|c| c.close_time() < now)
                        .map(|c| crate::market::row(c, true))
                        .collect();
                    if let Err(e) = store.upsert_candles(source, &fresh, now).await {
                        tracing::warn!(error = %e, "cannot store backfilled candles");
                    }
                    rows = store.latest_candles(&q).await.unwrap_or_default();
                    rows.retain(|c| c.closed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, %symbol, %interval, "warm-up backfill failed; indicators warm from live candles")
                }
            }
        }
        rows.iter()
            .map(|r| Candle {
                symbol: r.symbol.clone(),
                interval,
                open_time: r.open_time,
                open: r.open,
                high: r.high,
                low: r.low,
                close: r.close,
                volume: r.volume,
                trades: r.trades.max(0) as u64,
            })
            .collect()
    }

    async fn apply_changes(&mut self) {
        let started = now_ms();
        let changed = match self.ctx.store.rules_changed_since(self.since).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read rule changes");
                return;
            }
        };
        let mut any = false;
        for r in &changed {
            if self
                .recent
                .get(&r.id)
                .is_some_and(|(rev, _)| *rev >= r.revision)
            {
                continue;
            }
            self.recent.insert(r.id.clone(), (r.revision, r.updated_at));
            any = true;
            match engine_rule(r) {
                Some(rule) => self.engine.upsert(rule),
                None => {
                    self.engine.remove(&r.id);
                }
            }
        }
        self.since = started - POLL_OVERLAP_MS;
        let since = self.since;
        self.recent.retain(|_, (_, at)| *at >= since);
        if any {
            self.refresh_pending();
            self.publish_gauges();
        }
    }

    async fn expire(&mut self) {
        let outbox = self.ctx.outbox.clone();
        let result = self
            .ctx
            .store
            .expire_rules(now_ms(), |r| {
                Outbox::event(
                    "alert.expired",
                    json!({
                        "rule_id": r.id,
                        "rule_name": r.name,
                        "symbol": r.symbol,
                        "rule_type": r.rule_type,
                        "expired_at": r.expires_at.map(rfc3339_ms),
                    }),
                )
            })
            .await;
        match result {
            Ok(expired) => {
                for (r, seq) in expired {
                    self.engine.remove(&r.id);
                    outbox.committed(seq);
                    tracing::info!(rule = %r.id, "rule expired");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot expire rules"),
        }
    }

    async fn prune_alerts(&self) {
        let Some(keep) = self.ctx.alert_retention else {
            return;
        };
        let before = now_ms() - keep.as_millis() as i64;
        loop {
            match self.ctx.store.prune_alerts(before, 1000).await {
                Ok(0) => break,
                Ok(_) => tokio::task::yield_now().await,
                Err(e) => {
                    tracing::warn!(error = %e, "alert retention failed");
                    break;
                }
            }
        }
    }

    fn publish_gauges(&self) {
        let counts: HashMap<RuleType, usize> = self.engine.count_by_type().into_iter().collect();
        for t in RuleType::ALL {
            metrics::gauge!("tradehook_rules_active", "rule_type" => t.as_str())
                .set(counts.get(&t).copied().unwrap_or(0) as f64);
        }
    }
}

async fn run_committer(ctx: EvaluatorContext, mut rx: mpsc::Receiver<Firing>) {
    while let Some(firing) = rx.recv().await {
        commit(&ctx, &firing).await;
    }
}

/// Writes one firing. A database error is retried (the alert must not be
/// lost); a conflict means another evaluator already wrote this window.
pub async fn commit(ctx: &EvaluatorContext, f: &Firing) -> Option<AlertRecord> {
    let indicators: Map<String, Value> = f
        .indicators
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    let new = NewAlert {
        rule_id: f.rule_id.clone(),
        window_start: f.window_start,
        window_end: f.window_end,
        price: f.price,
        indicators: Value::Object(indicators),
        feed_ts: f.feed_ts,
    };
    let source = ctx.market.source.clone();
    for attempt in 0..8u32 {
        let result = ctx
            .store
            .fire_alert(&new, now_ms(), |rule, alert| {
                alert_event(rule, alert, f, &source)
            })
            .await;
        match result {
            Ok(Some((alert, seq))) => {
                ctx.outbox.committed(seq);
                metrics::counter!("tradehook_alerts_fired_total", "rule_type" => f.rule_type.as_str())
                    .increment(1);
                metrics::histogram!("tradehook_alert_latency_seconds")
                    .record(alert.latency_us as f64 / 1e6);
                tracing::info!(alert = %alert.id, rule = %f.rule_id, symbol = %f.symbol, price = f.price, "alert fired");
                return Some(alert);
            }
            Ok(None) => {
                metrics::counter!("tradehook_alerts_duplicate_total").increment(1);
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, rule = %f.rule_id, "cannot write an alert; retrying");
                tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
            }
        }
    }
    metrics::counter!("tradehook_alerts_lost_total").increment(1);
    tracing::error!(rule = %f.rule_id, window_start = f.window_start, "gave up writing an alert");
    None
}

/// The event of an alert: `price_alert.triggered` with the flat payload
/// for price alerts, `alert.triggered` for every other rule.
fn alert_event(rule: &RuleRecord, alert: &AlertRecord, f: &Firing, source: &str) -> Event {
    if f.rule_type == RuleType::PriceAlert {
        let mut data = price_alerts::payload(
            &rule.id,
            &rule.symbol,
            &rule.config,
            f.price,
            f.feed_ts,
            source,
        );
        data["fired_alert_id"] = json!(alert.id);
        return Outbox::event(price_alerts::EVENT_TYPE, data);
    }
    let direction = match f.prev_price {
        Some(p) if f.price > p => Some("up"),
        Some(p) if f.price < p => Some("down"),
        _ => None,
    };
    Outbox::event(
        "alert.triggered",
        json!({
            "alert_id": alert.id,
            "rule_id": rule.id,
            "rule_name": rule.name,
            "symbol": rule.symbol,
            "rule_type": rule.rule_type,
            "price": f.price,
            "previous_price": f.prev_price,
            "condition": describe(&rule.rule_type, &rule.config),
            "direction": direction,
            "indicators": alert.indicators,
            "frequency": rule.frequency,
            "window_start": rfc3339_ms(f.window_start),
            "window_end": (f.window_end != i64::MAX).then(|| rfc3339_ms(f.window_end)),
            "feed_time": rfc3339_ms(f.feed_ts),
            "source": source,
        }),
    )
}

/// A one-line description of a rule's condition, for humans.
pub fn describe(rule_type: &str, c: &Value) -> String {
    let s = |k: &str| match &c[k] {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    match rule_type {
        "price_threshold" => format!("price {} {}", s("operator"), s("threshold")),
        "percent_move" => format!(
            "price moved {} {}% within {} s",
            s("direction"),
            s("percent"),
            s("window_seconds")
        ),
        "candle_close" => format!("{} close {} {}", s("interval"), s("operator"), s("value")),
        "macd_cross" => format!(
            "MACD({},{},{}) {} cross on {}",
            s("fast"),
            s("slow"),
            s("signal"),
            s("direction"),
            s("interval")
        ),
        "rsi" => format!(
            "RSI({}) crossed {} ({}) on {}",
            s("period"),
            s("threshold"),
            s("direction"),
            s("interval")
        ),
        "bollinger_bands" => format!(
            "Bollinger({}, {}) {} {} band on {}",
            s("period"),
            s("std_dev"),
            s("event"),
            s("band"),
            s("interval")
        ),
        "channel" => format!("{} channel {}–{}", s("event"), s("lower"), s("upper")),
        "price_alert" => format!("price {} {}", s("condition"), s("target_price")),
        other => other.to_string(),
    }
}
