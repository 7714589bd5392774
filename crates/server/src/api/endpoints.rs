//! Endpoints: where events are delivered (`/api/v1/endpoints`).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tradehook_core::event::rfc3339_ms;
use tradehook_core::ids::{is_valid_id, new_id};
use tradehook_core::time::now_ms;
use tradehook_core::webhook::pattern::EventPattern;
use tradehook_core::webhook::retry::RetrySchedule;
use tradehook_core::webhook::signing::WebhookSecret;
use tradehook_delivery::TargetKind;
use tradehook_store::{EndpointRecord, StoreError};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::{ApiJson, double_option};
use crate::state::AppState;

const TELEGRAM_API: &str = "https://api.telegram.org";
/// Headers an endpoint may not set: they belong to the protocol.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];
const MAX_HEADERS: usize = 20;

/// A request to create an endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Target URL (https unless the operator allows http). For `telegram`,
    /// the Bot API base (default `https://api.telegram.org`); for `log`,
    /// optional.
    #[schema(example = "https://example.com/hooks/tradehook")]
    pub url: Option<String>,
    /// `webhook` (default), `discord`, `slack`, `telegram` or `log`.
    #[schema(example = "webhook")]
    pub kind: Option<String>,
    /// Event type patterns: `alert.*`, `order.filled`, `*`.
    #[schema(example = json!(["alert.*", "order.filled"]))]
    pub event_types: Vec<String>,
    /// Only events whose `data.symbol` is one of these.
    pub filter_symbols: Option<Vec<String>>,
    pub filter_rule_ids: Option<Vec<String>>,
    pub filter_bot_ids: Option<Vec<String>>,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Deliveries per minute to this endpoint (enforced).
    pub rate_limit_per_minute: Option<i64>,
    /// Sends in flight at once to this endpoint (default 8).
    pub max_concurrency: Option<i64>,
    /// Extra request headers (values are never shown again in full).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `standard` (Standard Webhooks, default) or `hmac_sha256_hex`.
    pub signature_scheme: Option<String>,
    /// Header for `hmac_sha256_hex` (default `X-Signature`).
    pub signature_header: Option<String>,
    pub telegram_chat_id: Option<String>,
    /// Telegram bot token (stored sealed, never shown).
    pub telegram_bot_token: Option<String>,
    /// Delays before each attempt, e.g. `["0s","5s","30s"]`.
    pub retry_schedule: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// A partial update; absent fields are kept, `null` clears optional ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub filter_symbols: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub filter_rule_ids: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub filter_bot_ids: Option<Option<Vec<String>>>,
    pub description: Option<String>,
    /// `true` re-enables a disabled endpoint and clears its failure clock.
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub rate_limit_per_minute: Option<Option<i64>>,
    pub max_concurrency: Option<i64>,
    pub headers: Option<BTreeMap<String, String>>,
    pub signature_scheme: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub signature_header: Option<Option<String>>,
    pub telegram_chat_id: Option<String>,
    pub telegram_bot_token: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub retry_schedule: Option<Option<Vec<String>>>,
}

/// An endpoint as shown: never its secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    #[schema(example = "ep_0192f5c2a1b07c3d8e9f001122334455")]
    pub id: String,
    pub kind: String,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub filter_symbols: Option<Vec<String>>,
    pub filter_rule_ids: Option<Vec<String>>,
    pub filter_bot_ids: Option<Vec<String>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub rate_limit_per_minute: Option<i64>,
    pub max_concurrency: i64,
    /// Header names; values are hidden.
    pub headers: Vec<String>,
    /// The start of the signing secret (`whsec_AbCd…`).
    pub secret_preview: String,
    /// Until when the previous secret still signs (after a rotation).
    pub previous_secret_expires_at: Option<String>,
    pub signature_scheme: String,
    pub signature_header: Option<String>,
    pub telegram_chat_id: Option<String>,
    pub retry_schedule: Option<Vec<String>>,
    /// Since when deliveries have failed without a success.
    pub failing_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A new endpoint: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// The signing secret (`whsec_…`). Store it now.
    pub secret: String,
}

/// A rotated secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new signing secret. The old one keeps signing until
    /// `previous_secret_expires_at`; both signatures are sent meanwhile.
    pub secret: String,
    pub previous_secret_expires_at: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps signing, in seconds (default from
    /// `delivery.secret_grace_secs`, at most 7 days).
    pub grace_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// Return endpoints after this id (the previous page's `next`).
    pub after: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointPage {
    pub data: Vec<EndpointView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

impl AppState {
    pub(crate) fn endpoint_view(&self, r: &EndpointRecord) -> EndpointView {
        let preview = self
            .sealer
            .open(&r.secret)
            .ok()
            .and_then(|s| WebhookSecret::parse(&s).ok())
            .map(|s| s.preview())
            .unwrap_or_else(|| "whsec_…".to_string());
        EndpointView {
            id: r.id.clone(),
            kind: r.kind.clone(),
            url: r.url.clone(),
            description: r.description.clone(),
            event_types: r.event_types.clone(),
            filter_symbols: r.filter_symbols.clone(),
            filter_rule_ids: r.filter_rule_ids.clone(),
            filter_bot_ids: r.filter_bot_ids.clone(),
            enabled: r.enabled,
            disabled_reason: r.disabled_reason.clone(),
            rate_limit_per_minute: r.rate_limit_per_minute,
            max_concurrency: r.max_concurrency,
            headers: r.headers.keys().cloned().collect(),
            secret_preview: preview,
            previous_secret_expires_at: r.previous_secret_expires_at.map(rfc3339_ms),
            signature_scheme: r.signature_scheme.clone(),
            signature_header: r.signature_header.clone(),
            telegram_chat_id: r.telegram_chat_id.clone(),
            retry_schedule: r.retry_schedule.clone(),
            failing_since: r.failing_since.map(rfc3339_ms),
            created_at: rfc3339_ms(r.created_at),
            updated_at: rfc3339_ms(r.updated_at),
        }
    }

    /// Checks every field of a record about to be stored; `fields` says
    /// which request fields were given, to name the right path.
    async fn validate_endpoint(
        &self,
        r: &EndpointRecord,
        telegram_token: Option<&str>,
    ) -> ApiResult<()> {
        let kind = TargetKind::parse(&r.kind).ok_or_else(|| {
            ApiError::validation("kind", "must be webhook, discord, slack, telegram or log")
        })?;
        if r.event_types.is_empty() {
            return Err(ApiError::validation(
                "event_types",
                "subscribe to at least one pattern, e.g. [\"*\"]",
            ));
        }
        for (i, p) in r.event_types.iter().enumerate() {
            EventPattern::parse(p)
                .map_err(|e| ApiError::validation(format!("event_types[{i}]"), e.to_string()))?;
        }
        for (field, list) in [
            ("filter_symbols", &r.filter_symbols),
            ("filter_rule_ids", &r.filter_rule_ids),
            ("filter_bot_ids", &r.filter_bot_ids),
        ] {
            if let Some(list) = list
                && (list.is_empty()
                    || list.len() > 100
                    || list.iter().any(|v| v.trim().is_empty() || v.len() > 100))
            {
                return Err(ApiError::validation(
                    field,
                    "1 to 100 non-empty values of at most 100 characters",
                ));
            }
        }
        if r.description.chars().count() > 500 {
            return Err(ApiError::validation(
                "description",
                "at most 500 characters",
            ));
        }
        if let Some(n) = r.rate_limit_per_minute
            && !(1..=100_000).contains(&n)
        {
            return Err(ApiError::validation(
                "rate_limit_per_minute",
                format!("1 to 100000, got {n}"),
            ));
        }
        if !(1..=256).contains(&r.max_concurrency) {
            return Err(ApiError::validation(
                "max_concurrency",
                format!("1 to 256, got {}", r.max_concurrency),
            ));
        }
        if r.headers.len() > MAX_HEADERS {
            return Err(ApiError::validation(
                "headers",
                format!("at most {MAX_HEADERS} headers"),
            ));
        }
        for (name, value) in &r.headers {
            let path = format!("headers.{name}");
            let lower = name.to_ascii_lowercase();
            if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ApiError::validation(path, "not a valid header name"));
            }
            if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
                return Err(ApiError::validation(
                    path,
                    "this header is set by tradehook and cannot be overridden",
                ));
            }
            if axum::http::HeaderValue::from_str(value).is_err() || value.len() > 4096 {
                return Err(ApiError::validation(
                    path,
                    "not a valid header value (visible ASCII, at most 4096 bytes)",
                ));
            }
        }
        match r.signature_scheme.as_str() {
            "standard" => {}
            "hmac_sha256_hex" => {
                if let Some(h) = &r.signature_header {
                    let lower = h.to_ascii_lowercase();
                    if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()
                        || RESERVED_HEADERS.contains(&lower.as_str())
                    {
                        return Err(ApiError::validation(
                            "signature_header",
                            "not a usable header name",
                        ));
                    }
                }
            }
            _ => {
                return Err(ApiError::validation(
                    "signature_scheme",
                    "must be standard or hmac_sha256_hex",
                ));
            }
        }
        if let Some(s) = &r.retry_schedule {
            RetrySchedule::parse(s)
                .map_err(|e| ApiError::validation("retry_schedule", e.to_string()))?;
        }
        if kind == TargetKind::Log {
            return Ok(());
        }
        if r.url.len() > 2048 {
            return Err(ApiError::validation("url", "at most 2048 characters"));
        }
        self.client
            .check_url(&r.url)
            .await
            .map_err(|e| ApiError::validation("url", e.message))?;
        if r.kind == "telegram" {
            let chat = r.telegram_chat_id.as_deref().unwrap_or("");
            let chat_ok = chat.parse::<i64>().is_ok()
                || (chat.starts_with('@')
                    && chat.len() > 1
                    && chat[1..]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_'));
            if !chat_ok {
                return Err(ApiError::validation(
                    "telegram_chat_id",
                    "a numeric chat id or @channelname",
                ));
            }
            let token_ok = telegram_token.is_some_and(|t| {
                t.split_once(':').is_some_and(|(id, rest)| {
                    id.parse::<u64>().is_ok()
                        && !rest.is_empty()
                        && rest
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                })
            });
            // A token given must be well formed; without one, a stored one
            // must exist.
            if (telegram_token.is_some() && !token_ok)
                || (telegram_token.is_none() && r.telegram_bot_token.is_none())
            {
                return Err(ApiError::validation(
                    "telegram_bot_token",
                    "a bot token like 123456:ABC-DEF…",
                ));
            }
        }
        Ok(())
    }
}

fn endpoint_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no endpoint with id `{id}`"))
}

pub(crate) async fn load_endpoint(state: &AppState, id: &str) -> ApiResult<EndpointRecord> {
    if !is_valid_id("ep", id) {
        return Err(endpoint_not_found(id));
    }
    state.store.get_endpoint(id).await.map_err(|e| match e {
        StoreError::NotFound => endpoint_not_found(id),
        e => e.into(),
    })
}

/// Create an endpoint. The answer is the only time its secret is shown.
#[utoipa::path(post, path = "/api/v1/endpoints", tag = "endpoints",
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Created", body = CreatedEndpoint),
        (status = 422, description = "Invalid field, including a refused URL", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _caller: Identity,
    ApiJson(body): ApiJson<CreateEndpoint>,
) -> ApiResult<(StatusCode, ApiJson<CreatedEndpoint>)> {
    let now = now_ms();
    let kind = body.kind.unwrap_or_else(|| "webhook".to_string());
    let url = match (kind.as_str(), body.url) {
        ("telegram", None) => TELEGRAM_API.to_string(),
        ("log", None) => "log://".to_string(),
        (_, Some(url)) => url.trim().to_string(),
        (_, None) => return Err(ApiError::validation("url", "required for this kind")),
    };
    // Chat services are paced by their answers and show messages in
    // arrival order, so they get one send at a time by default.
    let default_concurrency = if matches!(kind.as_str(), "discord" | "slack" | "telegram") {
        1
    } else {
        8
    };
    let secret = WebhookSecret::generate();
    let record = EndpointRecord {
        id: new_id("ep"),
        kind,
        url,
        description: body.description,
        event_types: body.event_types,
        filter_symbols: body.filter_symbols,
        filter_rule_ids: body.filter_rule_ids,
        filter_bot_ids: body.filter_bot_ids,
        enabled: body.enabled,
        disabled_reason: None,
        rate_limit_per_minute: body.rate_limit_per_minute,
        max_concurrency: body.max_concurrency.unwrap_or(default_concurrency),
        headers: body.headers,
        secret: state.sealer.seal(&secret.expose()),
        previous_secret: None,
        previous_secret_expires_at: None,
        signature_scheme: body
            .signature_scheme
            .unwrap_or_else(|| "standard".to_string()),
        signature_header: body.signature_header,
        telegram_chat_id: body.telegram_chat_id,
        telegram_bot_token: None,
        retry_schedule: body.retry_schedule,
        failing_since: None,
        created_at: now,
        updated_at: now,
        owner_rule_id: None,
        body_format: "envelope".into(),
    };
    state
        .validate_endpoint(&record, body.telegram_bot_token.as_deref())
        .await?;
    let record = EndpointRecord {
        telegram_bot_token: body.telegram_bot_token.map(|t| state.sealer.seal(&t)),
        ..record
    };
    state.store.insert_endpoint(&record).await?;
    tracing::info!(endpoint = %record.id, kind = %record.kind, "endpoint created");
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedEndpoint {
            endpoint: state.endpoint_view(&record),
            secret: secret.expose(),
        }),
    ))
}

/// List endpoints, oldest first, with cursor pagination.
#[utoipa::path(get, path = "/api/v1/endpoints", tag = "endpoints", params(ListParams),
    responses((status = 200, description = "A page of endpoints", body = EndpointPage)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<ListParams>,
) -> ApiResult<ApiJson<EndpointPage>> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 200"));
    }
    let mut rows = state
        .store
        .list_endpoints(p.after.as_deref(), limit + 1)
        .await?;
    let next = crate::api::split_page(&mut rows, limit, |r| &r.id);
    Ok(ApiJson(EndpointPage {
        data: rows.iter().map(|r| state.endpoint_view(r)).collect(),
        next,
    }))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<EndpointView>> {
    let record = load_endpoint(&state, &id).await?;
    Ok(ApiJson(state.endpoint_view(&record)))
}

/// Change an endpoint. `enabled: true` re-enables a disabled one.
#[utoipa::path(patch, path = "/api/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = UpdateEndpoint,
    responses((status = 200, description = "Updated", body = EndpointView),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<UpdateEndpoint>,
) -> ApiResult<ApiJson<EndpointView>> {
    let mut r = load_endpoint(&state, &id).await?;
    if let Some(url) = patch.url {
        r.url = url.trim().to_string();
    }
    if let Some(v) = patch.event_types {
        r.event_types = v;
    }
    if let Some(v) = patch.filter_symbols {
        r.filter_symbols = v;
    }
    if let Some(v) = patch.filter_rule_ids {
        r.filter_rule_ids = v;
    }
    if let Some(v) = patch.filter_bot_ids {
        r.filter_bot_ids = v;
    }
    if let Some(v) = patch.description {
        r.description = v;
    }
    if let Some(enabled) = patch.enabled {
        if enabled && !r.enabled {
            r.disabled_reason = None;
            r.failing_since = None;
        }
        if !enabled && r.enabled {
            r.disabled_reason = Some("disabled by a user".to_string());
        }
        r.enabled = enabled;
    }
    if let Some(v) = patch.rate_limit_per_minute {
        r.rate_limit_per_minute = v;
    }
    if let Some(v) = patch.max_concurrency {
        r.max_concurrency = v;
    }
    if let Some(v) = patch.headers {
        r.headers = v;
    }
    if let Some(v) = patch.signature_scheme {
        r.signature_scheme = v;
    }
    if let Some(v) = patch.signature_header {
        r.signature_header = v;
    }
    if let Some(v) = patch.telegram_chat_id {
        r.telegram_chat_id = Some(v);
    }
    if let Some(v) = patch.retry_schedule {
        r.retry_schedule = v;
    }
    state
        .validate_endpoint(&r, patch.telegram_bot_token.as_deref())
        .await?;
    if let Some(token) = patch.telegram_bot_token {
        r.telegram_bot_token = Some(state.sealer.seal(&token));
    }
    r.updated_at = now_ms().max(r.updated_at + 1);
    state.store.update_endpoint(&r).await.map_err(|e| match e {
        StoreError::NotFound => endpoint_not_found(&id),
        e => e.into(),
    })?;
    if r.enabled {
        state.outbox.wake_dispatcher();
    }
    Ok(ApiJson(state.endpoint_view(&r)))
}

/// Delete an endpoint and its deliveries.
#[utoipa::path(delete, path = "/api/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    load_endpoint(&state, &id).await?;
    state
        .store
        .delete_endpoint(&id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => endpoint_not_found(&id),
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a new signing secret. The old one keeps signing during a grace
/// period (both signatures are sent, space-separated).
#[utoipa::path(post, path = "/api/v1/endpoints/{id}/rotate-secret", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body(content = RotateSecret, description = "Optional grace period"),
    responses((status = 200, description = "The new secret, shown once", body = RotatedSecret),
        (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<ApiJson<RotatedSecret>> {
    // The body is optional: an empty one means the default grace period.
    let request: RotateSecret = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecret::default()
    } else {
        crate::http::json::parse_json(&body)?
    };
    let grace = request
        .grace_seconds
        .unwrap_or(state.config.delivery.secret_grace_secs);
    if grace > 7 * 86_400 {
        return Err(ApiError::validation(
            "grace_seconds",
            "at most 604800 (7 days)",
        ));
    }
    let mut r = load_endpoint(&state, &id).await?;
    let now = now_ms();
    let secret = WebhookSecret::generate();
    r.previous_secret = Some(std::mem::replace(
        &mut r.secret,
        state.sealer.seal(&secret.expose()),
    ));
    r.previous_secret_expires_at = Some(now + grace as i64 * 1000);
    r.updated_at = now.max(r.updated_at + 1);
    state.store.update_endpoint(&r).await?;
    tracing::info!(endpoint = %id, grace_secs = grace, "endpoint secret rotated");
    Ok(ApiJson(RotatedSecret {
        secret: secret.expose(),
        previous_secret_expires_at: rfc3339_ms(now + grace as i64 * 1000),
    }))
}
