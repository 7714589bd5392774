//! The Hyperliquid feed against the fake server: gap-free candles across
//! disconnects, backfill, heartbeat, silence, malformed input, and poll
//! and replay modes agreeing with the stream.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tradehook_feeds::hyperliquid::feed::{FeedConfig, HyperliquidFeed};
use tradehook_feeds::hyperliquid::rest::RestClient;
use tradehook_feeds::{Candle, FeedEvent, Interval};
use tradehook_testkit::hyperliquid::{FakeConfig, FakeHyperliquid, Subscription};

/// A minute boundary far from the real clock, so only the test's clock
/// decides which buckets have ended.
const BASE: i64 = 1_900_000_020_000;

struct Harness {
    fake: FakeHyperliquid,
    clock: Arc<AtomicI64>,
    rx: mpsc::Receiver<FeedEvent>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn config(fake: &FakeHyperliquid, clock: &Arc<AtomicI64>) -> FeedConfig {
    let mut c = FeedConfig::new(
        &fake.ws_url(),
        RestClient::new(&fake.rest_url(), 1200),
        vec!["BTC".into()],
        vec![Interval::M1],
    );
    let clock2 = clock.clone();
    c.clock = Arc::new(move || clock2.load(Ordering::SeqCst));
    c.backoff_base = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(200);
    c.initial_lookback_bars = 5;
    c.reconcile_after = Duration::from_millis(100);
    c
}

async fn start(
    fake_config: FakeConfig,
    tweak: impl FnOnce(&mut FeedConfig),
    last_closed: &[(String, Interval, i64)],
) -> Harness {
    let fake = FakeHyperliquid::start(fake_config).await;
    let clock = Arc::new(AtomicI64::new(BASE + 5_000));
    let mut c = config(&fake, &clock);
    tweak(&mut c);
    let feed = HyperliquidFeed::new(c, last_closed);
    let (tx, rx) = mpsc::channel(10_000);
    let stop = CancellationToken::new();
    let s = stop.clone();
    let task = tokio::spawn(async move {
        feed.run(tx, s).await.expect("feed runs");
    });
    Harness {
        fake,
        clock,
        rx,
        stop,
        task,
    }
}

impl Harness {
    /// Collects events until `done` says the collection is complete.
    async fn collect_until(
        &mut self,
        seen: &mut Vec<FeedEvent>,
        what: &str,
        done: impl Fn(&[FeedEvent]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) => seen.push(e),
                Ok(None) => panic!("feed ended while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}; saw {} events", seen.len()),
            }
        }
    }

    fn trade(&self, offset_ms: i64, price: f64) {
        self.fake.push_trade_price("BTC", price, BASE + offset_ms);
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        self.fake.shutdown().await;
    }
}

fn closed_times(events: &[FeedEvent]) -> Vec<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            FeedEvent::CandleClosed(c) => Some(c.open_time),
            _ => None,
        })
        .collect()
}

/// The final version of every closed bucket (a revision replaces the close).
fn final_bars(events: &[FeedEvent]) -> BTreeMap<i64, Candle> {
    let mut out = BTreeMap::new();
    for e in events {
        if let FeedEvent::CandleClosed(c) | FeedEvent::CandleRevised(c) = e {
            out.insert(c.open_time, c.clone());
        }
    }
    out
}

fn truth(fake: &FakeHyperliquid, until: i64) -> BTreeMap<i64, (f64, f64, f64, f64, f64, u64)> {
    fake.candles("BTC", "1m")
        .into_iter()
        .filter(|c| c.open_time < until)
        .map(|c| {
            (
                c.open_time,
                (c.open, c.high, c.low, c.close, c.volume, c.trades),
            )
        })
        .collect()
}

fn as_tuple(bars: &BTreeMap<i64, Candle>) -> BTreeMap<i64, (f64, f64, f64, f64, f64, u64)> {
    bars.iter()
        .map(|(t, c)| (*t, (c.open, c.high, c.low, c.close, c.volume, c.trades)))
        .collect()
}

async fn disconnect_mid_minute(final_frame: bool) {
    let mut h = start(
        FakeConfig {
            send_final_candle_frame: final_frame,
            idle_close_after: None,
            ..FakeConfig::default()
        },
        |_| {},
        &[],
    )
    .await;
    h.fake
        .wait_for_subscriptions(2, Duration::from_secs(5))
        .await;
    let mut seen = Vec::new();
    h.trade(10_000, 100.0);
    h.trade(20_000, 101.0);
    h.trade(70_000, 102.0); // bucket 1 starts: bucket 0 closes
    h.collect_until(&mut seen, "bucket 0 closed", |e| {
        closed_times(e).contains(&BASE)
    })
    .await;

    // The connection drops in the middle of bucket 1; the market goes on.
    h.fake.drop_connections();
    h.trade(80_000, 103.5);
    h.trade(130_000, 99.0);
    h.trade(190_000, 98.0);
    h.clock.store(BASE + 200_000, Ordering::SeqCst);
    h.fake.wait_for_connections(1, Duration::from_secs(5)).await;
    h.trade(250_000, 97.0); // bucket 4 starts: bucket 3 closes
    h.clock.store(BASE + 250_000, Ordering::SeqCst);
    let expected = truth(&h.fake, BASE + 240_000);
    assert_eq!(expected.len(), 4, "the fake has buckets 0-3: {expected:?}");
    h.collect_until(
        &mut seen,
        "buckets 0-3 closed with their final values",
        |e| as_tuple(&final_bars(e)) == expected,
    )
    .await;

    let closed = closed_times(&seen);
    let mut unique = closed.clone();
    unique.dedup();
    assert_eq!(closed, unique, "each bucket closed exactly once, in order");
    assert_eq!(
        closed,
        vec![BASE, BASE + 60_000, BASE + 120_000, BASE + 180_000]
    );
    h.stop().await;
}

#[tokio::test]
async fn a_disconnect_mid_minute_loses_and_duplicates_no_candle_with_a_final_frame() {
    disconnect_mid_minute(true).await;
}

#[tokio::test]
async fn a_disconnect_mid_minute_loses_and_duplicates_no_candle_without_a_final_frame() {
    disconnect_mid_minute(false).await;
}

#[tokio::test]
async fn backfill_after_downtime_fills_the_gap_exactly() {
    let fake_config = FakeConfig {
        idle_close_after: None,
        ..FakeConfig::default()
    };
    let fake = FakeHyperliquid::start(fake_config).await;
    // History while we were down: 30 buckets with trades.
    for i in 0..30 {
        fake.push_trade_price("BTC", 100.0 + i as f64, BASE + i * 60_000 + 1_000);
        fake.push_trade_price("BTC", 100.5 + i as f64, BASE + i * 60_000 + 30_000);
    }
    let clock = Arc::new(AtomicI64::new(BASE + 30 * 60_000 + 5_000));
    let c = config(&fake, &clock);
    // We had stored up to bucket 9.
    let feed = HyperliquidFeed::new(c, &[("BTC".into(), Interval::M1, BASE + 9 * 60_000)]);
    let (tx, mut rx) = mpsc::channel(10_000);
    let stop = CancellationToken::new();
    let task = tokio::spawn(feed.run(tx, stop.clone()));
    let mut closed = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while closed.len() < 20 {
        match tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("backfill in time")
        {
            Some(FeedEvent::CandleClosed(c)) => closed.push(c),
            Some(_) => {}
            None => panic!("feed ended"),
        }
    }
    let times: Vec<i64> = closed.iter().map(|c| c.open_time).collect();
    let expected: Vec<i64> = (10..30).map(|i| BASE + i * 60_000).collect();
    assert_eq!(times, expected, "exactly buckets 10..29, in order");
    let truth = truth(&fake, BASE + 30 * 60_000);
    for c in &closed {
        assert_eq!(
            truth[&c.open_time],
            (c.open, c.high, c.low, c.close, c.volume, c.trades)
        );
    }
    // Nothing more is closed (bucket 29 is the last one that ended).
    assert!(
        tokio::time::timeout(Duration::from_millis(300), async {
            loop {
                if let Some(FeedEvent::CandleClosed(c)) = rx.recv().await {
                    return c;
                }
            }
        })
        .await
        .is_err()
    );
    stop.cancel();
    let _ = task.await;
    fake.shutdown().await;
}

#[tokio::test]
async fn the_heartbeat_keeps_an_idle_connection_open() {
    let h = start(
        FakeConfig {
            idle_close_after: Some(Duration::from_millis(600)),
            ..FakeConfig::default()
        },
        |c| c.ping_interval = Duration::from_millis(150),
        &[],
    )
    .await;
    h.fake
        .wait_for_subscriptions(2, Duration::from_secs(5))
        .await;
    // Three idle periods pass; pongs keep the socket alive.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2_000);
    while tokio::time::Instant::now() < deadline {
        assert_eq!(h.fake.connections_accepted(), 1, "no reconnect needed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pings = h
        .fake
        .client_messages()
        .iter()
        .filter(|m| m.contains("ping"))
        .count();
    assert!(pings >= 10, "pinged every 150 ms: {pings}");
    h.stop().await;
}

#[tokio::test]
async fn a_silent_server_is_detected_and_the_feed_reconnects_and_resubscribes() {
    let h = start(
        FakeConfig {
            idle_close_after: None,
            ..FakeConfig::default()
        },
        |c| {
            c.ping_interval = Duration::from_millis(100);
            c.silence_timeout = Duration::from_millis(500);
        },
        &[],
    )
    .await;
    h.fake
        .wait_for_subscriptions(2, Duration::from_secs(5))
        .await;
    h.fake.set_silent(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.fake.connections_accepted() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the silent connection was not replaced"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.fake.set_silent(false);
    // The new connection subscribes to everything again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let subscribes = h
            .fake
            .client_messages()
            .iter()
            .filter(|m| m.contains("\"subscribe\""))
            .count();
        if subscribes >= 4 && h.fake.subscriptions().len() == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not resubscribed: {:?}",
            h.fake.subscriptions()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn an_unknown_or_mis_cased_symbol_is_not_subscribed_and_does_not_kill_the_others() {
    let mut h = start(
        FakeConfig {
            idle_close_after: None,
            ..FakeConfig::default()
        },
        |c| c.symbols = vec!["btc".into(), "DOGE".into(), "BTC".into()],
        &[],
    )
    .await;
    h.fake
        .wait_for_subscriptions(2, Duration::from_secs(5))
        .await;
    let mut seen = Vec::new();
    h.trade(10_000, 100.0);
    h.trade(70_000, 101.0);
    h.collect_until(&mut seen, "BTC bucket closed", |e| {
        closed_times(e).contains(&BASE)
    })
    .await;
    assert_eq!(
        h.fake.connections_accepted(),
        1,
        "the socket was never dropped"
    );
    h.stop().await;
}

#[tokio::test]
async fn trades_are_ticks_at_their_own_time_and_a_resubscribe_does_not_repeat_them() {
    let mut h = start(FakeConfig::default(), |c| c.trades = true, &[]).await;
    // allMids, the candle and the trades subscriptions.
    h.fake
        .wait_for_subscriptions(3, Duration::from_secs(5))
        .await;
    assert!(
        h.fake
            .subscriptions()
            .iter()
            .any(|s| matches!(s, Subscription::Trades { coin } if coin == "BTC")),
        "{:?}",
        h.fake.subscriptions()
    );
    h.trade(1_000, 101.0);
    h.trade(2_000, 102.5);
    let trade_ticks = |events: &[FeedEvent]| -> Vec<(f64, i64)> {
        events
            .iter()
            .filter_map(|e| match e {
                FeedEvent::Tick { symbol, price, ts } if symbol == "BTC" && *ts < BASE + 5_000 => {
                    Some((*price, *ts))
                }
                _ => None,
            })
            .collect()
    };
    let mut seen = Vec::new();
    h.collect_until(&mut seen, "two trade ticks", |e| trade_ticks(e).len() >= 2)
        .await;
    assert_eq!(
        trade_ticks(&seen),
        vec![(101.0, BASE + 1_000), (102.5, BASE + 2_000)]
    );
    // A reconnect resubscribes; the fake backfills recent trades, which
    // must not come out again. The next new trade does.
    let accepted = h.fake.connections_accepted();
    h.fake.drop_connections();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.fake.connections_accepted() <= accepted || h.fake.subscriptions().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no resubscribe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.trade(3_000, 99.0);
    h.collect_until(&mut seen, "the third trade", |e| trade_ticks(e).len() >= 3)
        .await;
    assert_eq!(
        trade_ticks(&seen),
        vec![
            (101.0, BASE + 1_000),
            (102.5, BASE + 2_000),
            (99.0, BASE + 3_000)
        ],
        "backfilled trades are not repeated"
    );
    h.stop().await;
}
