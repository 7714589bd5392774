//! The arithmetic of an entry, apart from any broker: its size, its limit
//! price, its time in force and its SL/TP levels.

use tradehook_brokers::{Decimal, Side, TimeInForce};
use tradehook_core::signals::{Intent, QuantityType, TpSl};

use crate::api::bots::BotSettings;

/// What sizing needs to know about the market and the account.
#[derive(Debug, Clone, Copy, Default)]
pub struct Market {
    /// The latest price of the symbol.
    pub mark: Option<Decimal>,
    /// The account equity (read only when the sizing needs it).
    pub equity: Option<Decimal>,
    /// The open position's size, unsigned.
    pub position: Option<Decimal>,
}

/// Whether sizing this entry reads the account's equity.
pub fn needs_equity(settings: &BotSettings, explicit: Option<QuantityType>) -> bool {
    match explicit {
        Some(t) => t == QuantityType::PercentOfEquity,
        None => settings.sizing_mode == "pct_equity",
    }
}

/// The entry's size before rounding.
///
/// A signal that says how its `quantity` is meant (TradersPost
/// `quantityType`) is sized that way: `fixed_quantity` as is,
/// `dollar_amount` ÷ price, `percent_of_equity` % of equity ÷ price,
/// `percent_of_position` % of the open position, `risk_dollar_amount` ÷
/// the distance to the signal's stop loss. Otherwise the bot's
/// `sizing_mode` decides (`signal_contracts` takes the quantity as is).
pub fn entry_qty(
    settings: &BotSettings,
    intent: &Intent,
    explicit: Option<QuantityType>,
    m: Market,
) -> Result<Decimal, String> {
    let pct = |p: Decimal| p / Decimal::from(100);
    let need_mark = || {
        m.mark
            .ok_or_else(|| format!("no market price for {} to size the order", intent.symbol))
    };
    if let (Some(t), Some(q)) = (explicit, intent.quantity) {
        return match t {
            QuantityType::FixedQuantity => Ok(q),
            QuantityType::DollarAmount => Ok(q / need_mark()?),
            QuantityType::PercentOfEquity => {
                let equity = m.equity.ok_or("the account equity is unknown")?;
                Ok(equity * pct(q) / need_mark()?)
            }
            QuantityType::PercentOfPosition => {
                let pos = m.position.filter(|p| !p.is_zero()).ok_or_else(|| {
                    format!(
                        "percent_of_position needs an open position in {}",
                        intent.symbol
                    )
                })?;
                Ok(pos * pct(q))
            }
            QuantityType::RiskDollarAmount => {
                let reference = intent
                    .price
                    .or(m.mark)
                    .ok_or_else(|| format!("no price for {} to size by risk", intent.symbol))?;
                let long = intent.order_side == Some(tradehook_core::signals::OrderSide::Buy);
                let stop = intent
                    .stop_loss
                    .as_ref()
                    .and_then(|s| level(s, reference, long, true))
                    .ok_or("risk_dollar_amount needs a stopLoss")?;
                let distance = (reference - stop).abs();
                if distance.is_zero() {
                    return Err("the stop loss is at the entry price".into());
                }
                Ok(q / distance)
            }
        };
    }
    let dec = |v: f64, what: &str| {
        Decimal::try_from(v).map_err(|_| format!("the bot's {what} is not a number"))
    };
    match settings.sizing_mode.as_str() {
        "signal_contracts" => intent.quantity.ok_or_else(|| {
            "no size: sizing_mode signal_contracts needs a quantity in the signal".into()
        }),
        "fixed_qty" => match settings.fixed_qty {
            Some(q) => dec(q, "fixed_qty"),
            None => Err("no size: sizing_mode fixed_qty needs fixed_qty".into()),
        },
        "notional" => match settings.notional {
            Some(n) => Ok(dec(n, "notional")? / need_mark()?),
            None => Err("no size: sizing_mode notional needs notional".into()),
        },
        _ => {
            let mark = need_mark()?;
            let equity = m.equity.ok_or("the account equity is unknown")?;
            Ok(equity * dec(settings.base_order_pct, "base_order_pct")? / mark)
        }
    }
}

/// The price step `limit_offset_ticks` counts in: a cent, or a hundredth
/// of a cent below one dollar (the US equity tick rule, also used for
/// crypto quotes).
pub fn tick_size(price: Decimal) -> Decimal {
    if price >= Decimal::ONE {
        Decimal::new(1, 2)
    } else {
        Decimal::new(1, 4)
    }
}

/// The limit price of an entry sent as a limit order (`use_limit_orders`):
/// the strategy's price when `use_strategy_order_price` and the signal has
/// one, else the last price; moved `limit_offset_ticks` ticks in the
/// direction that makes it easier to fill (up for a buy, down for a sell).
pub fn entry_limit_price(
    settings: &BotSettings,
    side: Side,
    signal_price: Option<Decimal>,
    mark: Option<Decimal>,
) -> Result<Decimal, String> {
    let reference = if settings.use_strategy_order_price {
        signal_price.or(mark)
    } else {
        mark.or(signal_price)
    }
    .filter(|p| *p > Decimal::ZERO)
    .ok_or("use_limit_orders needs a price: the signal has none and there is no market price")?;
    let offset = tick_size(reference) * Decimal::from(settings.limit_offset_ticks);
    let price = match side {
        Side::Buy => reference + offset,
        Side::Sell => reference - offset,
    };
    if price <= Decimal::ZERO {
        return Err(format!(
            "limit_offset_ticks {} takes the limit price below zero",
            settings.limit_offset_ticks
        ));
    }
    Ok(price.round_dp(8).normalize())
}

/// The signal's `timeInForce`; good-till-canceled when it has none.
pub fn time_in_force(tif: Option<&str>) -> Result<TimeInForce, String> {
    Ok(match tif.map(str::to_ascii_lowercase).as_deref() {
        None | Some("gtc") => TimeInForce::Gtc,
        Some("day") => TimeInForce::Day,
        Some("ioc") => TimeInForce::Ioc,
        Some("fok") => TimeInForce::Fok,
        Some("opg") => TimeInForce::Opg,
        Some("cls") => TimeInForce::Cls,
        Some(other) => return Err(format!("time in force `{other}` is not supported")),
    })
}

/// A TradersPost take-profit or stop-loss level from `reference`:
/// an absolute `price`, a `percent` or an `amount` away.
fn level(t: &TpSl, reference: Decimal, long: bool, stop: bool) -> Option<Decimal> {
    if let Some(p) = t.price.or(t.limit_price) {
        return Some(p);
    }
    // Away from the entry: down for a long's stop or a short's target.
    let down = long == stop;
    let distance = match (t.percent, t.amount) {
        (Some(p), _) => reference * p / Decimal::from(100),
        (None, Some(a)) => a,
        (None, None) => return None,
    };
    Some(if down {
        reference - distance
    } else {
        reference + distance
    })
}

/// Where the protective legs of a filled entry go: `(stop loss, take
/// profit)`, either may be absent.
///
/// The base is the average fill when `use_avg_fill_for_sl_tp`, else the
/// alert price (the fill when the signal has none). A signal's own
/// `stopLoss` / `takeProfit` win over the bot's `sl_pct` / `tp_pct`,
/// which apply only with `attach_sl_tp`.
pub fn protective_levels(
    settings: &BotSettings,
    intent: Option<&Intent>,
    side: Side,
    avg_fill: Decimal,
) -> (Option<Decimal>, Option<Decimal>) {
    let base = if settings.use_avg_fill_for_sl_tp {
        avg_fill
    } else {
        intent.and_then(|i| i.price).unwrap_or(avg_fill)
    };
    let long = side == Side::Buy;
    let one = Decimal::ONE;
    let from_settings = |pct: f64, stop: bool| -> Option<Decimal> {
        if !settings.attach_sl_tp {
            return None;
        }
        let p = Decimal::try_from(pct).ok()?;
        let down = long == stop;
        Some(if down {
            base * (one - p)
        } else {
            base * (one + p)
        })
    };
    let pick = |signal: Option<&TpSl>, pct: f64, stop: bool| {
        signal
            .and_then(|t| level(t, base, long, stop))
            .or_else(|| from_settings(pct, stop))
            .filter(|p| *p > Decimal::ZERO)
            .map(|p| p.round_dp(8).normalize())
    };
    (
        pick(
            intent.and_then(|i| i.stop_loss.as_ref()),
            settings.sl_pct,
            true,
        ),
        pick(
            intent.and_then(|i| i.take_profit.as_ref()),
            settings.tp_pct,
            false,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradehook_core::signals::{intent, parse};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn settings(json: serde_json::Value) -> BotSettings {
        BotSettings::parse(&json).unwrap()
    }

    fn tp_intent(body: serde_json::Value) -> (Intent, Option<QuantityType>) {
        let p = parse(body.to_string().as_bytes()).unwrap();
        (intent(&p).unwrap(), p.quantity_type)
    }

    #[test]
    fn quantity_types_size_the_entry() {
        let s = BotSettings::default();
        let m = Market {
            mark: Some(d("50")),
            equity: Some(d("10000")),
            position: Some(d("8")),
        };
        let cases = [
            ("fixed_quantity", "3", "3"),
            ("dollar_amount", "500", "10"),
            ("percent_of_equity", "5", "10"),
            ("percent_of_position", "50", "4"),
        ];
        for (t, q, want) in cases {
            let (i, explicit) = tp_intent(serde_json::json!({
                "ticker": "AAPL", "action": "buy", "quantity": q, "quantityType": t
            }));
            assert_eq!(
                entry_qty(&s, &i, explicit, m).unwrap().normalize(),
                d(want),
                "{t}"
            );
        }
        // Risking $100 with a stop $2 under a $50 entry: 50 shares.
        let (i, explicit) = tp_intent(serde_json::json!({
            "ticker": "AAPL", "action": "buy", "quantity": 100,
            "quantityType": "risk_dollar_amount", "price": 50,
            "stopLoss": {"stopPrice": 48}
        }));
        assert_eq!(entry_qty(&s, &i, explicit, m).unwrap().normalize(), d("50"));
        // (Without a stop loss the parser refuses the signal already.)
    }

    #[test]
    fn sizing_modes_apply_without_a_quantity_type() {
        let m = Market {
            mark: Some(d("200")),
            equity: Some(d("100000")),
            position: None,
        };
        let (i, explicit) = tp_intent(serde_json::json!({
            "ticker": "SPY", "action": "buy", "quantity": 7
        }));
        let size = |json| entry_qty(&settings(json), &i, explicit, m);
        // 2 % of 100,000 at 200.
        assert_eq!(size(serde_json::json!({})).unwrap(), d("10"));
        assert_eq!(
            size(serde_json::json!({"sizing_mode": "signal_contracts"})).unwrap(),
            d("7")
        );
        assert_eq!(
            size(serde_json::json!({"sizing_mode": "fixed_qty", "fixed_qty": 0.5})).unwrap(),
            d("0.5")
        );
        assert_eq!(
            size(serde_json::json!({"sizing_mode": "notional", "notional": 1000})).unwrap(),
            d("5")
        );
        let no_mark = Market { mark: None, ..m };
        assert!(entry_qty(&BotSettings::default(), &i, explicit, no_mark).is_err());
    }

    #[test]
    fn limit_prices_use_the_right_reference_and_offset() {
        let s = settings(serde_json::json!({"use_limit_orders": true, "limit_offset_ticks": 3}));
        assert_eq!(
            entry_limit_price(&s, Side::Buy, Some(d("100")), Some(d("101"))).unwrap(),
            d("100.03")
        );
        assert_eq!(
            entry_limit_price(&s, Side::Sell, Some(d("100")), Some(d("101"))).unwrap(),
            d("99.97")
        );
        // Below a dollar the tick is 0.0001.
        assert_eq!(
            entry_limit_price(&s, Side::Buy, Some(d("0.5")), None).unwrap(),
            d("0.5003")
        );
        let last = settings(serde_json::json!({
            "use_limit_orders": true, "use_strategy_order_price": false
        }));
        assert_eq!(
            entry_limit_price(&last, Side::Buy, Some(d("100")), Some(d("101"))).unwrap(),
            d("101")
        );
        assert_eq!(
            entry_limit_price(&last, Side::Buy, Some(d("100")), None).unwrap(),
            d("100")
        );
        assert!(entry_limit_price(&s, Side::Buy, None, None).is_err());
    }

    #[test]
    fn time_in_force_reads_the_signal() {
        assert_eq!(time_in_force(None).unwrap(), TimeInForce::Gtc);
        assert_eq!(time_in_force(Some("day")).unwrap(), TimeInForce::Day);
        assert_eq!(time_in_force(Some("IOC")).unwrap(), TimeInForce::Ioc);
        assert!(time_in_force(Some("gtd")).is_err());
    }

    #[test]
    fn protective_levels_follow_the_settings_and_the_signal() {
        let s = settings(serde_json::json!({"attach_sl_tp": true, "sl_pct": 0.01, "tp_pct": 0.02}));
        // Long from a 100 fill: stop 99, target 102.
        assert_eq!(
            protective_levels(&s, None, Side::Buy, d("100")),
            (Some(d("99")), Some(d("102")))
        );
        // Short: mirrored.
        assert_eq!(
            protective_levels(&s, None, Side::Sell, d("100")),
            (Some(d("101")), Some(d("98")))
        );
        // The alert price as the base when the fill is not wanted.
        let alert = settings(serde_json::json!({
            "attach_sl_tp": true, "use_avg_fill_for_sl_tp": false
        }));
        let (i, _) = tp_intent(serde_json::json!({
            "ticker": "AAPL", "action": "buy", "price": 200
        }));
        assert_eq!(
            protective_levels(&alert, Some(&i), Side::Buy, d("201")),
            (Some(d("198")), Some(d("204")))
        );
        // The signal's own levels win, and apply without attach_sl_tp.
        let (i, _) = tp_intent(serde_json::json!({
            "ticker": "AAPL", "action": "buy",
            "takeProfit": {"percent": 5}, "stopLoss": {"amount": 3}
        }));
        assert_eq!(
            protective_levels(&BotSettings::default(), Some(&i), Side::Buy, d("100")),
            (Some(d("97")), Some(d("105")))
        );
        // Neither the bot nor the signal asks for legs.
        assert_eq!(
            protective_levels(&BotSettings::default(), None, Side::Buy, d("100")),
            (None, None)
        );
    }
}
