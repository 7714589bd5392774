//! Exactly-once alerts: two evaluators on one PostgreSQL, and a restart in
//! the middle of a replay, each compared with one uninterrupted evaluator.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{ADMIN_KEY, TestApp, eventually, get_json, post_json};
use serde_json::{Value, json};
use tradehook_core::time::now_ms;
use tradehook_feeds::FeedEvent;
use tradehook_store::testing::TestDb;
use tradehook_store::{CandleQuery, NewRule, Store};

/// 2026-11-23T00:00:00Z.
const T0: i64 = 1_795_392_000_000;

/// (rule id, window start, window end, price) of every alert, sentinels
/// left out.
type AlertSet = BTreeSet<(String, i64, i64, String)>;

fn rule(id: &str, symbol: &str, rule_type: &str, config: Value, frequency: &str) -> NewRule {
    NewRule {
        id: id.into(),
        name: id.into(),
        symbol: symbol.into(),
        rule_type: rule_type.into(),
        config,
        frequency: frequency.into(),
        cooldown_seconds: 0,
        enabled: true,
        expires_at: None,
        discord_webhook_url: None,
        generic_webhook_url: None,
        created_at: T0 - 86_400_000,
    }
}

fn rid(n: u32) -> String {
    format!("rul_{n:032x}")
}

async fn insert(store: &Store, rules: &[NewRule]) {
    for r in rules {
        store.insert_rule(r, &[]).await.unwrap();
    }
}

async fn alert_set(store: &Store) -> AlertSet {
    let mut out = AlertSet::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_alerts(&tradehook_store::AlertFilter {
                cursor: cursor.clone(),
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap();
        for a in page.alerts {
            if a.symbol != "SOL" {
                out.insert((
                    a.rule_id,
                    a.window_start,
                    a.window_end,
                    format!("{:.6}", a.price),
                ));
            }
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => return out,
        }
    }
}

/// Waits until `app`'s evaluator has handled everything injected or
/// replayed so far: a rule of its own fires on a tick only it receives.
/// Events are evaluated in order and alerts committed in order, so every
/// earlier alert of this evaluator is committed by then.
async fn drained(app: &TestApp) {
    let response = post_json(
        app,
        "/api/v1/rules",
        &json!({"name": "sentinel", "symbol": "SOL", "rule_type": "price_threshold",
                "config": {"operator": ">", "threshold": 1.0}, "frequency": "every_time"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ts = now_ms();
    eventually(20, "the sentinel fires", || {
        ts += 1;
        let ts = ts;
        let id = id.clone();
        async move {
            app.state
                .market
                .inject(FeedEvent::Tick {
                    symbol: "SOL".into(),
                    price: 2.0,
                    ts,
                })
                .await;
            let alerts = get_json(app, &format!("/api/v1/alerts?rule_id={id}")).await;
            (!alerts["data"].as_array().unwrap().is_empty()).then_some(())
        }
    })
    .await;
    let response = app
        .delete(&format!("/api/v1/rules/{id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

fn tick_rules() -> Vec<NewRule> {
    vec![
        rule(
            &rid(1),
            "BTC",
            "price_threshold",
            json!({"operator": "crossing", "threshold": 100.0}),
            "every_time",
        ),
        rule(
            &rid(2),
            "BTC",
            "price_threshold",
            json!({"operator": ">=", "threshold": 100.0}),
            "once_per_minute",
        ),
        rule(
            &rid(3),
            "BTC",
            "price_threshold",
            json!({"operator": "crossing_up", "threshold": 101.0}),
            "once_per_bar",
        ),
        rule(
            &rid(4),
            "BTC",
            "price_alert",
            json!({"condition": "above", "target_price": 104.0}),
            "once",
        ),
        rule(
            &rid(5),
            "BTC",
            "percent_move",
            json!({"percent": 3.0, "window_seconds": 60, "direction": "either"}),
            "once_per_bar",
        ),
        rule(
            &rid(6),
            "BTC",
            "channel",
            json!({"lower": 98.0, "upper": 102.0, "event": "exiting"}),
            "every_time",
        ),
        rule(
            &rid(7),
            "ETH",
            "price_threshold",
            json!({"operator": "crossing_down", "threshold": 50.0}),
            "every_time",
        ),
    ]
}

/// Four minutes of ticks that cross every level several times.
fn ticks() -> Vec<FeedEvent> {
    let btc = [
        99.0, 100.5, 99.5, 101.5, 97.0, 103.0, 100.0, 98.5, 105.0, 99.0, 102.5, 96.0, 101.0, 100.0,
        104.5, 99.9, 100.1, 97.5, 103.5, 100.0,
    ];
    let mut out = Vec::new();
    for (i, p) in btc.iter().enumerate() {
        let ts = T0 + i as i64 * 12_000;
        out.push(FeedEvent::Tick {
            symbol: "BTC".into(),
            price: *p,
            ts,
        });
        out.push(FeedEvent::Tick {
            symbol: "ETH".into(),
            price: if i % 2 == 0 { 51.0 } else { 49.0 },
            ts: ts + 1,
        });
    }
    out
}

async fn feed(app: &TestApp, events: &[FeedEvent]) {
    for e in events {
        app.state.market.inject(e.clone()).await;
    }
}

#[tokio::test]
async fn two_evaluators_on_one_postgresql_write_exactly_one_alert_per_window() {
    let Some(db) =
        TestDb::postgres("two_evaluators_on_one_postgresql_write_exactly_one_alert_per_window")
            .await
    else {
        return;
    };
    // The reference: one evaluator over the same rules and feed.
    let reference_db = TestDb::sqlite().await;
    insert(&reference_db.store, &tick_rules()).await;
    let reference = TestApp::start(&reference_db).await;
    feed(&reference, &ticks()).await;
    drained(&reference).await;
    let expected = alert_set(&reference_db.store).await;
    reference.stop().await;
    assert!(expected.len() >= 20, "the feed fires plenty: {expected:?}");

    insert(&db.store, &tick_rules()).await;
    let a = TestApp::start(&db).await;
    let b = TestApp::start(&db).await;
    let events = ticks();
    tokio::join!(feed(&a, &events), feed(&b, &events));
    drained(&a).await;
    drained(&b).await;
    let got = alert_set(&db.store).await;
    assert_eq!(
        got, expected,
        "one alert per window, the same as one evaluator"
    );

    // One event per alert, and one delivery per event to a subscriber.
    let events = get_json(
        &a,
        "/api/v1/events?type=alert.triggered,price_alert.triggered&limit=500",
    )
    .await;
    let fired: Vec<&Value> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["symbol"] != "SOL")
        .collect();
    assert_eq!(fired.len(), expected.len(), "no event without its alert");
    let once = get_json(&a, &format!("/api/v1/rules/{}", rid(4))).await;
    assert_eq!(once["status"], "triggered");
    a.stop().await;
    b.stop().await;
    db.cleanup().await;
}

/// 1-minute candles: a slow wave with a few sharp moves, so RSI, MACD,
/// Bollinger Bands and the price levels all cross several times.
fn candles(n: usize) -> Vec<(i64, f64, f64, f64, f64)> {
    let mut out = Vec::new();
    let mut prev: f64 = 100.0;
    for i in 0..n {
        let x = i as f64;
        let close = 100.0
            + 6.0 * (x / 9.0).sin()
            + 2.5 * (x / 2.3).cos()
            + if i % 37 == 0 { 4.0 } else { 0.0 };
        let open = prev;
        let high = open.max(close) + 0.4 + (x / 3.0).sin().abs();
        let low = open.min(close) - 0.4 - (x / 5.0).cos().abs();
        out.push((T0 + i as i64 * 60_000, open, high, low, close));
        prev = close;
    }
    out
}

fn write_csv(path: &Path, rows: &[(i64, f64, f64, f64, f64)]) {
    let mut text = String::from("symbol,interval,time,open,high,low,close,volume\n");
    for (t, o, h, l, c) in rows {
        text.push_str(&format!("BTC,1m,{t},{o:.6},{h:.6},{l:.6},{c:.6},1.0\n"));
    }
    std::fs::write(path, text).unwrap();
}

fn candle_rules() -> Vec<NewRule> {
    vec![
        rule(
            &rid(11),
            "BTC",
            "rsi",
            json!({"period": 14, "interval": "1m", "threshold": 60.0, "direction": "overbought"}),
            "once_per_bar",
        ),
        rule(
            &rid(12),
            "BTC",
            "rsi",
            json!({"period": 14, "interval": "1m", "threshold": 40.0, "direction": "oversold"}),
            "once_per_bar",
        ),
        rule(
            &rid(13),
            "BTC",
            "macd_cross",
            json!({"fast": 12, "slow": 26, "signal": 9, "interval": "1m", "direction": "bullish"}),
            "once_per_bar",
        ),
        rule(
            &rid(14),
            "BTC",
            "macd_cross",
            json!({"fast": 12, "slow": 26, "signal": 9, "interval": "1m", "direction": "bearish"}),
            "once_per_bar",
        ),
        rule(
            &rid(15),
            "BTC",
            "bollinger_bands",
            json!({"period": 20, "std_dev": 1.5, "interval": "1m", "band": "upper", "event": "touch"}),
            "once_per_bar",
        ),
        rule(
            &rid(16),
            "BTC",
            "bollinger_bands",
            json!({"period": 20, "std_dev": 1.5, "interval": "1m", "band": "lower", "event": "break"}),
            "once_per_bar",
        ),
        rule(
            &rid(17),
            "BTC",
            "candle_close",
            json!({"interval": "1m", "operator": "crossing_up", "value": 103.0}),
            "once_per_bar",
        ),
        rule(
            &rid(18),
            "BTC",
            "price_threshold",
            json!({"operator": "crossing", "threshold": 99.0}),
            "every_time",
        ),
        rule(
            &rid(19),
            "BTC",
            "price_threshold",
            json!({"operator": "<", "threshold": 95.0}),
            "once_per_bar",
        ),
    ]
}

/// Replays `file` into `db` until every candle is stored and evaluated.
async fn replay(db: &TestDb, file: &Path, last_open: i64) {
    let app = TestApp::start_with(db, |c| {
        c.market.source = "replay".into();
        c.market.replay_file = file.display().to_string();
        c.market.replay_speed = 0.0;
        c.market.symbols = "BTC,SOL".into();
    })
    .await;
    let store = db.store.clone();
    eventually(30, "the replay is stored", || {
        let store = store.clone();
        async move {
            let rows = store
                .latest_candles(&CandleQuery {
                    source: "replay".into(),
                    symbol: "BTC".into(),
                    interval: "1m".into(),
                    from: None,
                    to: None,
                    after: None,
                    limit: 1,
                })
                .await
                .unwrap();
            rows.last()
                .is_some_and(|c| c.open_time == last_open && c.closed)
                .then_some(())
        }
    })
    .await;
    drained(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_replay_misses_nothing_and_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rows = candles(240);
    let (whole, first, second) = (
        dir.path().join("whole.csv"),
        dir.path().join("first.csv"),
        dir.path().join("second.csv"),
    );
    write_csv(&whole, &rows);
    write_csv(&first, &rows[..130]);
    write_csv(&second, &rows[130..]);
    let last = rows.last().unwrap().0;

    let uninterrupted = TestDb::sqlite().await;
    insert(&uninterrupted.store, &candle_rules()).await;
    replay(&uninterrupted, &whole, last).await;
    let expected = alert_set(&uninterrupted.store).await;
    for n in 11..=19 {
        assert!(
            expected.iter().any(|a| a.0 == rid(n)),
            "rule {n:x} fires in the replay, so the comparison means something: {expected:?}"
        );
    }

    let restarted = TestDb::sqlite().await;
    insert(&restarted.store, &candle_rules()).await;
    replay(&restarted, &first, rows[129].0).await;
    replay(&restarted, &second, last).await;
    let got = alert_set(&restarted.store).await;
    let missed: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed {missed:?}, extra {extra:?}"
    );
}

#[tokio::test]
async fn a_rule_created_on_one_replica_evaluates_on_another_within_a_second() {
    let db = TestDb::sqlite().await;
    let a = TestApp::start(&db).await;
    let b = TestApp::start(&db).await;
    let response = post_json(
        &a,
        "/api/v1/rules",
        &json!({"name": "made on a", "symbol": "ETH", "rule_type": "price_threshold",
                "config": {"operator": ">=", "threshold": 10.0}, "frequency": "every_time"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let created = std::time::Instant::now();
    // Ticks reach only b; b learns the rule from the database by polling.
    let mut ts = T0;
    eventually(5, "b fires the rule made on a", || {
        ts += 1;
        let ts = ts;
        let (b, id) = (&b, id.clone());
        async move {
            b.state
                .market
                .inject(FeedEvent::Tick {
                    symbol: "ETH".into(),
                    price: 11.0,
                    ts,
                })
                .await;
            let alerts = get_json(b, &format!("/api/v1/alerts?rule_id={id}")).await;
            (!alerts["data"].as_array().unwrap().is_empty()).then_some(())
        }
    })
    .await;
    // rules.poll_interval_ms is 500; allow for a slow machine.
    assert!(
        created.elapsed() < std::time::Duration::from_millis(1500),
        "applied after {:?}",
        created.elapsed()
    );
    a.stop().await;
    b.stop().await;
}
