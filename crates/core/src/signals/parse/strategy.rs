//! (a) Strategy alerts: `strategy_order_*` fields.

use super::{Result, blank, enum_opt, enum_req};
use crate::signals::error::SchemaCode;
use crate::signals::read::{Obj, Sign};
use crate::signals::types::*;

const MARKET_POSITIONS: &[(&str, MarketPosition)] = &[
    ("long", MarketPosition::Long),
    ("flat", MarketPosition::Flat),
    ("short", MarketPosition::Short),
];

pub(super) fn parse_strategy(o: &Obj) -> Result<ParsedSignal> {
    let symbol = match o.str_opt("symbol")? {
        Some(s) => s,
        None => match o.str_opt("ticker")? {
            Some(s) => s,
            None => o.str_req("symbol")?,
        },
    };
    let action = enum_req(
        o,
        "strategy_order_action",
        &[("buy", Action::Buy), ("sell", Action::Sell)],
        SchemaCode::InvalidAction,
    )?;
    let mut s = blank(Format::Strategy, symbol, action);
    s.order_id = o.str_opt("strategy_order_id")?;
    s.quantity = o.dec_opt("strategy_order_contracts", Sign::Positive)?;
    s.price = o.dec_opt("strategy_order_price", Sign::Positive)?;
    s.comment = o.text_opt("strategy_order_comment")?;
    s.market_position = enum_opt(
        o,
        "strategy_market_position",
        MARKET_POSITIONS,
        SchemaCode::InvalidValue,
    )?;
    s.prev_market_position = enum_opt(
        o,
        "strategy_prev_market_position",
        MARKET_POSITIONS,
        SchemaCode::InvalidValue,
    )?;
    s.market_position_size = o.dec_opt("strategy_market_position_size", Sign::NonNegative)?;
    s.prev_market_position_size =
        o.dec_opt("strategy_prev_market_position_size", Sign::NonNegative)?;
    Ok(s)
}
