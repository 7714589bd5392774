//! [`parse`]: a TradingView body to a [`ParsedSignal`].

use serde_json::Value;

mod multi_leg;
mod strategy;
mod traderspost;

use super::error::{SchemaCode, SignalError};
use super::read::{Obj, type_name};
use super::types::*;

pub(super) type Result<T> = std::result::Result<T, SignalError>;

/// What replaces a body `secret` in [`ParsedSignal::raw`].
pub const REDACTED: &str = "***";

/// Reads a TradingView webhook body.
///
/// The body is parsed as JSON whatever the Content-Type said (TradingView
/// sends `text/plain` for anything that is not valid JSON); a leading
/// UTF-8 byte-order mark is skipped. The format is told by shape:
///
/// | format | recognised by |
/// |---|---|
/// | [`Format::Strategy`] | `strategy_order_action` or `strategy_order_id` |
/// | [`Format::MultiLeg`] | `alertType` or `order_legs` |
/// | [`Format::TradersPost`] | `ticker` and `action` |
///
/// A body matching none, or more than one, is refused with
/// [`SchemaCode::UnknownFormat`].
///
/// Leniency, the same for every field:
/// - numbers may be JSON numbers or numeric strings (`0.5`, `"0.5"`,
///   `" 0.5 "`, `"1e-3"`); the decimal point is `.`. Thousands separators
///   are refused (`"1,234.5"` → `invalid_number`): TradingView never
///   writes them, and `1,5` could mean 1.5 or 15. `NaN` is refused too.
///   Quantities, prices, percents and amounts must be greater than 0;
/// - `null`, `""` and blank strings are the same as an absent field;
/// - enumerated values are case-insensitive (`"BUY"`, `"Long"`);
/// - a field we read that still holds a `{{placeholder}}` is refused with
///   [`SchemaCode::UnreplacedPlaceholder`]; unknown fields are ignored,
///   and `extras` and leg `meta` are passed through unchecked;
/// - times: see [`ParsedSignal::time`]; RFC 3339, or Unix seconds or
///   milliseconds as number or string (below 10^11 means seconds).
///
/// Fields read by every format: `secret`, `max_lag` (whole seconds),
/// `time`/`timestamp`, `comment`, `extras` (an object), and the signal id:
/// the first non-empty of `signal_id`, `id`, `alertTimestamp` (TV-Hub's
/// `{{ticker}}-{{timenow}}`). A strategy alert with none of these but
/// with `strategy_order_id` and a time gets the id
/// `{symbol}|{order id}|{action}|{time ms}` (the reference's
/// `{{ticker}}-{{timenow}}-{{strategy.order.id}}` idea, plus the action so
/// that an entry and an exit with the same id in the same second stay
/// apart).
pub fn parse(body: &[u8]) -> Result<ParsedSignal> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let value: Value = serde_json::from_slice(body).map_err(malformed)?;
    let Value::Object(map) = &value else {
        return Err(SignalError::schema(
            "$",
            SchemaCode::NotAnObject,
            format!("the body must be a JSON object, got {}", type_name(&value)),
        ));
    };
    let o = Obj::root(map);
    let format = detect(&o)?;
    let common = Common::read(&o)?;
    let mut signal = match format {
        Format::Strategy => strategy::parse_strategy(&o)?,
        Format::MultiLeg => multi_leg::parse_multi_leg(&o, common.time)?,
        Format::TradersPost => traderspost::parse_traderspost(&o)?,
    };
    signal.time = common.time.or(signal.time);
    signal.signal_id = common.signal_id.or(signal.signal_id);
    signal.secret = common.secret;
    signal.comment = signal.comment.or(common.comment);
    signal.max_lag = common.max_lag;
    signal.extras = common.extras;
    if signal.signal_id.is_none()
        && format == Format::Strategy
        && let (Some(id), Some(time)) = (&signal.order_id, signal.time)
    {
        let action = match signal.action {
            Action::Buy => "buy",
            _ => "sell",
        };
        signal.signal_id = Some(format!("{}|{id}|{action}|{time}", signal.symbol));
    }
    signal.raw = redact(value);
    Ok(signal)
}

fn malformed(e: serde_json::Error) -> SignalError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
    SignalError::MalformedJson {
        line: e.line(),
        column: e.column(),
        message,
    }
}

fn redact(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value
        && let Some(secret) = map.get_mut("secret")
        && !secret.is_null()
    {
        *secret = Value::String(REDACTED.into());
    }
    value
}

fn detect(o: &Obj) -> Result<Format> {
    let strategy = o.has("strategy_order_action") || o.has("strategy_order_id");
    let multi_leg = o.has("alertType") || o.has("order_legs");
    let traderspost = o.has("ticker") && o.has("action");
    let matched: Vec<&str> = [
        (strategy, "strategy alert"),
        (multi_leg, "multi-leg"),
        (traderspost, "TradersPost-style"),
    ]
    .iter()
    .filter(|(hit, _)| *hit)
    .map(|(_, name)| *name)
    .collect();
    match (strategy, multi_leg, traderspost) {
        (true, false, false) => Ok(Format::Strategy),
        (false, true, false) => Ok(Format::MultiLeg),
        (false, false, true) => Ok(Format::TradersPost),
        (false, false, false) => {
            let hint = if o.has("ticker") {
                " (it has `ticker` but no `action`)"
            } else if o.has("action") {
                " (it has `action` but no `ticker`)"
            } else {
                ""
            };
            Err(SignalError::schema(
                "$",
                SchemaCode::UnknownFormat,
                format!(
                    "unknown body format{hint}: expected a strategy alert (`strategy_order_action`), a multi-leg order (`alertType` / `order_legs`) or a TradersPost-style signal (`ticker` and `action`)"
                ),
            ))
        }
        _ => Err(SignalError::schema(
            "$",
            SchemaCode::UnknownFormat,
            format!(
                "ambiguous body format: it matches {}; send the fields of one format only",
                matched.join(" and ")
            ),
        )),
    }
}

/// Fields every format may carry.
struct Common {
    secret: Option<BodySecret>,
    max_lag: Option<u64>,
    time: Option<i64>,
    signal_id: Option<String>,
    comment: Option<String>,
    extras: Option<Value>,
}

impl Common {
    fn read(o: &Obj) -> Result<Self> {
        let secret = match o.get("secret") {
            None => None,
            Some(Value::String(s)) => Some(BodySecret::new(s.clone())),
            Some(other) => {
                return Err(SignalError::schema(
                    "secret",
                    SchemaCode::InvalidType,
                    format!("`secret` must be a string, got {}", type_name(other)),
                ));
            }
        };
        let time = match o.time_opt("time")? {
            Some(t) => Some(t),
            None => o.time_opt("timestamp")?,
        };
        let mut signal_id = None;
        for key in ["signal_id", "id", "alertTimestamp"] {
            if let Some(id) = o.str_opt(key)? {
                signal_id = Some(id);
                break;
            }
        }
        let extras = match o.get("extras") {
            None => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(other) => {
                return Err(SignalError::schema(
                    "extras",
                    SchemaCode::InvalidType,
                    format!("`extras` must be an object, got {}", type_name(other)),
                ));
            }
        };
        Ok(Self {
            secret,
            max_lag: o.u64_opt("max_lag")?,
            time,
            signal_id,
            comment: o.text_opt("comment")?,
            extras,
        })
    }
}

pub(super) fn blank(format: Format, symbol: String, action: Action) -> ParsedSignal {
    ParsedSignal {
        format,
        symbol,
        action,
        sentiment: None,
        order_id: None,
        market_position: None,
        prev_market_position: None,
        market_position_size: None,
        prev_market_position_size: None,
        quantity: None,
        quantity_type: None,
        order_type: None,
        limit_price: None,
        stop_price: None,
        trail_amount: None,
        trail_percent: None,
        price: None,
        signal_price: None,
        time_in_force: None,
        take_profit: None,
        stop_loss: None,
        extended_hours: None,
        cancel_open_orders: None,
        test: None,
        time: None,
        signal_id: None,
        secret: None,
        comment: None,
        alert_type: None,
        legs: Vec::new(),
        max_lag: None,
        extras: None,
        raw: Value::Null,
    }
}

/// Reads an enumerated field: `table` maps lower-case spellings to
/// values; anything else is refused with `code`.
pub(super) fn enum_opt<T: Copy>(
    o: &Obj,
    key: &str,
    table: &[(&str, T)],
    code: SchemaCode,
) -> Result<Option<T>> {
    match o.str_opt(key)? {
        None => Ok(None),
        Some(s) => lookup(o, key, &s, table, code).map(Some),
    }
}

pub(super) fn enum_req<T: Copy>(
    o: &Obj,
    key: &str,
    table: &[(&str, T)],
    code: SchemaCode,
) -> Result<T> {
    let s = o.str_req(key)?;
    lookup(o, key, &s, table, code)
}

pub(super) fn lookup<T: Copy>(
    o: &Obj,
    key: &str,
    s: &str,
    table: &[(&str, T)],
    code: SchemaCode,
) -> Result<T> {
    let lower = s.to_ascii_lowercase();
    if let Some((_, v)) = table.iter().find(|(name, _)| *name == lower) {
        return Ok(*v);
    }
    let allowed: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
    Err(SignalError::schema(
        o.field_path(key),
        code,
        format!("`{key}` must be one of {}, got \"{s}\"", allowed.join(", ")),
    ))
}
