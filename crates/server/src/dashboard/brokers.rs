//! Broker accounts: connection status, equity, buying power and positions
//! (`/api/v1/broker-accounts/{id}/status`), the add form and delete.
//!
//! Credentials are write-only: the form's secret inputs are never filled
//! back in, not even after a validation error, and the API never returns
//! them. The edit page (`/ui/brokers/{id}`) changes the name, the base URL
//! and, for Alpaca, the keys (empty key fields keep the stored ones); kind,
//! environment and starting cash are fixed at creation, as in the API.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::Done;
use super::layout::{self, Nav, PageError, action_button, see_other};
use super::{FormData, FormErrors, Posted, Session};

/// Accounts whose live status is fetched on one page view; each may be a
/// call to the broker.
const STATUS_LIMIT: usize = 20;

fn form(session: &Session, f: &FormData, errors: &FormErrors) -> Markup {
    let v = |n: &str| f.text(n).unwrap_or_default();
    let kind = f.text("kind").unwrap_or_else(|| "paper".into());
    let env = f.text("environment").unwrap_or_else(|| "paper".into());
    html! {
        form.stack method="post" action="/ui/brokers" novalidate {
            (layout::csrf(session))
            (layout::form_errors(errors))
            div.cols {
                (layout::text_field(errors, "name", "Name", "A unique name, e.g. paper-main", &v("name"), "required"))
                (layout::select_field(errors, "kind", "Broker",
                    "paper: the built-in simulator, no account needed. alpaca: your Alpaca account's API keys.",
                    &[("paper", "paper (built in)"), ("alpaca", "Alpaca")], &kind))
                (layout::select_field(errors, "environment", "Environment",
                    "paper trades simulated money; live trades real money (Alpaca only)",
                    &[("paper", "paper"), ("live", "live (real money)")], &env))
                (layout::number_field(errors, "starting_cash", "Starting cash",
                    "Paper accounts only: opening cash in dollars (default 100000)", &v("starting_cash")))
            }
            fieldset {
                legend title="Alpaca API keys; stored sealed and never shown again" { "Alpaca credentials (write-only)" }
                @if let Some(e) = errors.field("credentials") { p.field-error { (e) } }
                div.cols {
                    (layout::text_field(errors, "credentials.key_id", "Key ID", "The API key ID from Alpaca's dashboard. Never shown again.", "", "password"))
                    (layout::text_field(errors, "credentials.secret_key", "Secret key", "The secret key from Alpaca's dashboard. Never shown again.", "", "password"))
                }
                (layout::text_field(errors, "base_url", "Base URL (optional)",
                    "Overrides the broker's API address (https). Leave empty for Alpaca's own.", &v("base_url"), ""))
            }
            div { button type="submit" title="Create the account" { "Add account" } }
        }
    }
}

async fn render(
    session: &Session,
    done: Option<&str>,
    f: &FormData,
    errors: &FormErrors,
    top_error: Option<&str>,
) -> Result<Markup, PageError> {
    let api = session.api();
    let list = api.get("/api/v1/broker-accounts").await.json()?;
    let accounts = list["data"].as_array().cloned().unwrap_or_default();
    let statuses = join_all(accounts.iter().take(STATUS_LIMIT).map(|a| {
        let path = format!(
            "/api/v1/broker-accounts/{}/status",
            a["id"].as_str().unwrap_or("")
        );
        async move { api.get(&path).await }
    }))
    .await;
    let body = html! {
        (layout::flash(done))
        @if let Some(e) = top_error { p.error role="alert" { (e) } }
        @if accounts.is_empty() {
            p.notice { "No broker accounts yet. Add a paper account to start without any broker." }
        }
        @for (i, a) in accounts.iter().enumerate() {
            @let id = a["id"].as_str().unwrap_or("");
            section.card {
                h2 { (a["name"].as_str().unwrap_or("")) " "
                    small.muted { (a["kind"].as_str().unwrap_or("")) " · " (a["environment"].as_str().unwrap_or(""))
                        @if a["has_credentials"].as_bool() == Some(true) { " · credentials set" } } }
                @match statuses.get(i) {
                    None => p.muted { "Status not loaded (only the first " (STATUS_LIMIT) " accounts are checked per view)." },
                    Some(s) if !s.ok() => p.error { "Status unavailable: " (s.message()) },
                    Some(s) => (status(&s.body)),
                }
                div.actions {
                    code.muted { (id) }
                    a href={ "/ui/brokers/" (id) } title="Change the name, base URL or Alpaca keys" { "Edit" }
                    (action_button(session, &format!("/ui/brokers/{id}/delete"), "Delete",
                        "Delete this account (refused while a bot uses it)",
                        Some("Delete this broker account?")))
                }
            }
        }
        h2 { "Add an account" }
        (form(session, f, errors))
    };
    Ok(layout::page(session, Nav::Brokers, "Brokers", body))
}

fn status(s: &Value) -> Markup {
    let text = |k: &str| s[k].as_str().unwrap_or("–").to_string();
    html! {
        p {
            @if s["connected"].as_bool() == Some(true) {
                span.badge.good title="The broker answered just now" { "connected" }
            } @else {
                span.badge.bad title="The broker did not answer" { "not connected" }
                " " (s["error"].as_str().unwrap_or(""))
            }
        }
        @if s["connected"].as_bool() == Some(true) {
            div.stats {
                div.stat title="Cash plus the market value of positions" { b { (text("equity")) } span { "equity " (text("currency")) } }
                div.stat title="What the broker lets you spend now" { b { (text("buying_power")) } span { "buying power" } }
                div.stat { b { (text("cash")) } span { "cash" } }
            }
            @let positions = s["positions"].as_array().cloned().unwrap_or_default();
            @if positions.is_empty() {
                p.muted { "No open positions." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "Symbol" } th.num title="Negative for a short" { "Qty" } th.num { "Avg entry" } th.num { "Market value" } th.num { "Unrealised P&L" } } }
                    tbody { @for p in &positions {
                        tr {
                            td { (p["symbol"].as_str().unwrap_or("")) }
                            td.num { (p["qty"].as_str().unwrap_or("")) }
                            td.num { (p["avg_entry_price"].as_str().unwrap_or("")) }
                            td.num { (p["market_value"].as_str().unwrap_or("")) }
                            td.num { (p["unrealized_pl"].as_str().unwrap_or("")) }
                        }
                    } }
                } }
            }
        }
    }
}

pub async fn list(session: Session, Query(q): Query<Done>) -> Result<Markup, PageError> {
    render(
        &session,
        q.done.as_deref(),
        &FormData::default(),
        &FormErrors::none(),
        None,
    )
    .await
}

/// The API body from the form: fields are named after its JSON paths.
fn body(f: &FormData) -> Value {
    let mut body = json!({
        "name": f.text("name").unwrap_or_default(),
        "kind": f.text("kind").unwrap_or_default(),
        "environment": f.text("environment").unwrap_or_else(|| "paper".into()),
    });
    if f.text("starting_cash").is_some() {
        body["starting_cash"] = f.number("starting_cash");
    }
    if let Some(url) = f.text("base_url") {
        body["base_url"] = url.into();
    }
    let key_id = f.text("credentials.key_id");
    let secret = f.text("credentials.secret_key");
    if key_id.is_some() || secret.is_some() {
        body["credentials"] = json!({
            "key_id": key_id.unwrap_or_default(),
            "secret_key": secret.unwrap_or_default(),
        });
    }
    body
}

pub async fn create(posted: Posted) -> Result<Response, PageError> {
    let reply = posted
        .session
        .api()
        .post("/api/v1/broker-accounts", &body(&posted.form))
        .await;
    if reply.ok() {
        return Ok(see_other("/ui/brokers?done=created"));
    }
    let status = if reply.status == StatusCode::CONFLICT || reply.status.is_client_error() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        reply.status
    };
    let page = render(
        &posted.session,
        None,
        &posted.form,
        &reply.form_errors(),
        None,
    )
    .await?;
    Ok((status, page).into_response())
}

pub async fn delete(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    let reply = posted
        .session
        .api()
        .delete(&format!("/api/v1/broker-accounts/{id}"))
        .await;
    if reply.ok() {
        return Ok(see_other("/ui/brokers?done=deleted"));
    }
    let message = reply.message();
    let page = render(
        &posted.session,
        None,
        &FormData::default(),
        &FormErrors::none(),
        Some(&message),
    )
    .await?;
    Ok((reply.status, page).into_response())
}

fn edit_form(session: &Session, account: &Value, f: &FormData, errors: &FormErrors) -> Markup {
    let id = account["id"].as_str().unwrap_or("");
    let current = |n: &str| account[n].as_str().unwrap_or("").to_string();
    // After a failed save the form shows what was typed, not what is stored.
    let v = |n: &str| {
        if errors.is_empty() {
            current(n)
        } else {
            f.text(n).unwrap_or_default()
        }
    };
    let alpaca = account["kind"].as_str() == Some("alpaca");
    html! {
        form.stack method="post" action={ "/ui/brokers/" (id) } novalidate {
            (layout::csrf(session))
            (layout::form_errors(errors))
            p.muted { "Broker " b { (current("kind")) } " · environment " b { (current("environment")) }
                " · fixed at creation (add a new account to change them)." }
            div.cols {
                (layout::text_field(errors, "name", "Name", "A unique name for this account", &v("name"), "required"))
                (layout::text_field(errors, "base_url", "Base URL (optional)",
                    "Overrides the broker's API address (https). Empty: the broker's own.", &v("base_url"), ""))
            }
            @if alpaca {
                fieldset {
                    legend title="Stored sealed and never shown; leave both empty to keep the current keys" { "Replace the Alpaca keys (write-only)" }
                    @if let Some(e) = errors.field("credentials") { p.field-error { (e) } }
                    p.muted { @if account["has_credentials"].as_bool() == Some(true) { "Keys are set. " } "Leave both empty to keep them." }
                    div.cols {
                        (layout::text_field(errors, "credentials.key_id", "New key ID", "The API key ID from Alpaca's dashboard. Never shown again.", "", "password"))
                        (layout::text_field(errors, "credentials.secret_key", "New secret key", "The secret key from Alpaca's dashboard. Never shown again.", "", "password"))
                    }
                }
            }
            div.actions {
                button type="submit" title="Save the changes" { "Save" }
                a href="/ui/brokers" title="Back without saving" { "Cancel" }
            }
        }
    }
}

async fn render_edit(
    session: &Session,
    id: &str,
    f: &FormData,
    errors: &FormErrors,
) -> Result<Markup, PageError> {
    let account = session
        .api()
        .get(&format!("/api/v1/broker-accounts/{id}"))
        .await
        .json()?;
    let title = format!("Edit {}", account["name"].as_str().unwrap_or("account"));
    let body = edit_form(session, &account, f, errors);
    Ok(layout::page(session, Nav::Brokers, &title, body))
}

pub async fn edit(session: Session, Path(id): Path<String>) -> Result<Markup, PageError> {
    render_edit(&session, &id, &FormData::default(), &FormErrors::none()).await
}

/// The PATCH body: name and base URL always (empty clears the URL), keys
/// only when one of them was typed.
fn patch_body(f: &FormData) -> Value {
    let mut body = json!({
        "name": f.text("name").unwrap_or_default(),
        "base_url": f.text("base_url"),
    });
    let key_id = f.text("credentials.key_id");
    let secret = f.text("credentials.secret_key");
    if key_id.is_some() || secret.is_some() {
        body["credentials"] = json!({
            "key_id": key_id.unwrap_or_default(),
            "secret_key": secret.unwrap_or_default(),
        });
    }
    body
}

pub async fn save(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    let reply = posted
        .session
        .api()
        .patch(
            &format!("/api/v1/broker-accounts/{id}"),
            &patch_body(&posted.form),
        )
        .await;
    if reply.ok() {
        return Ok(see_other("/ui/brokers?done=saved"));
    }
    if reply.status == StatusCode::NOT_FOUND {
        return Err(PageError::not_found(reply.message()));
    }
    let status = if reply.status.is_client_error() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        reply.status
    };
    let page = render_edit(&posted.session, &id, &posted.form, &reply.form_errors()).await?;
    Ok((status, page).into_response())
}
