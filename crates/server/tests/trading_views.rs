//! The read-only trading views: signals, orders, positions, account
//! status and a bot's broker call log.

mod common;

use common::{ADMIN_KEY, TestApp, eventually, get_json, post_json, validation_path};
use serde_json::{Value, json};
use tradehook_feeds::FeedEvent;
use tradehook_store::NewBrokerCall;
use tradehook_store::testing::TestDb;

async fn paper_bot(app: &TestApp, name: &str) -> Value {
    let account = post_json(
        app,
        "/api/v1/broker-accounts",
        &json!({"name": name, "kind": "paper", "starting_cash": 50000}),
    )
    .await;
    assert_eq!(account.status(), 201);
    let account: Value = account.json().await.unwrap();
    let body = json!({
        "name": name,
        "broker_account_id": account["id"],
        "allowed_symbols": ["BTCUSD"],
        "settings": {},
    });
    let bot = post_json(app, "/api/v1/bots", &body).await;
    let status = bot.status();
    let bot: Value = bot.json().await.unwrap();
    assert_eq!(status, 201, "{bot}");
    bot
}

async fn signal(app: &TestApp, bot: &Value, body: Value) -> String {
    let token = bot["token"].as_str().unwrap();
    let response = app
        .post(&format!("/hooks/tradingview/{token}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
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

async fn executed(app: &TestApp, signal_id: &str) {
    let status = eventually(10, "the signal is executed", || async {
        let s = app.state.store.get_signal(signal_id).await.unwrap();
        (s.status != "accepted" && s.status != "executing").then_some(s.status)
    })
    .await;
    assert_eq!(status, "executed");
}

fn num(v: &Value) -> f64 {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal string: {v}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_filled_paper_entry_shows_in_signals_orders_positions_and_status() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "one").await;
    let other = paper_bot(&app, "two").await;
    tick(&app, 50_000.0).await;
    let id = signal(&app, &bot, json!({"ticker": "BTCUSD", "action": "buy"})).await;
    executed(&app, &id).await;
    let other_id = signal(&app, &other, json!({"ticker": "BTCUSD", "action": "buy"})).await;
    executed(&app, &other_id).await;
    let bot_id = bot["id"].as_str().unwrap();
    let account_id = bot["broker_account_id"].as_str().unwrap();

    // Signals, filtered by bot.
    let page = get_json(&app, &format!("/api/v1/signals?bot_id={bot_id}")).await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{page}");
    assert_eq!(data[0]["id"], id.as_str());
    assert_eq!(data[0]["status"], "executed");
    assert!(data[0]["received_at"].as_str().unwrap().ends_with('Z'));
    let one = get_json(&app, &format!("/api/v1/signals/{id}")).await;
    assert_eq!(one["bot_id"], bot_id);
    let missing = app
        .get("/api/v1/signals/sig_nothing")
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Cursor paging over both bots' signals.
    let first = get_json(&app, "/api/v1/signals?limit=1").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    let next = first["next"].as_str().expect("a next page");
    let second = get_json(&app, &format!("/api/v1/signals?limit=1&cursor={next}")).await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);
    let mut seen = vec![
        first["data"][0]["id"].clone(),
        second["data"][0]["id"].clone(),
    ];
    seen.sort_by_key(|v| v.to_string());
    let mut want = vec![json!(id), json!(other_id)];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(seen, want);

    // Orders.
    let orders = get_json(&app, &format!("/api/v1/orders?bot_id={bot_id}")).await;
    let data = orders["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{orders}");
    assert_eq!(data[0]["status"], "filled");
    assert_eq!(data[0]["side"], "buy");
    assert_eq!(data[0]["qty"], "0.02");
    assert_eq!(data[0]["signal_id"], id.as_str());
    assert_eq!(num(&data[0]["filled_avg_price"]), 50_000.0);
    let order_id = data[0]["id"].as_str().unwrap();
    let one = get_json(&app, &format!("/api/v1/orders/{order_id}")).await;
    assert_eq!(one["id"], order_id);
    let filled = get_json(&app, &format!("/api/v1/orders?bot_id={bot_id}&status=new")).await;
    assert_eq!(filled["data"].as_array().unwrap().len(), 0, "{filled}");
    let first = get_json(&app, "/api/v1/orders?limit=1").await;
    let next = first["next"].as_str().expect("a next page");
    let second = get_json(&app, &format!("/api/v1/orders?limit=1&cursor={next}")).await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);

    // Positions, by bot or by account.
    let positions = get_json(&app, &format!("/api/v1/positions?bot_id={bot_id}")).await;
    let data = positions["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{positions}");
    assert_eq!(data[0]["broker_account_id"], account_id);
    assert_eq!(num(&data[0]["qty"]), 0.02);
    assert_eq!(num(&data[0]["avg_entry_price"]), 50_000.0);
    assert!(data[0]["market_value"].is_string());
    assert!(data[0]["unrealized_pl"].is_string());
    let by_account = get_json(
        &app,
        &format!("/api/v1/positions?broker_account_id={account_id}"),
    )
    .await;
    assert_eq!(by_account["data"], positions["data"]);

    // The account's status.
    let status = get_json(
        &app,
        &format!("/api/v1/broker-accounts/{account_id}/status"),
    )
    .await;
    assert_eq!(status["connected"], true, "{status}");
    assert!(status["error"].is_null());
    // 50 000 cash less 0.02 × 50 000 = 49 000, plus the position's 1 000.
    assert_eq!(num(&status["equity"]), 50_000.0, "{status}");
    assert_eq!(num(&status["cash"]), 49_000.0, "{status}");
    assert!(status["buying_power"].is_string());
    assert_eq!(status["positions"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn bot_logs_come_as_json_lines_or_a_page() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "logs").await;
    let bot_id = bot["id"].as_str().unwrap().to_string();
    let account_id = bot["broker_account_id"].as_str().unwrap().to_string();
    let now = tradehook_core::time::now_ms();
    for (i, path) in ["/v2/account", "/v2/positions", "/v2/orders"]
        .iter()
        .enumerate()
    {
        app.state
            .store
            .insert_broker_call(&NewBrokerCall {
                bot_id: Some(bot_id.clone()),
                broker_account_id: account_id.clone(),
                method: "GET".into(),
                path: path.to_string(),
                status: Some(200),
                latency_ms: 12,
                request: None,
                response: Some("{}".into()),
                error: None,
                created_at: now - 1000 + i as i64,
            })
            .await
            .unwrap();
    }

    let response = app
        .get(&format!("/api/v1/bots/{bot_id}/logs?format=jsonl"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-ndjson",
        "{:?}",
        response.headers()
    );
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0]["path"], "/v2/account");
    assert_eq!(lines[2]["path"], "/v2/orders");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["latency_ms"], 12);
    assert!(lines[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(!text.contains(ADMIN_KEY));
    assert!(!text.contains(bot["token"].as_str().unwrap()));

    let page = get_json(&app, &format!("/api/v1/bots/{bot_id}/logs?limit=2")).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["data"][0]["path"], "/v2/orders");
    assert!(page["next"].is_string());
    let later = get_json(
        &app,
        &format!("/api/v1/bots/{bot_id}/logs?from={}", now - 999),
    )
    .await;
    assert_eq!(later["data"].as_array().unwrap().len(), 2, "{later}");
    app.stop().await;
}

#[tokio::test]
async fn bad_filters_are_422_naming_the_field() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "bad").await;
    let bot_id = bot["id"].as_str().unwrap();
    let get = |path: String| app.get(&path).header("x-api-key", ADMIN_KEY).send();
    for (path, field) in [
        ("/api/v1/signals?from=yesterday".to_string(), "from"),
        ("/api/v1/signals?to=nope".to_string(), "to"),
        ("/api/v1/signals?limit=0".to_string(), "limit"),
        ("/api/v1/signals?cursor=garbage".to_string(), "cursor"),
        (
            "/api/v1/orders?status=Not%20A%20Status".to_string(),
            "status",
        ),
        ("/api/v1/orders?from=later".to_string(), "from"),
        ("/api/v1/orders?limit=500".to_string(), "limit"),
        ("/api/v1/positions".to_string(), "bot_id"),
        (format!("/api/v1/bots/{bot_id}/logs?format=xml"), "format"),
        (format!("/api/v1/bots/{bot_id}/logs?to=soon"), "to"),
    ] {
        let response = get(path.clone()).await.unwrap();
        assert_eq!(validation_path(response).await, field, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_alpaca_account_is_not_connected() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let account = post_json(
        &app,
        "/api/v1/broker-accounts",
        &json!({
            "name": "gone",
            "kind": "alpaca",
            "base_url": "http://127.0.0.1:9",
            "credentials": {"key_id": "KEYID123", "secret_key": "SECRETSECRET"},
        }),
    )
    .await;
    let status = account.status();
    let account: Value = account.json().await.unwrap();
    assert_eq!(status, 201, "{account}");
    let id = account["id"].as_str().unwrap();
    let response = app
        .get(&format!("/api/v1/broker-accounts/{id}/status"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["connected"], false, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(!body.to_string().contains("SECRETSECRET"));
    app.stop().await;
}
