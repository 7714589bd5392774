//! The Hyperliquid fake's `POST /info` over real HTTP: reply shapes,
//! `candleSnapshot` inclusivity, paging, caps and history, errors, and
//! weights.

mod hyperliquid_support;

use hyperliquid_support::{info, info_raw};
use serde_json::{Value, json};
use tradehook_testkit::hyperliquid::{Candle, FakeConfig, FakeHyperliquid};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// A 1m boundary.
const T0: i64 = 1_787_195_100_000;

/// `n` consecutive 1m BTC candles from `T0` with distinct closes.
fn minutes(n: i64) -> Vec<Candle> {
    (0..n)
        .map(|i| {
            let mut c = Candle::flat("BTC", "1m", T0 + i * MINUTE, 60_000.0 + i as f64 * 0.5);
            c.volume = 0.001 * i as f64;
            c.trades = i as u64;
            c
        })
        .collect()
}

fn snapshot_body(interval: &str, start: i64, end: Option<i64>) -> Value {
    let mut req = json!({"coin": "BTC", "interval": interval, "startTime": start});
    if let Some(end) = end {
        req["endTime"] = json!(end);
    }
    json!({"type": "candleSnapshot", "req": req})
}

async fn snapshot(fake: &FakeHyperliquid, start: i64, end: Option<i64>) -> Vec<Candle> {
    let (status, body) = info(fake, snapshot_body("1m", start, end)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn start(config: FakeConfig) -> FakeHyperliquid {
    FakeHyperliquid::start(config).await
}

#[tokio::test]
async fn all_mids_is_a_bare_map_of_decimal_strings() {
    let fake = start(FakeConfig {
        big_all_mids: true,
        ..FakeConfig::default()
    })
    .await;
    fake.push_trade_price("ETH", 3512.0, T0);
    let (status, mids) = info(&fake, json!({"type": "allMids"})).await;
    assert_eq!(status, 200);
    let mids = mids.as_object().expect("a bare map, no `mids` wrapper");
    assert!(!mids.contains_key("mids"));
    assert!((1_050..=1_150).contains(&mids.len()), "{}", mids.len());
    assert_eq!(mids["ETH"], "3512.0");
    assert_eq!(mids["kPEPE"], "0.012345");
    assert!(mids.values().all(Value::is_string));
}

#[tokio::test]
async fn meta_lists_the_universe_with_its_delisted_entry() {
    let fake = start(FakeConfig::default()).await;
    let (status, meta) = info(&fake, json!({"type": "meta"})).await;
    assert_eq!(status, 200);
    let universe = meta["universe"].as_array().unwrap();
    let names: Vec<&str> = universe
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["BTC", "ETH", "SOL", "kPEPE", "MATIC"]);
    assert_eq!(universe[0]["szDecimals"], 5);
    assert_eq!(universe[0]["maxLeverage"], 40);
    assert!(universe[0].get("isDelisted").is_none());
    assert_eq!(universe[4]["isDelisted"], true);
    assert_eq!(meta["marginTables"], json!([]));
    assert_eq!(meta["collateralToken"], 0);
}

#[tokio::test]
async fn a_range_includes_the_buckets_containing_both_ends() {
    let fake = start(FakeConfig::default()).await;
    fake.seed_history("BTC", "1m", minutes(10));
    // From the middle of bucket 2 to the middle of bucket 5.
    let got = snapshot(&fake, T0 + 2 * MINUTE + 30_000, Some(T0 + 5 * MINUTE + 1)).await;
    let ts: Vec<i64> = got.iter().map(|c| c.open_time).collect();
    assert_eq!(ts, (2..=5).map(|i| T0 + i * MINUTE).collect::<Vec<_>>());
    assert_eq!(got, fake.candles("BTC", "1m")[2..=5]);
}

#[tokio::test]
async fn the_official_sdk_fixture_range_gives_24_hourly_candles() {
    let fake = start(FakeConfig::default()).await;
    let first = 1_684_699_200_000 - 5 * HOUR;
    let hours = (0..40)
        .map(|i| Candle::flat("BTC", "1h", first + i * HOUR, 27_000.0))
        .collect();
    fake.seed_history("BTC", "1h", hours);
    let (_, body) = info(
        &fake,
        snapshot_body("1h", 1_684_702_007_000, Some(1_684_784_807_000)),
    )
    .await;
    let got = body.as_array().unwrap();
    assert_eq!(got.len(), 24);
    assert_eq!(got[0]["t"], 1_684_699_200_000_i64);
    assert_eq!(got[23]["t"], 1_684_782_000_000_i64);
}

#[tokio::test]
async fn paging_from_the_last_open_time_returns_the_ground_truth_exactly() {
    let fake = start(FakeConfig {
        snapshot_cap: 700,
        ..FakeConfig::default()
    })
    .await;
    fake.seed_history("BTC", "1m", minutes(3_000));
    fake.push_trade_price("BTC", 61_000.0, T0 + 3_000 * MINUTE + 5);
    let end = T0 + 3_000 * MINUTE + 10;

    let mut got: Vec<Candle> = Vec::new();
    let mut from = T0;
    loop {
        let page = snapshot(&fake, from, Some(end)).await;
        let Some(last) = page.last() else { break };
        from = last.open_time + MINUTE;
        got.extend(page);
        if from > end {
            break;
        }
    }
    assert_eq!(got, fake.candles("BTC", "1m"), "no gaps, no duplicates");
    assert_eq!(got.len(), 3_001, "the open bucket is served too");
    let items: Vec<Option<usize>> = fake.requests().iter().map(|r| r.items).collect();
    assert_eq!(items, [700, 700, 700, 700, 201].map(Some));
}

#[tokio::test]
async fn one_reply_holds_at_most_the_cap_oldest_first() {
    let fake = start(FakeConfig {
        history_limit: 10_000,
        ..FakeConfig::default()
    })
    .await;
    fake.seed_history("BTC", "1m", minutes(6_000));
    let got = snapshot(&fake, 0, None).await;
    assert_eq!(got.len(), 5_000);
    assert_eq!(got[0].open_time, T0);
    assert_eq!(got[4_999].open_time, T0 + 4_999 * MINUTE);
}

#[tokio::test]
async fn only_the_most_recent_history_limit_candles_exist() {
    let fake = start(FakeConfig::default()).await;
    fake.seed_history("BTC", "1m", minutes(6_000));
    let got = snapshot(&fake, 0, None).await;
    assert_eq!(got.len(), 5_000);
    assert_eq!(got[0].open_time, T0 + 1_000 * MINUTE);
    assert!(
        snapshot(&fake, T0, Some(T0 + 999 * MINUTE))
            .await
            .is_empty()
    );
    assert_eq!(
        fake.candles("BTC", "1m").len(),
        6_000,
        "ground truth keeps all"
    );
}

#[tokio::test]
async fn bad_requests_get_json_errors_with_code_and_msg() {
    let fake = start(FakeConfig::default()).await;
    let cases = [
        ("{not json".to_owned(), 400, "bad_request"),
        (json!({"type": "nope"}).to_string(), 400, "bad_request"),
        (snapshot_body("2m", T0, None).to_string(), 400, "bad_request"),
        (json!({"type": "candleSnapshot", "coin": "BTC"}).to_string(), 400, "bad_request"),
        (
            json!({"type": "candleSnapshot", "req": {"coin": "btc", "interval": "1m", "startTime": T0}})
                .to_string(),
            422,
            "unknown_coin",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let (status, reply) = info_raw(&fake, body.clone()).await;
        assert_eq!(status, want_status, "{body}: {reply}");
        assert_eq!(reply["code"], want_code, "{body}");
        assert!(reply["msg"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn requests_over_the_weight_budget_get_429() {
    let fake = start(FakeConfig {
        rest_weight_per_minute: Some(100),
        ..FakeConfig::default()
    })
    .await;
    for _ in 0..5 {
        assert_eq!(info(&fake, json!({"type": "meta"})).await.0, 200);
    }
    let (status, body) = info(&fake, json!({"type": "allMids"})).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "rate_limited");
    let weights: Vec<(u32, u16)> = fake
        .requests()
        .iter()
        .map(|r| (r.weight, r.status))
        .collect();
    assert_eq!(
        weights,
        [
            (20, 200),
            (20, 200),
            (20, 200),
            (20, 200),
            (20, 200),
            (0, 429)
        ]
    );

    fake.clear_requests();
    assert_eq!(info(&fake, json!({"type": "allMids"})).await.0, 200);
    assert_eq!(fake.requests()[0].weight, 2);
}

#[tokio::test]
async fn a_candle_snapshot_weighs_more_the_more_it_returns() {
    let fake = start(FakeConfig {
        rest_weight_per_minute: Some(250),
        ..FakeConfig::default()
    })
    .await;
    fake.seed_history("BTC", "1m", minutes(5_000));
    snapshot(&fake, 0, None).await;
    snapshot(&fake, T0, Some(T0 + 59 * MINUTE)).await;
    snapshot(&fake, T0, Some(T0 + 60 * MINUTE)).await;
    snapshot(&fake, 0, Some(0)).await;
    let weights: Vec<u32> = fake.requests().iter().map(|r| r.weight).collect();
    assert_eq!(weights, [20 + 84, 21, 22, 20]);
    let (status, _) = info(&fake, snapshot_body("1m", 0, None)).await;
    assert_eq!(status, 429, "250 − 167 used leaves no room for another 104");
}
