//! Read-only trading views: signals, orders, positions, a broker
//! account's status and a bot's broker call log.
//!
//! Times are RFC 3339, decimals are strings. Paper positions and balances
//! come from the stored paper state (saved by the execution worker after
//! every change), valued at the market cache's prices; Alpaca ones from
//! the broker itself.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tradehook_brokers::{BrokerAdapter, Decimal, Position};
use tradehook_core::event::rfc3339_ms;
use tradehook_store::{
    BrokerAccountRecord, BrokerCallFilter, BrokerCallRecord, OrderFilter, OrderRecord,
    SignalFilter, SignalRecord, StoreError,
};
use utoipa::{IntoParams, ToSchema};

use crate::api::bots::load_bot;
use crate::api::broker_accounts::load_account;
use crate::api::deliveries::parse_time;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::ApiJson;
use crate::state::AppState;

fn limit_of(limit: Option<i64>) -> ApiResult<i64> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 200"));
    }
    Ok(limit)
}

fn time_of(field: &str, text: Option<&str>) -> ApiResult<Option<i64>> {
    text.map(|t| parse_time(field, t)).transpose()
}

fn cursor_error(e: StoreError) -> ApiError {
    match e {
        StoreError::InvalidCursor => ApiError::validation("cursor", "not a cursor from this list"),
        e => e.into(),
    }
}

fn dec(d: Decimal) -> String {
    d.normalize().to_string()
}

// ---------------------------------------------------------------- signals

/// A received signal.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalView {
    pub id: String,
    pub bot_id: String,
    pub received_at: String,
    pub format: String,
    pub symbol: String,
    pub action: String,
    /// `accepted`, `executing`, `executed`, `rejected`, `failed`, …
    pub status: String,
    pub reason: Option<String>,
    /// The signal as parsed.
    #[schema(value_type = Object)]
    pub parsed: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignalList {
    pub data: Vec<SignalView>,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SignalParams {
    pub bot_id: Option<String>,
    /// RFC 3339 or Unix milliseconds: received at or after.
    pub from: Option<String>,
    /// RFC 3339 or Unix milliseconds: received before.
    pub to: Option<String>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
    /// 1–200 (default 50).
    pub limit: Option<i64>,
}

fn signal_view(s: &SignalRecord) -> SignalView {
    SignalView {
        id: s.id.clone(),
        bot_id: s.bot_id.clone(),
        received_at: rfc3339_ms(s.received_at),
        format: s.format.clone(),
        symbol: s.symbol.clone(),
        action: s.action.clone(),
        status: s.status.clone(),
        reason: s.reason.clone(),
        parsed: s.parsed.clone(),
        created_at: rfc3339_ms(s.created_at),
        updated_at: rfc3339_ms(s.updated_at),
    }
}

/// List received signals, newest first.
#[utoipa::path(get, path = "/api/v1/signals", tag = "trading", params(SignalParams),
    responses((status = 200, description = "A page of signals", body = SignalList),
        (status = 422, description = "Invalid filter", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list_signals(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<SignalParams>,
) -> ApiResult<ApiJson<SignalList>> {
    let filter = SignalFilter {
        bot_id: p.bot_id,
        status: None,
        from: time_of("from", p.from.as_deref())?,
        to: time_of("to", p.to.as_deref())?,
        cursor: p.cursor,
        limit: limit_of(p.limit)?,
    };
    let page = state
        .store
        .list_signals(&filter)
        .await
        .map_err(cursor_error)?;
    Ok(ApiJson(SignalList {
        data: page.signals.iter().map(signal_view).collect(),
        next: page.next,
    }))
}

/// One signal.
#[utoipa::path(get, path = "/api/v1/signals/{id}", tag = "trading",
    params(("id" = String, Path, description = "Signal id")),
    responses((status = 200, description = "The signal", body = SignalView),
        (status = 404, description = "No such signal", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get_signal(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<SignalView>> {
    let s = state.store.get_signal(&id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("no signal with id `{id}`")),
        e => e.into(),
    })?;
    Ok(ApiJson(signal_view(&s)))
}

// ----------------------------------------------------------------- orders

/// An order as placed at the broker.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    pub bot_id: String,
    pub signal_id: Option<String>,
    pub broker_account_id: String,
    pub client_order_id: String,
    pub broker_order_id: Option<String>,
    pub symbol: String,
    pub side: String,
    pub qty: String,
    pub order_type: String,
    pub time_in_force: String,
    pub limit_price: Option<String>,
    pub stop_price: Option<String>,
    pub status: String,
    pub filled_qty: String,
    pub filled_avg_price: Option<String>,
    /// `entry`, `exit`, `sl`, `tp`, …
    pub leg: String,
    pub parent_order_id: Option<String>,
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    pub data: Vec<OrderView>,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OrderParams {
    pub bot_id: Option<String>,
    /// An order status, e.g. `filled`.
    pub status: Option<String>,
    /// RFC 3339 or Unix milliseconds: created at or after.
    pub from: Option<String>,
    /// RFC 3339 or Unix milliseconds: created before.
    pub to: Option<String>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
    /// 1–200 (default 50).
    pub limit: Option<i64>,
}

fn order_view(o: &OrderRecord) -> OrderView {
    OrderView {
        id: o.id.clone(),
        bot_id: o.bot_id.clone(),
        signal_id: o.signal_id.clone(),
        broker_account_id: o.broker_account_id.clone(),
        client_order_id: o.client_order_id.clone(),
        broker_order_id: o.broker_order_id.clone(),
        symbol: o.symbol.clone(),
        side: o.side.clone(),
        qty: o.qty.clone(),
        order_type: o.order_type.clone(),
        time_in_force: o.time_in_force.clone(),
        limit_price: o.limit_price.clone(),
        stop_price: o.stop_price.clone(),
        status: o.status.clone(),
        filled_qty: o.filled_qty.clone(),
        filled_avg_price: o.filled_avg_price.clone(),
        leg: o.leg.clone(),
        parent_order_id: o.parent_order_id.clone(),
        reason: o.reason.clone(),
        created_at: rfc3339_ms(o.created_at),
        updated_at: rfc3339_ms(o.updated_at),
    }
}

/// List orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "trading", params(OrderParams),
    responses((status = 200, description = "A page of orders", body = OrderList),
        (status = 422, description = "Invalid filter", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list_orders(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<OrderParams>,
) -> ApiResult<ApiJson<OrderList>> {
    if let Some(s) = &p.status
        && (s.is_empty() || s.len() > 40 || !s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    {
        return Err(ApiError::validation(
            "status",
            "an order status such as `new`, `filled` or `canceled`",
        ));
    }
    let filter = OrderFilter {
        bot_id: p.bot_id,
        status: p.status,
        open_only: false,
        from: time_of("from", p.from.as_deref())?,
        to: time_of("to", p.to.as_deref())?,
        cursor: p.cursor,
        limit: limit_of(p.limit)?,
    };
    let page = state
        .store
        .list_orders(&filter)
        .await
        .map_err(cursor_error)?;
    Ok(ApiJson(OrderList {
        data: page.orders.iter().map(order_view).collect(),
        next: page.next,
    }))
}

/// One order.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "trading",
    params(("id" = String, Path, description = "Order id")),
    responses((status = 200, description = "The order", body = OrderView),
        (status = 404, description = "No such order", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get_order(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<OrderView>> {
    let o = state.store.get_order(&id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("no order with id `{id}`")),
        e => e.into(),
    })?;
    Ok(ApiJson(order_view(&o)))
}

// -------------------------------------------------------------- positions

/// The account's broker: for a paper account the execution worker's own
/// in-memory broker (the live state), else an Alpaca adapter.
async fn broker_for(
    state: &AppState,
    account: &BrokerAccountRecord,
) -> ApiResult<Result<Arc<dyn BrokerAdapter>, String>> {
    Ok(crate::execution::account_broker(state, account, None).await)
}

/// A position at the broker.
#[derive(Debug, Serialize, ToSchema)]
pub struct PositionView {
    pub broker_account_id: String,
    pub symbol: String,
    /// Signed: negative for a short.
    pub qty: String,
    pub avg_entry_price: String,
    pub market_value: String,
    pub unrealized_pl: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PositionList {
    pub data: Vec<PositionView>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PositionParams {
    /// The bot whose broker account to ask.
    pub bot_id: Option<String>,
    /// Or the broker account itself.
    pub broker_account_id: Option<String>,
}

fn position_view(account_id: &str, p: &Position) -> PositionView {
    PositionView {
        broker_account_id: account_id.to_string(),
        symbol: p.symbol.clone(),
        qty: dec(p.qty),
        avg_entry_price: dec(p.avg_entry_price),
        market_value: dec(p.market_value),
        unrealized_pl: dec(p.unrealized_pl),
    }
}

/// Open positions at a bot's (or an account's) broker.
#[utoipa::path(get, path = "/api/v1/positions", tag = "trading", params(PositionParams),
    responses((status = 200, description = "The positions", body = PositionList),
        (status = 404, description = "No such bot or account", body = ErrorBody),
        (status = 422, description = "Neither bot_id nor broker_account_id", body = ErrorBody),
        (status = 503, description = "The broker could not be reached", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn positions(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<PositionParams>,
) -> ApiResult<ApiJson<PositionList>> {
    let account_id = match (p.bot_id, p.broker_account_id) {
        (Some(bot), None) => load_bot(&state, &bot).await?.broker_account_id,
        (None, Some(account)) => account,
        _ => {
            return Err(ApiError::validation(
                "bot_id",
                "give exactly one of bot_id or broker_account_id",
            ));
        }
    };
    let account = load_account(&state, &account_id).await?;
    let broker = broker_for(&state, &account)
        .await?
        .map_err(ApiError::Unavailable)?;
    let positions = broker
        .positions()
        .await
        .map_err(|e| ApiError::Unavailable(format!("the broker: {e}")))?;
    Ok(ApiJson(PositionList {
        data: positions
            .iter()
            .map(|p| position_view(&account.id, p))
            .collect(),
    }))
}

// --------------------------------------------------------- account status

/// A broker account's connection and balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountStatus {
    pub connected: bool,
    /// Why the broker could not be asked.
    pub error: Option<String>,
    pub equity: Option<String>,
    pub cash: Option<String>,
    pub buying_power: Option<String>,
    pub currency: Option<String>,
    pub positions: Vec<PositionView>,
}

impl AccountStatus {
    fn down(error: String) -> Self {
        AccountStatus {
            connected: false,
            error: Some(error),
            equity: None,
            cash: None,
            buying_power: None,
            currency: None,
            positions: Vec::new(),
        }
    }
}

/// Ask a broker account for its balances and positions. An unreachable
/// broker answers `connected: false` with the error.
#[utoipa::path(get, path = "/api/v1/broker-accounts/{id}/status", tag = "trading",
    params(("id" = String, Path, description = "Broker account id")),
    responses((status = 200, description = "The account's status", body = AccountStatus),
        (status = 404, description = "No such account", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn account_status(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<AccountStatus>> {
    let account = load_account(&state, &id).await?;
    let broker = match broker_for(&state, &account).await? {
        Ok(b) => b,
        Err(e) => return Ok(ApiJson(AccountStatus::down(e))),
    };
    let balances = match broker.account().await {
        Ok(a) => a,
        Err(e) => return Ok(ApiJson(AccountStatus::down(e.to_string()))),
    };
    let positions = match broker.positions().await {
        Ok(p) => p,
        Err(e) => return Ok(ApiJson(AccountStatus::down(e.to_string()))),
    };
    Ok(ApiJson(AccountStatus {
        connected: true,
        error: None,
        equity: Some(dec(balances.equity)),
        cash: Some(dec(balances.cash)),
        buying_power: Some(dec(balances.buying_power)),
        currency: Some(balances.currency),
        positions: positions
            .iter()
            .map(|p| position_view(&account.id, p))
            .collect(),
    }))
}

// ------------------------------------------------------------------- logs

/// One call to the broker.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerCallView {
    pub id: String,
    pub bot_id: Option<String>,
    pub broker_account_id: String,
    pub method: String,
    pub path: String,
    /// The HTTP status; absent when no answer came.
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub request: Option<String>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerCallList {
    pub data: Vec<BrokerCallView>,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogParams {
    /// `json` (a page, newest first; default) or `jsonl` (one call per
    /// line, oldest first).
    pub format: Option<String>,
    /// RFC 3339 or Unix milliseconds: at or after.
    pub from: Option<String>,
    /// RFC 3339 or Unix milliseconds: before.
    pub to: Option<String>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
    /// 1–1000 (default 100).
    pub limit: Option<i64>,
}

fn call_view(c: &BrokerCallRecord) -> BrokerCallView {
    BrokerCallView {
        id: c.id.clone(),
        bot_id: c.bot_id.clone(),
        broker_account_id: c.broker_account_id.clone(),
        method: c.method.clone(),
        path: c.path.clone(),
        status: c.status,
        latency_ms: c.latency_ms,
        request: c.request.clone(),
        response: c.response.clone(),
        error: c.error.clone(),
        created_at: rfc3339_ms(c.created_at),
    }
}

/// A bot's broker calls, as a JSON page or as JSON lines.
#[utoipa::path(get, path = "/api/v1/bots/{id}/logs", tag = "trading",
    params(("id" = String, Path, description = "Bot id"), LogParams),
    responses((status = 200, description = "The calls (`application/x-ndjson` for `format=jsonl`)",
            body = BrokerCallList),
        (status = 404, description = "No such bot", body = ErrorBody),
        (status = 422, description = "Invalid filter", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn bot_logs(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
    Query(p): Query<LogParams>,
) -> ApiResult<Response> {
    let jsonl = match p.format.as_deref() {
        None | Some("json") => false,
        Some("jsonl") => true,
        Some(_) => return Err(ApiError::validation("format", "json or jsonl")),
    };
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 1000"));
    }
    let from = time_of("from", p.from.as_deref())?;
    let to = time_of("to", p.to.as_deref())?;
    let bot = load_bot(&state, &id).await?;
    let page = state
        .store
        .list_broker_calls(&BrokerCallFilter {
            bot_id: Some(bot.id),
            broker_account_id: None,
            from,
            to,
            cursor: p.cursor,
            oldest_first: jsonl,
            limit,
        })
        .await
        .map_err(cursor_error)?;
    let data: Vec<BrokerCallView> = page.calls.iter().map(call_view).collect();
    if jsonl {
        let mut body = String::new();
        for call in &data {
            body.push_str(&serde_json::to_string(call).expect("a call serialises"));
            body.push('\n');
        }
        return Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response());
    }
    Ok(ApiJson(BrokerCallList {
        data,
        next: page.next,
    })
    .into_response())
}
