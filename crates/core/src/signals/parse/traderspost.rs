//! (c) TradersPost-style signals: `ticker` + `action`.

use super::{Result, blank, enum_opt, enum_req};
use crate::signals::error::{SchemaCode, SignalError};
use crate::signals::read::{Obj, Sign};
use crate::signals::types::*;

const ORDER_KINDS: &[(&str, OrderKind)] = &[
    ("market", OrderKind::Market),
    ("limit", OrderKind::Limit),
    ("stop", OrderKind::Stop),
    ("stop_limit", OrderKind::StopLimit),
    ("trailing_stop", OrderKind::TrailingStop),
];

const TIMES_IN_FORCE: &[(&str, &str)] = &[
    ("day", "day"),
    ("gtc", "gtc"),
    ("opg", "opg"),
    ("cls", "cls"),
    ("ioc", "ioc"),
    ("fok", "fok"),
    ("gtd", "gtd"),
];

fn conflict(o: &Obj, a: &str, b: &str) -> SignalError {
    SignalError::schema(
        o.field_path(b),
        SchemaCode::ConflictingFields,
        format!("give only one of `{a}` and `{b}`"),
    )
}

/// Exactly one of `keys` (all decimals > 0) must be present.
fn one_of(o: &Obj, keys: &[&str]) -> Result<Vec<Option<rust_decimal::Decimal>>> {
    let mut values = Vec::with_capacity(keys.len());
    let mut first: Option<&str> = None;
    for key in keys {
        let v = o.dec_opt(key, Sign::Positive)?;
        if v.is_some() {
            if let Some(prev) = first {
                return Err(conflict(o, prev, key));
            }
            first = Some(key);
        }
        values.push(v);
    }
    if first.is_none() {
        let list: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
        return Err(SignalError::schema(
            o.field_path(keys[0]),
            SchemaCode::MissingField,
            format!("`{}` needs one of {}", o.path, list.join(", ")),
        ));
    }
    Ok(values)
}

fn parse_take_profit(o: &Obj) -> Result<TpSl> {
    let v = one_of(o, &["limitPrice", "percent", "amount"])?;
    Ok(TpSl {
        price: v[0],
        percent: v[1],
        amount: v[2],
        ..TpSl::default()
    })
}

fn parse_stop_loss(o: &Obj) -> Result<TpSl> {
    let kind = enum_opt(
        o,
        "type",
        &[
            ("stop", OrderKind::Stop),
            ("stop_limit", OrderKind::StopLimit),
            ("trailing_stop", OrderKind::TrailingStop),
        ],
        SchemaCode::InvalidValue,
    )?;
    let limit_price = o.dec_opt("limitPrice", Sign::Positive)?;
    if limit_price.is_some() && kind != Some(OrderKind::StopLimit) {
        return Err(SignalError::schema(
            o.field_path("limitPrice"),
            SchemaCode::ConflictingFields,
            "`limitPrice` is only allowed with `type` stop_limit",
        ));
    }
    let mut sl = TpSl {
        kind,
        limit_price,
        ..TpSl::default()
    };
    if kind == Some(OrderKind::TrailingStop) {
        let v = one_of(o, &["trailAmount", "trailPercent"])?;
        sl.trail_amount = v[0];
        sl.trail_percent = v[1];
    } else {
        for key in ["trailAmount", "trailPercent"] {
            if o.get(key).is_some() {
                return Err(SignalError::schema(
                    o.field_path(key),
                    SchemaCode::ConflictingFields,
                    format!("`{key}` is only allowed with `type` trailing_stop"),
                ));
            }
        }
        let v = one_of(o, &["stopPrice", "percent", "amount"])?;
        sl.price = v[0];
        sl.percent = v[1];
        sl.amount = v[2];
    }
    Ok(sl)
}

pub(super) fn parse_traderspost(o: &Obj) -> Result<ParsedSignal> {
    let symbol = o.str_req("ticker")?;
    let action = enum_req(
        o,
        "action",
        &[
            ("buy", Action::Buy),
            ("sell", Action::Sell),
            ("exit", Action::Exit),
            ("cancel", Action::Cancel),
            ("add", Action::Add),
        ],
        SchemaCode::InvalidAction,
    )?;
    let mut s = blank(Format::TradersPost, symbol, action);
    s.sentiment = enum_opt(
        o,
        "sentiment",
        &[
            ("bullish", Sentiment::Bullish),
            ("bearish", Sentiment::Bearish),
            ("flat", Sentiment::Flat),
            ("long", Sentiment::Bullish),
            ("short", Sentiment::Bearish),
        ],
        SchemaCode::InvalidSentiment,
    )?;
    s.quantity = o.dec_opt("quantity", Sign::Positive)?;
    s.quantity_type = enum_opt(
        o,
        "quantityType",
        &[
            ("fixed_quantity", QuantityType::FixedQuantity),
            ("dollar_amount", QuantityType::DollarAmount),
            ("risk_dollar_amount", QuantityType::RiskDollarAmount),
            ("percent_of_equity", QuantityType::PercentOfEquity),
            ("percent_of_position", QuantityType::PercentOfPosition),
        ],
        SchemaCode::InvalidValue,
    )?;
    s.price = o.dec_opt("price", Sign::Positive)?;
    s.signal_price = o.dec_opt("signalPrice", Sign::Positive)?;
    s.order_type = enum_opt(o, "orderType", ORDER_KINDS, SchemaCode::InvalidValue)?;
    s.limit_price = o.dec_opt("limitPrice", Sign::Positive)?;
    s.stop_price = o.dec_opt("stopPrice", Sign::Positive)?;
    s.trail_amount = o.dec_opt("trailAmount", Sign::Positive)?;
    s.trail_percent = o.dec_opt("trailPercent", Sign::Positive)?;
    if s.trail_amount.is_some() && s.trail_percent.is_some() {
        return Err(conflict(o, "trailAmount", "trailPercent"));
    }
    if s.order_type == Some(OrderKind::TrailingStop)
        && s.trail_amount.is_none()
        && s.trail_percent.is_none()
    {
        return Err(SignalError::schema(
            "trailAmount",
            SchemaCode::MissingField,
            "`orderType` trailing_stop needs `trailAmount` or `trailPercent`",
        ));
    }
    s.time_in_force =
        enum_opt(o, "timeInForce", TIMES_IN_FORCE, SchemaCode::InvalidValue)?.map(str::to_string);
    if let Some(tp) = o.obj_opt("takeProfit")? {
        s.take_profit = Some(parse_take_profit(&tp)?);
    }
    if let Some(sl) = o.obj_opt("stopLoss")? {
        s.stop_loss = Some(parse_stop_loss(&sl)?);
    }
    if s.quantity_type == Some(QuantityType::RiskDollarAmount) && s.stop_loss.is_none() {
        return Err(SignalError::schema(
            "stopLoss",
            SchemaCode::MissingField,
            "`quantityType` risk_dollar_amount needs `stopLoss`",
        ));
    }
    s.extended_hours = o.bool_opt("extendedHours")?;
    s.cancel_open_orders = o.bool_opt("cancel")?;
    s.test = o.bool_opt("test")?;
    Ok(s)
}
