//! Candle frames from the Hyperliquid fake over a real WebSocket: each
//! frame is the whole current bucket, buckets roll over at the boundary
//! with or without a final frame, and the ground truth matches the wire.

mod hyperliquid_support;

use hyperliquid_support::{connect, next_json, send, subscribe};
use serde_json::{Value, json};
use tradehook_testkit::hyperliquid::{Candle, FakeConfig, FakeHyperliquid};

/// A 1m (and 5m) bucket boundary: 2026-08-19T..:00Z.
const T0: i64 = 1_787_195_100_000;
const MINUTE: i64 = 60_000;

async fn fake(send_final_candle_frame: bool) -> FakeHyperliquid {
    FakeHyperliquid::start(FakeConfig {
        send_final_candle_frame,
        ..FakeConfig::default()
    })
    .await
}

async fn subscribed(fake: &FakeHyperliquid, interval: &str) -> hyperliquid_support::Ws {
    let mut ws = connect(fake).await;
    subscribe(
        &mut ws,
        json!({"type": "candle", "coin": "BTC", "interval": interval}),
    )
    .await;
    ws
}

async fn next_candle(ws: &mut hyperliquid_support::Ws) -> Value {
    let frame = next_json(ws).await;
    assert_eq!(frame["channel"], "candle", "{frame}");
    frame["data"].clone()
}

#[tokio::test]
async fn every_frame_carries_the_whole_current_bucket_with_string_prices() {
    let fake = fake(true).await;
    let mut ws = subscribed(&fake, "1m").await;
    fake.push_trade_price("BTC", 69170.0, T0 + 1_000);
    fake.push_trade_price("BTC", 69174.0, T0 + 2_000);
    fake.push_trade_price("BTC", 69168.5, T0 + 3_000);
    fake.push_trade_price("BTC", 69172.0, T0 + 59_999);

    let mut last = Value::Null;
    for _ in 0..4 {
        last = next_candle(&mut ws).await;
    }
    assert_eq!(
        last,
        json!({
            "t": T0, "T": T0 + MINUTE - 1, "s": "BTC", "i": "1m",
            "o": "69170.0", "c": "69172.0", "h": "69174.0", "l": "69168.5",
            "v": "0.4", "n": 4,
        })
    );
    let truth: Candle = serde_json::from_value(last).unwrap();
    assert_eq!(fake.candles("BTC", "1m"), vec![truth]);
}

#[tokio::test]
async fn crossing_a_boundary_sends_a_final_frame_of_the_old_bucket_first() {
    let fake = fake(true).await;
    let mut ws = subscribed(&fake, "1m").await;
    fake.push_trade_price("BTC", 100.0, T0);
    fake.push_trade_price("BTC", 101.0, T0 + 30_000);
    next_candle(&mut ws).await;
    let open = next_candle(&mut ws).await;

    fake.push_trade_price("BTC", 102.0, T0 + MINUTE);
    let last_of_old = next_candle(&mut ws).await;
    let first_of_new = next_candle(&mut ws).await;
    assert_eq!(
        last_of_old, open,
        "the final frame repeats the closed bucket"
    );
    assert_eq!(first_of_new["t"], T0 + MINUTE);
    assert_eq!(first_of_new["o"], "102.0");
    assert_eq!(first_of_new["n"], 1);
}

#[tokio::test]
async fn without_final_frames_the_next_bucket_arrives_directly() {
    let fake = fake(false).await;
    let mut ws = subscribed(&fake, "1m").await;
    fake.push_trade_price("BTC", 100.0, T0);
    fake.push_trade_price("BTC", 102.0, T0 + MINUTE);
    // Jumping several buckets leaves a gap: no trades, no candle.
    fake.push_trade_price("BTC", 99.0, T0 + 5 * MINUTE + 7);

    let ts: Vec<Value> = [
        next_candle(&mut ws).await,
        next_candle(&mut ws).await,
        next_candle(&mut ws).await,
    ]
    .iter()
    .map(|c| c["t"].clone())
    .collect();
    assert_eq!(
        ts,
        vec![json!(T0), json!(T0 + MINUTE), json!(T0 + 5 * MINUTE)]
    );
    let truth: Vec<i64> = fake
        .candles("BTC", "1m")
        .iter()
        .map(|c| c.open_time)
        .collect();
    assert_eq!(truth, vec![T0, T0 + MINUTE, T0 + 5 * MINUTE]);
}

#[tokio::test]
async fn subscribers_get_only_their_interval_while_every_interval_is_kept() {
    let fake = fake(true).await;
    let mut ws = subscribed(&fake, "5m").await;
    for i in 0..7 {
        fake.push_trade_price("BTC", 100.0 + i as f64, T0 + i * MINUTE);
    }
    let mut frames = Vec::new();
    for _ in 0..7 {
        frames.push(next_candle(&mut ws).await);
    }
    assert!(frames.iter().all(|c| c["i"] == "5m"));
    // Trades 0..=4 are in the first 5m bucket, 5 and 6 in the second; the
    // rollover adds one final frame.
    send(&mut ws, json!({"method": "ping"})).await;
    let extra = next_candle(&mut ws).await;
    assert_eq!(extra["t"], T0 + 5 * MINUTE);
    assert_eq!(next_json(&mut ws).await["channel"], "pong");

    assert_eq!(fake.candles("BTC", "1m").len(), 7);
    let five = fake.candles("BTC", "5m");
    assert_eq!(five.len(), 2);
    assert_eq!(
        (five[0].open, five[0].close, five[0].trades),
        (100.0, 104.0, 5)
    );
    assert_eq!(five[1].close_time, T0 + 10 * MINUTE - 1);
    let day = fake.candles("BTC", "1d");
    assert_eq!(day.len(), 1);
    assert_eq!((day[0].high, day[0].low), (106.0, 100.0));
}

#[tokio::test]
async fn a_new_subscriber_first_sees_the_open_bucket() {
    let fake = fake(true).await;
    fake.seed_history(
        "BTC",
        "1m",
        vec![Candle::flat("BTC", "1m", T0 - MINUTE, 98.0)],
    );
    fake.push_trade_price("BTC", 100.0, T0 + 5);
    let mut ws = subscribed(&fake, "1m").await;
    let snapshot = next_candle(&mut ws).await;
    assert_eq!(snapshot["t"], T0);
    assert_eq!(snapshot["c"], "100.0");
}
