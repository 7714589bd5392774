//! Alpaca's rules, checked before an order is sent, so a refusal costs
//! no request and reads clearly: no forex, no crypto shorts (selling more
//! than is held), crypto only market/limit/stop_limit and gtc/ioc,
//! fractional equity only market + day, the price fields each type takes,
//! and client order ids of at most 48 characters.
//!
//! Bracket, oto and oco orders cannot be expressed by [`OrderRequest`],
//! so "no bracket for crypto" holds by construction: stop-loss and
//! take-profit are separate orders.

use rust_decimal::Decimal;

use crate::{
    adapter::{MAX_CLIENT_ORDER_ID_LEN, Rejection},
    symbol::{AssetClass, get_asset_class, same_instrument},
    types::{OrderRequest, OrderType, Position, Side, TimeInForce},
};

/// Codes of the [`Rejection`]s below, stable for callers and logs.
pub mod codes {
    pub const INVALID_QTY: &str = "invalid_qty";
    pub const INVALID_PRICE: &str = "invalid_price";
    pub const INVALID_CLIENT_ORDER_ID: &str = "invalid_client_order_id";
    pub const FOREX_UNSUPPORTED: &str = "forex_unsupported";
    pub const UNKNOWN_SYMBOL: &str = "unknown_symbol";
    pub const CRYPTO_ORDER_TYPE: &str = "crypto_order_type";
    pub const CRYPTO_TIME_IN_FORCE: &str = "crypto_time_in_force";
    pub const CRYPTO_SHORT: &str = "crypto_short";
    pub const FRACTIONAL_ORDER: &str = "fractional_order";
}

/// The rules that need no position.
pub(crate) fn check_static(req: &OrderRequest) -> Result<AssetClass, Rejection> {
    if req.qty <= Decimal::ZERO {
        return Err(Rejection::new(
            codes::INVALID_QTY,
            format!("quantity must be positive, got {}", req.qty),
        ));
    }
    if req.qty.normalize().scale() > 9 {
        return Err(Rejection::new(
            codes::INVALID_QTY,
            format!(
                "Alpaca takes at most 9 decimals of quantity, got {}",
                req.qty
            ),
        ));
    }
    let id = &req.client_order_id;
    if id.is_empty() || id.chars().count() > MAX_CLIENT_ORDER_ID_LEN {
        return Err(Rejection::new(
            codes::INVALID_CLIENT_ORDER_ID,
            format!(
                "client_order_id must be 1 to {MAX_CLIENT_ORDER_ID_LEN} characters, got {}",
                id.chars().count()
            ),
        ));
    }
    check_prices(req)?;
    let class = get_asset_class(&req.symbol);
    match class {
        AssetClass::Forex => Err(Rejection::new(
            codes::FOREX_UNSUPPORTED,
            format!("Alpaca does not trade forex ({})", req.symbol.trim()),
        )),
        AssetClass::Unknown => Err(Rejection::new(
            codes::UNKNOWN_SYMBOL,
            format!(
                "'{}' is neither a stock nor a crypto pair Alpaca trades",
                req.symbol.trim()
            ),
        )),
        AssetClass::Crypto => {
            if req.order_type == OrderType::Stop {
                return Err(Rejection::new(
                    codes::CRYPTO_ORDER_TYPE,
                    "Alpaca crypto orders must be market, limit or stop_limit; stop is not allowed",
                ));
            }
            if !matches!(req.time_in_force, TimeInForce::Gtc | TimeInForce::Ioc) {
                return Err(Rejection::new(
                    codes::CRYPTO_TIME_IN_FORCE,
                    format!(
                        "Alpaca crypto orders must be gtc or ioc, not {}",
                        req.time_in_force
                    ),
                ));
            }
            Ok(class)
        }
        AssetClass::Equity => {
            let fractional = !req.qty.fract().is_zero();
            if fractional
                && (req.order_type != OrderType::Market || req.time_in_force != TimeInForce::Day)
            {
                return Err(Rejection::new(
                    codes::FRACTIONAL_ORDER,
                    format!(
                        "fractional quantities ({}) must be market day orders at Alpaca, not {} {}",
                        req.qty, req.order_type, req.time_in_force
                    ),
                ));
            }
            Ok(class)
        }
    }
}

fn check_prices(req: &OrderRequest) -> Result<(), Rejection> {
    let t = req.order_type;
    let wrong = |what: &str| Rejection::new(codes::INVALID_PRICE, format!("{t} orders {what}"));
    match (t.needs_limit_price(), req.limit_price) {
        (true, None) => return Err(wrong("need a limit_price")),
        (false, Some(_)) => return Err(wrong("take no limit_price")),
        _ => {}
    }
    match (t.needs_stop_price(), req.stop_price) {
        (true, None) => return Err(wrong("need a stop_price")),
        (false, Some(_)) => return Err(wrong("take no stop_price")),
        _ => {}
    }
    for p in [req.limit_price, req.stop_price].into_iter().flatten() {
        if p <= Decimal::ZERO {
            return Err(wrong("need positive prices"));
        }
    }
    Ok(())
}

/// Every rule; `position` is the holding in the order's symbol (one in
/// another symbol is ignored).
pub(crate) fn check(req: &OrderRequest, position: Option<&Position>) -> Result<(), Rejection> {
    let class = check_static(req)?;
    if class == AssetClass::Crypto && req.side == Side::Sell {
        let held = position
            .filter(|p| same_instrument(&p.symbol, &req.symbol))
            .map_or(Decimal::ZERO, |p| p.qty.max(Decimal::ZERO));
        if req.qty > held {
            return Err(Rejection::new(
                codes::CRYPTO_SHORT,
                format!(
                    "Alpaca does not short crypto: selling {} {} but {} held",
                    req.qty.normalize(),
                    req.symbol.trim(),
                    held.normalize()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn req(symbol: &str, side: Side, qty: Decimal, t: OrderType, tif: TimeInForce) -> OrderRequest {
        OrderRequest {
            client_order_id: "bot-1".into(),
            symbol: symbol.into(),
            side,
            qty,
            order_type: t,
            time_in_force: tif,
            limit_price: t.needs_limit_price().then_some(dec!(100)),
            stop_price: t.needs_stop_price().then_some(dec!(90)),
        }
    }

    fn pos(symbol: &str, qty: Decimal) -> Position {
        Position {
            symbol: symbol.into(),
            qty,
            avg_entry_price: dec!(1),
            market_value: dec!(0),
            unrealized_pl: dec!(0),
        }
    }

    fn code(r: Result<(), Rejection>) -> Option<&'static str> {
        r.err().map(|e| e.code)
    }

    #[test]
    fn crypto_cannot_be_shorted() {
        use OrderType::Market;
        use TimeInForce::Gtc;
        let sell = req("BTCUSD", Side::Sell, dec!(2), Market, Gtc);
        assert_eq!(code(check(&sell, None)), Some(codes::CRYPTO_SHORT));
        assert_eq!(
            code(check(&sell, Some(&pos("BTC/USD", dec!(1))))),
            Some(codes::CRYPTO_SHORT)
        );
        assert_eq!(code(check(&sell, Some(&pos("BTCUSD", dec!(2))))), None);
        // A holding in another coin does not count.
        assert_eq!(
            code(check(&sell, Some(&pos("ETH/USD", dec!(5))))),
            Some(codes::CRYPTO_SHORT)
        );
        let e = check(&sell, Some(&pos("BTC/USD", dec!(0.5)))).unwrap_err();
        assert_eq!(
            e.reason,
            "Alpaca does not short crypto: selling 2 BTCUSD but 0.5 held"
        );
        // Equity shorts are Alpaca's business (margin, shortable list).
        let short = req("AAPL", Side::Sell, dec!(2), Market, TimeInForce::Day);
        assert_eq!(code(check(&short, None)), None);
    }

    #[test]
    fn crypto_types_and_times_in_force() {
        use OrderType::*;
        use TimeInForce::*;
        let buy = |t, tif| check(&req("BTC/USD", Side::Buy, dec!(1), t, tif), None);
        assert_eq!(code(buy(Stop, Gtc)), Some(codes::CRYPTO_ORDER_TYPE));
        assert_eq!(code(buy(Market, Day)), Some(codes::CRYPTO_TIME_IN_FORCE));
        assert_eq!(code(buy(Limit, Fok)), Some(codes::CRYPTO_TIME_IN_FORCE));
        for (t, tif) in [(Market, Gtc), (Limit, Ioc), (StopLimit, Gtc)] {
            assert_eq!(code(buy(t, tif)), None, "{t} {tif}");
        }
    }

    #[test]
    fn forex_unknown_fractional_prices_and_ids() {
        use OrderType::*;
        use TimeInForce::*;
        let r = |s: &str, q, t, tif| check(&req(s, Side::Buy, q, t, tif), None);
        assert_eq!(
            code(r("EURUSD", dec!(1), Market, Day)),
            Some(codes::FOREX_UNSUPPORTED)
        );
        assert_eq!(
            code(r("ES1!", dec!(1), Market, Day)),
            Some(codes::UNKNOWN_SYMBOL)
        );
        assert_eq!(
            code(r("AAPL", dec!(0.5), Limit, Day)),
            Some(codes::FRACTIONAL_ORDER)
        );
        assert_eq!(
            code(r("AAPL", dec!(0.5), Market, Gtc)),
            Some(codes::FRACTIONAL_ORDER)
        );
        assert_eq!(code(r("AAPL", dec!(0.5), Market, Day)), None);
        assert_eq!(
            code(r("AAPL", dec!(0), Market, Day)),
            Some(codes::INVALID_QTY)
        );
        let mut no_limit = req("AAPL", Side::Buy, dec!(1), Limit, Day);
        no_limit.limit_price = None;
        assert_eq!(code(check(&no_limit, None)), Some(codes::INVALID_PRICE));
        let mut market_with_stop = req("AAPL", Side::Buy, dec!(1), Market, Day);
        market_with_stop.stop_price = Some(dec!(1));
        assert_eq!(
            code(check(&market_with_stop, None)),
            Some(codes::INVALID_PRICE)
        );
        let mut long_id = req("AAPL", Side::Buy, dec!(1), Market, Day);
        long_id.client_order_id = "x".repeat(49);
        assert_eq!(
            code(check(&long_id, None)),
            Some(codes::INVALID_CLIENT_ORDER_ID)
        );
    }
}
