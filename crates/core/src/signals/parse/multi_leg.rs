//! (b) Multi-leg orders: `alertType` + `order_legs`.

use serde_json::Value;

use super::{Result, blank, enum_opt, enum_req};
use crate::signals::error::{SchemaCode, SignalError};
use crate::signals::read::{Obj, Sign, type_name};
use crate::signals::types::*;

pub(super) fn parse_multi_leg(o: &Obj, common_time: Option<i64>) -> Result<ParsedSignal> {
    let alert_type = enum_opt(
        o,
        "alertType",
        &[
            ("multi_leg_order", AlertType::MultiLegOrder),
            ("single_order", AlertType::SingleOrder),
            ("cancel_order", AlertType::CancelOrder),
        ],
        SchemaCode::InvalidValue,
    )?
    .unwrap_or(AlertType::MultiLegOrder);
    let legs_value = match o.get("order_legs") {
        None => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(other) => {
            return Err(SignalError::schema(
                "order_legs",
                SchemaCode::InvalidType,
                format!("`order_legs` must be an array, got {}", type_name(other)),
            ));
        }
    };
    let leg_objects = legs_value
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: format!("order_legs[{i}]"),
            }),
            other => Err(SignalError::schema(
                format!("order_legs[{i}]"),
                SchemaCode::InvalidType,
                format!("each leg must be an object, got {}", type_name(other)),
            )),
        })
        .collect::<Result<Vec<_>>>()?;

    if alert_type == AlertType::CancelOrder {
        // Cancels the open orders of a symbol: the first leg's symbol, or
        // a top-level `symbol` / `ticker`.
        let symbol = match leg_objects.first() {
            Some(leg) => leg.str_req("symbol")?,
            None => match o.str_opt("symbol")? {
                Some(s) => s,
                None => o.str_opt("ticker")?.ok_or_else(|| {
                    SignalError::schema(
                        "order_legs",
                        SchemaCode::MissingField,
                        "`cancel_order` needs a symbol: in `order_legs[0].symbol` or `symbol`",
                    )
                })?,
            },
        };
        let mut s = blank(Format::MultiLeg, symbol, Action::Cancel);
        s.alert_type = Some(alert_type);
        return Ok(s);
    }

    if leg_objects.is_empty() {
        return Err(SignalError::schema(
            "order_legs",
            SchemaCode::MissingField,
            format!(
                "`{}` needs at least one leg in `order_legs`",
                alert_type.as_str()
            ),
        ));
    }
    if alert_type == AlertType::SingleOrder && leg_objects.len() != 1 {
        return Err(SignalError::schema(
            "order_legs",
            SchemaCode::InvalidValue,
            format!(
                "`single_order` needs exactly one leg, got {}",
                leg_objects.len()
            ),
        ));
    }
    let legs = leg_objects
        .iter()
        .enumerate()
        .map(|(i, leg)| parse_leg(i, leg))
        .collect::<Result<Vec<_>>>()?;
    let first = &legs[0];
    let action = match first.transaction {
        OrderSide::Buy => Action::Buy,
        OrderSide::Sell => Action::Sell,
    };
    let mut s = blank(Format::MultiLeg, first.symbol.clone(), action);
    s.alert_type = Some(alert_type);
    if common_time.is_none()
        && let Some(meta) = leg_objects[0].obj_opt("meta")?
    {
        s.time = match meta.time_opt("timenow")? {
            Some(t) => Some(t),
            None => meta.time_opt("time")?,
        };
    }
    s.legs = legs;
    Ok(s)
}

fn parse_leg(index: usize, o: &Obj) -> Result<Leg> {
    let transaction = enum_req(
        o,
        "transactionType",
        &[
            ("b", OrderSide::Buy),
            ("s", OrderSide::Sell),
            ("buy", OrderSide::Buy),
            ("sell", OrderSide::Sell),
        ],
        SchemaCode::InvalidAction,
    )?;
    let order_type = enum_req(
        o,
        "orderType",
        &[
            ("mkt", OrderKind::Market),
            ("lmt", OrderKind::Limit),
            ("sl", OrderKind::StopLimit),
            ("sl-m", OrderKind::Stop),
        ],
        SchemaCode::InvalidValue,
    )?;
    let quantity = o.dec_req("quantity", Sign::Positive)?;
    let price = o
        .dec_opt("price", Sign::NonNegative)?
        .filter(|p| !p.is_zero());
    if price.is_none() && matches!(order_type, OrderKind::Limit | OrderKind::StopLimit) {
        return Err(SignalError::schema(
            o.field_path("price"),
            SchemaCode::MissingField,
            "`price` greater than 0 is required for LMT and SL legs",
        ));
    }
    let trigger_price = o
        .dec_opt("triggerPrice", Sign::NonNegative)?
        .filter(|p| !p.is_zero());
    let sort_order = match o.u64_opt("sort_order")? {
        None => None,
        Some(n) => Some(u32::try_from(n).map_err(|_| {
            SignalError::schema(
                o.field_path("sort_order"),
                SchemaCode::InvalidNumber,
                format!("`sort_order` is too large: {n}"),
            )
        })?),
    };
    Ok(Leg {
        index,
        transaction,
        order_type,
        quantity,
        price,
        trigger_price,
        symbol: o.str_req("symbol")?,
        exchange: o.str_opt("exchange")?,
        instrument: enum_opt(
            o,
            "instrument",
            &[
                ("eq", Instrument::Eq),
                ("fut", Instrument::Fut),
                ("ce", Instrument::Ce),
                ("pe", Instrument::Pe),
            ],
            SchemaCode::InvalidValue,
        )?,
        product_type: enum_opt(
            o,
            "productType",
            &[
                ("c", ProductType::Cash),
                ("i", ProductType::Intraday),
                ("m", ProductType::Margin),
            ],
            SchemaCode::InvalidValue,
        )?,
        sort_order,
        meta: o.get("meta").cloned(),
    })
}
