//! Rule engine benchmarks against the real store and app (the in-memory
//! engine has its own criterion benches in `crates/rules/benches`).
//!
//! * `load`: 1,000,000 active threshold rules over 100 symbols stored in
//!   SQLite; the time for what the evaluator does at start: read every
//!   live rule (`Store::load_active_rules`) and build the engine.
//! * `latency`: the real `App` on SQLite with market events injected one at
//!   a time; each event fires one rule. Latency = from handing the event
//!   to the market until the alert, its event and deliveries are
//!   committed (the outbox's commit notification), on one clock.
//!
//! `cargo bench -p tradehook-server --bench rules -- [--rules N]
//! [--samples N] [--scenarios load,latency]`

use std::time::{Duration, Instant};

use serde_json::json;
use tradehook_feeds::FeedEvent;
use tradehook_rules::Engine;
use tradehook_server::config::Secret;
use tradehook_server::evaluator::engine_rule;
use tradehook_server::{App, Config};
use tradehook_store::{NewRule, Store, StoreOptions};

const SEALING_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

struct Args {
    rules: usize,
    samples: usize,
    load: bool,
    latency: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        rules: 1_000_000,
        samples: 2_000,
        load: true,
        latency: true,
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut it = raw.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--bench" => {}
            "--rules" => args.rules = it.next().and_then(|v| v.parse().ok()).expect("--rules N"),
            "--samples" => {
                args.samples = it.next().and_then(|v| v.parse().ok()).expect("--samples N")
            }
            "--scenarios" => {
                let v = it.next().expect("--scenarios load,latency");
                args.load = v.contains("load");
                args.latency = v.contains("latency");
            }
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn load(n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("rules.db").display());
    let store = Store::connect(&url, &StoreOptions::default()).await?;
    store.migrate().await?;
    let started = Instant::now();
    let ops = [
        ">=",
        ">",
        "<=",
        "<",
        "crossing",
        "crossing_up",
        "crossing_down",
    ];
    let mut written = 0;
    while written < n {
        let mut tx = store.begin().await?;
        for i in written..(written + 20_000).min(n) {
            let symbol = format!("S{:03}", i % 100);
            let threshold = 1_000.0 + (i as f64 * 7.31) % 9_000.0;
            tx.insert_rule(&NewRule {
                id: format!("rul_{:032x}", i + 1),
                name: format!("rule {i}"),
                symbol,
                rule_type: "price_threshold".into(),
                config: json!({"operator": ops[i % ops.len()], "threshold": threshold}),
                frequency: "once_per_bar".into(),
                cooldown_seconds: 0,
                enabled: true,
                expires_at: None,
                discord_webhook_url: None,
                generic_webhook_url: None,
                created_at: 1_795_392_000_000,
            })
            .await?;
        }
        tx.commit().await?;
        written = (written + 20_000).min(n);
    }
    println!(
        "load: stored {n} rules in {:.1} s (set-up, not measured)",
        started.elapsed().as_secs_f64()
    );
    for run in 1..=3 {
        let started = Instant::now();
        let rows = store.load_active_rules().await?;
        let read = started.elapsed();
        let mut engine = Engine::new();
        for r in &rows {
            if let Some(rule) = engine_rule(r) {
                engine.upsert(rule);
            }
        }
        let total = started.elapsed();
        assert_eq!(engine.len(), n);
        println!(
            "load run {run}: {n} rules read in {:.2} s, engine built in {:.2} s, total {:.2} s (target ≤ 5 s)",
            read.as_secs_f64(),
            (total - read).as_secs_f64(),
            total.as_secs_f64()
        );
    }
    store.close().await;
    Ok(())
}

async fn latency(samples: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".into();
    config.database_url = format!("sqlite://{}", dir.path().join("latency.db").display());
    config.admin_key = Some(Secret::new("bench-admin-key"));
    config.secrets_key = Some(Secret::new(SEALING_KEY));
    config.market.source = "none".into();
    config.market.symbols = "BTC".into();
    let app = App::build(config).await?;
    let state = app.state().clone();
    // One every-time rule: every tick above 1 fires it, in its own window.
    state
        .store
        .insert_rule(
            &NewRule {
                id: format!("rul_{:032x}", 1),
                name: "latency".into(),
                symbol: "BTC".into(),
                rule_type: "price_threshold".into(),
                config: json!({"operator": ">", "threshold": 1.0}),
                frequency: "every_time".into(),
                cooldown_seconds: 0,
                enabled: true,
                expires_at: None,
                discord_webhook_url: None,
                generic_webhook_url: None,
                created_at: 0,
            },
            &[],
        )
        .await?;
    let token = app.shutdown_token();
    let handle = tokio::spawn(app.run());
    let mut committed = state.outbox.subscribe();
    let start = tradehook_core::time::now_ms();
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples + 100 {
        let ts = start + i as i64;
        let before = *committed.borrow_and_update();
        let started = Instant::now();
        state
            .market
            .inject(FeedEvent::Tick {
                symbol: "BTC".into(),
                price: 2.0,
                ts,
            })
            .await;
        tokio::time::timeout(Duration::from_secs(5), async {
            while *committed.borrow_and_update() <= before {
                committed.changed().await.expect("outbox open");
            }
        })
        .await?;
        if i >= 100 {
            lat.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    lat.sort();
    println!(
        "latency (SQLite, feed event → committed alert + event + deliveries, {samples} samples): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 ≤ 5 ms)",
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.90).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3,
    );
    token.cancel();
    handle.await??;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        if args.load {
            load(args.rules).await?;
        }
        if args.latency {
            latency(args.samples).await?;
        }
        Ok(())
    })
}
