//! The overview: prices of followed symbols with their age, feed health,
//! today's counts, failing endpoints and recent events, kept live by the
//! event stream (`/ui/stream`) and a small poll of `/ui/overview.json`.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, Request, header};
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use maud::{Markup, html};
use serde_json::{Value, json};
use tradehook_core::event::{EVENT_TYPES, rfc3339_ms};
use tradehook_core::time::now_ms;
use tradehook_store::EventFilter;

use super::Session;
use super::layout::{self, Nav, PageError, age};

/// Events shown when the page loads; the stream prepends newer ones.
const RECENT_EVENTS: i64 = 20;

fn midnight_utc(now: i64) -> i64 {
    let day = Utc
        .timestamp_millis_opt(now)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default();
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(0)
}

/// Prices, feed health and counts: what the page shows and polls.
async fn snapshot(session: &Session) -> Result<Value, PageError> {
    let state = session.state();
    let now = now_ms();
    let prices: Vec<Value> = state
        .market
        .followed()
        .iter()
        .map(|s| match state.market.price(s) {
            Some(p) => json!({"symbol": s, "price": p.price, "age_ms": (now - p.ts).max(0), "source": p.source}),
            None => json!({"symbol": s, "price": null, "age_ms": null, "source": null}),
        })
        .collect();
    let feed = state.market.feed_status();
    let feed = json!({
        "source": state.market.source,
        "connected": feed.as_ref().map(|f| f.connected.load(Ordering::Relaxed)),
        "reconnects": feed.as_ref().map(|f| f.reconnects.load(Ordering::Relaxed)),
        "last_message_age_ms": feed.as_ref()
            .map(|f| f.last_message_at.load(Ordering::Relaxed))
            .filter(|t| *t > 0)
            .map(|t| (now - t).max(0)),
    });
    let c = state
        .store
        .activity_counts(midnight_utc(now))
        .await
        .map_err(PageError::internal)?;
    Ok(json!({
        "prices": prices,
        "feed": feed,
        "counts": {
            "alerts": c.alerts, "signals": c.signals, "orders": c.orders,
            "deliveries": c.deliveries, "failed_deliveries": c.failed_deliveries,
        },
    }))
}

/// The JSON the page polls every few seconds.
pub async fn live(session: Session) -> Result<Response, PageError> {
    let mut r = Json(snapshot(&session).await?).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    Ok(r)
}

/// The API's event stream with the session's key: an `EventSource` sends
/// cookies but no `Authorization` header, so the dashboard forwards it.
pub async fn stream(session: Session, headers: HeaderMap) -> Response {
    let mut req = Request::get("/api/v1/events/stream");
    if let Some(id) = headers.get("last-event-id") {
        req = req.header("last-event-id", id);
    }
    let req = req.body(Body::empty()).expect("a valid request");
    session.api().raw(req).await
}

fn stat(id: &str, label: &str, value: &Value, tip: &str) -> Markup {
    html! {
        div.stat title=(tip) { b id={ "count-" (id) } { (value) } span { (label) } }
    }
}

pub async fn page(session: Session) -> Result<Markup, PageError> {
    let snap = snapshot(&session).await?;
    let store = &session.state().store;
    let failing = store
        .failing_endpoints(20)
        .await
        .map_err(PageError::internal)?;
    let last = store.last_event_seq().await.map_err(PageError::internal)?;
    let mut events = store
        .list_events(&EventFilter {
            after_seq: Some((last - RECENT_EVENTS).max(0)),
            limit: RECENT_EVENTS,
            ..EventFilter::default()
        })
        .await
        .map_err(PageError::internal)?;
    events.reverse();
    let now = now_ms();
    let c = &snap["counts"];
    let f = &snap["feed"];
    let body = html! {
        section.stats aria-label="Today (UTC)" {
            (stat("alerts", "alerts today", &c["alerts"], "Alerts fired since midnight UTC"))
            (stat("signals", "signals today", &c["signals"], "TradingView signals received since midnight UTC"))
            (stat("orders", "orders today", &c["orders"], "Broker orders placed since midnight UTC"))
            (stat("deliveries", "deliveries today", &c["deliveries"], "Webhook, Discord, Slack and Telegram deliveries created since midnight UTC"))
            (stat("failed_deliveries", "failed today", &c["failed_deliveries"], "Deliveries that gave up after their retries"))
        }
        div.grid {
            section.card {
                h2 { "Prices" }
                div.table-wrap { table {
                    thead { tr { th { "Symbol" } th.num { "Price" } th.num title="Time since the feed's last price for this symbol" { "Age" } } }
                    tbody {
                        @for p in snap["prices"].as_array().into_iter().flatten() {
                            @let sym = p["symbol"].as_str().unwrap_or("");
                            tr {
                                td { (sym) }
                                td.num.mono id={ "price-" (sym) } { @if p["price"].is_null() { "–" } @else { (p["price"]) } }
                                td.num id={ "age-" (sym) } { @match p["age_ms"].as_i64() { Some(a) => (age(a)), None => "no price yet" } }
                            }
                        }
                    }
                } }
            }
            section.card {
                h2 { "Feed" }
                table { tbody {
                    tr { th { "Source" } td { (f["source"].as_str().unwrap_or("")) } }
                    tr { th title="Whether the WebSocket to the exchange is up" { "Connection" }
                        td #feed-connected { @match f["connected"].as_bool() {
                            Some(true) => "connected", Some(false) => "disconnected", None => "no live feed" } } }
                    tr { th title="Time since the feed's last message of any kind" { "Last message" }
                        td #feed-age { @match f["last_message_age_ms"].as_i64() { Some(a) => (age(a)), None => "–" } } }
                    tr { th title="Reconnections since the service started" { "Reconnects" }
                        td #feed-reconnects { @match f["reconnects"].as_u64() { Some(n) => (n), None => "–" } } }
                } }
            }
            section.card {
                h2 { "Failing endpoints" }
                @if failing.is_empty() {
                    p.good { "None: every endpoint is delivering." }
                } @else {
                    div.table-wrap { table {
                        thead { tr { th { "Endpoint" } th { "State" } } }
                        tbody { @for e in &failing {
                            tr {
                                td { code { (e.id) } br; span.muted { (e.kind) " · " (if e.description.is_empty() { e.url.as_str() } else { e.description.as_str() }) } }
                                td { @if !e.enabled {
                                        span.bad { "disabled" } @if let Some(r) = &e.disabled_reason { br; small { (r) } }
                                    } @else if let Some(since) = e.failing_since {
                                        span.warn title=(rfc3339_ms(since)) { "failing for " (age(now - since)) }
                                    } }
                            }
                        } }
                    } }
                }
            }
        }
        section.card {
            h2 { "Recent events " small.muted #stream-status title="The live event stream's state" { "connecting…" } }
            (layout::json_script("event-types", &json!(EVENT_TYPES)))
            ul #events aria-live="polite" {
                @for e in &events {
                    li {
                        span.muted.mono { (rfc3339_ms(e.event.timestamp_ms).replace('T', " ").chars().take(19).collect::<String>()) " " }
                        code { (e.event.event_type) }
                        " " (e.event.data.to_string().chars().take(160).collect::<String>())
                    }
                }
                @if events.is_empty() { li #events-empty .muted { "No events yet. New ones appear here as they happen." } }
            }
        }
    };
    Ok(layout::page(&session, Nav::Overview, "Overview", body))
}
