//! Dashboard sessions: sign-in with an API key, the session cookie, CSRF
//! and sign-out.
//!
//! The cookie `th_session` holds 32 random bytes; the database holds only
//! their SHA-256, so a leaked table does not yield live sessions. The key
//! is kept sealed in the row so the dashboard can call the API as the
//! user. Every request re-checks the key through `GET /api/v1/me`; a
//! revoked key ends the session.
//!
//! The cookie is `HttpOnly; SameSite=Strict; Path=/` and `Secure`, except
//! when the request came over plain HTTP to a loopback host
//! (`localhost`, `127.0.0.0/8`, `[::1]`, no `X-Forwarded-Proto: https`):
//! a browser drops a `Secure` cookie set over plain HTTP on
//! `127.0.0.1`, and the first-run URL is `http://127.0.0.1:8080`.
//! Anything reached by another name is assumed to be behind TLS.
//!
//! CSRF: each session has a random token; every state-changing form
//! carries it in the hidden `_csrf` field, and [`Posted`] compares it in
//! constant time and answers 403 without a match. `SameSite=Strict`
//! already keeps the cookie off cross-site posts; the token is the second
//! lock. Sign-in itself has no session yet and so no token.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::{Markup, html};
use rand::RngCore;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tradehook_core::time::now_ms;
use tradehook_store::DashboardSession;

use super::api::{Api, ApiHandle};
use super::layout::{self, PageError, see_other};
use crate::state::AppState;

pub const COOKIE: &str = "th_session";
/// Sessions end after this long, whatever the activity.
const SESSION_MS: i64 = 12 * 3600 * 1000;

/// A signed-in user. Extracting it redirects to sign-in when there is no
/// valid session.
#[derive(Debug, Clone)]
pub struct Session {
    pub key_id: String,
    pub key_name: String,
    pub role: String,
    csrf: String,
    id_hash: String,
    api: Api,
}

impl Session {
    /// The API as this session's key.
    pub fn api(&self) -> &Api {
        &self.api
    }

    pub fn state(&self) -> &AppState {
        self.api.state()
    }

    /// The token every state-changing form carries (see [`layout::csrf`]).
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    pub fn can_write(&self) -> bool {
        self.role != "read"
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the request is plain HTTP to this machine (see the module doc).
fn plain_loopback(headers: &HeaderMap) -> bool {
    if headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
    {
        return false;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn set_cookie(headers: &HeaderMap, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if plain_loopback(headers) {
        ""
    } else {
        "; Secure"
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .expect("cookie is ASCII")
}

fn handle(parts: &Parts) -> ApiHandle {
    parts
        .extensions
        .get::<ApiHandle>()
        .cloned()
        .expect("the dashboard router adds its ApiHandle")
}

fn peer(parts: &Parts) -> Option<ConnectInfo<SocketAddr>> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().copied()
}

/// Where to send someone who is not signed in.
fn to_sign_in(parts: &Parts) -> Response {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/ui");
    let target = format!(
        "/ui/sign-in?next={}",
        url_escape(if next.starts_with("/ui") { next } else { "/ui" })
    );
    see_other(&target)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(id) = cookie_value(&parts.headers, COOKIE) else {
            return Err(to_sign_in(parts));
        };
        let id_hash = hash(id);
        let row = state
            .store
            .get_dashboard_session(&id_hash, now_ms())
            .await
            .map_err(|e| PageError::internal(e).into_response())?;
        let Some(row) = row else {
            return Err(to_sign_in(parts));
        };
        let Ok(key) = state.sealer.open(&row.key_sealed) else {
            // Sealed under another secrets key: unusable, so end it.
            let _ = state.store.delete_dashboard_session(&id_hash).await;
            return Err(to_sign_in(parts));
        };
        let api = Api::new(handle(parts), &key, peer(parts));
        let me = api.get("/api/v1/me").await;
        match me.status {
            StatusCode::OK => Ok(Session {
                key_id: me.body["id"].as_str().unwrap_or_default().to_string(),
                key_name: me.body["name"].as_str().unwrap_or_default().to_string(),
                role: me.body["role"].as_str().unwrap_or("read").to_string(),
                csrf: row.csrf_token,
                id_hash,
                api,
            }),
            StatusCode::UNAUTHORIZED => {
                // The key was revoked (or the admin key changed).
                let _ = state.store.delete_dashboard_session(&id_hash).await;
                Err(to_sign_in(parts))
            }
            status => Err(PageError::new(status, me.message()).into_response()),
        }
    }
}

/// The submitted fields of a urlencoded form.
#[derive(Debug, Clone, Default)]
pub struct FormData(pub HashMap<String, String>);

impl FormData {
    /// The trimmed value; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// A checkbox: present (any value) means on.
    pub fn checked(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A number as JSON. Text that is not a number is passed on as a
    /// string, so the API refuses it with its own message for that path;
    /// blank is `null`.
    pub fn number(&self, name: &str) -> Value {
        match self.text(name) {
            None => Value::Null,
            Some(t) => {
                if let Ok(n) = t.parse::<i64>() {
                    Value::from(n)
                } else if let Ok(f) = t.parse::<f64>()
                    && f.is_finite()
                {
                    Value::from(f)
                } else {
                    Value::String(t)
                }
            }
        }
    }

    /// A comma or whitespace separated list.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.text(name)
            .unwrap_or_default()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// A signed-in form submission whose CSRF token matched. Extracting it
/// answers 403 when the `_csrf` field is missing or wrong.
#[derive(Debug)]
pub struct Posted {
    pub session: Session,
    pub form: FormData,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let Form(pairs): Form<Vec<(String, String)>> = Form::from_request(req, state)
            .await
            .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.body_text()).into_response())?;
        let form = FormData(pairs.into_iter().collect());
        let sent = form.0.get("_csrf").map(String::as_str).unwrap_or("");
        let expected = session.csrf.as_bytes();
        if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(expected)) {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "this form has expired or did not come from this dashboard (CSRF token missing or wrong); reload the page and try again",
            )
            .into_response());
        }
        Ok(Posted { session, form })
    }
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

/// Only dashboard paths, so the sign-in cannot be used to bounce
/// someone to another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/ui") && !n.contains("//") && !n.contains('\\') => n,
        _ => "/ui",
    }
}

fn sign_in_markup(next: &str, error: Option<&str>) -> Markup {
    let body = html! {
        main.signin {
            h1 { "tradehook" }
            p.help { "Sign in with an API key: the admin key from the configuration ("
                code { "TRADEHOOK_ADMIN_KEY" } ") or a key made with "
                code { "tradehook keys create" } " or " code { "POST /api/v1/keys" } "." }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form method="post" action="/ui/sign-in" {
                input type="hidden" name="next" value=(next);
                label for="key" { "API key" }
                input #key type="password" name="key" required autofocus autocomplete="current-password"
                    title="Your API key. It is kept sealed on the server for this session and never shown in the page."
                    aria-describedby="key-help";
                small #key-help { "A read key can look but not change anything." }
                button type="submit" title="Check the key and open a session" { "Sign in" }
            }
        }
    };
    layout::bare("Sign in", body)
}

pub async fn sign_in_page(Query(q): Query<SignInQuery>) -> Markup {
    sign_in_markup(safe_next(q.next.as_deref()), None)
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    key: String,
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    parts: Parts,
    Form(f): Form<SignInForm>,
) -> Response {
    let next = safe_next(f.next.as_deref()).to_string();
    let key = f.key.trim();
    if key.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            sign_in_markup(&next, Some("Enter an API key.")),
        )
            .into_response();
    }
    let api = Api::new(handle(&parts), key, peer(&parts));
    let me = api.get("/api/v1/me").await;
    if !me.ok() {
        return (me.status, sign_in_markup(&next, Some(&me.message()))).into_response();
    }
    let id = random_token();
    let now = now_ms();
    let row = DashboardSession {
        id_hash: hash(&id),
        key_id: me.body["id"].as_str().unwrap_or_default().to_string(),
        key_sealed: state.sealer.seal(key),
        csrf_token: random_token(),
        created_at: now,
        expires_at: now + SESSION_MS,
    };
    if let Err(e) = state.store.insert_dashboard_session(&row).await {
        return PageError::internal(e).into_response();
    }
    // Expired rows go whenever someone signs in; no extra worker needed.
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.prune_dashboard_sessions(now).await {
            tracing::debug!(error = %e, "could not prune dashboard sessions");
        }
    });
    tracing::info!(key = %row.key_id, "dashboard session started");
    let mut response = see_other(&next);
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&parts.headers, &id, SESSION_MS / 1000),
    );
    response
}

/// Ends the session on the server (the row is deleted, so the cookie is
/// worthless on every replica) and clears the cookie.
pub async fn sign_out(headers: HeaderMap, posted: Posted) -> Response {
    let state = posted.session.state();
    if let Err(e) = state
        .store
        .delete_dashboard_session(&posted.session.id_hash)
        .await
    {
        return PageError::internal(e).into_response();
    }
    let mut response = see_other("/ui/sign-in");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&headers, "", 0));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: &str, proto: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(p) = proto {
            h.insert("x-forwarded-proto", p.parse().unwrap());
        }
        h
    }

    #[test]
    fn secure_is_skipped_only_for_plain_http_to_loopback() {
        assert!(plain_loopback(&with_host("127.0.0.1:8080", None)));
        assert!(plain_loopback(&with_host("localhost:8080", None)));
        assert!(plain_loopback(&with_host("[::1]:8080", None)));
        assert!(!plain_loopback(&with_host("127.0.0.1:8080", Some("https"))));
        assert!(!plain_loopback(&with_host("trade.example.com", None)));
        assert!(!plain_loopback(&with_host("10.0.0.5:8080", None)));
        assert!(!plain_loopback(&HeaderMap::new()));
    }

    #[test]
    fn next_stays_inside_the_dashboard() {
        assert_eq!(safe_next(Some("/ui/bots")), "/ui/bots");
        assert_eq!(safe_next(Some("https://evil.example")), "/ui");
        assert_eq!(safe_next(Some("/ui//evil.example")), "/ui");
        assert_eq!(safe_next(None), "/ui");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; th_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie_value(&h, COOKIE), Some("abc"));
        assert_eq!(cookie_value(&h, "c"), None);
    }
}
