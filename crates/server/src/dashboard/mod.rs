//! The web dashboard: server-rendered HTML (maud) under `/ui`, inside the
//! binary, with one small CSS and one small JS file embedded in it. No
//! build step, nothing loaded from elsewhere; it works offline. It is not
//! part of the OpenAPI document.
//!
//! The dashboard must not grow a second API: every change goes through the
//! real API in-process, so the dashboard gets exactly the API's rules,
//! validation, events and rate limits.
//!
//! # Conventions for adding a page
//!
//! - **A page handler** takes a [`Session`] (the extractor redirects to
//!   `/ui/sign-in` when there is none) and returns `Result<Markup,
//!   PageError>`. It renders with [`layout::page`]`(&session, Nav::X,
//!   "Title", body)`. Reads may go to the store (`session.state().store`)
//!   or to the API (`session.api().get("/api/v1/…")`); a page never loads
//!   unbounded rows: take a `limit` and follow the API's `next` cursor.
//! - **A form** is `form method="post"` with [`layout::csrf`]`(&session)`
//!   inside it. Its handler takes [`Posted`] instead of `Session`: the
//!   extractor checks the CSRF token (constant time) and answers 403
//!   without it, so a handler cannot forget. Name each input after the
//!   API's JSON path for that value (`name`, `settings.sl_pct`,
//!   `credentials.key_id`); then build the JSON body from the form (the
//!   helpers on [`FormData`]: `text`, `number`, `checked`), and send it
//!   with `posted.session.api().post(path, &body)` (or `patch`, `delete`).
//! - **Errors**: a non-2xx [`ApiReply`] becomes [`FormErrors`]
//!   (`reply.form_errors()`); re-render the same form with it. The form
//!   helpers in [`layout`] (`text_field`, `number_field`, `check_field`,
//!   `select_field`) show the error for their path next to the input,
//!   and [`layout::form_errors`] shows the API's message above the form.
//!   Status 422 for a re-rendered form, 303 to the page on success
//!   (`layout::see_other("/ui/…?done=saved")`); the page reads the flag
//!   with `Query<Done>`. An enable/disable button posts to a handler that
//!   calls [`set_enabled`] with the API path.
//! - **Navigation**: add the page to [`layout::Nav`] and its route to
//!   [`router`]. Every control has a `title` tooltip; every input has a
//!   label and, where useful, visible help text.
//!
//! # Sessions
//!
//! Sign-in takes an API key (the configured admin key or one from
//! `/api/v1/keys`), checked by calling `GET /api/v1/me` in-process, so the
//! key rules and the guessing limit are the API's own. A session is a row
//! (`dashboard_sessions`: SHA-256 of a random id, key id, the key sealed,
//! a CSRF token, expiry) shared by every replica on one database; the
//! cookie is `HttpOnly`, `SameSite=Strict` and `Secure`, except on plain
//! HTTP to a loopback host (see [`auth`]). Each request re-checks the key,
//! so revoking it ends its sessions; sign-out deletes the row.

mod alerts;
mod analytics;
pub mod api;
pub mod auth;
mod bot_settings;
mod bots;
mod brokers;
mod deliveries;
pub mod layout;
mod logs;
mod overview;
mod rules;
mod setup;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

pub use api::{Api, ApiReply, FormErrors};
pub use auth::{FormData, Posted, Session};
pub use layout::{Nav, PageError};

/// The `?done=` flag a page shows after a successful form.
#[derive(Debug, serde::Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// Enables or disables the API resource at `api_path` from a form's
/// `enabled` field (anything but `false` enables), then sends the browser
/// to `back` with `?done=enabled|disabled`.
pub async fn set_enabled(
    posted: Posted,
    api_path: &str,
    back: &str,
) -> Result<axum::response::Response, PageError> {
    let enabled = posted.form.text("enabled").as_deref() != Some("false");
    posted
        .session
        .api()
        .patch(api_path, &serde_json::json!({ "enabled": enabled }))
        .await
        .json()?;
    let done = if enabled { "enabled" } else { "disabled" };
    Ok(layout::see_other(&format!("{back}?done={done}")))
}

use crate::state::AppState;

const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");

/// The dashboard's routes; merged into the app's router.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/ui", get(overview::page))
        .route("/ui/overview.json", get(overview::live))
        .route("/ui/stream", get(overview::stream))
        .route("/ui/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/ui/sign-out", post(auth::sign_out))
        .route("/ui/setup", get(setup::index))
        .route("/ui/setup/{id}", get(setup::page))
        .route("/ui/setup/{id}/test", post(setup::send_test))
        .route("/ui/setup/{id}/rotate", post(setup::rotate))
        .route("/ui/brokers", get(brokers::list).post(brokers::create))
        .route("/ui/brokers/{id}", get(brokers::edit).post(brokers::save))
        .route("/ui/brokers/{id}/delete", post(brokers::delete))
        .route("/ui/bots", get(bots::list).post(bots::create))
        .route(
            "/ui/bots/{id}",
            get(bot_settings::edit).post(bot_settings::save),
        )
        .route("/ui/bots/{id}/pause", post(bots::pause))
        .route("/ui/bots/{id}/cleanup", post(bots::cleanup))
        .route("/ui/rules", get(rules::list).post(rules::create))
        .route("/ui/rules/new", get(rules::new))
        .route("/ui/rules/{id}", get(rules::edit).post(rules::save))
        .route("/ui/rules/{id}/enabled", post(rules::set_enabled))
        .route("/ui/rules/{id}/delete", post(rules::delete))
        .route("/ui/alerts", get(alerts::list))
        .route(
            "/ui/deliveries",
            get(deliveries::list).post(deliveries::create),
        )
        .route("/ui/deliveries/{id}", get(deliveries::endpoint))
        .route("/ui/deliveries/{id}/enabled", post(deliveries::set_enabled))
        .route("/ui/deliveries/{id}/test", post(deliveries::send_test))
        .route("/ui/deliveries/{id}/rotate", post(deliveries::rotate))
        .route("/ui/deliveries/{id}/{delivery}", get(deliveries::delivery))
        .route(
            "/ui/deliveries/{id}/{delivery}/replay",
            post(deliveries::replay),
        )
        .route("/ui/logs", get(logs::page))
        .route("/ui/logs/signals.jsonl", get(logs::signals_jsonl))
        .route("/ui/logs/{id}", get(logs::bot))
        .route("/ui/logs/{id}/calls.jsonl", get(logs::calls_jsonl))
        .route("/ui/analytics", get(analytics::page))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/{section}", get(coming))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::Extension(api::ApiHandle::new(state.clone())))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::http::auth::limit_by_ip,
        ))
}

/// Pages hold the webhook token and the CSRF token: never cached, never
/// framed (the one-click buttons would invite clickjacking), and only
/// this origin's scripts, styles and form targets.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// A short content hash, so asset URLs change when their content does
/// and can be cached for a year.
pub fn asset_version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(APP_CSS)
            .chain_update(APP_JS)
            .finalize();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    });
    &VERSION
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            // URLs carry `?v=<content hash>`, so a year is safe.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Sections another part of issue #7 will build. Honest about it: 404.
async fn coming(session: Session, Path(section): Path<String>) -> Response {
    let Some(nav) = Nav::ALL.iter().find(|n| n.slug() == section) else {
        return PageError::not_found("no such page").into_response();
    };
    let body: Markup = html! {
        p.notice { (nav.label()) " is not built yet. Until it is, use the API: "
            a href="/docs" { "/docs" } "." }
    };
    (
        StatusCode::NOT_FOUND,
        layout::page(&session, *nav, nav.label(), body),
    )
        .into_response()
}
