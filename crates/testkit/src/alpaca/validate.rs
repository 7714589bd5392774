//! The checks `POST /v2/orders` makes on the request alone: required
//! fields, qty xor notional, the type / time-in-force / order-class table
//! per asset class, price fields per type, fractional and extended-hours
//! rules, and the shape of bracket, oto and oco orders. Checks that need
//! the account (buying power, shorts, duplicates, wash trades, entry and
//! exit orders) are in `book`.
//!
//! Messages follow Alpaca's where they are known (`bracket orders must be
//! market or limit orders`, `bracket orders require
//! take_profit.limit_price`, `invalid order type for crypto order`); the
//! others are the fake's own wording, always with code 40010001 and 422.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::model::{Asset, AssetClass, Side, parse_decimal};

/// An error answer: HTTP status and Alpaca's `{code, message, …}` body.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({"code": code, "message": message.into()}),
        }
    }

    /// 422 40010001, the invalid-input error.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(422, 40010001, message)
    }

    /// 422 42210000, the refused-order error.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(422, 42210000, message)
    }

    /// 403 40310000.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, 40310000, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, 40410000, message)
    }

    /// Adds keys to the body (`buying_power`, `available`, …).
    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        if let Value::Object(map) = &mut self.body {
            map.insert(key.to_owned(), value);
        }
        self
    }
}

pub(crate) type Checked<T> = Result<T, ApiError>;

/// A request that passed every check of this module.
#[derive(Debug, Clone)]
pub(crate) struct NewOrder {
    pub asset: Asset,
    /// As the client sent it (`BTCUSD` is answered as `BTC/USD`).
    pub side: Side,
    pub qty: Option<Decimal>,
    pub notional: Option<Decimal>,
    pub order_type: String,
    pub time_in_force: String,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub trail_price: Option<Decimal>,
    pub trail_percent: Option<Decimal>,
    pub extended_hours: bool,
    pub client_order_id: Option<String>,
    pub order_class: String,
    pub take_profit: Option<Decimal>,
    /// `(stop_price, limit_price)`.
    pub stop_loss: Option<(Decimal, Option<Decimal>)>,
    pub position_intent: Option<String>,
}

const TYPES: [&str; 5] = ["market", "limit", "stop", "stop_limit", "trailing_stop"];
const TIFS: [&str; 6] = ["day", "gtc", "opg", "cls", "ioc", "fok"];
const CLASSES: [&str; 5] = ["simple", "bracket", "oco", "oto", "mleg"];
const INTENTS: [&str; 4] = [
    "buy_to_open",
    "buy_to_close",
    "sell_to_open",
    "sell_to_close",
];

fn string_field(body: &Value, field: &str) -> Checked<Option<String>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(format!("invalid {field}"))),
    }
}

fn decimal(body: &Value, field: &str) -> Checked<Option<Decimal>> {
    parse_decimal(body, field).map_err(ApiError::invalid)
}

fn positive(body: &Value, field: &str) -> Checked<Option<Decimal>> {
    let v = decimal(body, field)?;
    if let Some(d) = v {
        if d <= Decimal::ZERO {
            return Err(ApiError::invalid(format!("{field} must be > 0")));
        }
        if d.normalize().scale() > 9 {
            return Err(ApiError::invalid(format!(
                "{field} must have at most 9 decimal places"
            )));
        }
    }
    Ok(v)
}

/// Checks the body; `lookup` finds an asset by the symbol as sent.
pub(crate) fn check_order(
    body: &Value,
    lookup: impl Fn(&str) -> Option<Asset>,
    client_order_id_max_len: usize,
) -> Checked<NewOrder> {
    if !body.is_object() {
        return Err(ApiError::invalid("request body format is invalid"));
    }
    let symbol = string_field(body, "symbol")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("symbol is required"))?;
    let side = match string_field(body, "side")?.as_deref() {
        Some("buy") => Side::Buy,
        Some("sell") => Side::Sell,
        None => return Err(ApiError::invalid("side is required")),
        Some(_) => return Err(ApiError::invalid("invalid side")),
    };
    let order_type =
        string_field(body, "type")?.ok_or_else(|| ApiError::invalid("type is required"))?;
    if !TYPES.contains(&order_type.as_str()) {
        return Err(ApiError::invalid("invalid order type"));
    }
    let tif = string_field(body, "time_in_force")?
        .ok_or_else(|| ApiError::invalid("time_in_force is required"))?;
    if !TIFS.contains(&tif.as_str()) {
        return Err(ApiError::invalid("invalid time_in_force"));
    }
    let qty = positive(body, "qty")?;
    let notional = positive(body, "notional")?;
    match (qty, notional) {
        (None, None) => return Err(ApiError::invalid("qty or notional is required")),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("only one of qty or notional is accepted"));
        }
        _ => {}
    }
    let order_class = match string_field(body, "order_class")?.as_deref() {
        None | Some("") => "simple".to_owned(),
        Some(c) if CLASSES.contains(&c) => c.to_owned(),
        Some(_) => return Err(ApiError::invalid("invalid order_class")),
    };
    if order_class == "mleg" {
        return Err(ApiError::invalid("mleg orders are not supported"));
    }
    let asset = lookup(&symbol)
        .ok_or_else(|| ApiError::invalid(format!("asset \"{symbol}\" not found")))?;

    let limit_price = positive(body, "limit_price")?;
    let stop_price = positive(body, "stop_price")?;
    let trail_price = positive(body, "trail_price")?;
    let trail_percent = positive(body, "trail_percent")?;
    let extended_hours = match body.get("extended_hours") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("invalid extended_hours")),
    };
    let client_order_id = string_field(body, "client_order_id")?.filter(|s| !s.is_empty());
    if let Some(id) = &client_order_id
        && id.chars().count() > client_order_id_max_len
    {
        return Err(ApiError::invalid(format!(
            "client_order_id must be no more than {client_order_id_max_len} characters"
        )));
    }
    let position_intent = string_field(body, "position_intent")?;
    if let Some(p) = &position_intent
        && !INTENTS.contains(&p.as_str())
    {
        return Err(ApiError::invalid("invalid position_intent"));
    }
    let (take_profit, stop_loss) = legs(body)?;

    check_class_table(asset.class, &order_type, &tif, &order_class)?;
    check_price_fields(
        &order_type,
        &order_class,
        limit_price,
        stop_price,
        trail_price,
        trail_percent,
    )?;
    if asset.class == AssetClass::UsEquity {
        let fractional = notional.is_some() || qty.is_some_and(|q| !q.fract().is_zero());
        if fractional && order_type != "market" {
            return Err(ApiError::invalid("fractional orders must be market orders"));
        }
        if fractional && tif != "day" {
            return Err(ApiError::invalid("fractional orders must be DAY orders"));
        }
    }
    if extended_hours && (order_type != "limit" || tif != "day") {
        return Err(ApiError::invalid(
            "extended hours order must be DAY limit orders",
        ));
    }
    let base = limit_price.unwrap_or(asset.price);
    check_legs(
        &order_class,
        &order_type,
        side,
        base,
        take_profit,
        stop_loss,
    )?;

    Ok(NewOrder {
        asset,
        side,
        qty,
        notional,
        order_type,
        time_in_force: tif,
        limit_price,
        stop_price,
        trail_price,
        trail_percent,
        extended_hours,
        client_order_id,
        order_class,
        take_profit,
        stop_loss,
        position_intent,
    })
}

type Legs = (Option<Decimal>, Option<(Decimal, Option<Decimal>)>);

fn legs(body: &Value) -> Checked<Legs> {
    let object = |field: &str| match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(_) => Err(ApiError::invalid(format!("invalid {field}"))),
    };
    let take_profit = match object("take_profit")? {
        None => None,
        Some(tp) => Some(
            positive(tp, "limit_price")?
                .ok_or_else(|| ApiError::invalid("take_profit.limit_price is required"))?,
        ),
    };
    let stop_loss = match object("stop_loss")? {
        None => None,
        Some(sl) => {
            let stop = positive(sl, "stop_price")?
                .ok_or_else(|| ApiError::invalid("stop_loss.stop_price is required"))?;
            Some((stop, positive(sl, "limit_price")?))
        }
    };
    Ok((take_profit, stop_loss))
}

fn check_class_table(
    class: AssetClass,
    order_type: &str,
    tif: &str,
    order_class: &str,
) -> Checked<()> {
    match class {
        AssetClass::UsEquity => Ok(()),
        AssetClass::Crypto => {
            if !["market", "limit", "stop_limit"].contains(&order_type) {
                return Err(ApiError::invalid("invalid order type for crypto order"));
            }
            if !["gtc", "ioc"].contains(&tif) {
                return Err(ApiError::invalid("invalid crypto time_in_force"));
            }
            if order_class != "simple" {
                return Err(ApiError::invalid(format!(
                    "crypto orders not allowed for advanced order_class: {order_class}"
                )));
            }
            Ok(())
        }
        AssetClass::UsOption => {
            if !["market", "limit"].contains(&order_type) {
                return Err(ApiError::invalid("invalid order type for options order"));
            }
            if tif != "day" {
                return Err(ApiError::invalid("options orders must be DAY orders"));
            }
            if order_class != "simple" {
                return Err(ApiError::invalid(format!(
                    "options orders not allowed for order_class: {order_class}"
                )));
            }
            Ok(())
        }
    }
}

fn check_price_fields(
    order_type: &str,
    order_class: &str,
    limit: Option<Decimal>,
    stop: Option<Decimal>,
    trail_price: Option<Decimal>,
    trail_percent: Option<Decimal>,
) -> Checked<()> {
    let forbid = |present: bool, field: &str| {
        if present {
            Err(ApiError::invalid(format!(
                "{field} must not be set for {order_type} orders"
            )))
        } else {
            Ok(())
        }
    };
    let require = |present: bool, field: &str| {
        if present {
            Ok(())
        } else {
            Err(ApiError::invalid(format!(
                "{field} is required for {order_type} orders"
            )))
        }
    };
    if order_type != "trailing_stop" {
        forbid(trail_price.is_some(), "trail_price")?;
        forbid(trail_percent.is_some(), "trail_percent")?;
    }
    match order_type {
        "market" => {
            forbid(limit.is_some(), "limit_price")?;
            forbid(stop.is_some(), "stop_price")
        }
        "limit" => {
            if order_class != "oco" {
                require(limit.is_some(), "limit_price")?;
            }
            forbid(stop.is_some(), "stop_price")
        }
        "stop" => {
            require(stop.is_some(), "stop_price")?;
            forbid(limit.is_some(), "limit_price")
        }
        "stop_limit" => {
            require(limit.is_some(), "limit_price")?;
            require(stop.is_some(), "stop_price")
        }
        _ => {
            forbid(limit.is_some(), "limit_price")?;
            forbid(stop.is_some(), "stop_price")?;
            match (trail_price, trail_percent) {
                (None, None) => Err(ApiError::invalid(
                    "trail_price or trail_percent is required for trailing_stop orders",
                )),
                (Some(_), Some(_)) => Err(ApiError::invalid(
                    "only one of trail_price or trail_percent is accepted",
                )),
                _ => Ok(()),
            }
        }
    }
}

fn check_legs(
    order_class: &str,
    order_type: &str,
    side: Side,
    base: Decimal,
    take_profit: Option<Decimal>,
    stop_loss: Option<(Decimal, Option<Decimal>)>,
) -> Checked<()> {
    let cent = Decimal::new(1, 2);
    // For a buy entry the take-profit sells above and the stop below.
    let check_distance = || -> Checked<()> {
        if let Some(tp) = take_profit {
            let ok = match side {
                Side::Buy => tp >= base + cent,
                Side::Sell => tp <= base - cent,
            };
            if !ok {
                let op = if side == Side::Buy { ">=" } else { "<=" };
                let sign = if side == Side::Buy { "+" } else { "-" };
                return Err(ApiError::invalid(format!(
                    "take_profit.limit_price must be {op} base_price {sign} 0.01"
                )));
            }
        }
        if let Some((stop, _)) = stop_loss {
            let ok = match side {
                Side::Buy => stop <= base - cent,
                Side::Sell => stop >= base + cent,
            };
            if !ok {
                let op = if side == Side::Buy { "<=" } else { ">=" };
                let sign = if side == Side::Buy { "-" } else { "+" };
                return Err(ApiError::invalid(format!(
                    "stop_loss.stop_price must be {op} base_price {sign} 0.01"
                )));
            }
        }
        Ok(())
    };
    match order_class {
        "bracket" => {
            if !["market", "limit"].contains(&order_type) {
                return Err(ApiError::invalid(
                    "bracket orders must be market or limit orders",
                ));
            }
            if take_profit.is_none() {
                return Err(ApiError::invalid(
                    "bracket orders require take_profit.limit_price",
                ));
            }
            if stop_loss.is_none() {
                return Err(ApiError::invalid(
                    "bracket orders require stop_loss.stop_price",
                ));
            }
            check_distance()
        }
        "oto" => {
            match (take_profit, stop_loss) {
                (None, None) => {
                    return Err(ApiError::invalid(
                        "oto orders require take_profit or stop_loss",
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(ApiError::invalid(
                        "oto orders accept only one of take_profit or stop_loss",
                    ));
                }
                _ => {}
            }
            if !["market", "limit", "stop", "stop_limit"].contains(&order_type) {
                return Err(ApiError::invalid(
                    "oto orders must be market, limit, stop or stop_limit orders",
                ));
            }
            check_distance()
        }
        "oco" => {
            if order_type != "limit" {
                return Err(ApiError::invalid("oco orders must be limit orders"));
            }
            if take_profit.is_none() || stop_loss.is_none() {
                return Err(ApiError::invalid(
                    "oco orders require take_profit and stop_loss",
                ));
            }
            Ok(())
        }
        _ => {
            if take_profit.is_some() || stop_loss.is_some() {
                return Err(ApiError::invalid(
                    "take_profit and stop_loss are only for bracket, oto and oco orders",
                ));
            }
            Ok(())
        }
    }
}
