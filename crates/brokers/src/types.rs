//! Orders, positions and accounts as every broker reports them.
//!
//! Money and quantities are [`Decimal`] and serialise as strings (as
//! Alpaca's API does), so no value is rounded through a float. Timestamps
//! are Unix milliseconds.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    /// The other side (the side that closes a position opened by `self`).
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// How an order is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Market,
    Limit,
    Stop,
    StopLimit,
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
            OrderType::Stop => "stop",
            OrderType::StopLimit => "stop_limit",
        }
    }

    /// Whether the type takes a `limit_price` (and must have one).
    pub fn needs_limit_price(self) -> bool {
        matches!(self, OrderType::Limit | OrderType::StopLimit)
    }

    /// Whether the type takes a `stop_price` (and must have one).
    pub fn needs_stop_price(self) -> bool {
        matches!(self, OrderType::Stop | OrderType::StopLimit)
    }
}

/// How long an order stays working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    Day,
    Gtc,
    Ioc,
    Fok,
    Opg,
    Cls,
}

impl TimeInForce {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Day => "day",
            TimeInForce::Gtc => "gtc",
            TimeInForce::Ioc => "ioc",
            TimeInForce::Fok => "fok",
            TimeInForce::Opg => "opg",
            TimeInForce::Cls => "cls",
        }
    }
}

/// Where an order is in its life; Alpaca's statuses. A status this crate
/// does not know deserialises as [`OrderStatus::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    New,
    Accepted,
    PendingNew,
    AcceptedForBidding,
    PartiallyFilled,
    Filled,
    DoneForDay,
    Canceled,
    Expired,
    Replaced,
    PendingCancel,
    PendingReplace,
    PendingReview,
    Stopped,
    Rejected,
    Suspended,
    Calculated,
    Held,
    #[serde(other)]
    Unknown,
}

impl OrderStatus {
    /// Whether the order can no longer change: filled, canceled, expired,
    /// replaced or rejected.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Expired
                | OrderStatus::Replaced
                | OrderStatus::Rejected
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Accepted => "accepted",
            OrderStatus::PendingNew => "pending_new",
            OrderStatus::AcceptedForBidding => "accepted_for_bidding",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::DoneForDay => "done_for_day",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Expired => "expired",
            OrderStatus::Replaced => "replaced",
            OrderStatus::PendingCancel => "pending_cancel",
            OrderStatus::PendingReplace => "pending_replace",
            OrderStatus::PendingReview => "pending_review",
            OrderStatus::Stopped => "stopped",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Suspended => "suspended",
            OrderStatus::Calculated => "calculated",
            OrderStatus::Held => "held",
            OrderStatus::Unknown => "unknown",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(Side, OrderType, TimeInForce, OrderStatus);

/// An order to place. Exactly the price fields of its type must be set
/// (market none, limit `limit_price`, stop `stop_price`, stop_limit both),
/// as Alpaca rejects the others rather than ignoring them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Our idempotency key, at most 48 characters (see
    /// [`crate::adapter::client_order_id`]).
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    /// Positive; fractions allowed.
    pub qty: Decimal,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
}

/// An order as the broker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The broker's id.
    pub id: String,
    pub client_order_id: String,
    /// The broker's spelling (Alpaca `BTC/USD`; paper the canonical form).
    pub symbol: String,
    pub side: Side,
    pub qty: Decimal,
    pub filled_qty: Decimal,
    pub filled_avg_price: Option<Decimal>,
    pub order_type: OrderType,
    pub status: OrderStatus,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    /// Unix ms.
    pub submitted_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// An open position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub symbol: String,
    /// Signed: negative for a short.
    pub qty: Decimal,
    pub avg_entry_price: Decimal,
    /// `qty` × current price: negative for a short.
    pub market_value: Decimal,
    pub unrealized_pl: Decimal,
}

/// Account balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Cash plus the market value of positions.
    pub equity: Decimal,
    pub cash: Decimal,
    pub buying_power: Decimal,
    /// ISO code, e.g. `USD`.
    pub currency: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn enums_use_alpacas_spelling() {
        assert_eq!(
            serde_json::to_string(&OrderType::StopLimit).unwrap(),
            "\"stop_limit\""
        );
        assert_eq!(serde_json::to_string(&TimeInForce::Gtc).unwrap(), "\"gtc\"");
        assert_eq!(
            serde_json::from_str::<OrderStatus>("\"partially_filled\"").unwrap(),
            OrderStatus::PartiallyFilled
        );
        assert_eq!(
            serde_json::from_str::<OrderStatus>("\"brand_new_status\"").unwrap(),
            OrderStatus::Unknown
        );
        assert_eq!(OrderStatus::PendingNew.to_string(), "pending_new");
        assert_eq!(Side::Buy.opposite(), Side::Sell);
    }

    #[test]
    fn final_statuses() {
        for s in [
            OrderStatus::Filled,
            OrderStatus::Canceled,
            OrderStatus::Expired,
            OrderStatus::Replaced,
            OrderStatus::Rejected,
        ] {
            assert!(s.is_final(), "{s}");
        }
        for s in [
            OrderStatus::New,
            OrderStatus::Accepted,
            OrderStatus::PendingNew,
            OrderStatus::PartiallyFilled,
            OrderStatus::Held,
            OrderStatus::PendingCancel,
        ] {
            assert!(!s.is_final(), "{s}");
        }
    }

    #[test]
    fn decimals_serialise_as_strings() {
        let p = Position {
            symbol: "BTC/USD".into(),
            qty: dec!(-0.5),
            avg_entry_price: dec!(64250.5),
            market_value: dec!(-32000),
            unrealized_pl: dec!(125.25),
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["qty"], "-0.5");
        assert_eq!(json["avg_entry_price"], "64250.5");
        let back: Position = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}
