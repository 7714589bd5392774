//! Bots: the list with status and today's P&L (equity snapshots), a
//! create form, pause and resume, and the manual SL/TP cleanup. The
//! settings form is in `bot_settings`.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use tradehook_brokers::Decimal;
use tradehook_core::time::now_ms;

use super::layout::{self, Nav, PageError, see_other};
use super::setup::{join, urlencode};
use super::{FormData, FormErrors, Posted, Session};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    done: Option<String>,
}

fn midnight_utc(now: i64) -> i64 {
    now - now.rem_euclid(86_400_000)
}

async fn pnl_today(session: &Session, bot_id: &str) -> Option<String> {
    let (start, end) = session
        .state()
        .store
        .equity_change(bot_id, midnight_utc(now_ms()))
        .await
        .ok()??;
    let change = end.parse::<Decimal>().ok()? - start.parse::<Decimal>().ok()?;
    Some(change.round_dp(2).to_string())
}

pub(super) async fn accounts(session: &Session) -> Result<Vec<(String, String)>, PageError> {
    let list = session.api().get("/api/v1/broker-accounts").await.json()?;
    Ok(list["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["id"].as_str().unwrap_or("").to_string(),
                format!(
                    "{} ({})",
                    a["name"].as_str().unwrap_or(""),
                    a["kind"].as_str().unwrap_or("")
                ),
            )
        })
        .collect())
}

pub(super) fn account_field(
    errors: &FormErrors,
    accounts: &[(String, String)],
    selected: &str,
) -> Markup {
    let options: Vec<(&str, &str)> = accounts
        .iter()
        .map(|(id, name)| (id.as_str(), name.as_str()))
        .collect();
    layout::select_field(
        errors,
        "broker_account_id",
        "Broker account",
        "Where this bot's orders go",
        &options,
        selected,
    )
}

fn create_form(
    session: &Session,
    accounts: &[(String, String)],
    f: &FormData,
    errors: &FormErrors,
) -> Markup {
    let v = |n: &str| f.text(n).unwrap_or_default();
    html! {
        @if accounts.is_empty() {
            p.notice { "Add a broker account first on the " a href="/ui/brokers" { "Brokers" } " page." }
        } @else {
            form.stack method="post" action="/ui/bots" novalidate {
                (layout::csrf(session))
                (layout::form_errors(errors))
                div.cols {
                    (layout::text_field(errors, "name", "Name", "A unique name, e.g. btc-trend", &v("name"), "required"))
                    (account_field(errors, accounts, &v("broker_account_id")))
                    (layout::text_field(errors, "allowed_symbols", "Allowed symbols",
                        "Symbols as TradingView's {{ticker}} sends them, comma separated: BTCUSD, ETHUSD", &v("allowed_symbols"), "required"))
                }
                (layout::check_field(errors, "paused", "Create paused", "Signals are recorded but not traded until you resume", f.checked("paused")))
                p.help { "Settings start from their defaults; change them on the bot's page." }
                div { button type="submit" title="Create the bot and its webhook URL" { "Create bot" } }
            }
        }
    }
}

async fn render_list(
    session: &Session,
    q: &ListQuery,
    f: &FormData,
    errors: &FormErrors,
) -> Result<Markup, PageError> {
    let mut path = "/api/v1/bots?limit=50".to_string();
    if let Some(a) = &q.after {
        path.push_str(&format!("&after={}", urlencode(a)));
    }
    let page = session.api().get(&path).await.json()?;
    let bots = page["data"].as_array().cloned().unwrap_or_default();
    let mut pnl = Vec::with_capacity(bots.len());
    for b in &bots {
        pnl.push(pnl_today(session, b["id"].as_str().unwrap_or("")).await);
    }
    let accounts = accounts(session).await?;
    let body = html! {
        (layout::flash(q.done.as_deref()))
        @if bots.is_empty() {
            p.notice { "No bots yet." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { "Bot" } th { "Status" } th.hide-sm { "Symbols" }
                    th.num title="Equity now minus equity at midnight UTC, from the bot's equity snapshots" { "P&L today" }
                    th { "Actions" }
                } }
                tbody { @for (b, p) in bots.iter().zip(&pnl) {
                    @let id = b["id"].as_str().unwrap_or("");
                    @let paused = b["paused"].as_bool() == Some(true);
                    tr {
                        td { a href={ "/ui/bots/" (id) } title="Settings" { (b["name"].as_str().unwrap_or("")) } }
                        td { @if paused {
                                span.badge.warn title=(b["paused_reason"].as_str().unwrap_or("paused")) { "paused" }
                            } @else { span.badge.good { "active" } } }
                        td.hide-sm { (join(&b["allowed_symbols"])) }
                        td.num { @match p { Some(v) => span class=(if v.starts_with('-') { "bad" } else { "good" }) { (v) }, None => span.muted title="No equity snapshots yet" { "–" } } }
                        td { div.actions {
                            (pause_button(session, id, paused))
                            a href={ "/ui/setup/" (id) } title="Webhook URL and alert messages" { "Setup" }
                        } }
                    }
                } }
            } }
            @if let Some(next) = page["next"].as_str() {
                p.pager { a href={ "/ui/bots?after=" (urlencode(next)) } title="The next 50 bots" { "Next page →" } }
            }
        }
        h2 { "Create a bot" }
        (create_form(session, &accounts, f, errors))
    };
    Ok(layout::page(session, Nav::Bots, "Bots", body))
}

pub(super) fn pause_button(session: &Session, id: &str, paused: bool) -> Markup {
    html! {
        form.inline method="post" action={ "/ui/bots/" (id) "/pause" } {
            (layout::csrf(session))
            input type="hidden" name="paused" value=(if paused { "false" } else { "true" });
            @if paused {
                button.plain type="submit" title="Resume: trade on new signals again" { "Resume" }
            } @else {
                button.plain type="submit" title="Pause: record new signals as rejected instead of trading" { "Pause" }
            }
        }
    }
}

pub async fn list(session: Session, Query(q): Query<ListQuery>) -> Result<Markup, PageError> {
    render_list(&session, &q, &FormData::default(), &FormErrors::none()).await
}

pub(super) fn unprocessable(status: StatusCode) -> StatusCode {
    if status.is_client_error() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        status
    }
}

pub async fn create(posted: Posted) -> Result<Response, PageError> {
    let f = &posted.form;
    let body = json!({
        "name": f.text("name").unwrap_or_default(),
        "broker_account_id": f.text("broker_account_id").unwrap_or_default(),
        "allowed_symbols": f.list("allowed_symbols"),
        "paused": f.checked("paused"),
    });
    let reply = posted.session.api().post("/api/v1/bots", &body).await;
    if reply.ok() {
        let id = reply.body["id"].as_str().unwrap_or("");
        return Ok(see_other(&format!("/ui/setup/{id}")));
    }
    let q = ListQuery {
        after: None,
        done: None,
    };
    let page = render_list(&posted.session, &q, f, &reply.form_errors()).await?;
    Ok((unprocessable(reply.status), page).into_response())
}

pub async fn pause(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    let paused = posted.form.text("paused").as_deref() != Some("false");
    posted
        .session
        .api()
        .patch(&format!("/api/v1/bots/{id}"), &json!({ "paused": paused }))
        .await
        .json()?;
    let done = if paused { "paused" } else { "resumed" };
    Ok(see_other(&format!("/ui/bots/{id}?done={done}")))
}

pub async fn cleanup(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    posted
        .session
        .api()
        .post(&format!("/api/v1/bots/{id}/cleanup"), &json!({}))
        .await
        .json()?;
    Ok(see_other(&format!("/ui/bots/{id}?done=cleaned")))
}
