//! The execution worker with the paper broker: signals in over the hook,
//! orders, events and the paper state out.
//!
//! Refusals found before an order is placed (same-direction entry, nothing
//! to exit, no market price to size by) reject the signal with a reason
//! and publish `signal.rejected`; no order row is written. An order the
//! broker refuses publishes `order.rejected` (and the signal is rejected
//! with the broker's reason, with `signal.rejected` too).

mod common;

use common::{TestApp, eventually, patch_json, post_json};
use serde_json::{Value, json};
use tradehook_feeds::FeedEvent;
use tradehook_store::testing::TestDb;
use tradehook_store::{
    EventFilter, NewSignal, OrderFilter, OrderRecord, SignalStatus, Store, StoreOptions,
};

async fn paper_bot(app: &TestApp, settings: Value) -> Value {
    let account = post_json(
        app,
        "/api/v1/broker-accounts",
        &json!({"name": "paper", "kind": "paper", "starting_cash": 50000}),
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

/// Sends a TradersPost-style signal; returns the signal id.
async fn signal(app: &TestApp, bot: &Value, body: Value) -> String {
    let token = bot["token"].as_str().unwrap();
    let response = app
        .post(&format!("/hooks/tradingview/{token}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["duplicate"], false, "{answer}");
    answer["signal_id"].as_str().unwrap().to_string()
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

/// Waits until the signal leaves `accepted`; returns (status, reason).
async fn settled(app: &TestApp, signal_id: &str) -> (String, Option<String>) {
    eventually(10, "the signal is executed or rejected", || async {
        let s = app.state.store.get_signal(signal_id).await.unwrap();
        (s.status != "accepted" && s.status != "executing").then_some((s.status, s.reason))
    })
    .await
}

async fn orders(store: &Store, bot: &Value) -> Vec<OrderRecord> {
    let mut orders = store
        .list_orders(&OrderFilter {
            bot_id: Some(bot["id"].as_str().unwrap().to_string()),
            limit: 100,
            ..OrderFilter::default()
        })
        .await
        .unwrap()
        .orders;
    orders.reverse();
    orders
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

fn num(v: &Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

fn position_qty(state: &Value, symbol: &str) -> Option<f64> {
    state["positions"]
        .as_array()?
        .iter()
        .find(|p| p["symbol"] == symbol)
        .map(|p| num(&p["qty"]))
}

fn account_id(bot: &Value) -> String {
    bot["broker_account_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_long_entry_fills_at_the_market_and_an_exit_closes_it() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({})).await;
    tick(&app, 50_000.0).await;

    let id = signal(&app, &bot, json!({"ticker": "BTCUSD", "action": "buy"})).await;
    assert_eq!(settled(&app, &id).await, ("executed".to_string(), None));
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 1, "{placed:?}");
    let entry = &placed[0];
    assert_eq!(entry.status, "filled");
    assert_eq!(entry.side, "buy");
    assert_eq!(entry.symbol, "BTC/USD");
    // 2 % of 50 000 equity at 50 000 = 0.02 BTC.
    assert_eq!(entry.qty, "0.02");
    assert_eq!(entry.filled_avg_price.as_deref(), Some("50000"));
    assert_eq!(entry.signal_id.as_deref(), Some(id.as_str()));

    let submitted = eventually(5, "order.submitted", || async {
        let e = events(&app, "order.submitted").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(submitted[0]["client_order_id"], entry.client_order_id);
    assert_eq!(submitted[0]["bot_name"], "trend");
    assert_eq!(submitted[0]["broker"], "paper");
    let filled = events(&app, "order.filled").await;
    assert_eq!(filled.len(), 1);
    assert_eq!(filled[0]["order_id"], entry.id);
    assert_eq!(filled[0]["filled_qty"], "0.02");
    assert_eq!(filled[0]["filled_avg_price"], "50000");
    assert_eq!(filled[0]["status"], "filled");

    let state = app
        .state
        .store
        .load_paper_state(&account_id(&bot))
        .await
        .unwrap()
        .expect("the paper state is saved");
    assert_eq!(position_qty(&state, "BTC/USD"), Some(0.02));

    // A long exit (sell, bullish) closes the whole position at the new price.
    tick(&app, 51_000.0).await;
    let exit = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "sell", "sentiment": "bullish"}),
    )
    .await;
    assert_eq!(settled(&app, &exit).await.0, "executed");
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 2);
    assert_eq!(placed[1].side, "sell");
    assert_eq!(placed[1].qty, "0.02");
    assert_eq!(placed[1].status, "filled");
    assert_eq!(placed[1].filled_avg_price.as_deref(), Some("51000"));
    let state = app
        .state
        .store
        .load_paper_state(&account_id(&bot))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(position_qty(&state, "BTC/USD"), None);
    // 50 000 + 0.02 × 1 000 profit.
    assert_eq!(num(&state["cash"]), 50_020.0);

    // Nothing left to exit.
    let again = signal(&app, &bot, json!({"ticker": "BTCUSD", "action": "exit"})).await;
    let (status, reason) = settled(&app, &again).await;
    assert_eq!(status, "rejected");
    assert!(reason.unwrap().contains("no position to exit"));
    app.stop().await;
}

#[tokio::test]
async fn a_same_direction_entry_and_a_missing_price_are_rejected_with_a_reason() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({})).await;

    // No price yet: nothing to size by.
    let id = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "time": 1}),
    )
    .await;
    let (status, reason) = settled(&app, &id).await;
    assert_eq!(status, "rejected");
    assert!(
        reason.as_deref().unwrap().contains("no market price"),
        "{reason:?}"
    );
    assert!(orders(&app.state.store, &bot).await.is_empty());

    tick(&app, 40_000.0).await;
    let first = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "time": 2}),
    )
    .await;
    assert_eq!(settled(&app, &first).await.0, "executed");
    let second = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "time": 3}),
    )
    .await;
    let (status, reason) = settled(&app, &second).await;
    assert_eq!(status, "rejected");
    assert!(
        reason.as_deref().unwrap().contains("already open"),
        "{reason:?}"
    );
    assert_eq!(orders(&app.state.store, &bot).await.len(), 1);
    let rejected = eventually(5, "signal.rejected events", || async {
        let e = events(&app, "signal.rejected").await;
        (e.len() == 2).then_some(e)
    })
    .await;
    assert_eq!(rejected[1]["signal_id"], second);
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .contains("already open")
    );

    // An add in the same direction is allowed.
    let add = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "add", "time": 4}),
    )
    .await;
    assert_eq!(settled(&app, &add).await.0, "executed");
    assert_eq!(orders(&app.state.store, &bot).await.len(), 2);

    // A short entry reverses: close the long, then sell short.
    let short = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "sell", "time": 5}),
    )
    .await;
    assert_eq!(settled(&app, &short).await.0, "executed");
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 4, "{placed:?}");
    assert_eq!(placed[2].leg, "exit");
    assert_eq!(placed[2].side, "sell");
    assert_eq!(placed[3].side, "sell");
    let state = app
        .state
        .store
        .load_paper_state(&account_id(&bot))
        .await
        .unwrap()
        .unwrap();
    assert!(position_qty(&state, "BTC/USD").unwrap() < 0.0, "{state}");
    app.stop().await;
}

#[tokio::test]
async fn sl_and_tp_are_attached_and_cancel_each_other() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(
        &app,
        json!({"attach_sl_tp": true, "sl_pct": 0.01, "tp_pct": 0.02, "sizing_mode": "fixed_qty", "fixed_qty": 0.1}),
    )
    .await;
    tick(&app, 50_000.0).await;
    let id = signal(&app, &bot, json!({"ticker": "BTCUSD", "action": "buy"})).await;
    assert_eq!(settled(&app, &id).await.0, "executed");
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 3, "{placed:?}");
    let (entry, sl, tp) = (&placed[0], &placed[1], &placed[2]);
    assert_eq!(entry.qty, "0.1");
    assert_eq!(sl.leg, "sl");
    assert_eq!(sl.order_type, "stop");
    assert_eq!(sl.stop_price.as_deref(), Some("49500"));
    assert_eq!(sl.side, "sell");
    assert_eq!(sl.status, "new");
    assert_eq!(sl.client_order_id, format!("{}-sl", entry.client_order_id));
    assert_eq!(tp.leg, "tp");
    assert_eq!(tp.order_type, "limit");
    assert_eq!(tp.limit_price.as_deref(), Some("51000"));
    assert_eq!(tp.parent_order_id.as_deref(), Some(entry.id.as_str()));

    // A tick between them changes nothing; one through the TP fills it and
    // cancels the SL.
    tick(&app, 50_500.0).await;
    tick(&app, 51_200.0).await;
    let done = eventually(10, "the TP fills and the SL is canceled", || async {
        let o = orders(&app.state.store, &bot).await;
        (o[1].status == "canceled" && o[2].status == "filled").then_some(o)
    })
    .await;
    assert_eq!(done[2].filled_avg_price.as_deref(), Some("51200"));
    let filled = events(&app, "order.filled").await;
    assert_eq!(filled.len(), 2);
    assert_eq!(filled[1]["leg"], "tp");
    let canceled = events(&app, "order.canceled").await;
    assert_eq!(canceled.len(), 1);
    assert_eq!(canceled[0]["leg"], "sl");
    let state = eventually(5, "the flat state is saved", || async {
        let s = app
            .state
            .store
            .load_paper_state(&account_id(&bot))
            .await
            .unwrap()
            .unwrap();
        position_qty(&s, "BTC/USD").is_none().then_some(s)
    })
    .await;
    assert!(state["open_orders"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_paper_position_survives_a_restart() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({"sizing_mode": "signal_contracts"})).await;
    tick(&app, 30_000.0).await;
    let id = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "quantity": 0.25}),
    )
    .await;
    assert_eq!(settled(&app, &id).await.0, "executed");
    app.stop().await;

    let app = TestApp::start(&db).await;
    let state = app
        .state
        .store
        .load_paper_state(&account_id(&bot))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(position_qty(&state, "BTC/USD"), Some(0.25));
    // The restored broker knows the position: an exit closes it.
    tick(&app, 31_000.0).await;
    let exit = signal(&app, &bot, json!({"ticker": "BTCUSD", "action": "exit"})).await;
    assert_eq!(settled(&app, &exit).await.0, "executed");
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 2);
    assert_eq!(placed[1].qty, "0.25");
    let state = app
        .state
        .store
        .load_paper_state(&account_id(&bot))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(position_qty(&state, "BTC/USD"), None);
    assert_eq!(num(&state["cash"]), 50_250.0);
    app.stop().await;
}

#[tokio::test]
async fn a_job_left_by_a_crashed_worker_runs_once_after_its_lease() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({"sizing_mode": "fixed_qty", "fixed_qty": 0.5})).await;
    app.stop().await;

    // A signal queued and leased by a worker that then died.
    let store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let body = json!({"ticker": "BTCUSD", "action": "buy"});
    let outcome = store
        .accept_signal(
            &NewSignal {
                bot_id: bot["id"].as_str().unwrap().to_string(),
                format: "traderspost".into(),
                symbol: "BTCUSD".into(),
                action: "buy".into(),
                dedupe_key: "crash-test".into(),
                dedupe_expires_at: i64::MAX,
                body: body.to_string(),
                parsed: json!({"format": "traderspost", "symbol": "BTCUSD", "raw": body}),
                status: SignalStatus::Accepted,
                reason: None,
                received_at: tradehook_core::time::now_ms(),
            },
            |s| tradehook_delivery::Outbox::event("signal.received", json!({"signal_id": s.id})),
        )
        .await
        .unwrap();
    let tradehook_store::SignalOutcome::Accepted { signal, .. } = outcome else {
        panic!("accepted");
    };
    let leased = store
        .lease_jobs("crashed", tradehook_core::time::now_ms(), 1500, 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);

    let app = TestApp::start(&db).await;
    tick(&app, 20_000.0).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        app.state.store.get_signal(&signal.id).await.unwrap().status,
        "accepted",
        "the lease is still held"
    );
    assert_eq!(settled(&app, &signal.id).await.0, "executed");
    // The crashed worker's late completion is refused.
    assert!(
        !store
            .complete_job(&leased[0].id, leased[0].lease_token)
            .await
            .unwrap()
    );
    let jobs = app.state.store.jobs_for_signal(&signal.id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, "done");
    assert_eq!(jobs[0].attempts, 2);
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert_eq!(placed[0].qty, "0.5");
    assert_eq!(placed[0].status, "filled");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(orders(&app.state.store, &bot).await.len(), 1);
    assert_eq!(events(&app, "order.filled").await.len(), 1);
    app.stop().await;
    store.close().await;
}

#[tokio::test]
async fn resting_limit_entries_fill_on_ticks_and_cancel_on_a_cancel_signal() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({"sizing_mode": "fixed_qty", "fixed_qty": 0.1})).await;
    tick(&app, 50_000.0).await;
    let limit = |price: u32, time: u32| json!({"ticker": "BTCUSD", "action": "buy", "orderType": "limit", "limitPrice": price, "time": time});
    let first = signal(&app, &bot, limit(49_000, 1)).await;
    assert_eq!(settled(&app, &first).await.0, "executed");
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed[0].status, "new");
    assert_eq!(placed[0].order_type, "limit");

    let cancel = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "cancel", "time": 2}),
    )
    .await;
    assert_eq!(settled(&app, &cancel).await.0, "executed");
    assert_eq!(orders(&app.state.store, &bot).await[0].status, "canceled");
    assert_eq!(events(&app, "order.canceled").await.len(), 1);

    let second = signal(&app, &bot, limit(49_500, 3)).await;
    assert_eq!(settled(&app, &second).await.0, "executed");
    tick(&app, 49_800.0).await;
    tick(&app, 49_400.0).await;
    let filled = eventually(10, "the resting limit fills", || async {
        let o = orders(&app.state.store, &bot).await;
        (o[1].status == "filled").then_some(o)
    })
    .await;
    assert_eq!(filled[1].filled_avg_price.as_deref(), Some("49400"));
    let fills = events(&app, "order.filled").await;
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0]["order_id"], filled[1].id);
    app.stop().await;
}

#[tokio::test]
async fn alpaca_accounts_place_orders_at_alpaca_with_the_sealed_keys() {
    use tradehook_brokers::Decimal;
    use tradehook_testkit::alpaca::FakeAlpaca;

    let fake = FakeAlpaca::start_default().await;
    fake.set_price("BTC/USD", Decimal::from(50_000));
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = alpaca_bot(
        &app,
        &fake,
        json!({"sizing_mode": "fixed_qty", "fixed_qty": 0.1}),
    )
    .await;

    let id = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "time": 1}),
    )
    .await;
    assert_eq!(settled(&app, &id).await, ("executed".to_string(), None));
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].status, "filled", "{placed:?}");
    assert_eq!(placed[0].qty, "0.1");
    assert_eq!(placed[0].filled_avg_price.as_deref(), Some("50000"));
    let filled = events(&app, "order.filled").await;
    assert_eq!(filled.len(), 1);
    assert_eq!(filled[0]["broker"], "alpaca");

    // The position is Alpaca's: an exit closes it there.
    let exit = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "exit", "time": 2}),
    )
    .await;
    assert_eq!(settled(&app, &exit).await.0, "executed");
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 2);
    assert_eq!(placed[1].side, "sell");
    assert_eq!(placed[1].status, "filled");

    // Alpaca's refusal rejects the signal with its reason.
    fake.set_reject_new_orders(true);
    let refused = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "time": 3}),
    )
    .await;
    let (status, reason) = settled(&app, &refused).await;
    assert_eq!(status, "rejected");
    assert!(reason.is_some());
    let rejected = eventually(5, "order.rejected", || async {
        let e = events(&app, "order.rejected").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(rejected[0]["broker"], "alpaca");
    assert_eq!(orders(&app.state.store, &bot).await[2].status, "rejected");
    app.stop().await;
}

#[tokio::test]
async fn a_resting_entry_gets_its_sl_and_tp_when_a_tick_fills_it() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(
        &app,
        json!({"attach_sl_tp": true, "sl_pct": 0.01, "tp_pct": 0.02, "sizing_mode": "fixed_qty", "fixed_qty": 0.1}),
    )
    .await;
    tick(&app, 50_000.0).await;
    let id = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "orderType": "limit", "limitPrice": 40000}),
    )
    .await;
    assert_eq!(settled(&app, &id).await.0, "executed");
    assert_eq!(orders(&app.state.store, &bot).await.len(), 1);
    tick(&app, 40_000.0).await;
    let placed = eventually(10, "SL and TP after the fill", || async {
        let o = orders(&app.state.store, &bot).await;
        (o.len() == 3).then_some(o)
    })
    .await;
    assert_eq!(placed[0].status, "filled");
    assert_eq!(placed[1].stop_price.as_deref(), Some("39600"));
    assert_eq!(placed[2].limit_price.as_deref(), Some("40800"));
    assert_eq!(placed[1].status, "new");
    app.stop().await;
}

#[tokio::test]
async fn a_broker_outage_retries_the_job_and_places_one_order() {
    use tradehook_brokers::Decimal;
    use tradehook_testkit::alpaca::{FakeAlpaca, Forced};

    let fake = FakeAlpaca::start_default().await;
    fake.set_price("BTC/USD", Decimal::from(50_000));
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = alpaca_bot(
        &app,
        &fake,
        json!({"sizing_mode": "fixed_qty", "fixed_qty": 0.1}),
    )
    .await;
    // More 503s than the adapter retries by itself: the job is retried.
    for _ in 0..6 {
        fake.force(Forced::status(503).on("GET", "/v2/positions"));
    }
    let id = signal(&app, &bot, json!({"ticker": "BTCUSD", "action": "buy"})).await;
    let (status, reason) = eventually(20, "the signal is executed", || async {
        let s = app.state.store.get_signal(&id).await.unwrap();
        (s.status != "accepted").then_some((s.status, s.reason))
    })
    .await;
    assert_eq!(status, "executed", "{reason:?}");
    let jobs = app.state.store.jobs_for_signal(&id).await.unwrap();
    assert_eq!(jobs[0].status, "done");
    assert!(jobs[0].attempts >= 2, "{:?}", jobs[0]);
    assert!(jobs[0].last_error.is_some(), "{:?}", jobs[0]);
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert_eq!(placed[0].status, "filled");
    app.stop().await;
}

/// A bot's broker calls as JSON lines (oldest first).
async fn call_log(app: &TestApp, bot: &Value) -> Vec<Value> {
    let path = format!(
        "/api/v1/bots/{}/logs?format=jsonl",
        bot["id"].as_str().unwrap()
    );
    let body = app
        .get(&path)
        .header("x-api-key", common::ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn alpaca_bot(
    app: &TestApp,
    fake: &tradehook_testkit::alpaca::FakeAlpaca,
    settings: Value,
) -> Value {
    let account: Value = post_json(
        app,
        "/api/v1/broker-accounts",
        &json!({
            "name": "alpaca",
            "kind": "alpaca",
            "base_url": fake.base_url(),
            "credentials": {"key_id": fake.key_id(), "secret_key": fake.secret_key()},
        }),
    )
    .await
    .json()
    .await
    .unwrap();
    let bot = post_json(
        app,
        "/api/v1/bots",
        &json!({
            "name": "remote",
            "broker_account_id": account["id"],
            "allowed_symbols": ["BTCUSD", "AAPL"],
            "settings": settings,
        }),
    )
    .await;
    assert_eq!(bot.status(), 201);
    bot.json().await.unwrap()
}

#[tokio::test]
async fn every_broker_call_is_logged_and_exported_without_secrets() {
    use tradehook_brokers::Decimal;
    use tradehook_testkit::alpaca::FakeAlpaca;

    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;

    // Paper: the order submission, as the broker saw it.
    let paper = paper_bot(&app, json!({"sizing_mode": "fixed_qty", "fixed_qty": 0.1})).await;
    tick(&app, 50_000.0).await;
    let id = signal(&app, &paper, json!({"ticker": "BTCUSD", "action": "buy"})).await;
    assert_eq!(settled(&app, &id).await.0, "executed");
    let calls = eventually(10, "the paper call is logged", || async {
        let c = call_log(&app, &paper).await;
        (!c.is_empty()).then_some(c)
    })
    .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["method"], "PAPER", "{calls:?}");
    assert_eq!(calls[0]["path"], "/orders");
    assert_eq!(calls[0]["status"], 200);
    let request: Value = serde_json::from_str(calls[0]["request"].as_str().unwrap()).unwrap();
    assert_eq!(request["qty"], "0.1");
    let response: Value = serde_json::from_str(calls[0]["response"].as_str().unwrap()).unwrap();
    assert_eq!(response["status"], "filled");

    // Alpaca: every HTTP exchange, with its status, and never the keys.
    let fake = FakeAlpaca::start_default().await;
    fake.set_price("BTC/USD", Decimal::from(50_000));
    let remote = alpaca_bot(
        &app,
        &fake,
        json!({"sizing_mode": "fixed_qty", "fixed_qty": 0.1}),
    )
    .await;
    let id = signal(&app, &remote, json!({"ticker": "BTCUSD", "action": "buy"})).await;
    assert_eq!(settled(&app, &id).await.0, "executed");
    let calls = eventually(10, "the Alpaca calls are logged", || async {
        let c = call_log(&app, &remote).await;
        c.iter()
            .any(|c| c["method"] == "POST" && c["path"] == "/v2/orders")
            .then_some(c)
    })
    .await;
    let post = calls
        .iter()
        .find(|c| c["method"] == "POST" && c["path"] == "/v2/orders")
        .unwrap();
    assert_eq!(post["status"], 200, "{post}");
    assert!(
        post["request"]
            .as_str()
            .unwrap()
            .contains("client_order_id")
    );
    assert!(
        calls.iter().any(|c| c["path"] == "/v2/positions"),
        "{calls:?}"
    );
    let all = serde_json::to_string(&calls).unwrap();
    assert!(
        !all.contains(fake.secret_key()),
        "a secret was logged: {all}"
    );
    assert!(!all.contains(fake.key_id()), "a key id was logged: {all}");
    // The paper bot's log holds only its own calls.
    assert_eq!(call_log(&app, &paper).await.len(), 1);
    app.stop().await;
    fake.shutdown().await;
}

#[tokio::test]
async fn limit_order_settings_price_the_entry_from_the_strategy_or_the_last_price() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(
        &app,
        json!({"use_limit_orders": true, "limit_offset_ticks": 5, "sizing_mode": "fixed_qty", "fixed_qty": 0.1}),
    )
    .await;
    tick(&app, 50_000.0).await;
    // The strategy's price, 5 ticks (of 0.01) above for a buy.
    let id = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "price": 49_000}),
    )
    .await;
    assert_eq!(settled(&app, &id).await.0, "executed");
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed[0].order_type, "limit");
    assert_eq!(placed[0].limit_price.as_deref(), Some("49000.05"));
    assert_eq!(placed[0].status, "new", "below the market: it rests");

    // Without use_strategy_order_price the last price is the reference.
    let last = patch_json(
        &app,
        &format!("/api/v1/bots/{}", bot["id"].as_str().unwrap()),
        &json!({"settings": {"use_limit_orders": true, "use_strategy_order_price": false,
            "limit_offset_ticks": 5, "sizing_mode": "fixed_qty", "fixed_qty": 0.1}}),
    )
    .await;
    assert_eq!(last.status(), 200);
    let cancel = signal(&app, &bot, json!({"ticker": "BTCUSD", "action": "cancel"})).await;
    assert_eq!(settled(&app, &cancel).await.0, "executed");
    let id = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "price": 49_000, "time": 5}),
    )
    .await;
    assert_eq!(settled(&app, &id).await.0, "executed");
    let placed = orders(&app.state.store, &bot).await;
    let entry = placed.last().unwrap();
    assert_eq!(entry.limit_price.as_deref(), Some("50000.05"));
    assert_eq!(entry.status, "filled", "above the market: it fills");
    app.stop().await;
}

#[tokio::test]
async fn quantity_types_and_signal_levels_size_and_protect_the_entry() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({})).await;
    tick(&app, 50_000.0).await;
    // $5,000 at 50,000 = 0.1 BTC, with the signal's own stop and target.
    let id = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "quantity": 5000,
            "quantityType": "dollar_amount",
            "stopLoss": {"percent": 2}, "takeProfit": {"limitPrice": 55000}}),
    )
    .await;
    assert_eq!(settled(&app, &id).await, ("executed".to_string(), None));
    let placed = orders(&app.state.store, &bot).await;
    assert_eq!(placed.len(), 3, "{placed:?}");
    assert_eq!(placed[0].qty, "0.1");
    assert_eq!(placed[1].leg, "sl");
    assert_eq!(placed[1].stop_price.as_deref(), Some("49000"));
    assert_eq!(placed[2].leg, "tp");
    assert_eq!(placed[2].limit_price.as_deref(), Some("55000"));

    // A trailing stop is refused, not placed as something else.
    let id = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "add", "sentiment": "bullish",
            "stopLoss": {"type": "trailing_stop", "trailPercent": 1}}),
    )
    .await;
    let (status, reason) = settled(&app, &id).await;
    assert_eq!(status, "rejected");
    assert!(reason.unwrap().contains("trailing stop"));
    app.stop().await;
}

#[tokio::test]
async fn resting_alpaca_orders_are_followed_to_their_fill_and_protected() {
    use tradehook_brokers::Decimal;
    use tradehook_testkit::alpaca::FakeAlpaca;

    let fake = FakeAlpaca::start_default().await;
    fake.set_price("AAPL", Decimal::from(200));
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = alpaca_bot(
        &app,
        &fake,
        json!({"sizing_mode": "fixed_qty", "fixed_qty": 10, "attach_sl_tp": true,
            "sl_pct": 0.05, "tp_pct": 0.1}),
    )
    .await;
    let id = signal(
        &app,
        &bot,
        json!({"ticker": "AAPL", "action": "buy", "orderType": "limit", "limitPrice": 190}),
    )
    .await;
    assert_eq!(settled(&app, &id).await.0, "executed");
    let entry = orders(&app.state.store, &bot).await.remove(0);
    assert_eq!(entry.status, "new");
    // Alpaca fills the resting order later: the follower records it and
    // places the SL/TP from the fill, as one oco order (two separate sells
    // would hold the same shares twice: Alpaca refuses the second).
    let entry_id = entry.broker_order_id.as_deref().unwrap();
    // First a partial fill (the fake fills at its price, 200): recorded
    // and announced.
    fake.fill_order(entry_id, Some(Decimal::from(4)));
    let partial = eventually(15, "order.partially_filled", || async {
        let e = events(&app, "order.partially_filled").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(partial[0]["filled_qty"], "4", "{partial:?}");
    // The rest at 190: an average of 194.
    fake.set_price("AAPL", Decimal::from(190));
    if fake.order(entry_id).unwrap()["status"] != "filled" {
        fake.fill_order(entry_id, None);
    }
    let placed = eventually(15, "the fill and the SL/TP", || async {
        let o = orders(&app.state.store, &bot).await;
        (o.len() == 3 && o[0].status == "filled" && o.iter().all(|r| r.status != "pending_new"))
            .then_some(o)
    })
    .await;
    let leg = |name: &str| placed.iter().find(|o| o.leg == name).unwrap().clone();
    let (sl, tp) = (leg("sl"), leg("tp"));
    assert_eq!(placed[0].filled_avg_price.as_deref(), Some("194"));
    assert_eq!(sl.stop_price.as_deref(), Some("184.3"), "{placed:?}");
    assert_eq!(tp.limit_price.as_deref(), Some("213.4"));
    assert_eq!(sl.status, "new", "{placed:?}");
    assert_eq!(tp.status, "new", "{placed:?}");
    let oco = fake.order(tp.broker_order_id.as_deref().unwrap()).unwrap();
    assert_eq!(oco["order_class"], "oco");
    assert_eq!(
        oco["legs"][0]["id"].as_str(),
        sl.broker_order_id.as_deref(),
        "the stop row follows the oco's leg"
    );
    let filled = eventually(5, "order.filled", || async {
        let e = events(&app, "order.filled").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(filled[0]["client_order_id"], entry.client_order_id.as_str());

    // The take profit fills at Alpaca, which cancels the stop leg: both
    // rows follow.
    // (The fake fills a resting limit when its price reaches it.)
    fake.set_price("AAPL", Decimal::from(214));
    let tp_id = tp.broker_order_id.as_deref().unwrap();
    if fake.order(tp_id).unwrap()["status"] != "filled" {
        fake.fill_order(tp_id, None);
    }
    eventually(
        15,
        "the take profit filled and the stop canceled",
        || async {
            let o = orders(&app.state.store, &bot).await;
            let status = |id: &str| o.iter().find(|r| r.id == id).unwrap().status.clone();
            (status(&sl.id) == "canceled" && status(&tp.id) == "filled").then_some(())
        },
    )
    .await;
    assert_eq!(fake.position_qty("AAPL"), Decimal::ZERO);
    app.stop().await;
    fake.shutdown().await;
}

#[tokio::test]
async fn an_alpaca_crypto_stop_is_held_by_tradehook_and_sent_when_the_price_crosses() {
    use tradehook_brokers::Decimal;
    use tradehook_testkit::alpaca::FakeAlpaca;

    let fake = FakeAlpaca::start_default().await;
    fake.set_price("BTC/USD", Decimal::from(50_000));
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    tick(&app, 50_000.0).await;
    let bot = alpaca_bot(
        &app,
        &fake,
        json!({"sizing_mode": "fixed_qty", "fixed_qty": 0.1, "attach_sl_tp": true,
            "sl_pct": 0.02, "tp_pct": 0.04}),
    )
    .await;
    let id = signal(&app, &bot, json!({"ticker": "BTCUSD", "action": "buy"})).await;
    assert_eq!(settled(&app, &id).await, ("executed".to_string(), None));
    let placed = orders(&app.state.store, &bot).await;
    let leg = |name: &str| placed.iter().find(|o| o.leg == name).unwrap().clone();
    let (sl, tp) = (leg("sl"), leg("tp"));
    // Alpaca holds one sell of the coins: the take profit rests there, the
    // stop is tradehook's.
    assert_eq!(tp.status, "new", "{placed:?}");
    assert_eq!(tp.limit_price.as_deref(), Some("52000"));
    assert_eq!(sl.status, "held", "{placed:?}");
    assert_eq!(sl.stop_price.as_deref(), Some("49000"));
    assert!(sl.broker_order_id.is_none());

    // The feed crosses the stop: the take profit is canceled at Alpaca
    // and a market sell closes the position.
    tick(&app, 48_900.0).await;
    fake.set_price("BTC/USD", Decimal::from(48_900));
    eventually(15, "the stop sent and the take profit canceled", || async {
        let o = orders(&app.state.store, &bot).await;
        let status = |id: &str| o.iter().find(|r| r.id == id).unwrap().status.clone();
        (status(&sl.id) == "filled" && status(&tp.id) == "canceled").then_some(())
    })
    .await;
    assert_eq!(fake.position_qty("BTCUSD"), Decimal::ZERO);
    let sells = fake.requests_to("POST", "/v2/orders");
    assert_eq!(sells.len(), 3, "entry, take profit, stop: one each");
    app.stop().await;
    fake.shutdown().await;
}

#[tokio::test]
async fn an_alpaca_account_gets_new_keys_and_its_bot_trades_with_them() {
    use tradehook_brokers::Decimal;
    use tradehook_testkit::alpaca::FakeAlpaca;

    let fake = FakeAlpaca::start_default().await;
    fake.set_price("BTC/USD", Decimal::from(50_000));
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let account: Value = post_json(
        &app,
        "/api/v1/broker-accounts",
        &json!({
            "name": "alpaca",
            "kind": "alpaca",
            "base_url": fake.base_url(),
            "credentials": {"key_id": fake.key_id(), "secret_key": "WRONGSECRET"},
        }),
    )
    .await
    .json()
    .await
    .unwrap();
    let path = format!(
        "/api/v1/broker-accounts/{}",
        account["id"].as_str().unwrap()
    );
    let bot: Value = post_json(
        &app,
        "/api/v1/bots",
        &json!({
            "name": "remote",
            "broker_account_id": account["id"],
            "allowed_symbols": ["BTCUSD"],
            "settings": {"sizing_mode": "fixed_qty", "fixed_qty": 0.1},
        }),
    )
    .await
    .json()
    .await
    .unwrap();

    // Wrong keys: Alpaca refuses, the signal is rejected.
    let refused = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "time": 1}),
    )
    .await;
    assert_eq!(settled(&app, &refused).await.0, "rejected");

    // Fields fixed at creation, and keys on no account, are refused
    // with their path and change nothing.
    for (body, field) in [
        (json!({"kind": "paper"}), "kind"),
        (json!({"environment": "live"}), "environment"),
        (json!({"starting_cash": 5}), "starting_cash"),
        (json!({"name": " "}), "name"),
        (json!({"base_url": "ftp://x"}), "base_url"),
        (
            json!({"credentials": {"key_id": "a b", "secret_key": "s"}}),
            "credentials.key_id",
        ),
    ] {
        let reply = patch_json(&app, &path, &body).await;
        assert_eq!(reply.status(), 422, "{body}");
        assert_eq!(common::validation_path(reply).await, field, "{body}");
    }
    let unchanged = common::get_json(&app, &path).await;
    assert_eq!(unchanged["updated_at"], account["updated_at"]);

    // New keys and a new name; the answer never shows the keys.
    let changed = patch_json(
        &app,
        &path,
        &json!({"name": "alpaca-main", "credentials": {"key_id": fake.key_id(), "secret_key": fake.secret_key()}}),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let text = changed.text().await.unwrap();
    assert!(!text.contains(fake.secret_key()), "{text}");
    let changed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(changed["name"], "alpaca-main");
    assert_eq!(changed["kind"], "alpaca");
    assert_eq!(changed["has_credentials"], true);
    assert_eq!(changed["base_url"], fake.base_url().as_str());

    let placed = signal(
        &app,
        &bot,
        json!({"ticker": "BTCUSD", "action": "buy", "time": 2}),
    )
    .await;
    assert_eq!(settled(&app, &placed).await.0, "executed");
    assert_eq!(
        orders(&app.state.store, &bot).await.last().unwrap().status,
        "filled"
    );

    // `null` clears the base URL override; a taken name is a conflict;
    // a paper account takes no keys; an unknown id is 404.
    let cleared: Value = patch_json(&app, &path, &json!({"base_url": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["base_url"], Value::Null);
    let paper: Value = post_json(
        &app,
        "/api/v1/broker-accounts",
        &json!({"name": "paper", "kind": "paper"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let paper_path = format!("/api/v1/broker-accounts/{}", paper["id"].as_str().unwrap());
    let taken = patch_json(&app, &paper_path, &json!({"name": "alpaca-main"})).await;
    assert_eq!(taken.status(), 409);
    let keys = patch_json(
        &app,
        &paper_path,
        &json!({"credentials": {"key_id": "k", "secret_key": "s"}}),
    )
    .await;
    assert_eq!(common::validation_path(keys).await, "credentials");
    let missing = patch_json(&app, "/api/v1/broker-accounts/bac_nothere", &json!({})).await;
    assert_eq!(missing.status(), 404);
    app.stop().await;
}
