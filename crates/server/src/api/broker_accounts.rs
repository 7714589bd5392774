//! Broker accounts (`/api/v1/broker-accounts`): where bots trade. A
//! `paper` account is the built-in simulator (no account needed); an
//! `alpaca` account holds API keys, sealed at rest and never shown.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tradehook_core::event::rfc3339_ms;
use tradehook_core::ids::{is_valid_id, new_id};
use tradehook_core::time::now_ms;
use tradehook_store::{BrokerAccountPatch, BrokerAccountRecord, NewBrokerAccount, StoreError};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::{ApiJson, double_option};
use crate::state::AppState;

/// Paper cash when none is given.
const DEFAULT_STARTING_CASH: f64 = 100_000.0;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlpacaCredentials {
    pub key_id: String,
    pub secret_key: String,
}

/// A new broker account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "paper", "kind": "paper", "starting_cash": 100000}))]
pub struct CreateBrokerAccount {
    pub name: String,
    /// `paper` (built in) or `alpaca`.
    pub kind: String,
    /// `paper` (default) or `live` (Alpaca only: real money).
    pub environment: Option<String>,
    /// Alpaca API keys; stored sealed, never shown again.
    pub credentials: Option<AlpacaCredentials>,
    /// Overrides the broker's base URL (https).
    pub base_url: Option<String>,
    /// Paper accounts: opening cash (default 100000).
    pub starting_cash: Option<f64>,
}

/// A broker account as shown: never its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerAccountView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub environment: String,
    pub has_credentials: bool,
    pub base_url: Option<String>,
    pub starting_cash: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerAccountList {
    pub data: Vec<BrokerAccountView>,
}

fn view(r: &BrokerAccountRecord) -> BrokerAccountView {
    BrokerAccountView {
        id: r.id.clone(),
        name: r.name.clone(),
        kind: r.kind.clone(),
        environment: r.environment.clone(),
        has_credentials: r.credentials.is_some(),
        base_url: r.base_url.clone(),
        starting_cash: r.starting_cash.clone(),
        created_at: rfc3339_ms(r.created_at),
        updated_at: rfc3339_ms(r.updated_at),
    }
}

fn valid_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation("name", "1 to 100 characters"));
    }
    Ok(name.to_string())
}

/// Checks Alpaca keys and seals them for storage.
fn seal_credentials(state: &AppState, c: &AlpacaCredentials) -> ApiResult<String> {
    for (path, v) in [
        ("credentials.key_id", &c.key_id),
        ("credentials.secret_key", &c.secret_key),
    ] {
        if v.trim().is_empty() || v.len() > 200 || v.chars().any(char::is_whitespace) {
            return Err(ApiError::validation(path, "a non-empty key without spaces"));
        }
    }
    Ok(state
        .sealer
        .seal(&serde_json::json!({"key_id": c.key_id, "secret_key": c.secret_key}).to_string()))
}

fn valid_base_url(state: &AppState, url: &str) -> ApiResult<()> {
    if url.starts_with("https://")
        || (state.config.delivery.allow_http && url.starts_with("http://"))
    {
        Ok(())
    } else {
        Err(ApiError::validation("base_url", "an https:// URL"))
    }
}

pub(crate) async fn load_account(state: &AppState, id: &str) -> ApiResult<BrokerAccountRecord> {
    let missing = || ApiError::NotFound(format!("no broker account with id `{id}`"));
    if !is_valid_id("bac", id) {
        return Err(missing());
    }
    state
        .store
        .get_broker_account(id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => missing(),
            e => e.into(),
        })
}

/// Create a broker account.
#[utoipa::path(post, path = "/api/v1/broker-accounts", tag = "trading",
    request_body = CreateBrokerAccount,
    responses((status = 201, description = "Created", body = BrokerAccountView),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _caller: Identity,
    ApiJson(body): ApiJson<CreateBrokerAccount>,
) -> ApiResult<(StatusCode, ApiJson<BrokerAccountView>)> {
    let name = valid_name(&body.name)?;
    let environment = body.environment.unwrap_or_else(|| "paper".into());
    if !matches!(environment.as_str(), "paper" | "live") {
        return Err(ApiError::validation("environment", "paper or live"));
    }
    let (credentials, starting_cash) = match body.kind.as_str() {
        "paper" => {
            if body.credentials.is_some() {
                return Err(ApiError::validation(
                    "credentials",
                    "a paper account needs no credentials",
                ));
            }
            if environment != "paper" {
                return Err(ApiError::validation(
                    "environment",
                    "a paper account is always paper",
                ));
            }
            let cash = body.starting_cash.unwrap_or(DEFAULT_STARTING_CASH);
            if !(cash.is_finite() && cash > 0.0 && cash <= 1e12) {
                return Err(ApiError::validation(
                    "starting_cash",
                    "a positive amount up to 1e12",
                ));
            }
            (None, Some(cash.to_string()))
        }
        "alpaca" => {
            let Some(c) = body.credentials else {
                return Err(ApiError::validation(
                    "credentials",
                    "an Alpaca account needs {\"key_id\", \"secret_key\"}",
                ));
            };
            if body.starting_cash.is_some() {
                return Err(ApiError::validation(
                    "starting_cash",
                    "only paper accounts have a starting cash",
                ));
            }
            (Some(seal_credentials(&state, &c)?), None)
        }
        _ => return Err(ApiError::validation("kind", "paper or alpaca")),
    };
    if let Some(url) = &body.base_url {
        valid_base_url(&state, url)?;
    }
    let now = now_ms();
    let record = state
        .store
        .insert_broker_account(&NewBrokerAccount {
            id: new_id("bac"),
            name,
            kind: body.kind,
            environment,
            credentials,
            base_url: body.base_url,
            starting_cash,
            created_at: now,
        })
        .await?;
    tracing::info!(account = %record.id, kind = %record.kind, "broker account created");
    Ok((StatusCode::CREATED, ApiJson(view(&record))))
}

/// A change to a broker account: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "alpaca-main", "credentials": {"key_id": "PK...", "secret_key": "..."}}))]
pub struct UpdateBrokerAccount {
    pub name: Option<String>,
    /// New Alpaca API keys (Alpaca accounts only); sealed, never shown.
    pub credentials: Option<AlpacaCredentials>,
    /// A new base URL override; `null` goes back to the broker's own.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub base_url: Option<Option<String>>,
    /// Refused: fixed at creation (a paper account turned live would send
    /// its bots' orders to real money).
    #[schema(value_type = Option<String>)]
    pub kind: Option<Value>,
    /// Refused: fixed at creation, as `kind`.
    #[schema(value_type = Option<String>)]
    pub environment: Option<Value>,
    /// Refused: a paper account's history starts from it; add a new
    /// account to start again with other cash.
    #[schema(value_type = Option<f64>)]
    pub starting_cash: Option<Value>,
}

/// Change a broker account's name, credentials or base URL. Bots keep
/// trading on it; their next broker call uses the new credentials.
#[utoipa::path(patch, path = "/api/v1/broker-accounts/{id}", tag = "trading",
    params(("id" = String, Path, description = "Broker account id")),
    request_body = UpdateBrokerAccount,
    responses((status = 200, description = "The changed account", body = BrokerAccountView),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateBrokerAccount>,
) -> ApiResult<ApiJson<BrokerAccountView>> {
    let account = load_account(&state, &id).await?;
    for (field, given) in [("kind", &body.kind), ("environment", &body.environment)] {
        if given.is_some() {
            return Err(ApiError::validation(
                field,
                "fixed at creation; add a new account instead",
            ));
        }
    }
    if body.starting_cash.is_some() {
        return Err(ApiError::validation(
            "starting_cash",
            "fixed at creation (the paper history starts from it); add a new paper account instead",
        ));
    }
    let mut patch = BrokerAccountPatch::default();
    if let Some(name) = &body.name {
        patch.name = Some(valid_name(name)?);
    }
    if let Some(c) = &body.credentials {
        if account.kind != "alpaca" {
            return Err(ApiError::validation(
                "credentials",
                "a paper account needs no credentials",
            ));
        }
        patch.credentials = Some(Some(seal_credentials(&state, c)?));
    }
    if let Some(url) = &body.base_url {
        if let Some(url) = url {
            valid_base_url(&state, url)?;
        }
        patch.base_url = Some(url.clone());
    }
    let record = state
        .store
        .update_broker_account(&id, &patch)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound(format!("no broker account with id `{id}`")),
            e => e.into(),
        })?;
    tracing::info!(account = %record.id, credentials = body.credentials.is_some(), "broker account changed");
    Ok(ApiJson(view(&record)))
}

/// List broker accounts.
#[utoipa::path(get, path = "/api/v1/broker-accounts", tag = "trading",
    responses((status = 200, description = "Every broker account", body = BrokerAccountList)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Identity,
) -> ApiResult<ApiJson<BrokerAccountList>> {
    let rows = state.store.list_broker_accounts().await?;
    Ok(ApiJson(BrokerAccountList {
        data: rows.iter().map(view).collect(),
    }))
}

/// One broker account.
#[utoipa::path(get, path = "/api/v1/broker-accounts/{id}", tag = "trading",
    params(("id" = String, Path, description = "Broker account id")),
    responses((status = 200, description = "The account", body = BrokerAccountView),
        (status = 404, description = "No such account", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<BrokerAccountView>> {
    Ok(ApiJson(view(&load_account(&state, &id).await?)))
}

/// Delete a broker account no bot uses.
#[utoipa::path(delete, path = "/api/v1/broker-accounts/{id}", tag = "trading",
    params(("id" = String, Path, description = "Broker account id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "A bot uses it", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    _caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    load_account(&state, &id).await?;
    state.store.delete_broker_account(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
