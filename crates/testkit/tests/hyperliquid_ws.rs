//! The Hyperliquid fake's WebSocket over a real socket: acks, errors,
//! pings, and every way the real server kills a connection.

mod hyperliquid_support;

use std::time::{Duration, Instant};

use hyperliquid_support::{
    WAIT, connect, expect_no_frame, expect_reset, next_json, next_text, send, send_raw, subscribe,
    time_to_reset,
};
use serde_json::{Value, json};
use tradehook_testkit::hyperliquid::{
    FakeConfig, FakeHyperliquid, Level, Side, Subscription, Trade,
};

const T0: i64 = 1_787_195_040_000;

async fn fake() -> FakeHyperliquid {
    FakeHyperliquid::start(FakeConfig::default()).await
}

#[tokio::test]
async fn the_ack_arrives_before_the_first_data_frame() {
    let fake = fake().await;
    fake.push_trade_price("BTC", 69170.0, T0);
    let mut ws = connect(&fake).await;
    let sub = json!({"type": "candle", "coin": "BTC", "interval": "1m"});
    send(&mut ws, json!({"method": "subscribe", "subscription": sub})).await;

    let first = next_json(&mut ws).await;
    assert_eq!(first["channel"], "subscriptionResponse");
    assert_eq!(
        first["data"],
        json!({"method": "subscribe", "subscription": sub})
    );
    let second = next_json(&mut ws).await;
    assert_eq!(second["channel"], "candle");
    assert_eq!(second["data"]["t"], T0);
}

#[tokio::test]
async fn data_pushed_while_subscribing_never_overtakes_the_ack() {
    let fake = FakeHyperliquid::start(FakeConfig {
        snapshot_on_subscribe: false,
        ..FakeConfig::default()
    })
    .await;
    let mut ws = connect(&fake).await;
    send(
        &mut ws,
        json!({"method": "subscribe", "subscription": {"type": "trades", "coin": "ETH"}}),
    )
    .await;
    // Push as fast as possible while the subscription is in flight.
    let mut ts = T0;
    while fake.subscriptions().is_empty() {
        fake.push_trade_price("ETH", 3500.0, ts);
        ts += 1;
        tokio::task::yield_now().await;
    }
    fake.push_trade_price("ETH", 3501.0, ts);
    assert_eq!(next_json(&mut ws).await["channel"], "subscriptionResponse");
    assert_eq!(next_json(&mut ws).await["channel"], "trades");
}

#[tokio::test]
async fn ping_is_answered_with_a_bare_pong() {
    let fake = fake().await;
    let mut ws = connect(&fake).await;
    send(&mut ws, json!({"method": "ping"})).await;
    assert_eq!(next_json(&mut ws).await, json!({"channel": "pong"}));
    assert_eq!(fake.client_messages(), vec![r#"{"method":"ping"}"#]);
}

#[tokio::test]
async fn subscribing_twice_gets_an_already_subscribed_error() {
    let fake = fake().await;
    let mut ws = connect(&fake).await;
    let sub = json!({"type": "trades", "coin": "SOL"});
    subscribe(&mut ws, sub.clone()).await;
    send(&mut ws, json!({"method": "subscribe", "subscription": sub})).await;
    let err = next_json(&mut ws).await;
    assert_eq!(err["channel"], "error");
    let text = err["data"].as_str().unwrap();
    assert!(text.starts_with("Already subscribed: "), "{text}");
    assert_eq!(fake.subscriptions(), vec![Subscription::trades("SOL")]);
}

#[tokio::test]
async fn malformed_requests_get_a_parse_error_frame_and_keep_the_socket() {
    let fake = fake().await;
    let mut ws = connect(&fake).await;
    for bad in [
        "not json",
        r#"{"method":"subscribe","subscription":{"type":"trades","coin":["BTC"]}}"#,
        r#"{"method":"subscribe","subscription":{"type":"candle","coin":"BTC","interval":"2m"}}"#,
        r#"{"method":"dance"}"#,
    ] {
        send_raw(&mut ws, bad).await;
        let err = next_json(&mut ws).await;
        assert_eq!(err["channel"], "error");
        assert_eq!(
            err["data"],
            format!("Error parsing JSON into valid websocket request: {bad}")
        );
    }
    send(&mut ws, json!({"method": "ping"})).await;
    assert_eq!(next_json(&mut ws).await["channel"], "pong");
}

#[tokio::test]
async fn a_miscased_coin_resets_the_socket_and_takes_other_subscriptions_with_it() {
    let fake = fake().await;
    let mut ws = connect(&fake).await;
    subscribe(&mut ws, json!({"type": "trades", "coin": "BTC"})).await;
    send(
        &mut ws,
        json!({"method": "subscribe", "subscription": {"type": "candle", "coin": "btc", "interval": "1m"}}),
    )
    .await;
    let sent = Instant::now();
    let before_reset = expect_reset(&mut ws).await;
    let took = sent.elapsed();

    assert!(before_reset.is_empty(), "no ack or error: {before_reset:?}");
    assert!(took >= Duration::from_millis(90), "closed after {took:?}");
    // Loose: only "soon, not at the idle timeout" matters.
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    fake.wait_for_connections(0, WAIT).await;
    assert!(fake.subscriptions().is_empty());
}

#[tokio::test]
async fn unknown_coins_and_bad_book_aggregation_reset_the_socket() {
    let fake = fake().await;
    for sub in [
        json!({"type": "trades", "coin": "DOGEFAKE"}),
        json!({"type": "l2Book", "coin": "KPEPE"}),
        json!({"type": "l2Book", "coin": "BTC", "nSigFigs": 6}),
        json!({"type": "l2Book", "coin": "BTC", "nSigFigs": 4, "mantissa": 2}),
    ] {
        let mut ws = connect(&fake).await;
        send(&mut ws, json!({"method": "subscribe", "subscription": sub})).await;
        assert!(expect_reset(&mut ws).await.is_empty(), "{sub}");
    }
}

#[tokio::test]
async fn other_subscriptions_keep_flowing_until_the_reset() {
    let fake = FakeHyperliquid::start(FakeConfig {
        bad_subscription_close_after: Duration::from_secs(1),
        ..FakeConfig::default()
    })
    .await;
    let mut ws = connect(&fake).await;
    subscribe(&mut ws, json!({"type": "allMids"})).await;
    next_json(&mut ws).await; // the snapshot
    send(
        &mut ws,
        json!({"method": "subscribe", "subscription": {"type": "bbo", "coin": "Sol"}}),
    )
    .await;
    fake.push_all_mids();
    let frames = expect_reset(&mut ws).await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["channel"], "allMids");
}

#[tokio::test]
async fn a_socket_the_server_sent_nothing_on_is_reset_after_the_idle_time() {
    let idle = Duration::from_millis(300);
    let fake = FakeHyperliquid::start(FakeConfig {
        idle_close_after: Some(idle),
        ..FakeConfig::default()
    })
    .await;
    let mut ws = connect(&fake).await;
    let opened = Instant::now();
    // Client → server traffic does not count: only what the server sends.
    send_raw(&mut ws, "nonsense").await;
    let _parse_error = next_text(&mut ws).await;
    let took = time_to_reset(&mut ws, opened).await;
    assert!(took >= idle, "reset after {took:?}");
    assert!(took < idle * 10, "reset after {took:?}");
}

#[tokio::test]
async fn pongs_keep_an_otherwise_idle_socket_open() {
    let idle = Duration::from_millis(600);
    let fake = FakeHyperliquid::start(FakeConfig {
        idle_close_after: Some(idle),
        ..FakeConfig::default()
    })
    .await;
    let mut ws = connect(&fake).await;
    // Ping pacing, not a wait for a result: six pings per idle period, for
    // twice the idle time, leave room for a slow scheduler.
    let mut every = tokio::time::interval(idle / 6);
    for _ in 0..12 {
        every.tick().await;
        send(&mut ws, json!({"method": "ping"})).await;
        assert_eq!(next_json(&mut ws).await["channel"], "pong");
    }
    assert_eq!(fake.connections(), 1);
    assert_eq!(fake.connections_accepted(), 1);
}

#[tokio::test]
async fn drop_connections_resets_every_socket_and_forgets_their_subscriptions() {
    let fake = fake().await;
    let mut a = connect(&fake).await;
    let mut b = connect(&fake).await;
    subscribe(&mut a, json!({"type": "trades", "coin": "BTC"})).await;
    subscribe(&mut b, json!({"type": "bbo", "coin": "ETH"})).await;
    assert_eq!(fake.subscriptions().len(), 2);

    fake.drop_connections();
    assert!(fake.subscriptions().is_empty());
    expect_reset(&mut a).await;
    expect_reset(&mut b).await;

    // A reconnecting client is a new connection with no subscriptions.
    let mut c = connect(&fake).await;
    subscribe(&mut c, json!({"type": "trades", "coin": "BTC"})).await;
    fake.wait_for_subscriptions(1, WAIT).await;
    assert_eq!(fake.connections_accepted(), 3);
    assert_eq!(fake.subscriptions(), vec![Subscription::trades("BTC")]);
}

#[tokio::test]
async fn a_silent_server_answers_nothing_and_does_not_idle_close() {
    let idle = Duration::from_millis(200);
    let fake = FakeHyperliquid::start(FakeConfig {
        idle_close_after: Some(idle),
        ..FakeConfig::default()
    })
    .await;
    let mut ws = connect(&fake).await;
    fake.set_silent(true);
    send(&mut ws, json!({"method": "ping"})).await;
    send(
        &mut ws,
        json!({"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}),
    )
    .await;
    fake.wait_for_subscriptions(1, WAIT).await;
    fake.push_trade_price("BTC", 69000.0, T0);
    expect_no_frame(&mut ws, idle * 3).await;

    fake.set_silent(false);
    send(&mut ws, json!({"method": "ping"})).await;
    assert_eq!(next_json(&mut ws).await, json!({"channel": "pong"}));
}

#[tokio::test]
async fn the_legacy_greeting_comes_first_when_configured() {
    let fake = FakeHyperliquid::start(FakeConfig {
        greeting: true,
        ..FakeConfig::default()
    })
    .await;
    let mut ws = connect(&fake).await;
    assert_eq!(
        next_text(&mut ws).await,
        "Websocket connection established."
    );
}

#[tokio::test]
async fn unsubscribing_is_acked_and_stops_the_data() {
    let fake = fake().await;
    let mut ws = connect(&fake).await;
    let sub = json!({"type": "trades", "coin": "BTC"});
    subscribe(&mut ws, sub.clone()).await;
    send(
        &mut ws,
        json!({"method": "unsubscribe", "subscription": sub}),
    )
    .await;
    let ack = next_json(&mut ws).await;
    assert_eq!(ack["channel"], "subscriptionResponse");
    assert_eq!(ack["data"]["method"], "unsubscribe");
    fake.push_trade_price("BTC", 69000.0, T0);
    send(&mut ws, json!({"method": "ping"})).await;
    // Had a trades frame been sent, it would have come before the pong.
    assert_eq!(next_json(&mut ws).await["channel"], "pong");
    assert!(fake.subscriptions().is_empty());
}

#[tokio::test]
async fn a_trades_subscription_is_backfilled_then_streams() {
    let fake = fake().await;
    let history: Vec<Trade> = (0..40)
        .map(|i| Trade::new(Side::Sell, 69000.0 + f64::from(i), 0.5, T0 + i64::from(i)))
        .collect();
    fake.push_trades("BTC", history.clone());
    let mut ws = connect(&fake).await;
    subscribe(&mut ws, json!({"type": "trades", "coin": "BTC"})).await;

    let backfill = next_json(&mut ws).await;
    assert_eq!(backfill["channel"], "trades");
    let trades = backfill["data"].as_array().unwrap();
    assert_eq!(trades.len(), 30);
    assert_eq!(trades[0]["px"], "69010.0");
    assert_eq!(trades[29]["tid"], history[39].tid);
    assert_eq!(trades[29]["side"], "A");
    assert_eq!(trades[29]["coin"], "BTC");

    fake.push_trade_price("BTC", 69100.5, T0 + 100);
    let live = next_json(&mut ws).await;
    assert_eq!(live["data"][0]["px"], "69100.5");
    assert_eq!(live["data"][0]["side"], "B");
}

#[tokio::test]
async fn big_all_mids_frames_carry_about_1100_decimal_strings() {
    let fake = FakeHyperliquid::start(FakeConfig {
        big_all_mids: true,
        snapshot_on_subscribe: false,
        ..FakeConfig::default()
    })
    .await;
    let mut ws = connect(&fake).await;
    subscribe(&mut ws, json!({"type": "allMids"})).await;
    fake.push_trade_price("BTC", 69172.5, T0);
    fake.push_all_mids();
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["channel"], "allMids");
    let mids = frame["data"]["mids"].as_object().unwrap();
    assert!((1_050..=1_150).contains(&mids.len()), "{}", mids.len());
    assert_eq!(mids["BTC"], "69172.5");
    for prefix in ["@", "#", "xyz:"] {
        assert!(
            mids.keys().any(|k| k.starts_with(prefix)),
            "no {prefix} key"
        );
    }
    for v in mids.values() {
        let s = v.as_str().expect("mids are strings");
        assert!(s.parse::<f64>().is_ok() && !s.contains('e'), "{s}");
    }
    assert!(!mids.contains_key("MATIC"), "delisted perps have no mid");
}

#[tokio::test]
async fn books_are_cut_to_depth_and_bbo_sides_may_be_null() {
    let fake = fake().await;
    let mut ws = connect(&fake).await;
    subscribe(&mut ws, json!({"type": "l2Book", "coin": "ETH"})).await;
    subscribe(
        &mut ws,
        json!({"type": "l2Book", "coin": "ETH", "fast": true}),
    )
    .await;
    subscribe(&mut ws, json!({"type": "bbo", "coin": "ETH"})).await;
    let bids: Vec<Level> = (0..30)
        .map(|i| Level::new(3500.0 - f64::from(i), 1.0, 2))
        .collect();
    fake.push_l2_book("ETH", bids, vec![], T0);
    let depths: Vec<usize> = [next_json(&mut ws).await, next_json(&mut ws).await]
        .iter()
        .map(|f| f["data"]["levels"][0].as_array().unwrap().len())
        .collect();
    assert_eq!(depths, vec![20, 5]);

    fake.push_bbo("ETH", Some(Level::new(3500.0, 1.5, 3)), None, T0);
    let bbo = next_json(&mut ws).await;
    assert_eq!(
        bbo["data"],
        json!({"coin": "ETH", "time": T0, "bbo": [{"px": "3500.0", "sz": "1.5", "n": 3}, Value::Null]})
    );
}

#[tokio::test]
async fn shutdown_resets_open_sockets_and_stops_listening() {
    let fake = fake().await;
    let url = fake.ws_url();
    let mut ws = connect(&fake).await;
    subscribe(&mut ws, json!({"type": "allMids"})).await;
    tokio::time::timeout(WAIT, fake.shutdown())
        .await
        .expect("shutdown finishes");
    expect_reset(&mut ws).await;
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}
