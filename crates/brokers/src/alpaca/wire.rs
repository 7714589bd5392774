//! Alpaca's JSON and our types: decimals arrive as strings (numbers are
//! accepted too), timestamps as RFC 3339 with nanoseconds, crypto
//! positions as `BTCUSD`. Unknown fields are ignored; a missing required
//! field is an error naming it.

use chrono::DateTime;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    symbol::{AssetClass, alpaca_order_symbol, get_asset_class},
    types::{Account, Order, OrderRequest, OrderStatus, OrderType, Position, Side},
};

/// A decimal from a string or a number; `null`/absent/`""` is `None`.
fn decimal(v: &Value, field: &str) -> Result<Option<Decimal>, String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => parse(s).map(Some).ok_or(()),
        Some(Value::Number(n)) => parse(&n.to_string()).map(Some).ok_or(()),
        Some(_) => Err(()),
    }
    .map_err(|()| format!("{field} is not a decimal: {}", v[field]))
}

fn parse(s: &str) -> Option<Decimal> {
    s.parse().ok().or_else(|| Decimal::from_scientific(s).ok())
}

fn required(v: &Value, field: &str) -> Result<Decimal, String> {
    decimal(v, field)?.ok_or_else(|| format!("{field} is missing"))
}

fn string(v: &Value, field: &str) -> Result<String, String> {
    v.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{field} is missing"))
}

/// Unix ms of an RFC 3339 field; `None` if absent or null.
fn millis(v: &Value, field: &str) -> Result<Option<i64>, String> {
    match v.get(field).and_then(Value::as_str) {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.timestamp_millis()))
            .map_err(|_| format!("{field} is not an RFC 3339 time: {s}")),
    }
}

pub(crate) fn order(v: &Value) -> Result<Order, String> {
    let side = match string(v, "side")?.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => return Err(format!("unknown side {other}")),
    };
    let kind = v
        .get("type")
        .or_else(|| v.get("order_type"))
        .and_then(Value::as_str)
        .ok_or("type is missing")?;
    let order_type = match kind {
        "market" => OrderType::Market,
        "limit" => OrderType::Limit,
        // A trailing stop is a stop whose price moves.
        "stop" | "trailing_stop" => OrderType::Stop,
        "stop_limit" => OrderType::StopLimit,
        other => return Err(format!("unknown order type {other}")),
    };
    let status: OrderStatus = serde_json::from_value(v.get("status").cloned().unwrap_or_default())
        .map_err(|_| "status is missing".to_owned())?;
    let filled_qty = decimal(v, "filled_qty")?.unwrap_or_default();
    // A notional order has no qty until it fills.
    let qty = decimal(v, "qty")?.unwrap_or(filled_qty);
    let created = millis(v, "created_at")?;
    let submitted = millis(v, "submitted_at")?.or(created).unwrap_or_default();
    Ok(Order {
        id: string(v, "id")?,
        client_order_id: string(v, "client_order_id")?,
        symbol: string(v, "symbol")?,
        side,
        qty,
        filled_qty,
        filled_avg_price: decimal(v, "filled_avg_price")?,
        order_type,
        status,
        limit_price: decimal(v, "limit_price")?,
        stop_price: decimal(v, "stop_price")?,
        submitted_at: submitted,
        updated_at: millis(v, "updated_at")?.unwrap_or(submitted),
    })
}

/// Crypto positions come as `BTCUSD`; we answer in the order form
/// `BTC/USD`, the spelling orders use.
pub(crate) fn position(v: &Value) -> Result<Position, String> {
    let raw = string(v, "symbol")?;
    let crypto = v.get("asset_class").and_then(Value::as_str) == Some("crypto")
        || get_asset_class(&raw) == AssetClass::Crypto;
    let symbol = if crypto {
        alpaca_order_symbol(&raw).unwrap_or(raw)
    } else {
        raw
    };
    let mut qty = required(v, "qty")?;
    if v.get("side").and_then(Value::as_str) == Some("short") && qty > Decimal::ZERO {
        qty = -qty;
    }
    Ok(Position {
        symbol,
        qty,
        avg_entry_price: required(v, "avg_entry_price")?,
        market_value: decimal(v, "market_value")?.unwrap_or_default(),
        unrealized_pl: decimal(v, "unrealized_pl")?.unwrap_or_default(),
    })
}

pub(crate) fn account(v: &Value) -> Result<Account, String> {
    Ok(Account {
        equity: required(v, "equity")?,
        cash: required(v, "cash")?,
        buying_power: required(v, "buying_power")?,
        currency: string(v, "currency").unwrap_or_else(|_| "USD".to_owned()),
    })
}

/// The `POST /v2/orders` body. Decimals go as strings; `symbol` must
/// already be in the order form.
pub(crate) fn order_body(req: &OrderRequest, symbol: &str) -> Value {
    let mut body = json!({
        "symbol": symbol,
        "qty": req.qty.normalize().to_string(),
        "side": req.side.as_str(),
        "type": req.order_type.as_str(),
        "time_in_force": req.time_in_force.as_str(),
        "client_order_id": req.client_order_id,
    });
    if let Some(p) = req.limit_price {
        body["limit_price"] = json!(p.normalize().to_string());
    }
    if let Some(p) = req.stop_price {
        body["stop_price"] = json!(p.normalize().to_string());
    }
    body
}

/// Alpaca's error body `{"code": 40310000, "message": "…"}`; the code
/// is kept as a string. A body that is not JSON (a 401 may be an HTML
/// page) gives no code and a short message.
pub(crate) fn error_body(status: u16, text: &str) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct Body {
        code: Option<Value>,
        message: Option<String>,
    }
    match serde_json::from_str::<Body>(text) {
        Ok(b) => (
            b.code.map(|c| match c {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            b.message.unwrap_or_else(|| format!("HTTP {status}")),
        ),
        Err(_) => {
            let snippet: String = text.chars().take(200).collect();
            let message = if snippet.trim().is_empty() || snippet.trim_start().starts_with('<') {
                format!("HTTP {status}")
            } else {
                snippet
            };
            (None, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn orders_map_strings_to_decimals_and_times_to_millis() {
        let v = json!({
            "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
            "client_order_id": "bot-1",
            "created_at": "2021-12-09T19:48:46.176628398Z",
            "updated_at": "2021-12-09T19:48:47.5Z",
            "submitted_at": "2021-12-09T19:48:46.176628398Z",
            "symbol": "BTC/USD", "asset_class": "crypto",
            "qty": "0.5", "filled_qty": "0.25", "filled_avg_price": "60000.5",
            "type": "limit", "side": "sell", "status": "partially_filled",
            "limit_price": 61000, "stop_price": null, "time_in_force": "gtc",
            "some_new_field": {"x": 1}
        });
        let o = order(&v).unwrap();
        assert_eq!(o.qty, dec!(0.5));
        assert_eq!(o.filled_qty, dec!(0.25));
        assert_eq!(o.filled_avg_price, Some(dec!(60000.5)));
        assert_eq!(o.limit_price, Some(dec!(61000)));
        assert_eq!(o.status, OrderStatus::PartiallyFilled);
        assert_eq!(o.submitted_at, 1_639_079_326_176);
        assert_eq!(o.updated_at, 1_639_079_327_500);
        assert_eq!(o.symbol, "BTC/USD");
    }

    #[test]
    fn notional_orders_take_their_filled_qty() {
        let v = json!({"id": "1", "client_order_id": "c", "symbol": "AAPL", "qty": null,
                       "notional": "100", "filled_qty": "0.66", "type": "market",
                       "side": "buy", "status": "filled", "created_at": "2024-01-01T00:00:00Z"});
        assert_eq!(order(&v).unwrap().qty, dec!(0.66));
        assert!(order(&json!({"id": "1"})).unwrap_err().contains("side"));
    }

    #[test]
    fn crypto_positions_come_back_in_the_order_form() {
        let v = json!({"symbol": "BTCUSD", "asset_class": "crypto", "qty": "1.5",
                       "avg_entry_price": "60000", "market_value": "93000",
                       "unrealized_pl": "3000", "side": "long"});
        let p = position(&v).unwrap();
        assert_eq!(p.symbol, "BTC/USD");
        assert_eq!(p.qty, dec!(1.5));
        let short = json!({"symbol": "AAPL", "qty": "10", "side": "short",
                           "avg_entry_price": "150"});
        assert_eq!(position(&short).unwrap().qty, dec!(-10));
    }

    #[test]
    fn error_bodies_keep_code_and_message() {
        let (code, msg) = error_body(
            403,
            r#"{"buying_power":"176531.28","code":40310000,"cost_basis":"48640000","message":"insufficient buying power"}"#,
        );
        assert_eq!(code.as_deref(), Some("40310000"));
        assert_eq!(msg, "insufficient buying power");
        let (code, msg) = error_body(401, "<html><body>401 Authorization Required</body></html>");
        assert_eq!((code, msg.as_str()), (None, "HTTP 401"));
    }
}
