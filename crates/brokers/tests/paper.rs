//! The paper broker through its public API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rust_decimal_macros::dec;
use tradehook_brokers::{
    BrokerAdapter, BrokerError, Decimal, HISTORY_LIMIT, OrderRequest, OrderStatus, OrderType,
    PaperBroker, PaperConfig, PaperState, PriceSource, Side, TimeInForce, with_leg,
};

#[derive(Default)]
struct Prices(Mutex<HashMap<String, (f64, i64)>>);

impl Prices {
    fn set(&self, key: &str, price: f64) {
        self.0.lock().unwrap().insert(key.into(), (price, 1));
    }
}

impl PriceSource for Prices {
    fn price(&self, feed_symbol: &str) -> Option<(f64, i64)> {
        self.0.lock().unwrap().get(feed_symbol).copied()
    }
}

fn config(cash: Decimal) -> PaperConfig {
    PaperConfig {
        starting_cash: cash,
        ..PaperConfig::default()
    }
}

fn broker(cfg: PaperConfig) -> (PaperBroker, Arc<Prices>) {
    let prices = Arc::new(Prices::default());
    (PaperBroker::new(cfg, prices.clone()), prices)
}

fn req(cid: &str, symbol: &str, side: Side, qty: Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: cid.into(),
        symbol: symbol.into(),
        side,
        qty,
        order_type: OrderType::Market,
        time_in_force: TimeInForce::Gtc,
        limit_price: None,
        stop_price: None,
    }
}

fn limit(cid: &str, symbol: &str, side: Side, qty: Decimal, price: Decimal) -> OrderRequest {
    OrderRequest {
        order_type: OrderType::Limit,
        limit_price: Some(price),
        ..req(cid, symbol, side, qty)
    }
}

fn stop(cid: &str, symbol: &str, side: Side, qty: Decimal, price: Decimal) -> OrderRequest {
    OrderRequest {
        order_type: OrderType::Stop,
        stop_price: Some(price),
        ..req(cid, symbol, side, qty)
    }
}

#[tokio::test]
async fn market_orders_fill_with_slippage_and_commission() {
    let (b, prices) = broker(PaperConfig {
        starting_cash: dec!(10000),
        commission_per_order: dec!(1),
        commission_pct: dec!(0.1),
        slippage_bps: dec!(10),
        allow_crypto_short: true,
    });
    prices.set("BTC", 100.0);
    let o = b
        .submit_order(&req("a", "BTCUSD", Side::Buy, dec!(2)))
        .await
        .unwrap();
    assert_eq!(o.status, OrderStatus::Filled);
    assert_eq!(o.symbol, "BTC/USD");
    assert_eq!(o.filled_qty, dec!(2));
    // A buy pays up 10 bps; commission 1 + 0.1 % of 200.2.
    assert_eq!(o.filled_avg_price, Some(dec!(100.1)));
    let acct = b.account().await.unwrap();
    assert_eq!(acct.cash, dec!(10000) - dec!(200.2) - dec!(1.2002));
    let pos = b.positions().await.unwrap();
    assert_eq!(pos.len(), 1);
    assert_eq!(pos[0].qty, dec!(2));
    assert_eq!(pos[0].avg_entry_price, dec!(100.1));

    prices.set("BTC", 110.0);
    let o = b
        .submit_order(&req("b", "BTC/USD", Side::Sell, dec!(1)))
        .await
        .unwrap();
    // A sell gets 10 bps less.
    assert_eq!(o.filled_avg_price, Some(dec!(109.89)));
    let acct = b.account().await.unwrap();
    assert_eq!(
        acct.cash,
        dec!(10000) - dec!(200.2) - dec!(1.2002) + dec!(109.89) - dec!(1.10989)
    );
    let pos = b.positions().await.unwrap();
    assert_eq!(pos[0].qty, dec!(1));
    assert_eq!(pos[0].avg_entry_price, dec!(100.1));
    assert_eq!(pos[0].market_value, dec!(110));
    assert_eq!(pos[0].unrealized_pl, dec!(9.9));
}

#[tokio::test]
async fn every_spelling_of_a_coin_prices_by_its_base() {
    let (b, prices) = broker(config(dec!(100000)));
    prices.set("BTC", 100.0);
    for (i, s) in ["BTCUSD", "BTC/USD", "BTC-USD", "COINBASE:BTCUSD"]
        .iter()
        .enumerate()
    {
        let o = b
            .submit_order(&req(&format!("o{i}"), s, Side::Buy, dec!(0.001)))
            .await
            .unwrap();
        assert_eq!(o.filled_avg_price, Some(dec!(100)), "{s}");
    }
    let o = b
        .submit_order(&req("usdt", "BTCUSDT", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert_eq!(o.symbol, "BTC/USDT");
    let pos = b.positions().await.unwrap();
    assert_eq!(pos.len(), 2);
    assert_eq!(pos[0].symbol, "BTC/USD");
    assert_eq!(pos[0].qty, dec!(0.004));
}

#[tokio::test]
async fn no_price_is_a_clear_rejection() {
    let (b, _prices) = broker(config(dec!(1000)));
    let err = b
        .submit_order(&req("a", "ETHUSD", Side::Buy, dec!(1)))
        .await
        .unwrap_err();
    match &err {
        BrokerError::Rejected {
            status: 422,
            code: Some(code),
            message,
        } => {
            assert_eq!(code, "no_price");
            assert!(message.contains("no market price for ETH/USD"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(b.list_open_orders().await.unwrap().is_empty());
    // Nothing was stored: the same id can be used once there is a price.
    assert_eq!(b.get_order_by_client_id("a").await.unwrap(), None);
    let err = b
        .submit_order(&req("b", "AAPL", Side::Buy, dec!(1)))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no market price for AAPL"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_requests() {
    let (b, prices) = broker(config(dec!(1000)));
    prices.set("BTC", 100.0);
    for qty in [dec!(0), dec!(-1)] {
        let err = b
            .submit_order(&req("q", "BTCUSD", Side::Buy, qty))
            .await
            .unwrap_err();
        assert!(matches!(err, BrokerError::Invalid(_)), "{err:?}");
    }
    let mut r = limit("l", "BTCUSD", Side::Buy, dec!(1), dec!(90));
    r.limit_price = None;
    assert!(matches!(
        b.submit_order(&r).await,
        Err(BrokerError::Invalid(_))
    ));
    let mut r = req("m", "BTCUSD", Side::Buy, dec!(1));
    r.limit_price = Some(dec!(90));
    assert!(matches!(
        b.submit_order(&r).await,
        Err(BrokerError::Invalid(m)) if m.contains("market orders take no limit_price")
    ));
    let r = stop("s", "BTCUSD", Side::Sell, dec!(1), dec!(-5));
    assert!(matches!(
        b.submit_order(&r).await,
        Err(BrokerError::Invalid(_))
    ));
    assert!(matches!(
        b.submit_order(&req("e", "  ", Side::Buy, dec!(1))).await,
        Err(BrokerError::Invalid(_))
    ));
}

#[tokio::test]
async fn fractional_quantities() {
    let (b, prices) = broker(config(dec!(1000)));
    prices.set("ETH", 2000.0);
    let o = b
        .submit_order(&req("f", "ETHUSD", Side::Buy, dec!(0.123456789)))
        .await
        .unwrap();
    assert_eq!(o.filled_qty, dec!(0.123456789));
    assert_eq!(
        b.account().await.unwrap().cash,
        dec!(1000) - dec!(246.913578)
    );
}

#[tokio::test]
async fn a_buy_beyond_buying_power_is_rejected() {
    let (b, prices) = broker(PaperConfig {
        commission_per_order: dec!(1),
        ..config(dec!(1000))
    });
    prices.set("BTC", 100.0);
    let before = b.snapshot();
    // 10 × 100 + 1 commission > 1000.
    let err = b
        .submit_order(&req("big", "BTCUSD", Side::Buy, dec!(10)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::InsufficientFunds(m) if m.contains("buying power")),
        "{err:?}"
    );
    assert_eq!(b.snapshot(), before);
    // A resting limit buy is checked at its limit price.
    let err = b
        .submit_order(&limit("lim", "BTCUSD", Side::Buy, dec!(20), dec!(60)))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::InsufficientFunds(_)));
    b.submit_order(&req("ok", "BTCUSD", Side::Buy, dec!(9)))
        .await
        .unwrap();
    assert_eq!(b.account().await.unwrap().buying_power, dec!(99));
}

#[tokio::test]
async fn limit_orders_fill_when_the_price_crosses() {
    let (b, _prices) = broker(config(dec!(10000)));
    b.on_price("BTC", 100.0, 1);
    let buy = b
        .submit_order(&limit("lb", "BTCUSD", Side::Buy, dec!(1), dec!(95)))
        .await
        .unwrap();
    assert_eq!(buy.status, OrderStatus::New);
    assert!(b.on_price("BTC", 96.0, 2).is_empty());
    // The price gaps through the limit: the buy gets the better price.
    let up = b.on_price("BTC", 90.0, 3);
    assert_eq!(up.filled.len(), 1);
    assert_eq!(up.filled[0].id, buy.id);
    assert_eq!(up.filled[0].filled_avg_price, Some(dec!(90)));
    assert_eq!(up.filled[0].updated_at, 3);

    let sell = b
        .submit_order(&limit("ls", "BTCUSD", Side::Sell, dec!(1), dec!(105)))
        .await
        .unwrap();
    assert!(b.on_price("BTC", 104.99, 4).is_empty());
    // Ticks of other symbols do not touch it.
    assert!(b.on_price("ETH", 1000.0, 4).is_empty());
    let up = b.on_price("BTC", 105.0, 5);
    assert_eq!(up.filled[0].id, sell.id);
    assert_eq!(up.filled[0].filled_avg_price, Some(dec!(105)));
    assert!(b.positions().await.unwrap().is_empty());
    assert_eq!(b.account().await.unwrap().cash, dec!(10015));
}

#[tokio::test]
async fn a_marketable_limit_fills_at_once_never_worse_than_its_limit() {
    let (b, _prices) = broker(PaperConfig {
        slippage_bps: dec!(100),
        ..config(dec!(10000))
    });
    b.on_price("BTC", 100.0, 1);
    let o = b
        .submit_order(&limit("lb", "BTCUSD", Side::Buy, dec!(1), dec!(100.5)))
        .await
        .unwrap();
    // 1 % slippage would be 101; the limit caps it.
    assert_eq!(o.status, OrderStatus::Filled);
    assert_eq!(o.filled_avg_price, Some(dec!(100.5)));
    // Nothing is left to fill on the next tick.
    assert!(b.on_price("BTC", 100.0, 2).is_empty());
    // A limit the price does not reach rests.
    let rest = b
        .submit_order(&limit("lb2", "BTCUSD", Side::Buy, dec!(1), dec!(99)))
        .await
        .unwrap();
    assert_eq!(rest.status, OrderStatus::New);
}

#[tokio::test]
async fn stop_orders_fill_at_the_gapped_price() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("BTC", 100.0);
    b.submit_order(&req("entry", "BTCUSD", Side::Buy, dec!(2)))
        .await
        .unwrap();
    let sl = b
        .submit_order(&stop("sl", "BTCUSD", Side::Sell, dec!(1), dec!(90)))
        .await
        .unwrap();
    assert!(b.on_price("BTC", 95.0, 2).is_empty());
    let up = b.on_price("BTC", 85.0, 3);
    assert_eq!(up.filled[0].id, sl.id);
    assert_eq!(up.filled[0].filled_avg_price, Some(dec!(85)));

    let bs = b
        .submit_order(&stop("bs", "BTCUSD", Side::Buy, dec!(1), dec!(110)))
        .await
        .unwrap();
    assert!(b.on_price("BTC", 109.0, 4).is_empty());
    let up = b.on_price("BTC", 112.0, 5);
    assert_eq!(up.filled[0].id, bs.id);
    assert_eq!(up.filled[0].filled_avg_price, Some(dec!(112)));
    let pos = b.positions().await.unwrap();
    assert_eq!(pos[0].qty, dec!(2));
    assert_eq!(pos[0].avg_entry_price, dec!(106));
}

#[tokio::test]
async fn stop_limit_triggers_then_waits_for_its_limit() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("BTC", 100.0);
    let o = b
        .submit_order(&OrderRequest {
            order_type: OrderType::StopLimit,
            stop_price: Some(dec!(110)),
            limit_price: Some(dec!(111)),
            ..req("sl", "BTCUSD", Side::Buy, dec!(1))
        })
        .await
        .unwrap();
    assert!(b.on_price("BTC", 105.0, 2).is_empty());
    // Triggered, but the price is above the limit.
    assert!(b.on_price("BTC", 115.0, 3).is_empty());
    assert!(b.snapshot().open_orders[0].triggered);
    // Below the stop again, still working as a limit.
    let up = b.on_price("BTC", 108.0, 4);
    assert_eq!(up.filled[0].id, o.id);
    assert_eq!(up.filled[0].filled_avg_price, Some(dec!(108)));
}

#[tokio::test]
async fn a_stop_limit_sell_does_not_fill_before_its_stop() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("ETH", 100.0);
    b.submit_order(&req("e", "ETHUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    b.submit_order(&OrderRequest {
        order_type: OrderType::StopLimit,
        stop_price: Some(dec!(90)),
        limit_price: Some(dec!(89)),
        ..req("s", "ETHUSD", Side::Sell, dec!(1))
    })
    .await
    .unwrap();
    // Above the limit but the stop is not reached.
    assert!(b.on_price("ETH", 95.0, 2).is_empty());
    let up = b.on_price("ETH", 89.5, 3);
    assert_eq!(up.filled[0].filled_avg_price, Some(dec!(89.5)));
}

#[tokio::test]
async fn oco_legs_cancel_each_other() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("SOL", 100.0);
    let entry_id = "bot_1-1718000000000-abcdef012345";
    b.submit_order(&req(entry_id, "SOLUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    let sl = b
        .submit_order(&stop(
            &with_leg(entry_id, "sl"),
            "SOLUSD",
            Side::Sell,
            dec!(1),
            dec!(90),
        ))
        .await
        .unwrap();
    let tp = b
        .submit_order(&limit(
            &with_leg(entry_id, "tp"),
            "SOLUSD",
            Side::Sell,
            dec!(1),
            dec!(120),
        ))
        .await
        .unwrap();
    // Another group's leg is not touched.
    let other = b
        .submit_order(&limit(
            "bot_2-1-000000000000-tp",
            "SOLUSD",
            Side::Sell,
            dec!(0.5),
            dec!(150),
        ))
        .await
        .unwrap();
    let up = b.on_price("SOL", 121.0, 7);
    assert_eq!(up.filled.len(), 1);
    assert_eq!(up.filled[0].id, tp.id);
    assert_eq!(up.canceled.len(), 1);
    assert_eq!(up.canceled[0].id, sl.id);
    assert_eq!(up.canceled[0].status, OrderStatus::Canceled);
    assert_eq!(up.canceled[0].updated_at, 7);
    assert_eq!(
        b.get_order(&sl.id).await.unwrap().status,
        OrderStatus::Canceled
    );
    let open = b.list_open_orders().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, other.id);
    // The stop is gone: a drop through it fills nothing.
    assert!(b.on_price("SOL", 80.0, 8).filled.is_empty());
}

#[tokio::test]
async fn close_position_sells_or_buys_back_everything() {
    let (b, prices) = broker(config(dec!(10000)));
    assert_eq!(b.close_position("BTCUSD").await.unwrap(), None);
    prices.set("BTC", 100.0);
    prices.set("AAPL", 200.0);
    b.submit_order(&req("l", "BTCUSD", Side::Buy, dec!(2.5)))
        .await
        .unwrap();
    // Shorting equities is allowed in paper.
    b.submit_order(&req("s", "AAPL", Side::Sell, dec!(3)))
        .await
        .unwrap();
    let pos = b.positions().await.unwrap();
    assert_eq!(pos.len(), 2);
    assert_eq!(pos[0].symbol, "AAPL");
    assert_eq!(pos[0].qty, dec!(-3));
    assert_eq!(pos[0].market_value, dec!(-600));

    let o = b.close_position("btc-usd").await.unwrap().unwrap();
    assert_eq!((o.side, o.qty), (Side::Sell, dec!(2.5)));
    assert_eq!(o.status, OrderStatus::Filled);
    let o = b.close_position("NASDAQ:AAPL").await.unwrap().unwrap();
    assert_eq!((o.side, o.qty), (Side::Buy, dec!(3)));
    assert!(b.positions().await.unwrap().is_empty());
    assert_eq!(b.account().await.unwrap().cash, dec!(10000));
}

#[tokio::test]
async fn equity_is_marked_to_market() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("BTC", 100.0);
    prices.set("ETH", 50.0);
    b.submit_order(&req("b", "BTCUSD", Side::Buy, dec!(10)))
        .await
        .unwrap();
    b.submit_order(&req("e", "ETHUSD", Side::Sell, dec!(20)))
        .await
        .unwrap();
    let a = b.account().await.unwrap();
    assert_eq!(a.cash, dec!(10000));
    assert_eq!(a.equity, dec!(10000));
    assert_eq!(a.currency, "USD");
    // cash − 2 × short value: the short's proceeds are not spendable.
    assert_eq!(a.buying_power, dec!(8000));

    prices.set("BTC", 120.0);
    b.on_price("ETH", 40.0, 5);
    let a = b.account().await.unwrap();
    // 10000 + 10 × 120 − 20 × 40.
    assert_eq!(a.equity, dec!(10400));
    let pos = b.positions().await.unwrap();
    assert_eq!(pos[0].unrealized_pl, dec!(200));
    assert_eq!(pos[1].unrealized_pl, dec!(200));
}

#[tokio::test]
async fn the_newest_price_wins() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.0.lock().unwrap().insert("BTC".into(), (100.0, 10));
    b.on_price("BTC", 90.0, 5);
    let o = b
        .submit_order(&req("a", "BTCUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert_eq!(o.filled_avg_price, Some(dec!(100)));
    b.on_price("BTC", 95.0, 20);
    let o = b
        .submit_order(&req("b", "BTCUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert_eq!(o.filled_avg_price, Some(dec!(95)));
}

#[tokio::test]
async fn a_reused_client_order_id_returns_the_first_order() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("BTC", 100.0);
    let first = b
        .submit_order(&req("dup", "BTCUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    prices.set("BTC", 200.0);
    let second = b
        .submit_order(&req("dup", "BTCUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(b.positions().await.unwrap()[0].qty, dec!(1));
    assert_eq!(b.account().await.unwrap().cash, dec!(9900));
    assert_eq!(
        b.get_order_by_client_id("dup").await.unwrap(),
        Some(first.clone())
    );
    // Also for a resting order, and after a restart.
    let rest = b
        .submit_order(&limit("rest", "BTCUSD", Side::Buy, dec!(1), dec!(50)))
        .await
        .unwrap();
    let b2 = PaperBroker::restore(config(dec!(1)), prices.clone(), b.snapshot());
    assert_eq!(
        b2.submit_order(&limit("rest", "BTCUSD", Side::Buy, dec!(1), dec!(50)))
            .await
            .unwrap(),
        rest
    );
    assert_eq!(b2.list_open_orders().await.unwrap().len(), 1);
    assert_eq!(
        b2.submit_order(&req("dup", "BTCUSD", Side::Buy, dec!(1)))
            .await
            .unwrap(),
        first
    );
}

#[tokio::test]
async fn snapshot_and_restore_round_trip() {
    let cfg = PaperConfig {
        commission_per_order: dec!(0.5),
        commission_pct: dec!(0.05),
        slippage_bps: dec!(3),
        ..config(dec!(25000))
    };
    let (b, prices) = broker(cfg.clone());
    prices.set("BTC", 64250.5);
    prices.set("TSLA", 250.25);
    b.submit_order(&req("a", "BTCUSD", Side::Buy, dec!(0.1)))
        .await
        .unwrap();
    b.submit_order(&req("b", "TSLA", Side::Sell, dec!(4)))
        .await
        .unwrap();
    b.submit_order(&OrderRequest {
        order_type: OrderType::StopLimit,
        stop_price: Some(dec!(70000)),
        limit_price: Some(dec!(71000)),
        ..req("c", "BTCUSD", Side::Buy, dec!(0.01))
    })
    .await
    .unwrap();
    b.on_price("BTC", 72000.0, 9); // triggers the stop-limit, no fill
    let canceled = b
        .submit_order(&limit("d", "TSLA", Side::Buy, dec!(1), dec!(200)))
        .await
        .unwrap();
    b.cancel_order(&canceled.id).await.unwrap();

    let state = b.snapshot();
    assert_eq!(state.positions.len(), 2);
    assert_eq!(state.open_orders.len(), 1);
    assert!(state.open_orders[0].triggered);
    assert_eq!(state.history.len(), 3);
    assert_eq!(state.next_seq, 5);

    let json = serde_json::to_string(&state).unwrap();
    let back: PaperState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    let restored = PaperBroker::restore(cfg, prices.clone(), back);
    assert_eq!(restored.snapshot(), state);
    assert_eq!(
        restored.account().await.unwrap(),
        b.account().await.unwrap()
    );
    assert_eq!(
        restored.positions().await.unwrap(),
        b.positions().await.unwrap()
    );
    assert_eq!(
        restored.list_open_orders().await.unwrap(),
        b.list_open_orders().await.unwrap()
    );
    // Numbering goes on where it stopped.
    let o = restored
        .submit_order(&req("e", "TSLA", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert_eq!(o.id, "paper-5");
    // The restored stop-limit remembers it was triggered.
    let up = restored.on_price("BTC", 70500.0, 10);
    assert_eq!(up.filled.len(), 1);
}

#[tokio::test]
async fn crypto_shorts_can_be_disallowed() {
    let (b, prices) = broker(PaperConfig {
        allow_crypto_short: false,
        ..config(dec!(10000))
    });
    prices.set("BTC", 100.0);
    prices.set("SPY", 500.0);
    let err = b
        .submit_order(&req("s", "BTCUSD", Side::Sell, dec!(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::Rejected { code: Some(c), .. } if c == "crypto_short"),
        "{err:?}"
    );
    b.submit_order(&req("b", "BTCUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert!(
        b.submit_order(&req("s2", "BTCUSD", Side::Sell, dec!(1.5)))
            .await
            .is_err()
    );
    // Equities may still be shorted.
    b.submit_order(&req("spy", "SPY", Side::Sell, dec!(1)))
        .await
        .unwrap();
    // A resting sell that would short by the time it fills is rejected then.
    b.submit_order(&limit("tp", "BTCUSD", Side::Sell, dec!(1), dec!(120)))
        .await
        .unwrap();
    b.submit_order(&req("out", "BTCUSD", Side::Sell, dec!(1)))
        .await
        .unwrap();
    let up = b.on_price("BTC", 125.0, 3);
    assert!(up.filled.is_empty());
    assert_eq!(up.rejected.len(), 1);
    assert_eq!(up.rejected[0].status, OrderStatus::Rejected);
    assert!(b.list_open_orders().await.unwrap().is_empty());

    // The check on its own, as the server calls it before sending.
    let pos = tradehook_brokers::Position {
        symbol: "BTCUSD".into(),
        qty: dec!(2),
        avg_entry_price: dec!(100),
        market_value: dec!(200),
        unrealized_pl: dec!(0),
    };
    let sell = req("x", "BTC/USD", Side::Sell, dec!(2));
    assert!(b.check_restrictions(&sell, Some(&pos)).is_ok());
    let r = b
        .check_restrictions(&req("x", "BTC/USD", Side::Sell, dec!(3)), Some(&pos))
        .unwrap_err();
    assert_eq!(r.code, "crypto_short");
}

#[tokio::test]
async fn crypto_shorts_are_allowed_by_default() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("BTC", 100.0);
    b.submit_order(&req("s", "BTCUSD", Side::Sell, dec!(1)))
        .await
        .unwrap();
    assert_eq!(b.positions().await.unwrap()[0].qty, dec!(-1));
}

#[tokio::test]
async fn a_sell_through_zero_flips_the_position_and_realises_pnl() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("BTC", 100.0);
    b.submit_order(&req("a", "BTCUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    prices.set("BTC", 110.0);
    b.submit_order(&req("b", "BTCUSD", Side::Sell, dec!(3)))
        .await
        .unwrap();
    let pos = b.positions().await.unwrap();
    assert_eq!(pos[0].qty, dec!(-2));
    assert_eq!(pos[0].avg_entry_price, dec!(110));
    // +10 realised on the long; the short is flat at 110.
    assert_eq!(b.account().await.unwrap().equity, dec!(10010));
}

#[tokio::test]
async fn shorts_need_buying_power() {
    let (b, prices) = broker(config(dec!(1000)));
    prices.set("AAPL", 100.0);
    b.submit_order(&req("a", "AAPL", Side::Sell, dec!(10)))
        .await
        .unwrap();
    assert_eq!(b.account().await.unwrap().buying_power, dec!(0));
    assert!(matches!(
        b.submit_order(&req("b", "AAPL", Side::Sell, dec!(1))).await,
        Err(BrokerError::InsufficientFunds(_))
    ));
    // Covering is always allowed.
    b.submit_order(&req("c", "AAPL", Side::Buy, dec!(10)))
        .await
        .unwrap();
    assert_eq!(b.account().await.unwrap().buying_power, dec!(1000));
}

#[tokio::test]
async fn cancel_order() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("BTC", 100.0);
    let o = b
        .submit_order(&limit("l", "BTCUSD", Side::Buy, dec!(1), dec!(50)))
        .await
        .unwrap();
    b.cancel_order(&o.id).await.unwrap();
    assert_eq!(
        b.get_order(&o.id).await.unwrap().status,
        OrderStatus::Canceled
    );
    assert!(b.list_open_orders().await.unwrap().is_empty());
    assert!(matches!(
        b.cancel_order(&o.id).await,
        Err(BrokerError::Rejected { status: 422, .. })
    ));
    assert_eq!(b.cancel_order("nope").await, Err(BrokerError::NotFound));
    assert_eq!(b.get_order("nope").await, Err(BrokerError::NotFound));
    assert!(b.on_price("BTC", 40.0, 2).is_empty());
}

#[tokio::test]
async fn ioc_limit_orders_fill_now_or_cancel() {
    let (b, prices) = broker(config(dec!(10000)));
    prices.set("BTC", 100.0);
    let o = b
        .submit_order(&OrderRequest {
            time_in_force: TimeInForce::Ioc,
            ..limit("i1", "BTCUSD", Side::Buy, dec!(1), dec!(99))
        })
        .await
        .unwrap();
    assert_eq!(o.status, OrderStatus::Canceled);
    let o = b
        .submit_order(&OrderRequest {
            time_in_force: TimeInForce::Fok,
            ..limit("i2", "BTCUSD", Side::Buy, dec!(1), dec!(101))
        })
        .await
        .unwrap();
    assert_eq!(o.status, OrderStatus::Filled);
    assert_eq!(o.filled_avg_price, Some(dec!(100)));
    assert!(b.list_open_orders().await.unwrap().is_empty());
}

#[tokio::test]
async fn history_is_bounded() {
    let (b, prices) = broker(config(dec!(1000000)));
    prices.set("BTC", 1.0);
    for i in 0..HISTORY_LIMIT + 10 {
        b.submit_order(&req(&format!("h{i}"), "BTCUSD", Side::Buy, dec!(1)))
            .await
            .unwrap();
    }
    let state = b.snapshot();
    assert_eq!(state.history.len(), HISTORY_LIMIT);
    assert_eq!(state.history[0].client_order_id, "h10");
    assert_eq!(b.get_order_by_client_id("h0").await.unwrap(), None);
}

#[tokio::test]
async fn orders_without_a_client_id_get_one() {
    let (b, prices) = broker(config(dec!(1000)));
    prices.set("BTC", 1.0);
    let o = b
        .submit_order(&req("", "BTCUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert_eq!(o.client_order_id, o.id);
    let o2 = b
        .submit_order(&req("", "BTCUSD", Side::Buy, dec!(1)))
        .await
        .unwrap();
    assert_ne!(o.id, o2.id);
}

#[tokio::test]
async fn the_broker_is_shareable_across_tasks() {
    let (b, prices) = broker(config(dec!(1000000)));
    prices.set("BTC", 10.0);
    let b = Arc::new(b);
    let mut tasks = Vec::new();
    for t in 0..4 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                b.submit_order(&req(&format!("t{t}-{i}"), "BTCUSD", Side::Buy, dec!(1)))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(b.positions().await.unwrap()[0].qty, dec!(200));
    assert_eq!(b.kind(), "paper");
    let dyn_broker: Arc<dyn BrokerAdapter> = b;
    assert_eq!(dyn_broker.account().await.unwrap().cash, dec!(998000));
}
