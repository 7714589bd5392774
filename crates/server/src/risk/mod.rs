//! Risk upkeep next to the execution worker.
//!
//! - **Cleanup** (every [`CLEANUP_EVERY`], regardless of market hours):
//!   open SL/TP legs (`…-sl` / `…-tp`) of a bot whose symbol has no
//!   position at the broker any more are canceled, their rows set
//!   `canceled`, and one `cleanup.orders_canceled` event is published per
//!   bot. `POST /api/v1/bots/{id}/cleanup` runs it at once for one bot.
//! - **Global SL/TP** (every [`RISK_EVERY`]) for bots with
//!   `enable_global_sl_tp`: the account equity is compared with the bot's
//!   `base_equity` (stored on the first check, cleared when settings
//!   change). At or below `base × global_sl_pct` the open orders are
//!   canceled, every position is closed, the bot is paused and
//!   `risk.global_stop_loss` + `bot.paused` are published. At or above
//!   `base × global_tp_pct` `risk.global_take_profit` is published once per
//!   crossing (and the account liquidated when `global_tp_liquidate`).
//! - **Equity history**: the same pass stores an equity snapshot per bot;
//!   hourly, snapshots older than a day are thinned to one per minute.
//!
//! On PostgreSQL each bot's check runs under a session advisory lock
//! (`pg_try_advisory_lock`), so only one replica checks a bot at a time;
//! the take-profit memory is per process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tradehook_brokers::{BrokerAdapter, Decimal, oco_leg, same_instrument};
use tradehook_core::time::now_ms;
use tradehook_delivery::Outbox;
use tradehook_store::locks::lock_key;
use tradehook_store::{BotFilter, BotPatch, BotRecord, EquitySnapshot, StoreError};
use utoipa::ToSchema;

use crate::api::bots::BotSettings;
use crate::state::AppState;

/// How often orphaned SL/TP legs are looked for.
pub const CLEANUP_EVERY: Duration = Duration::from_secs(30);
/// How often equity is checked and recorded.
pub const RISK_EVERY: Duration = Duration::from_secs(10);
/// How often old equity snapshots are thinned.
pub const THIN_EVERY: Duration = Duration::from_secs(3600);
/// Snapshots older than this are thinned …
const THIN_AFTER_MS: i64 = 86_400_000;
/// … to one per this interval.
const THIN_KEEP_MS: i64 = 60_000;

/// One canceled order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CanceledOrder {
    pub order_id: String,
    pub client_order_id: String,
    pub symbol: String,
}

/// Starts the cleanup and the risk loops.
pub fn spawn(state: &AppState, workers: &TaskTracker, shutdown: &CancellationToken) {
    let (s, stop) = (state.clone(), shutdown.clone());
    workers.spawn(async move {
        let start = tokio::time::Instant::now() + CLEANUP_EVERY;
        let mut tick = tokio::time::interval_at(start, CLEANUP_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => cleanup_pass(&s).await,
            }
        }
    });
    let (s, stop) = (state.clone(), shutdown.clone());
    workers.spawn(async move {
        let breaker = Breaker::default();
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + RISK_EVERY, RISK_EVERY);
        let mut thinned = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {
                    breaker.pass(&s).await;
                    if thinned.elapsed() >= THIN_EVERY {
                        thinned = tokio::time::Instant::now();
                        thin_pass(&s).await;
                    }
                }
            }
        }
    });
}

/// The live (not deleted) bots.
async fn live_bots(state: &AppState) -> Result<Vec<BotRecord>, StoreError> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .store
            .list_bots(&BotFilter {
                after: after.clone(),
                limit: 200,
                ..BotFilter::default()
            })
            .await?;
        let done = page.len() < 200;
        after = page.last().map(|b| b.id.clone());
        all.extend(page.into_iter().filter(|b| b.deleted_at.is_none()));
        if done || after.is_none() {
            return Ok(all);
        }
    }
}

async fn broker_of(
    state: &AppState,
    bot: &BotRecord,
) -> Result<(tradehook_store::BrokerAccountRecord, Arc<dyn BrokerAdapter>), String> {
    let account = state
        .store
        .get_broker_account(&bot.broker_account_id)
        .await
        .map_err(|e| e.to_string())?;
    let broker = crate::execution::account_broker(state, &account, Some(&bot.id)).await?;
    Ok((account, broker))
}

/// The broker a bot trades through (the execution worker's own broker for
/// paper accounts).
pub async fn bot_broker(
    state: &AppState,
    bot: &BotRecord,
) -> Result<Arc<dyn BrokerAdapter>, String> {
    broker_of(state, bot).await.map(|(_, b)| b)
}

async fn publish(state: &AppState, kind: &str, data: Value) {
    if let Err(e) = state.outbox.publish(&Outbox::event(kind, data)).await {
        tracing::error!(error = %e, "cannot publish {kind}");
    }
}

/// Cancels the bot's SL/TP legs whose symbol has no position, with one
/// `cleanup.orders_canceled` event when any was canceled.
pub async fn cleanup_bot(state: &AppState, bot: &BotRecord) -> Result<Vec<CanceledOrder>, String> {
    let (account, broker) = broker_of(state, bot).await?;
    let positions = broker.positions().await.map_err(|e| e.to_string())?;
    let open = broker.list_open_orders().await.map_err(|e| e.to_string())?;
    let mut orphans = Vec::new();
    for o in open {
        if oco_leg(&o.client_order_id).is_none()
            || positions
                .iter()
                .any(|p| !p.qty.is_zero() && same_instrument(&p.symbol, &o.symbol))
        {
            continue;
        }
        // Only this bot's orders.
        match state.store.get_order_by_client_id(&o.client_order_id).await {
            Ok(row) if row.bot_id == bot.id => orphans.push(o),
            _ => continue,
        }
    }
    let canceled: Vec<CanceledOrder> =
        crate::execution::cancel_orders(state, &account, bot, &orphans)
            .await?
            .into_iter()
            .map(|row| CanceledOrder {
                order_id: row.id,
                client_order_id: row.client_order_id,
                symbol: row.symbol,
            })
            .collect();
    if !canceled.is_empty() {
        publish(
            state,
            "cleanup.orders_canceled",
            json!({
                "bot_id": bot.id,
                "bot_name": bot.name,
                "orders": canceled,
                "count": canceled.len(),
            }),
        )
        .await;
    }
    Ok(canceled)
}

/// One cleanup round over every live bot.
pub async fn cleanup_pass(state: &AppState) {
    let bots = match live_bots(state).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "cleanup: cannot list bots");
            return;
        }
    };
    for bot in bots {
        if let Err(e) = cleanup_bot(state, &bot).await {
            tracing::debug!(bot = %bot.id, error = %e, "cleanup skipped a bot");
        }
    }
}

/// Thins old equity snapshots.
pub async fn thin_pass(state: &AppState) {
    if let Err(e) = state
        .store
        .thin_equity(now_ms() - THIN_AFTER_MS, THIN_KEEP_MS)
        .await
    {
        tracing::warn!(error = %e, "cannot thin equity snapshots");
    }
}

/// The global SL/TP breaker; remembers which bots are above their TP so
/// that `risk.global_take_profit` is published once per crossing.
#[derive(Default)]
pub struct Breaker {
    above_tp: Mutex<HashSet<String>>,
}

impl Breaker {
    /// One round: an equity snapshot for every live bot, and the global
    /// SL/TP check for those that enable it.
    pub async fn pass(&self, state: &AppState) {
        let bots = match live_bots(state).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "risk: cannot list bots");
                return;
            }
        };
        for bot in bots {
            // One owner per bot across replicas (always granted on SQLite).
            let key = lock_key(&format!("risk:{}", bot.id));
            let lock = match state.store.try_advisory_lock(key).await {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(bot = %bot.id, error = %e, "risk: cannot take the bot's lock");
                    continue;
                }
            };
            if let Err(e) = self.check(state, &bot).await {
                tracing::debug!(bot = %bot.id, error = %e, "risk check skipped a bot");
            }
            lock.release().await;
        }
    }

    async fn check(&self, state: &AppState, bot: &BotRecord) -> Result<(), String> {
        let (account, broker) = broker_of(state, bot).await?;
        let acct = broker.account().await.map_err(|e| e.to_string())?;
        let positions = broker.positions().await.map_err(|e| e.to_string())?;
        let snapshot = EquitySnapshot {
            bot_id: bot.id.clone(),
            ts: now_ms(),
            equity: acct.equity.normalize().to_string(),
            cash: acct.cash.normalize().to_string(),
            positions: serde_json::to_value(&positions).unwrap_or(Value::Null),
        };
        if let Err(e) = state.store.insert_equity_snapshot(&snapshot).await {
            tracing::warn!(bot = %bot.id, error = %e, "cannot store an equity snapshot");
        }
        let settings = BotSettings::parse(&bot.settings).unwrap_or_default();
        if !settings.enable_global_sl_tp || bot.paused {
            return Ok(());
        }
        let equity = acct.equity;
        let Some(base) = bot
            .base_equity
            .as_deref()
            .and_then(|b| b.parse::<Decimal>().ok())
            .filter(|b| *b > Decimal::ZERO)
        else {
            let patch = BotPatch {
                base_equity: Some(Some(equity.normalize().to_string())),
                ..BotPatch::default()
            };
            state
                .store
                .update_bot(&bot.id, &patch)
                .await
                .map_err(|e| e.to_string())?;
            self.above_tp.lock().expect("lock").remove(&bot.id);
            return Ok(());
        };
        let pct = |p: f64| Decimal::try_from(p).unwrap_or(Decimal::ONE);
        let sl = pct(settings.global_sl_pct);
        let tp = pct(settings.global_tp_pct);
        if equity <= base * sl {
            let reason = format!(
                "global stop loss: equity {} at or below {} of the base {}",
                equity.normalize(),
                sl.normalize(),
                base.normalize()
            );
            crate::execution::liquidate(state, &account, bot, &reason).await?;
            let changed = state
                .store
                .set_bot_paused(&bot.id, true, Some(&reason))
                .await
                .map_err(|e| e.to_string())?;
            if changed {
                publish(
                    state,
                    "risk.global_stop_loss",
                    json!({
                        "bot_id": bot.id,
                        "bot_name": bot.name,
                        "equity": equity.normalize().to_string(),
                        "base_equity": base.normalize().to_string(),
                        "threshold_pct": settings.global_sl_pct,
                        "action": "liquidated_and_paused",
                    }),
                )
                .await;
                crate::api::bots::announce_pause(state, bot, true, Some(&reason)).await;
            }
            return Ok(());
        }
        if equity >= base * tp {
            let first = self.above_tp.lock().expect("lock").insert(bot.id.clone());
            if first {
                if settings.global_tp_liquidate {
                    let reason = format!(
                        "global take profit: equity {} at or above {} of the base {}",
                        equity.normalize(),
                        tp.normalize(),
                        base.normalize()
                    );
                    crate::execution::liquidate(state, &account, bot, &reason).await?;
                }
                publish(
                    state,
                    "risk.global_take_profit",
                    json!({
                        "bot_id": bot.id,
                        "bot_name": bot.name,
                        "equity": equity.normalize().to_string(),
                        "base_equity": base.normalize().to_string(),
                        "threshold_pct": settings.global_tp_pct,
                        "action": if settings.global_tp_liquidate { "liquidated" } else { "notified" },
                    }),
                )
                .await;
            }
        } else {
            self.above_tp.lock().expect("lock").remove(&bot.id);
        }
        Ok(())
    }
}
