//! What an event says, independent of any channel: a one-line title, an
//! optional sentence, named fields and a tone. Discord, Slack and
//! Telegram all render from these so that they agree.
//!
//! Everything here is plain, unescaped text and must not panic on any
//! `data`: a missing field is left out, an unexpected type is shown as
//! it is, and an event we cannot read lists its top-level scalars.

use serde_json::Value;
use tradehook_core::event::Event;

use super::text::{any, as_f64, decimal, scalar, time};

/// How an event should feel at a glance; channels map it to a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Buys, upward moves, fills, take-profit, resumed bots.
    Positive,
    /// Sells, downward moves, rejections, stop-loss, disabled endpoints.
    Negative,
    /// Pauses, cancellations, expiries, cleanups.
    Warning,
    /// Neutral information such as test events.
    Info,
}

/// Lists longer than this (indicators, canceled orders) end in "… and N
/// more"; a chat message is a notification, not a report.
const LIST_MAX: usize = 10;

/// Read access to `data` that tolerates any shape.
struct Data<'a>(&'a Value);

impl<'a> Data<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key)
    }
    fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(scalar)
    }
    fn upper(&self, key: &str) -> Option<String> {
        self.text(key).map(|s| s.to_uppercase())
    }
    fn price(&self, key: &str) -> Option<String> {
        self.get(key).and_then(|v| decimal(v, 2))
    }
    fn qty(&self, key: &str) -> Option<String> {
        self.get(key).and_then(|v| decimal(v, 0))
    }
    fn time(&self, key: &str) -> Option<String> {
        self.get(key).and_then(time)
    }
    fn bot(&self) -> Option<String> {
        self.text("bot_name").or_else(|| self.text("bot_id"))
    }
}

/// `"{verb}: {detail}"`, or the verb alone when there is no detail.
fn headline(verb: &str, detail: &[Option<String>]) -> String {
    let detail: Vec<&str> = detail.iter().flatten().map(String::as_str).collect();
    if detail.is_empty() {
        verb.to_owned()
    } else {
        format!("{verb}: {}", detail.join(" "))
    }
}

/// A short human title, e.g. `✅ Order filled: BUY 0.5 BTCUSD @ 100,250.00`.
pub fn title(event: &Event) -> String {
    let d = Data(&event.data);
    let at = |p: Option<String>| p.map(|p| format!("@ {p}"));
    match event.event_type.as_str() {
        "alert.triggered" => {
            let icon = match d.text("direction").as_deref() {
                Some("up") => "📈",
                Some("down") => "📉",
                _ => "🔔",
            };
            let name = d.text("rule_name");
            let symbol = d.text("symbol");
            let price = symbol.as_ref().and(at(d.price("price")));
            let dash = (name.is_some() && symbol.is_some()).then(|| "—".to_owned());
            let verb = if name.is_none() && symbol.is_none() {
                format!("{icon} Alert triggered")
            } else {
                format!("{icon} Alert")
            };
            headline(&verb, &[name, dash, symbol, price])
        }
        "price_alert.triggered" => {
            let symbol = d.text("symbol");
            let target = d.price("target_price");
            let condition = d.text("condition");
            let price = symbol.as_ref().and(at(d.price("current_price")));
            headline("🎯 Price alert", &[symbol, condition, target, price])
        }
        "alert.expired" => {
            let (name, symbol) = (d.text("rule_name"), d.text("symbol"));
            let dash = (name.is_some() && symbol.is_some()).then(|| "—".to_owned());
            headline("⌛ Alert expired", &[name, dash, symbol])
        }
        "signal.received" | "signal.rejected" => {
            let verb = if event.event_type == "signal.received" {
                "📡 Signal"
            } else {
                "⚠️ Signal rejected"
            };
            let symbol = d.text("symbol");
            let price = symbol.as_ref().and(at(d.price("price")));
            headline(verb, &[d.upper("action"), d.qty("quantity"), symbol, price])
        }
        "order.submitted" => {
            let kind = d.text("type");
            let limit = at(d.price("limit_price"));
            let how = match (kind.as_deref(), limit) {
                (Some("market"), _) => Some("at market".to_owned()),
                (Some(k), Some(l)) => Some(format!("{k} {l}")),
                (Some(k), None) => Some(format!("({k})")),
                (None, l) => l,
            };
            order_headline("📤 Order submitted", &d, d.qty("qty"), how)
        }
        "order.filled" => {
            let qty = d.qty("filled_qty").or_else(|| d.qty("qty"));
            let how = at(d.price("filled_avg_price"));
            order_headline("✅ Order filled", &d, qty, how)
        }
        "order.partially_filled" => {
            let qty = match (d.qty("filled_qty"), d.qty("qty")) {
                (Some(f), Some(q)) => Some(format!("{f}/{q}")),
                (f, q) => f.or(q),
            };
            let how = at(d.price("filled_avg_price"));
            order_headline("⏳ Order partially filled", &d, qty, how)
        }
        "order.rejected" => order_headline("❌ Order rejected", &d, d.qty("qty"), None),
        "order.canceled" => order_headline("🚫 Order canceled", &d, d.qty("qty"), None),
        "risk.global_stop_loss" => headline("🛑 Global stop-loss hit", &[d.bot()]),
        "risk.global_take_profit" => headline("🎯 Global take-profit hit", &[d.bot()]),
        "bot.paused" => headline("⏸️ Bot paused", &[d.bot()]),
        "bot.resumed" => headline("▶️ Bot resumed", &[d.bot()]),
        "cleanup.orders_canceled" => {
            let verb = match canceled_count(&d) {
                Some(1) => "🧹 Canceled 1 open order".to_owned(),
                Some(n) => format!("🧹 Canceled {n} open orders"),
                None => "🧹 Open orders canceled".to_owned(),
            };
            headline(&verb, &[d.bot()])
        }
        "endpoint.disabled" => headline(
            "🔌 Endpoint disabled",
            &[d.text("url").or_else(|| d.text("endpoint_id"))],
        ),
        "endpoint.test" => "🧪 Test event from tradehook".to_owned(),
        "" => "📣 Event".to_owned(),
        other => format!("📣 {other}"),
    }
}

fn order_headline(verb: &str, d: &Data, qty: Option<String>, how: Option<String>) -> String {
    let symbol = d.text("symbol");
    // A price with nothing before it reads as noise: "Order filled: @ 5".
    let how = how.filter(|_| symbol.is_some() || qty.is_some());
    headline(verb, &[d.upper("side"), qty, symbol, how])
}

fn canceled_count(d: &Data) -> Option<u64> {
    d.get("count").and_then(Value::as_u64).or_else(|| {
        d.get("orders")
            .and_then(Value::as_array)
            .map(|a| a.len() as u64)
    })
}

/// A sentence or two that does not fit a field: a reason, a condition,
/// what a risk stop did.
pub fn description(event: &Event) -> Option<String> {
    let d = Data(&event.data);
    match event.event_type.as_str() {
        "alert.triggered" => d.text("condition"),
        "signal.rejected" | "order.rejected" | "bot.paused" | "bot.resumed"
        | "endpoint.disabled" => d.text("reason"),
        "endpoint.test" => d.text("message"),
        "risk.global_stop_loss" | "risk.global_take_profit" => risk_action(&d).map(str::to_owned),
        _ => None,
    }
}

/// What a known risk action did, as a sentence. Unknown actions get no
/// sentence and are shown raw in a field instead.
fn risk_action(d: &Data) -> Option<&'static str> {
    match d.text("action")?.as_str() {
        "liquidated_and_paused" => Some("Open positions were liquidated and the bot was paused."),
        "liquidated" => Some("Open positions were liquidated."),
        "notified" => Some("No automatic action was taken."),
        _ => None,
    }
}

/// Named values in display order. Every channel shows these, within its
/// own limits.
pub fn summary_fields(event: &Event) -> Vec<(String, String)> {
    let d = Data(&event.data);
    let mut f = Fields::default();
    match event.event_type.as_str() {
        "alert.triggered" => {
            f.add("Symbol", d.text("symbol"));
            f.add("Price", d.price("price"));
            f.add(
                "Direction",
                d.text("direction").map(|s| match s.as_str() {
                    "up" => "↑ Up".to_owned(),
                    "down" => "↓ Down".to_owned(),
                    _ => s,
                }),
            );
            f.add("Rule type", d.text("rule_type"));
            f.add("Indicators", d.get("indicators").and_then(indicators));
            f.add("Window", window(&d));
            f.add("Rule ID", d.text("rule_id"));
        }
        "price_alert.triggered" => {
            f.add("Symbol", d.text("symbol"));
            f.add("Condition", d.text("condition"));
            f.add("Target", d.price("target_price"));
            f.add("Price", d.price("current_price"));
            f.add("Alert ID", d.text("alert_id"));
        }
        "alert.expired" => {
            f.add("Symbol", d.text("symbol"));
            f.add("Expired at", d.time("expired_at"));
            f.add("Rule ID", d.text("rule_id"));
        }
        "signal.received" | "signal.rejected" => {
            f.add("Bot", d.bot());
            f.add("Symbol", d.text("symbol"));
            f.add("Action", d.upper("action"));
            f.add("Quantity", d.qty("quantity"));
            f.add("Price", d.price("price"));
            f.add("Sentiment", d.text("sentiment"));
            f.add("Format", d.text("format"));
            f.add("Signal ID", d.text("signal_id"));
        }
        t @ ("order.submitted"
        | "order.filled"
        | "order.partially_filled"
        | "order.rejected"
        | "order.canceled") => {
            f.add("Bot", d.bot());
            f.add("Broker", d.text("broker"));
            f.add("Symbol", d.text("symbol"));
            f.add("Side", d.upper("side"));
            f.add("Type", d.text("type"));
            f.add("Quantity", d.qty("qty"));
            let filled = d
                .qty("filled_qty")
                .map(|q| match d.price("filled_avg_price") {
                    Some(p) => format!("{q} @ {p}"),
                    None => q,
                });
            f.add("Filled", filled);
            f.add("Limit price", d.price("limit_price"));
            // The title already says filled/rejected/canceled; repeat the
            // status only when it tells something new (e.g. "accepted").
            let implied = t.trim_start_matches("order.");
            f.add("Status", d.text("status").filter(|s| s != implied));
            f.add("Order ID", d.text("order_id"));
            f.add("Client order ID", d.text("client_order_id"));
        }
        "risk.global_stop_loss" | "risk.global_take_profit" => {
            f.add("Equity", d.price("equity"));
            f.add("Base equity", d.price("base_equity"));
            f.add("Change", equity_change(&d));
            f.add("Threshold", d.qty("threshold_pct").map(|p| format!("{p}%")));
            if risk_action(&d).is_none() {
                f.add("Action", d.text("action"));
            }
            f.add("Bot ID", d.text("bot_id"));
        }
        "bot.paused" | "bot.resumed" => f.add("Bot ID", d.text("bot_id")),
        "cleanup.orders_canceled" => {
            f.add("Orders", d.get("orders").and_then(orders));
            f.add("Bot ID", d.text("bot_id"));
        }
        "endpoint.disabled" => {
            f.add("Endpoint ID", d.text("endpoint_id"));
            f.add("URL", d.text("url"));
        }
        "endpoint.test" => f.add("Endpoint ID", d.text("endpoint_id")),
        _ => {}
    }
    if f.0.is_empty() {
        scalars(&event.data)
    } else {
        f.0
    }
}

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn add(&mut self, name: &str, value: Option<String>) {
        if let Some(value) = value {
            self.0.push((name.to_owned(), value));
        }
    }
}

/// The fallback for data we cannot read: its top-level scalars, by key.
fn scalars(data: &Value) -> Vec<(String, String)> {
    match data {
        Value::Object(map) => map
            .iter()
            .filter_map(|(k, v)| scalar(v).map(|v| (k.clone(), v)))
            .collect(),
        other => scalar(other)
            .map(|v| vec![("Data".to_owned(), v)])
            .unwrap_or_default(),
    }
}

fn window(d: &Data) -> Option<String> {
    match (d.time("window_start"), d.time("window_end")) {
        (Some(s), Some(e)) => Some(format!("{s} → {e}")),
        (s, e) => s.or(e),
    }
}

fn equity_change(d: &Data) -> Option<String> {
    let equity = d.get("equity").and_then(as_f64)?;
    let base = d
        .get("base_equity")
        .and_then(as_f64)
        .filter(|b| *b != 0.0)?;
    Some(format!("{:+.2}%", (equity - base) / base * 100.0))
}

/// `name: value` lines for an indicators object.
fn indicators(v: &Value) -> Option<String> {
    let Value::Object(map) = v else {
        return any(v);
    };
    let lines = map.iter().filter_map(|(k, v)| {
        let shown = decimal(v, 0).or_else(|| any(v))?;
        Some(format!("{k}: {shown}"))
    });
    bounded_lines(lines.collect())
}

/// `• SYMBOL · order id` lines for a list of canceled orders.
fn orders(v: &Value) -> Option<String> {
    let Value::Array(items) = v else {
        return any(v);
    };
    let lines = items.iter().filter_map(|o| {
        let o = Data(o);
        let parts: Vec<String> = [o.text("symbol"), o.text("order_id")]
            .into_iter()
            .flatten()
            .collect();
        let line = if parts.is_empty() {
            any(o.0)?
        } else {
            parts.join(" · ")
        };
        Some(format!("• {line}"))
    });
    bounded_lines(lines.collect())
}

fn bounded_lines(mut lines: Vec<String>) -> Option<String> {
    if lines.len() > LIST_MAX {
        let more = lines.len() - (LIST_MAX - 1);
        lines.truncate(LIST_MAX - 1);
        lines.push(format!("… and {more} more"));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The tone of an event, from its type and, where it matters, its side
/// or direction.
pub fn tone(event: &Event) -> Tone {
    let d = Data(&event.data);
    let by_side = |key: &str| match d.text(key).as_deref() {
        Some("buy" | "add" | "up") => Tone::Positive,
        Some("sell" | "down") => Tone::Negative,
        Some("cancel") => Tone::Warning,
        _ => Tone::Info,
    };
    match event.event_type.as_str() {
        "alert.triggered" => by_side("direction"),
        "price_alert.triggered" => match d.text("condition").as_deref() {
            Some("above") => Tone::Positive,
            Some("below") => Tone::Negative,
            _ => Tone::Info,
        },
        "signal.received" => by_side("action"),
        "order.submitted" | "order.partially_filled" => by_side("side"),
        "order.filled" | "risk.global_take_profit" | "bot.resumed" => Tone::Positive,
        "signal.rejected" | "order.rejected" | "risk.global_stop_loss" | "endpoint.disabled" => {
            Tone::Negative
        }
        "alert.expired" | "order.canceled" | "bot.paused" | "cleanup.orders_canceled" => {
            Tone::Warning
        }
        _ => Tone::Info,
    }
}

/// `type · id`, the reference a reader quotes when asking about an event.
pub fn event_ref(event: &Event) -> String {
    [event.event_type.as_str(), event.id.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}
