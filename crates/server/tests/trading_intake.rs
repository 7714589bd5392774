//! Broker accounts, bots and the TradingView intake over HTTP.

mod common;

use common::{ADMIN_KEY, TestApp, error_code, get_json, patch_json, post_json, validation_path};
use serde_json::{Value, json};
use tradehook_store::testing::TestDb;

async fn paper_bot(app: &TestApp, extra: Value) -> Value {
    let account = post_json(
        app,
        "/api/v1/broker-accounts",
        &json!({"name": "paper", "kind": "paper", "starting_cash": 50000}),
    )
    .await;
    assert_eq!(account.status(), 201);
    let account: Value = account.json().await.unwrap();
    let mut body = json!({"name": "trend", "broker_account_id": account["id"], "allowed_symbols": ["BTCUSD", "AAPL", "ETHUSD"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let bot = post_json(app, "/api/v1/bots", &body).await;
    let status = bot.status();
    let bot: Value = bot.json().await.unwrap();
    assert_eq!(status, 201, "{bot}");
    bot
}

async fn send(app: &TestApp, bot: &Value, content_type: &str, body: &str) -> reqwest::Response {
    let token = bot["token"].as_str().unwrap();
    app.post(&format!("/hooks/tradingview/{token}"))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

const STRATEGY: &str = r#"{"symbol":"BTCUSD","strategy_order_id":"long","strategy_order_action":"buy","strategy_order_contracts":"0.5","strategy_order_price":"64250.5","time":1795392000000}"#;

#[tokio::test]
async fn accounts_and_bots_are_created_with_a_webhook_url_and_templates() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({})).await;
    let token = bot["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    assert!(
        bot["webhook_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/hooks/tradingview/{token}"))
    );
    assert_eq!(bot["settings"]["base_order_pct"], 0.02);
    assert_eq!(bot["settings"]["sizing_mode"], "pct_equity");
    assert_eq!(bot["settings"]["global_tp_pct"], 1.2);
    let accounts = get_json(&app, "/api/v1/broker-accounts").await;
    assert_eq!(accounts["data"][0]["starting_cash"], "50000");
    assert_eq!(accounts["data"][0]["has_credentials"], false);

    let templates = get_json(
        &app,
        &format!(
            "/api/v1/bots/{}/alert-template",
            bot["id"].as_str().unwrap()
        ),
    )
    .await;
    let formats: Vec<&str> = templates["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["format"].as_str().unwrap())
        .collect();
    for f in ["strategy", "multi_leg", "traderspost"] {
        assert!(formats.contains(&f), "{f} in {formats:?}");
    }
    assert!(
        templates["templates"][0]["message"]
            .as_str()
            .unwrap()
            .contains("{{")
    );

    // The token rotates; the old URL stops working.
    let id = bot["id"].as_str().unwrap();
    let rotated: Value = app
        .post(&format!("/api/v1/bots/{id}/rotate-token"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(rotated["token"], bot["token"]);
    assert_eq!(send(&app, &bot, "text/plain", STRATEGY).await.status(), 404);
    assert_eq!(
        send(&app, &rotated, "text/plain", STRATEGY).await.status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn invalid_accounts_and_bots_name_the_field() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    for (body, path) in [
        (json!({"name": "a", "kind": "ibkr"}), "kind"),
        (json!({"name": "a", "kind": "alpaca"}), "credentials"),
        (
            json!({"name": "a", "kind": "alpaca", "credentials": {"key_id": "", "secret_key": "x"}}),
            "credentials.key_id",
        ),
        (
            json!({"name": "a", "kind": "paper", "starting_cash": -5}),
            "starting_cash",
        ),
        (
            json!({"name": "a", "kind": "paper", "environment": "live"}),
            "environment",
        ),
    ] {
        let response = post_json(&app, "/api/v1/broker-accounts", &body).await;
        assert_eq!(validation_path(response).await, path, "{body}");
    }
    let alpaca = post_json(
        &app,
        "/api/v1/broker-accounts",
        &json!({"name": "alpaca", "kind": "alpaca", "credentials": {"key_id": "PKTEST", "secret_key": "s3cr3t-value"}}),
    )
    .await;
    let text = alpaca.text().await.unwrap();
    assert!(
        !text.contains("s3cr3t-value") && !text.contains("PKTEST"),
        "credentials never shown: {text}"
    );
    let account: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(account["has_credentials"], true);
    for (body, path) in [
        (
            json!({"name": "b", "broker_account_id": account["id"], "allowed_symbols": []}),
            "allowed_symbols",
        ),
        (
            json!({"name": "b", "broker_account_id": "bac_nope", "allowed_symbols": ["AAPL"]}),
            "broker_account_id",
        ),
        (
            json!({"name": "b", "broker_account_id": account["id"], "allowed_symbols": ["AAPL"], "settings": {"sl_pct": 3}}),
            "settings.sl_pct",
        ),
        (
            json!({"name": "b", "broker_account_id": account["id"], "allowed_symbols": ["AAPL"], "settings": {"colour": 1}}),
            "settings.colour",
        ),
        (
            json!({"name": "b", "broker_account_id": account["id"], "allowed_symbols": ["AAPL"], "settings": {"sizing_mode": "fixed_qty"}}),
            "settings.fixed_qty",
        ),
    ] {
        let response = post_json(&app, "/api/v1/bots", &body).await;
        assert_eq!(validation_path(response).await, path, "{body}");
    }
    assert_eq!(
        get_json(&app, "/api/v1/bots").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn intake_accepts_each_format_and_refuses_resends() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({})).await;
    // text/plain, as TradingView sends when it cannot tell.
    let first = send(&app, &bot, "text/plain", STRATEGY).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        (first["success"].as_bool(), first["duplicate"].as_bool()),
        (Some(true), Some(false))
    );
    let id = first["signal_id"].as_str().unwrap();
    assert!(id.starts_with("sig_"));
    // The resend (whitespace differs): 200, duplicate, the first id.
    let again = send(&app, &bot, "application/json", &STRATEGY.replace(',', ", ")).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["signal_id"], id);

    let tp = send(&app, &bot, "application/json", r#"{"ticker":"AAPL","action":"buy","sentiment":"bullish","quantity":"2","time":"2026-11-23T00:00:00Z"}"#).await;
    assert_eq!(tp.status(), 200);
    let multi = send(
        &app,
        &bot,
        "text/plain",
        r#"{"alertType":"multi_leg_order","order_legs":[{"transactionType":"B","orderType":"MKT","quantity":"1","symbol":"AAPL","sort_order":"1","price":"0"}]}"#,
    )
    .await;
    assert_eq!(multi.status(), 200);
    let multi: Value = multi.json().await.unwrap();
    assert_eq!(multi["alertType"], "multi_leg_order");
    assert_eq!(multi["results"].as_array().unwrap().len(), 1);
    assert_eq!(multi["results"][0]["leg_number"], 1);

    let events = get_json(&app, "/api/v1/events?type=signal.received").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 3, "{events}");
    assert!(
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["signal_id"] == id),
        "{events}"
    );
    app.stop().await;
}

#[tokio::test]
async fn identical_signals_fired_together_are_accepted_once() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({})).await;
    let sends = (0..12).map(|_| send(&app, &bot, "text/plain", STRATEGY));
    let answers = futures::future::join_all(sends).await;
    let mut ids = std::collections::BTreeSet::new();
    let mut fresh = 0;
    for a in answers {
        assert_eq!(a.status(), 200);
        let v: Value = a.json().await.unwrap();
        ids.insert(v["signal_id"].as_str().unwrap().to_string());
        if v["duplicate"] == false {
            fresh += 1;
        }
    }
    assert_eq!(
        (fresh, ids.len()),
        (1, 1),
        "one signal, every answer names it"
    );
    let events = get_json(&app, "/api/v1/events?type=signal.received").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn intake_errors_are_4xx_with_their_codes() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, json!({"body_secret": "correct horse"})).await;
    let with_secret =
        |s: &str| STRATEGY.replace("{\"symbol\"", &format!("{{\"secret\":\"{s}\",\"symbol\""));

    let (status, body) = error_code(send(&app, &bot, "text/plain", "{\"symbol\":").await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );
    assert!(body["error"]["details"]["line"].is_number());
    let unknown = app
        .post("/hooks/tradingview/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .body(STRATEGY)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let (status, body) =
        error_code(send(&app, &bot, "text/plain", &with_secret("wrong")).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_secret"))
    );
    let (status, _) = error_code(send(&app, &bot, "text/plain", STRATEGY).await).await;
    assert_eq!(status, 401, "a missing secret is a wrong secret");
    let big = format!(
        "{{\"ticker\":\"AAPL\",\"action\":\"buy\",\"extras\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let (status, body) = error_code(send(&app, &bot, "text/plain", &big).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (status, body) = error_code(
        send(
            &app,
            &bot,
            "text/plain",
            &with_secret("correct horse").replace("\"0.5\"", "\"{{strategy.order.contracts}}\""),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "unreplaced_placeholder");
    assert_eq!(
        body["error"]["details"][0]["path"],
        "strategy_order_contracts"
    );
    let (status, body) = error_code(
        send(
            &app,
            &bot,
            "text/plain",
            &with_secret("correct horse").replace("BTCUSD", "DOGEUSD"),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("symbol_not_allowed"))
    );

    // Paused: 423, and the signal is on record as rejected.
    let id = bot["id"].as_str().unwrap();
    let response = patch_json(
        &app,
        &format!("/api/v1/bots/{id}"),
        &json!({"paused": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let (status, body) =
        error_code(send(&app, &bot, "text/plain", &with_secret("correct horse")).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (423, Some("bot_paused"))
    );
    assert!(
        body["error"]["details"]["signal_id"]
            .as_str()
            .unwrap()
            .starts_with("sig_")
    );
    let rejected = get_json(&app, "/api/v1/events?type=signal.rejected").await;
    let reasons: Vec<&str> = rejected["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["reason"].as_str().unwrap_or(""))
        .collect();
    assert!(reasons.iter().any(|r| r.contains("paused")), "{reasons:?}");
    let paused = get_json(&app, "/api/v1/events?type=bot.paused").await;
    assert_eq!(paused["data"][0]["data"]["bot_id"], id);
    app.stop().await;
}

#[tokio::test]
async fn the_source_allowlist_believes_forwarded_for_only_from_trusted_proxies() {
    let db = TestDb::sqlite().await;
    // The test client connects from 127.0.0.1.
    let app = TestApp::start_with(&db, |c| {
        c.tradingview.allowed_ips = "52.89.214.238, 34.212.75.30".into();
        c.tradingview.trusted_proxies = "127.0.0.1".into();
    })
    .await;
    let bot = paper_bot(&app, json!({})).await;
    let token = bot["token"].as_str().unwrap();
    let post = |xff: Option<&'static str>, body: String| {
        let mut req = app
            .post(&format!("/hooks/tradingview/{token}"))
            .header("content-type", "text/plain")
            .body(body);
        if let Some(x) = xff {
            req = req.header("x-forwarded-for", x);
        }
        req.send()
    };
    // The proxy itself is not TradingView.
    let (status, body) = error_code(post(None, STRATEGY.into()).await.unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "ip_not_allowed");
    // A forged address on the left does not help: the proxy appended the
    // real one.
    let forged = post(Some("52.89.214.238, 203.0.113.7"), STRATEGY.into())
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // TradingView behind the proxy.
    let ok = post(Some("52.89.214.238"), STRATEGY.into()).await.unwrap();
    assert_eq!(ok.status(), 200);
    // Refused requests stored nothing: one signal, the accepted one.
    let signals = get_json(&app, "/api/v1/signals").await;
    assert_eq!(signals["data"].as_array().unwrap().len(), 1, "{signals}");
    app.stop().await;

    // Without trusted proxies the header is ignored: the peer decides.
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, |c| {
        c.tradingview.allowed_ips = "52.89.214.238".into();
    })
    .await;
    let bot = paper_bot(&app, json!({})).await;
    let token = bot["token"].as_str().unwrap();
    let spoofed = app
        .post(&format!("/hooks/tradingview/{token}"))
        .header("x-forwarded-for", "52.89.214.238")
        .body(STRATEGY)
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 403);
    app.stop().await;
}
