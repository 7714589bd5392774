//! Alert rules (`/api/v1/rules`): create, list, read, change and delete.
//!
//! A rule's `config` is validated strictly by the rules crate; every
//! refusal names the field (`config.period`, `frequency`, ...). Changes are
//! written to the database and the local evaluator is woken at once;
//! evaluators of other replicas pick them up within
//! `rules.poll_interval_ms`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use tradehook_core::event::rfc3339_ms;
use tradehook_core::ids::{is_valid_id, new_id};
use tradehook_core::time::now_ms;
use tradehook_core::webhook::signing::WebhookSecret;
use tradehook_rules::{Frequency, RuleConfig, RuleType};
use tradehook_store::{EndpointRecord, NewRule, RuleFilter, RulePatch, RuleRecord, StoreError};
use utoipa::{IntoParams, ToSchema};

use crate::api::deliveries::parse_time;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::ApiJson;
use crate::state::AppState;

/// The longest cooldown: 30 days.
const MAX_COOLDOWN_SECS: u64 = 30 * 86_400;

fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A new rule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "BTC breakout", "symbol": "BTC", "rule_type": "price_threshold",
    "config": {"operator": "crossing_up", "threshold": 100000},
    "frequency": "once_per_bar", "cooldown_seconds": 0, "enabled": true
}))]
pub struct CreateRule {
    /// A name shown in alerts (1–200 characters).
    pub name: String,
    /// A followed symbol, e.g. `BTC`.
    pub symbol: String,
    /// `price_threshold`, `percent_move`, `candle_close`, `macd_cross`,
    /// `rsi`, `bollinger_bands`, `channel` or `price_alert`.
    pub rule_type: String,
    /// The type's settings; see the rule types in the README.
    #[schema(value_type = Object)]
    pub config: Value,
    /// `once`, `once_per_bar` (default), `once_per_bar_close`,
    /// `once_per_minute` or `every_time`.
    pub frequency: Option<String>,
    /// Minimum seconds between two alerts of this rule (default 0).
    pub cooldown_seconds: Option<u64>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// When the rule stops (RFC 3339 or Unix ms); an `alert.expired`
    /// event is published then.
    pub expires_at: Option<String>,
    /// A Discord webhook that gets this rule's alerts.
    pub discord_webhook_url: Option<String>,
    /// A URL that gets this rule's alerts as signed Standard Webhooks.
    pub generic_webhook_url: Option<String>,
}

fn yes() -> bool {
    true
}

/// A partial change; absent fields are kept, `null` clears optional ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct UpdateRule {
    pub name: Option<String>,
    pub symbol: Option<String>,
    /// A whole new config for the rule's type.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    pub frequency: Option<String>,
    pub cooldown_seconds: Option<u64>,
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub discord_webhook_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub generic_webhook_url: Option<Option<String>>,
}

/// A rule as shown.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "rul_0192f5c2f708b192d34e5f6071829304", "name": "BTC breakout", "symbol": "BTC",
    "rule_type": "price_threshold", "config": {"operator": "crossing_up", "threshold": 100000.0},
    "frequency": "once_per_bar", "cooldown_seconds": 0, "enabled": true, "status": "active",
    "expires_at": null, "discord_webhook_url": null, "generic_webhook_url": null,
    "last_fired_at": null, "created_at": "2026-11-23T01:16:22.788Z",
    "updated_at": "2026-11-23T01:16:22.788Z"
}))]
pub struct RuleView {
    pub id: String,
    pub name: String,
    pub symbol: String,
    pub rule_type: String,
    #[schema(value_type = Object)]
    pub config: Value,
    pub frequency: String,
    pub cooldown_seconds: i64,
    pub enabled: bool,
    /// `active`, `triggered` (a `once` rule that fired), `expired` or
    /// `cancelled`.
    pub status: String,
    pub expires_at: Option<String>,
    pub discord_webhook_url: Option<String>,
    pub generic_webhook_url: Option<String>,
    /// Feed time of the last alert.
    pub last_fired_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A new rule; `generic_webhook_secret` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedRule {
    #[serde(flatten)]
    pub rule: RuleView,
    /// Signs the deliveries to `generic_webhook_url` (`whsec_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generic_webhook_secret: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RuleParams {
    pub symbol: Option<String>,
    pub rule_type: Option<String>,
    pub enabled: Option<bool>,
    /// `active`, `triggered`, `expired` or `cancelled`.
    pub status: Option<String>,
    /// The previous page's `next`.
    pub after: Option<String>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RulePage {
    pub data: Vec<RuleView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

pub(crate) fn rule_view(r: &RuleRecord) -> RuleView {
    RuleView {
        id: r.id.clone(),
        name: r.name.clone(),
        symbol: r.symbol.clone(),
        rule_type: r.rule_type.clone(),
        config: r.config.clone(),
        frequency: r.frequency.clone(),
        cooldown_seconds: r.cooldown_seconds,
        enabled: r.enabled,
        status: r.status.clone(),
        expires_at: r.expires_at.map(rfc3339_ms),
        discord_webhook_url: r.discord_webhook_url.clone(),
        generic_webhook_url: r.generic_webhook_url.clone(),
        last_fired_at: r.last_fired_at.map(rfc3339_ms),
        created_at: rfc3339_ms(r.created_at),
        updated_at: rfc3339_ms(r.updated_at),
    }
}

fn rule_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no rule with id `{id}`"))
}

pub(crate) async fn load_rule(state: &AppState, id: &str) -> ApiResult<RuleRecord> {
    if !is_valid_id("rul", id) {
        return Err(rule_not_found(id));
    }
    state.store.get_rule(id).await.map_err(|e| match e {
        StoreError::NotFound => rule_not_found(id),
        e => e.into(),
    })
}

fn field(e: tradehook_rules::FieldError) -> ApiError {
    ApiError::validation(e.path, e.message)
}

/// Checks the name, symbol, type and config; the answer is the parsed
/// config in canonical form.
pub(crate) async fn check_rule(
    state: &AppState,
    name: &str,
    symbol: &str,
    rule_type: &str,
    config: &Value,
) -> ApiResult<RuleConfig> {
    let chars = name.trim().chars().count();
    if chars == 0 || chars > 200 {
        return Err(ApiError::validation("name", "1 to 200 characters"));
    }
    let parsed = RuleConfig::parse(rule_type, config).map_err(field)?;
    if let Some(interval) = parsed.interval() {
        let tracked = state
            .config
            .market
            .interval_list()
            .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
        if !tracked.contains(&interval) {
            let list: Vec<&str> = tracked.iter().map(|i| i.as_str()).collect();
            return Err(ApiError::validation(
                "config.interval",
                format!(
                    "{interval} candles are not kept; market.intervals is {}",
                    list.join(",")
                ),
            ));
        }
    }
    check_symbol(state, symbol).await?;
    Ok(parsed)
}

pub(crate) async fn check_symbol(state: &AppState, symbol: &str) -> ApiResult<()> {
    if symbol.is_empty() || symbol.len() > 40 || !state.market.knows(symbol).await {
        return Err(ApiError::Unprocessable {
            code: "symbol_not_found",
            path: "symbol".into(),
            message: format!(
                "`{symbol}` is not a followed symbol (market.symbols) nor in the exchange's universe"
            ),
        });
    }
    Ok(())
}

fn check_frequency(f: &str) -> ApiResult<Frequency> {
    Frequency::parse(f).map_err(field)
}

fn check_cooldown(c: u64) -> ApiResult<i64> {
    if c > MAX_COOLDOWN_SECS {
        return Err(ApiError::validation(
            "cooldown_seconds",
            format!("at most {MAX_COOLDOWN_SECS} (30 days)"),
        ));
    }
    Ok(c as i64)
}

fn check_expiry(text: &str, now: i64) -> ApiResult<i64> {
    let at = parse_time("expires_at", text)?;
    if at <= now {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    Ok(at)
}

/// What an endpoint owned by one rule sends where.
pub(crate) struct OwnedTarget<'a> {
    pub kind: &'a str,
    pub url: &'a str,
    /// The event types it subscribes to (only its rule's, by filter).
    pub event_type: &'a str,
    /// `envelope` (the Standard Webhooks body) or `data` (the payload only).
    pub body_format: &'a str,
}

impl<'a> OwnedTarget<'a> {
    /// A rule's inline Discord or webhook target: its alerts, enveloped.
    fn inline(kind: &'a str, url: &'a str) -> Self {
        OwnedTarget {
            kind,
            url,
            event_type: "alert.*",
            body_format: "envelope",
        }
    }
}

/// An endpoint owned by one rule, filtered to that rule's events, deleted
/// with it.
pub(crate) fn owned_endpoint(
    state: &AppState,
    rule_id: &str,
    target: OwnedTarget<'_>,
    secret: &WebhookSecret,
    now: i64,
) -> EndpointRecord {
    let OwnedTarget {
        kind,
        url,
        event_type,
        body_format,
    } = target;
    EndpointRecord {
        id: new_id("ep"),
        kind: kind.to_string(),
        url: url.to_string(),
        description: format!("inline target of rule {rule_id}"),
        event_types: vec![event_type.to_string()],
        filter_symbols: None,
        filter_rule_ids: Some(vec![rule_id.to_string()]),
        filter_bot_ids: None,
        enabled: true,
        disabled_reason: None,
        rate_limit_per_minute: None,
        max_concurrency: if kind == "discord" { 1 } else { 8 },
        headers: Default::default(),
        secret: state.sealer.seal(&secret.expose()),
        previous_secret: None,
        previous_secret_expires_at: None,
        signature_scheme: "standard".to_string(),
        signature_header: None,
        telegram_chat_id: None,
        telegram_bot_token: None,
        retry_schedule: None,
        failing_since: None,
        owner_rule_id: Some(rule_id.to_string()),
        body_format: body_format.to_string(),
        created_at: now,
        updated_at: now,
    }
}

pub(crate) async fn check_target_url(
    state: &AppState,
    path: &str,
    url: &str,
    code: Option<&'static str>,
) -> ApiResult<String> {
    let url = url.trim();
    let refuse = |message: String| match code {
        Some(code) => ApiError::Unprocessable {
            code,
            path: path.to_string(),
            message,
        },
        None => ApiError::validation(path, message),
    };
    if url.len() > 2048 {
        return Err(refuse("at most 2048 characters".into()));
    }
    state
        .client
        .check_url(url)
        .await
        .map_err(|e| refuse(e.message))?;
    Ok(url.to_string())
}

/// Create a rule. It starts evaluating within a second; indicator rules
/// first warm up from stored candles.
#[utoipa::path(post, path = "/api/v1/rules", tag = "rules",
    request_body = CreateRule,
    responses(
        (status = 201, description = "Created", body = CreatedRule),
        (status = 422, description = "Invalid field (named in details)", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _caller: Identity,
    ApiJson(body): ApiJson<CreateRule>,
) -> ApiResult<(StatusCode, ApiJson<CreatedRule>)> {
    let now = now_ms();
    let config = check_rule(
        &state,
        &body.name,
        &body.symbol,
        &body.rule_type,
        &body.config,
    )
    .await?;
    let frequency = match &body.frequency {
        Some(f) => check_frequency(f)?,
        None if config.rule_type() == RuleType::PriceAlert => Frequency::Once,
        None => Frequency::OncePerBar,
    };
    let cooldown = check_cooldown(body.cooldown_seconds.unwrap_or(0))?;
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|t| check_expiry(t, now))
        .transpose()?;
    let discord = match &body.discord_webhook_url {
        Some(u) => Some(check_target_url(&state, "discord_webhook_url", u, None).await?),
        None => None,
    };
    let generic = match &body.generic_webhook_url {
        Some(u) => Some(check_target_url(&state, "generic_webhook_url", u, None).await?),
        None => None,
    };
    let id = new_id("rul");
    let secret = generic.as_ref().map(|_| WebhookSecret::generate());
    let mut owned = Vec::new();
    if let Some(url) = &discord {
        let s = WebhookSecret::generate();
        owned.push(owned_endpoint(
            &state,
            &id,
            OwnedTarget::inline("discord", url),
            &s,
            now,
        ));
    }
    if let (Some(url), Some(s)) = (&generic, &secret) {
        owned.push(owned_endpoint(
            &state,
            &id,
            OwnedTarget::inline("webhook", url),
            s,
            now,
        ));
    }
    let record = state
        .store
        .insert_rule(
            &NewRule {
                id: id.clone(),
                name: body.name.trim().to_string(),
                symbol: body.symbol,
                rule_type: config.rule_type().as_str().to_string(),
                config: config.to_json(),
                frequency: frequency.as_str().to_string(),
                cooldown_seconds: cooldown,
                enabled: body.enabled,
                expires_at,
                discord_webhook_url: discord,
                generic_webhook_url: generic,
                created_at: now,
            },
            &owned,
        )
        .await?;
    state.rules.changed();
    tracing::info!(rule = %record.id, rule_type = %record.rule_type, symbol = %record.symbol, "rule created");
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedRule {
            rule: rule_view(&record),
            generic_webhook_secret: secret.map(|s| s.expose()),
        }),
    ))
}

/// List rules, oldest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", params(RuleParams),
    responses((status = 200, description = "A page of rules", body = RulePage),
        (status = 422, description = "Invalid filter", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<RuleParams>,
) -> ApiResult<ApiJson<RulePage>> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 500"));
    }
    if let Some(t) = &p.rule_type {
        RuleType::parse(t).map_err(field)?;
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
            rule_type: p.rule_type,
            enabled: p.enabled,
            status: p.status,
            after: p.after,
            limit: limit + 1,
        })
        .await?;
    let next = crate::api::split_page(&mut rows, limit, |r| &r.id);
    Ok(ApiJson(RulePage {
        data: rows.iter().map(rule_view).collect(),
        next,
    }))
}

/// One rule.
#[utoipa::path(get, path = "/api/v1/rules/{id}", tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, description = "The rule", body = RuleView),
        (status = 404, description = "No such rule", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<RuleView>> {
    Ok(ApiJson(rule_view(&load_rule(&state, &id).await?)))
}

/// Change a rule, including `enabled`. A changed config, symbol or
/// frequency re-arms it as if new.
#[utoipa::path(patch, path = "/api/v1/rules/{id}", tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    request_body = UpdateRule,
    responses((status = 200, description = "The changed rule", body = RuleView),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateRule>,
) -> ApiResult<ApiJson<RuleView>> {
    let now = now_ms();
    let current = load_rule(&state, &id).await?;
    let name = body.name.clone().unwrap_or_else(|| current.name.clone());
    let symbol = body
        .symbol
        .clone()
        .unwrap_or_else(|| current.symbol.clone());
    let config_in = body
        .config
        .clone()
        .unwrap_or_else(|| current.config.clone());
    let config = if body.name.is_some() || body.symbol.is_some() || body.config.is_some() {
        Some(check_rule(&state, &name, &symbol, &current.rule_type, &config_in).await?)
    } else {
        None
    };
    let frequency = body.frequency.as_deref().map(check_frequency).transpose()?;
    let cooldown = body.cooldown_seconds.map(check_cooldown).transpose()?;
    let expires_at = match &body.expires_at {
        Some(Some(t)) => Some(Some(check_expiry(t, now)?)),
        Some(None) => Some(None),
        None => None,
    };
    let mut replace = Vec::new();
    let mut drop_kinds = Vec::new();
    if let Some(d) = &body.discord_webhook_url {
        drop_kinds.push("discord");
        if let Some(u) = d {
            let url = check_target_url(&state, "discord_webhook_url", u, None).await?;
            let s = WebhookSecret::generate();
            replace.push(owned_endpoint(
                &state,
                &id,
                OwnedTarget::inline("discord", &url),
                &s,
                now,
            ));
        }
    }
    if let Some(g) = &body.generic_webhook_url {
        drop_kinds.push("webhook");
        if let Some(u) = g {
            let url = check_target_url(&state, "generic_webhook_url", u, None).await?;
            // The secret of the replaced target carries over, so the
            // receiver keeps verifying with the one it has.
            let secret = state
                .store
                .owned_endpoints(&id)
                .await?
                .into_iter()
                .find(|e| e.kind == "webhook")
                .and_then(|e| state.sealer.open(&e.secret).ok())
                .and_then(|s| WebhookSecret::parse(&s).ok())
                .unwrap_or_else(WebhookSecret::generate);
            replace.push(owned_endpoint(
                &state,
                &id,
                OwnedTarget::inline("webhook", &url),
                &secret,
                now,
            ));
        }
    }
    let patch = RulePatch {
        name: body.name.map(|n| n.trim().to_string()),
        symbol: body.symbol,
        config: config
            .filter(|_| body.config.is_some())
            .map(|c| c.to_json()),
        frequency: frequency.map(|f| f.as_str().to_string()),
        cooldown_seconds: cooldown,
        enabled: body.enabled,
        expires_at,
        discord_webhook_url: body
            .discord_webhook_url
            .map(|o| o.map(|u| u.trim().to_string())),
        generic_webhook_url: body
            .generic_webhook_url
            .map(|o| o.map(|u| u.trim().to_string())),
        ..Default::default()
    };
    let record = state
        .store
        .update_rule_with_targets(&id, &patch, &drop_kinds, &replace, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => rule_not_found(&id),
            e => e.into(),
        })?;
    state.rules.changed();
    Ok(ApiJson(rule_view(&record)))
}

/// Delete a rule. Its alerts stay; its inline targets go.
#[utoipa::path(delete, path = "/api/v1/rules/{id}", tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such rule", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    load_rule(&state, &id).await?;
    state.store.delete_rule(&id).await.map_err(|e| match e {
        StoreError::NotFound => rule_not_found(&id),
        e => e.into(),
    })?;
    state.rules.changed();
    tracing::info!(rule = %id, "rule deleted");
    Ok(StatusCode::NO_CONTENT)
}
