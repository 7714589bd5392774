//! The dashboard's logs and analytics pages over HTTP, driven like a
//! browser (cookies kept, redirects not followed): each renders with data
//! for a session and redirects without one, the JSONL downloads return
//! the lines, filters work, and pages stay under 200 KB.

#![allow(dead_code)]

mod common;

use common::{TestApp, post_json};
use serde_json::{Value, json};
use tradehook_store::testing::TestDb;

use common::browser::Browser;

/// A paper account and a bot on it, through the API; returns the bot.
async fn paper_bot(app: &TestApp, name: &str) -> Value {
    let account = post_json(
        app,
        "/api/v1/broker-accounts",
        &json!({"name": format!("{name}-acct"), "kind": "paper", "starting_cash": 50000}),
    )
    .await;
    assert_eq!(account.status(), 201);
    let account: Value = account.json().await.unwrap();
    let bot = post_json(
        app,
        "/api/v1/bots",
        &json!({"name": name, "broker_account_id": account["id"], "allowed_symbols": ["BTCUSD"], "paused": false}),
    )
    .await;
    assert_eq!(bot.status(), 201);
    bot.json().await.unwrap()
}

async fn signal(app: &TestApp, bot: &Value, symbol: &str) {
    let token = bot["token"].as_str().unwrap();
    let body = format!(
        r#"{{"symbol":"{symbol}","strategy_order_id":"long","strategy_order_action":"buy","strategy_order_contracts":"0.5","strategy_order_price":"100.5"}}"#
    );
    let r = app
        .post(&format!("/hooks/tradingview/{token}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().as_u16() < 500, "{}", r.status());
}

#[tokio::test]
async fn logs_pages_redirect_to_sign_in_without_a_session() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let mut b = Browser::new(&app);
    for path in [
        "/ui/logs",
        "/ui/logs/signals.jsonl",
        "/ui/logs/bot_x",
        "/ui/logs/bot_x/calls.jsonl",
    ] {
        let p = b.get(path).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(p.location.unwrap().starts_with("/ui/sign-in"), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_signal_log_lists_filters_searches_and_downloads() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "logbot").await;
    let other = paper_bot(&app, "otherbot").await;
    signal(&app, &bot, "BTCUSD").await;
    signal(&app, &bot, "DOGEUSD").await;
    signal(&app, &other, "ETHUSD").await;
    let (mut b, _) = Browser::signed_in(&app).await;
    let p = b.get("/ui/logs").await;
    assert_eq!(p.status, 200, "{}", p.html);
    for s in [
        "BTCUSD",
        "DOGEUSD",
        "ETHUSD",
        "logbot",
        "otherbot",
        "Download JSONL",
    ] {
        assert!(p.has(s), "{s} shown");
    }
    assert!(!p.has("Logs is not built yet"));
    assert!(p.html.len() < 200 * 1024);
    let id = bot["id"].as_str().unwrap();
    let p = b.get(&format!("/ui/logs?bot={id}")).await;
    assert!(
        p.has("BTCUSD") && p.has("DOGEUSD") && !p.has("ETHUSD"),
        "bot filter"
    );
    let p = b.get("/ui/logs?symbol=doge").await;
    assert!(
        p.has("DOGEUSD") && !p.has(">BTCUSD<") && !p.has("ETHUSD"),
        "symbol search"
    );
    // Without market prices every signal is rejected (with its reason).
    let p = b.get("/ui/logs?status=rejected").await;
    assert!(
        p.has("DOGEUSD") && p.has("no market price for BTCUSD"),
        "status filter"
    );
    let p = b.get("/ui/logs?status=executed").await;
    assert!(p.has("No signals match."));
    let dl = b.get(&format!("/ui/logs/signals.jsonl?bot={id}")).await;
    assert_eq!(dl.status, 200);
    let lines: Vec<Value> = dl
        .html
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["bot_id"] == id));
    app.stop().await;
}

#[tokio::test]
async fn the_broker_call_log_pages_and_downloads_with_the_session() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "callbot").await;
    let id = bot["id"].as_str().unwrap();
    let calls: Vec<tradehook_store::NewBrokerCall> = (0..60)
        .map(|i| tradehook_store::NewBrokerCall {
            bot_id: Some(id.to_string()),
            broker_account_id: bot["broker_account_id"].as_str().unwrap().to_string(),
            method: "POST".into(),
            path: format!("/v2/orders/{i}"),
            status: Some(if i == 59 { 500 } else { 200 }),
            latency_ms: 10 + i,
            request: None,
            response: None,
            error: (i == 59).then(|| "boom upstream".to_string()),
            created_at: 1_795_392_000_000 + i * 1000,
        })
        .collect();
    db.store.insert_broker_calls(&calls).await.unwrap();
    let (mut b, _) = Browser::signed_in(&app).await;
    let p = b.get(&format!("/ui/logs/{id}")).await;
    assert_eq!(p.status, 200, "{}", p.html);
    assert!(p.has("/v2/orders/59") && p.has("boom upstream") && p.has("69 ms"));
    assert!(!p.has("/v2/orders/5<"), "the first page holds 50 calls");
    assert!(p.html.len() < 200 * 1024);
    let at = p.html.find("?cursor=").expect("a next page link");
    let rest = &p.html[at..];
    let href = format!("/ui/logs/{id}{}", &rest[..rest.find('"').unwrap()]).replace("&amp;", "&");
    let older = b.get(&href).await;
    assert_eq!(older.status, 200);
    assert!(older.has("/v2/orders/5<") && !older.has("/v2/orders/59"));
    let dl = b.get(&format!("/ui/logs/{id}/calls.jsonl")).await;
    assert_eq!(dl.status, 200);
    let lines: Vec<Value> = dl
        .html
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 60);
    assert_eq!(lines[0]["path"], "/v2/orders/0");
    assert_eq!(b.get("/ui/logs/bot_nope/calls.jsonl").await.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn analytics_redirects_without_a_session() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let p = Browser::new(&app).get("/ui/analytics").await;
    assert_eq!(p.status, 303);
    assert!(p.location.unwrap().starts_with("/ui/sign-in"));
    app.stop().await;
}

#[tokio::test]
async fn analytics_draws_a_bounded_equity_curve_and_the_histograms() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "curvebot").await;
    let id = bot["id"].as_str().unwrap();
    for i in 0..2000i64 {
        db.store
            .insert_equity_snapshot(&tradehook_store::EquitySnapshot {
                bot_id: id.to_string(),
                ts: 1_795_392_000_000 + i * 60_000,
                equity: format!("{}", 50_000 + (i % 97) * 10),
                cash: "50000".into(),
                positions: json!([]),
            })
            .await
            .unwrap();
    }
    // The bounded reads run (and are empty) on this backend.
    assert!(db.store.recent_attempt_stats(10).await.unwrap().is_empty());
    assert!(db.store.recent_signal_to_fill(10).await.unwrap().is_empty());
    assert_eq!(db.store.recent_equity(id, 500).await.unwrap().len(), 500);
    let (mut b, _) = Browser::signed_in(&app).await;
    let p = b.get("/ui/analytics").await;
    assert_eq!(p.status, 200, "{}", p.html);
    assert!(p.has("curvebot") && p.has("Last 500 snapshots"));
    let at = p.html.find("points=\"").unwrap();
    let rest = &p.html[at + 8..];
    let points = rest[..rest.find('"').unwrap()].split(' ').count();
    assert_eq!(points, 500, "the curve is bounded");
    assert!(p.has("Alerts: feed to commit") && p.has("Signal to fill"));
    assert!(p.has("No delivery attempts yet."));
    assert!(!p.has("Analytics is not built yet"));
    assert!(p.html.len() < 200 * 1024);
    app.stop().await;
}

#[tokio::test]
async fn the_bounded_analytics_reads_run_on_postgres() {
    let Some(db) = TestDb::postgres("dashboard_more_stats").await else {
        return;
    };
    assert!(
        db.store
            .recent_equity("bot_x", 500)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(db.store.recent_attempt_stats(10).await.unwrap().is_empty());
    assert!(db.store.recent_signal_to_fill(10).await.unwrap().is_empty());
    db.cleanup().await;
}
