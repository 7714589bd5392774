//! Ready-to-paste TradingView alert messages for each body format.

use serde::Serialize;

use super::types::Format;

/// One alert message to paste into TradingView's "Message" box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertTemplate {
    pub format: Format,
    /// A short, stable name: `strategy`, `traderspost_strategy`,
    /// `traderspost_buy`, `traderspost_sell`, `traderspost_exit`,
    /// `multi_leg`.
    pub name: String,
    /// The URL for TradingView's "Webhook URL" field.
    pub webhook_url: String,
    /// The message, JSON with TradingView placeholders.
    pub message: String,
    /// How to set up the alert, and what to edit.
    pub notes: String,
}

/// A JSON value to print; strings are escaped, placeholders kept.
enum Node {
    Str(String),
    Obj(Vec<(&'static str, Node)>),
    Arr(Vec<Node>),
}

fn s(v: &str) -> Node {
    Node::Str(v.to_string())
}

fn write(node: &Node, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    match node {
        Node::Str(v) => out.push_str(&serde_json::Value::String(v.clone()).to_string()),
        Node::Obj(fields) => {
            out.push_str("{\n");
            for (i, (k, v)) in fields.iter().enumerate() {
                out.push_str(&pad);
                out.push('"');
                out.push_str(k);
                out.push_str("\": ");
                write(v, indent + 1, out);
                if i + 1 < fields.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&end);
            out.push('}');
        }
        Node::Arr(items) => {
            out.push_str("[\n");
            for (i, v) in items.iter().enumerate() {
                out.push_str(&pad);
                write(v, indent + 1, out);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&end);
            out.push(']');
        }
    }
}

fn message(secret: Option<&str>, fields: Vec<(&'static str, Node)>) -> String {
    let mut all = Vec::with_capacity(fields.len() + 1);
    if let Some(secret) = secret {
        all.push(("secret", s(secret)));
    }
    all.extend(fields);
    let mut out = String::new();
    write(&Node::Obj(all), 0, &mut out);
    out
}

const QUOTING: &str = "Every placeholder is inside quotes, so a value that renders empty still leaves valid JSON (tradehook reads quoted numbers).";

/// The alert messages for every format, for `webhook_url` (the bot's
/// `/hooks/tradingview/{token}` URL). With `secret`, each message carries
/// it as `"secret"`; TradingView stores it in the alert, so treat the
/// alert as sensitive.
pub fn alert_templates(webhook_url: &str, secret: Option<&str>) -> Vec<AlertTemplate> {
    let url_note = format!("Paste {webhook_url} into the alert's Webhook URL (Notifications tab).");
    let template = |format, name: &str, message: String, notes: &str| AlertTemplate {
        format,
        name: name.to_string(),
        webhook_url: webhook_url.to_string(),
        message,
        notes: format!("{notes} {QUOTING} {url_note}"),
    };
    let indicator = |action: &str| {
        template(
            Format::TradersPost,
            &format!("traderspost_{action}"),
            message(
                secret,
                vec![
                    ("ticker", s("{{ticker}}")),
                    ("action", s(action)),
                    ("price", s("{{close}}")),
                    ("time", s("{{timenow}}")),
                    (
                        "signal_id",
                        s(&format!("{{{{ticker}}}}-{action}-{{{{timenow}}}}")),
                    ),
                ],
            ),
            &format!(
                "For an indicator or drawing alert that should {what}: create one alert per condition. Add \"quantity\" to override the bot's size.",
                what = match action {
                    "buy" => "buy (enter long, or reverse a short)",
                    "sell" => "sell (enter short, or reverse a long)",
                    _ => "close the open position, whatever its size",
                }
            ),
        )
    };
    vec![
        template(
            Format::Strategy,
            "strategy",
            message(
                secret,
                vec![
                    ("symbol", s("{{ticker}}")),
                    ("strategy_order_id", s("{{strategy.order.id}}")),
                    ("strategy_order_action", s("{{strategy.order.action}}")),
                    (
                        "strategy_order_contracts",
                        s("{{strategy.order.contracts}}"),
                    ),
                    ("strategy_order_price", s("{{strategy.order.price}}")),
                    ("strategy_order_comment", s("{{strategy.order.comment}}")),
                    (
                        "strategy_market_position",
                        s("{{strategy.market_position}}"),
                    ),
                    (
                        "strategy_market_position_size",
                        s("{{strategy.market_position_size}}"),
                    ),
                    (
                        "strategy_prev_market_position",
                        s("{{strategy.prev_market_position}}"),
                    ),
                    (
                        "strategy_prev_market_position_size",
                        s("{{strategy.prev_market_position_size}}"),
                    ),
                    ("time", s("{{timenow}}")),
                ],
            ),
            "For a strategy alert (condition: the strategy, order fills). The market position fields tell entries, exits, additions and reversals apart exactly; the order id and time make the dedupe id. Order ids and comments must not contain double quotes.",
        ),
        template(
            Format::TradersPost,
            "traderspost_strategy",
            message(
                secret,
                vec![
                    ("ticker", s("{{ticker}}")),
                    ("action", s("{{strategy.order.action}}")),
                    ("sentiment", s("{{strategy.market_position}}")),
                    ("quantity", s("{{strategy.order.contracts}}")),
                    ("price", s("{{strategy.order.price}}")),
                    ("time", s("{{timenow}}")),
                    (
                        "signal_id",
                        s("{{ticker}}-{{timenow}}-{{strategy.order.id}}-{{strategy.order.action}}"),
                    ),
                ],
            ),
            "TradersPost-style message for a strategy alert: the sentiment is the position after the order (long, short or flat), so a sell to flat closes the long and a sell that leaves a long open is a partial exit.",
        ),
        indicator("buy"),
        indicator("sell"),
        indicator("exit"),
        template(
            Format::MultiLeg,
            "multi_leg",
            message(
                secret,
                vec![
                    ("alertType", s("multi_leg_order")),
                    (
                        "order_legs",
                        Node::Arr(vec![Node::Obj(vec![
                            ("transactionType", s("B")),
                            ("orderType", s("MKT")),
                            ("quantity", s("1")),
                            ("exchange", s("{{exchange}}")),
                            ("symbol", s("{{ticker}}")),
                            ("instrument", s("EQ")),
                            ("productType", s("I")),
                            ("sort_order", s("1")),
                            (
                                "meta",
                                Node::Obj(vec![
                                    ("interval", s("{{interval}}")),
                                    ("time", s("{{time}}")),
                                    ("timenow", s("{{timenow}}")),
                                ]),
                            ),
                        ])]),
                    ),
                ],
            ),
            "Multi-leg order: edit the leg (transactionType B/S, orderType MKT/LMT/SL/SL-M, quantity, instrument EQ/FUT/CE/PE, productType C/I/M) and copy it for more legs, numbering sort_order. LMT and SL legs need \"price\".",
        ),
    ]
}

/// Replaces `{{name}}` placeholders as TradingView does: names found in
/// `values` are replaced, any other placeholder is left as it is. For
/// tests and for a TradingView sender fake.
pub fn substitute_placeholders(message: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
