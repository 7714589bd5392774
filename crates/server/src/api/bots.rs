//! Bots (`/api/v1/bots`): a broker account, the symbols it may trade and
//! its settings, reached by TradingView at `/hooks/tradingview/{token}`.
//! The token is 32 random bytes; only its SHA-256 is used for lookup (the
//! token itself is kept sealed so the URL can be shown again).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tradehook_core::event::rfc3339_ms;
use tradehook_core::ids::{is_valid_id, new_id};
use tradehook_core::signals::{AlertTemplate, alert_templates};
use tradehook_core::time::now_ms;
use tradehook_delivery::Outbox;
use tradehook_store::{BotFilter, BotPatch, BotRecord, NewBot, StoreError};
use utoipa::{IntoParams, ToSchema};

use crate::api::broker_accounts::load_account;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::{ApiJson, double_option};
use crate::state::AppState;

/// A bot's trading settings; every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BotSettings {
    /// `pct_equity` (default), `signal_contracts`, `notional` or `fixed_qty`.
    pub sizing_mode: String,
    /// Share of equity per entry (`pct_equity`).
    pub base_order_pct: f64,
    /// Dollars per entry (`notional`).
    pub notional: Option<f64>,
    /// Quantity per entry (`fixed_qty`); fractional allowed.
    pub fixed_qty: Option<f64>,
    pub use_limit_orders: bool,
    pub use_strategy_order_price: bool,
    pub limit_offset_ticks: u32,
    pub attach_sl_tp: bool,
    pub sl_pct: f64,
    pub tp_pct: f64,
    /// Wait (up to 5 s) for the average fill before placing SL/TP.
    pub use_avg_fill_for_sl_tp: bool,
    pub enable_global_sl_tp: bool,
    pub global_sl_pct: f64,
    pub global_tp_pct: f64,
    /// Liquidate on the take-profit side of the circuit breaker too.
    pub global_tp_liquidate: bool,
    /// Drop signals whose `time` is older than this many seconds.
    pub max_lag_secs: Option<u64>,
}

impl Default for BotSettings {
    fn default() -> Self {
        BotSettings {
            sizing_mode: "pct_equity".into(),
            base_order_pct: 0.02,
            notional: None,
            fixed_qty: None,
            use_limit_orders: false,
            use_strategy_order_price: true,
            limit_offset_ticks: 0,
            attach_sl_tp: false,
            sl_pct: 0.01,
            tp_pct: 0.02,
            use_avg_fill_for_sl_tp: true,
            enable_global_sl_tp: false,
            global_sl_pct: 0.80,
            global_tp_pct: 1.20,
            global_tp_liquidate: false,
            max_lag_secs: None,
        }
    }
}

impl BotSettings {
    /// Reads and checks settings; errors name the field (`settings.sl_pct`).
    pub fn parse(value: &Value) -> ApiResult<BotSettings> {
        let s: BotSettings = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            let field = ["unknown field `"]
                .iter()
                .find_map(|pre| message.strip_prefix(pre))
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string)
                .unwrap_or(path);
            ApiError::validation(format!("settings.{field}"), message)
        })?;
        let bad = |f: &str, m: &str| Err(ApiError::validation(format!("settings.{f}"), m));
        let frac = |v: f64| v.is_finite() && v > 0.0 && v < 1.0;
        match s.sizing_mode.as_str() {
            "pct_equity" | "signal_contracts" => {}
            "notional" if s.notional.is_some_and(|n| n.is_finite() && n > 0.0) => {}
            "notional" => {
                return bad(
                    "notional",
                    "a positive amount, required by sizing_mode notional",
                );
            }
            "fixed_qty" if s.fixed_qty.is_some_and(|n| n.is_finite() && n > 0.0) => {}
            "fixed_qty" => {
                return bad(
                    "fixed_qty",
                    "a positive quantity, required by sizing_mode fixed_qty",
                );
            }
            _ => {
                return bad(
                    "sizing_mode",
                    "pct_equity, signal_contracts, notional or fixed_qty",
                );
            }
        }
        if !(s.base_order_pct.is_finite() && s.base_order_pct > 0.0 && s.base_order_pct <= 1.0) {
            return bad(
                "base_order_pct",
                "more than 0 and at most 1 (0.02 = 2 % of equity)",
            );
        }
        if !frac(s.sl_pct) {
            return bad("sl_pct", "between 0 and 1 (0.01 = 1 %)");
        }
        if !(s.tp_pct.is_finite() && s.tp_pct > 0.0 && s.tp_pct <= 10.0) {
            return bad("tp_pct", "more than 0 and at most 10 (0.02 = 2 %)");
        }
        if !frac(s.global_sl_pct) {
            return bad(
                "global_sl_pct",
                "between 0 and 1 (0.80 = stop at 80 % of the base equity)",
            );
        }
        if !(s.global_tp_pct.is_finite() && s.global_tp_pct > 1.0 && s.global_tp_pct <= 100.0) {
            return bad(
                "global_tp_pct",
                "more than 1 (1.20 = take profit at 120 % of the base equity)",
            );
        }
        if s.limit_offset_ticks > 10_000 {
            return bad("limit_offset_ticks", "at most 10000");
        }
        Ok(s)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "trend", "broker_account_id": "bac_0192f5c2a1b07c3d8e9f001122334455", "allowed_symbols": ["BTCUSD"]}))]
pub struct CreateBot {
    pub name: String,
    pub broker_account_id: String,
    /// Symbols this bot may trade (as TradingView's `{{ticker}}` sends them).
    pub allowed_symbols: Vec<String>,
    /// See the settings table in the README; omitted fields take defaults.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// A secret the signal body must carry in `secret`.
    pub body_secret: Option<String>,
    #[serde(default)]
    pub paused: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBot {
    pub name: Option<String>,
    pub broker_account_id: Option<String>,
    pub allowed_symbols: Option<Vec<String>>,
    /// A whole new settings object (omitted fields take defaults). Resets
    /// the circuit breaker's base equity.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub body_secret: Option<Option<String>>,
    /// Pause or resume (emits `bot.paused` / `bot.resumed`).
    pub paused: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotView {
    pub id: String,
    pub name: String,
    pub broker_account_id: String,
    pub allowed_symbols: Vec<String>,
    pub paused: bool,
    pub paused_reason: Option<String>,
    pub settings: BotSettings,
    pub has_body_secret: bool,
    /// The webhook token (keep it private: it places orders).
    pub token: String,
    /// Paste into TradingView's alert "Webhook URL".
    pub webhook_url: String,
    pub base_equity: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotPage {
    pub data: Vec<BotView>,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct BotParams {
    pub broker_account_id: Option<String>,
    pub paused: Option<bool>,
    pub after: Option<String>,
    /// 1–200 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertTemplates {
    pub webhook_url: String,
    pub templates: Vec<TemplateView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub format: String,
    pub name: String,
    /// Paste into the alert's "Message".
    pub message: String,
    pub notes: String,
}

/// A new webhook token and its lookup hash.
pub(crate) fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

pub(crate) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl AppState {
    fn webhook_url(&self, token: &str) -> String {
        let base = if self.config.http.public_url.is_empty() {
            format!("http://{}", self.config.listen)
        } else {
            self.config.http.public_url.clone()
        };
        format!("{}/hooks/tradingview/{token}", base.trim_end_matches('/'))
    }

    fn bot_view(&self, r: &BotRecord) -> BotView {
        let token = self.sealer.open(&r.token_sealed).unwrap_or_default();
        BotView {
            id: r.id.clone(),
            name: r.name.clone(),
            broker_account_id: r.broker_account_id.clone(),
            allowed_symbols: r.allowed_symbols.clone(),
            paused: r.paused,
            paused_reason: r.paused_reason.clone(),
            settings: BotSettings::parse(&r.settings).unwrap_or_default(),
            has_body_secret: r.body_secret_sealed.is_some(),
            webhook_url: self.webhook_url(&token),
            token,
            base_equity: r.base_equity.clone(),
            created_at: rfc3339_ms(r.created_at),
            updated_at: rfc3339_ms(r.updated_at),
        }
    }
}

fn check_symbols(symbols: &[String]) -> ApiResult<Vec<String>> {
    if symbols.is_empty() || symbols.len() > 500 {
        return Err(ApiError::validation("allowed_symbols", "1 to 500 symbols"));
    }
    let mut out = Vec::new();
    for (i, s) in symbols.iter().enumerate() {
        let s = s.trim();
        if s.is_empty() || s.len() > 40 || s.chars().any(char::is_whitespace) {
            return Err(ApiError::validation(
                format!("allowed_symbols[{i}]"),
                "a symbol like BTCUSD or AAPL",
            ));
        }
        if !out.iter().any(|o: &String| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

fn check_secret(secret: &str) -> ApiResult<()> {
    if secret.len() < 8 || secret.len() > 200 {
        return Err(ApiError::validation("body_secret", "8 to 200 characters"));
    }
    Ok(())
}

pub(crate) async fn load_bot(state: &AppState, id: &str) -> ApiResult<BotRecord> {
    let missing = || ApiError::NotFound(format!("no bot with id `{id}`"));
    if !is_valid_id("bot", id) {
        return Err(missing());
    }
    let bot = state.store.get_bot(id).await.map_err(|e| match e {
        StoreError::NotFound => missing(),
        e => e.into(),
    })?;
    if bot.deleted_at.is_some() {
        return Err(missing());
    }
    Ok(bot)
}

/// Publishes `bot.paused` or `bot.resumed`.
pub(crate) async fn announce_pause(
    state: &AppState,
    bot: &BotRecord,
    paused: bool,
    reason: Option<&str>,
) {
    let (kind, mut data) = if paused {
        ("bot.paused", serde_json::json!({"reason": reason}))
    } else {
        ("bot.resumed", serde_json::json!({}))
    };
    data["bot_id"] = bot.id.clone().into();
    data["bot_name"] = bot.name.clone().into();
    if let Err(e) = state.outbox.publish(&Outbox::event(kind, data)).await {
        tracing::error!(error = %e, bot = %bot.id, "cannot publish {kind}");
    }
}

/// Create a bot. The answer includes its webhook URL and token.
#[utoipa::path(post, path = "/api/v1/bots", tag = "trading",
    request_body = CreateBot,
    responses((status = 201, description = "Created", body = BotView),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _caller: Identity,
    ApiJson(body): ApiJson<CreateBot>,
) -> ApiResult<(StatusCode, ApiJson<BotView>)> {
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation("name", "1 to 100 characters"));
    }
    load_account(&state, &body.broker_account_id)
        .await
        .map_err(|_| ApiError::validation("broker_account_id", "no such broker account"))?;
    let symbols = check_symbols(&body.allowed_symbols)?;
    let settings = BotSettings::parse(
        body.settings
            .as_ref()
            .unwrap_or(&Value::Object(Default::default())),
    )?;
    if let Some(s) = &body.body_secret {
        check_secret(s)?;
    }
    let (token, hash) = new_token();
    let record = state
        .store
        .insert_bot(&NewBot {
            id: new_id("bot"),
            name,
            broker_account_id: body.broker_account_id,
            allowed_symbols: symbols,
            paused: body.paused,
            paused_reason: body.paused.then(|| "created paused".to_string()),
            token_hash: hash,
            token_sealed: state.sealer.seal(&token),
            body_secret_sealed: body.body_secret.map(|s| state.sealer.seal(&s)),
            settings: serde_json::to_value(&settings).expect("settings serialise"),
            base_equity: None,
            created_at: now_ms(),
        })
        .await?;
    tracing::info!(bot = %record.id, "bot created");
    Ok((StatusCode::CREATED, ApiJson(state.bot_view(&record))))
}

/// List bots.
#[utoipa::path(get, path = "/api/v1/bots", tag = "trading", params(BotParams),
    responses((status = 200, description = "A page of bots", body = BotPage)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<BotParams>,
) -> ApiResult<ApiJson<BotPage>> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 200"));
    }
    let mut rows = state
        .store
        .list_bots(&BotFilter {
            broker_account_id: p.broker_account_id,
            paused: p.paused,
            include_deleted: false,
            after: p.after,
            limit: limit + 1,
        })
        .await?;
    let next = crate::api::split_page(&mut rows, limit, |r| &r.id);
    Ok(ApiJson(BotPage {
        data: rows.iter().map(|r| state.bot_view(r)).collect(),
        next,
    }))
}

/// One bot.
#[utoipa::path(get, path = "/api/v1/bots/{id}", tag = "trading",
    params(("id" = String, Path, description = "Bot id")),
    responses((status = 200, description = "The bot", body = BotView),
        (status = 404, description = "No such bot", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<BotView>> {
    Ok(ApiJson(state.bot_view(&load_bot(&state, &id).await?)))
}

/// Change a bot; `paused` pauses or resumes it.
#[utoipa::path(patch, path = "/api/v1/bots/{id}", tag = "trading",
    params(("id" = String, Path, description = "Bot id")),
    request_body = UpdateBot,
    responses((status = 200, description = "The changed bot", body = BotView),
        (status = 404, description = "No such bot", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateBot>,
) -> ApiResult<ApiJson<BotView>> {
    let bot = load_bot(&state, &id).await?;
    if let Some(n) = &body.name
        && (n.trim().is_empty() || n.chars().count() > 100)
    {
        return Err(ApiError::validation("name", "1 to 100 characters"));
    }
    if let Some(a) = &body.broker_account_id {
        load_account(&state, a)
            .await
            .map_err(|_| ApiError::validation("broker_account_id", "no such broker account"))?;
    }
    let symbols = body
        .allowed_symbols
        .as_deref()
        .map(check_symbols)
        .transpose()?;
    let settings = body.settings.as_ref().map(BotSettings::parse).transpose()?;
    if let Some(Some(s)) = &body.body_secret {
        check_secret(s)?;
    }
    let patch = BotPatch {
        name: body.name.map(|n| n.trim().to_string()),
        broker_account_id: body.broker_account_id,
        allowed_symbols: symbols,
        body_secret_sealed: body.body_secret.map(|o| o.map(|s| state.sealer.seal(&s))),
        // New settings start the circuit breaker over.
        base_equity: settings.as_ref().map(|_| None),
        settings: settings.map(|s| serde_json::to_value(&s).expect("settings serialise")),
    };
    state.store.update_bot(&id, &patch).await?;
    if let Some(paused) = body.paused
        && paused != bot.paused
    {
        let reason = paused.then_some("paused through the API");
        if state.store.set_bot_paused(&id, paused, reason).await? {
            announce_pause(&state, &bot, paused, reason).await;
        }
    }
    Ok(ApiJson(state.bot_view(&load_bot(&state, &id).await?)))
}

/// Delete a bot; its webhook stops at once.
#[utoipa::path(delete, path = "/api/v1/bots/{id}", tag = "trading",
    params(("id" = String, Path, description = "Bot id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such bot", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    load_bot(&state, &id).await?;
    state.store.delete_bot(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the webhook token; the old URL stops working at once.
#[utoipa::path(post, path = "/api/v1/bots/{id}/rotate-token", tag = "trading",
    params(("id" = String, Path, description = "Bot id")),
    responses((status = 200, description = "The bot with its new token", body = BotView),
        (status = 404, description = "No such bot", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn rotate_token(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<BotView>> {
    load_bot(&state, &id).await?;
    let (token, hash) = new_token();
    state
        .store
        .rotate_bot_token(&id, &hash, &state.sealer.seal(&token))
        .await?;
    Ok(ApiJson(state.bot_view(&load_bot(&state, &id).await?)))
}

/// Ready-to-paste TradingView alert messages for each supported format.
#[utoipa::path(get, path = "/api/v1/bots/{id}/alert-template", tag = "trading",
    params(("id" = String, Path, description = "Bot id")),
    responses((status = 200, description = "Templates", body = AlertTemplates),
        (status = 404, description = "No such bot", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn alert_template(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<AlertTemplates>> {
    let bot = load_bot(&state, &id).await?;
    let view = state.bot_view(&bot);
    let secret = bot
        .body_secret_sealed
        .as_deref()
        .and_then(|s| state.sealer.open(s).ok());
    let templates = alert_templates(&view.webhook_url, secret.as_deref())
        .into_iter()
        .map(|t: AlertTemplate| TemplateView {
            format: t.format.as_str().to_string(),
            name: t.name.to_string(),
            message: t.message,
            notes: t.notes.to_string(),
        })
        .collect();
    Ok(ApiJson(AlertTemplates {
        webhook_url: view.webhook_url,
        templates,
    }))
}
