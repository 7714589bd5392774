//! Market data through the service: the feed against the fake Hyperliquid,
//! candles in storage, prices in memory, and the market API.

mod common;

use common::{TestApp, eventually, get_json};
use serde_json::Value;
use tradehook_store::backend_test;
use tradehook_testkit::hyperliquid::{FakeConfig, FakeHyperliquid};

fn now_ms() -> i64 {
    tradehook_core::time::now_ms()
}

async fn start_with_fake(db: &tradehook_store::testing::TestDb, fake: &FakeHyperliquid) -> TestApp {
    let (ws, rest) = (fake.ws_url(), fake.rest_url());
    TestApp::start_with(db, move |c| {
        c.market.source = "hyperliquid".into();
        c.market.symbols = "BTC,ETH".into();
        c.market.intervals = "1m".into();
        c.market.initial_backfill_bars = 10;
        c.hyperliquid.ws_url = ws;
        c.hyperliquid.rest_url = rest;
        c.hyperliquid.rest_weight_per_minute = 1200;
    })
    .await
}

backend_test!(candles_prices_and_symbols_come_from_the_feed, |db| {
    let fake = FakeHyperliquid::start(FakeConfig {
        idle_close_after: None,
        ..FakeConfig::default()
    })
    .await;
    // Five finished minutes of history before the service starts.
    let minute = now_ms() - now_ms() % 60_000;
    for i in (1..=5).rev() {
        fake.push_trade_price("BTC", 100.0 + i as f64, minute - i * 60_000 + 1_000);
        fake.push_trade_price("BTC", 100.5 + i as f64, minute - i * 60_000 + 2_000);
    }
    let app = start_with_fake(db, &fake).await;

    let page = eventually(10, "five backfilled candles", || async {
        let page = get_json(&app, "/api/v1/candles?symbol=BTC&interval=1m").await;
        let closed = page["data"]
            .as_array()?
            .iter()
            .filter(|c| c["closed"] == true)
            .count();
        (closed == 5).then_some(page)
    })
    .await;
    let truth = fake.candles("BTC", "1m");
    for (got, want) in page["data"].as_array().unwrap().iter().zip(truth.iter()) {
        assert_eq!(got["t"], want.open_time);
        assert_eq!(got["open"], want.open);
        assert_eq!(got["close"], want.close);
        assert_eq!(got["trades"], want.trades);
    }
    assert_eq!(page["source"], "hyperliquid");

    // Cursor paging walks the same candles.
    let first = get_json(&app, "/api/v1/candles?symbol=BTC&interval=1m&limit=2").await;
    let next = first["next"].as_str().expect("a next cursor");
    let second = get_json(
        &app,
        &format!("/api/v1/candles?symbol=BTC&interval=1m&limit=2&after={next}"),
    )
    .await;
    assert_eq!(second["data"][0]["t"], page["data"][2]["t"]);

    // Prices come from allMids pushes.
    fake.set_mid("BTC", 101_234.5);
    fake.push_all_mids();
    let prices = eventually(10, "a BTC price", || async {
        let p = get_json(&app, "/api/v1/prices").await;
        p["data"]
            .as_array()?
            .iter()
            .find(|x| x["symbol"] == "BTC" && x["price"] == 101_234.5)
            .cloned()
    })
    .await;
    assert_eq!(prices["source"], "hyperliquid");
    assert!(prices["age_ms"].as_i64().unwrap() >= 0);
    let all = get_json(&app, "/api/v1/prices").await;
    assert_eq!(all["feed_connected"], true);
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["symbol"] == "BTC" || p["symbol"] == "ETH"),
        "only followed symbols: {all}"
    );

    let symbols = get_json(&app, "/api/v1/symbols").await;
    let universe: Vec<&str> = symbols["universe"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        universe.contains(&"kPEPE") && !universe.contains(&"MATIC"),
        "delisted left out: {universe:?}"
    );
    assert_eq!(symbols["followed"], serde_json::json!(["BTC", "ETH"]));

    let metrics = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tradehook_feed_frames_total"),
        "feed metrics exported"
    );
    app.stop().await;
    fake.shutdown().await;
});

backend_test!(unknown_symbols_and_bad_parameters_are_refused, |db| {
    let fake = FakeHyperliquid::start(FakeConfig {
        idle_close_after: None,
        ..FakeConfig::default()
    })
    .await;
    let app = start_with_fake(db, &fake).await;
    for (query, code, path) in [
        ("symbol=btc&interval=1m", "symbol_not_found", "symbol"),
        ("symbol=NOPE&interval=1m", "symbol_not_found", "symbol"),
        ("symbol=BTC&interval=1M", "validation_failed", "interval"),
        (
            "symbol=BTC&interval=1m&limit=0",
            "validation_failed",
            "limit",
        ),
        (
            "symbol=BTC&interval=1m&from=yesterday",
            "validation_failed",
            "from",
        ),
        (
            "symbol=BTC&interval=1m&after=x",
            "validation_failed",
            "after",
        ),
    ] {
        let r = app
            .get(&format!("/api/v1/candles?{query}"))
            .header("x-api-key", common::ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        assert_eq!(body["error"]["details"][0]["path"], path, "{query}: {body}");
    }
    // A symbol of the universe that is not followed is known (no candles yet).
    let kpepe = get_json(&app, "/api/v1/candles?symbol=kPEPE&interval=1m").await;
    assert_eq!(kpepe["data"], serde_json::json!([]));
    app.stop().await;
    fake.shutdown().await;
});

backend_test!(a_restart_stores_no_duplicate_and_misses_no_candle, |db| {
    let fake = FakeHyperliquid::start(FakeConfig {
        idle_close_after: None,
        ..FakeConfig::default()
    })
    .await;
    let minute = now_ms() - now_ms() % 60_000;
    for i in (1..=4).rev() {
        fake.push_trade_price("BTC", 200.0 + i as f64, minute - i * 60_000 + 500);
    }
    let app = start_with_fake(db, &fake).await;
    eventually(10, "four candles", || async {
        let p = get_json(&app, "/api/v1/candles?symbol=BTC&interval=1m").await;
        (p["data"]
            .as_array()?
            .iter()
            .filter(|c| c["closed"] == true)
            .count()
            == 4)
            .then_some(())
    })
    .await;
    app.stop().await;
    // The same buckets again on restart: upserted, not duplicated.
    let app = start_with_fake(db, &fake).await;
    // Wait until the new feed has connected.
    eventually(10, "the feed reconnected", || async {
        (get_json(&app, "/api/v1/prices").await["feed_connected"] == true).then_some(())
    })
    .await;
    let p = get_json(&app, "/api/v1/candles?symbol=BTC&interval=1m").await;
    let times: Vec<i64> = p["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["t"].as_i64().unwrap())
        .collect();
    let mut unique = times.clone();
    unique.dedup();
    assert_eq!(times, unique);
    assert!(times.len() >= 4, "{times:?}");
    app.stop().await;
    fake.shutdown().await;
});
