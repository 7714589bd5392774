//! Deliveries: endpoints with their health, enable/disable, send-test and
//! secret rotation (the new secret shown once, in the answer to the post,
//! never in a URL); an endpoint's deliveries filtered by status; one
//! delivery's attempts with a replay button. Everything goes through the
//! `/api/v1/endpoints…` and `/api/v1/deliveries…` routes.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::bots::unprocessable;
use super::layout::{self, Nav, PageError, action_button, see_other};
use super::setup::{join, urlencode};
use super::{FormData, FormErrors, Posted, Session};

const STATUSES: &[&str] = &["pending", "delivered", "failed"];

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    done: Option<String>,
}

fn health(e: &Value) -> Markup {
    html! {
        @if e["enabled"].as_bool() != Some(true) {
            span.badge.warn title=(e["disabled_reason"].as_str().unwrap_or("disabled by a user")) { "disabled" }
        } @else if let Some(since) = e["failing_since"].as_str() {
            span.badge.bad title={ "Deliveries have been failing since " (since) } { "failing" }
        } @else {
            span.badge.good title="The last deliveries succeeded (or none were due)" { "healthy" }
        }
    }
}

fn endpoint_actions(session: &Session, e: &Value) -> Markup {
    let id = e["id"].as_str().unwrap_or("");
    let enabled = e["enabled"].as_bool() == Some(true);
    html! {
        div.actions {
            form.inline method="post" action={ "/ui/deliveries/" (id) "/enabled" } {
                (layout::csrf(session))
                input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
                @if enabled {
                    button.plain type="submit" title="Disable: stop delivering to this endpoint" { "Disable" }
                } @else {
                    button.plain type="submit" title="Enable: deliver to this endpoint again" { "Enable" }
                }
            }
            (action_button(session, &format!("/ui/deliveries/{id}/test"), "Send test",
                "Queue a test event to this endpoint; it shows in its deliveries", None))
            (action_button(session, &format!("/ui/deliveries/{id}/rotate"), "Rotate secret",
                "Make a new signing secret, shown once; the old one keeps signing for a grace period",
                Some("Rotate this endpoint's signing secret?")))
        }
    }
}

fn secret_once(secret: Option<&str>) -> Markup {
    html! {
        @if let Some(s) = secret {
            div.notice role="status" {
                p { strong { "The signing secret, shown only this once:" } }
                div.copyrow { pre #new-secret { (s) } (layout::copy_button("new-secret", "secret")) }
            }
        }
    }
}

fn create_form(session: &Session, f: &FormData, errors: &FormErrors) -> Markup {
    let v = |n: &str| f.text(n).unwrap_or_default();
    html! {
        form.stack method="post" action="/ui/deliveries" {
            (layout::csrf(session))
            (layout::form_errors(errors))
            div.cols {
                (layout::text_field(errors, "url", "URL", "Where events are POSTed, https://… (signed Standard Webhooks)", &v("url"), "required"))
                (layout::text_field(errors, "event_types", "Event types",
                    "Comma separated patterns, e.g. alert.fired, order.*; * for all", &v("event_types"), "required"))
                (layout::text_field(errors, "description", "Description", "A note for you", &v("description"), ""))
            }
            div { button type="submit" title="Create the endpoint; its secret is shown once" { "Add endpoint" } }
        }
    }
}

async fn render_list(
    session: &Session,
    q: &ListQuery,
    f: &FormData,
    errors: &FormErrors,
    secret: Option<&str>,
) -> Result<Markup, PageError> {
    let mut path = "/api/v1/endpoints?limit=50".to_string();
    if let Some(a) = q.after.as_deref().filter(|a| !a.is_empty()) {
        path.push_str(&format!("&after={}", urlencode(a)));
    }
    let page = session.api().get(&path).await.json()?;
    let endpoints = page["data"].as_array().cloned().unwrap_or_default();
    let body = html! {
        (layout::flash(q.done.as_deref()))
        (secret_once(secret))
        @if endpoints.is_empty() {
            p.notice { "No endpoints yet." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { "Endpoint" } th.hide-sm { "Kind" } th.hide-sm { "Events" }
                    th title="disabled, failing (since when) or healthy" { "Health" } th { "Actions" }
                } }
                tbody { @for e in &endpoints {
                    @let id = e["id"].as_str().unwrap_or("");
                    tr {
                        td { a href={ "/ui/deliveries/" (id) } title="Deliveries and attempts" { (e["url"].as_str().unwrap_or(id)) }
                            @if let Some(d) = e["description"].as_str().filter(|d| !d.is_empty()) { br; small.muted { (d) } } }
                        td.hide-sm { (e["kind"].as_str().unwrap_or("")) }
                        td.hide-sm { (join(&e["event_types"])) }
                        td { (health(e)) }
                        td { (endpoint_actions(session, e)) }
                    }
                } }
            } }
            @if let Some(next) = page["next"].as_str() {
                p.pager { a href={ "/ui/deliveries?after=" (urlencode(next)) } title="The next 50 endpoints" { "Next page →" } }
            }
        }
        h2 { "Add an endpoint" }
        (create_form(session, f, errors))
    };
    Ok(layout::page(session, Nav::Deliveries, "Deliveries", body))
}

pub async fn list(session: Session, Query(q): Query<ListQuery>) -> Result<Markup, PageError> {
    render_list(
        &session,
        &q,
        &FormData::default(),
        &FormErrors::none(),
        None,
    )
    .await
}

/// Creating shows the page with the new secret (once) rather than
/// redirecting, so the secret never travels in a URL.
pub async fn create(posted: Posted) -> Result<Response, PageError> {
    let f = &posted.form;
    let mut body = json!({
        "url": f.text("url").unwrap_or_default(),
        "event_types": f.list("event_types"),
    });
    if let Some(d) = f.text("description") {
        body["description"] = d.into();
    }
    let reply = posted.session.api().post("/api/v1/endpoints", &body).await;
    let q = ListQuery::default();
    if reply.ok() {
        let q = ListQuery {
            after: None,
            done: Some("created".into()),
        };
        let secret = reply.body["secret"].as_str().map(str::to_string);
        let page = render_list(
            &posted.session,
            &q,
            &FormData::default(),
            &FormErrors::none(),
            secret.as_deref(),
        )
        .await?;
        return Ok((StatusCode::CREATED, page).into_response());
    }
    let page = render_list(&posted.session, &q, f, &reply.form_errors(), None).await?;
    Ok((unprocessable(reply.status), page).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct EndpointQuery {
    status: Option<String>,
    before: Option<String>,
    done: Option<String>,
}

async fn render_endpoint(
    session: &Session,
    id: &str,
    q: &EndpointQuery,
    secret: Option<&str>,
) -> Result<Markup, PageError> {
    let e = session
        .api()
        .get(&format!("/api/v1/endpoints/{}", urlencode(id)))
        .await
        .json()?;
    let status = q
        .status
        .as_deref()
        .filter(|s| STATUSES.contains(s))
        .map(str::to_string);
    let mut path = format!("/api/v1/endpoints/{}/deliveries?limit=50", urlencode(id));
    if let Some(s) = &status {
        path.push_str(&format!("&status={s}"));
    }
    if let Some(b) = q.before.as_deref().filter(|b| !b.is_empty()) {
        path.push_str(&format!("&before={}", urlencode(b)));
    }
    let page = session.api().get(&path).await.json()?;
    let deliveries = page["data"].as_array().cloned().unwrap_or_default();
    let body = html! {
        (layout::flash(q.done.as_deref()))
        (secret_once(secret))
        p { a href="/ui/deliveries" title="All endpoints" { "← Endpoints" } }
        div.card {
            p { "Health: " (health(&e)) " · kind " (e["kind"].as_str().unwrap_or("")) " · events " code { (join(&e["event_types"])) }
                " · secret " code title="The start of the current signing secret" { (e["secret_preview"].as_str().unwrap_or("")) } }
            @if let Some(until) = e["previous_secret_expires_at"].as_str() {
                p.help { "The previous secret also signs until " (until) "." }
            }
            (endpoint_actions(session, &e))
        }
        h2 { "Deliveries" }
        form.inline.filters method="get" action={ "/ui/deliveries/" (id) } {
            label for="f-q-status" title="Show only deliveries in this state" { "Status " }
            select #f-q-status name="status" title="Show only deliveries in this state" {
                option value="" { "all" }
                @for s in STATUSES { option value=(s) selected[status.as_deref() == Some(*s)] { (s) } }
            }
            " " button.plain type="submit" title="Apply the filter" { "Filter" }
        }
        @if deliveries.is_empty() {
            p.notice { "No deliveries match." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { "Created" } th { "Event" } th { "Status" } th.num { "Attempts" }
                    th.hide-sm title="The last HTTP status or error" { "Last result" } th { "Actions" }
                } }
                tbody { @for d in &deliveries {
                    @let did = d["id"].as_str().unwrap_or("");
                    @let st = d["status"].as_str().unwrap_or("");
                    tr {
                        td { a href={ "/ui/deliveries/" (id) "/" (did) } title="The attempts of this delivery" { (d["created_at"].as_str().unwrap_or("")) } }
                        td { (d["event_type"].as_str().unwrap_or("")) }
                        td { span.badge class=(match st { "delivered" => "good", "failed" => "bad", _ => "warn" }) { (st) } }
                        td.num { (d["attempts"].as_i64().unwrap_or(0)) }
                        td.hide-sm { (d["last_status"].as_i64().map(|s| s.to_string()).or_else(|| d["last_error"].as_str().map(str::to_string)).unwrap_or_default()) }
                        td { (replay_button(session, id, did)) }
                    }
                } }
            } }
            @if let Some(next) = page["next"].as_str() {
                p.pager { a href={ "/ui/deliveries/" (id) "?before=" (urlencode(next)) @if let Some(s) = &status { "&status=" (s) } }
                    title="The next 50 (older) deliveries" { "Older →" } }
            }
        }
    };
    Ok(layout::page(
        session,
        Nav::Deliveries,
        &format!("Endpoint: {}", e["url"].as_str().unwrap_or(id)),
        body,
    ))
}

fn replay_button(session: &Session, endpoint_id: &str, delivery_id: &str) -> Markup {
    action_button(
        session,
        &format!("/ui/deliveries/{endpoint_id}/{delivery_id}/replay"),
        "Replay",
        "Send this delivery again now (a new attempt)",
        None,
    )
}

pub async fn endpoint(
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<EndpointQuery>,
) -> Result<Markup, PageError> {
    render_endpoint(&session, &id, &q, None).await
}

pub async fn set_enabled(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    let api_path = format!("/api/v1/endpoints/{}", urlencode(&id));
    super::set_enabled(posted, &api_path, &format!("/ui/deliveries/{id}")).await
}

pub async fn send_test(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    posted
        .session
        .api()
        .post(
            &format!("/api/v1/endpoints/{}/test", urlencode(&id)),
            &json!({}),
        )
        .await
        .json()?;
    Ok(see_other(&format!("/ui/deliveries/{id}?done=sent")))
}

/// Answers with the endpoint's page showing the new secret once.
pub async fn rotate(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    let reply = posted
        .session
        .api()
        .post(
            &format!("/api/v1/endpoints/{}/rotate-secret", urlencode(&id)),
            &json!({}),
        )
        .await
        .json()?;
    let page = render_endpoint(
        &posted.session,
        &id,
        &EndpointQuery::default(),
        reply["secret"].as_str(),
    )
    .await?;
    Ok(page.into_response())
}

pub async fn delivery(
    session: Session,
    Path((endpoint_id, id)): Path<(String, String)>,
    Query(q): Query<EndpointQuery>,
) -> Result<Markup, PageError> {
    let d = session
        .api()
        .get(&format!("/api/v1/deliveries/{}", urlencode(&id)))
        .await
        .json()?;
    if d["endpoint_id"].as_str() != Some(endpoint_id.as_str()) {
        return Err(PageError::not_found("no such delivery on this endpoint"));
    }
    let attempts = d["attempts_log"].as_array().cloned().unwrap_or_default();
    let body = html! {
        (layout::flash(q.done.as_deref()))
        p { a href={ "/ui/deliveries/" (endpoint_id) } title="The endpoint's deliveries" { "← Endpoint" } }
        p { "Event " code { (d["event_id"].as_str().unwrap_or("")) } " (" (d["event_type"].as_str().unwrap_or("")) ") · status "
            strong { (d["status"].as_str().unwrap_or("")) }
            @if let Some(n) = d["next_attempt_at"].as_str() { " · next attempt " (n) } }
        (replay_button(&session, &endpoint_id, &id))
        h2 { "Attempts" }
        @if attempts.is_empty() {
            p.notice { "No attempts yet." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th.num { "#" } th { "Started" } th { "Status" } th.num title="From sending to the answer" { "Latency" }
                    th title="The first 2 KiB of the response body, or the error" { "Response" }
                } }
                tbody { @for a in &attempts {
                    tr {
                        td.num { (a["attempt"].as_i64().unwrap_or(0)) }
                        td { (a["started_at"].as_str().unwrap_or("")) }
                        td { (a["http_status"].as_i64().map(|s| s.to_string())
                                .or_else(|| a["error_class"].as_str().map(str::to_string)).unwrap_or_default()) }
                        td.num { (a["latency_ms"].as_i64().unwrap_or(0)) " ms" }
                        td { pre { (snippet(a["response"].as_str().unwrap_or(""))) } }
                    }
                } }
            } }
        }
    };
    Ok(layout::page(
        &session,
        Nav::Deliveries,
        &format!("Delivery {id}"),
        body,
    ))
}

/// At most 300 characters of a response.
fn snippet(s: &str) -> String {
    let mut out: String = s.chars().take(300).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

pub async fn replay(
    Path((endpoint_id, id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    posted
        .session
        .api()
        .post(
            &format!("/api/v1/deliveries/{}/replay", urlencode(&id)),
            &json!({}),
        )
        .await
        .json()?;
    Ok(see_other(&format!(
        "/ui/deliveries/{endpoint_id}/{id}?done=replayed"
    )))
}
