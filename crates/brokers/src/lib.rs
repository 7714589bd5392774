//! Brokers for tradehook: the [`BrokerAdapter`] interface every broker
//! implements, the order and account types, symbol classification and
//! per-broker spelling, and the built-in [`PaperBroker`].
//!
//! Money and quantities are [`rust_decimal::Decimal`]; market prices from
//! the feed arrive as `f64` and are converted once, when they are used.

pub mod adapter;
pub mod alpaca;
pub mod paper;
pub mod symbol;
pub mod types;

pub use adapter::{
    BrokerAdapter, BrokerError, ExitPair, MAX_CLIENT_ORDER_ID_LEN, Rejection, client_order_id,
    oco_leg, with_leg,
};
pub use paper::{
    HISTORY_LIMIT, LastPrice, PaperBroker, PaperConfig, PaperOrder, PaperPosition, PaperState,
    PriceSource, PriceUpdate, price_key,
};
pub use rust_decimal::Decimal;
pub use symbol::{
    AssetClass, ParsedSymbol, SymbolError, alpaca_order_symbol, alpaca_position_symbol,
    feed_symbol, get_asset_class, parse_symbol, same_instrument,
};
pub use types::{
    Account, Order, OrderRequest, OrderStatus, OrderType, Position, Side, TimeInForce,
};
