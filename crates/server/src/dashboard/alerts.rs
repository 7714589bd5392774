//! Fired alerts: the list (50 a page, following the API's cursor,
//! filtered by rule or symbol) and a candle chart per symbol and
//! interval, an inline SVG drawn on the server from `/api/v1/candles`
//! (the last [`CHART_CANDLES`] candles) with a marker where an alert
//! fired.

use axum::extract::Query;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use tradehook_core::time::now_ms;
use tradehook_feeds::Interval;
use tradehook_store::AlertFilter;

use super::Session;
use super::layout::{self, Nav, PageError};
use super::setup::urlencode;

/// How many candles the chart shows at most.
pub const CHART_CANDLES: i64 = 200;
/// How many alert markers the chart draws at most.
const CHART_MARKERS: i64 = 500;

const W: f64 = 800.0;
const H: f64 = 280.0;
const PAD: f64 = 8.0;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    rule_id: Option<String>,
    symbol: Option<String>,
    interval: Option<String>,
    cursor: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The query string for this filter, with `cursor` when given.
fn filter_query(q: &ListQuery, cursor: Option<&str>) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("rule_id", nonempty(&q.rule_id)),
        ("symbol", nonempty(&q.symbol)),
        ("interval", nonempty(&q.interval)),
        ("cursor", cursor),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={}", urlencode(v)));
        }
    }
    parts.join("&")
}

/// A candle and alert marker, as the chart needs them.
struct Candle {
    t: i64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
}

struct Marker {
    ts: i64,
    price: f64,
    label: String,
}

fn fmt_price(p: f64) -> String {
    if p.abs() >= 100.0 {
        format!("{p:.2}")
    } else {
        format!("{p:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The chart as inline SVG: candles (wick and body), the price range on
/// the right, and a triangle above each candle in which an alert fired.
fn chart_svg(candles: &[Candle], markers: &[Marker], interval: Interval, title: &str) -> Markup {
    if candles.is_empty() {
        return html! { p.notice { "No candles stored for this symbol and interval yet." } };
    }
    let lo = candles
        .iter()
        .map(|c| c.low)
        .chain(markers.iter().map(|m| m.price))
        .fold(f64::INFINITY, f64::min);
    let hi = candles
        .iter()
        .map(|c| c.high)
        .chain(markers.iter().map(|m| m.price))
        .fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo {
        hi - lo
    } else {
        hi.abs().max(1.0) * 0.01
    };
    let plot_w = W - 70.0;
    let top = PAD + 14.0;
    let y = |p: f64| top + (hi - p) / span * (H - top - PAD);
    let slot = plot_w / candles.len() as f64;
    let body_w = (slot * 0.7).max(1.0);
    let first = candles[0].t;
    let last = candles[candles.len() - 1].t;
    let x_of = |t: i64| -> Option<f64> {
        let bucket = interval.bucket_start(t);
        if bucket < first || bucket > last {
            return None;
        }
        let i = candles.partition_point(|c| c.t < bucket);
        let i = i.min(candles.len() - 1);
        Some(i as f64 * slot + slot / 2.0)
    };
    let n = |v: f64| format!("{v:.1}");
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) {
                title { (title) }
                line.axis x1=(n(plot_w)) y1="0" x2=(n(plot_w)) y2=(H) {}
                text.axis x=(n(plot_w + 4.0)) y=(n(top + 4.0)) { (fmt_price(hi)) }
                text.axis x=(n(plot_w + 4.0)) y=(n(H - PAD)) { (fmt_price(lo)) }
                @for (i, c) in candles.iter().enumerate() {
                    @let cx = i as f64 * slot + slot / 2.0;
                    @let up = c.close >= c.open;
                    @let (b0, b1) = if up { (c.close, c.open) } else { (c.open, c.close) };
                    g class=(if up { "up" } else { "down" }) {
                        title { (tradehook_core::event::rfc3339_ms(c.t)) " O " (fmt_price(c.open)) " H " (fmt_price(c.high))
                            " L " (fmt_price(c.low)) " C " (fmt_price(c.close)) }
                        line x1=(n(cx)) y1=(n(y(c.high))) x2=(n(cx)) y2=(n(y(c.low))) {}
                        rect x=(n(cx - body_w / 2.0)) y=(n(y(b0))) width=(n(body_w))
                            height=(n((y(b1) - y(b0)).max(1.0))) {}
                    }
                }
                @for m in markers {
                    @if let Some(mx) = x_of(m.ts) {
                        @let my = y(m.price);
                        polygon.marker points={ (n(mx)) "," (n(my - 3.0)) " " (n(mx - 5.0)) "," (n(my - 11.0)) " " (n(mx + 5.0)) "," (n(my - 11.0)) } {
                            title { (m.label) }
                        }
                    }
                }
            }
            figcaption.muted { (title) ": " (candles.len()) " candles; ▼ marks an alert (hover for details)." }
        }
    }
}

async fn chart(session: &Session, symbol: &str, interval: Interval) -> Result<Markup, PageError> {
    let from = interval.bucket_start(now_ms()) - (CHART_CANDLES - 1) * interval.millis();
    let path = format!(
        "/api/v1/candles?symbol={}&interval={}&from={from}&limit={CHART_CANDLES}",
        urlencode(symbol),
        interval.as_str()
    );
    let reply = session.api().get(&path).await;
    if !reply.ok() {
        return Ok(html! { p.error role="alert" { (reply.message()) } });
    }
    let candles: Vec<Candle> = reply.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| Candle {
            t: c["t"].as_i64().unwrap_or(0),
            open: c["open"].as_f64().unwrap_or(0.0),
            high: c["high"].as_f64().unwrap_or(0.0),
            low: c["low"].as_f64().unwrap_or(0.0),
            close: c["close"].as_f64().unwrap_or(0.0),
        })
        .collect();
    let mut markers = Vec::new();
    if let Some(first) = candles.first() {
        let page = session
            .state()
            .store
            .list_alerts(&AlertFilter {
                rule_id: None,
                symbol: Some(symbol.to_string()),
                from: Some(first.t),
                to: None,
                cursor: None,
                limit: CHART_MARKERS,
            })
            .await
            .map_err(PageError::internal)?;
        markers = page
            .alerts
            .into_iter()
            .map(|a| Marker {
                ts: a.feed_ts,
                price: a.price,
                label: format!(
                    "{} ({}) fired at {} on {}",
                    a.rule_snapshot["name"].as_str().unwrap_or(&a.rule_id),
                    a.rule_type,
                    fmt_price(a.price),
                    tradehook_core::event::rfc3339_ms(a.feed_ts)
                ),
            })
            .collect();
    }
    let title = format!("{symbol} {}", interval.as_str());
    Ok(chart_svg(&candles, &markers, interval, &title))
}

pub async fn list(session: Session, Query(q): Query<ListQuery>) -> Result<Markup, PageError> {
    let mut path = "/api/v1/alerts?limit=50".to_string();
    let filter = filter_query(&q, nonempty(&q.cursor));
    if !filter.is_empty() {
        path.push('&');
        path.push_str(&filter);
    }
    let page = session.api().get(&path).await.json()?;
    let alerts = page["data"].as_array().cloned().unwrap_or_default();
    let kept: Vec<Interval> = session
        .state()
        .config
        .market
        .interval_list()
        .unwrap_or_else(|_| vec![Interval::M1]);
    let interval = nonempty(&q.interval)
        .and_then(|i| i.parse::<Interval>().ok())
        .filter(|i| kept.contains(i))
        .or_else(|| kept.first().copied())
        .unwrap_or(Interval::M1);
    let symbols = session.api().get("/api/v1/symbols").await.body;
    let followed: Vec<String> = symbols["followed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    let symbol = nonempty(&q.symbol)
        .map(str::to_string)
        .or_else(|| {
            alerts
                .first()
                .and_then(|a| a["symbol"].as_str().map(str::to_string))
        })
        .or_else(|| followed.first().cloned());
    let chart = match &symbol {
        Some(s) => chart(&session, s, interval).await?,
        None => html! { p.notice { "No followed symbols (market.symbols) to chart." } },
    };
    // Only the first page takes new alerts; older pages stay still.
    let live = nonempty(&q.cursor).is_none();
    let body = html! {
        form.inline.filters method="get" action="/ui/alerts" {
            label for="f-q-symbol" title="Show this symbol's alerts and chart" { "Symbol " }
            input #f-q-symbol name="symbol" list="followed" value=(nonempty(&q.symbol).unwrap_or(""))
                title="A followed symbol, e.g. BTC; empty = all";
            datalist #followed { @for s in &followed { option value=(s) {} } }
            " "
            label for="f-q-rule" title="Show one rule's alerts (rul_…)" { "Rule " }
            input #f-q-rule name="rule_id" value=(nonempty(&q.rule_id).unwrap_or("")) title="A rule id, rul_…; empty = all";
            " "
            label for="f-q-interval" title="The chart's candle interval (market.intervals)" { "Interval " }
            select #f-q-interval name="interval" title="The chart's candle interval (market.intervals)" {
                @for i in &kept { option value=(i.as_str()) selected[*i == interval] { (i.as_str()) } }
            }
            " " button.plain type="submit" title="Apply the filter and redraw the chart" { "Show" }
        }
        h2 { "Chart" }
        (chart)
        h2 { "Alerts "
            @if live { small.muted #stream-status title="New alerts appear here as they fire" { "connecting…" } } }
        @if alerts.is_empty() {
            p.notice #alerts-empty { "No alerts match." }
        }
        @if live || !alerts.is_empty() {
            div.table-wrap #alerts-table hidden[alerts.is_empty()] { table {
                thead { tr {
                    th title="When the alert was committed" { "Time" } th { "Rule" } th { "Symbol" }
                    th.hide-sm { "Type" } th.num { "Price" }
                    th.num.hide-sm title="From the market data's time to the commit" { "Latency" }
                    th.hide-sm title="Indicator values when it fired" { "Indicators" }
                } }
                // The first page is live: app.js adds new alerts of this
                // filter on top.
                tbody id=[live.then_some("alerts-live")]
                    data-rule=[nonempty(&q.rule_id)] data-symbol=[nonempty(&q.symbol)] { @for a in &alerts {
                    @let rule_id = a["rule_id"].as_str().unwrap_or("");
                    tr {
                        td { (a["committed_at"].as_str().unwrap_or("")) }
                        td { a href={ "/ui/rules/" (rule_id) } title={ "Edit rule " (rule_id) } {
                            (a["rule_snapshot"]["name"].as_str().unwrap_or(rule_id)) } }
                        td { a href={ "/ui/alerts?symbol=" (urlencode(a["symbol"].as_str().unwrap_or(""))) } title="This symbol's alerts and chart" {
                            (a["symbol"].as_str().unwrap_or("")) } }
                        td.hide-sm { (a["rule_type"].as_str().unwrap_or("")) }
                        td.num { (a["price"].as_f64().map(fmt_price).unwrap_or_default()) }
                        td.num.hide-sm { (a["latency_ms"].as_f64().map(|l| format!("{l:.1} ms")).unwrap_or_default()) }
                        td.hide-sm { code { (indicators(&a["indicators"])) } }
                    }
                } }
            } }
            @if let Some(next) = page["next"].as_str() {
                p.pager { a href={ "/ui/alerts?" (filter_query(&q, Some(next))) } title="The next 50 (older) alerts" { "Older →" } }
            }
        }
    };
    Ok(layout::page(&session, Nav::Alerts, "Alerts", body))
}

fn indicators(v: &Value) -> String {
    match v.as_object() {
        Some(o) if !o.is_empty() => o
            .iter()
            .map(|(k, v)| match v.as_f64() {
                Some(f) => format!("{k}={}", fmt_price(f)),
                None => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_marks_alerts_inside_its_candles_only() {
        let candles: Vec<Candle> = (0..3)
            .map(|i| Candle {
                t: i * 60_000,
                open: 10.0,
                high: 12.0,
                low: 9.0,
                close: 11.0 - i as f64,
            })
            .collect();
        let markers = vec![
            Marker {
                ts: 61_000,
                price: 11.0,
                label: "inside".into(),
            },
            Marker {
                ts: 600_000,
                price: 11.0,
                label: "outside".into(),
            },
        ];
        let svg = chart_svg(&candles, &markers, Interval::M1, "X 1m").into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("inside") && !svg.contains("outside"));
        assert!(svg.contains("class=\"down\""));
    }
}
