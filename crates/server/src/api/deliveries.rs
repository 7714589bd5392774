//! Deliveries and their audit trail, replay, recovery and test sends.

use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use tradehook_core::event::rfc3339_ms;
use tradehook_core::ids::is_valid_id;
use tradehook_core::time::now_ms;
use tradehook_delivery::Outbox;
use tradehook_store::{AttemptRecord, DeliveryFilter, DeliveryRecord, DeliveryStatus, StoreError};
use utoipa::{IntoParams, ToSchema};

use crate::api::endpoints::load_endpoint;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::ApiJson;
use crate::state::AppState;

/// Test sends allowed per endpoint per minute.
const TESTS_PER_MINUTE: u32 = 5;

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(example = "dlv_0192f5c2a1b07c3d8e9f001122334455")]
    pub id: String,
    /// The event id, also sent as `webhook-id` on every attempt.
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    /// `pending`, `delivered` or `failed` (dead letter).
    pub status: String,
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i64,
    pub started_at: String,
    pub latency_ms: i64,
    /// The HTTP status, when a response came back.
    pub http_status: Option<i64>,
    /// Why no response: `dns`, `connect`, `tls`, `timeout`, `ssrf_blocked`, …
    pub error_class: Option<String>,
    /// The first 2 KiB of the response body (or the error).
    pub response: String,
    pub next_retry_at: Option<String>,
    pub worker: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    pub attempts_log: Vec<AttemptView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<DeliveryView>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryParams {
    /// `pending`, `delivered` or `failed`.
    pub status: Option<String>,
    /// Deliveries older than this id (the previous page's `next`).
    pub before: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RecoverParams {
    /// Resend failed deliveries created since this time (RFC 3339 or Unix ms).
    pub since: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recovered {
    /// How many failed deliveries were made due again.
    pub recovered: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    pub event_id: String,
}

fn view(d: DeliveryRecord) -> DeliveryView {
    DeliveryView {
        next_attempt_at: (d.status == "pending").then(|| rfc3339_ms(d.next_attempt_at)),
        id: d.id,
        event_id: d.event_id,
        event_type: d.event_type,
        endpoint_id: d.endpoint_id,
        status: d.status,
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: rfc3339_ms(d.created_at),
        updated_at: rfc3339_ms(d.updated_at),
        delivered_at: d.delivered_at.map(rfc3339_ms),
    }
}

fn attempt_view(a: AttemptRecord) -> AttemptView {
    AttemptView {
        attempt: a.attempt,
        started_at: rfc3339_ms(a.started_at),
        latency_ms: a.latency_ms,
        http_status: a.http_status,
        error_class: a.error_class,
        response: a.response_snippet,
        next_retry_at: a.next_retry_at.map(rfc3339_ms),
        worker: a.worker,
    }
}

/// Parses a time given as RFC 3339 or Unix milliseconds.
pub fn parse_time(field: &str, text: &str) -> ApiResult<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::validation(
                field,
                format!("`{text}` is not an RFC 3339 time or Unix milliseconds"),
            )
        })
}

fn delivery_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no delivery with id `{id}`"))
}

/// An endpoint's deliveries, newest first, filtered by status.
#[utoipa::path(get, path = "/api/v1/endpoints/{id}/deliveries", tag = "deliveries",
    params(("id" = String, Path, description = "Endpoint id"), DeliveryParams),
    responses((status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 422, description = "Invalid filter", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list_for_endpoint(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
    Query(p): Query<DeliveryParams>,
) -> ApiResult<ApiJson<DeliveryPage>> {
    load_endpoint(&state, &id).await?;
    let status = p
        .status
        .as_deref()
        .map(|s| {
            DeliveryStatus::parse(s)
                .ok_or_else(|| ApiError::validation("status", "pending, delivered or failed"))
        })
        .transpose()?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 200"));
    }
    let mut rows = state
        .store
        .list_deliveries(&DeliveryFilter {
            endpoint_id: Some(id),
            status,
            before_id: p.before,
            limit: limit + 1,
        })
        .await?;
    let next = crate::api::split_page(&mut rows, limit, |d| &d.id);
    Ok(ApiJson(DeliveryPage {
        data: rows.into_iter().map(view).collect(),
        next,
    }))
}

/// One delivery with every attempt.
#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "deliveries",
    params(("id" = String, Path, description = "Delivery id")),
    responses((status = 200, description = "The delivery and its attempts", body = DeliveryDetail),
        (status = 404, description = "No such delivery", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<DeliveryDetail>> {
    if !is_valid_id("dlv", &id) {
        return Err(delivery_not_found(&id));
    }
    let delivery = state.store.get_delivery(&id).await.map_err(|e| match e {
        StoreError::NotFound => delivery_not_found(&id),
        e => e.into(),
    })?;
    let attempts = state.store.delivery_attempts(&id).await?;
    Ok(ApiJson(DeliveryDetail {
        delivery: view(delivery),
        attempts_log: attempts.into_iter().map(attempt_view).collect(),
    }))
}

/// Send a delivery again now, with a fresh attempt budget and the same
/// `webhook-id`.
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/replay", tag = "deliveries",
    params(("id" = String, Path, description = "Delivery id")),
    responses((status = 200, description = "Due again", body = DeliveryView),
        (status = 404, description = "No such delivery", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<DeliveryView>> {
    if !is_valid_id("dlv", &id) {
        return Err(delivery_not_found(&id));
    }
    let not_found = |e| match e {
        StoreError::NotFound => delivery_not_found(&id),
        e => e.into(),
    };
    let current = state.store.get_delivery(&id).await.map_err(not_found)?;
    let endpoint = load_endpoint(&state, &current.endpoint_id).await?;
    if !endpoint.enabled {
        return Err(ApiError::Conflict {
            code: "endpoint_disabled".into(),
            message: "the endpoint is disabled; enable it first (PATCH enabled: true)".into(),
        });
    }
    state
        .store
        .replay_delivery(&id, now_ms())
        .await
        .map_err(not_found)?;
    state.outbox.wake_dispatcher();
    let delivery = state.store.get_delivery(&id).await.map_err(not_found)?;
    Ok(ApiJson(view(delivery)))
}

/// Resend every delivery of this endpoint that failed since a time.
#[utoipa::path(post, path = "/api/v1/endpoints/{id}/recover", tag = "deliveries",
    params(("id" = String, Path, description = "Endpoint id"), RecoverParams),
    responses((status = 200, description = "How many were made due", body = Recovered),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 422, description = "Invalid time", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn recover(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
    Query(p): Query<RecoverParams>,
) -> ApiResult<ApiJson<Recovered>> {
    let endpoint = load_endpoint(&state, &id).await?;
    if !endpoint.enabled {
        return Err(ApiError::Conflict {
            code: "endpoint_disabled".into(),
            message: "the endpoint is disabled; enable it first (PATCH enabled: true)".into(),
        });
    }
    let since = parse_time("since", &p.since)?;
    let recovered = state.store.recover_endpoint(&id, since, now_ms()).await?;
    state.outbox.wake_dispatcher();
    Ok(ApiJson(Recovered { recovered }))
}

/// Send an `endpoint.test` event to this endpoint only (5 per minute).
#[utoipa::path(post, path = "/api/v1/endpoints/{id}/test", tag = "deliveries",
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 202, description = "Queued", body = TestSent),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = ErrorBody),
        (status = 429, description = "More than 5 tests a minute", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<(axum::http::StatusCode, ApiJson<TestSent>)> {
    let endpoint = load_endpoint(&state, &id).await?;
    if !endpoint.enabled {
        return Err(ApiError::Conflict {
            code: "endpoint_disabled".into(),
            message: "the endpoint is disabled; enable it first (PATCH enabled: true)".into(),
        });
    }
    let decision = state
        .action_limiter
        .check(&format!("endpoint-test:{id}"), TESTS_PER_MINUTE)
        .await;
    if !decision.allowed {
        return Err(ApiError::RateLimited {
            retry_after_secs: decision.retry_after,
        });
    }
    let event = Outbox::event(
        "endpoint.test",
        serde_json::json!({ "endpoint_id": id, "message": "This is a test event from tradehook." }),
    );
    let seq = state.store.publish_event_to(&event, &[id.as_str()]).await?;
    state.outbox.committed(seq);
    Ok((
        axum::http::StatusCode::ACCEPTED,
        ApiJson(TestSent { event_id: event.id }),
    ))
}
