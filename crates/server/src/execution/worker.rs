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

use super::calls::{CallSink, Recorded};
use super::journal::{Journal, Writer};
use super::plan;
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
/// A paper journal commits once it has been open this long (and at the
/// end of its bot's batch), so it holds SQLite's writer only briefly.
const JOURNAL_SPAN: Duration = Duration::from_millis(2);

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
    /// Held from a broker change until its rows and the broker's state
    /// are committed (a [`PaperJournal`]), so the job loop, the tick task
    /// and the risk actions change the account one at a time and never
    /// write an order's rows out of order.
    book: Arc<tokio::sync::Mutex<()>>,
}

/// A paper account's open journal: its book held, its writes collected.
struct PaperJournal {
    account_id: String,
    paper: Paper,
    journal: Arc<tokio::sync::Mutex<Journal>>,
    _book: tokio::sync::OwnedMutexGuard<()>,
    opened: std::time::Instant,
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
    /// The signal being traded; `None` for risk actions (liquidation).
    signal: Option<SignalRecord>,
    /// Why orders placed without a signal are placed.
    reason: Option<String>,
    account_id: String,
    /// `paper` or `alpaca`, for events.
    kind: &'static str,
    broker: Arc<dyn BrokerAdapter>,
    /// Set for paper accounts.
    paper: Option<Paper>,
    /// Set for paper accounts: where the writes go, committed with the
    /// broker's state (its book is held by whoever opened it).
    journal: Option<Arc<tokio::sync::Mutex<Journal>>>,
}

impl Ctx {
    /// The same broker and account with no signal (for another row's bot).
    fn shallow(&self) -> Ctx {
        Ctx {
            bot: self.bot.clone(),
            signal: None,
            reason: None,
            account_id: self.account_id.clone(),
            kind: self.kind,
            broker: self.broker.clone(),
            paper: self.paper.clone(),
            journal: self.journal.clone(),
        }
    }

    /// The paper book's lock, unless this context's journal holds it.
    async fn book(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.paper {
            Some(p) if self.journal.is_none() => Some(p.book.lock().await),
            _ => None,
        }
    }

    fn journal(&self) -> Option<&tokio::sync::Mutex<Journal>> {
        self.journal.as_deref()
    }
}

/// How long a market order at a remote broker is polled for its fill.
const FILL_WAIT: Duration = Duration::from_secs(5);
/// How often the open orders of remote accounts are read back.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// Orders without a signal younger than this are left to whoever placed
/// them (a liquidation waits up to [`FILL_WAIT`] for its fills).
const FOLLOW_SETTLE_MS: i64 = 6_000;

/// The execution engine, shared by the job loop and the tick task.
pub struct Executor {
    state: AppState,
    owner: String,
    papers: Mutex<HashMap<String, Paper>>,
    calls: CallSink,
}

/// Starts the job loop and the tick task.
pub fn spawn(state: &AppState, workers: &TaskTracker, shutdown: &CancellationToken) {
    let exec = Arc::new(Executor {
        state: state.clone(),
        owner: format!("exec-{}-{:04x}", std::process::id(), rand::random::<u16>()),
        papers: Mutex::new(HashMap::new()),
        calls: CallSink::spawn(state.store.clone(), workers, shutdown),
    });
    RUNNING.lock().expect("lock").push(Arc::downgrade(&exec));
    // Subscribe before anything runs so no tick is missed.
    let ticks = state.market.subscribe();
    let stop = shutdown.clone();
    let e = exec.clone();
    workers.spawn(async move { e.job_loop(stop).await });
    let stop = shutdown.clone();
    let e = exec.clone();
    workers.spawn(async move { e.follow_loop(stop).await });
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
/// Its state-changing calls are logged for `bot_id` when given.
pub(crate) async fn account_broker(
    state: &AppState,
    account: &BrokerAccountRecord,
    bot_id: Option<&str>,
) -> Result<Arc<dyn BrokerAdapter>, String> {
    let exec = running(state).ok_or("the execution worker is not running")?;
    match account.kind.as_str() {
        "paper" => {
            let paper = exec.paper(account).await.map_err(|Retry(e)| e)?;
            Ok(exec.recorded(&paper, &account.id, bot_id))
        }
        "alpaca" => exec.alpaca(account, bot_id),
        other => Err(format!("unknown broker kind `{other}`")),
    }
}

/// Cancels `orders` at the broker of `bot`'s account, each row set
/// `canceled` with its `order.canceled` event (under the paper account's
/// book lock, like the worker's own changes). Gives the rows canceled.
pub(crate) async fn cancel_orders(
    state: &AppState,
    account: &BrokerAccountRecord,
    bot: &BotRecord,
    orders: &[Order],
) -> Result<Vec<OrderRecord>, String> {
    let exec = running(state).ok_or("the execution worker is not running")?;
    let mut ctx = exec.risk_ctx(account, bot, None).await?;
    let open = exec.journal_for(&mut ctx).await.map_err(|Retry(e)| e)?;
    let mut rows = Vec::new();
    let mut result = Ok(());
    {
        let _book = ctx.book().await;
        for o in orders {
            if let Err(e) = ctx.broker.cancel_order(&o.id).await {
                tracing::warn!(order = %o.id, error = %e, "cannot cancel an order");
                continue;
            }
            let canceled = canceled_state(&ctx, o).await;
            if let Err(Retry(e)) = exec
                .record_update(ctx.journal(), &canceled, Some(bot), ctx.kind)
                .await
            {
                result = Err(e);
                break;
            }
            if let Ok(row) = exec.order_row(ctx.journal(), &o.client_order_id).await
                && row.bot_id == bot.id
            {
                rows.push(row);
            }
        }
    }
    // What the broker did is committed even when a row could not be.
    ctx.journal = None;
    exec.close_journal(open).await.map_err(|Retry(e)| e)?;
    result.map(|()| rows)
}

/// Cancels every open order of the account and closes every position
/// with market orders that get rows (leg `exit`, the reason) and events.
pub(crate) async fn liquidate(
    state: &AppState,
    account: &BrokerAccountRecord,
    bot: &BotRecord,
    reason: &str,
) -> Result<(), String> {
    let exec = running(state).ok_or("the execution worker is not running")?;
    let open = {
        let ctx = exec.risk_ctx(account, bot, None).await?;
        ctx.broker
            .list_open_orders()
            .await
            .map_err(|e| e.to_string())?
    };
    cancel_orders(state, account, bot, &open).await?;
    let mut ctx = exec.risk_ctx(account, bot, Some(reason)).await?;
    let journal = exec.journal_for(&mut ctx).await.map_err(|Retry(e)| e)?;
    let positions = ctx.broker.positions().await.map_err(|e| e.to_string())?;
    let now = now_ms();
    let mut result = Ok(());
    for (i, p) in positions.iter().filter(|p| !p.qty.is_zero()).enumerate() {
        let id = tradehook_brokers::client_order_id(&bot.id, now, Some(&format!("lq{i}")));
        match exec.close(&ctx, p, &id, "exit").await {
            Ok(placed) => {
                if let Some(r) = placed.rejected {
                    result = Err(format!("cannot close {}: {r}", p.symbol));
                }
            }
            Err(Retry(e)) => result = Err(format!("cannot close {}: {e}", p.symbol)),
        }
    }
    ctx.journal = None;
    exec.close_journal(journal).await.map_err(|Retry(e)| e)?;
    result
}

/// The broker's state of an order just canceled (canceled by hand when
/// it cannot be read back).
async fn canceled_state(ctx: &Ctx, o: &Order) -> Order {
    ctx.broker.get_order(&o.id).await.unwrap_or_else(|_| {
        let mut c = o.clone();
        c.status = OrderStatus::Canceled;
        c
    })
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

/// The reason on a stop loss that tradehook watches itself.
const HELD_STOP: &str = "watched by tradehook: the broker cannot hold both exits, so a market order is sent when the price crosses the stop";

fn broker_reason(e: &BrokerError) -> String {
    match e {
        BrokerError::Rejected { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn event_for(status: OrderStatus) -> Option<&'static str> {
    match status {
        OrderStatus::Filled => Some("order.filled"),
        OrderStatus::PartiallyFilled => Some("order.partially_filled"),
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
            // Bots trade side by side; one bot's signals stay in order.
            let mut by_bot: Vec<(String, Vec<JobRecord>)> = Vec::new();
            for job in jobs.into_iter().filter(|j| j.kind == "execute") {
                match by_bot.iter_mut().find(|(bot, _)| *bot == job.bot_id) {
                    Some((_, queue)) => queue.push(job),
                    None => by_bot.push((job.bot_id.clone(), vec![job])),
                }
            }
            futures::future::join_all(by_bot.into_iter().map(|(_, queue)| self.run_queue(queue)))
                .await;
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
            book: Arc::new(tokio::sync::Mutex::new(())),
        };
        let mut papers = self.papers.lock().expect("lock");
        Ok(papers.entry(account.id.clone()).or_insert(fresh).clone())
    }

    /// A context for actions without a signal (cleanup, liquidation).
    async fn risk_ctx(
        &self,
        account: &BrokerAccountRecord,
        bot: &BotRecord,
        reason: Option<&str>,
    ) -> Result<Ctx, String> {
        let (kind, broker, paper) = match account.kind.as_str() {
            "paper" => {
                let paper = self.paper(account).await.map_err(|Retry(e)| e)?;
                let broker = self.recorded(&paper, &account.id, Some(&bot.id));
                ("paper", broker, Some(paper))
            }
            "alpaca" => ("alpaca", self.alpaca(account, Some(&bot.id))?, None),
            other => return Err(format!("unknown broker kind `{other}`")),
        };
        Ok(Ctx {
            bot: bot.clone(),
            signal: None,
            reason: reason.map(str::to_string),
            account_id: account.id.clone(),
            kind,
            broker,
            paper,
            journal: None,
        })
    }

    /// The paper broker with its calls logged.
    fn recorded(
        &self,
        paper: &Paper,
        account_id: &str,
        bot_id: Option<&str>,
    ) -> Arc<dyn BrokerAdapter> {
        Arc::new(Recorded {
            inner: paper.broker.clone(),
            sink: self.calls.clone(),
            account_id: account_id.to_string(),
            bot_id: bot_id.map(str::to_string),
        })
    }

    /// An Alpaca adapter from the account's sealed credentials, every
    /// HTTP exchange logged (for `bot_id` when given).
    fn alpaca(
        &self,
        account: &BrokerAccountRecord,
        bot_id: Option<&str>,
    ) -> Result<Arc<dyn BrokerAdapter>, String> {
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
            .map(|b| match bot_id {
                Some(bot) => {
                    Arc::new(b.with_call_log(self.calls.alpaca_log(&account.id, Some(bot))))
                        as Arc<dyn BrokerAdapter>
                }
                // Reads for the API's views are not logged.
                None => Arc::new(b) as Arc<dyn BrokerAdapter>,
            })
            .map_err(|e| format!("cannot reach Alpaca: {e}"))
    }

    /// Opens a journal for a paper account: holds its book, then starts
    /// the transaction. Refused when the account was reloaded (a failed
    /// commit) while this caller waited for the book.
    async fn open_journal(&self, account_id: &str, paper: &Paper) -> Step<PaperJournal> {
        let book = paper.book.clone().lock_owned().await;
        self.journal_with(account_id, paper, book).await
    }

    /// [`Executor::open_journal`] for a caller already holding the book.
    async fn journal_with(
        &self,
        account_id: &str,
        paper: &Paper,
        book: tokio::sync::OwnedMutexGuard<()>,
    ) -> Step<PaperJournal> {
        if !self.is_current(account_id, paper) {
            return Err(Retry("the paper account was reloaded".into()));
        }
        Ok(PaperJournal {
            account_id: account_id.to_string(),
            paper: paper.clone(),
            journal: Arc::new(tokio::sync::Mutex::new(
                Journal::begin(&self.state.store, true).await?,
            )),
            _book: book,
            opened: std::time::Instant::now(),
        })
    }

    /// A journal for `ctx` when its account is a paper one (set on
    /// `ctx`); close it with [`Executor::close_journal`] once `ctx` has
    /// dropped its share.
    async fn journal_for(&self, ctx: &mut Ctx) -> Step<Option<PaperJournal>> {
        let Some(paper) = ctx.paper.clone() else {
            return Ok(None);
        };
        let open = self.open_journal(&ctx.account_id, &paper).await?;
        ctx.journal = Some(open.journal.clone());
        Ok(Some(open))
    }

    /// Saves the paper broker's state in the journal and commits it with
    /// the rows it explains. If that fails, the in-memory broker is
    /// forgotten, so the next use restores the state last committed.
    async fn close_journal(&self, open: Option<PaperJournal>) -> Step<()> {
        let Some(open) = open else { return Ok(()) };
        let PaperJournal {
            account_id,
            paper,
            journal,
            _book,
            ..
        } = open;
        let result: Step<()> = async {
            let mut journal = Arc::try_unwrap(journal)
                .map_err(|_| Retry("a paper journal is still in use".into()))?
                .into_inner();
            let snapshot = serde_json::to_value(paper.broker.snapshot())
                .map_err(|e| Retry(format!("paper state: {e}")))?;
            journal.tx.save_paper_state(&account_id, &snapshot).await?;
            journal.commit(&self.state.outbox).await?;
            Ok(())
        }
        .await;
        if let Err(Retry(e)) = &result {
            tracing::warn!(account = %account_id, error = %e, "a paper journal did not commit; reloading the account");
            self.forget_paper(&account_id, &paper);
        }
        result
    }

    /// Whether `paper` is the loaded broker of the account.
    fn is_current(&self, account_id: &str, paper: &Paper) -> bool {
        self.papers
            .lock()
            .expect("lock")
            .get(account_id)
            .is_some_and(|p| Arc::ptr_eq(&p.broker, &paper.broker))
    }

    /// Drops a paper broker whose changes could not be committed, so the
    /// account's next use restores the state last committed.
    fn forget_paper(&self, account_id: &str, paper: &Paper) {
        let mut papers = self.papers.lock().expect("lock");
        if papers
            .get(account_id)
            .is_some_and(|p| Arc::ptr_eq(&p.broker, &paper.broker))
        {
            papers.remove(account_id);
        }
    }

    /// An order's row by client order id, as `journal` sees it when given.
    async fn order_row(
        &self,
        journal: Option<&tokio::sync::Mutex<Journal>>,
        client_order_id: &str,
    ) -> Result<OrderRecord, StoreError> {
        match journal {
            Some(j) => {
                j.lock()
                    .await
                    .tx
                    .get_order_by_client_id(client_order_id)
                    .await
            }
            None => {
                self.state
                    .store
                    .get_order_by_client_id(client_order_id)
                    .await
            }
        }
    }

    /// Runs one bot's leased jobs in order. Paper jobs share a journal
    /// (committed every [`JOURNAL_SPAN`] and at the end); a job for
    /// another broker first commits the open journal, so the rows stay in
    /// signal order.
    async fn run_queue(&self, queue: Vec<JobRecord>) {
        let mut open: Option<PaperJournal> = None;
        let mut seen = None;
        for job in queue {
            let result = self.execute(&job, &mut open, &mut seen).await;
            let journal = open.as_ref().map(|o| o.journal.clone());
            let mut ended = self.conclude(journal.as_deref(), &job, result).await;
            drop(journal);
            if ended.is_ok()
                && open
                    .as_ref()
                    .is_some_and(|o| o.opened.elapsed() >= JOURNAL_SPAN)
            {
                ended = self.close_journal(open.take()).await.map_err(|Retry(e)| e);
            }
            if let Err(e) = ended {
                tracing::warn!(job = %job.id, error = %e, "cannot record an execution result");
                // The journal may be unusable; what it holds is lost with
                // it and its jobs run again when their leases end.
                if let Some(o) = open.take() {
                    let _ = self.close_journal(Some(o)).await;
                }
            }
        }
        if let Err(Retry(e)) = self.close_journal(open.take()).await {
            tracing::warn!(error = %e, "cannot commit executed jobs");
        }
    }

    /// Records how a job ended, in `journal` when given.
    async fn conclude(
        &self,
        journal: Option<&tokio::sync::Mutex<Journal>>,
        job: &JobRecord,
        result: Step<(Option<SignalRecord>, Outcome)>,
    ) -> Result<(), String> {
        let store = &self.state.store;
        let mut w = Writer::open(store, journal)
            .await
            .map_err(|e| e.to_string())?;
        let written = match result {
            Ok((signal, outcome)) => self.finish(&mut w, job, signal.as_ref(), outcome).await,
            Err(Retry(e)) => self.retry(&mut w, job, &e).await,
        };
        written.map_err(|e| e.to_string())?;
        w.done(&self.state.outbox).await.map_err(|e| e.to_string())
    }

    async fn retry(
        &self,
        w: &mut Writer<'_>,
        job: &JobRecord,
        error: &str,
    ) -> Result<(), StoreError> {
        let store = &self.state.store;
        if job.attempts >= MAX_ATTEMPTS {
            tracing::warn!(job = %job.id, error, "execution failed");
            let signal = store.get_signal(&job.signal_id).await.ok();
            let bot = store.get_bot(&job.bot_id).await.ok();
            if w.tx().fail_job(&job.id, job.lease_token, error).await? {
                let _ = w
                    .tx()
                    .set_signal_status(&job.signal_id, SignalStatus::Failed, Some(error))
                    .await;
                // Subscribers hear of it like any other signal that did
                // not trade, with `status: failed`.
                let event = Outbox::event(
                    "signal.rejected",
                    json!({
                        "signal_id": job.signal_id,
                        "bot_id": job.bot_id,
                        "bot_name": bot.map(|b| b.name),
                        "symbol": signal.as_ref().map(|s| s.symbol.clone()),
                        "action": signal.as_ref().map(|s| s.action.clone()),
                        "status": "failed",
                        "reason": format!("execution failed after {MAX_ATTEMPTS} attempts: {error}"),
                    }),
                );
                w.publish(&event).await?;
            }
            return Ok(());
        }
        let backoff = 1000i64 << (job.attempts - 1).clamp(0, 10);
        w.tx()
            .retry_job(&job.id, job.lease_token, now_ms() + backoff, error)
            .await?;
        Ok(())
    }

    async fn finish(
        &self,
        w: &mut Writer<'_>,
        job: &JobRecord,
        signal: Option<&SignalRecord>,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        if !w.tx().complete_job(&job.id, job.lease_token).await? {
            // The lease was lost: whoever holds it now finishes the job.
            return Ok(());
        }
        if let Some(signal) = signal {
            match &outcome {
                Outcome::Executed => {
                    w.tx()
                        .set_signal_status(&signal.id, SignalStatus::Executed, None)
                        .await?;
                }
                Outcome::Rejected(reason) => {
                    w.tx()
                        .set_signal_status(&signal.id, SignalStatus::Rejected, Some(reason))
                        .await?;
                    let bot = self.state.store.get_bot(&signal.bot_id).await.ok();
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
                    w.publish(&event).await?;
                }
            }
        }
        Ok(())
    }

    /// Runs one job; `Ok` ends it (with the signal, when it exists). A
    /// paper job joins `open` (opened, or replaced when it is another
    /// account's); any other job first commits it.
    ///
    /// `seen` keeps the bot and its account between the jobs of one leased
    /// batch (a few milliseconds), so they are read once per batch.
    async fn execute(
        &self,
        job: &JobRecord,
        open: &mut Option<PaperJournal>,
        seen: &mut Option<(BotRecord, BrokerAccountRecord)>,
    ) -> Step<(Option<SignalRecord>, Outcome)> {
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
        let (bot, account) = match seen.take().filter(|(b, _)| b.id == job.bot_id) {
            Some(known) => known,
            None => {
                let bot = match store.get_bot(&job.bot_id).await {
                    Ok(b) => b,
                    Err(StoreError::NotFound) => {
                        return reject(signal, "the bot is deleted".into());
                    }
                    Err(e) => return Err(e.into()),
                };
                let account = store.get_broker_account(&bot.broker_account_id).await?;
                (bot, account)
            }
        };
        *seen = Some((bot.clone(), account.clone()));
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
        if open.as_ref().is_some_and(|o| o.account_id != account.id) {
            self.close_journal(open.take()).await?;
        }
        let ctx = match account.kind.as_str() {
            "paper" => {
                if open.is_none() {
                    let paper = self.paper(&account).await?;
                    *open = Some(self.open_journal(&account.id, &paper).await?);
                }
                let o = open.as_ref().expect("opened above");
                Ctx {
                    broker: self.recorded(&o.paper, &account.id, Some(&bot.id)),
                    bot,
                    account_id: account.id.clone(),
                    kind: "paper",
                    paper: Some(o.paper.clone()),
                    signal: Some(signal),
                    reason: None,
                    journal: Some(o.journal.clone()),
                }
            }
            "alpaca" => {
                self.close_journal(open.take()).await?;
                match self.alpaca(&account, Some(&bot.id)) {
                    Ok(broker) => Ctx {
                        bot,
                        account_id: account.id.clone(),
                        kind: "alpaca",
                        broker,
                        paper: None,
                        signal: Some(signal),
                        reason: None,
                        journal: None,
                    },
                    Err(reason) => return reject(signal, reason),
                }
            }
            other => return reject(signal, format!("unknown broker kind `{other}`")),
        };
        // A retried paper job keeps what the broker did: the journal
        // commits it with the rows written so far and the retry.
        let outcome = self
            .trade(&ctx, ctx.signal.as_ref().expect("set above"))
            .await?;
        Ok((ctx.signal, outcome))
    }

    async fn trade(&self, ctx: &Ctx, signal: &SignalRecord) -> Step<Outcome> {
        let parsed = match signals::parse(signal.body.as_bytes()) {
            Ok(p) => p,
            Err(e) => return Ok(Outcome::Rejected(e.to_string())),
        };
        let intent = match signals::intent(&parsed) {
            Ok(i) => i,
            Err(e) => return Ok(Outcome::Rejected(e.to_string())),
        };
        // Trailing stops are refused rather than placed as something else.
        let trailing = intent.order_type == OrderKind::TrailingStop
            || intent
                .stop_loss
                .as_ref()
                .is_some_and(|s| s.kind == Some(OrderKind::TrailingStop))
            || parsed
                .legs
                .iter()
                .any(|l| l.order_type == OrderKind::TrailingStop);
        if trailing {
            return Ok(Outcome::Rejected(
                "trailing stop orders are not supported yet".into(),
            ));
        }
        let settings = BotSettings::parse(&ctx.bot.settings).unwrap_or_default();
        let base = base_client_order_id(&ctx.bot.id, signal.received_at, &signal.id);
        let broker = &ctx.broker;
        let symbol = parse_symbol(&intent.symbol).canonical();
        // An outage is retried; a refusal (bad keys, a closed account)
        // would be refused again, so it rejects the signal now.
        let positions = match broker.positions().await {
            Ok(p) => p,
            Err(e) if e.is_retryable() => return Err(Retry(e.to_string())),
            Err(e) => {
                return Ok(Outcome::Rejected(format!(
                    "the broker refused to list positions: {}",
                    broker_reason(&e)
                )));
            }
        };
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
        // TradersPost `cancel: true`: the symbol's open orders go first.
        if intent.cancel_open_orders && intent.kind != IntentKind::Cancel {
            self.cancel_symbol_orders(ctx, &symbol, false).await?;
        }

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
                let equity = if plan::needs_equity(&settings, parsed.quantity_type) {
                    Some(
                        broker
                            .account()
                            .await
                            .map_err(|e| Retry(e.to_string()))?
                            .equity,
                    )
                } else {
                    None
                };
                let market = plan::Market {
                    mark,
                    equity,
                    position: position.as_ref().map(|p| p.qty.abs()),
                };
                let qty = match plan::entry_qty(&settings, &intent, parsed.quantity_type, market) {
                    Ok(q) => round_qty(q),
                    Err(reason) => return Ok(Outcome::Rejected(reason)),
                };
                if qty <= Decimal::ZERO {
                    return Ok(Outcome::Rejected("size rounds to zero".into()));
                }
                let time_in_force = match plan::time_in_force(intent.time_in_force.as_deref()) {
                    Ok(t) => t,
                    Err(reason) => return Ok(Outcome::Rejected(reason)),
                };
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
                    _ if settings.use_limit_orders => {
                        match plan::entry_limit_price(&settings, side, intent.price, mark) {
                            Ok(p) => (OrderType::Limit, Some(p), None),
                            Err(reason) => return Ok(Outcome::Rejected(reason)),
                        }
                    }
                    _ => (OrderType::Market, None, None),
                };
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
                let req = OrderRequest {
                    client_order_id: base.clone(),
                    symbol: symbol.clone(),
                    side,
                    qty,
                    order_type,
                    time_in_force,
                    limit_price,
                    stop_price,
                };
                let placed = self.place(ctx, req, "entry", None).await?;
                if let Some(r) = placed.rejected {
                    return Ok(Outcome::Rejected(r));
                }
                if let Some(entry) = placed.order.filter(|o| o.status == OrderStatus::Filled) {
                    self.attach_sl_tp(ctx, &settings, Some(&intent), &entry, &base)
                        .await?;
                }
                Ok(Outcome::Executed)
            }
        }
    }

    /// Places the SL/TP legs of a filled entry, where
    /// [`plan::protective_levels`] puts them (none when neither the bot nor
    /// the signal asks for them).
    async fn attach_sl_tp(
        &self,
        ctx: &Ctx,
        settings: &BotSettings,
        intent: Option<&signals::Intent>,
        entry: &Order,
        base: &str,
    ) -> Step<()> {
        let Some(avg) = entry.filled_avg_price else {
            return Ok(());
        };
        let (sl_price, tp_price) = plan::protective_levels(settings, intent, entry.side, avg);
        let exit_side = entry.side.opposite();
        let parent = self
            .order_row(ctx.journal(), &entry.client_order_id)
            .await
            .ok()
            .map(|o| o.id);
        let exit = |leg: &str, order_type: OrderType, price: Decimal| OrderRequest {
            client_order_id: with_leg(base, leg),
            symbol: entry.symbol.clone(),
            side: exit_side,
            qty: entry.filled_qty,
            order_type,
            time_in_force: TimeInForce::Gtc,
            limit_price: (order_type == OrderType::Limit).then_some(price),
            stop_price: (order_type == OrderType::Stop).then_some(price),
        };
        match (sl_price, tp_price) {
            (Some(sl), Some(tp)) => {
                let (tp, sl) = (
                    exit("tp", OrderType::Limit, tp),
                    exit("sl", OrderType::Stop, sl),
                );
                self.place_pair(ctx, tp, sl, parent.as_deref()).await?;
            }
            (Some(sl), None) => {
                let req = exit("sl", OrderType::Stop, sl);
                if ctx.kind == "alpaca"
                    && tradehook_brokers::get_asset_class(&req.symbol)
                        == tradehook_brokers::AssetClass::Crypto
                {
                    // Alpaca takes no stop orders for crypto.
                    let row = self.ensure_row(ctx, &req, "sl", parent.as_deref()).await?;
                    if row.status == OrderStatus::PendingNew.as_str() {
                        self.set_row(ctx, &row.id, OrderStatus::Held, HELD_STOP)
                            .await?;
                    }
                } else {
                    self.place(ctx, req, "sl", parent.as_deref()).await?;
                }
            }
            (None, Some(tp)) => {
                let req = exit("tp", OrderType::Limit, tp);
                self.place(ctx, req, "tp", parent.as_deref()).await?;
            }
            (None, None) => {}
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
            let canceled = canceled_state(ctx, &o).await;
            self.record_update(ctx.journal(), &canceled, Some(&ctx.bot), ctx.kind)
                .await?;
        }
        Ok(())
    }

    /// Stores a broker-side change of an order that has a row, with its
    /// event. Orders without a row are left alone.
    async fn record_update(
        &self,
        journal: Option<&tokio::sync::Mutex<Journal>>,
        order: &Order,
        bot: Option<&BotRecord>,
        broker: &str,
    ) -> Step<()> {
        let store = &self.state.store;
        let row = match self.order_row(journal, &order.client_order_id).await {
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
        self.write_row(
            journal,
            &bot,
            broker,
            &row.id,
            &update_from(order),
            order.status,
        )
        .await
    }

    /// The order's row, written with `order.submitted` when it is new.
    async fn ensure_row(
        &self,
        ctx: &Ctx,
        req: &OrderRequest,
        leg: &str,
        parent: Option<&str>,
    ) -> Step<OrderRecord> {
        match self.order_row(ctx.journal(), &req.client_order_id).await {
            Ok(r) => return Ok(r),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let new = NewOrder {
            id: new_id("ord"),
            bot_id: ctx.bot.id.clone(),
            signal_id: ctx.signal.as_ref().map(|s| s.id.clone()),
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
            reason: ctx.reason.clone(),
            created_at: now_ms(),
        };
        let mut w = Writer::open(&self.state.store, ctx.journal()).await?;
        let row = w.tx().insert_order(&new).await?;
        w.publish(&Outbox::event(
            "order.submitted",
            order_data(&ctx.bot, ctx.kind, &row),
        ))
        .await?;
        w.done(&self.state.outbox).await?;
        Ok(row)
    }

    /// Writes the broker's answer on the row, with its event.
    async fn apply(&self, ctx: &Ctx, row_id: &str, order: &Order) -> Step<()> {
        self.write_row(
            ctx.journal(),
            &ctx.bot,
            ctx.kind,
            row_id,
            &update_from(order),
            order.status,
        )
        .await
    }

    /// Sets a row to `status` with a reason and its event (if any).
    async fn set_row(
        &self,
        ctx: &Ctx,
        row_id: &str,
        status: OrderStatus,
        reason: &str,
    ) -> Step<()> {
        let update = OrderUpdate {
            status: Some(status.as_str().into()),
            reason: Some(reason.to_string()),
            ..OrderUpdate::default()
        };
        self.write_row(ctx.journal(), &ctx.bot, ctx.kind, row_id, &update, status)
            .await
    }

    /// Updates an order row and publishes the event its new `status`
    /// calls for, in one transaction.
    async fn write_row(
        &self,
        journal: Option<&tokio::sync::Mutex<Journal>>,
        bot: &BotRecord,
        broker: &str,
        row_id: &str,
        update: &OrderUpdate,
        status: OrderStatus,
    ) -> Step<()> {
        let mut w = Writer::open(&self.state.store, journal).await?;
        let updated = w.tx().update_order(row_id, update).await?;
        if let Some(t) = event_for(status) {
            w.publish(&Outbox::event(t, order_data(bot, broker, &updated)))
                .await?;
        }
        w.done(&self.state.outbox).await?;
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
        let broker = &ctx.broker;
        let row = self.ensure_row(ctx, &req, leg, parent).await?;
        if tradehook_store::FINAL_ORDER_STATUSES.contains(&row.status.as_str()) {
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
                self.apply(ctx, &row.id, &order).await?;
                let rejected = (order.status == OrderStatus::Rejected)
                    .then(|| "the broker rejected the order".to_string());
                Ok(Placed {
                    order: Some(order),
                    rejected,
                })
            }
            Err(e) if e.is_retryable() => Err(Retry(e.to_string())),
            Err(e) => {
                let reason = broker_reason(&e);
                self.set_row(ctx, &row.id, OrderStatus::Rejected, &reason)
                    .await?;
                Ok(Placed {
                    order: None,
                    rejected: Some(reason),
                })
            }
        }
    }

    /// Places a position's take profit and stop loss so that one filling
    /// cancels the other ([`BrokerAdapter::submit_exit_pair`]). Where the
    /// broker cannot hold both (Alpaca crypto), the take profit rests at
    /// the broker and the stop's row is `held`: the follower watches the
    /// feed price and sends a market order when it crosses.
    async fn place_pair(
        &self,
        ctx: &Ctx,
        tp: OrderRequest,
        sl: OrderRequest,
        parent: Option<&str>,
    ) -> Step<()> {
        let sl_row = self.ensure_row(ctx, &sl, "sl", parent).await?;
        let tp_row = self.ensure_row(ctx, &tp, "tp", parent).await?;
        let done = |r: &OrderRecord| {
            tradehook_store::FINAL_ORDER_STATUSES.contains(&r.status.as_str()) || r.status == "held"
        };
        if done(&tp_row) && done(&sl_row) {
            return Ok(());
        }
        let book = ctx.book().await;
        // Idempotent by client order id, so a retry finds what was sent.
        match ctx.broker.submit_exit_pair(&tp, &sl).await {
            Ok(Some(pair)) => {
                self.apply(ctx, &tp_row.id, &pair.take_profit).await?;
                self.apply(ctx, &sl_row.id, &pair.stop_loss).await?;
            }
            Ok(None) => {
                drop(book);
                let placed = self.place(ctx, tp, "tp", parent).await?;
                if placed.rejected.is_none() {
                    self.set_row(ctx, &sl_row.id, OrderStatus::Held, HELD_STOP)
                        .await?;
                } else {
                    self.set_row(
                        ctx,
                        &sl_row.id,
                        OrderStatus::Canceled,
                        "its take profit was rejected",
                    )
                    .await?;
                }
            }
            Err(e) if e.is_retryable() => return Err(Retry(e.to_string())),
            Err(e) => {
                let reason = broker_reason(&e);
                self.set_row(ctx, &tp_row.id, OrderStatus::Rejected, &reason)
                    .await?;
                self.set_row(ctx, &sl_row.id, OrderStatus::Rejected, &reason)
                    .await?;
            }
        }
        Ok(())
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

    /// A resting entry filled after its job ended (on a tick, or seen by
    /// the follower): its SL/TP, when the bot or the signal wants them.
    async fn protect_filled_entry(
        &self,
        journal: Option<&Arc<tokio::sync::Mutex<Journal>>>,
        account_id: &str,
        order: &Order,
    ) -> Step<()> {
        let store = &self.state.store;
        let row = match self
            .order_row(journal.map(|j| &**j), &order.client_order_id)
            .await
        {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let Some(signal_id) = row.signal_id.as_deref().filter(|_| row.leg == "entry") else {
            return Ok(());
        };
        let bot = store.get_bot(&row.bot_id).await?;
        let settings = BotSettings::parse(&bot.settings).unwrap_or_default();
        if bot.paused || bot.deleted_at.is_some() {
            return Ok(());
        }
        let signal = store.get_signal(signal_id).await?;
        if signal.format == "multi_leg" {
            return Ok(());
        }
        let intent = signals::parse(signal.body.as_bytes())
            .ok()
            .and_then(|p| signals::intent(&p).ok());
        let account = store.get_broker_account(account_id).await?;
        let mut ctx = self.risk_ctx(&account, &bot, None).await.map_err(Retry)?;
        ctx.signal = Some(signal);
        ctx.journal = journal.cloned();
        self.attach_sl_tp(
            &ctx,
            &settings,
            intent.as_ref(),
            order,
            &order.client_order_id,
        )
        .await
    }

    /// Follows the open orders of remote (Alpaca) accounts: every
    /// [`FOLLOW_EVERY`] each account's open rows are compared with the
    /// broker (one list call, then one read per order no longer open),
    /// changes are recorded with their events, a filled entry gets its
    /// SL/TP and a filled SL or TP leg cancels its sibling (tradehook
    /// manages these pairs itself: Alpaca takes no brackets for crypto).
    /// One replica follows an account at a time (advisory lock).
    async fn follow_loop(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(FOLLOW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(Retry(e)) = self.follow_pass().await {
                tracing::warn!(error = %e, "cannot follow remote orders");
            }
        }
    }

    async fn follow_pass(&self) -> Step<()> {
        let store = &self.state.store;
        let settle = now_ms() - FOLLOW_SETTLE_MS;
        let mut by_account: HashMap<String, Vec<OrderRecord>> = HashMap::new();
        for row in store.open_orders(None).await? {
            // An order is its job's to follow until the job has decided
            // the signal (a signal-less order: for a few seconds).
            let settled = match &row.signal_id {
                Some(id) => match store.get_signal(id).await {
                    Ok(s) => !matches!(
                        SignalStatus::parse(&s.status),
                        Some(SignalStatus::Accepted | SignalStatus::Executing)
                    ),
                    Err(StoreError::NotFound) => true,
                    Err(e) => return Err(e.into()),
                },
                None => row.created_at <= settle,
            };
            if settled {
                by_account
                    .entry(row.broker_account_id.clone())
                    .or_default()
                    .push(row);
            }
        }
        for (account_id, rows) in by_account {
            let account = store.get_broker_account(&account_id).await?;
            if account.kind != "alpaca" {
                continue;
            }
            let key = tradehook_store::locks::lock_key(&format!("follow:{account_id}"));
            let Some(lock) = store.try_advisory_lock(key).await? else {
                continue;
            };
            let done = self.follow_account(&account, rows).await;
            lock.release().await;
            if let Err(Retry(e)) = done {
                tracing::warn!(account = %account_id, error = %e, "cannot follow an account's orders");
            }
        }
        Ok(())
    }

    async fn follow_account(
        &self,
        account: &BrokerAccountRecord,
        rows: Vec<OrderRecord>,
    ) -> Step<()> {
        let store = &self.state.store;
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let bot = store.get_bot(&first.bot_id).await?;
        let ctx = self.risk_ctx(account, &bot, None).await.map_err(Retry)?;
        let open = ctx
            .broker
            .list_open_orders()
            .await
            .map_err(|e| Retry(e.to_string()))?;
        for row in rows {
            if row.status == OrderStatus::Held.as_str() {
                self.watch_stop(&ctx, &row).await?;
                continue;
            }
            let at_broker = open.iter().find(|o| {
                o.client_order_id == row.client_order_id
                    || row.broker_order_id.as_deref() == Some(o.id.as_str())
            });
            let order = match (at_broker, &row.broker_order_id) {
                (Some(o), _) => Some(o.clone()),
                (None, Some(id)) => match ctx.broker.get_order(id).await {
                    Ok(o) => Some(o),
                    Err(BrokerError::NotFound) => None,
                    Err(e) => return Err(Retry(e.to_string())),
                },
                (None, None) => ctx
                    .broker
                    .get_order_by_client_id(&row.client_order_id)
                    .await
                    .map_err(|e| Retry(e.to_string()))?,
            };
            let Some(mut order) = order else { continue };
            // The leg of an oco carries the broker's own client id.
            order.client_order_id = row.client_order_id.clone();
            if order.status.as_str() == row.status {
                continue;
            }
            self.record_update(None, &order, None, "alpaca").await?;
            if order.status != OrderStatus::Filled {
                continue;
            }
            match oco_leg(&order.client_order_id) {
                Some((group, leg)) => {
                    let sibling = with_leg(group, if leg == "sl" { "tp" } else { "sl" });
                    self.cancel_sibling(&ctx, &open, &sibling).await?;
                }
                None => self.protect_filled_entry(None, &account.id, &order).await?,
            }
        }
        Ok(())
    }

    /// Cancels the other exit of a filled one: at the broker when it rests
    /// there, else (a held stop) just its row.
    async fn cancel_sibling(&self, ctx: &Ctx, open: &[Order], client_order_id: &str) -> Step<()> {
        let row = match self.order_row(ctx.journal(), client_order_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if row.status == OrderStatus::Held.as_str() {
            let bot = self.state.store.get_bot(&row.bot_id).await?;
            let ctx = Ctx {
                bot,
                ..ctx.shallow()
            };
            return self
                .set_row(
                    &ctx,
                    &row.id,
                    OrderStatus::Canceled,
                    "the other exit filled",
                )
                .await;
        }
        let other = open.iter().find(|o| {
            o.client_order_id == row.client_order_id
                || row.broker_order_id.as_deref() == Some(o.id.as_str())
        });
        if let Some(other) = other {
            match ctx.broker.cancel_order(&other.id).await {
                Ok(()) => {
                    let mut canceled = canceled_state(ctx, other).await;
                    canceled.client_order_id = row.client_order_id.clone();
                    self.record_update(ctx.journal(), &canceled, None, ctx.kind)
                        .await?;
                }
                Err(e) => {
                    tracing::warn!(order = %other.id, error = %e, "cannot cancel the other exit");
                }
            }
        }
        Ok(())
    }

    /// A stop loss tradehook holds: when the feed price crosses it, the
    /// take profit is canceled and a market order closes the position
    /// (under the stop's client order id, so it is sent once). A stop
    /// whose position is gone is canceled.
    async fn watch_stop(&self, ctx: &Ctx, row: &OrderRecord) -> Step<()> {
        let store = &self.state.store;
        let bot = store.get_bot(&row.bot_id).await?;
        let ctx = Ctx {
            bot,
            ..ctx.shallow()
        };
        let (Some(stop), Ok(qty)) = (
            row.stop_price
                .as_deref()
                .and_then(|p| p.parse::<Decimal>().ok()),
            row.qty.parse::<Decimal>(),
        ) else {
            return Ok(());
        };
        let side = if row.side == "buy" {
            Side::Buy
        } else {
            Side::Sell
        };
        let positions = ctx
            .broker
            .positions()
            .await
            .map_err(|e| Retry(e.to_string()))?;
        let held = positions
            .iter()
            .any(|p| same_instrument(&p.symbol, &row.symbol) && !p.qty.is_zero());
        if !held {
            return self
                .set_row(
                    &ctx,
                    &row.id,
                    OrderStatus::Canceled,
                    "no position left to protect",
                )
                .await;
        }
        let Some(price) = self
            .state
            .market
            .price(&price_key(&row.symbol))
            .and_then(|p| Decimal::try_from(p.price).ok())
        else {
            return Ok(());
        };
        let crossed = match side {
            Side::Sell => price <= stop,
            Side::Buy => price >= stop,
        };
        if !crossed {
            return Ok(());
        }
        if let Some((group, _)) = oco_leg(&row.client_order_id) {
            let open = ctx
                .broker
                .list_open_orders()
                .await
                .map_err(|e| Retry(e.to_string()))?;
            self.cancel_sibling(&ctx, &open, &with_leg(group, "tp"))
                .await?;
        }
        let req = OrderRequest {
            client_order_id: row.client_order_id.clone(),
            symbol: row.symbol.clone(),
            side,
            qty,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            limit_price: None,
            stop_price: None,
        };
        let sent = match ctx
            .broker
            .get_order_by_client_id(&req.client_order_id)
            .await
        {
            Ok(Some(o)) => Ok(o),
            Ok(None) => ctx.broker.submit_order(&req).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(order) => {
                let order = self.await_fill(&ctx, order).await;
                self.apply(&ctx, &row.id, &order).await
            }
            Err(e) if e.is_retryable() => Err(Retry(e.to_string())),
            Err(e) => {
                self.set_row(&ctx, &row.id, OrderStatus::Rejected, &broker_reason(&e))
                    .await
            }
        }
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
            let book = paper.book.clone().lock_owned().await;
            if !self.is_current(&account_id, &paper) {
                continue;
            }
            let update = paper.broker.on_price(symbol, price, ts);
            if update.is_empty() {
                continue;
            }
            // The fills, the SL/TP they call for and the broker's state
            // commit together; if they cannot, the account is reloaded and
            // a later tick fills the orders again.
            let done: Step<()> = async {
                let open = self.journal_with(&account_id, &paper, book).await?;
                let journal = open.journal.clone();
                for order in update
                    .filled
                    .iter()
                    .chain(&update.canceled)
                    .chain(&update.rejected)
                {
                    self.record_update(Some(&journal), order, None, "paper")
                        .await?;
                }
                for order in update
                    .filled
                    .iter()
                    .filter(|o| oco_leg(&o.client_order_id).is_none())
                {
                    self.protect_filled_entry(Some(&journal), &account_id, order)
                        .await?;
                }
                drop(journal);
                self.close_journal(Some(open)).await
            }
            .await;
            if let Err(Retry(e)) = done {
                tracing::warn!(account = %account_id, error = %e, "cannot record paper fills; reloading the account");
                self.forget_paper(&account_id, &paper);
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
