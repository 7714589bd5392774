//! Poll mode and replay mode produce the same candles as the stream for
//! the same market (the stream's own agreement with the fake's ground
//! truth is shown in hyperliquid_feed.rs).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tradehook_feeds::hyperliquid::feed::FeedConfig;
use tradehook_feeds::hyperliquid::poll::run_poll;
use tradehook_feeds::hyperliquid::rest::RestClient;
use tradehook_feeds::replay::{ReplayRow, ReplayState};
use tradehook_feeds::{FeedEvent, Interval};
use tradehook_testkit::hyperliquid::{FakeConfig, FakeHyperliquid};

const BASE: i64 = 1_900_000_020_000;

type Bar = (i64, f64, f64, f64, f64, f64, u64);

/// A deterministic trade path over 12 minutes, with an empty minute.
fn trades() -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    let mut price = 100.0;
    for i in 0..120i64 {
        let minute = i / 10;
        if minute == 7 {
            continue; // no trades in minute 7: no candle, as on Hyperliquid
        }
        price += ((i * 37 % 11) as f64 - 5.0) * 0.25;
        out.push((BASE + minute * 60_000 + (i % 10) * 5_000 + 1_000, price));
    }
    out
}

fn closed(events: &[FeedEvent]) -> Vec<Bar> {
    events
        .iter()
        .filter_map(|e| match e {
            FeedEvent::CandleClosed(c) => Some((
                c.open_time,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.trades,
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn poll_and_replay_produce_the_candles_of_the_market() {
    let fake = FakeHyperliquid::start(FakeConfig {
        idle_close_after: None,
        ..FakeConfig::default()
    })
    .await;
    for (ts, price) in trades() {
        fake.push_trade_price("BTC", price, ts);
    }
    let end = BASE + 12 * 60_000;
    let truth: Vec<Bar> = fake
        .candles("BTC", "1m")
        .into_iter()
        .filter(|c| c.open_time + 60_000 <= end)
        .map(|c| {
            (
                c.open_time,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.trades,
            )
        })
        .collect();
    assert_eq!(truth.len(), 11, "12 minutes, one without trades");

    // Poll mode, with the clock after the last bucket's end.
    let mut config = FeedConfig::new(
        &fake.ws_url(),
        RestClient::new(&fake.rest_url(), 1200),
        vec!["BTC".into()],
        vec![Interval::M1],
    );
    config.clock = Arc::new(move || end + 5_000);
    config.initial_lookback_bars = 20;
    let (tx, mut rx) = mpsc::channel(1000);
    let stop = CancellationToken::new();
    let poller = tokio::spawn({
        let stop = stop.clone();
        async move { run_poll(config, Duration::from_millis(50), &[], tx, stop).await }
    });
    let mut polled = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while closed(&polled).len() < truth.len() {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("poll in time")
            .expect("poll runs");
        polled.push(e);
    }
    // Another poll round closes nothing twice.
    let more = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Some(FeedEvent::CandleClosed(c)) = rx.recv().await {
                return c;
            }
        }
    })
    .await;
    assert!(more.is_err(), "a bucket was closed twice: {more:?}");
    stop.cancel();
    let _ = poller.await;
    assert_eq!(closed(&polled), truth);

    // Replay of the same trades as ticks (the fake's trades are 0.1 each).
    let mut replay = ReplayState::new(vec![Interval::M1]);
    let mut replayed = Vec::new();
    for (ts, price) in trades() {
        replay.apply(
            ReplayRow::Tick {
                symbol: "BTC".into(),
                price,
                ts,
                size: 0.1,
            },
            &mut replayed,
        );
    }
    replay.finish(&mut replayed);
    let replayed = closed(&replayed);
    assert_eq!(
        replayed.len(),
        truth.len(),
        "the last bucket closes at the end of the file"
    );
    for (r, t) in replayed.iter().zip(&truth) {
        assert_eq!(
            (r.0, r.1, r.2, r.3, r.4, r.6),
            (t.0, t.1, t.2, t.3, t.4, t.6)
        );
        assert!((r.5 - t.5).abs() < 1e-9, "volume {} vs {}", r.5, t.5);
    }
    fake.shutdown().await;
}

#[tokio::test]
async fn a_non_json_greeting_and_error_frames_are_survived() {
    let fake = FakeHyperliquid::start(FakeConfig {
        greeting: true,
        idle_close_after: None,
        ..FakeConfig::default()
    })
    .await;
    let clock_now = BASE + 5_000;
    let mut config = FeedConfig::new(
        &fake.ws_url(),
        RestClient::new(&fake.rest_url(), 1200),
        vec!["BTC".into()],
        vec![Interval::M1],
    );
    config.clock = Arc::new(move || clock_now);
    config.initial_lookback_bars = 1;
    let feed = tradehook_feeds::hyperliquid::feed::HyperliquidFeed::new(config, &[]);
    let (tx, mut rx) = mpsc::channel(1000);
    let stop = CancellationToken::new();
    let task = tokio::spawn(feed.run(tx, stop.clone()));
    fake.wait_for_subscriptions(2, Duration::from_secs(5)).await;
    fake.push_trade_price("BTC", 100.0, BASE + 10_000);
    fake.push_trade_price("BTC", 101.0, BASE + 70_000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("candle in time")
        {
            Some(FeedEvent::CandleClosed(c)) => {
                assert_eq!(c.open_time, BASE);
                break;
            }
            Some(_) => {}
            None => panic!("feed ended"),
        }
    }
    assert_eq!(
        fake.connections_accepted(),
        1,
        "the greeting did not break the connection"
    );
    stop.cancel();
    let _ = task.await;
    fake.shutdown().await;
}
