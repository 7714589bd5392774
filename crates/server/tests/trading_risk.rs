//! The risk upkeep: orphaned SL/TP cleanup, the global SL/TP circuit
//! breaker and equity history. The loops' one-pass functions are called
//! directly instead of waiting for their intervals.

mod common;

use common::{TestApp, eventually, patch_json, post_json};
use serde_json::{Value, json};
use tradehook_feeds::FeedEvent;
use tradehook_server::risk::{self, Breaker};
use tradehook_store::testing::TestDb;
use tradehook_store::{BotRecord, EventFilter, OrderFilter, OrderRecord};

async fn paper_bot(app: &TestApp, settings: Value) -> Value {
    let account = post_json(
        app,
        "/api/v1/broker-accounts",
        &json!({"name": "paper", "kind": "paper", "starting_cash": 100000}),
    )
    .await;
    assert_eq!(account.status(), 201);
    let account: Value = account.json().await.unwrap();
    let body = json!({
        "name": "trend",
        "broker_account_id": account["id"],
        "allowed_symbols": ["BTCUSD"],
        "settings": settings,
    });
    let bot = post_json(app, "/api/v1/bots", &body).await;
    let status = bot.status();
    let bot: Value = bot.json().await.unwrap();
    assert_eq!(status, 201, "{bot}");
    bot
}

async fn send(app: &TestApp, bot: &Value, body: Value) -> reqwest::Response {
    let token = bot["token"].as_str().unwrap();
    app.post(&format!("/hooks/tradingview/{token}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// Sends a buy and waits until it is executed.
async fn enter(app: &TestApp, bot: &Value) {
    let response = send(app, bot, json!({"ticker": "BTCUSD", "action": "buy"})).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let id = answer["signal_id"].as_str().unwrap().to_string();
    let status = eventually(10, "the entry is executed", || async {
        let s = app.state.store.get_signal(&id).await.unwrap();
        (s.status != "accepted" && s.status != "executing").then_some((s.status, s.reason))
    })
    .await;
    assert_eq!(status, ("executed".to_string(), None));
}

async fn tick(app: &TestApp, price: f64) {
    app.state
        .market
        .inject(FeedEvent::Tick {
            symbol: "BTC".into(),
            price,
            ts: tradehook_core::time::now_ms(),
        })
        .await;
}

async fn record(app: &TestApp, bot: &Value) -> BotRecord {
    app.state
        .store
        .get_bot(bot["id"].as_str().unwrap())
        .await
        .unwrap()
}

async fn orders(app: &TestApp, bot: &Value) -> Vec<OrderRecord> {
    app.state
        .store
        .list_orders(&OrderFilter {
            bot_id: Some(bot["id"].as_str().unwrap().to_string()),
            limit: 100,
            ..OrderFilter::default()
        })
        .await
        .unwrap()
        .orders
}

async fn events(app: &TestApp, event_type: &str) -> Vec<Value> {
    app.state
        .store
        .list_events(&EventFilter {
            types: vec![event_type.to_string()],
            limit: 1000,
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.data)
        .collect()
}

#[tokio::test]
async fn cleanup_cancels_orphaned_protective_orders() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(
        &app,
        json!({"attach_sl_tp": true, "sizing_mode": "fixed_qty", "fixed_qty": 0.1}),
    )
    .await;
    tick(&app, 50_000.0).await;
    enter(&app, &bot).await;
    let rec = record(&app, &bot).await;

    // With the position open nothing is an orphan.
    assert!(
        risk::cleanup_bot(&app.state, &rec)
            .await
            .unwrap()
            .is_empty()
    );

    // The position is closed behind the bot's back: SL and TP are orphans.
    let broker = risk::bot_broker(&app.state, &rec).await.unwrap();
    broker.close_position("BTC/USD").await.unwrap();

    let response = post_json(
        &app,
        &format!("/api/v1/bots/{}/cleanup", rec.id),
        &json!({}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let canceled = answer["canceled"].as_array().unwrap();
    assert_eq!(canceled.len(), 2, "{answer}");
    let mut ids: Vec<&str> = canceled
        .iter()
        .map(|c| c["client_order_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert!(
        ids[0].ends_with("-sl") && ids[1].ends_with("-tp"),
        "{ids:?}"
    );
    assert!(broker.list_open_orders().await.unwrap().is_empty());
    let rows = orders(&app, &bot).await;
    for row in rows.iter().filter(|o| o.leg == "sl" || o.leg == "tp") {
        assert_eq!(row.status, "canceled", "{row:?}");
    }

    let cleanup = events(&app, "cleanup.orders_canceled").await;
    assert_eq!(cleanup.len(), 1, "{cleanup:?}");
    assert_eq!(cleanup[0]["bot_id"], rec.id);
    assert_eq!(cleanup[0]["bot_name"], "trend");
    assert_eq!(cleanup[0]["count"], 2);
    assert_eq!(cleanup[0]["orders"].as_array().unwrap().len(), 2);
    // Each canceled leg is announced like any other cancel.
    let canceled = events(&app, "order.canceled").await;
    assert_eq!(canceled.len(), 2, "{canceled:?}");
    assert!(canceled.iter().all(|e| e["bot_id"] == rec.id));

    // Nothing left: the next pass cancels nothing and publishes nothing.
    risk::cleanup_pass(&app.state).await;
    assert_eq!(events(&app, "cleanup.orders_canceled").await.len(), 1);

    let missing = post_json(&app, "/api/v1/bots/bot_nope/cleanup", &json!({})).await;
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_global_stop_loss_liquidates_and_pauses() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(
        &app,
        json!({"enable_global_sl_tp": true, "attach_sl_tp": true, "sl_pct": 0.9, "tp_pct": 0.9,
               "sizing_mode": "fixed_qty", "fixed_qty": 1}),
    )
    .await;
    tick(&app, 50_000.0).await;
    enter(&app, &bot).await;
    let breaker = Breaker::default();

    // The first pass stores the base.
    breaker.pass(&app.state).await;
    let base: f64 = record(&app, &bot)
        .await
        .base_equity
        .expect("a base is stored")
        .parse()
        .unwrap();
    assert!((base - 100_000.0).abs() < 1_000.0, "{base}");
    assert!(!record(&app, &bot).await.paused);

    // 1 BTC loses 25 000: equity 75 % of the base.
    tick(&app, 25_000.0).await;
    breaker.pass(&app.state).await;

    let rec = record(&app, &bot).await;
    assert!(rec.paused);
    assert!(
        rec.paused_reason
            .as_deref()
            .unwrap()
            .contains("global stop loss")
    );
    let broker = risk::bot_broker(&app.state, &rec).await.unwrap();
    assert!(broker.positions().await.unwrap().is_empty());
    assert!(broker.list_open_orders().await.unwrap().is_empty());
    let rows = orders(&app, &bot).await;
    let exit = rows
        .iter()
        .find(|o| o.leg == "exit" && o.status == "filled" && o.side == "sell")
        .unwrap_or_else(|| panic!("no liquidating sell: {rows:?}"));
    assert!(exit.reason.as_deref().unwrap().contains("global stop loss"));
    // The liquidation's orders are announced: its legs canceled, its sell
    // submitted and filled.
    let filled = events(&app, "order.filled").await;
    assert!(
        filled.iter().any(|e| e["order_id"] == exit.id.as_str()),
        "{filled:?}"
    );
    assert_eq!(events(&app, "order.canceled").await.len(), 2);

    let stop = events(&app, "risk.global_stop_loss").await;
    assert_eq!(stop.len(), 1, "{stop:?}");
    assert_eq!(stop[0]["bot_id"], rec.id);
    assert_eq!(stop[0]["action"], "liquidated_and_paused");
    assert_eq!(stop[0]["threshold_pct"], 0.8);
    assert_eq!(events(&app, "bot.paused").await.len(), 1);

    // A paused bot refuses signals.
    let refused = send(&app, &bot, json!({"ticker": "BTCUSD", "action": "sell"})).await;
    assert_eq!(refused.status(), 423);

    // Paused: the next pass does nothing more.
    breaker.pass(&app.state).await;
    assert_eq!(events(&app, "risk.global_stop_loss").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_global_take_profit_is_announced_once_per_crossing() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(
        &app,
        json!({"enable_global_sl_tp": true, "sizing_mode": "fixed_qty", "fixed_qty": 1}),
    )
    .await;
    tick(&app, 50_000.0).await;
    enter(&app, &bot).await;
    let breaker = Breaker::default();
    breaker.pass(&app.state).await;

    // +25 000: 125 % of the base.
    tick(&app, 75_000.0).await;
    breaker.pass(&app.state).await;
    breaker.pass(&app.state).await;
    let tp = events(&app, "risk.global_take_profit").await;
    assert_eq!(tp.len(), 1, "{tp:?}");
    assert_eq!(tp[0]["bot_id"], bot["id"]);
    assert_eq!(tp[0]["threshold_pct"], 1.2);
    // Not liquidated, not paused.
    let rec = record(&app, &bot).await;
    assert!(!rec.paused);
    let broker = risk::bot_broker(&app.state, &rec).await.unwrap();
    assert_eq!(broker.positions().await.unwrap().len(), 1);

    // Back inside, then across again: a second announcement.
    tick(&app, 50_000.0).await;
    breaker.pass(&app.state).await;
    tick(&app, 75_000.0).await;
    breaker.pass(&app.state).await;
    assert_eq!(events(&app, "risk.global_take_profit").await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn editing_settings_resets_the_base_and_snapshots_are_stored() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(
        &app,
        json!({"enable_global_sl_tp": true, "sizing_mode": "fixed_qty", "fixed_qty": 1}),
    )
    .await;
    tick(&app, 50_000.0).await;
    enter(&app, &bot).await;
    let breaker = Breaker::default();
    breaker.pass(&app.state).await;
    assert!(record(&app, &bot).await.base_equity.is_some());

    // The price moves, the settings change: the base is cleared …
    tick(&app, 45_000.0).await;
    let id = bot["id"].as_str().unwrap();
    let patched = patch_json(
        &app,
        &format!("/api/v1/bots/{id}"),
        &json!({"settings": {"enable_global_sl_tp": true, "global_sl_pct": 0.5,
                             "sizing_mode": "fixed_qty", "fixed_qty": 1}}),
    )
    .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(record(&app, &bot).await.base_equity, None);

    // … and the next pass stores the current equity as the new base.
    breaker.pass(&app.state).await;
    let base: f64 = record(&app, &bot)
        .await
        .base_equity
        .unwrap()
        .parse()
        .unwrap();
    assert!((base - 95_000.0).abs() < 1_000.0, "{base}");

    // Every pass stored a snapshot.
    let snapshots = app.state.store.list_equity(id, None, None).await.unwrap();
    assert!(snapshots.len() >= 2, "{snapshots:?}");
    let last = snapshots.iter().max_by_key(|s| s.ts).unwrap();
    let equity: f64 = last.equity.parse().unwrap();
    assert!((equity - 95_000.0).abs() < 1_000.0, "{last:?}");
    assert!(last.positions.as_array().is_some_and(|p| p.len() == 1));
    risk::thin_pass(&app.state).await;
    app.stop().await;
}

/// The per-bot lock: always granted on SQLite; on PostgreSQL (when the
/// tests have one) a second session is refused until the first releases.
#[tokio::test]
async fn the_risk_lock_has_one_owner() {
    use tradehook_store::locks::lock_key;
    let key = lock_key("risk:bot_lock_test");
    let db = TestDb::sqlite().await;
    let store = db.store.clone();
    let a = store.try_advisory_lock(key).await.unwrap();
    assert!(a.is_some());
    let Some(db) = TestDb::postgres("trading_risk::the_risk_lock_has_one_owner").await else {
        return;
    };
    let store = db.store.clone();
    let key = lock_key(&format!("risk:{}", uuid_like()));
    let first = store.try_advisory_lock(key).await.unwrap().expect("free");
    assert!(store.try_advisory_lock(key).await.unwrap().is_none());
    first.release().await;
    let again = store
        .try_advisory_lock(key)
        .await
        .unwrap()
        .expect("released");
    drop(again);
    eventually(5, "a dropped guard frees the lock", || async {
        store.try_advisory_lock(key).await.unwrap().map(drop)
    })
    .await;
}

fn uuid_like() -> String {
    format!("{}", tradehook_core::time::now_ms())
}
