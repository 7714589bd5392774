//! Hyperliquid feed benchmarks: frames parsed and published per second,
//! the latency from a frame's arrival to its event, and the REST backfill
//! rate against the fake server.
//!
//! Run with `cargo bench -p tradehook-feeds --bench feed`. Criterion
//! measures throughput (elements/s, one element = one frame). It reports
//! means only, so the latency percentiles and the backfill rate are
//! measured by hand afterwards and printed as tables. Without `--bench`
//! (`cargo test --benches`) the hand-made sections run a few iterations,
//! as a smoke test.
//!
//! `HyperliquidFeed::on_text` and `publish` are private, so [`Pipeline`]
//! repeats their steps with the public pieces: `parse_frame_keeping`, the
//! followed-symbol filter, the gap check of `fill_gap_before`, the
//! `CandleTracker` or the `Tick` events, and `try_send` into a bounded
//! `tokio::sync::mpsc` channel of the server's size. No metrics recorder
//! is installed, so the `metrics` calls cost what a no-op recorder costs.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tradehook_feeds::hyperliquid::feed::{Clock, FeedConfig, HyperliquidFeed, system_clock};
use tradehook_feeds::hyperliquid::frame::{Frame, parse_frame, parse_frame_keeping};
use tradehook_feeds::hyperliquid::rest::RestClient;
use tradehook_feeds::{Candle, CandleTracker, FeedEvent, Interval};
use tradehook_testkit::hyperliquid::{self as fake, FakeConfig, FakeHyperliquid, decimal};

/// A minute boundary far from the real clock.
const BASE: i64 = 1_900_000_020_000;
const MINUTE: i64 = 60_000;
/// The server's feed channel (`crates/server/src/market.rs`).
const FEED_CHANNEL: usize = 4096;
/// Candle frames per series per bucket in the generated stream.
const UPDATES_PER_BUCKET: usize = 60;
const FOLLOWED: [&str; 3] = ["BTC", "ETH", "SOL"];
/// How much of a latency run's gap between frames is spun, not slept
/// (Linux oversleeps by ~50 µs).
const SPIN: Duration = Duration::from_micros(100);

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let candles = candle_frames(100);
    let mids = all_mids_frames(&rt, 16);
    describe_frames(&candles, &mids);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    throughput(&mut c, &candles, &mids);
    c.final_summary();

    let n = |full_n: usize| if full { full_n } else { 200 };
    println!(
        "\n== Latency: frame arrival -> event (paced, one frame at a time; loadavg {}) ==",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    latency(
        "candle",
        &candles,
        &FOLLOWED,
        n(100_000),
        Duration::from_micros(200),
    );
    latency(
        "allMids",
        &mids,
        &FOLLOWED,
        n(20_000),
        Duration::from_micros(1_000),
    );
    println!("\n== End to end through the fake (push -> WebSocket -> feed -> channel) ==");
    rt.block_on(end_to_end(n(10_000), n(2_000)));
    println!("\n== REST backfill from the fake (RestClient::candles_between, 1200 weight/min) ==");
    rt.block_on(backfill(full));
}

/// `on_text` + `publish` of `HyperliquidFeed`, from public parts.
struct Pipeline {
    symbols: std::collections::HashSet<String>,
    tracker: CandleTracker,
    clock: Clock,
    last_message_at: AtomicI64,
    events: Vec<FeedEvent>,
    to_reconcile: Vec<(i64, Candle)>,
    dropped: u64,
}

impl Pipeline {
    fn new(symbols: &[&str]) -> Pipeline {
        Pipeline {
            symbols: symbols.iter().map(|s| s.to_string()).collect(),
            tracker: CandleTracker::new(2_000),
            clock: system_clock(),
            last_message_at: AtomicI64::new(0),
            events: Vec::new(),
            to_reconcile: Vec::new(),
            dropped: 0,
        }
    }

    /// Forgets every series, so a replayed stream is new again.
    fn reset(&mut self) {
        self.tracker = CandleTracker::new(2_000);
        self.to_reconcile.clear();
    }

    fn on_text(&mut self, text: &str) {
        self.last_message_at
            .store((self.clock)(), Ordering::Relaxed);
        let symbols = &self.symbols;
        match parse_frame_keeping(text, |coin| symbols.contains(coin)) {
            Ok(Frame::Candle(c)) => {
                metrics::counter!("tradehook_feed_frames_total", "channel" => "candle")
                    .increment(1);
                if self.symbols.contains(&c.symbol) {
                    // The check of `fill_gap_before`; the streams have no gaps.
                    let step = c.interval.millis();
                    let gap = match (
                        self.tracker.open_candle(&c.symbol, c.interval),
                        self.tracker.last_closed(&c.symbol, c.interval),
                    ) {
                        (Some(open), _) => c.open_time > open.open_time + step,
                        (None, Some(last)) => c.open_time > last + 2 * step,
                        _ => false,
                    };
                    assert!(!gap, "the generated stream has a gap");
                    self.tracker.on_update(c, &mut self.events);
                }
            }
            Ok(Frame::AllMids(mids)) => {
                metrics::counter!("tradehook_feed_frames_total", "channel" => "allMids")
                    .increment(1);
                let ts = (self.clock)();
                for (symbol, price) in mids {
                    self.events.push(FeedEvent::Tick { symbol, price, ts });
                }
            }
            other => panic!("unexpected frame: {other:?}"),
        }
    }

    /// Every event goes out with `try_send` (the feed awaits `send` for
    /// candles; these channels never fill, and `dropped` proves it).
    fn publish<T>(&mut self, out: &mpsc::Sender<T>, wrap: impl Fn(FeedEvent) -> T) {
        for event in self.events.drain(..) {
            if let FeedEvent::CandleClosed(c) = &event {
                let due = (self.clock)() + 1_000;
                self.to_reconcile.push((due, c.clone()));
            }
            match out.try_send(wrap(event)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => self.dropped += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => panic!("consumer gone"),
            }
        }
        metrics::gauge!("tradehook_feed_channel_lag")
            .set((out.max_capacity() - out.capacity()) as f64);
    }
}

/// xorshift64*: deterministic prices without a dependency.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// BTC, ETH and SOL 1m candle frames, interleaved, `UPDATES_PER_BUCKET`
/// updates per bucket (each the whole bucket so far, as Hyperliquid sends
/// it), wire-exact via the testkit's encoder.
fn candle_frames(buckets: usize) -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // (coin, price, tick size, typical trade size)
    let mut series = [
        ("BTC", 69_170.0, 1.0, 0.01),
        ("ETH", 3_512.25, 0.05, 0.2),
        ("SOL", 151.375, 0.001, 5.0),
    ];
    let mut frames = Vec::with_capacity(buckets * UPDATES_PER_BUCKET * series.len());
    for b in 0..buckets {
        let t = BASE + b as i64 * MINUTE;
        let mut bars: Vec<fake::Candle> = series
            .iter()
            .map(|(coin, px, ..)| fake::Candle::flat(coin, "1m", t, *px))
            .collect();
        for _ in 0..UPDATES_PER_BUCKET {
            for (bar, (_, px, tick, size)) in bars.iter_mut().zip(series.iter_mut()) {
                *px = (*px * (1.0 + (rng.unit() - 0.5) * 4e-4) / *tick).round() * *tick;
                bar.close = *px;
                bar.high = bar.high.max(*px);
                bar.low = bar.low.min(*px);
                bar.volume += (*size * (0.1 + 2.0 * rng.unit()) * 1e5).round() / 1e5;
                bar.trades += 1 + (rng.unit() * 5.0) as u64;
                frames.push(json!({"channel": "candle", "data": bar.to_wire()}).to_string());
            }
        }
    }
    frames
}

/// The fake's full `allMids` map (~1,100 keys: perps, `@N` spot, `#N`
/// outcomes, `dex:COIN`), in `variants` versions with moved prices.
fn all_mids_frames(rt: &tokio::runtime::Runtime, variants: usize) -> Vec<String> {
    let mids = rt.block_on(async {
        let fake = FakeHyperliquid::start(FakeConfig {
            big_all_mids: true,
            ..FakeConfig::default()
        })
        .await;
        let mids = fake.mids();
        fake.shutdown().await;
        mids
    });
    let Value::Object(map) = mids else {
        panic!("allMids is a map")
    };
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..variants)
        .map(|_| {
            let moved: serde_json::Map<String, Value> = map
                .iter()
                .map(|(k, v)| {
                    let px: f64 = v.as_str().and_then(|s| s.parse().ok()).expect("decimal");
                    let px = px * (1.0 + (rng.unit() - 0.5) * 1e-3);
                    // Hyperliquid prices have at most 5 significant figures.
                    let scale = 10f64.powi(4 - px.log10().floor() as i32);
                    (
                        k.clone(),
                        Value::String(decimal((px * scale).round() / scale)),
                    )
                })
                .collect();
            json!({"channel": "allMids", "data": {"mids": moved}}).to_string()
        })
        .collect()
}

fn describe_frames(candles: &[String], mids: &[String]) {
    let avg = |f: &[String]| f.iter().map(String::len).sum::<usize>() / f.len();
    let Ok(Frame::AllMids(m)) = parse_frame(&mids[0]) else {
        panic!("allMids frame")
    };
    let count = |p: fn(&str) -> bool| m.iter().filter(|(k, _)| p(k)).count();
    println!(
        "candle frames: {} (avg {} B); allMids frame: {} keys ({} @N spot, {} #N, {} dex:COIN, {} other incl. BTC/ETH/SOL), avg {} B",
        candles.len(),
        avg(candles),
        m.len(),
        count(|k| k.starts_with('@')),
        count(|k| k.starts_with('#')),
        count(|k| k.contains(':')),
        count(|k| !k.starts_with(['@', '#']) && !k.contains(':')),
        avg(mids),
    );
}

fn throughput(c: &mut Criterion, candles: &[String], mids: &[String]) {
    let mut g = c.benchmark_group("feed_frames");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_frame/candle", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % candles.len();
            black_box(parse_frame(black_box(&candles[i])).expect("frame"))
        })
    });
    g.bench_function("parse_and_publish/candle", |b| {
        run_pipeline(b, candles, &FOLLOWED)
    });
    g.bench_function("parse_frame/allMids", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % mids.len();
            black_box(parse_frame(black_box(&mids[i])).expect("frame"))
        })
    });
    g.bench_function("parse_and_publish/allMids_3_followed", |b| {
        run_pipeline(b, mids, &FOLLOWED)
    });
    let many: Vec<String> = (0..47)
        .map(|i| format!("ALT{i}"))
        .chain(FOLLOWED.iter().map(|s| s.to_string()))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    g.bench_function("parse_and_publish/allMids_50_followed", |b| {
        run_pipeline(b, mids, &many)
    });
    g.finish();
}

/// One core: each frame is processed and its events sent, then drained
/// on the same thread so the channel never fills.
fn run_pipeline(b: &mut criterion::Bencher, frames: &[String], symbols: &[&str]) {
    let (tx, mut rx) = mpsc::channel::<FeedEvent>(FEED_CHANNEL);
    let mut pipe = Pipeline::new(symbols);
    let mut i = 0;
    b.iter_custom(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            if i == frames.len() {
                i = 0;
                pipe.reset();
            }
            pipe.on_text(&frames[i]);
            i += 1;
            pipe.publish(&tx, |e| e);
            while let Ok(e) = rx.try_recv() {
                black_box(e);
            }
        }
        start.elapsed()
    });
    assert_eq!(pipe.dropped, 0);
}

/// Frames "arrive" on a fixed schedule, one every `gap`, on a producer
/// thread that processes and publishes each one; a consumer thread waits
/// in `blocking_recv`. Printed: the work alone (processing start to
/// `try_send` returned, waking the consumer included); the same from the
/// scheduled arrival, so a producer running late (preempted) counts its
/// delay; and arrival to the consumer holding the event (thread wake-up
/// included).
fn latency(label: &str, frames: &[String], symbols: &[&str], samples: usize, gap: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, FeedEvent)>(FEED_CHANNEL);
    let consumer = std::thread::spawn(move || {
        let mut lat = Vec::with_capacity(samples * 3);
        while let Some((arrived, e)) = rx.blocking_recv() {
            lat.push(arrived.elapsed());
            black_box(e);
        }
        lat
    });
    let mut pipe = Pipeline::new(symbols);
    let (mut published, mut service) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    let mut arrival = Instant::now();
    for i in 0..samples {
        arrival += gap;
        // Sleep most of the gap, as the feed waits in epoll between
        // frames (a producer spinning all the time keeps a consumer woken
        // onto its CPU waiting for a preemption), then spin to be on time.
        let early = arrival.saturating_duration_since(Instant::now());
        if early > SPIN {
            std::thread::sleep(early - SPIN);
        }
        while Instant::now() < arrival {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        if i % frames.len() == 0 {
            pipe.reset();
        }
        pipe.on_text(&frames[i % frames.len()]);
        pipe.publish(&tx, |e| (arrival, e));
        published.push(arrival.elapsed());
        service.push(start.elapsed());
    }
    let dropped = pipe.dropped;
    drop(tx);
    let received = consumer.join().expect("consumer");
    println!("{label}: {samples} frames, one every {gap:?}, {dropped} events dropped");
    print_percentiles("  start   -> published", service);
    print_percentiles("  arrival -> published", published);
    print_percentiles("  arrival -> received ", received);
}

fn print_percentiles(label: &str, mut v: Vec<Duration>) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    println!(
        "{label} ({:>6} samples): p50 {:>8.2} µs  p90 {:>8.2} µs  p99 {:>8.2} µs  p99.9 {:>8.2} µs  max {:>9.2} µs",
        v.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

/// The real feed against the fake: from the test pushing a trade (or the
/// mids) to the event in the feed's channel. Includes the fake's own work
/// (market update, JSON encoding), loopback TCP and WebSocket framing.
async fn end_to_end(trades: usize, mids: usize) {
    let fake = FakeHyperliquid::start(FakeConfig {
        big_all_mids: true,
        idle_close_after: None,
        ..FakeConfig::default()
    })
    .await;
    let clock = Arc::new(AtomicI64::new(BASE + 5_000));
    let mut config = FeedConfig::new(
        &fake.ws_url(),
        RestClient::new(&fake.rest_url(), 1200),
        vec!["BTC".into()],
        vec![Interval::M1],
    );
    let clock2 = clock.clone();
    config.clock = Arc::new(move || clock2.load(Ordering::Relaxed));
    config.initial_lookback_bars = 5;
    let feed = HyperliquidFeed::new(config, &[]);
    let (tx, mut rx) = mpsc::channel(FEED_CHANNEL);
    let stop = CancellationToken::new();
    let task = tokio::spawn(feed.run(tx, stop.clone()));
    fake.wait_for_subscriptions(2, Duration::from_secs(5)).await;

    let mut candle_lat = Vec::with_capacity(trades);
    // Trade 0 is not timed: it waits for the feed's startup backfill.
    for i in 0..=trades {
        // One trade a second of market time: a new bucket every 60.
        let price = 60_000.0 + i as f64;
        let t0 = Instant::now();
        fake.push_trade_price("BTC", price, BASE + 10_000 + i as i64 * 1_000);
        loop {
            match rx.recv().await.expect("feed runs") {
                FeedEvent::CandleUpdate(c) if c.close == price => break,
                _ => {}
            }
        }
        if i > 0 {
            candle_lat.push(t0.elapsed());
        }
    }
    let (mut push_lat, mut tick_lat) = (Vec::new(), Vec::new());
    for i in 0..mids {
        let price = 50_000.0 + i as f64;
        fake.set_mid("BTC", price);
        let t0 = Instant::now();
        fake.push_all_mids();
        push_lat.push(t0.elapsed());
        loop {
            match rx.recv().await.expect("feed runs") {
                FeedEvent::Tick { price: p, .. } if p == price => break,
                _ => {}
            }
        }
        tick_lat.push(t0.elapsed());
    }
    stop.cancel();
    let _ = task.await;
    fake.shutdown().await;
    print_percentiles("push_trade_price -> CandleUpdate", candle_lat);
    print_percentiles("push_all_mids call (fake only)  ", push_lat);
    print_percentiles("push_all_mids -> Tick           ", tick_lat);
}

/// 5,000 1m BTC candles seeded, then fetched whole with
/// `candles_between`. Each timed run uses a fresh client and a cleared
/// fake budget, with the client's budget at 1200 and, for comparison,
/// practically unlimited: equal times mean the budget did not throttle.
/// Then back-to-back runs on one client, until the budget runs out.
async fn backfill(full: bool) {
    const BARS: i64 = 5_000;
    let (first, end) = (BASE - BARS * MINUTE, BASE - 1);
    let runs = if full { 10 } else { 1 };
    for cap in [5_000, 500] {
        let fake = FakeHyperliquid::start(FakeConfig {
            snapshot_cap: cap,
            ..FakeConfig::default()
        })
        .await;
        let mut rng = Rng(7);
        let mut px = 69_000.0;
        let bars = (0..BARS)
            .map(|k| {
                let mut c = fake::Candle::flat("BTC", "1m", first + k * MINUTE, px);
                px = (px * (1.0 + (rng.unit() - 0.5) * 2e-3)).round();
                c.close = px;
                c.high = c.open.max(px) + 3.0;
                c.low = c.open.min(px) - 2.0;
                c.volume = (rng.unit() * 50.0 * 1e5).round() / 1e5;
                c.trades = 1 + (rng.unit() * 400.0) as u64;
                c
            })
            .collect();
        fake.seed_history("BTC", "1m", bars);
        let fetch = |client: RestClient| async move {
            client
                .candles_between("BTC", Interval::M1, first, end)
                .await
                .map(|c| assert_eq!(c.len() as i64, BARS))
        };
        for budget in [1200, 1_000_000] {
            let mut times = Vec::new();
            for _ in 0..runs {
                fake.clear_requests();
                let client = RestClient::new(&fake.rest_url(), budget);
                let t0 = Instant::now();
                fetch(client).await.expect("backfill");
                times.push(t0.elapsed());
            }
            times.sort();
            let weight: u32 = fake.requests().iter().map(|r| r.weight).sum();
            let (median, best) = (times[times.len() / 2], times[0]);
            println!(
                "snapshot_cap {cap}, client budget {budget}/min: {BARS} candles in {} requests (weight {weight}); median {:.2} ms = {:.0} candles/s, best {:.2} ms = {:.0} candles/s ({runs} runs)",
                fake.requests().len(),
                median.as_secs_f64() * 1e3,
                BARS as f64 / median.as_secs_f64(),
                best.as_secs_f64() * 1e3,
                BARS as f64 / best.as_secs_f64(),
            );
        }
        if full {
            fake.clear_requests();
            let client = RestClient::new(&fake.rest_url(), 1200);
            let t0 = Instant::now();
            let mut done = 0;
            let outcome = loop {
                match fetch(client.clone()).await {
                    Ok(()) => done += 1,
                    Err(e) => break e.to_string(),
                }
                if t0.elapsed() > Duration::from_secs(20) {
                    break "still running after 20 s".to_string();
                }
            };
            let charged: u32 = fake.requests().iter().map(|r| r.weight).sum();
            println!(
                "  back to back on one 1200/min client: {done} backfills ({} candles, weight {charged}) in {:.2} s, then: {outcome}",
                done * BARS,
                t0.elapsed().as_secs_f64(),
            );
        }
        fake.shutdown().await;
    }
}
