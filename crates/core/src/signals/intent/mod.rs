//! [`intent`]: what a parsed signal asks the bot to do.
//!
//! The decision is a lookup in one of four tables, which are public so
//! that the documentation, the code and the tests use the same rows.
//!
//! ## Strategy alerts with a market position
//!
//! When `strategy_market_position` is present, TradingView has already
//! worked out what the order did; [`STRATEGY_POSITION_TABLE`] reads it
//! from (`strategy_order_action`, `strategy_prev_market_position`,
//! `strategy_market_position`). "–" is an absent previous position.
//!
//! | action | prev | now | intent |
//! |---|---|---|---|
//! | buy | – | flat | ShortExit, close all |
//! | buy | – | long | LongEntry |
//! | buy | – | short | ShortExit, partial |
//! | buy | flat | flat | refused: `inconsistent_position` |
//! | buy | flat | long | LongEntry |
//! | buy | flat | short | refused: `inconsistent_position` |
//! | buy | long | flat | refused: `inconsistent_position` |
//! | buy | long | long | Add long |
//! | buy | long | short | refused: `inconsistent_position` |
//! | buy | short | flat | ShortExit, close all |
//! | buy | short | long | LongEntry, reversal |
//! | buy | short | short | ShortExit, partial |
//! | sell | – | flat | LongExit, close all |
//! | sell | – | long | LongExit, partial |
//! | sell | – | short | ShortEntry |
//! | sell | flat | flat | refused: `inconsistent_position` |
//! | sell | flat | long | refused: `inconsistent_position` |
//! | sell | flat | short | ShortEntry |
//! | sell | long | flat | LongExit, close all |
//! | sell | long | long | LongExit, partial |
//! | sell | long | short | ShortEntry, reversal |
//! | sell | short | flat | refused: `inconsistent_position` |
//! | sell | short | long | refused: `inconsistent_position` |
//! | sell | short | short | Add short |
//!
//! A reversal's quantity is the new position's size:
//! `strategy_market_position_size` if given, else contracts minus
//! `strategy_prev_market_position_size` if given, else the contracts
//! (which then include the part that closed the old position).
//!
//! ## Strategy alerts without a market position
//!
//! [`STRATEGY_ORDER_ID_TABLE`] follows the reference's (`order id`,
//! `action`) table. The order id names the side: it is long when it
//! contains `long` or is `buy`, short when it contains `short` or is
//! `sell` (any case: `Long`, `Exit Long`, `short_entry`). An id naming
//! both or neither, or no id, is refused with `ambiguous_trade`. As the
//! size of the position is unknown, exits close all of it: send
//! `strategy_market_position` for partial exits.
//!
//! | order id side | action | intent |
//! |---|---|---|
//! | long | buy | LongEntry |
//! | long | sell | LongExit, close all |
//! | short | sell | ShortEntry |
//! | short | buy | ShortExit, close all |
//!
//! ## TradersPost-style
//!
//! [`TRADERSPOST_TABLE`], after TradersPost: `sentiment` is the position
//! the signal should leave, so a buy that leaves a short open is a partial
//! short exit, and a buy to flat closes the short. Entries against an
//! open opposite position are reversals, which the executor carries out
//! (exit, wait for the fill, enter) or, for a long-only bot, limits to the
//! exit. `exit` and `cancel` ignore size.
//!
//! | action | sentiment | intent |
//! |---|---|---|
//! | buy | – | LongEntry |
//! | buy | bullish | LongEntry |
//! | buy | bearish | ShortExit, partial |
//! | buy | flat | ShortExit, close all |
//! | sell | – | ShortEntry |
//! | sell | bearish | ShortEntry |
//! | sell | bullish | LongExit, partial |
//! | sell | flat | LongExit, close all |
//! | exit | – | Exit, close all |
//! | exit | flat | Exit, close all |
//! | exit | bullish | refused: `invalid_sentiment_action` |
//! | exit | bearish | refused: `invalid_sentiment_action` |
//! | cancel | – | Cancel |
//! | cancel | flat | Cancel |
//! | cancel | bullish | refused: `invalid_sentiment_action` |
//! | cancel | bearish | refused: `invalid_sentiment_action` |
//! | add | – | Add, open side |
//! | add | bullish | Add long |
//! | add | bearish | Add short |
//! | add | flat | refused: `invalid_sentiment_action` |
//!
//! Reading the intents: "partial" exits sell or buy back the signal's
//! quantity (the bot's default size when it has none); "close all"
//! closes the whole position and ignores any quantity; Exit closes
//! whatever position is open; "Add, open side" adds to the side of the
//! open position; a "reversal" closes the opposite position, then enters.
//!
//! ## Multi-leg
//!
//! [`MULTI_LEG_TABLE`]: place the legs as plain orders, in `sort_order`,
//! without position logic ([`IntentKind::Orders`]), or cancel.
//!
//! | alertType | intent |
//! |---|---|
//! | multi_leg_order | Orders |
//! | single_order | Orders |
//! | cancel_order | Cancel |
//!
//! A body without `alertType` is a `multi_leg_order`.

use rust_decimal::Decimal;
use serde::Serialize;

mod tables;

pub use tables::*;

use crate::signals::error::{SchemaCode, SignalError};
use crate::signals::types::*;

/// What the bot should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentKind {
    LongEntry,
    LongExit,
    ShortEntry,
    ShortExit,
    /// Add to a position: `side: None` means the side of the position
    /// that is open.
    Add {
        side: Option<Side>,
    },
    /// Close whatever position is open in the symbol, whatever its size.
    Exit,
    /// Cancel the open orders of the symbol.
    Cancel,
    /// Place [`ParsedSignal::legs`] as they are (multi-leg).
    Orders,
}

impl IntentKind {
    /// The side of the position concerned, when the kind says it.
    pub fn side(self) -> Option<Side> {
        match self {
            Self::LongEntry | Self::LongExit => Some(Side::Long),
            Self::ShortEntry | Self::ShortExit => Some(Side::Short),
            Self::Add { side } => side,
            Self::Exit | Self::Cancel | Self::Orders => None,
        }
    }

    /// The side of the order to send, when the kind says it.
    pub fn order_side(self) -> Option<OrderSide> {
        match self {
            Self::LongEntry
            | Self::ShortExit
            | Self::Add {
                side: Some(Side::Long),
            } => Some(OrderSide::Buy),
            Self::ShortEntry
            | Self::LongExit
            | Self::Add {
                side: Some(Side::Short),
            } => Some(OrderSide::Sell),
            _ => None,
        }
    }
}

/// What the bot should do for a signal, with the order details it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Intent {
    pub kind: IntentKind,
    pub symbol: String,
    /// The position side concerned ([`IntentKind::side`]).
    pub side: Option<Side>,
    /// The order to send ([`IntentKind::order_side`]); `None` for Exit
    /// and Cancel (it depends on the open position) and Orders.
    pub order_side: Option<OrderSide>,
    /// `None`: the whole position when `close_all`, Exit and Cancel;
    /// otherwise the bot's default size.
    pub quantity: Option<Decimal>,
    /// `fixed_quantity` unless the signal said otherwise.
    pub quantity_type: QuantityType,
    /// Close all of the position, ignoring any size in the signal.
    pub close_all: bool,
    /// The signal flips the position: close the opposite one first.
    pub reverse: bool,
    /// `market` unless the signal said otherwise.
    pub order_type: OrderKind,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub trail_amount: Option<Decimal>,
    pub trail_percent: Option<Decimal>,
    /// The alert price (for slippage), else `signalPrice`.
    pub price: Option<Decimal>,
    pub time_in_force: Option<String>,
    pub take_profit: Option<TpSl>,
    pub stop_loss: Option<TpSl>,
    /// Cancel the symbol's open orders first (TradersPost `cancel`).
    pub cancel_open_orders: bool,
}

fn reject(code: SchemaCode, path: &str, message: String) -> SignalError {
    SignalError::schema(path, code, message)
}

/// Which side a strategy order id names, if exactly one.
pub fn order_id_side(order_id: &str) -> Option<Side> {
    let id = order_id.trim().to_ascii_lowercase();
    let long = id.contains("long") || id == "buy";
    let short = id.contains("short") || id == "sell";
    match (long, short) {
        (true, false) => Some(Side::Long),
        (false, true) => Some(Side::Short),
        _ => None,
    }
}

fn order_side_of(action: Action) -> OrderSide {
    match action {
        Action::Buy => OrderSide::Buy,
        _ => OrderSide::Sell,
    }
}

fn position_name(p: Option<MarketPosition>) -> &'static str {
    match p {
        None => "unknown",
        Some(MarketPosition::Long) => "long",
        Some(MarketPosition::Flat) => "flat",
        Some(MarketPosition::Short) => "short",
    }
}

fn strategy_outcome(p: &ParsedSignal) -> Result<Outcome, SignalError> {
    let action = order_side_of(p.action);
    let action_name = match action {
        OrderSide::Buy => "buy",
        OrderSide::Sell => "sell",
    };
    if let Some(now) = p.market_position {
        let row = STRATEGY_POSITION_TABLE
            .iter()
            .find(|r| r.action == action && r.prev == p.prev_market_position && r.now == now)
            .expect("the table covers every combination");
        if let Outcome::Reject(code) = row.outcome {
            return Err(reject(
                code,
                "strategy_market_position",
                format!(
                    "a {action_name} cannot take the position from {} to {}",
                    position_name(p.prev_market_position),
                    position_name(Some(now))
                ),
            ));
        }
        return Ok(row.outcome);
    }
    let Some(id) = &p.order_id else {
        return Err(reject(
            SchemaCode::AmbiguousTrade,
            "strategy_market_position",
            "cannot tell entry from exit: send `strategy_market_position` ({{strategy.market_position}}) or a `strategy_order_id` naming long or short".into(),
        ));
    };
    let Some(side) = order_id_side(id) else {
        return Err(reject(
            SchemaCode::AmbiguousTrade,
            "strategy_order_id",
            format!(
                "order id \"{id}\" names neither long nor short: send `strategy_market_position` ({{{{strategy.market_position}}}}) or name the orders long/short"
            ),
        ));
    };
    let row = STRATEGY_ORDER_ID_TABLE
        .iter()
        .find(|r| r.order_id_side == side && r.action == action)
        .expect("the table covers every combination");
    Ok(row.outcome)
}

fn traderspost_outcome(p: &ParsedSignal) -> Result<Outcome, SignalError> {
    let row = TRADERSPOST_TABLE
        .iter()
        .find(|r| r.action == p.action && r.sentiment == p.sentiment)
        .expect("the table covers every combination");
    if let Outcome::Reject(code) = row.outcome {
        return Err(reject(
            code,
            "sentiment",
            format!(
                "sentiment {:?} does not go with action {:?}",
                p.sentiment.map(sentiment_name).unwrap_or("none"),
                action_name(p.action)
            ),
        ));
    }
    Ok(row.outcome)
}

fn sentiment_name(s: Sentiment) -> &'static str {
    match s {
        Sentiment::Bullish => "bullish",
        Sentiment::Bearish => "bearish",
        Sentiment::Flat => "flat",
    }
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Buy => "buy",
        Action::Sell => "sell",
        Action::Exit => "exit",
        Action::Cancel => "cancel",
        Action::Add => "add",
    }
}

/// Maps a parsed signal to what the bot should do; see the module
/// documentation for the tables.
pub fn intent(p: &ParsedSignal) -> Result<Intent, SignalError> {
    let outcome = match p.format {
        Format::Strategy => strategy_outcome(p)?,
        Format::TradersPost => traderspost_outcome(p)?,
        Format::MultiLeg => {
            let alert_type = p.alert_type.unwrap_or(AlertType::MultiLegOrder);
            MULTI_LEG_TABLE
                .iter()
                .find(|r| r.alert_type == alert_type)
                .expect("the table covers every alert type")
                .outcome
        }
    };
    let Outcome::Trade {
        kind,
        close_all,
        reverse,
    } = outcome
    else {
        unreachable!("rejections are returned above")
    };
    let sized = !close_all
        && !matches!(
            kind,
            IntentKind::Exit | IntentKind::Cancel | IntentKind::Orders
        );
    let quantity = if !sized {
        None
    } else if reverse {
        reversal_quantity(p)
    } else {
        p.quantity
    };
    Ok(Intent {
        kind,
        symbol: p.symbol.clone(),
        side: kind.side(),
        order_side: kind.order_side(),
        quantity,
        quantity_type: if sized {
            p.quantity_type.unwrap_or(QuantityType::FixedQuantity)
        } else {
            QuantityType::FixedQuantity
        },
        close_all,
        reverse,
        order_type: p.order_type.unwrap_or(OrderKind::Market),
        limit_price: p.limit_price,
        stop_price: p.stop_price,
        trail_amount: p.trail_amount,
        trail_percent: p.trail_percent,
        price: p.price.or(p.signal_price),
        time_in_force: p.time_in_force.clone(),
        take_profit: p.take_profit.clone(),
        stop_loss: p.stop_loss.clone(),
        cancel_open_orders: p.cancel_open_orders.unwrap_or(false),
    })
}

/// The size of the new position after a reversal.
fn reversal_quantity(p: &ParsedSignal) -> Option<Decimal> {
    if let Some(size) = p.market_position_size.filter(|s| *s > Decimal::ZERO) {
        return Some(size);
    }
    if let (Some(contracts), Some(prev)) = (p.quantity, p.prev_market_position_size) {
        let rest = contracts - prev;
        if rest > Decimal::ZERO {
            return Some(rest);
        }
    }
    p.quantity
}
