//! One-shot price alerts (`/api/v1/price-alerts`): the simple alerting
//! API. A price alert is a `price_alert` rule with frequency `once`, an
//! expiry, and its own signed webhook that receives the flat
//! `price_alert_triggered` payload.
//!
//! Level semantics: `above` fires on the first tick at or above the
//! target (`below`: at or below), including when that already holds when
//! the alert is created; then the alert is `triggered` for good.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tradehook_core::event::rfc3339_ms;
use tradehook_core::ids::{is_valid_id, new_id};
use tradehook_core::time::now_ms;
use tradehook_core::webhook::signing::WebhookSecret;
use tradehook_rules::{Frequency, RuleConfig};
use tradehook_store::{NewRule, RuleFilter, RuleRecord, StoreError};
use utoipa::{IntoParams, ToSchema};

use crate::api::rules::{OwnedTarget, check_symbol, check_target_url, owned_endpoint};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::ApiJson;
use crate::state::AppState;

/// The event type of a price alert's delivery.
pub const EVENT_TYPE: &str = "price_alert.triggered";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "symbol": "BTC", "condition": "above", "target_price": 100000,
    "webhook_url": "https://example.com/hooks/btc", "duration_hours": 24
}))]
pub struct CreatePriceAlert {
    pub symbol: String,
    /// `above` (price ≥ target) or `below` (price ≤ target).
    pub condition: String,
    pub target_price: f64,
    /// Gets the `price_alert_triggered` payload, signed (Standard Webhooks).
    pub webhook_url: String,
    /// Lifetime in hours (default 24, at most 168).
    pub duration_hours: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "alert_id": "rul_0192f5c2f708b192d34e5f6071829304", "symbol": "BTC", "condition": "above",
    "target_price": 100000.0, "status": "active", "created_at": "2026-11-23T01:16:22.788Z",
    "expires_at": "2026-11-24T01:16:22.788Z", "webhook_url": "https://example.com/hooks/btc",
    "triggered_at": null
}))]
pub struct PriceAlertView {
    pub alert_id: String,
    pub symbol: String,
    pub condition: String,
    pub target_price: f64,
    /// `active`, `triggered`, `expired` or `cancelled`.
    pub status: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub webhook_url: Option<String>,
    /// Feed time of the tick that triggered it.
    pub triggered_at: Option<String>,
}

/// A new price alert; `secret` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedPriceAlert {
    #[serde(flatten)]
    pub alert: PriceAlertView,
    /// Signs this alert's webhook (`whsec_…`). Store it now.
    pub secret: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PriceAlertParams {
    pub symbol: Option<String>,
    /// `active`, `triggered`, `expired` or `cancelled`.
    pub status: Option<String>,
    pub after: Option<String>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceAlertPage {
    pub data: Vec<PriceAlertView>,
    pub next: Option<String>,
}

fn view(r: &RuleRecord) -> PriceAlertView {
    PriceAlertView {
        alert_id: r.id.clone(),
        symbol: r.symbol.clone(),
        condition: r.config["condition"].as_str().unwrap_or("").to_string(),
        target_price: r.config["target_price"].as_f64().unwrap_or(f64::NAN),
        status: r.status.clone(),
        created_at: rfc3339_ms(r.created_at),
        expires_at: r.expires_at.map(rfc3339_ms),
        webhook_url: r.generic_webhook_url.clone(),
        triggered_at: (r.status == "triggered")
            .then_some(r.last_fired_at)
            .flatten()
            .map(rfc3339_ms),
    }
}

/// The flat payload a price alert's webhook receives.
pub fn payload(
    alert_id: &str,
    symbol: &str,
    config: &serde_json::Value,
    price: f64,
    feed_ts: i64,
    source: &str,
) -> serde_json::Value {
    json!({
        "alert_id": alert_id,
        "rule_id": alert_id,
        "event": "price_alert_triggered",
        "symbol": symbol,
        "condition": config["condition"],
        "target_price": config["target_price"],
        "current_price": price,
        "condition_met": true,
        "timestamp": rfc3339_ms(feed_ts),
        "sources": [source],
    })
}

async fn load(state: &AppState, id: &str) -> ApiResult<RuleRecord> {
    let missing = || ApiError::NotFound(format!("no price alert with id `{id}`"));
    if !is_valid_id("rul", id) {
        return Err(missing());
    }
    let r = state.store.get_rule(id).await.map_err(|e| match e {
        StoreError::NotFound => missing(),
        e => e.into(),
    })?;
    if r.rule_type != "price_alert" {
        return Err(missing());
    }
    Ok(r)
}

/// Create a one-shot price alert.
#[utoipa::path(post, path = "/api/v1/price-alerts", tag = "price-alerts",
    request_body = CreatePriceAlert,
    responses(
        (status = 201, description = "Created", body = CreatedPriceAlert),
        (status = 422, description = "`invalid_webhook_url`, `invalid_condition`, `duration_too_long`, `symbol_not_found` or another invalid field", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _caller: Identity,
    ApiJson(body): ApiJson<CreatePriceAlert>,
) -> ApiResult<(StatusCode, ApiJson<CreatedPriceAlert>)> {
    let now = now_ms();
    if !matches!(body.condition.as_str(), "above" | "below") {
        return Err(ApiError::Unprocessable {
            code: "invalid_condition",
            path: "condition".into(),
            message: format!("`{}` is not a condition: above or below", body.condition),
        });
    }
    if !(body.target_price.is_finite() && body.target_price > 0.0) {
        return Err(ApiError::validation(
            "target_price",
            "a price greater than 0",
        ));
    }
    let max = f64::from(state.config.rules.price_alert_max_hours);
    let hours = body.duration_hours.unwrap_or(24.0);
    if !(hours.is_finite() && hours > 0.0) {
        return Err(ApiError::validation(
            "duration_hours",
            "a number of hours greater than 0",
        ));
    }
    if hours > max {
        return Err(ApiError::Unprocessable {
            code: "duration_too_long",
            path: "duration_hours".into(),
            message: format!("at most {max} hours"),
        });
    }
    let url = check_target_url(
        &state,
        "webhook_url",
        &body.webhook_url,
        Some("invalid_webhook_url"),
    )
    .await?;
    check_symbol(&state, &body.symbol).await?;
    let config = RuleConfig::parse(
        "price_alert",
        &json!({"condition": body.condition, "target_price": body.target_price}),
    )
    .map_err(|e| ApiError::validation(e.path.trim_start_matches("config."), e.message))?;
    let id = new_id("rul");
    let secret = WebhookSecret::generate();
    let target = owned_endpoint(
        &state,
        &id,
        OwnedTarget {
            kind: "webhook",
            url: &url,
            event_type: EVENT_TYPE,
            body_format: "data",
        },
        &secret,
        now,
    );
    let record = state
        .store
        .insert_rule(
            &NewRule {
                id: id.clone(),
                name: format!("{} {} {}", body.symbol, body.condition, body.target_price),
                symbol: body.symbol,
                rule_type: "price_alert".into(),
                config: config.to_json(),
                frequency: Frequency::Once.as_str().into(),
                cooldown_seconds: 0,
                enabled: true,
                expires_at: Some(now + (hours * 3_600_000.0) as i64),
                discord_webhook_url: None,
                generic_webhook_url: Some(url),
                created_at: now,
            },
            &[target],
        )
        .await?;
    state.rules.changed();
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedPriceAlert {
            alert: view(&record),
            secret: secret.expose(),
        }),
    ))
}

/// List price alerts, oldest first.
#[utoipa::path(get, path = "/api/v1/price-alerts", tag = "price-alerts", params(PriceAlertParams),
    responses((status = 200, description = "A page of price alerts", body = PriceAlertPage)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<PriceAlertParams>,
) -> ApiResult<ApiJson<PriceAlertPage>> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 500"));
    }
    if let Some(s) = &p.status
        && !matches!(s.as_str(), "active" | "triggered" | "expired" | "cancelled")
    {
        return Err(ApiError::validation(
            "status",
            "active, triggered, expired or cancelled",
        ));
    }
    let mut rows = state
        .store
        .list_rules(&RuleFilter {
            symbol: p.symbol,
            rule_type: Some("price_alert".into()),
            enabled: None,
            status: p.status,
            after: p.after,
            limit: limit + 1,
        })
        .await?;
    let next = crate::api::split_page(&mut rows, limit, |r| &r.id);
    Ok(ApiJson(PriceAlertPage {
        data: rows.iter().map(view).collect(),
        next,
    }))
}

/// One price alert.
#[utoipa::path(get, path = "/api/v1/price-alerts/{id}", tag = "price-alerts",
    params(("id" = String, Path, description = "Price alert id")),
    responses((status = 200, description = "The price alert", body = PriceAlertView),
        (status = 404, description = "No such price alert", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<PriceAlertView>> {
    Ok(ApiJson(view(&load(&state, &id).await?)))
}

/// Cancel a price alert. Cancelling one that already triggered or
/// expired is refused with 409; cancelling twice answers the cancelled
/// alert.
#[utoipa::path(delete, path = "/api/v1/price-alerts/{id}", tag = "price-alerts",
    params(("id" = String, Path, description = "Price alert id")),
    responses((status = 200, description = "The cancelled alert", body = PriceAlertView),
        (status = 404, description = "No such price alert", body = ErrorBody),
        (status = 409, description = "Already triggered or expired", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<PriceAlertView>> {
    load(&state, &id).await?;
    state
        .store
        .set_rule_status(&id, "active", "cancelled")
        .await?;
    let r = load(&state, &id).await?;
    if r.status != "cancelled" {
        return Err(ApiError::Conflict {
            code: format!("already_{}", r.status),
            message: format!("the price alert is already {}", r.status),
        });
    }
    state.rules.changed();
    Ok(ApiJson(view(&r)))
}
