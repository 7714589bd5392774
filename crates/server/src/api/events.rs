//! Events: the history (`GET /api/v1/events`) and a live stream (SSE).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tradehook_core::event::{EVENT_TYPES, rfc3339_ms};
use tradehook_core::webhook::pattern::EventPattern;
use tradehook_store::{EventFilter, StoredEvent};
use utoipa::{IntoParams, ToSchema};

use crate::api::deliveries::parse_time;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::ApiJson;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    #[schema(example = "evt_0192f5c2a1b07c3d8e9f001122334455")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "alert.triggered")]
    pub event_type: String,
    pub timestamp: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<EventView>,
    /// Pass as `after` for the next page; null when there is no more now.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventParams {
    /// Comma-separated type patterns, e.g. `alert.*,order.filled`.
    #[serde(rename = "type")]
    pub types: Option<String>,
    /// Events at or after this time (RFC 3339 or Unix ms).
    pub from: Option<String>,
    /// Events before this time (RFC 3339 or Unix ms).
    pub to: Option<String>,
    /// The previous page's `next`.
    pub after: Option<String>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StreamParams {
    /// Comma-separated type patterns (default `*`).
    #[serde(rename = "type")]
    pub types: Option<String>,
}

fn view(e: StoredEvent) -> EventView {
    EventView {
        id: e.event.id,
        event_type: e.event.event_type,
        timestamp: rfc3339_ms(e.event.timestamp_ms),
        data: e.event.data,
    }
}

/// The exact event types that the comma-separated patterns match; empty
/// means all.
fn types_for(field: &str, patterns: Option<&str>) -> ApiResult<Vec<String>> {
    let Some(text) = patterns.filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let mut parsed = Vec::new();
    for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        parsed
            .push(EventPattern::parse(p).map_err(|e| ApiError::validation(field, e.to_string()))?);
    }
    if parsed.iter().any(|p| p.as_str() == "*") {
        return Ok(Vec::new());
    }
    Ok(EVENT_TYPES
        .iter()
        .filter(|t| parsed.iter().any(|p| p.matches(t)))
        .map(|t| t.to_string())
        .collect())
}

fn parse_cursor(text: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::validation("after", "not a cursor from a previous page"))
}

/// Events in the order they happened, filtered by type and time.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams),
    responses((status = 200, description = "A page of events", body = EventPage),
        (status = 422, description = "Invalid filter", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<EventParams>,
) -> ApiResult<ApiJson<EventPage>> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 500"));
    }
    let filter = EventFilter {
        types: types_for("type", p.types.as_deref())?,
        from: p
            .from
            .as_deref()
            .map(|t| parse_time("from", t))
            .transpose()?,
        to: p.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
        after_seq: p.after.as_deref().map(parse_cursor).transpose()?,
        limit,
    };
    let rows = state.store.list_events(&filter).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(ApiJson(EventPage {
        data: rows.into_iter().map(view).collect(),
        next,
    }))
}

/// Live events as Server-Sent Events. Each message has the event id as
/// its SSE `id`, the type as its `event` and the webhook body as `data`.
/// Send `Last-Event-ID` to resume after an event; without it the stream
/// starts with the next event.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", params(StreamParams),
    responses((status = 200, description = "text/event-stream of events", content_type = "text/event-stream", body = String),
        (status = 422, description = "Invalid pattern or Last-Event-ID", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    _caller: Identity,
    headers: HeaderMap,
    Query(p): Query<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let types = types_for("type", p.types.as_deref())?;
    let start = match headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or(""))
    {
        Some(id) => state.store.event_seq(id).await?.ok_or_else(|| {
            ApiError::validation(
                "Last-Event-ID",
                format!("no event with id `{id}` (it may be past retention)"),
            )
        })?,
        None => state.store.last_event_seq().await?,
    };
    let stop = state.shutdown.clone();
    let mut wake = state.outbox.subscribe();
    let store = state.store.clone();
    let events = async_stream::stream! {
        let mut cursor = start;
        loop {
            let filter = EventFilter { types: types.clone(), after_seq: Some(cursor), limit: 500, ..EventFilter::default() };
            match store.list_events(&filter).await {
                Ok(batch) if !batch.is_empty() => {
                    for e in batch {
                        cursor = e.seq;
                        let body = e.event.webhook_body();
                        yield Ok(SseEvent::default().id(e.event.id).event(e.event.event_type).data(body));
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "event stream: read failed; retrying"),
            }
            // Wake on this process's commits; poll for other replicas'.
            tokio::select! {
                () = stop.cancelled() => break,
                _ = wake.changed() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    };
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
