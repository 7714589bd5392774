//! The job loop, the paper brokers and the order bookkeeping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tradehook_brokers::alpaca::{AlpacaBroker, AlpacaConfig, Environment};
use tradehook_brokers::{
    BrokerAdapter, BrokerError, Decimal, Order, OrderRequest, OrderStatus, OrderType, PaperBroker,
    PaperConfig, PaperState, Position, PriceSource, Side, TimeInForce, oco_leg, parse_symbol,
    price_key, same_instrument, with_leg,
};
use tradehook_core::ids::new_id;
use tradehook_core::signals::{self, IntentKind, OrderKind};
use tradehook_core::time::now_ms;
use tradehook_delivery::Outbox;
use tradehook_feeds::FeedEvent;
use tradehook_store::{
    BotRecord, BrokerAccountRecord, JobRecord, NewOrder, OrderRecord, OrderUpdate, SignalRecord,
    SignalStatus, StoreError,
};

use crate::api::bots::BotSettings;
use crate::market::Market;
use crate::state::AppState;

/// How long a leased job is ours.
const LEASE_MS: i64 = 30_000;
/// Jobs leased per round.
const BATCH: i64 = 32;
/// Poll interval when idle.
const IDLE: Duration = Duration::from_millis(50);
/// Attempts before a job fails.
const MAX_ATTEMPTS: i64 = 5;

/// Prices for the paper brokers, from the market cache.
struct MarketPrices(Market);

impl PriceSource for MarketPrices {
    fn price(&self, feed_symbol: &str) -> Option<(f64, i64)> {
        self.0.price(feed_symbol).map(|p| (p.price, p.ts))
    }
}

/// One loaded paper account.
#[derive(Clone)]
struct Paper {
    broker: Arc<PaperBroker>,
    /// Serialises snapshot + save so an older snapshot never overwrites a
    /// newer one.
    save: Arc<tokio::sync::Mutex<()>>,
    /// Held from a broker change until its order rows are written, so the
    /// job loop and the tick task never write an order's rows out of order
    /// (a fill recorded, then overwritten by the older `new`).
    book: Arc<tokio::sync::Mutex<()>>,
}

/// How a job ended.
enum Outcome {
    Executed,
    Rejected(String),
}

/// Why a job could not finish now.
struct Retry(String);

impl From<StoreError> for Retry {
    fn from(e: StoreError) -> Self {
        Retry(format!("database: {e}"))
    }
}

type Step<T> = Result<T, Retry>;

/// What one order placement gave.
struct Placed {
    order: Option<Order>,
    rejected: Option<String>,
}

/// Context of the job being executed.
struct Ctx {
    bot: BotRecord,
    signal: SignalRecord,
    account_id: String,
    /// `paper` or `alpaca`, for events.
    kind: &'static str,
    broker: Arc<dyn BrokerAdapter>,
    /// Set for paper accounts.
    paper: Option<Paper>,
}

impl Ctx {
    async fn book(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.paper {
            Some(p) => Some(p.book.lock().await),
            None => None,
        }
    }
}

/// How long a market order at a remote broker is polled for its fill.
const FILL_WAIT: Duration = Duration::from_secs(5);

/// The execution engine, shared by the job loop and the tick task.
pub struct Executor {
    state: AppState,
    owner: String,
    papers: Mutex<HashMap<String, Paper>>,
}

/// Starts the job loop and the tick task.
pub fn spawn(state: &AppState, workers: &TaskTracker, shutdown: &CancellationToken) {
    let exec = Arc::new(Executor {
        state: state.clone(),
        owner: format!("exec-{}-{:04x}", std::process::id(), rand::random::<u16>()),
        papers: Mutex::new(HashMap::new()),
    });
    RUNNING.lock().expect("lock").push(Arc::downgrade(&exec));
    // Subscribe before anything runs so no tick is missed.
    let ticks = state.market.subscribe();
    let stop = shutdown.clone();
    let e = exec.clone();
    workers.spawn(async move { e.job_loop(stop).await });
    let stop = shutdown.clone();
    workers.spawn(async move { exec.tick_loop(ticks, stop).await });
}

/// The running executors, so the risk service reaches the same in-memory
/// paper brokers (one app per process in production, several in tests).
static RUNNING: Mutex<Vec<std::sync::Weak<Executor>>> = Mutex::new(Vec::new());

fn running(state: &AppState) -> Option<Arc<Executor>> {
    let mut all = RUNNING.lock().expect("lock");
    all.retain(|w| w.strong_count() > 0);
    all.iter()
        .filter_map(std::sync::Weak::upgrade)
        .find(|e| Arc::ptr_eq(&e.state.config, &state.config))
}

/// The broker the worker trades `account` through (for paper accounts the
/// worker's own in-memory broker), for the risk service.
pub(crate) async fn account_broker(
    state: &AppState,
    account: &BrokerAccountRecord,
) -> Result<Arc<dyn BrokerAdapter>, String> {
    let exec = running(state).ok_or("the execution worker is not running")?;
    match account.kind.as_str() {
        "paper" => Ok(exec.paper(account).await.map_err(|Retry(e)| e)?.broker),
        "alpaca" => exec.alpaca(account),
        other => Err(format!("unknown broker kind `{other}`")),
    }
}

/// Saves a paper account after a change made outside the worker.
pub(crate) async fn save_paper(state: &AppState, account: &BrokerAccountRecord) {
    let Some(exec) = running(state) else { return };
    if account.kind != "paper" {
        return;
    }
    if let Ok(paper) = exec.paper(account).await
        && let Err(Retry(e)) = exec.save(&account.id, &paper).await
    {
        tracing::warn!(account = %account.id, error = %e, "cannot save a paper account");
    }
}

fn dec(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Rounds a positive quantity down to 8 decimals.
fn round_qty(q: Decimal) -> Decimal {
    let scale = Decimal::from(100_000_000u64);
    ((q * scale).floor() / scale).normalize()
}

/// The client order id of a signal's orders: `{bot}-{received_at}-{tail}`
/// with the signal id's last 12 characters as the tail, so a retry of the
/// same signal derives the same ids.
fn base_client_order_id(bot_id: &str, received_at: i64, signal_id: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    let bot = clean(bot_id);
    let bot = if bot.len() > 16 {
        format!("{}{}", &bot[..4], &bot[bot.len() - 12..])
    } else {
        bot
    };
    let sig = clean(signal_id);
    let tail = &sig[sig.len().saturating_sub(12)..];
    format!("{bot}-{}-{tail}", received_at.max(0))
}

fn order_data(bot: &BotRecord, broker: &str, o: &OrderRecord) -> Value {
    json!({
        "order_id": o.id,
        "client_order_id": o.client_order_id,
        "broker_order_id": o.broker_order_id,
        "signal_id": o.signal_id,
        "bot_id": bot.id,
        "bot_name": bot.name,
        "broker": broker,
        "symbol": o.symbol,
        "side": o.side,
        "type": o.order_type,
        "qty": o.qty,
        "limit_price": o.limit_price,
        "stop_price": o.stop_price,
        "filled_qty": o.filled_qty,
        "filled_avg_price": o.filled_avg_price,
        "status": o.status,
        "leg": o.leg,
        "reason": o.reason,
    })
}

fn update_from(order: &Order) -> OrderUpdate {
    OrderUpdate {
        status: Some(order.status.as_str().to_string()),
        broker_order_id: Some(order.id.clone()),
        filled_qty: Some(dec(order.filled_qty)),
        filled_avg_price: order.filled_avg_price.map(dec),
        reason: None,
    }
}

fn event_for(status: OrderStatus) -> Option<&'static str> {
    match status {
        OrderStatus::Filled => Some("order.filled"),
        OrderStatus::Canceled | OrderStatus::Expired => Some("order.canceled"),
        OrderStatus::Rejected => Some("order.rejected"),
        _ => None,
    }
}

impl Executor {
    async fn job_loop(self: Arc<Self>, stop: CancellationToken) {
        self.preload().await;
        loop {
            if stop.is_cancelled() {
                break;
            }
            let jobs = match self
                .state
                .store
                .lease_jobs(&self.owner, now_ms(), LEASE_MS, BATCH)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot lease execution jobs");
                    Vec::new()
                }
            };
            let idle = jobs.is_empty();
            for job in jobs {
                if job.kind != "execute" {
                    continue;
                }
                self.run_job(job).await;
            }
            if idle {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = self.state.jobs_wake.notified() => {}
                    () = tokio::time::sleep(IDLE) => {}
                }
            }
        }
    }

    /// Loads the paper accounts that have a stored state, so their resting
    /// orders see ticks after a restart.
    async fn preload(&self) {
        let Ok(accounts) = self.state.store.list_broker_accounts().await else {
            return;
        };
        for a in accounts.iter().filter(|a| a.kind == "paper") {
            if let Ok(Some(_)) = self.state.store.load_paper_state(&a.id).await
                && let Err(Retry(e)) = self.paper(a).await
            {
                tracing::warn!(account = %a.id, error = %e, "cannot load a paper account");
            }
        }
    }

    async fn paper(&self, account: &BrokerAccountRecord) -> Step<Paper> {
        if let Some(p) = self.papers.lock().expect("lock").get(&account.id) {
            return Ok(p.clone());
        }
        let stored = self.state.store.load_paper_state(&account.id).await?;
        let mut config = PaperConfig::default();
        if let Some(cash) = account
            .starting_cash
            .as_deref()
            .and_then(|c| c.parse::<Decimal>().ok())
        {
            config.starting_cash = cash;
        }
        let prices: Arc<dyn PriceSource> = Arc::new(MarketPrices(self.state.market.clone()));
        let broker = match stored.and_then(|v| serde_json::from_value::<PaperState>(v).ok()) {
            Some(state) => PaperBroker::restore(config, prices, state),
            None => PaperBroker::new(config, prices),
        };
        let fresh = Paper {
            broker: Arc::new(broker),
            save: Arc::new(tokio::sync::Mutex::new(())),
            book: Arc::new(tokio::sync::Mutex::new(())),
        };
        let mut papers = self.papers.lock().expect("lock");
        Ok(papers.entry(account.id.clone()).or_insert(fresh).clone())
    }

    /// An Alpaca adapter from the account's sealed credentials.
    fn alpaca(&self, account: &BrokerAccountRecord) -> Result<Arc<dyn BrokerAdapter>, String> {
        let sealed = account
            .credentials
            .as_deref()
            .ok_or("the Alpaca account has no credentials")?;
        let opened = self
            .state
            .sealer
            .open(sealed)
            .map_err(|e| format!("cannot open the Alpaca credentials: {e}"))?;
        let creds: Value = serde_json::from_str(&opened)
            .map_err(|_| "the Alpaca credentials are not JSON".to_string())?;
        let field = |k: &str| creds[k].as_str().unwrap_or_default().to_string();
        let config = AlpacaConfig {
            base_url: account.base_url.clone(),
            key_id: field("key_id"),
            secret_key: field("secret_key"),
            environment: if account.environment == "live" {
                Environment::Live
            } else {
                Environment::Paper
            },
        };
        AlpacaBroker::new(config)
            .map(|b| Arc::new(b) as Arc<dyn BrokerAdapter>)
            .map_err(|e| format!("cannot reach Alpaca: {e}"))
    }

    async fn save(&self, account_id: &str, paper: &Paper) -> Step<()> {
        let _guard = paper.save.lock().await;
        let snapshot = serde_json::to_value(paper.broker.snapshot())
            .map_err(|e| Retry(format!("paper state: {e}")))?;
        self.state
            .store
            .save_paper_state(account_id, &snapshot)
            .await?;
        Ok(())
    }

    async fn run_job(&self, job: JobRecord) {
        let result = self.execute(&job).await;
        let done = match result {
            Ok((signal, outcome)) => self.finish(&job, signal.as_ref(), outcome).await,
            Err(Retry(e)) => self.retry(&job, &e).await,
        };
        if let Err(e) = done {
            tracing::warn!(job = %job.id, error = %e, "cannot record an execution result");
        }
    }

    async fn retry(&self, job: &JobRecord, error: &str) -> Result<(), StoreError> {
        let store = &self.state.store;
        if job.attempts >= MAX_ATTEMPTS {
            tracing::warn!(job = %job.id, error, "execution failed");
            let mut tx = store.begin().await?;
            if tx.fail_job(&job.id, job.lease_token, error).await? {
                let _ = tx
                    .set_signal_status(&job.signal_id, SignalStatus::Failed, Some(error))
                    .await;
                tx.commit().await?;
            }
            return Ok(());
        }
        let backoff = 1000i64 << (job.attempts - 1).clamp(0, 10);
        store
            .retry_job(&job.id, job.lease_token, now_ms() + backoff, error)
            .await?;
        Ok(())
    }

    async fn finish(
        &self,
        job: &JobRecord,
        signal: Option<&SignalRecord>,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        let store = &self.state.store;
        let mut tx = store.begin().await?;
        if !tx.complete_job(&job.id, job.lease_token).await? {
            // The lease was lost: whoever holds it now finishes the job.
            return Ok(());
        }
        let mut seq = None;
        if let Some(signal) = signal {
            match &outcome {
                Outcome::Executed => {
                    tx.set_signal_status(&signal.id, SignalStatus::Executed, None)
                        .await?;
                }
                Outcome::Rejected(reason) => {
                    tx.set_signal_status(&signal.id, SignalStatus::Rejected, Some(reason))
                        .await?;
                    let bot = store.get_bot(&signal.bot_id).await.ok();
                    let event = Outbox::event(
                        "signal.rejected",
                        json!({
                            "signal_id": signal.id,
                            "bot_id": signal.bot_id,
                            "bot_name": bot.map(|b| b.name),
                            "symbol": signal.symbol,
                            "action": signal.action,
                            "reason": reason,
                        }),
                    );
                    seq = Some(tx.publish_event(&event).await?.0);
                }
            }
        }
        tx.commit().await?;
        if let Some(seq) = seq {
            self.state.outbox.committed(seq);
        }
        Ok(())
    }

    /// Runs one job; `Ok` ends it (with the signal, when it exists).
    async fn execute(&self, job: &JobRecord) -> Step<(Option<SignalRecord>, Outcome)> {
        let store = &self.state.store;
        let signal = match store.get_signal(&job.signal_id).await {
            Ok(s) => s,
            Err(StoreError::NotFound) => {
                return Ok((None, Outcome::Rejected("the signal is gone".into())));
            }
            Err(e) => return Err(e.into()),
        };
        if !matches!(
            SignalStatus::parse(&signal.status),
            Some(SignalStatus::Accepted | SignalStatus::Executing)
        ) {
            // Already decided (a run that crashed after its commit).
            return Ok((None, Outcome::Executed));
        }
        let reject = |signal: SignalRecord, r: String| Ok((Some(signal), Outcome::Rejected(r)));
        let bot = match store.get_bot(&job.bot_id).await {
            Ok(b) => b,
            Err(StoreError::NotFound) => return reject(signal, "the bot is deleted".into()),
            Err(e) => return Err(e.into()),
        };
        if bot.deleted_at.is_some() {
            return reject(signal, "the bot is deleted".into());
        }
        if bot.paused {
            let why = bot
                .paused_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            return reject(signal, format!("the bot is paused{why}"));
        }
        let account = store.get_broker_account(&bot.broker_account_id).await?;
        let ctx = match account.kind.as_str() {
            "paper" => {
                let paper = self.paper(&account).await?;
                Ctx {
                    bot,
                    account_id: account.id.clone(),
                    kind: "paper",
                    broker: paper.broker.clone(),
                    paper: Some(paper),
                    signal,
                }
            }
            "alpaca" => match self.alpaca(&account) {
                Ok(broker) => Ctx {
                    bot,
                    account_id: account.id.clone(),
                    kind: "alpaca",
                    broker,
                    paper: None,
                    signal,
                },
                Err(reason) => return reject(signal, reason),
            },
            other => return reject(signal, format!("unknown broker kind `{other}`")),
        };
        let outcome = self.trade(&ctx).await;
        // Save whatever the broker did, also when the job will be retried.
        if let Some(paper) = &ctx.paper {
            self.save(&ctx.account_id, paper).await?;
        }
        let outcome = outcome?;
        Ok((Some(ctx.signal), outcome))
    }

    async fn trade(&self, ctx: &Ctx) -> Step<Outcome> {
        let parsed = match signals::parse(ctx.signal.body.as_bytes()) {
            Ok(p) => p,
            Err(e) => return Ok(Outcome::Rejected(e.to_string())),
        };
        let intent = match signals::intent(&parsed) {
            Ok(i) => i,
            Err(e) => return Ok(Outcome::Rejected(e.to_string())),
        };
        let settings = BotSettings::parse(&ctx.bot.settings).unwrap_or_default();
        let base = base_client_order_id(&ctx.bot.id, ctx.signal.received_at, &ctx.signal.id);
        let broker = &ctx.broker;
        let symbol = parse_symbol(&intent.symbol).canonical();
        let positions = broker.positions().await.map_err(|e| Retry(e.to_string()))?;
        let position: Option<Position> = positions
            .into_iter()
            .find(|p| same_instrument(&p.symbol, &intent.symbol) && !p.qty.is_zero());
        let pos_side = position.as_ref().map(|p| {
            if p.qty > Decimal::ZERO {
                Side::Buy
            } else {
                Side::Sell
            }
        });
        let side_name = |s: Side| if s == Side::Buy { "long" } else { "short" };

        match intent.kind {
            IntentKind::Cancel => {
                self.cancel_symbol_orders(ctx, &symbol, false).await?;
                Ok(Outcome::Executed)
            }
            IntentKind::LongExit | IntentKind::ShortExit | IntentKind::Exit => {
                let wanted = match intent.kind {
                    IntentKind::LongExit => Some(Side::Buy),
                    IntentKind::ShortExit => Some(Side::Sell),
                    _ => None,
                };
                let Some(pos) = position.filter(|_| wanted.is_none() || wanted == pos_side) else {
                    return Ok(Outcome::Rejected(format!(
                        "no position to exit in {symbol}"
                    )));
                };
                self.cancel_symbol_orders(ctx, &symbol, true).await?;
                let placed = self.close(ctx, &pos, &base, "exit").await?;
                Ok(placed.rejected.map_or(Outcome::Executed, Outcome::Rejected))
            }
            IntentKind::Orders => {
                for (i, leg) in parsed.legs.iter().enumerate() {
                    let (order_type, limit_price, stop_price) = match leg.order_type {
                        OrderKind::Limit => (OrderType::Limit, leg.price, None),
                        OrderKind::Stop | OrderKind::TrailingStop => {
                            (OrderType::Stop, None, leg.trigger_price.or(leg.price))
                        }
                        OrderKind::StopLimit => {
                            (OrderType::StopLimit, leg.price, leg.trigger_price)
                        }
                        OrderKind::Market => (OrderType::Market, None, None),
                    };
                    let req = OrderRequest {
                        client_order_id: with_leg(&base, &format!("l{i}")),
                        symbol: parse_symbol(&leg.symbol).canonical(),
                        side: match leg.transaction {
                            signals::OrderSide::Buy => Side::Buy,
                            signals::OrderSide::Sell => Side::Sell,
                        },
                        qty: leg.quantity,
                        order_type,
                        time_in_force: TimeInForce::Gtc,
                        limit_price,
                        stop_price,
                    };
                    let placed = self.place(ctx, req, "entry", None).await?;
                    if let Some(r) = placed.rejected {
                        return Ok(Outcome::Rejected(r));
                    }
                }
                Ok(Outcome::Executed)
            }
            IntentKind::LongEntry | IntentKind::ShortEntry | IntentKind::Add { .. } => {
                let is_add = matches!(intent.kind, IntentKind::Add { .. });
                let side = match intent.kind {
                    IntentKind::LongEntry => Side::Buy,
                    IntentKind::ShortEntry => Side::Sell,
                    _ => match intent
                        .side
                        .map(|s| s == signals::Side::Long)
                        .or(pos_side.map(|s| s == Side::Buy))
                    {
                        Some(true) => Side::Buy,
                        Some(false) => Side::Sell,
                        None => {
                            return Ok(Outcome::Rejected(format!(
                                "no position to add to in {symbol}"
                            )));
                        }
                    },
                };
                if let Some(ps) = pos_side
                    && is_add
                    && ps != side
                {
                    return Ok(Outcome::Rejected(format!(
                        "cannot add {} to a {} position in {symbol}",
                        side_name(side),
                        side_name(ps)
                    )));
                }
                if pos_side == Some(side) && !is_add {
                    return Ok(Outcome::Rejected(format!(
                        "a {} position in {symbol} is already open; send an add to increase it",
                        side_name(side)
                    )));
                }
                // Size first, so a refusal leaves an open position alone.
                let key = price_key(&symbol);
                let mark = self
                    .state
                    .market
                    .price(&key)
                    .and_then(|p| Decimal::try_from(p.price).ok())
                    .filter(|p| *p > Decimal::ZERO);
                let needs_price =
                    matches!(settings.sizing_mode.as_str(), "pct_equity" | "notional");
                let qty = match settings.sizing_mode.as_str() {
                    "signal_contracts" => intent.quantity,
                    "fixed_qty" => settings.fixed_qty.and_then(|q| Decimal::try_from(q).ok()),
                    "notional" => match (settings.notional, mark) {
                        (Some(n), Some(m)) => Decimal::try_from(n).ok().map(|n| n / m),
                        _ => None,
                    },
                    _ => match mark {
                        Some(m) => {
                            let account =
                                broker.account().await.map_err(|e| Retry(e.to_string()))?;
                            Decimal::try_from(settings.base_order_pct)
                                .ok()
                                .map(|pct| account.equity * pct / m)
                        }
                        None => None,
                    },
                };
                if needs_price && mark.is_none() {
                    return Ok(Outcome::Rejected(format!(
                        "no market price for {symbol} (feed symbol {key})"
                    )));
                }
                let Some(qty) = qty else {
                    return Ok(Outcome::Rejected(format!(
                        "no size: sizing_mode {} needs a quantity",
                        settings.sizing_mode
                    )));
                };
                let qty = round_qty(qty);
                if qty <= Decimal::ZERO {
                    return Ok(Outcome::Rejected("size rounds to zero".into()));
                }
                // Reversal: close the opposite position first.
                if let (Some(pos), Some(ps)) = (&position, pos_side)
                    && ps != side
                {
                    self.cancel_symbol_orders(ctx, &symbol, true).await?;
                    let placed = self
                        .close(ctx, pos, &with_leg(&base, "cls"), "exit")
                        .await?;
                    if let Some(r) = placed.rejected {
                        return Ok(Outcome::Rejected(r));
                    }
                }
                let (order_type, limit_price, stop_price) = match intent.order_type {
                    OrderKind::Limit if intent.limit_price.is_some() => {
                        (OrderType::Limit, intent.limit_price, None)
                    }
                    OrderKind::Stop if intent.stop_price.is_some() => {
                        (OrderType::Stop, None, intent.stop_price)
                    }
                    OrderKind::StopLimit
                        if intent.stop_price.is_some() && intent.limit_price.is_some() =>
                    {
                        (OrderType::StopLimit, intent.limit_price, intent.stop_price)
                    }
                    _ => (OrderType::Market, None, None),
                };
                let req = OrderRequest {
                    client_order_id: base.clone(),
                    symbol: symbol.clone(),
                    side,
                    qty,
                    order_type,
                    time_in_force: TimeInForce::Gtc,
                    limit_price,
                    stop_price,
                };
                let placed = self.place(ctx, req, "entry", None).await?;
                if let Some(r) = placed.rejected {
                    return Ok(Outcome::Rejected(r));
                }
                if settings.attach_sl_tp
                    && let Some(entry) = placed.order.filter(|o| o.status == OrderStatus::Filled)
                {
                    self.attach_sl_tp(ctx, &settings, &entry, &base).await?;
                }
                Ok(Outcome::Executed)
            }
        }
    }

    async fn attach_sl_tp(
        &self,
        ctx: &Ctx,
        settings: &BotSettings,
        entry: &Order,
        base: &str,
    ) -> Step<()> {
        let Some(avg) = entry.filled_avg_price else {
            return Ok(());
        };
        let (Ok(sl), Ok(tp)) = (
            Decimal::try_from(settings.sl_pct),
            Decimal::try_from(settings.tp_pct),
        ) else {
            return Ok(());
        };
        let long = entry.side == Side::Buy;
        let one = Decimal::ONE;
        let sl_price = if long {
            avg * (one - sl)
        } else {
            avg * (one + sl)
        };
        let tp_price = if long {
            avg * (one + tp)
        } else {
            avg * (one - tp)
        };
        let exit_side = entry.side.opposite();
        let parent = self
            .state
            .store
            .get_order_by_client_id(&entry.client_order_id)
            .await
            .ok()
            .map(|o| o.id);
        for (leg, order_type, price) in [
            ("sl", OrderType::Stop, sl_price.round_dp(8)),
            ("tp", OrderType::Limit, tp_price.round_dp(8)),
        ] {
            let req = OrderRequest {
                client_order_id: with_leg(base, leg),
                symbol: entry.symbol.clone(),
                side: exit_side,
                qty: entry.filled_qty,
                order_type,
                time_in_force: TimeInForce::Gtc,
                limit_price: (order_type == OrderType::Limit).then_some(price.normalize()),
                stop_price: (order_type == OrderType::Stop).then_some(price.normalize()),
            };
            self.place(ctx, req, leg, parent.as_deref()).await?;
        }
        Ok(())
    }

    /// Closes `pos` with a market order of its whole size.
    async fn close(&self, ctx: &Ctx, pos: &Position, id: &str, leg: &str) -> Step<Placed> {
        let side = if pos.qty > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        let req = OrderRequest {
            client_order_id: id.to_string(),
            symbol: pos.symbol.clone(),
            side,
            qty: pos.qty.abs(),
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            limit_price: None,
            stop_price: None,
        };
        self.place(ctx, req, leg, None).await
    }

    /// Cancels the open orders of `symbol` (only its SL/TP legs when
    /// `protective_only`), updating their rows.
    async fn cancel_symbol_orders(
        &self,
        ctx: &Ctx,
        symbol: &str,
        protective_only: bool,
    ) -> Step<()> {
        let broker = &ctx.broker;
        let _book = ctx.book().await;
        let open = broker
            .list_open_orders()
            .await
            .map_err(|e| Retry(e.to_string()))?;
        for o in open {
            if !same_instrument(&o.symbol, symbol)
                || (protective_only && oco_leg(&o.client_order_id).is_none())
            {
                continue;
            }
            match broker.cancel_order(&o.id).await {
                Ok(()) => {}
                Err(e) if e.is_retryable() => return Err(Retry(e.to_string())),
                Err(_) => continue,
            }
            let canceled = broker.get_order(&o.id).await.unwrap_or_else(|_| {
                let mut c = o.clone();
                c.status = OrderStatus::Canceled;
                c
            });
            self.record_update(&canceled, Some(&ctx.bot), ctx.kind)
                .await?;
        }
        Ok(())
    }

    /// Stores a broker-side change of an order that has a row, with its
    /// event. Orders without a row are left alone.
    async fn record_update(
        &self,
        order: &Order,
        bot: Option<&BotRecord>,
        broker: &str,
    ) -> Step<()> {
        let store = &self.state.store;
        let row = match store.get_order_by_client_id(&order.client_order_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if row.status == order.status.as_str() {
            return Ok(());
        }
        let bot = match bot {
            Some(b) => b.clone(),
            None => store.get_bot(&row.bot_id).await?,
        };
        let mut tx = store.begin().await?;
        let updated = tx.update_order(&row.id, &update_from(order)).await?;
        let seq = match event_for(order.status) {
            Some(t) => Some(
                tx.publish_event(&Outbox::event(t, order_data(&bot, broker, &updated)))
                    .await?
                    .0,
            ),
            None => None,
        };
        tx.commit().await?;
        if let Some(seq) = seq {
            self.state.outbox.committed(seq);
        }
        Ok(())
    }

    /// Places one order exactly once: the row (with `order.submitted`)
    /// first, then the broker call (idempotent by client order id), then
    /// the result on the row with `order.filled` / `order.rejected`.
    async fn place(
        &self,
        ctx: &Ctx,
        req: OrderRequest,
        leg: &str,
        parent: Option<&str>,
    ) -> Step<Placed> {
        let store = &self.state.store;
        let broker = &ctx.broker;
        let row = match store.get_order_by_client_id(&req.client_order_id).await {
            Ok(r) => Some(r),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(row) = &row
            && tradehook_store::FINAL_ORDER_STATUSES.contains(&row.status.as_str())
        {
            // Done by an earlier run of this job.
            let order = broker
                .get_order_by_client_id(&row.client_order_id)
                .await
                .ok()
                .flatten();
            return Ok(Placed {
                order,
                rejected: (row.status == "rejected")
                    .then(|| row.reason.clone().unwrap_or_else(|| "rejected".into())),
            });
        }
        let row = match row {
            Some(r) => r,
            None => {
                let new = NewOrder {
                    id: new_id("ord"),
                    bot_id: ctx.bot.id.clone(),
                    signal_id: Some(ctx.signal.id.clone()),
                    broker_account_id: ctx.account_id.clone(),
                    client_order_id: req.client_order_id.clone(),
                    broker_order_id: None,
                    symbol: req.symbol.clone(),
                    side: req.side.as_str().to_string(),
                    qty: dec(req.qty),
                    order_type: req.order_type.as_str().to_string(),
                    time_in_force: req.time_in_force.as_str().to_string(),
                    limit_price: req.limit_price.map(dec),
                    stop_price: req.stop_price.map(dec),
                    status: OrderStatus::PendingNew.as_str().to_string(),
                    leg: leg.to_string(),
                    parent_order_id: parent.map(str::to_string),
                    reason: None,
                    created_at: now_ms(),
                };
                let mut tx = store.begin().await?;
                let row = tx.insert_order(&new).await?;
                let (seq, _) = tx
                    .publish_event(&Outbox::event(
                        "order.submitted",
                        order_data(&ctx.bot, ctx.kind, &row),
                    ))
                    .await?;
                tx.commit().await?;
                self.state.outbox.committed(seq);
                row
            }
        };
        let _book = ctx.book().await;
        // A run after a crash finds the order the broker already has.
        let known = match broker.get_order_by_client_id(&req.client_order_id).await {
            Ok(o) => o,
            Err(e) if e.is_retryable() => return Err(Retry(e.to_string())),
            Err(_) => None,
        };
        let sent = match known {
            Some(o) => Ok(o),
            None => broker.submit_order(&req).await,
        };
        let sent = match sent {
            Ok(o) if ctx.paper.is_none() && req.order_type == OrderType::Market => {
                Ok(self.await_fill(ctx, o).await)
            }
            other => other,
        };
        match sent {
            Ok(order) => {
                let mut tx = store.begin().await?;
                let updated = tx.update_order(&row.id, &update_from(&order)).await?;
                let seq = match event_for(order.status) {
                    Some(t) => Some(
                        tx.publish_event(&Outbox::event(
                            t,
                            order_data(&ctx.bot, ctx.kind, &updated),
                        ))
                        .await?
                        .0,
                    ),
                    None => None,
                };
                tx.commit().await?;
                if let Some(seq) = seq {
                    self.state.outbox.committed(seq);
                }
                let rejected = (order.status == OrderStatus::Rejected)
                    .then(|| "the broker rejected the order".to_string());
                Ok(Placed {
                    order: Some(order),
                    rejected,
                })
            }
            Err(e) if e.is_retryable() => Err(Retry(e.to_string())),
            Err(e) => {
                let reason = match &e {
                    BrokerError::Rejected { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                let mut tx = store.begin().await?;
                let updated = tx
                    .update_order(
                        &row.id,
                        &OrderUpdate {
                            status: Some("rejected".into()),
                            reason: Some(reason.clone()),
                            ..OrderUpdate::default()
                        },
                    )
                    .await?;
                let (seq, _) = tx
                    .publish_event(&Outbox::event(
                        "order.rejected",
                        order_data(&ctx.bot, ctx.kind, &updated),
                    ))
                    .await?;
                tx.commit().await?;
                self.state.outbox.committed(seq);
                Ok(Placed {
                    order: None,
                    rejected: Some(reason),
                })
            }
        }
    }

    /// Polls a remote market order until it is final, for up to
    /// [`FILL_WAIT`]; gives the latest state seen.
    async fn await_fill(&self, ctx: &Ctx, mut order: Order) -> Order {
        let deadline = tokio::time::Instant::now() + FILL_WAIT;
        while !order.status.is_final() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            match ctx.broker.get_order(&order.id).await {
                Ok(o) => order = o,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read an order back");
                }
            }
        }
        order
    }

    async fn tick_loop(
        self: Arc<Self>,
        mut ticks: tokio::sync::broadcast::Receiver<FeedEvent>,
        stop: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => break,
                e = ticks.recv() => e,
            };
            match event {
                Ok(FeedEvent::Tick { symbol, price, ts }) => {
                    self.on_tick(&symbol, price, ts).await;
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "execution ticks lagged");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    }

    /// A resting entry filled on a tick: its SL/TP, when the bot wants
    /// them.
    async fn protect_filled_entry(
        &self,
        account_id: &str,
        paper: &Paper,
        order: &Order,
    ) -> Step<()> {
        let store = &self.state.store;
        let row = match store.get_order_by_client_id(&order.client_order_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let Some(signal_id) = row.signal_id.as_deref().filter(|_| row.leg == "entry") else {
            return Ok(());
        };
        let bot = store.get_bot(&row.bot_id).await?;
        let settings = BotSettings::parse(&bot.settings).unwrap_or_default();
        if !settings.attach_sl_tp || bot.paused || bot.deleted_at.is_some() {
            return Ok(());
        }
        let signal = store.get_signal(signal_id).await?;
        if signal.format == "multi_leg" {
            return Ok(());
        }
        let ctx = Ctx {
            bot,
            signal,
            account_id: account_id.to_string(),
            kind: "paper",
            broker: paper.broker.clone(),
            paper: Some(paper.clone()),
        };
        self.attach_sl_tp(&ctx, &settings, order, &order.client_order_id)
            .await
    }

    async fn on_tick(&self, symbol: &str, price: f64, ts: i64) {
        let papers: Vec<(String, Paper)> = self
            .papers
            .lock()
            .expect("lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (account_id, paper) in papers {
            if !paper.broker.price_keys().iter().any(|k| k == symbol) {
                continue;
            }
            let book = paper.book.lock().await;
            let update = paper.broker.on_price(symbol, price, ts);
            if update.is_empty() {
                continue;
            }
            for order in update
                .filled
                .iter()
                .chain(&update.canceled)
                .chain(&update.rejected)
            {
                if let Err(Retry(e)) = self.record_update(order, None, "paper").await {
                    tracing::warn!(error = %e, "cannot record a paper fill");
                }
            }
            drop(book);
            for order in update
                .filled
                .iter()
                .filter(|o| oco_leg(&o.client_order_id).is_none())
            {
                if let Err(Retry(e)) = self.protect_filled_entry(&account_id, &paper, order).await {
                    tracing::warn!(error = %e, "cannot place SL/TP for a filled entry");
                }
            }
            if let Err(Retry(e)) = self.save(&account_id, &paper).await {
                tracing::warn!(error = %e, "cannot save a paper account");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_short() {
        let a = base_client_order_id(
            "bot_0192f5c2aaaaaaaaaaaa89abcdef0123",
            1_795_392_000_000,
            "sig_0192f5c2bbbbbbbbbbbb123456789abc",
        );
        assert_eq!(
            a,
            base_client_order_id(
                "bot_0192f5c2aaaaaaaaaaaa89abcdef0123",
                1_795_392_000_000,
                "sig_0192f5c2bbbbbbbbbbbb123456789abc"
            )
        );
        assert!(with_leg(&a, "tp").len() <= 48, "{a}");
        assert!(a.ends_with("123456789abc"));
    }

    #[test]
    fn quantities_round_down_to_8_decimals() {
        let q: Decimal = "0.123456789".parse().unwrap();
        assert_eq!(round_qty(q).to_string(), "0.12345678");
        let tiny: Decimal = "0.000000001".parse().unwrap();
        assert!(round_qty(tiny).is_zero());
    }
}
