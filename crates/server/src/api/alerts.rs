//! Alerts (`/api/v1/alerts`): what the rules fired, newest first.

use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tradehook_core::event::rfc3339_ms;
use tradehook_core::ids::is_valid_id;
use tradehook_store::{AlertFilter, AlertRecord, StoreError};
use utoipa::{IntoParams, ToSchema};

use crate::api::deliveries::parse_time;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::ApiJson;
use crate::state::AppState;

/// One alert: a rule that fired in one window.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "alr_0192f5c2e6f7a081c23d4e5f60718293", "rule_id": "rul_0192f5c2f708b192d34e5f6071829304",
    "symbol": "BTC", "rule_type": "rsi", "price": 100250.5,
    "indicators": {"rsi": 71.3, "rsi_prev": 69.8},
    "window_start": "2026-11-23T01:15:00Z", "window_end": "2026-11-23T01:15:59.999Z",
    "feed_time": "2026-11-23T01:15:59.999Z", "committed_at": "2026-11-23T01:16:00.004Z",
    "latency_ms": 4.8, "event_id": "evt_0192f5c2a1b27c3d8e9f0a1b2c3d4e5f",
    "rule_snapshot": {"name": "BTC overbought", "config": {"period": 14, "interval": "1m", "threshold": 70, "direction": "overbought"}}
}))]
pub struct AlertView {
    pub id: String,
    pub rule_id: String,
    pub symbol: String,
    pub rule_type: String,
    /// The price that fired it (the close for candle rules).
    pub price: f64,
    /// Indicator values at the firing.
    #[schema(value_type = Object)]
    pub indicators: Value,
    pub window_start: String,
    /// Null for a `once` rule (its window is its lifetime).
    pub window_end: Option<String>,
    /// The market data's own time.
    pub feed_time: String,
    pub committed_at: String,
    /// From the feed time to the commit of the alert.
    pub latency_ms: f64,
    /// The `alert.triggered` (or `price_alert.triggered`) event.
    pub event_id: String,
    /// The rule as it was when it fired.
    #[schema(value_type = Object)]
    pub rule_snapshot: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertPage {
    pub data: Vec<AlertView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AlertParams {
    pub rule_id: Option<String>,
    pub symbol: Option<String>,
    /// Alerts committed at or after this time (RFC 3339 or Unix ms).
    pub from: Option<String>,
    /// Alerts committed before this time (RFC 3339 or Unix ms).
    pub to: Option<String>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<i64>,
}

pub(crate) fn alert_view(a: AlertRecord) -> AlertView {
    AlertView {
        id: a.id,
        rule_id: a.rule_id,
        symbol: a.symbol,
        rule_type: a.rule_type,
        price: a.price,
        indicators: a.indicators,
        window_start: rfc3339_ms(a.window_start),
        window_end: (a.window_end != i64::MAX).then(|| rfc3339_ms(a.window_end)),
        feed_time: rfc3339_ms(a.feed_ts),
        committed_at: rfc3339_ms(a.committed_at),
        latency_ms: a.latency_us as f64 / 1000.0,
        event_id: a.event_id,
        rule_snapshot: a.rule_snapshot,
    }
}

/// List alerts, newest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertParams),
    responses((status = 200, description = "A page of alerts", body = AlertPage),
        (status = 422, description = "Invalid filter", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<AlertParams>,
) -> ApiResult<ApiJson<AlertPage>> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 500"));
    }
    let from = p
        .from
        .as_deref()
        .map(|t| parse_time("from", t))
        .transpose()?;
    let to = p.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
    let page = state
        .store
        .list_alerts(&AlertFilter {
            rule_id: p.rule_id,
            symbol: p.symbol,
            from,
            to,
            cursor: p.cursor,
            limit,
        })
        .await
        .map_err(|e| match e {
            StoreError::InvalidCursor => {
                ApiError::validation("cursor", "not a cursor from this API")
            }
            e => e.into(),
        })?;
    Ok(ApiJson(AlertPage {
        data: page.alerts.into_iter().map(alert_view).collect(),
        next: page.next,
    }))
}

/// One alert.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "The alert", body = AlertView),
        (status = 404, description = "No such alert", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<AlertView>> {
    let missing = || ApiError::NotFound(format!("no alert with id `{id}`"));
    if !is_valid_id("alr", &id) {
        return Err(missing());
    }
    let alert = state.store.get_alert(&id).await.map_err(|e| match e {
        StoreError::NotFound => missing(),
        e => e.into(),
    })?;
    Ok(ApiJson(alert_view(alert)))
}
