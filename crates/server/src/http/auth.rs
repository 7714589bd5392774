//! Authentication, authorisation and rate limits for `/api/v1`.
//!
//! The key comes from `X-API-Key` or `Authorization: Bearer`. It is hashed
//! and compared with the admin key's hash (constant time) or looked up by
//! hash in storage. The raw key is never logged. Then the key's rate limit
//! is applied, and a `read` key is refused any method that changes state.
//! Requests that fail authentication count against the client IP's
//! anonymous limit, which bounds guessing.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tradehook_core::apikey::{KeyHash, Role};
use tradehook_core::time::now_ms;

use crate::error::ApiError;
use crate::ratelimit::Decision;
use crate::state::AppState;

/// The caller, as established by [`require_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub key_id: String,
    pub name: String,
    pub role: Role,
    pub rate_limit_per_minute: u32,
}

/// The id under which the configured admin key appears.
pub const ADMIN_KEY_ID: &str = "admin";

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or(ApiError::MissingKey)
    }
}

/// An [`Identity`] whose role is `admin`; anything else gets 403.
pub struct AdminIdentity(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for AdminIdentity {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let identity = Identity::from_request_parts(parts, state).await?;
        if identity.role.is_admin() {
            Ok(AdminIdentity(identity))
        } else {
            Err(ApiError::Forbidden(
                "this route needs an admin key".to_string(),
            ))
        }
    }
}

/// The presented key, if any. A malformed header counts as no key.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if !v.is_empty() {
            return Some(v);
        }
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = auth.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The client's address, for anonymous limits.
pub fn client_ip(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

async fn identify(state: &AppState, raw: &str) -> Result<Identity, ApiError> {
    let hash = KeyHash::of(raw);
    if let Some(admin) = &state.admin_key_hash
        && admin.ct_eq(&hash)
    {
        return Ok(Identity {
            key_id: ADMIN_KEY_ID.to_string(),
            name: "admin (configured)".to_string(),
            role: Role::Admin,
            rate_limit_per_minute: state.config.rate_limit.admin_per_minute,
        });
    }
    let record = state
        .store
        .find_api_key_by_hash(&hash)
        .await?
        .ok_or(ApiError::InvalidKey)?;
    if record.is_revoked() {
        return Err(ApiError::RevokedKey);
    }
    touch(state, &record.id);
    let default = match record.role {
        Role::Admin => state.config.rate_limit.admin_per_minute,
        _ => state.config.rate_limit.default_per_minute,
    };
    Ok(Identity {
        key_id: record.id,
        name: record.name,
        role: record.role,
        rate_limit_per_minute: record
            .rate_limit_per_minute
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default),
    })
}

/// Writes `last_used_at` at most once a minute per key, off the request path.
fn touch(state: &AppState, key_id: &str) {
    let now = now_ms();
    {
        let mut touches = state.key_touches.lock().expect("lock");
        match touches.get(key_id) {
            Some(last) if now - last < 60_000 => return,
            _ => {
                touches.insert(key_id.to_string(), now);
            }
        }
    }
    let store = state.store.clone();
    let id = key_id.to_string();
    tokio::spawn(async move {
        if let Err(e) = store.touch_api_key(&id, now).await {
            tracing::debug!(error = %e, "could not record key use");
        }
    });
}

/// Adds the `X-RateLimit-*` headers.
pub fn set_rate_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(d.reset_at));
}

fn limited(d: &Decision) -> Response {
    let mut response = ApiError::RateLimited {
        retry_after_secs: d.retry_after,
    }
    .into_response();
    set_rate_headers(response.headers_mut(), d);
    response
}

/// Middleware for `/api/v1`: authenticate, rate-limit, check the role.
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let identity = match presented_key(req.headers()) {
        None => Err(ApiError::MissingKey),
        Some(raw) => identify(&state, raw).await,
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(err) => {
            // Failed attempts spend the client IP's anonymous budget.
            let anonymous = state.config.rate_limit.anonymous_per_minute;
            if anonymous > 0 {
                let d = state
                    .limiter
                    .check(&format!("ip:{}", client_ip(&req)), anonymous)
                    .await;
                if !d.allowed {
                    return limited(&d);
                }
            }
            return err.into_response();
        }
    };

    let decision = state
        .limiter
        .check(
            &format!("key:{}", identity.key_id),
            identity.rate_limit_per_minute,
        )
        .await;
    if !decision.allowed {
        return limited(&decision);
    }

    let read_only = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let mut response = if !read_only && !identity.role.can_write() {
        ApiError::Forbidden(format!("a `{}` key may only read (GET)", identity.role))
            .into_response()
    } else {
        req.extensions_mut().insert(identity);
        next.run(req).await
    };
    set_rate_headers(response.headers_mut(), &decision);
    response
}

/// Middleware for public routes: the per-IP anonymous limit.
pub async fn limit_by_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let per_minute = state.config.rate_limit.anonymous_per_minute;
    if per_minute == 0 {
        return next.run(req).await;
    }
    let decision = state
        .limiter
        .check(&format!("ip:{}", client_ip(&req)), per_minute)
        .await;
    if !decision.allowed {
        return limited(&decision);
    }
    let mut response = next.run(req).await;
    set_rate_headers(response.headers_mut(), &decision);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn keys_are_read_from_either_header() {
        assert_eq!(
            presented_key(&headers(&[("x-api-key", "th_a")])),
            Some("th_a")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer th_b")])),
            Some("th_b")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "bearer  th_c ")])),
            Some("th_c")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Basic dXNlcg==")])),
            None
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(presented_key(&headers(&[("x-api-key", " ")])), None);
        assert_eq!(presented_key(&headers(&[])), None);
    }
}
