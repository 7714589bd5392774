//! The fake's records (assets, orders, positions) and their wire form:
//! every decimal a string, every timestamp RFC 3339 UTC with nanoseconds.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::config::Stage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetClass {
    UsEquity,
    Crypto,
    UsOption,
}

impl AssetClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetClass::UsEquity => "us_equity",
            AssetClass::Crypto => "crypto",
            AssetClass::UsOption => "us_option",
        }
    }

    /// A symbol's class by its form: a slash is a crypto pair, an OCC
    /// contract (`AAPL240119C00150000`) an option, anything else equity.
    pub fn of_symbol(symbol: &str) -> AssetClass {
        if symbol.contains('/') {
            AssetClass::Crypto
        } else if is_occ(symbol) {
            AssetClass::UsOption
        } else {
            AssetClass::UsEquity
        }
    }
}

fn is_occ(symbol: &str) -> bool {
    let b = symbol.as_bytes();
    b.len() > 15 && {
        let tail = &b[b.len() - 15..];
        tail[..6].iter().all(u8::is_ascii_digit)
            && matches!(tail[6], b'C' | b'P')
            && tail[7..].iter().all(u8::is_ascii_digit)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Asset {
    pub id: String,
    /// Order form: `AAPL`, `BTC/USD`.
    pub symbol: String,
    pub class: AssetClass,
    pub price: Decimal,
    pub lastday_price: Decimal,
}

impl Asset {
    /// Position form: `BTCUSD` for crypto, the symbol otherwise.
    pub fn position_symbol(&self) -> String {
        self.symbol.replace('/', "")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }

    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// Statuses after which an order never changes.
pub const FINAL: [&str; 5] = ["filled", "canceled", "expired", "replaced", "rejected"];

pub(crate) fn is_final(status: &str) -> bool {
    FINAL.contains(&status)
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: String,
    pub client_order_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub filled_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub replaced_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<String>,
    pub replaces: Option<String>,
    pub asset_id: String,
    pub symbol: String,
    pub class: AssetClass,
    pub notional: Option<Decimal>,
    pub qty: Option<Decimal>,
    pub filled_qty: Decimal,
    pub filled_avg_price: Option<Decimal>,
    pub order_class: String,
    pub order_type: String,
    pub side: Side,
    pub time_in_force: String,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub trail_price: Option<Decimal>,
    pub trail_percent: Option<Decimal>,
    pub status: String,
    pub extended_hours: bool,
    pub position_intent: Option<String>,
    /// Ids of the bracket/oto/oco children, in `legs`.
    pub legs: Vec<String>,
    pub parent: Option<String>,
    /// Stop and stop-limit orders become market/limit once triggered.
    pub triggered: bool,
    /// Stages still to come; the current one is `stage`.
    pub script: Vec<Stage>,
    pub stage: Option<Stage>,
    pub reads_left: u32,
}

impl Order {
    pub fn is_open(&self) -> bool {
        !is_final(&self.status)
    }

    /// The quantity the order is for, once known (a notional order's is
    /// known only at its first fill).
    pub fn target_qty(&self, price: Decimal) -> Decimal {
        match (self.qty, self.notional) {
            (Some(q), _) => q,
            (None, Some(n)) if !price.is_zero() => (n / price).round_dp(9),
            _ => Decimal::ZERO,
        }
    }

    pub fn remaining(&self, price: Decimal) -> Decimal {
        (self.target_qty(price) - self.filled_qty).max(Decimal::ZERO)
    }

    /// The wire form; `legs` must be the children's wire forms.
    pub fn to_wire(&self, legs: Option<Vec<Value>>) -> Value {
        json!({
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at),
            "submitted_at": ts(self.created_at),
            "filled_at": self.filled_at.map(ts),
            "expired_at": self.expired_at.map(ts),
            "expires_at": Value::Null,
            "canceled_at": self.canceled_at.map(ts),
            "failed_at": self.failed_at.map(ts),
            "replaced_at": self.replaced_at.map(ts),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": self.class.as_str(),
            "notional": self.notional.map(dec),
            "qty": self.qty.map(dec),
            "filled_qty": dec(self.filled_qty),
            "filled_avg_price": self.filled_avg_price.map(dec),
            "order_class": self.order_class,
            "order_type": self.order_type,
            "type": self.order_type,
            "side": self.side.as_str(),
            "time_in_force": self.time_in_force,
            "limit_price": self.limit_price.map(dec),
            "stop_price": self.stop_price.map(dec),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": legs,
            "trail_percent": self.trail_percent.map(dec),
            "trail_price": self.trail_price.map(dec),
            "hwm": Value::Null,
            "position_intent": self.position_intent,
            "ratio_qty": Value::Null,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Position {
    pub asset_id: String,
    /// `BTCUSD` form.
    pub symbol: String,
    pub class: AssetClass,
    /// Signed: negative is short.
    pub qty: Decimal,
    pub avg_entry_price: Decimal,
}

impl Position {
    /// `held` is what open orders on the closing side hold.
    pub fn to_wire(&self, price: Decimal, lastday: Decimal, held: Decimal) -> Value {
        let market_value = self.qty * price;
        let cost_basis = self.qty * self.avg_entry_price;
        let unrealized = market_value - cost_basis;
        let plpc = if cost_basis.is_zero() {
            Decimal::ZERO
        } else {
            (unrealized / cost_basis.abs()).round_dp(10)
        };
        let intraday = self.qty * (price - lastday);
        let intraday_base = (self.qty * lastday).abs();
        let intraday_pc = if intraday_base.is_zero() {
            Decimal::ZERO
        } else {
            (intraday / intraday_base).round_dp(10)
        };
        let change = if lastday.is_zero() {
            Decimal::ZERO
        } else {
            ((price - lastday) / lastday).round_dp(10)
        };
        json!({
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "exchange": if self.class == AssetClass::Crypto { "CRYPTO" } else { "NASDAQ" },
            "asset_class": self.class.as_str(),
            "asset_marginable": self.class != AssetClass::Crypto,
            "avg_entry_price": dec(self.avg_entry_price),
            "qty": dec(self.qty),
            "qty_available": dec(self.qty - held),
            "side": if self.qty.is_sign_negative() { "short" } else { "long" },
            "market_value": dec(market_value),
            "cost_basis": dec(cost_basis),
            "unrealized_pl": dec(unrealized),
            "unrealized_plpc": dec(plpc),
            "unrealized_intraday_pl": dec(intraday),
            "unrealized_intraday_plpc": dec(intraday_pc),
            "current_price": dec(price),
            "lastday_price": dec(lastday),
            "change_today": dec(change),
        })
    }
}

/// A decimal as Alpaca writes it: a string without trailing zeros.
pub fn dec(d: Decimal) -> String {
    d.normalize().to_string()
}

/// RFC 3339 UTC with nanoseconds, `2021-12-09T19:48:46.176628398Z`.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A request field that may be a JSON number or a string; `null` or
/// absent is `None`.
pub(crate) fn parse_decimal(body: &Value, field: &str) -> Result<Option<Decimal>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(s))
            .map(Some)
            .map_err(|_| format!("invalid {field}")),
        Some(Value::Number(n)) => {
            let s = n.to_string();
            s.parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(&s))
                .map(Some)
                .map_err(|_| format!("invalid {field}"))
        }
        Some(_) => Err(format!("invalid {field}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_classed_by_form() {
        assert_eq!(AssetClass::of_symbol("BTC/USD"), AssetClass::Crypto);
        assert_eq!(AssetClass::of_symbol("AAPL"), AssetClass::UsEquity);
        assert_eq!(
            AssetClass::of_symbol("AAPL240119C00150000"),
            AssetClass::UsOption
        );
    }

    #[test]
    fn decimals_parse_from_numbers_and_strings() {
        let body = json!({"a": 1.5, "b": "2.25", "c": null, "d": true});
        assert_eq!(
            parse_decimal(&body, "a").unwrap(),
            Some("1.5".parse().unwrap())
        );
        assert_eq!(
            parse_decimal(&body, "b").unwrap(),
            Some("2.25".parse().unwrap())
        );
        assert_eq!(parse_decimal(&body, "c").unwrap(), None);
        assert!(parse_decimal(&body, "d").is_err());
        assert_eq!(dec("150.500".parse().unwrap()), "150.5");
    }

    #[test]
    fn timestamps_have_nanoseconds() {
        let t = DateTime::parse_from_rfc3339("2021-12-09T19:48:46.176628398Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ts(t), "2021-12-09T19:48:46.176628398Z");
    }
}
