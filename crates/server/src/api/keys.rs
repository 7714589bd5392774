//! API key management (`/api/v1/keys`, admin only) and `/api/v1/me`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tradehook_core::apikey::{NewKey, Role};
use tradehook_core::ids::{is_valid_id, new_id};
use tradehook_core::time::now_ms;
use tradehook_store::{ApiKeyRecord, NewApiKey, Store};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::{AdminIdentity, Identity};
use crate::http::json::ApiJson;
use crate::state::AppState;

const MAX_NAME_CHARS: usize = 64;
const MAX_RPM: i64 = 1_000_000;

/// A request to create a key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1–64 characters: letters, digits, space, `-`, `_`, `.`.
    #[schema(example = "bot")]
    pub name: String,
    /// `admin`, `write` (default) or `read`.
    #[serde(default = "default_role")]
    #[schema(value_type = String, example = "write")]
    pub role: Role,
    /// Requests per minute; the configured default when absent.
    #[schema(example = 120)]
    pub rate_limit_per_minute: Option<i64>,
}

fn default_role() -> Role {
    Role::Write
}

/// A key as listed: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    #[schema(example = "key_0192f5c2a1b07c3d8e9f001122334455")]
    pub id: String,
    pub name: String,
    #[schema(value_type = String, example = "write")]
    pub role: Role,
    /// The first characters of the key, for recognising it.
    #[schema(example = "th_AbCdEfGh")]
    pub prefix: String,
    /// Requests per minute; null means the configured default.
    pub rate_limit_per_minute: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A key just created: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: KeyView,
    /// The secret. Store it now: it is never shown again.
    #[schema(example = "th_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd")]
    pub secret: String,
}

/// The calling key, as `GET /api/v1/me` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub name: String,
    #[schema(value_type = String, example = "read")]
    pub role: Role,
    /// Effective requests per minute.
    pub rate_limit_per_minute: u32,
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl From<ApiKeyRecord> for KeyView {
    fn from(r: ApiKeyRecord) -> Self {
        KeyView {
            id: r.id,
            name: r.name,
            role: r.role,
            prefix: r.prefix,
            rate_limit_per_minute: r.rate_limit_per_minute,
            created_at: rfc3339(r.created_at),
            last_used_at: r.last_used_at.map(rfc3339),
            revoked_at: r.revoked_at.map(rfc3339),
        }
    }
}

/// Validates and stores a new key; shared by the API and the CLI.
pub async fn create_key(
    store: &Store,
    name: &str,
    role: Role,
    rate_limit_per_minute: Option<i64>,
) -> ApiResult<(NewKey, ApiKeyRecord)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::validation(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
    {
        return Err(ApiError::validation(
            "name",
            "may contain only letters, digits, spaces, `-`, `_` and `.`",
        ));
    }
    if let Some(rpm) = rate_limit_per_minute
        && !(1..=MAX_RPM).contains(&rpm)
    {
        return Err(ApiError::validation(
            "rate_limit_per_minute",
            format!("must be between 1 and {MAX_RPM}, got {rpm}"),
        ));
    }
    let key = NewKey::generate();
    let record = store
        .insert_api_key(&NewApiKey {
            id: new_id("key"),
            name: name.to_string(),
            role,
            prefix: key.display_prefix.clone(),
            hash: key.hash.clone(),
            rate_limit_per_minute,
            created_at: now_ms(),
        })
        .await?;
    tracing::info!(key_id = %record.id, name = %record.name, role = %record.role, "API key created");
    Ok((key, record))
}

/// Create an API key (admin). The answer is the only time the secret is shown.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = CreatedKey),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 409, description = "A live key with this name exists", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _admin: AdminIdentity,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, ApiJson<CreatedKey>)> {
    let (key, record) = create_key(
        &state.store,
        &body.name,
        body.role,
        body.rate_limit_per_minute,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedKey {
            secret: key.expose().to_string(),
            key: record.into(),
        }),
    ))
}

/// List live API keys (admin). Secrets are never listed.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses(
        (status = 200, description = "Live keys, oldest first", body = Vec<KeyView>),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminIdentity,
) -> ApiResult<ApiJson<Vec<KeyView>>> {
    let keys = state.store.list_api_keys(false).await?;
    Ok(ApiJson(keys.into_iter().map(KeyView::from).collect()))
}

/// One API key (admin), revoked or not.
#[utoipa::path(get, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 404, description = "No such key", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminIdentity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<KeyView>> {
    if !is_valid_id("key", &id) {
        return Err(not_found(&id));
    }
    let key = state.store.get_api_key(&id).await.map_err(|e| match e {
        tradehook_store::StoreError::NotFound => not_found(&id),
        e => e.into(),
    })?;
    Ok(ApiJson(key.into()))
}

/// Revoke an API key (admin). It stops working at once. Revoking twice is fine.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Revoked", body = KeyView),
        (status = 404, description = "No such key", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    AdminIdentity(caller): AdminIdentity,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<KeyView>> {
    if !is_valid_id("key", &id) {
        return Err(not_found(&id));
    }
    let key = state
        .store
        .revoke_api_key(&id, now_ms())
        .await
        .map_err(|e| match e {
            tradehook_store::StoreError::NotFound => not_found(&id),
            e => e.into(),
        })?;
    tracing::info!(key_id = %key.id, by = %caller.key_id, "API key revoked");
    Ok(ApiJson(key.into()))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no API key with id `{id}`"))
}

/// The calling key: id, name, role and effective rate limit.
#[utoipa::path(get, path = "/api/v1/me", tag = "keys",
    responses(
        (status = 200, description = "The calling key", body = Me),
        (status = 401, description = "Missing, unknown or revoked key", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn me(identity: Identity) -> ApiJson<Me> {
    ApiJson(Me {
        id: identity.key_id,
        name: identity.name,
        role: identity.role,
        rate_limit_per_minute: identity.rate_limit_per_minute,
    })
}
