//! `tradehook backfill` against the fake Hyperliquid: fills, resumes, reports.

use std::process::Command;

use tradehook_store::CandleQuery;
use tradehook_store::testing::TestDb;
use tradehook_testkit::hyperliquid::{FakeConfig, FakeHyperliquid};

fn backfill(db_url: &str, rest: &str, since: &str, until: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tradehook"))
        .args([
            "backfill",
            "--symbol",
            "BTC",
            "--interval",
            "1m",
            "--since",
            since,
            "--until",
            until,
        ])
        .env("TRADEHOOK_DATABASE_URL", db_url)
        .env("TRADEHOOK_HYPERLIQUID_REST_URL", rest)
        .env("TRADEHOOK_HYPERLIQUID_REST_WEIGHT_PER_MINUTE", "1200")
        .env("TRADEHOOK_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_fills_history_and_resumes_where_it_stopped() {
    let db = TestDb::sqlite().await;
    let fake = FakeHyperliquid::start(FakeConfig {
        idle_close_after: None,
        ..FakeConfig::default()
    })
    .await;
    // Three hours ago, on a minute boundary: these candles have closed.
    let now = tradehook_core::time::now_ms();
    let base: i64 = now - now % 60_000 - 180 * 60_000;
    for i in 0..120 {
        fake.push_trade_price("BTC", 100.0 + i as f64 * 0.1, base + i * 60_000 + 1_000);
    }
    let rest = fake.rest_url();
    let (db_url, rest2) = (db.url.clone(), rest.clone());
    let first = tokio::task::spawn_blocking(move || {
        backfill(
            &db_url,
            &rest2,
            &base.to_string(),
            &(base + 60 * 60_000).to_string(),
        )
    })
    .await
    .unwrap();
    assert!(first.contains("backfilled 60 BTC 1m candles"), "{first}");

    let (db_url, rest2) = (db.url.clone(), rest.clone());
    let second = tokio::task::spawn_blocking(move || {
        backfill(
            &db_url,
            &rest2,
            &base.to_string(),
            &(base + 120 * 60_000).to_string(),
        )
    })
    .await
    .unwrap();
    assert!(
        second.contains("backfilled 60 BTC 1m candles"),
        "resumed after the first hour: {second}"
    );

    let rows = db
        .store
        .list_candles(&CandleQuery {
            source: "hyperliquid".into(),
            symbol: "BTC".into(),
            interval: "1m".into(),
            from: None,
            to: None,
            after: None,
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 120);
    let truth = fake.candles("BTC", "1m");
    for (r, t) in rows.iter().zip(truth.iter()) {
        assert_eq!(
            (r.open_time, r.close, r.trades),
            (t.open_time, t.close, t.trades as i64)
        );
    }
    fake.shutdown().await;
}
