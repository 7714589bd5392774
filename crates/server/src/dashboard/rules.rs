//! Alert rules: the list (type, symbol, enabled, last fire time) with
//! enable/disable and delete, and one create/edit form per rule type.
//!
//! Inputs are named after the API's JSON paths (`config.threshold`), so
//! the API's 422 field errors land next to the right input. Number inputs
//! carry `required`, `min`, `max` and `step`, so the browser validates
//! before submit; the API validates again.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tradehook_rules::RuleType;

use super::Done;
use super::bots::unprocessable;
use super::layout::{self, Nav, PageError, action_button, see_other};
use super::setup::urlencode;
use super::{FormData, FormErrors, Posted, Session};

/// How a config field is entered.
enum Kind {
    /// A number: min, max, step.
    Num(Option<&'static str>, Option<&'static str>, &'static str),
    /// One of these values.
    Choice(&'static [&'static str]),
}

const INTERVALS: &[&str] = &[
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w",
];
const OPERATORS: &[&str] = &[
    ">=",
    ">",
    "<=",
    "<",
    "crossing",
    "crossing_up",
    "crossing_down",
];
const FREQUENCIES: &[(&str, &str)] = &[
    ("once_per_bar", "once per bar"),
    ("once_per_bar_close", "once per bar close"),
    ("once_per_minute", "once per minute"),
    ("every_time", "every time"),
    ("once", "once (then the rule disables itself)"),
];

type Field = (&'static str, &'static str, &'static str, Kind);

const PRICE: Kind = Kind::Num(Some("0"), None, "any");
const PERIOD: Kind = Kind::Num(Some("2"), Some("1000"), "1");

/// The config fields of a rule type: (JSON field, label, help, kind).
fn fields(t: RuleType) -> Vec<Field> {
    match t {
        RuleType::PriceThreshold => vec![
            (
                "operator",
                "Operator",
                "How the price is compared with the threshold; crossings fire on the move through it",
                Kind::Choice(OPERATORS),
            ),
            (
                "threshold",
                "Threshold",
                "The price level, greater than 0",
                PRICE,
            ),
        ],
        RuleType::PercentMove => vec![
            (
                "percent",
                "Percent",
                "The move in percent within the window, e.g. 5 = 5 %",
                PRICE,
            ),
            (
                "window_seconds",
                "Window (s)",
                "The window the move is measured over, 1 to 86400 seconds",
                Kind::Num(Some("1"), Some("86400"), "1"),
            ),
            (
                "direction",
                "Direction",
                "Up, down, or either way",
                Kind::Choice(&["up", "down", "either"]),
            ),
        ],
        RuleType::CandleClose => vec![
            (
                "interval",
                "Interval",
                "The candle interval whose close is compared",
                Kind::Choice(INTERVALS),
            ),
            (
                "operator",
                "Operator",
                "How the close is compared with the value",
                Kind::Choice(OPERATORS),
            ),
            (
                "value",
                "Value",
                "The price the close is compared with, greater than 0",
                PRICE,
            ),
        ],
        RuleType::MacdCross => vec![
            (
                "fast",
                "Fast period",
                "Fast EMA period, 2 to 1000, less than the slow period",
                PERIOD,
            ),
            ("slow", "Slow period", "Slow EMA period, 2 to 1000", PERIOD),
            (
                "signal",
                "Signal period",
                "Signal line EMA period, 1 to 1000",
                Kind::Num(Some("1"), Some("1000"), "1"),
            ),
            (
                "interval",
                "Interval",
                "The candle interval the MACD is computed on",
                Kind::Choice(INTERVALS),
            ),
            (
                "direction",
                "Direction",
                "bullish: MACD crosses above its signal line; bearish: below",
                Kind::Choice(&["bullish", "bearish"]),
            ),
        ],
        RuleType::Rsi => vec![
            ("period", "Period", "RSI period, 2 to 1000", PERIOD),
            (
                "interval",
                "Interval",
                "The candle interval the RSI is computed on",
                Kind::Choice(INTERVALS),
            ),
            (
                "threshold",
                "Threshold",
                "RSI level between 0 and 100 (exclusive), e.g. 70",
                Kind::Num(Some("0"), Some("100"), "any"),
            ),
            (
                "direction",
                "Zone",
                "overbought: RSI crosses above the threshold; oversold: below",
                Kind::Choice(&["overbought", "oversold"]),
            ),
        ],
        RuleType::BollingerBands => vec![
            (
                "period",
                "Period",
                "Moving average period, 2 to 1000",
                PERIOD,
            ),
            (
                "std_dev",
                "Standard deviations",
                "Band width in standard deviations, greater than 0, e.g. 2",
                PRICE,
            ),
            (
                "interval",
                "Interval",
                "The candle interval the bands are computed on",
                Kind::Choice(INTERVALS),
            ),
            (
                "band",
                "Band",
                "Which band is watched",
                Kind::Choice(&["upper", "lower"]),
            ),
            (
                "event",
                "Event",
                "touch: the bar reaches the band after being inside; break: the close is beyond it",
                Kind::Choice(&["touch", "break"]),
            ),
        ],
        RuleType::Channel => vec![
            (
                "lower",
                "Lower",
                "The channel's lower price, greater than 0",
                PRICE,
            ),
            (
                "upper",
                "Upper",
                "The channel's upper price, greater than lower",
                PRICE,
            ),
            (
                "event",
                "Event",
                "entering/exiting fire on the move; inside/outside while the price is there",
                Kind::Choice(&["entering", "exiting", "inside", "outside"]),
            ),
        ],
        RuleType::PriceAlert => vec![
            (
                "condition",
                "Condition",
                "above: price >= target; below: price <= target",
                Kind::Choice(&["above", "below"]),
            ),
            (
                "target_price",
                "Target price",
                "The price to alert at, greater than 0",
                PRICE,
            ),
        ],
    }
}

fn type_help(t: RuleType) -> &'static str {
    match t {
        RuleType::PriceThreshold => "The price against a level (or crossing it)",
        RuleType::PercentMove => "A move of some percent within a time window",
        RuleType::CandleClose => "A candle's close against a level",
        RuleType::MacdCross => "MACD crossing its signal line",
        RuleType::Rsi => "RSI entering the overbought or oversold zone",
        RuleType::BollingerBands => "Touching or breaking a Bollinger band",
        RuleType::Channel => "Entering, exiting, inside or outside a price channel",
        RuleType::PriceAlert => "A one-shot alert above or below a target price",
    }
}

fn parse_type(s: &str) -> Result<RuleType, PageError> {
    RuleType::parse(s).map_err(|e| PageError::not_found(e.message))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    symbol: Option<String>,
    done: Option<String>,
}

pub async fn list(session: Session, Query(q): Query<ListQuery>) -> Result<Markup, PageError> {
    let mut path = "/api/v1/rules?limit=50".to_string();
    let symbol = q.symbol.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = symbol {
        path.push_str(&format!("&symbol={}", urlencode(s)));
    }
    if let Some(a) = &q.after {
        path.push_str(&format!("&after={}", urlencode(a)));
    }
    let page = session.api().get(&path).await.json()?;
    let rules = page["data"].as_array().cloned().unwrap_or_default();
    let body = html! {
        (layout::flash(q.done.as_deref()))
        form.inline method="get" action="/ui/rules" {
            label for="f-filter-symbol" title="Show only this symbol's rules" { "Symbol " }
            input #f-filter-symbol name="symbol" value=(symbol.unwrap_or("")) title="A followed symbol, e.g. BTC; empty = all";
            " " button.plain type="submit" title="Filter the list" { "Filter" }
        }
        @if rules.is_empty() {
            p.notice { "No rules yet." }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { "Rule" } th { "Type" } th { "Symbol" } th { "Enabled" }
                    th.hide-sm title="The rule's status: active, expired or disabled" { "Status" }
                    th title="When the rule last fired an alert" { "Last fired" }
                    th { "Actions" }
                } }
                tbody { @for r in &rules {
                    @let id = r["id"].as_str().unwrap_or("");
                    @let enabled = r["enabled"].as_bool() == Some(true);
                    tr {
                        td { a href={ "/ui/rules/" (id) } title="Edit this rule" { (r["name"].as_str().unwrap_or("")) } }
                        td { (r["rule_type"].as_str().unwrap_or("")) }
                        td { a href={ "/ui/alerts?symbol=" (urlencode(r["symbol"].as_str().unwrap_or(""))) } title="This symbol's alerts and chart" { (r["symbol"].as_str().unwrap_or("")) } }
                        td { @if enabled { span.badge.good { "on" } } @else { span.badge.warn { "off" } } }
                        td.hide-sm { (r["status"].as_str().unwrap_or("")) }
                        td { @match r["last_fired_at"].as_str() {
                            Some(t) => a href={ "/ui/alerts?rule_id=" (id) } title="This rule's alerts" { (t) },
                            None => span.muted title="Not fired yet" { "never" },
                        } }
                        td { div.actions {
                            form.inline method="post" action={ "/ui/rules/" (id) "/enabled" } {
                                (layout::csrf(&session))
                                input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
                                @if enabled {
                                    button.plain type="submit" title="Disable: stop evaluating this rule" { "Disable" }
                                } @else {
                                    button.plain type="submit" title="Enable: evaluate this rule again" { "Enable" }
                                }
                            }
                            (action_button(&session, &format!("/ui/rules/{id}/delete"), "Delete",
                                "Delete this rule; its alerts are kept", Some("Delete this rule?")))
                        } }
                    }
                } }
            } }
            @if let Some(next) = page["next"].as_str() {
                p.pager { a href={ "/ui/rules?after=" (urlencode(next)) @if let Some(s) = symbol { "&symbol=" (urlencode(s)) } }
                    title="The next 50 rules" { "Next page →" } }
            }
        }
        h2 { "Create a rule" }
        ul.actions {
            @for t in RuleType::ALL {
                li { a href={ "/ui/rules/new?type=" (t.as_str()) } title=(type_help(t)) { (t.as_str()) } }
            }
        }
    };
    Ok(layout::page(&session, Nav::Rules, "Rules", body))
}

/// The form's values from a rule as the API shows it.
fn form_from_rule(rule: &Value) -> FormData {
    let mut f = FormData::default();
    for k in [
        "name",
        "symbol",
        "frequency",
        "expires_at",
        "discord_webhook_url",
    ] {
        if let Some(v) = rule[k].as_str() {
            f.0.insert(k.into(), v.into());
        }
    }
    if let Some(c) = rule["cooldown_seconds"].as_i64() {
        f.0.insert("cooldown_seconds".into(), c.to_string());
    }
    if rule["enabled"].as_bool() == Some(true) {
        f.0.insert("enabled".into(), "on".into());
    }
    if let Some(config) = rule["config"].as_object() {
        for (k, v) in config {
            let text = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            f.0.insert(format!("config.{k}"), text);
        }
    }
    f
}

/// The config object from the form.
fn config_from_form(t: RuleType, f: &FormData) -> Value {
    let mut c = Map::new();
    for (k, _, _, kind) in fields(t) {
        let name = format!("config.{k}");
        let v = match kind {
            Kind::Num(..) => f.number(&name),
            Kind::Choice(_) => f.text(&name).map(Value::from).unwrap_or(Value::Null),
        };
        if !v.is_null() {
            c.insert(k.into(), v);
        }
    }
    Value::Object(c)
}

fn rule_form(
    session: &Session,
    t: RuleType,
    action: &str,
    f: &FormData,
    errors: &FormErrors,
) -> Markup {
    let v = |n: &str| f.text(n).unwrap_or_default();
    let freq: Vec<(&str, &str)> = FREQUENCIES.to_vec();
    let default_freq = if t.is_tick_driven() {
        "once_per_minute"
    } else {
        "once_per_bar_close"
    };
    let frequency = f.text("frequency").unwrap_or_else(|| default_freq.into());
    // Only the intervals the server keeps candles for (market.intervals).
    let kept: Vec<&str> = session
        .state()
        .config
        .market
        .interval_list()
        .map(|l| l.iter().map(|i| i.as_str()).collect())
        .unwrap_or_else(|_| INTERVALS.to_vec());
    html! {
        form.stack method="post" action=(action) {
            (layout::csrf(session))
            input type="hidden" name="rule_type" value=(t.as_str());
            (layout::form_errors(errors))
            p.help title=(type_help(t)) { "Type " strong { (t.as_str()) } ": " (type_help(t)) "." }
            div.cols {
                (layout::text_field(errors, "name", "Name", "Shown in alerts, 1–200 characters", &v("name"), "required"))
                (layout::text_field(errors, "symbol", "Symbol", "A followed symbol, e.g. BTC", &v("symbol"), "required"))
            }
            fieldset {
                legend { "Condition" }
                div.cols {
                    @for (k, label, help, kind) in fields(t) {
                        @let name = format!("config.{k}");
                        @match kind {
                            Kind::Num(min, max, step) => (layout::bounded_number_field(errors, &name, label, help, &v(&name), min, max, step, false)),
                            Kind::Choice(options) => {
                                @let options = if k == "interval" { kept.as_slice() } else { options };
                                @let opts: Vec<(&str, &str)> = options.iter().map(|o| (*o, *o)).collect();
                                (layout::select_field(errors, &name, label, help, &opts, &v(&name)))
                            }
                        }
                    }
                }
            }
            fieldset {
                legend { "Firing" }
                div.cols {
                    (layout::select_field(errors, "frequency", "Frequency",
                        "How often the rule may fire: per bar, per bar close, per minute, every evaluation, or once", &freq, &frequency))
                    (layout::bounded_number_field(errors, "cooldown_seconds", "Cooldown (s)",
                        "Minimum seconds between two alerts of this rule, 0 to 2592000 (30 days)",
                        &f.text("cooldown_seconds").unwrap_or_else(|| "0".into()), Some("0"), Some("2592000"), "1", false))
                    (layout::text_field(errors, "expires_at", "Expires at",
                        "When the rule stops, RFC 3339 (2027-01-01T00:00:00Z); empty = never", &v("expires_at"), ""))
                }
                (layout::text_field(errors, "discord_webhook_url", "Discord webhook",
                    "A Discord webhook URL that also gets this rule's alerts; empty = none (endpoints on the Deliveries page get them too)",
                    &v("discord_webhook_url"), ""))
                (layout::check_field(errors, "enabled", "Enabled", "Evaluate this rule; off keeps it without firing", f.checked("enabled")))
            }
            div { button type="submit" title="Save through the API; errors show next to their fields" { "Save rule" } }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NewQuery {
    #[serde(rename = "type")]
    rule_type: Option<String>,
}

fn render_new(session: &Session, t: RuleType, f: &FormData, errors: &FormErrors) -> Markup {
    let body = html! {
        p { a href="/ui/rules" title="Back to the rule list" { "← Rules" } }
        (rule_form(session, t, "/ui/rules", f, errors))
    };
    layout::page(
        session,
        Nav::Rules,
        &format!("New {} rule", t.as_str()),
        body,
    )
}

pub async fn new(session: Session, Query(q): Query<NewQuery>) -> Result<Markup, PageError> {
    let t = parse_type(q.rule_type.as_deref().unwrap_or("price_threshold"))?;
    let mut f = FormData::default();
    f.0.insert("enabled".into(), "on".into());
    Ok(render_new(&session, t, &f, &FormErrors::none()))
}

fn body_from_form(t: RuleType, f: &FormData, creating: bool) -> Value {
    let mut body = json!({
        "name": f.text("name").unwrap_or_default(),
        "symbol": f.text("symbol").unwrap_or_default(),
        "config": config_from_form(t, f),
        "enabled": f.checked("enabled"),
    });
    if let Some(fr) = f.text("frequency") {
        body["frequency"] = fr.into();
    }
    let cooldown = f.number("cooldown_seconds");
    if !cooldown.is_null() {
        body["cooldown_seconds"] = cooldown;
    }
    match f.text("expires_at") {
        Some(e) => body["expires_at"] = e.into(),
        None if !creating => body["expires_at"] = Value::Null,
        None => {}
    }
    match f.text("discord_webhook_url") {
        Some(u) => body["discord_webhook_url"] = u.into(),
        None if !creating => body["discord_webhook_url"] = Value::Null,
        None => {}
    }
    if creating {
        body["rule_type"] = t.as_str().into();
    }
    body
}

pub async fn create(posted: Posted) -> Result<Response, PageError> {
    let f = &posted.form;
    let t = parse_type(&f.text("rule_type").unwrap_or_default())?;
    let reply = posted
        .session
        .api()
        .post("/api/v1/rules", &body_from_form(t, f, true))
        .await;
    if reply.ok() {
        return Ok(see_other("/ui/rules?done=created"));
    }
    let page = render_new(&posted.session, t, f, &reply.form_errors());
    Ok((unprocessable(reply.status), page).into_response())
}

fn render_edit(
    session: &Session,
    rule: &Value,
    f: &FormData,
    errors: &FormErrors,
    done: Option<&str>,
) -> Result<Markup, PageError> {
    let id = rule["id"].as_str().unwrap_or("");
    let t = parse_type(rule["rule_type"].as_str().unwrap_or(""))?;
    let body = html! {
        (layout::flash(done))
        p { a href="/ui/rules" title="Back to the rule list" { "← Rules" } " · "
            a href={ "/ui/alerts?rule_id=" (id) } title="Alerts this rule fired" { "Alerts" } " · "
            span.muted { "Last fired: " (rule["last_fired_at"].as_str().unwrap_or("never")) } }
        (rule_form(session, t, &format!("/ui/rules/{id}"), f, errors))
        h2 { "Danger zone" }
        (action_button(session, &format!("/ui/rules/{id}/delete"), "Delete rule",
            "Delete this rule; its alerts are kept", Some("Delete this rule?")))
    };
    Ok(layout::page(
        session,
        Nav::Rules,
        &format!("Rule: {}", rule["name"].as_str().unwrap_or("")),
        body,
    ))
}

pub async fn edit(
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Markup, PageError> {
    let rule = session
        .api()
        .get(&format!("/api/v1/rules/{}", urlencode(&id)))
        .await
        .json()?;
    let f = form_from_rule(&rule);
    render_edit(&session, &rule, &f, &FormErrors::none(), q.done.as_deref())
}

pub async fn save(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    let session = &posted.session;
    let f = &posted.form;
    let path = format!("/api/v1/rules/{}", urlencode(&id));
    let rule = session.api().get(&path).await.json()?;
    let t = parse_type(rule["rule_type"].as_str().unwrap_or(""))?;
    let reply = session
        .api()
        .patch(&path, &body_from_form(t, f, false))
        .await;
    if reply.ok() {
        return Ok(see_other(&format!("/ui/rules/{id}?done=saved")));
    }
    let page = render_edit(session, &rule, f, &reply.form_errors(), None)?;
    Ok((unprocessable(reply.status), page).into_response())
}

pub async fn set_enabled(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    let api_path = format!("/api/v1/rules/{}", urlencode(&id));
    super::set_enabled(posted, &api_path, "/ui/rules").await
}

pub async fn delete(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    posted
        .session
        .api()
        .delete(&format!("/api/v1/rules/{}", urlencode(&id)))
        .await
        .json()?;
    Ok(see_other("/ui/rules?done=deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_the_form() {
        let rule = json!({"name": "r", "symbol": "BTC", "rule_type": "rsi", "enabled": true,
            "frequency": "once_per_bar", "cooldown_seconds": 5,
            "config": {"period": 14, "interval": "1h", "threshold": 70.5, "direction": "overbought"}});
        let f = form_from_rule(&rule);
        let body = body_from_form(RuleType::Rsi, &f, false);
        assert_eq!(body["config"], rule["config"]);
        assert_eq!(body["cooldown_seconds"], 5);
        assert_eq!(body["expires_at"], Value::Null);
        for t in RuleType::ALL {
            assert!(!fields(t).is_empty());
        }
    }
}
