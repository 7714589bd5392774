//! The Alpaca adapter against the testkit's fake Alpaca, over real
//! sockets: mapping, symbol forms, error handling and retries as the
//! fake recorded them, restrictions, polling, and the call log.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, UNIX_EPOCH},
};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tradehook_brokers::{
    BrokerAdapter, BrokerError, OrderRequest, OrderStatus, OrderType, Position, Side, TimeInForce,
    alpaca::{AlpacaBroker, AlpacaConfig, CallRecord, Environment, RetryPolicy, codes},
};
use tradehook_testkit::alpaca::{FakeAlpaca, Forced, Stage};

const WAIT: Duration = Duration::from_secs(5);

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        poll_initial: Duration::from_millis(10),
        poll_max: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

fn config(fake: &FakeAlpaca) -> AlpacaConfig {
    AlpacaConfig {
        base_url: Some(fake.base_url()),
        key_id: fake.key_id().to_owned(),
        secret_key: fake.secret_key().to_owned(),
        environment: Environment::Paper,
    }
}

async fn setup() -> (FakeAlpaca, AlpacaBroker) {
    let fake = FakeAlpaca::start_default().await;
    fake.set_price("AAPL", dec!(150));
    fake.set_price("BTC/USD", dec!(60000));
    let broker = AlpacaBroker::with_policy(config(&fake), fast_policy()).unwrap();
    (fake, broker)
}

fn order(symbol: &str, side: Side, qty: Decimal, t: OrderType, tif: TimeInForce) -> OrderRequest {
    OrderRequest {
        client_order_id: format!("test-{}", uuid_like()),
        symbol: symbol.to_owned(),
        side,
        qty,
        order_type: t,
        time_in_force: tif,
        limit_price: None,
        stop_price: None,
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos}-{}", N.fetch_add(1, Ordering::Relaxed))
}

fn market(symbol: &str, side: Side, qty: Decimal) -> OrderRequest {
    let tif = if symbol.contains("BTC") {
        TimeInForce::Gtc
    } else {
        TimeInForce::Day
    };
    order(symbol, side, qty, OrderType::Market, tif)
}

fn rejected(e: BrokerError) -> (u16, Option<String>, String) {
    match e {
        BrokerError::Rejected {
            status,
            code,
            message,
        } => (status, code, message),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn account_and_positions_map_string_decimals() {
    let (fake, broker) = setup().await;
    fake.set_position("AAPL", dec!(10), dec!(100));
    fake.set_position("BTC/USD", dec!(0.5), dec!(50000));
    fake.set_cash(dec!(1000.25));

    let account = broker.account().await.unwrap();
    assert_eq!(account.cash, dec!(1000.25));
    assert_eq!(account.equity, dec!(1000.25) + dec!(1500) + dec!(30000));
    assert_eq!(account.buying_power, dec!(1000.25));
    assert_eq!(account.currency, "USD");

    let mut positions = broker.positions().await.unwrap();
    positions.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    assert_eq!(
        positions,
        vec![
            Position {
                symbol: "AAPL".into(),
                qty: dec!(10),
                avg_entry_price: dec!(100),
                market_value: dec!(1500),
                unrealized_pl: dec!(500),
            },
            // Alpaca reports BTCUSD; we give the order form.
            Position {
                symbol: "BTC/USD".into(),
                qty: dec!(0.5),
                avg_entry_price: dec!(50000),
                market_value: dec!(30000),
                unrealized_pl: dec!(5000),
            },
        ]
    );
    assert_eq!(broker.kind(), "alpaca");
}

#[tokio::test]
async fn market_orders_use_alpacas_symbol_forms_and_fill() {
    let (fake, broker) = setup().await;
    let equity = broker
        .submit_order(&market("aapl", Side::Buy, dec!(2)))
        .await
        .unwrap();
    let crypto = broker
        .submit_order(&market("BTCUSD", Side::Buy, dec!(0.25)))
        .await
        .unwrap();

    let posts = fake.requests_to("POST", "/v2/orders");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].body["symbol"], "AAPL");
    assert_eq!(posts[0].body["qty"], "2");
    assert_eq!(posts[0].body["type"], "market");
    assert_eq!(posts[0].body["time_in_force"], "day");
    assert_eq!(posts[1].body["symbol"], "BTC/USD");
    assert_eq!(posts[1].body["qty"], "0.25");
    assert_eq!(posts[1].body["time_in_force"], "gtc");

    assert_eq!(equity.status, OrderStatus::Accepted);
    assert_eq!(crypto.symbol, "BTC/USD");
    let filled = broker.get_order(&crypto.id).await.unwrap();
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.filled_qty, dec!(0.25));
    assert_eq!(filled.filled_avg_price, Some(dec!(60000)));
    assert!(filled.updated_at >= filled.submitted_at && filled.submitted_at > 0);

    let by_client = broker
        .get_order_by_client_id(&equity.client_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_client.id, equity.id);
    assert_eq!(broker.get_order_by_client_id("nope").await.unwrap(), None);
    assert_eq!(broker.get_order("nope").await, Err(BrokerError::NotFound));
    assert_eq!(fake.position_qty("BTC/USD"), dec!(0.25));
    assert_eq!(fake.cash(), dec!(100000) - dec!(300) - dec!(15000));
}

#[tokio::test]
async fn limit_orders_rest_list_and_cancel() {
    let (fake, broker) = setup().await;
    let mut equity = order(
        "AAPL",
        Side::Buy,
        dec!(1),
        OrderType::Limit,
        TimeInForce::Gtc,
    );
    equity.limit_price = Some(dec!(140.5));
    let mut crypto = order(
        "BTC/USD",
        Side::Buy,
        dec!(0.1),
        OrderType::Limit,
        TimeInForce::Gtc,
    );
    crypto.limit_price = Some(dec!(55000));
    let a = broker.submit_order(&equity).await.unwrap();
    let b = broker.submit_order(&crypto).await.unwrap();
    assert_eq!(
        (a.status, a.limit_price),
        (OrderStatus::New, Some(dec!(140.5)))
    );
    assert_eq!(
        fake.requests_to("POST", "/v2/orders")[0].body["limit_price"],
        "140.5"
    );

    let open = broker.list_open_orders().await.unwrap();
    let ids: Vec<&str> = open.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [a.id.as_str(), b.id.as_str()]);

    broker.cancel_order(&a.id).await.unwrap();
    assert_eq!(
        broker.get_order(&a.id).await.unwrap().status,
        OrderStatus::Canceled
    );
    // Canceling again is not an error.
    broker.cancel_order(&a.id).await.unwrap();
    assert_eq!(
        broker.cancel_order("nope").await,
        Err(BrokerError::NotFound)
    );

    fake.set_price("BTC/USD", dec!(54000));
    let filled = broker.get_order(&b.id).await.unwrap();
    assert_eq!(filled.status, OrderStatus::Filled);
    let (status, _, message) = rejected(broker.cancel_order(&b.id).await.unwrap_err());
    assert_eq!(status, 422);
    assert!(message.contains("filled"), "{message}");
    assert!(broker.list_open_orders().await.unwrap().is_empty());
}

#[tokio::test]
async fn forbidden_and_unprocessable_are_rejected_once_with_alpacas_code() {
    let (fake, broker) = setup().await;
    let err = broker
        .submit_order(&market("AAPL", Side::Buy, dec!(1000)))
        .await
        .unwrap_err();
    assert_eq!(
        rejected(err),
        (
            403,
            Some("40310000".into()),
            "insufficient buying power".into()
        )
    );
    assert_eq!(fake.requests().len(), 1);

    // A sell limit resting at 149 makes a market buy a wash trade.
    fake.set_position("AAPL", dec!(5), dec!(100));
    let mut sell = order(
        "AAPL",
        Side::Sell,
        dec!(1),
        OrderType::Limit,
        TimeInForce::Gtc,
    );
    sell.limit_price = Some(dec!(160));
    broker.submit_order(&sell).await.unwrap();
    fake.clear_requests();
    let err = broker
        .submit_order(&market("AAPL", Side::Buy, dec!(1)))
        .await
        .unwrap_err();
    assert_eq!(
        rejected(err),
        (
            422,
            Some("42210000".into()),
            "potential wash trade detected. use complex orders".into()
        )
    );
    assert_eq!(fake.requests().len(), 1);

    // A ticker Alpaca does not list.
    fake.clear_requests();
    let err = broker
        .submit_order(&market("ZZZZ", Side::Buy, dec!(1)))
        .await
        .unwrap_err();
    let (status, code, message) = rejected(err);
    assert_eq!((status, code.as_deref()), (422, Some("40010001")));
    assert!(message.contains("ZZZZ"), "{message}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_429_is_waited_out_until_the_reset_then_retried() {
    let (fake, broker) = setup().await;
    fake.force(Forced::rate_limited(Duration::from_secs(1)).on("GET", "/v2/account"));
    broker.account().await.unwrap();
    let calls = fake.requests_to("GET", "/v2/account");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].status, 429);
    assert_eq!(calls[1].status, 200);
    // X-Ratelimit-Reset was the first whole second at least 1 s after
    // the first call; the retry came after it, and not much later.
    let first = calls[0].received_ms();
    let reset_ms = (first + 1000).div_ceil(1000) * 1000;
    let second = calls[1].received_ms();
    assert!(
        second >= reset_ms,
        "retried at {second}, reset at {reset_ms}"
    );
    assert!(second - first < 2600, "waited {} ms", second - first);

    // On a POST too: nothing was placed, so it is simply sent again.
    fake.force(Forced::rate_limited(Duration::from_secs(1)).header("Retry-After", "0.2"));
    let placed = broker
        .submit_order(&market("AAPL", Side::Buy, dec!(1)))
        .await
        .unwrap();
    let posts = fake.requests_to("POST", "/v2/orders");
    assert_eq!(
        posts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    assert!(posts[1].received_ms() - posts[0].received_ms() >= 200);
    assert_eq!(fake.orders().len(), 1);
    assert_eq!(fake.orders()[0]["id"], placed.id.as_str());
}

#[tokio::test]
async fn rate_limits_give_up_after_the_bounded_retries_or_a_long_reset() {
    let (fake, broker) = setup().await;
    for _ in 0..4 {
        fake.force(Forced::rate_limited(Duration::from_secs(1)).header("Retry-After", "0"));
    }
    let err = broker.positions().await.unwrap_err();
    assert!(matches!(err, BrokerError::RateLimited { .. }), "{err:?}");
    // The first try and three retries.
    assert_eq!(fake.requests().len(), 4);

    fake.clear_requests();
    fake.force(Forced::rate_limited(Duration::from_secs(1)).header("Retry-After", "3600"));
    let err = broker.positions().await.unwrap_err();
    assert_eq!(
        err,
        BrokerError::RateLimited {
            retry_after_ms: Some(3_600_000)
        }
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_with_a_bound() {
    let (fake, broker) = setup().await;
    fake.force(Forced::status(503));
    fake.force(Forced::status(500));
    broker.account().await.unwrap();
    assert_eq!(
        fake.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
        [503, 500, 200]
    );

    fake.clear_requests();
    for _ in 0..4 {
        fake.force(Forced::status(502));
    }
    let err = broker.account().await.unwrap_err();
    assert!(matches!(err, BrokerError::Unavailable(_)), "{err:?}");
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn a_500_after_the_order_was_placed_finds_it_instead_of_placing_another() {
    let (fake, broker) = setup().await;
    fake.force(
        Forced::status(500)
            .on("POST", "/v2/orders")
            .after_processing(),
    );
    let req = market("AAPL", Side::Buy, dec!(3));
    let got = broker.submit_order(&req).await.unwrap();
    assert_eq!(got.client_order_id, req.client_order_id);
    assert_eq!(fake.orders().len(), 1);
    let seen: Vec<(String, u16)> = fake
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert_eq!(
        seen,
        [("POST".to_owned(), 500), ("GET".to_owned(), 200)],
        "one POST, then the lookup"
    );
    assert!(fake.requests()[1].path.ends_with("by_client_order_id"));
    assert_eq!(fake.position_qty("AAPL"), dec!(3));

    // Submitting the same request again (a restart) gives the same order.
    let again = broker.submit_order(&req).await.unwrap();
    assert_eq!(again.id, got.id);
    assert_eq!(fake.orders().len(), 1);
}

#[tokio::test]
async fn a_500_before_the_order_was_placed_sends_it_again_once() {
    let (fake, broker) = setup().await;
    fake.force(Forced::status(500).on("POST", "/v2/orders"));
    let req = market("BTC/USD", Side::Buy, dec!(0.1));
    let got = broker.submit_order(&req).await.unwrap();
    assert_eq!(fake.orders().len(), 1);
    assert_eq!(fake.orders()[0]["id"], got.id.as_str());
    let seen: Vec<(String, u16)> = fake
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST".to_owned(), 500),
            ("GET".to_owned(), 404),
            ("POST".to_owned(), 200)
        ]
    );
}

#[tokio::test]
async fn a_timed_out_post_is_looked_up_not_repeated() {
    let fake = FakeAlpaca::start_default().await;
    fake.set_price("AAPL", dec!(150));
    let policy = RetryPolicy {
        request_timeout: Duration::from_millis(300),
        ..fast_policy()
    };
    let mut cfg = config(&fake);
    // The base as Alpaca's docs print it, with /v2.
    cfg.base_url = Some(format!("{}/v2/", fake.base_url()));
    let broker = AlpacaBroker::with_policy(cfg, policy).unwrap();
    fake.force(
        Forced::status(200)
            .on("POST", "/v2/orders")
            .after_processing()
            .delayed(Duration::from_secs(1)),
    );
    let req = market("AAPL", Side::Buy, dec!(1));
    let got = broker.submit_order(&req).await.unwrap();
    assert_eq!(got.client_order_id, req.client_order_id);
    assert_eq!(fake.orders().len(), 1);
    assert_eq!(fake.requests_to("POST", "/v2/orders").len(), 1);
}

#[tokio::test]
async fn restrictions_are_refused_locally_without_a_request() {
    let (fake, broker) = setup().await;
    let mut stop = order(
        "BTC/USD",
        Side::Buy,
        dec!(1),
        OrderType::Stop,
        TimeInForce::Gtc,
    );
    stop.stop_price = Some(dec!(61000));
    let (status, code, message) = rejected(broker.submit_order(&stop).await.unwrap_err());
    assert_eq!(
        (status, code.as_deref()),
        (422, Some(codes::CRYPTO_ORDER_TYPE))
    );
    assert!(message.contains("stop"), "{message}");

    let day = market("BTC/USD", Side::Buy, dec!(1));
    let day = OrderRequest {
        time_in_force: TimeInForce::Day,
        ..day
    };
    let (_, code, _) = rejected(broker.submit_order(&day).await.unwrap_err());
    assert_eq!(code.as_deref(), Some(codes::CRYPTO_TIME_IN_FORCE));

    let (_, code, _) = rejected(
        broker
            .submit_order(&market("EURUSD", Side::Buy, dec!(1000)))
            .await
            .unwrap_err(),
    );
    assert_eq!(code.as_deref(), Some(codes::FOREX_UNSUPPORTED));

    let short = market("BTC/USD", Side::Sell, dec!(1));
    let held = Position {
        symbol: "BTC/USD".into(),
        qty: dec!(0.4),
        avg_entry_price: dec!(50000),
        market_value: dec!(24000),
        unrealized_pl: dec!(4000),
    };
    let r = broker.check_restrictions(&short, Some(&held)).unwrap_err();
    assert_eq!(r.code, codes::CRYPTO_SHORT);
    assert!(r.reason.contains("does not short crypto"), "{}", r.reason);
    assert!(broker.check_restrictions(&short, None).is_err());
    let within = OrderRequest {
        qty: dec!(0.4),
        ..short
    };
    assert_eq!(broker.check_restrictions(&within, Some(&held)), Ok(()));

    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn wait_for_final_follows_new_partially_filled_filled() {
    let (fake, broker) = setup().await;
    fake.script_next_order(vec![
        Stage::new(1),
        Stage::partial(dec!(4), 1),
        Stage::Filled,
    ]);
    let placed = broker
        .submit_order(&market("AAPL", Side::Buy, dec!(10)))
        .await
        .unwrap();
    assert_eq!(placed.status, OrderStatus::New);
    let done = broker.wait_for_final(&placed.id, WAIT).await.unwrap();
    assert_eq!(done.status, OrderStatus::Filled);
    assert_eq!(done.filled_qty, dec!(10));
    let statuses: Vec<String> = fake
        .requests_to("GET", "/v2/orders/")
        .iter()
        .map(|r| r.response["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["new", "partially_filled", "filled"]);

    // An order that never fills: the last state after the timeout.
    fake.script_next_order(vec![Stage::accepted(u32::MAX)]);
    let stuck = broker
        .submit_order(&market("AAPL", Side::Buy, dec!(1)))
        .await
        .unwrap();
    let last = broker
        .wait_for_final(&stuck.id, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(last.status, OrderStatus::Accepted);
}

#[tokio::test]
async fn close_position_uses_the_position_form_and_reports_none_when_flat() {
    let (fake, broker) = setup().await;
    fake.set_position("AAPL", dec!(5), dec!(100));
    fake.set_position("BTC/USD", dec!(0.5), dec!(50000));

    let closing = broker.close_position("AAPL").await.unwrap().unwrap();
    assert_eq!((closing.side, closing.qty), (Side::Sell, dec!(5)));
    let closing = broker.close_position("BTC/USD").await.unwrap().unwrap();
    assert_eq!(closing.symbol, "BTC/USD");
    let deletes = fake.requests_to("DELETE", "/v2/positions/");
    assert_eq!(deletes[0].path, "/v2/positions/AAPL");
    assert_eq!(deletes[1].path, "/v2/positions/BTCUSD");
    assert!(broker.positions().await.unwrap().is_empty());

    assert_eq!(broker.close_position("AAPL").await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_close_finds_the_closing_order_instead_of_closing_twice() {
    let (fake, broker) = setup().await;
    fake.set_position("AAPL", dec!(5), dec!(100));
    fake.force(
        Forced::status(504)
            .on("DELETE", "/v2/positions/")
            .after_processing(),
    );
    let closing = broker.close_position("AAPL").await.unwrap().unwrap();
    assert_eq!(closing.qty, dec!(5));
    assert_eq!(fake.requests_to("DELETE", "/v2/positions/").len(), 1);
    assert_eq!(fake.orders().len(), 1);
    assert_eq!(fake.position_qty("AAPL"), Decimal::ZERO);
}

#[tokio::test]
async fn the_call_log_has_every_exchange_without_the_keys() {
    let (fake, broker) = setup().await;
    let records: Arc<Mutex<Vec<CallRecord>>> = Arc::default();
    let sink = Arc::clone(&records);
    let broker = broker.with_call_log(Arc::new(move |r| sink.lock().unwrap().push(r)));
    fake.force(Forced::status(503).on("GET", "/v2/account"));

    broker.account().await.unwrap();
    let placed = broker
        .submit_order(&market("AAPL", Side::Buy, dec!(1)))
        .await
        .unwrap();
    broker
        .get_order_by_client_id(&placed.client_order_id)
        .await
        .unwrap();

    let records = records.lock().unwrap().clone();
    let summary: Vec<(String, String, Option<u16>, u32)> = records
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.path.split('?').next().unwrap().to_owned(),
                r.status,
                r.attempt,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("GET".into(), "/v2/account".into(), Some(503), 0),
            ("GET".into(), "/v2/account".into(), Some(200), 1),
            ("POST".into(), "/v2/orders".into(), Some(200), 0),
            (
                "GET".into(),
                "/v2/orders:by_client_order_id".into(),
                Some(200),
                0
            ),
        ]
    );
    let post = &records[2];
    let sent: serde_json::Value =
        serde_json::from_str(post.request_body.as_deref().unwrap()).unwrap();
    assert_eq!(sent["symbol"], "AAPL");
    assert!(post.response_body.as_deref().unwrap().contains(&placed.id));
    assert!(records.iter().all(|r| r.latency_ms < 5_000));
    let everything = format!("{records:?} {broker:?}");
    assert!(!everything.contains(fake.secret_key()), "{everything}");
    assert!(!everything.contains(fake.key_id()), "{everything}");
    // The keys did reach the fake, in the headers.
    let first = &fake.requests()[0];
    assert_eq!(first.header("apca-api-key-id"), Some(fake.key_id()));
    assert_eq!(first.header("apca-api-secret-key"), Some(fake.secret_key()));
}

#[tokio::test]
async fn wrong_keys_are_a_401_rejection() {
    let fake = FakeAlpaca::start_default().await;
    let broker = AlpacaBroker::with_policy(
        AlpacaConfig {
            secret_key: "wrong".into(),
            ..config(&fake)
        },
        fast_policy(),
    )
    .unwrap();
    let (status, code, _) = rejected(broker.account().await.unwrap_err());
    assert_eq!((status, code.as_deref()), (401, Some("40110000")));
    assert_eq!(fake.requests().len(), 1);
}
