//! Webhook setup per bot: the TradingView webhook URL, the generated alert
//! messages per format (from `/api/v1/bots/{id}/alert-template`), a test
//! signal through the real intake, and token rotation.
//!
//! The token is kept sealed by the API precisely so the URL can be shown
//! again (`GET /api/v1/bots/{id}` returns it), so this page shows it too;
//! the test signal opens it on the server and posts to
//! `/hooks/tradingview/{token}` in-process, so the browser never needs
//! it. Rotation shows the new URL on the answer page (and the page keeps
//! showing it afterwards, as the API does).

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use tradehook_core::event::rfc3339_ms;
use tradehook_core::time::now_ms;

use super::layout::{self, Nav, PageError, action_button, copy_button};
use super::{FormErrors, Posted, Session};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
}

/// Bots to pick from (one page of 50, with a "next" link).
pub async fn index(session: Session, Query(q): Query<ListQuery>) -> Result<Markup, PageError> {
    let mut path = "/api/v1/bots?limit=50".to_string();
    if let Some(a) = &q.after {
        path.push_str(&format!("&after={}", urlencode(a)));
    }
    let page = session.api().get(&path).await.json()?;
    let bots = page["data"].as_array().cloned().unwrap_or_default();
    let body = html! {
        p.help { "Pick a bot to get its TradingView webhook URL and ready-to-paste alert messages." }
        @if bots.is_empty() {
            p.notice { "No bots yet. " a href="/ui/bots" { "Create one on the Bots page" } " first." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Bot" } th { "Symbols" } th { "Status" } } }
                tbody { @for b in &bots {
                    tr {
                        td { a href={ "/ui/setup/" (b["id"].as_str().unwrap_or("")) } title="Open this bot's webhook setup" { (b["name"].as_str().unwrap_or("")) } }
                        td { (join(&b["allowed_symbols"])) }
                        td { @if b["paused"].as_bool() == Some(true) { span.warn { "paused" } } @else { span.good { "active" } } }
                    }
                } }
            } }
            @if let Some(next) = page["next"].as_str() {
                p.pager { a href={ "/ui/setup?after=" (urlencode(next)) } title="The next 50 bots" { "Next page →" } }
            }
        }
    };
    Ok(layout::page(&session, Nav::Setup, "Webhook setup", body))
}

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) fn join(list: &Value) -> String {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// What the last action on the page produced.
enum Outcome {
    None,
    Test { status: StatusCode, body: Value },
    Rotated,
}

async fn render(session: &Session, id: &str, outcome: Outcome) -> Result<Markup, PageError> {
    let api = session.api();
    let bot = api.get(&format!("/api/v1/bots/{id}")).await.json()?;
    let templates = api
        .get(&format!("/api/v1/bots/{id}/alert-template"))
        .await
        .json()?;
    let name = bot["name"].as_str().unwrap_or("");
    let url = bot["webhook_url"].as_str().unwrap_or("");
    let paused = bot["paused"].as_bool() == Some(true);
    let symbols: Vec<&str> = bot["allowed_symbols"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let base = format!("/ui/setup/{id}");
    let body = html! {
        p { "Bot " a href={ "/ui/bots/" (id) } title="Edit this bot's settings" { (name) } " · "
            @if paused { span.warn { "paused" } } @else { span.good { "active" } } }
        @match &outcome {
            Outcome::Rotated => p.ok role="status" { "New token made. The old URL stopped working; update every TradingView alert with the URL below." },
            Outcome::Test { status, body } => div {
                @if status.is_success() {
                    p.ok role="status" { "The intake accepted the test signal (" (status.as_u16()) ")." }
                } @else {
                    p.error role="alert" { "The intake answered " (status.as_u16()) ": " (body["error"]["message"].as_str().unwrap_or("")) }
                }
                pre { (serde_json::to_string_pretty(body).unwrap_or_default()) }
            },
            Outcome::None => {},
        }
        section.card {
            h2 { "Webhook URL" }
            p.help { "Paste into the alert's " b { "Webhook URL" } " (Notifications tab). Keep it private: anyone with it can send this bot signals." }
            div.copyrow {
                input #webhook-url type="text" readonly value=(url) aria-label="Webhook URL" title="The bot's TradingView webhook URL";
                (copy_button("webhook-url", "webhook URL"))
            }
            div.actions {
                (action_button(session, &format!("{base}/rotate"), "Rotate token",
                    "Make a new token: the old URL stops working at once",
                    Some("Rotate the token? The current URL stops working at once.")))
            }
        }
        section.card {
            h2 { "Send a test signal" }
            p.help { "Sends a real signal through the intake (" code { "/hooks/tradingview/…" } "), like TradingView would. "
                b { "An active bot trades on it" } " on its broker. Pause the bot to test only the intake: the signal is then recorded as rejected (paused)." }
            form.stack method="post" action={ (base) "/test" } data-confirm=[(!paused).then_some("The bot is active and will place an order. Send the test signal?")] {
                (layout::csrf(session))
                div.cols {
                    (layout::select_field(&FormErrors::none(), "symbol", "Symbol", "One of the bot's allowed symbols",
                        &symbols.iter().map(|s| (*s, *s)).collect::<Vec<_>>(), symbols.first().copied().unwrap_or("")))
                    (layout::select_field(&FormErrors::none(), "action", "Action", "buy enters long (or reverses a short), sell enters short, exit closes the position",
                        &[("exit", "exit"), ("buy", "buy"), ("sell", "sell")], "exit"))
                }
                div { button type="submit" title="Post the signal to this bot's webhook now" { "Send test signal" } }
            }
        }
        section.card {
            h2 { "Alert messages" }
            p.help { "Paste one into the alert's " b { "Message" } ". Placeholders like " code { "{{ticker}}" } " are filled in by TradingView." }
            @for (i, t) in templates["templates"].as_array().into_iter().flatten().enumerate() {
                @let tid = format!("template-{i}");
                h3 { (t["name"].as_str().unwrap_or("")) " " small.muted { "(" (t["format"].as_str().unwrap_or("")) ")" } }
                div.copyrow {
                    pre id=(tid) { (t["message"].as_str().unwrap_or("")) }
                    (copy_button(&tid, "alert message"))
                }
                p.help { (t["notes"].as_str().unwrap_or("")) }
            }
        }
    };
    Ok(layout::page(
        session,
        Nav::Setup,
        &format!("Setup: {name}"),
        body,
    ))
}

pub async fn page(session: Session, Path(id): Path<String>) -> Result<Markup, PageError> {
    render(&session, &id, Outcome::None).await
}

pub async fn rotate(Path(id): Path<String>, posted: Posted) -> Result<Markup, PageError> {
    let session = posted.session;
    session
        .api()
        .post(&format!("/api/v1/bots/{id}/rotate-token"), &json!({}))
        .await
        .json()?;
    render(&session, &id, Outcome::Rotated).await
}

/// Posts a TradersPost-style signal to the bot's webhook in-process and
/// shows the intake's answer.
pub async fn send_test(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    let session = posted.session;
    let state = session.state();
    // The API's view of the bot gives the token; the body secret is
    // never shown by the API, so it is opened here, on the server.
    let bot = session
        .api()
        .get(&format!("/api/v1/bots/{id}"))
        .await
        .json()?;
    let token = bot["token"].as_str().unwrap_or_default().to_string();
    let record = state
        .store
        .get_bot(&id)
        .await
        .map_err(PageError::internal)?;
    let symbol = posted.form.text("symbol").unwrap_or_default();
    let action = posted.form.text("action").unwrap_or_else(|| "exit".into());
    let now = now_ms();
    let mut signal = json!({
        "ticker": symbol,
        "action": action,
        "time": rfc3339_ms(now),
        "signal_id": format!("dashboard-test-{now}"),
        "test": true,
    });
    if let Some(sealed) = &record.body_secret_sealed
        && let Ok(secret) = state.sealer.open(sealed)
    {
        signal["secret"] = secret.into();
    }
    let req = Request::post(format!("/hooks/tradingview/{token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(signal.to_string()))
        .expect("a valid request");
    let answer = session.api().raw(req).await;
    let status = answer.status();
    let bytes = axum::body::to_bytes(answer.into_body(), 1024 * 1024)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let page = render(&session, &id, Outcome::Test { status, body }).await?;
    Ok(page.into_response())
}
