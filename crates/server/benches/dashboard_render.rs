//! Dashboard render benchmark (issue #7: every page under 50 ms on the
//! server with 10,000 rows in the database).
//!
//! Starts the real `App` on SQLite (and on PostgreSQL when
//! `TRADEHOOK_TEST_POSTGRES_URL` is set or `--backends` names it), fills
//! it with `--rows` (default 10,000) rules, alerts, 1m candles, signals
//! with their paper orders and broker calls, and deliveries with their
//! events, signs in, then times each page's full answer over loopback
//! (`--samples` per page after 3 warm-ups; the figure includes the HTTP
//! round trip, so it is an upper bound of the server's own time).
//!
//! `cargo bench -p tradehook-server --bench dashboard_render -- [--rows N]
//! [--samples N] [--backends sqlite,postgres]`

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{Value, json};
use tradehook_feeds::FeedEvent;
use tradehook_server::config::Secret;
use tradehook_server::{App, Config};
use tradehook_store::{CandleRow, NewAlert, NewRule};
use tradehook_testkit::receiver::Receiver;

const SEALING_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const ADMIN: &str = "bench-admin-key";
const TARGET_MS: f64 = 50.0;

struct Args {
    rows: usize,
    samples: usize,
    backends: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        rows: 10_000,
        samples: 30,
        backends: if std::env::var_os("TRADEHOOK_TEST_POSTGRES_URL").is_some() {
            vec!["sqlite".into(), "postgres".into()]
        } else {
            vec!["sqlite".into()]
        },
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut it = raw.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--bench" => {}
            "--rows" => args.rows = it.next().and_then(|v| v.parse().ok()).expect("--rows N"),
            "--samples" => {
                args.samples = it.next().and_then(|v| v.parse().ok()).expect("--samples N")
            }
            "--backends" => {
                args.backends = it
                    .next()
                    .expect("--backends sqlite,postgres")
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn api(client: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let r = client
        .post(format!("{base}{path}"))
        .header("x-api-key", ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn run(backend: &str, args: &Args) -> anyhow::Result<()> {
    let n = args.rows;
    let dir = tempfile::tempdir()?;
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".into();
    // A fresh schema (the store's test helper), kept while this run lasts.
    let pg = match backend {
        "sqlite" => None,
        _ => match tradehook_store::testing::TestDb::postgres("dashboard_render").await {
            Some(db) => Some(db),
            None => {
                println!("{backend}: skipped, no PostgreSQL answered");
                return Ok(());
            }
        },
    };
    config.database_url = match &pg {
        None => format!("sqlite://{}", dir.path().join("ui.db").display()),
        Some(db) => db.url.clone(),
    };
    config.admin_key = Some(Secret::new(ADMIN));
    config.secrets_key = Some(Secret::new(SEALING_KEY));
    config.market.source = "none".into();
    config.market.symbols = "BTC".into();
    config.delivery.allow_http = true;
    config.delivery.allow_networks = "127.0.0.1/32".into();
    // Unlimited: the bench sends hundreds of requests a minute.
    config.rate_limit.anonymous_per_minute = 0;
    config.rate_limit.admin_per_minute = 1_000_000;
    let app = App::build(config).await?;
    let state = app.state().clone();
    let base = format!("http://{}", app.local_addr());
    let token = app.shutdown_token();
    let handle = tokio::spawn(app.run());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let started = Instant::now();

    // An endpoint for every event, at a local receiver.
    let receiver = Receiver::start_counting_only().await;
    let endpoint = api(
        &client,
        &base,
        "/api/v1/endpoints",
        json!({"url": receiver.url("/hook"), "event_types": ["*"]}),
    )
    .await;

    // Rules, one of them fired n times (n alerts, events, deliveries).
    let store = &state.store;
    let mut tx = store.begin().await?;
    for i in 0..n {
        tx.insert_rule(&NewRule {
            id: format!("rul_{:032x}", i + 1),
            name: format!("rule {i}"),
            symbol: "BTC".into(),
            rule_type: "price_threshold".into(),
            config: json!({"operator": ">", "threshold": 1e9 + i as f64}),
            frequency: "once_per_bar".into(),
            cooldown_seconds: 0,
            enabled: true,
            expires_at: None,
            discord_webhook_url: None,
            generic_webhook_url: None,
            created_at: 1_795_392_000_000 + i as i64,
        })
        .await?;
    }
    tx.commit().await?;
    let now = tradehook_core::time::now_ms();
    let last = now - now.rem_euclid(60_000);
    let candles: Vec<CandleRow> = (0..n as i64)
        .map(|i| {
            let p = 100.0 + (i % 50) as f64;
            CandleRow {
                symbol: "BTC".into(),
                interval: "1m".into(),
                open_time: last - (n as i64 - 1 - i) * 60_000,
                open: p,
                high: p + 2.0,
                low: p - 1.0,
                close: p + 1.0,
                volume: 1.0,
                trades: 1,
                closed: true,
            }
        })
        .collect();
    store
        .upsert_candles(&state.market.source, &candles, now)
        .await?;
    futures::stream::iter(0..n as i64)
        .for_each_concurrent(8, |i| {
            let store = store.clone();
            async move {
                let window_start = last - i * 60_000;
                store
                    .fire_alert(
                        &NewAlert {
                            rule_id: format!("rul_{:032x}", 1),
                            window_start,
                            window_end: window_start + 59_999,
                            price: 120.0,
                            indicators: json!({}),
                            feed_ts: window_start + 1_000,
                        },
                        tradehook_core::time::now_ms(),
                        |_, a| {
                            tradehook_delivery::Outbox::event(
                                "alert.triggered",
                                json!({"alert_id": a.id, "rule_id": a.rule_id, "symbol": "BTC"}),
                            )
                        },
                    )
                    .await
                    .expect("an alert");
            }
        })
        .await;

    // A paper bot trading n signals (n orders, fills and broker calls).
    let account = api(
        &client,
        &base,
        "/api/v1/broker-accounts",
        json!({"name": "paper", "kind": "paper", "starting_cash": 1e9}),
    )
    .await;
    let bot = api(
        &client,
        &base,
        "/api/v1/bots",
        json!({"name": "bench", "broker_account_id": account["id"], "allowed_symbols": ["BTCUSD"],
               "settings": {"sizing_mode": "fixed_qty", "fixed_qty": 0.001}}),
    )
    .await;
    state
        .market
        .inject(FeedEvent::Tick {
            symbol: "BTC".into(),
            price: 100.0,
            ts: now,
        })
        .await;
    let hook = format!(
        "{base}/hooks/tradingview/{}",
        bot["token"].as_str().unwrap()
    );
    futures::stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let (client, hook) = (client.clone(), hook.clone());
            async move {
                let action = if i % 2 == 0 { "buy" } else { "sell" };
                let r = client
                    .post(&hook)
                    .header("content-type", "application/json")
                    .body(json!({"ticker": "BTCUSD", "action": action, "time": i}).to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        })
        .await;
    let bot_id = bot["id"].as_str().unwrap().to_string();
    let settle = Instant::now();
    loop {
        let page = store
            .list_signals(&tradehook_store::SignalFilter {
                bot_id: Some(bot_id.clone()),
                status: Some(tradehook_store::SignalStatus::Accepted),
                limit: 1,
                ..Default::default()
            })
            .await?;
        if page.signals.is_empty() || settle.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let want = n * 2;
    while receiver.count() < want && settle.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{backend}: filled with {n} rules, alerts, candles, signals (orders, broker calls) and {} deliveries in {:.1} s (set-up, not measured)",
        receiver.count(),
        started.elapsed().as_secs_f64()
    );

    // Sign in, then find one delivery to open.
    let r = client
        .post(format!("{base}/ui/sign-in"))
        .form(&[("key", ADMIN), ("next", "/ui")])
        .send()
        .await?;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let deliveries: Value = client
        .get(format!(
            "{base}/api/v1/endpoints/{endpoint_id}/deliveries?limit=1"
        ))
        .header("x-api-key", ADMIN)
        .send()
        .await?
        .json()
        .await?;
    let delivery_id = deliveries["data"][0]["id"].as_str().unwrap_or("none");

    let pages = [
        "/ui".to_string(),
        format!("/ui/setup/{bot_id}"),
        "/ui/brokers".into(),
        "/ui/bots".into(),
        format!("/ui/bots/{bot_id}"),
        "/ui/rules".into(),
        "/ui/rules/new?type=macd_cross".into(),
        format!("/ui/rules/rul_{:032x}", 1),
        "/ui/alerts".into(),
        "/ui/alerts?symbol=BTC&interval=1m".into(),
        "/ui/deliveries".into(),
        format!("/ui/deliveries/{endpoint_id}"),
        format!("/ui/deliveries/{endpoint_id}?status=succeeded"),
        format!("/ui/deliveries/{endpoint_id}/{delivery_id}"),
        "/ui/logs".into(),
        format!("/ui/logs/{bot_id}"),
        "/ui/analytics".into(),
    ];
    let mut worst: f64 = 0.0;
    println!(
        "{backend}: page, p50 ms, p95 ms, max ms, bytes (target: every page < {TARGET_MS} ms)"
    );
    for page in &pages {
        let mut times = Vec::with_capacity(args.samples);
        let mut bytes = 0;
        for i in 0..args.samples + 3 {
            let t = Instant::now();
            let r = client
                .get(format!("{base}{page}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            let status = r.status();
            let body = r.bytes().await?;
            let took = t.elapsed();
            assert_eq!(status, 200, "{page}");
            bytes = body.len();
            if i >= 3 {
                times.push(took);
            }
        }
        times.sort();
        let max = times.last().unwrap().as_secs_f64() * 1e3;
        worst = worst.max(percentile(&times, 0.95));
        println!(
            "  {page:<58} {:>7.2} {:>7.2} {:>7.2} {:>8}",
            percentile(&times, 0.50),
            percentile(&times, 0.95),
            max,
            bytes
        );
    }
    println!(
        "{backend}: worst page p95 {worst:.2} ms ({})",
        if worst < TARGET_MS {
            "meets the 50 ms target"
        } else {
            "MISSES the 50 ms target"
        }
    );
    token.cancel();
    handle.await??;
    receiver.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args();
    for backend in args.backends.clone() {
        run(&backend, &args).await?;
    }
    Ok(())
}
