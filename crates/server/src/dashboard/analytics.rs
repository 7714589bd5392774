//! Analytics: per bot an equity curve (the last [`EQUITY_POINTS`]
//! snapshots); histograms of alert latency (feed to commit), delivery
//! latency and signal-to-fill latency over the most recent rows; delivery
//! success rate per endpoint. Every read is bounded and every chart is
//! SVG drawn on the server.

use std::collections::BTreeMap;

use axum::extract::Query;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use tradehook_store::AlertFilter;

use super::Session;
use super::layout::{self, Nav, PageError};
use super::setup::urlencode;

/// Snapshots per equity curve.
const EQUITY_POINTS: i64 = 500;
/// Bots per page.
const BOTS: i64 = 10;
/// Rows behind each histogram.
const RECENT: i64 = 1000;

#[derive(Debug, Default, Deserialize)]
pub struct AnalyticsQuery {
    after: Option<String>,
}

fn store_err(e: impl std::fmt::Display) -> PageError {
    PageError::internal(e)
}

/// An SVG polyline of `(ts, value)` points, oldest first.
fn equity_chart(points: &[(i64, f64)]) -> Markup {
    const W: f64 = 600.0;
    const H: f64 = 140.0;
    let (t0, t1) = (points[0].0 as f64, points[points.len() - 1].0 as f64);
    let lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let span_t = (t1 - t0).max(1.0);
    let span_v = (hi - lo).max(1e-9);
    let mut line = String::with_capacity(points.len() * 12);
    for (t, v) in points {
        let x = (*t as f64 - t0) / span_t * W;
        let y = H - (v - lo) / span_v * (H - 10.0) - 5.0;
        line.push_str(&format!("{x:.1},{y:.1} "));
    }
    html! {
        svg.chart viewBox={ "0 0 " (W) " " (H) } preserveAspectRatio="none" role="img"
            aria-label={ "Equity from " (fmt_money(lo)) " to " (fmt_money(hi)) } {
            title { "Equity: low " (fmt_money(lo)) ", high " (fmt_money(hi)) }
            polyline.equity points=(line.trim_end()) fill="none" stroke="currentColor" stroke-width="1.5"
                vector-effect="non-scaling-stroke" {}
        }
        p.help { "Last " (points.len()) " snapshots · low " (fmt_money(lo)) " · high " (fmt_money(hi))
            " · now " (fmt_money(points[points.len() - 1].1)) }
    }
}

fn fmt_money(v: f64) -> String {
    format!("{v:.2}")
}

/// Bucket upper bounds (exclusive) in the values' unit; the last bucket
/// is open.
fn histogram(values: &[i64], edges: &[i64], unit: &str, what: &str) -> Markup {
    let mut counts = vec![0usize; edges.len() + 1];
    for v in values {
        let i = edges.iter().position(|e| v < e).unwrap_or(edges.len());
        counts[i] += 1;
    }
    let labels: Vec<String> = (0..counts.len())
        .map(|i| match i {
            0 => format!("<{}", edges[0]),
            i if i == edges.len() => format!("≥{}", edges[i - 1]),
            i => format!("{}–{}", edges[i - 1], edges[i]),
        })
        .collect();
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bar = 60.0;
    let w = bar * counts.len() as f64;
    let (p50, p95) = percentiles(values);
    html! {
        @if values.is_empty() {
            p.notice { "No data yet." }
        } @else {
            svg.chart.bars viewBox={ "0 0 " (w) " 150" } role="img" aria-label={ (what) " histogram" } {
                @for (i, c) in counts.iter().enumerate() {
                    @let h = *c as f64 / max * 110.0;
                    @let x = i as f64 * bar;
                    g {
                        title { (labels[i]) " " (unit) ": " (c) }
                        rect x=(format!("{:.1}", x + 6.0)) y=(format!("{:.1}", 120.0 - h)) width=(bar - 12.0) height=(format!("{h:.1}")) {}
                        text x=(x + bar / 2.0) y="115" text-anchor="middle" font-size="10" { @if *c > 0 { (c) } }
                        text x=(x + bar / 2.0) y="138" text-anchor="middle" font-size="10" { (labels[i]) }
                    }
                }
            }
            p.help { (values.len()) " most recent · median " (p50) " " (unit) " · p95 " (p95) " " (unit) }
        }
    }
}

fn percentiles(values: &[i64]) -> (i64, i64) {
    if values.is_empty() {
        return (0, 0);
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

pub async fn page(session: Session, Query(q): Query<AnalyticsQuery>) -> Result<Markup, PageError> {
    let store = &session.state().store;
    let mut path = format!("/api/v1/bots?limit={BOTS}");
    if let Some(a) = q.after.as_deref().filter(|a| !a.is_empty()) {
        path.push_str(&format!("&after={}", urlencode(a)));
    }
    let bots_page = session.api().get(&path).await.json()?;
    let bots = bots_page["data"].as_array().cloned().unwrap_or_default();
    let mut curves = Vec::new();
    for b in &bots {
        let id = b["id"].as_str().unwrap_or("").to_string();
        let points: Vec<(i64, f64)> = store
            .recent_equity(&id, EQUITY_POINTS)
            .await
            .map_err(store_err)?
            .into_iter()
            .filter_map(|(t, e)| e.parse::<f64>().ok().map(|v| (t, v)))
            .collect();
        curves.push((b["name"].as_str().unwrap_or(&id).to_string(), points));
    }
    let alerts = store
        .list_alerts(&AlertFilter {
            limit: RECENT,
            ..AlertFilter::default()
        })
        .await
        .map_err(store_err)?;
    let alert_ms: Vec<i64> = alerts.alerts.iter().map(|a| a.latency_us / 1000).collect();
    let attempts = store
        .recent_attempt_stats(RECENT)
        .await
        .map_err(store_err)?;
    let delivery_ms: Vec<i64> = attempts.iter().map(|a| a.latency_ms).collect();
    let mut per_endpoint: BTreeMap<&str, (usize, usize, Vec<i64>)> = BTreeMap::new();
    for a in &attempts {
        let e = per_endpoint.entry(a.endpoint_id.as_str()).or_default();
        e.0 += 1;
        if a.http_status.is_some_and(|s| (200..300).contains(&s)) {
            e.1 += 1;
        }
        e.2.push(a.latency_ms);
    }
    let endpoints = session.api().get("/api/v1/endpoints?limit=100").await;
    let url_of = |id: &str| -> String {
        endpoints.body["data"]
            .as_array()
            .and_then(|d| d.iter().find(|e| e["id"].as_str() == Some(id)))
            .and_then(|e: &Value| e["url"].as_str())
            .unwrap_or(id)
            .to_string()
    };
    let fills = store
        .recent_signal_to_fill(RECENT)
        .await
        .map_err(store_err)?;
    let fill_ms: Vec<i64> = fills.iter().map(|f| f.1).collect();
    let body = html! {
        h2 { "Equity" }
        @if curves.is_empty() {
            p.notice { "No bots yet." }
        }
        div.charts { @for (name, points) in &curves {
            section.card {
                h3 { (name) }
                @if points.is_empty() { p.notice { "No equity snapshots yet." } } @else { (equity_chart(points)) }
            }
        } }
        @if let Some(next) = bots_page["next"].as_str() {
            p.pager { a href={ "/ui/analytics?after=" (urlencode(next)) } title="The next bots' equity curves" { "More bots →" } }
        }
        h2 { "Latency" }
        div.charts {
            section.card { h3 title="From the feed's timestamp to the alert's commit" { "Alerts: feed to commit (ms)" }
                (histogram(&alert_ms, &[1, 5, 10, 50, 100, 500, 1000], "ms", "Alert latency")) }
            section.card { h3 title="From sending a delivery to the endpoint's answer" { "Deliveries (ms)" }
                (histogram(&delivery_ms, &[50, 100, 250, 500, 1000, 2500, 5000], "ms", "Delivery latency")) }
            section.card { h3 title="Filled entry orders: the order's last update minus its signal's arrival" { "Signal to fill (ms)" }
                (histogram(&fill_ms, &[10, 50, 100, 250, 500, 1000, 5000], "ms", "Signal-to-fill latency")) }
        }
        h2 { "Delivery success per endpoint" }
        @if per_endpoint.is_empty() {
            p.notice { "No delivery attempts yet." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { "Endpoint" } th.num { "Attempts" } th.num title="Attempts answered with 2xx" { "Success" }
                    th.num { "Median" } th.num { "p95" }
                } }
                tbody { @for (id, (n, ok, lat)) in &per_endpoint {
                    @let (p50, p95) = percentiles(lat);
                    tr {
                        td { a href={ "/ui/deliveries/" (id) } title="The endpoint's deliveries" { (url_of(id)) } }
                        td.num { (n) }
                        td.num { (format!("{:.1}", *ok as f64 * 100.0 / *n as f64)) " %" }
                        td.num { (p50) " ms" }
                        td.num { (p95) " ms" }
                    }
                } }
            } }
            p.help { "Over the last " (attempts.len()) " attempts." }
        }
    };
    Ok(layout::page(&session, Nav::Analytics, "Analytics", body))
}
