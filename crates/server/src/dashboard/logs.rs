//! Logs: the signal log (every received signal, newest first, filtered by
//! bot and status, searched by symbol, paged with the store's cursor) and
//! each bot's broker-call log (paged through `/api/v1/bots/{id}/logs`).
//! Both download as JSONL; the browser cannot send the API key header, so
//! the downloads are dashboard routes that read with the session.

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use tradehook_core::event::rfc3339_ms;
use tradehook_store::{SignalFilter, SignalRecord, SignalStatus};

use super::Session;
use super::layout::{self, Nav, PageError};
use super::setup::urlencode;

const STATUSES: &[&str] = &["accepted", "rejected", "executing", "executed", "failed"];
/// Rows per page of the signal log.
const PAGE: i64 = 50;
/// A symbol search reads at most this many pages of signals.
const SEARCH_PAGES: usize = 10;
/// Rows in one JSONL download.
const DOWNLOAD_ROWS: i64 = 1000;

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    bot: Option<String>,
    status: Option<String>,
    symbol: Option<String>,
    cursor: Option<String>,
}

impl LogQuery {
    fn bot(&self) -> Option<String> {
        self.bot.clone().filter(|b| !b.is_empty())
    }
    fn status(&self) -> Option<SignalStatus> {
        self.status.as_deref().and_then(SignalStatus::parse)
    }
    fn symbol(&self) -> Option<String> {
        self.symbol
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_uppercase)
    }
    /// The filters as a query string (without the cursor).
    fn filters(&self) -> String {
        let mut q = Vec::new();
        if let Some(b) = self.bot() {
            q.push(format!("bot={}", urlencode(&b)));
        }
        if let Some(s) = self.status() {
            q.push(format!("status={}", s.as_str()));
        }
        if let Some(s) = self.symbol() {
            q.push(format!("symbol={}", urlencode(&s)));
        }
        q.join("&")
    }
}

fn time(ms: i64) -> String {
    rfc3339_ms(ms).replace('T', " ")
}

/// A page of signals matching the query: the store filters by bot and
/// status; a symbol search reads at most [`SEARCH_PAGES`] pages and keeps
/// the matches, so it stays bounded.
async fn signals(
    session: &Session,
    q: &LogQuery,
    limit: i64,
) -> Result<(Vec<SignalRecord>, Option<String>), PageError> {
    let symbol = q.symbol();
    let mut cursor = q.cursor.clone().filter(|c| !c.is_empty());
    let mut found = Vec::new();
    for _ in 0..SEARCH_PAGES {
        let page = session
            .state()
            .store
            .list_signals(&SignalFilter {
                bot_id: q.bot(),
                status: q.status(),
                from: None,
                to: None,
                cursor: cursor.clone(),
                limit,
            })
            .await
            .map_err(|e| PageError::not_found(format!("cannot read signals: {e}")))?;
        cursor = page.next;
        found.extend(page.signals.into_iter().filter(|s| {
            symbol
                .as_deref()
                .is_none_or(|sym| s.symbol.to_uppercase().contains(sym))
        }));
        if symbol.is_none() || found.len() as i64 >= limit || cursor.is_none() {
            break;
        }
    }
    Ok((found, cursor))
}

async fn bots(session: &Session) -> Vec<Value> {
    let reply = session.api().get("/api/v1/bots?limit=100").await;
    reply.body["data"].as_array().cloned().unwrap_or_default()
}

fn bot_name<'a>(bots: &'a [Value], id: &'a str) -> &'a str {
    bots.iter()
        .find(|b| b["id"].as_str() == Some(id))
        .and_then(|b| b["name"].as_str())
        .unwrap_or(id)
}

fn status_badge(st: &str) -> Markup {
    let class = match st {
        "executed" | "accepted" => "good",
        "rejected" | "failed" => "bad",
        _ => "warn",
    };
    html! { span.badge class=(class) { (st) } }
}

pub async fn page(session: Session, Query(q): Query<LogQuery>) -> Result<Markup, PageError> {
    let bots = bots(&session).await;
    let (rows, next) = signals(&session, &q, PAGE).await?;
    let bot = q.bot();
    let status = q.status().map(SignalStatus::as_str);
    let symbol = q.symbol();
    let filters = q.filters();
    let body = html! {
        h2 { "Signals" }
        form.inline.filters method="get" action="/ui/logs" {
            label for="f-bot" title="Show only this bot's signals" { "Bot " }
            select #f-bot name="bot" title="Show only this bot's signals" {
                option value="" { "all" }
                @for b in &bots {
                    @let id = b["id"].as_str().unwrap_or("");
                    option value=(id) selected[bot.as_deref() == Some(id)] { (b["name"].as_str().unwrap_or(id)) }
                }
            }
            " "
            label for="f-status" title="Show only signals in this state" { "Status " }
            select #f-status name="status" title="Show only signals in this state" {
                option value="" { "all" }
                @for s in STATUSES { option value=(s) selected[status == Some(*s)] { (s) } }
            }
            " "
            label for="f-symbol" title="Signals whose symbol contains this text" { "Symbol " }
            input #f-symbol type="search" name="symbol" size="10" value=(symbol.clone().unwrap_or_default())
                title="Signals whose symbol contains this text (case-insensitive)";
            " " button.plain type="submit" title="Apply the filters" { "Filter" }
            " " a href={ "/ui/logs/signals.jsonl?" (filters) } download
                title="The signals matching these filters (up to 1000, newest first) as JSON lines" { "Download JSONL" }
        }
        @if rows.is_empty() {
            p.notice { "No signals match." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { "Received" } th { "Bot" } th.hide-sm { "Format" } th { "Symbol" } th { "Action" }
                    th { "Status" } th.hide-sm title="Why it was rejected or failed" { "Reason" }
                } }
                tbody { @for s in &rows {
                    tr {
                        td.mono { (time(s.received_at)) }
                        td { a href={ "/ui/logs/" (urlencode(&s.bot_id)) } title="This bot's broker calls" { (bot_name(&bots, &s.bot_id)) } }
                        td.hide-sm { (s.format) }
                        td { (s.symbol) }
                        td { (s.action) }
                        td { (status_badge(&s.status)) }
                        td.hide-sm { (s.reason.as_deref().unwrap_or("")) }
                    }
                } }
            } }
            @if let Some(next) = &next {
                p.pager { a href={ "/ui/logs?" (filters) "&cursor=" (urlencode(next)) } title="The next (older) signals" { "Older →" } }
            }
        }
        h2 { "Broker calls" }
        @if bots.is_empty() {
            p.notice { "No bots yet." }
        } @else {
            ul { @for b in &bots {
                @let id = b["id"].as_str().unwrap_or("");
                li { a href={ "/ui/logs/" (urlencode(id)) } title="Every call this bot made to its broker" { (b["name"].as_str().unwrap_or(id)) }
                    " · " a href={ "/ui/logs/" (urlencode(id)) "/calls.jsonl" } download
                        title="This bot's broker calls (up to 1000, oldest first) as JSON lines" { "Download JSONL" } }
            } }
        }
    };
    Ok(layout::page(&session, Nav::Logs, "Logs", body))
}

/// The signals matching the filters as JSON lines (bounded).
pub async fn signals_jsonl(
    session: Session,
    Query(mut q): Query<LogQuery>,
) -> Result<Response, PageError> {
    let mut all = Vec::new();
    while (all.len() as i64) < DOWNLOAD_ROWS {
        let (rows, next) = signals(&session, &q, 200).await?;
        all.extend(rows);
        match next {
            Some(n) => q.cursor = Some(n),
            None => break,
        }
    }
    all.truncate(DOWNLOAD_ROWS as usize);
    let mut body = String::new();
    for s in &all {
        let line = serde_json::json!({
            "id": s.id, "bot_id": s.bot_id, "received_at": rfc3339_ms(s.received_at),
            "format": s.format, "symbol": s.symbol, "action": s.action,
            "status": s.status, "reason": s.reason, "parsed": s.parsed,
        });
        body.push_str(&line.to_string());
        body.push('\n');
    }
    Ok(jsonl_response("signals.jsonl", Body::from(body)))
}

fn jsonl_response(name: &str, body: Body) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[derive(Debug, Default, Deserialize)]
pub struct CallQuery {
    cursor: Option<String>,
}

pub async fn bot(
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<CallQuery>,
) -> Result<Markup, PageError> {
    let bot = session
        .api()
        .get(&format!("/api/v1/bots/{}", urlencode(&id)))
        .await
        .json()?;
    let mut path = format!("/api/v1/bots/{}/logs?limit={PAGE}", urlencode(&id));
    if let Some(c) = q.cursor.as_deref().filter(|c| !c.is_empty()) {
        path.push_str(&format!("&cursor={}", urlencode(c)));
    }
    let page = session.api().get(&path).await.json()?;
    let calls = page["data"].as_array().cloned().unwrap_or_default();
    let name = bot["name"].as_str().unwrap_or(&id).to_string();
    let body = html! {
        p { a href="/ui/logs" title="The signal log" { "← Logs" } " · "
            a href={ "/ui/logs/" (urlencode(&id)) "/calls.jsonl" } download
                title="This bot's broker calls (up to 1000, oldest first) as JSON lines" { "Download JSONL" } }
        @if calls.is_empty() {
            p.notice { "No broker calls yet." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { "Time" } th { "Method" } th { "Path" } th { "Status" }
                    th.num title="From sending to the answer" { "Latency" } th.hide-sm { "Error" }
                } }
                tbody { @for c in &calls {
                    tr {
                        td.mono { (c["created_at"].as_str().unwrap_or("").replace('T', " ")) }
                        td { (c["method"].as_str().unwrap_or("")) }
                        td.mono { (c["path"].as_str().unwrap_or("")) }
                        td { @match c["status"].as_i64() {
                            Some(s) => span.badge class=(if s < 400 { "good" } else { "bad" }) { (s) },
                            None => span.badge.bad title="No answer came" { "none" },
                        } }
                        td.num { (c["latency_ms"].as_i64().unwrap_or(0)) " ms" }
                        td.hide-sm { (c["error"].as_str().unwrap_or("")) }
                    }
                } }
            } }
            @if let Some(next) = page["next"].as_str() {
                p.pager { a href={ "/ui/logs/" (urlencode(&id)) "?cursor=" (urlencode(next)) } title="The next (older) calls" { "Older →" } }
            }
        }
    };
    Ok(layout::page(
        &session,
        Nav::Logs,
        &format!("Broker calls: {name}"),
        body,
    ))
}

/// The bot's broker calls as JSON lines, streamed from the API with the
/// session's key.
pub async fn calls_jsonl(session: Session, Path(id): Path<String>) -> Result<Response, PageError> {
    let req = Request::builder()
        .uri(format!(
            "/api/v1/bots/{}/logs?format=jsonl&limit={DOWNLOAD_ROWS}",
            urlencode(&id)
        ))
        .body(Body::empty())
        .map_err(PageError::internal)?;
    let r = session.api().raw(req).await;
    if r.status() != StatusCode::OK {
        return Err(PageError::not_found("no such bot"));
    }
    Ok(jsonl_response("calls.jsonl", r.into_body()).into_response())
}
