//! The normalised signal and its parts.

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

/// Which of the three body formats a signal arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// (a) `strategy_order_*` fields from a Pine strategy's placeholders.
    Strategy,
    /// (b) `alertType` + `order_legs`.
    MultiLeg,
    /// (c) `ticker` + `action`, TradersPost-style.
    TradersPost,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strategy => "strategy",
            Self::MultiLeg => "multi_leg",
            Self::TradersPost => "traderspost",
        }
    }
}

/// What the body asks for. Strategy alerts only use `Buy`/`Sell`; for a
/// multi-leg body it is the first leg's side (`Cancel` for
/// `cancel_order`): the legs are authoritative there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Buy,
    Sell,
    Exit,
    Cancel,
    Add,
}

/// TradersPost `sentiment`: the position the signal should leave.
/// `long` and `short` are accepted as aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Bullish,
    Bearish,
    Flat,
}

/// `{{strategy.market_position}}` / `{{strategy.prev_market_position}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketPosition {
    Long,
    Flat,
    Short,
}

/// The side of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Long,
    Short,
}

/// The side of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSide {
    Buy,
    Sell,
}

impl OrderSide {
    /// `B` / `S`, as multi-leg bodies and answers write it.
    pub fn letter(self) -> &'static str {
        match self {
            Self::Buy => "B",
            Self::Sell => "S",
        }
    }
}

/// How `quantity` is meant (TradersPost `quantityType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantityType {
    FixedQuantity,
    DollarAmount,
    /// Size so that hitting the stop loss loses this many dollars; needs
    /// `stopLoss`.
    RiskDollarAmount,
    PercentOfEquity,
    PercentOfPosition,
}

/// The order type. Multi-leg `MKT`/`LMT`/`SL`/`SL-M` map to
/// market / limit / stop_limit / stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    Market,
    Limit,
    Stop,
    StopLimit,
    TrailingStop,
}

/// Multi-leg `alertType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    MultiLegOrder,
    SingleOrder,
    CancelOrder,
}

impl AlertType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MultiLegOrder => "multi_leg_order",
            Self::SingleOrder => "single_order",
            Self::CancelOrder => "cancel_order",
        }
    }
}

/// Multi-leg `instrument`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Instrument {
    /// Equity.
    Eq,
    /// Future.
    Fut,
    /// Call option.
    Ce,
    /// Put option.
    Pe,
}

/// Multi-leg `productType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ProductType {
    /// `C`: cash / delivery.
    #[serde(rename = "C")]
    Cash,
    /// `I`: intraday.
    #[serde(rename = "I")]
    Intraday,
    /// `M`: margin.
    #[serde(rename = "M")]
    Margin,
}

/// A take profit or stop loss. Take profit: exactly one of `percent`,
/// `amount`, `price` (TradersPost `limitPrice`). Stop loss: `kind`
/// (stop, stop_limit or trailing_stop; stop when absent) and one of
/// `percent`, `amount`, `price` (TradersPost `stopPrice`), or for
/// trailing_stop one of `trail_amount`, `trail_percent`; `limit_price`
/// only for stop_limit. `percent` is in percent: 10 means 10 %.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TpSl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<OrderKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail_amount: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail_percent: Option<Decimal>,
}

/// One leg of a multi-leg body, in body order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leg {
    /// Position in `order_legs`, from 0; its error paths are
    /// `order_legs[index]...`.
    pub index: usize,
    /// `transactionType`: `B` buy, `S` sell.
    pub transaction: OrderSide,
    /// `orderType`: MKT → market, LMT → limit, SL → stop_limit,
    /// SL-M → stop.
    pub order_type: OrderKind,
    pub quantity: Decimal,
    /// Limit price; required for LMT and SL. `"0"` reads as absent.
    pub price: Option<Decimal>,
    /// `triggerPrice`, if given (stop orders).
    pub trigger_price: Option<Decimal>,
    pub symbol: String,
    pub exchange: Option<String>,
    pub instrument: Option<Instrument>,
    pub product_type: Option<ProductType>,
    /// The leg's place in the execution sequence, if given.
    pub sort_order: Option<u32>,
    /// `meta` as sent (interval, time, timenow).
    pub meta: Option<Value>,
}

/// A shared secret carried in the body. Its `Debug` is redacted and it
/// is never serialised; compare it with [`BodySecret::matches`].
#[derive(Clone, PartialEq, Eq)]
pub struct BodySecret(String);

impl BodySecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with the expected secret.
    pub fn matches(&self, expected: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == expected.len() && bool::from(self.0.as_bytes().ct_eq(expected.as_bytes()))
    }
}

impl fmt::Debug for BodySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodySecret(***)")
    }
}

/// A TradingView body read into one shape, whatever its format.
///
/// Fields a format does not carry are `None` (or empty). Every decimal is
/// exact (`rust_decimal`), read from JSON numbers or numeric strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedSignal {
    pub format: Format,
    /// `symbol` (strategy; `ticker` accepted), `ticker` (TradersPost), or
    /// the first leg's `symbol` (multi-leg).
    pub symbol: String,
    pub action: Action,
    /// TradersPost `sentiment`.
    pub sentiment: Option<Sentiment>,
    /// `strategy_order_id` (`{{strategy.order.id}}`).
    pub order_id: Option<String>,
    /// `strategy_market_position` (`{{strategy.market_position}}`).
    pub market_position: Option<MarketPosition>,
    /// `strategy_prev_market_position`.
    pub prev_market_position: Option<MarketPosition>,
    /// `strategy_market_position_size` (absolute).
    pub market_position_size: Option<Decimal>,
    /// `strategy_prev_market_position_size` (absolute).
    pub prev_market_position_size: Option<Decimal>,
    /// `strategy_order_contracts` or `quantity`; always > 0.
    pub quantity: Option<Decimal>,
    pub quantity_type: Option<QuantityType>,
    pub order_type: Option<OrderKind>,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub trail_amount: Option<Decimal>,
    pub trail_percent: Option<Decimal>,
    /// The alert price: `strategy_order_price` or `price`.
    pub price: Option<Decimal>,
    /// TradersPost `signalPrice`: fallback when the broker has no quote.
    pub signal_price: Option<Decimal>,
    /// Lower-case: day, gtc, opg, cls, ioc, fok or gtd.
    pub time_in_force: Option<String>,
    pub take_profit: Option<TpSl>,
    pub stop_loss: Option<TpSl>,
    pub extended_hours: Option<bool>,
    /// TradersPost `cancel`: cancel open orders for the ticker first.
    pub cancel_open_orders: Option<bool>,
    /// TradersPost `test`.
    pub test: Option<bool>,
    /// When the alert fired, Unix milliseconds: `time`, else `timestamp`,
    /// else (multi-leg) the first leg's `meta.timenow`, then `meta.time`.
    pub time: Option<i64>,
    /// The sender's own id for the signal; see [`parse()`](super::parse()) for the
    /// fields read. When present, dedupe uses it instead of the body.
    pub signal_id: Option<String>,
    /// `secret` from the body. Never serialised or shown by `Debug`.
    #[serde(skip)]
    pub secret: Option<BodySecret>,
    /// `strategy_order_comment` (strategy) or `comment`: free text.
    pub comment: Option<String>,
    /// Multi-leg `alertType`.
    pub alert_type: Option<AlertType>,
    /// Multi-leg legs in body order; empty for the other formats.
    pub legs: Vec<Leg>,
    /// `max_lag`: drop the signal when older than this many seconds.
    pub max_lag: Option<u64>,
    /// `extras`: any JSON object, passed through untouched.
    pub extras: Option<Value>,
    /// The body as parsed, with a top-level `secret` replaced by `"***"`,
    /// so that it can be stored and logged.
    pub raw: Value,
}
