//! Rules, alerts and price alerts through the HTTP API, with the real
//! evaluator fed by injected market events.

mod common;

use std::time::Duration;

use common::{
    ADMIN_KEY, TestApp, error_code, eventually, get_json, holds_for, patch_json, post_json,
    validation_path,
};
use serde_json::{Value, json};
use tradehook_core::time::now_ms;
use tradehook_core::webhook::signing::{WebhookSecret, verify};
use tradehook_feeds::FeedEvent;
use tradehook_store::testing::TestDb;
use tradehook_testkit::receiver::Receiver;

/// A minute far from now, so windows are easy to reason about.
const T0: i64 = 1_795_392_000_000; // 2026-11-23T00:00:00Z

async fn tick(app: &TestApp, symbol: &str, price: f64, ts: i64) {
    app.state
        .market
        .inject(FeedEvent::Tick {
            symbol: symbol.into(),
            price,
            ts,
        })
        .await;
}

async fn create_rule(app: &TestApp, body: Value) -> Value {
    let response = post_json(app, "/api/v1/rules", &body).await;
    let status = response.status();
    let json: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "rule creation failed: {json}");
    json
}

async fn alerts_of(app: &TestApp, rule_id: &str) -> Vec<Value> {
    get_json(app, &format!("/api/v1/alerts?rule_id={rule_id}")).await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until the evaluator has applied every rule change so far: a
/// sentinel rule created last fires on a tick of its own symbol.
async fn evaluator_caught_up(app: &TestApp) {
    let sentinel = create_rule(
        app,
        json!({"name": "sentinel", "symbol": "SOL", "rule_type": "price_threshold",
               "config": {"operator": ">", "threshold": 1.0}, "frequency": "every_time"}),
    )
    .await;
    let id = sentinel["id"].as_str().unwrap().to_string();
    let mut ts = now_ms();
    eventually(10, "the sentinel rule fires", || {
        ts += 1;
        let ts = ts;
        let id = id.clone();
        async move {
            tick(app, "SOL", 2.0, ts).await;
            (!alerts_of(app, &id).await.is_empty()).then_some(())
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

#[tokio::test]
async fn rules_are_created_listed_filtered_changed_and_deleted() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let a = create_rule(
        &app,
        json!({"name": "BTC breakout", "symbol": "BTC", "rule_type": "price_threshold",
               "config": {"operator": "crossing_up", "threshold": 100000},
               "frequency": "once_per_bar", "cooldown_seconds": 0, "enabled": true}),
    )
    .await;
    assert!(a["id"].as_str().unwrap().starts_with("rul_"));
    assert_eq!(a["status"], "active");
    assert_eq!(
        a["config"],
        json!({"operator": "crossing_up", "threshold": 100000.0})
    );
    let b = create_rule(
        &app,
        json!({"name": "ETH RSI", "symbol": "ETH", "rule_type": "rsi",
               "config": {"period": 14, "interval": "1m", "threshold": 70, "direction": "overbought"},
               "enabled": false}),
    )
    .await;
    assert_eq!(b["frequency"], "once_per_bar", "the default frequency");

    let all = get_json(&app, "/api/v1/rules").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    let eth = get_json(&app, "/api/v1/rules?symbol=ETH").await;
    assert_eq!(eth["data"][0]["id"], b["id"]);
    assert_eq!(eth["data"].as_array().unwrap().len(), 1);
    let rsi = get_json(&app, "/api/v1/rules?rule_type=rsi").await;
    assert_eq!(rsi["data"].as_array().unwrap().len(), 1);
    let enabled = get_json(&app, "/api/v1/rules?enabled=true").await;
    assert_eq!(enabled["data"].as_array().unwrap().len(), 1);
    assert_eq!(enabled["data"][0]["id"], a["id"]);
    let page = get_json(&app, "/api/v1/rules?limit=1").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().expect("a next cursor");
    let page2 = get_json(&app, &format!("/api/v1/rules?limit=1&after={next}")).await;
    assert_ne!(page2["data"][0]["id"], page["data"][0]["id"]);
    assert!(page2["next"].is_null());

    let id = a["id"].as_str().unwrap();
    let response = patch_json(
        &app,
        &format!("/api/v1/rules/{id}"),
        &json!({"enabled": false, "name": "BTC breakout (paused)"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["name"], "BTC breakout (paused)");
    assert_eq!(changed["config"], a["config"]);
    let fetched = get_json(&app, &format!("/api/v1/rules/{id}")).await;
    assert_eq!(fetched["enabled"], false);

    let response = app
        .delete(&format!("/api/v1/rules/{id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .get(&format!("/api/v1/rules/{id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn invalid_rules_get_a_422_naming_the_field_and_change_nothing() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let base = json!({"name": "x", "symbol": "BTC", "rule_type": "price_threshold",
                      "config": {"operator": ">", "threshold": 1}});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"config": {"operator": ">", "threshold": 1, "extra": 1}}),
            "config.extra",
        ),
        (
            json!({"config": {"operator": ">", "threshold": -5}}),
            "config.threshold",
        ),
        (
            json!({"config": {"operator": "!=", "threshold": 5}}),
            "config.operator",
        ),
        (json!({"config": {"operator": ">"}}), "config.threshold"),
        (
            json!({"rule_type": "rsi", "config": {"period": 0, "interval": "1m", "threshold": 70, "direction": "overbought"}}),
            "config.period",
        ),
        (
            json!({"rule_type": "macd_cross", "config": {"fast": 12, "slow": 26, "signal": 9, "interval": "4h", "direction": "bullish"}}),
            "config.interval",
        ),
        (
            json!({"rule_type": "channel", "config": {"lower": 10, "upper": 5, "event": "inside"}}),
            "config.upper",
        ),
        (json!({"rule_type": "astrology"}), "rule_type"),
        (json!({"frequency": "sometimes"}), "frequency"),
        (json!({"cooldown_seconds": 99_999_999}), "cooldown_seconds"),
        (json!({"expires_at": "2001-01-01T00:00:00Z"}), "expires_at"),
        (json!({"name": ""}), "name"),
        (
            json!({"generic_webhook_url": "http://169.254.169.254/x"}),
            "generic_webhook_url",
        ),
    ];
    for (patch, path) in cases {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = post_json(&app, "/api/v1/rules", &body).await;
        assert_eq!(validation_path(response).await, path, "body {body}");
    }
    let mut unknown = base.clone();
    unknown["symbol"] = json!("NOPE");
    let (status, body) = error_code(post_json(&app, "/api/v1/rules", &unknown).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("symbol_not_found"))
    );
    let mut top = base.clone();
    top["colour"] = json!("red");
    let (status, _) = error_code(post_json(&app, "/api/v1/rules", &top).await).await;
    assert_eq!(status, 422);
    let all = get_json(&app, "/api/v1/rules").await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        0,
        "nothing was stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_crossing_rule_fires_once_per_bar_and_changes_apply_without_restart() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rule = create_rule(
        &app,
        json!({"name": "BTC 100k", "symbol": "BTC", "rule_type": "price_threshold",
               "config": {"operator": "crossing_up", "threshold": 100000}}),
    )
    .await;
    let id = rule["id"].as_str().unwrap().to_string();
    evaluator_caught_up(&app).await;
    // A baseline below, a cross, a fall and a second cross in the same bar.
    tick(&app, "BTC", 99_000.0, T0 + 1_000).await;
    tick(&app, "BTC", 100_500.0, T0 + 2_000).await;
    tick(&app, "BTC", 99_500.0, T0 + 3_000).await;
    tick(&app, "BTC", 100_200.0, T0 + 4_000).await;
    let alerts = eventually(10, "the alert", || async {
        let a = alerts_of(&app, &id).await;
        (!a.is_empty()).then_some(a)
    })
    .await;
    let alert = &alerts[0];
    assert_eq!(alert["price"], 100_500.0);
    assert_eq!(alert["symbol"], "BTC");
    assert_eq!(alert["window_start"], "2026-11-23T00:00:00.000Z");
    assert_eq!(alert["window_end"], "2026-11-23T00:00:59.999Z");
    assert_eq!(alert["feed_time"], "2026-11-23T00:00:02.000Z");
    assert_eq!(alert["rule_snapshot"]["name"], "BTC 100k");
    let one = get_json(
        &app,
        &format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one["id"], alert["id"]);
    // The alert's event is in the history, with the rule and the price.
    let metrics = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "tradehook_alerts_fired_total{rule_type=\"price_threshold\"}",
        "tradehook_rules_active{rule_type=\"price_threshold\"}",
        "tradehook_rule_eval_seconds",
        "tradehook_alert_latency_seconds",
        "tradehook_rules_warming_series",
        "tradehook_rules_evaluator_ready",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
    let events = get_json(&app, "/api/v1/events?type=alert.triggered").await;
    let event = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["rule_id"] == id.as_str())
        .cloned()
        .expect("an alert.triggered event");
    assert_eq!(event["data"]["alert_id"], alert["id"]);
    assert_eq!(event["data"]["price"], 100_500.0);
    assert_eq!(event["data"]["direction"], "up");

    // The next bar: a new cross fires again.
    tick(&app, "BTC", 99_000.0, T0 + 61_000).await;
    tick(&app, "BTC", 101_000.0, T0 + 62_000).await;
    eventually(10, "a second alert in the next bar", || async {
        (alerts_of(&app, &id).await.len() == 2).then_some(())
    })
    .await;

    // Disabled through the API: the next cross fires nothing.
    let response = patch_json(
        &app,
        &format!("/api/v1/rules/{id}"),
        &json!({"enabled": false}),
    )
    .await;
    assert_eq!(response.status(), 200);
    evaluator_caught_up(&app).await;
    tick(&app, "BTC", 99_000.0, T0 + 121_000).await;
    tick(&app, "BTC", 101_000.0, T0 + 122_000).await;
    evaluator_caught_up(&app).await;
    holds_for(
        Duration::from_millis(300),
        "no alert while disabled",
        || async { alerts_of(&app, &id).await.len() == 2 },
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn alerts_filter_by_rule_symbol_and_time_with_cursor_pages() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rule = create_rule(
        &app,
        json!({"name": "every", "symbol": "ETH", "rule_type": "price_threshold",
               "config": {"operator": ">=", "threshold": 10}, "frequency": "every_time"}),
    )
    .await;
    let id = rule["id"].as_str().unwrap().to_string();
    evaluator_caught_up(&app).await;
    for i in 0..5 {
        tick(&app, "ETH", 11.0 + i as f64, T0 + i * 1000).await;
    }
    eventually(10, "five alerts", || async {
        (alerts_of(&app, &id).await.len() == 5).then_some(())
    })
    .await;
    let page = get_json(&app, &format!("/api/v1/alerts?rule_id={id}&limit=2")).await;
    let first: Vec<Value> = page["data"].as_array().unwrap().clone();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0]["price"], 15.0, "newest first");
    let cursor = page["next"].as_str().unwrap();
    let page2 = get_json(
        &app,
        &format!("/api/v1/alerts?rule_id={id}&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(page2["data"][0]["price"], 13.0);
    let cursor = page2["next"].as_str().unwrap();
    let page3 = get_json(
        &app,
        &format!("/api/v1/alerts?rule_id={id}&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(page3["data"].as_array().unwrap().len(), 1);
    assert!(page3["next"].is_null());
    let by_symbol = get_json(&app, "/api/v1/alerts?symbol=BTC").await;
    assert_eq!(by_symbol["data"].as_array().unwrap().len(), 0);
    let future = get_json(&app, "/api/v1/alerts?from=2099-01-01T00:00:00Z").await;
    assert_eq!(future["data"].as_array().unwrap().len(), 0);
    let response = app
        .get("/api/v1/alerts?cursor=garbage")
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(validation_path(response).await, "cursor");
    app.stop().await;
}

#[tokio::test]
async fn an_expiring_rule_publishes_alert_expired_once() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rule = create_rule(
        &app,
        json!({"name": "short-lived", "symbol": "BTC", "rule_type": "price_threshold",
               "config": {"operator": ">", "threshold": 1}, "expires_at": (now_ms() + 1200).to_string()}),
    )
    .await;
    let id = rule["id"].as_str().unwrap().to_string();
    let expired = eventually(10, "the rule expires", || async {
        let r = get_json(&app, &format!("/api/v1/rules/{id}")).await;
        (r["status"] == "expired").then_some(r)
    })
    .await;
    assert_eq!(expired["enabled"], false);
    let events = get_json(&app, "/api/v1/events?type=alert.expired").await;
    let mine: Vec<&Value> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["rule_id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{events}");
    assert_eq!(mine[0]["data"]["rule_name"], "short-lived");
    // An expired rule no longer fires.
    tick(&app, "BTC", 5.0, now_ms()).await;
    evaluator_caught_up(&app).await;
    assert!(alerts_of(&app, &id).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_price_alert_fires_once_and_delivers_its_signed_flat_payload() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let receiver = Receiver::start().await;
    let response = post_json(
        &app,
        "/api/v1/price-alerts",
        &json!({"symbol": "BTC", "condition": "above", "target_price": 100000,
                "webhook_url": receiver.url("/btc")}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let alert_id = created["alert_id"].as_str().unwrap().to_string();
    for key in [
        "alert_id",
        "symbol",
        "condition",
        "target_price",
        "status",
        "created_at",
        "expires_at",
        "webhook_url",
        "secret",
    ] {
        assert!(created.get(key).is_some(), "{key} in {created}");
    }
    assert_eq!(created["status"], "active");
    assert_eq!(created["target_price"], 100000.0);
    let secret = WebhookSecret::parse(created["secret"].as_str().unwrap()).unwrap();
    // 24 hours by default.
    let listed = get_json(&app, "/api/v1/price-alerts").await;
    assert_eq!(listed["data"][0]["alert_id"], alert_id.as_str());
    assert!(
        listed["data"][0].get("secret").is_none(),
        "the secret is shown once"
    );

    evaluator_caught_up(&app).await;
    tick(&app, "BTC", 99_000.0, T0).await;
    tick(&app, "BTC", 100_000.0, T0 + 1000).await;
    tick(&app, "BTC", 101_000.0, T0 + 2000).await;
    let got = receiver
        .wait_for_path("/btc", 1, Duration::from_secs(10))
        .await;
    let request = &got[0];
    let body = request.json();
    assert_eq!(body["alert_id"], alert_id.as_str());
    assert_eq!(body["event"], "price_alert_triggered");
    assert_eq!(body["symbol"], "BTC");
    assert_eq!(body["condition"], "above");
    assert_eq!(body["target_price"], 100000.0);
    assert_eq!(body["current_price"], 100000.0, "equality meets `above`");
    assert_eq!(body["condition_met"], true);
    assert_eq!(body["timestamp"], "2026-11-23T00:00:01.000Z");
    assert_eq!(body["sources"], json!(["none"]));
    verify(
        &secret,
        request.header("webhook-id").unwrap(),
        request.header("webhook-timestamp").unwrap(),
        request.header("webhook-signature").unwrap(),
        &request.body,
        now_ms() / 1000,
    )
    .expect("signed with the alert's secret");

    let status = eventually(10, "the alert is triggered", || async {
        let a = get_json(&app, &format!("/api/v1/price-alerts/{alert_id}")).await;
        (a["status"] == "triggered").then_some(a)
    })
    .await;
    assert_eq!(status["triggered_at"], "2026-11-23T00:00:01.000Z");
    // One-shot: more ticks above send nothing more.
    tick(&app, "BTC", 102_000.0, T0 + 70_000).await;
    evaluator_caught_up(&app).await;
    holds_for(Duration::from_millis(300), "a single delivery", || async {
        receiver.requests_for("/btc").len() == 1
    })
    .await;
    let response = app
        .delete(&format!("/api/v1/price-alerts/{alert_id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await.0,
        409,
        "a triggered alert cannot be cancelled"
    );
    app.stop().await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn a_price_alert_already_true_fires_on_the_next_tick_and_cancel_stops_it() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let receiver = Receiver::start().await;
    tick(&app, "ETH", 3_500.0, T0).await;
    let below = post_json(
        &app,
        "/api/v1/price-alerts",
        &json!({"symbol": "ETH", "condition": "below", "target_price": 4000,
                "webhook_url": receiver.url("/eth"), "duration_hours": 2}),
    )
    .await;
    let below: Value = below.json().await.unwrap();
    let cancelled = post_json(
        &app,
        "/api/v1/price-alerts",
        &json!({"symbol": "ETH", "condition": "below", "target_price": 3000,
                "webhook_url": receiver.url("/cancelled")}),
    )
    .await;
    let cancelled: Value = cancelled.json().await.unwrap();
    let cancelled_id = cancelled["alert_id"].as_str().unwrap();
    let response = app
        .delete(&format!("/api/v1/price-alerts/{cancelled_id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["status"], "cancelled");
    evaluator_caught_up(&app).await;
    tick(&app, "ETH", 2_900.0, T0 + 1000).await;
    let got = receiver
        .wait_for_path("/eth", 1, Duration::from_secs(10))
        .await;
    assert_eq!(got[0].json()["alert_id"], below["alert_id"]);
    evaluator_caught_up(&app).await;
    assert!(
        receiver.requests_for("/cancelled").is_empty(),
        "a cancelled alert never fires"
    );
    let listed = get_json(&app, "/api/v1/price-alerts?status=cancelled").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    app.stop().await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn price_alert_errors_have_their_codes() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, |c| c.delivery.allow_http = false).await;
    let ok = json!({"symbol": "BTC", "condition": "above", "target_price": 1,
                    "webhook_url": "https://1.1.1.1/hook"});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "webhook_url",
            json!("http://1.1.1.1/hook"),
            "invalid_webhook_url",
        ),
        ("webhook_url", json!("not a url"), "invalid_webhook_url"),
        ("condition", json!("sideways"), "invalid_condition"),
        ("duration_hours", json!(169), "duration_too_long"),
        ("symbol", json!("NOPE"), "symbol_not_found"),
    ];
    for (field, value, code) in cases {
        let mut body = ok.clone();
        body[field] = value;
        let (status, error) =
            error_code(post_json(&app, "/api/v1/price-alerts", &body).await).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
        assert_eq!(error["error"]["details"][0]["path"], field);
    }
    let mut negative = ok.clone();
    negative["target_price"] = json!(-1);
    let response = post_json(&app, "/api/v1/price-alerts", &negative).await;
    assert_eq!(validation_path(response).await, "target_price");
    let listed = get_json(&app, "/api/v1/price-alerts").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn an_inline_webhook_gets_the_rules_alerts_signed() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let receiver = Receiver::start().await;
    let rule = create_rule(
        &app,
        json!({"name": "SOL channel", "symbol": "SOL", "rule_type": "channel",
               "config": {"lower": 100, "upper": 110, "event": "entering"},
               "generic_webhook_url": receiver.url("/sol")}),
    )
    .await;
    let secret = WebhookSecret::parse(rule["generic_webhook_secret"].as_str().unwrap()).unwrap();
    let id = rule["id"].as_str().unwrap().to_string();
    evaluator_caught_up(&app).await;
    tick(&app, "SOL", 95.0, T0).await;
    tick(&app, "SOL", 105.0, T0 + 1000).await;
    let got = receiver
        .wait_for_path("/sol", 1, Duration::from_secs(10))
        .await;
    let body = got[0].json();
    assert_eq!(body["type"], "alert.triggered");
    assert_eq!(body["data"]["rule_id"], id.as_str());
    assert_eq!(body["data"]["price"], 105.0);
    verify(
        &secret,
        got[0].header("webhook-id").unwrap(),
        got[0].header("webhook-timestamp").unwrap(),
        got[0].header("webhook-signature").unwrap(),
        &got[0].body,
        now_ms() / 1000,
    )
    .expect("signed with the rule's secret");
    // The sentinel rules of evaluator_caught_up fired too, but only this
    // rule's alerts reach its inline target.
    evaluator_caught_up(&app).await;
    assert_eq!(receiver.requests_for("/sol").len(), 1);
    // Deleting the rule deletes its inline target.
    let response = app
        .delete(&format!("/api/v1/rules/{id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let endpoints = get_json(&app, "/api/v1/endpoints").await;
    assert_eq!(
        endpoints["data"].as_array().unwrap().len(),
        0,
        "{endpoints}"
    );
    app.stop().await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn a_bad_patch_changes_nothing_and_inline_targets_follow_the_patch() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rule = create_rule(
        &app,
        json!({"name": "ETH RSI", "symbol": "ETH", "rule_type": "rsi",
               "config": {"period": 14, "interval": "1m", "threshold": 70, "direction": "overbought"}}),
    )
    .await;
    let path = format!("/api/v1/rules/{}", rule["id"].as_str().unwrap());
    for (body, field) in [
        (
            json!({"config": {"period": 0, "interval": "1m", "threshold": 70, "direction": "overbought"}}),
            "config.period",
        ),
        (
            json!({"config": {"period": 14, "interval": "1m", "threshold": 170, "direction": "overbought"}}),
            "config.threshold",
        ),
        (json!({"frequency": "hourly"}), "frequency"),
        (json!({"symbol": "NOPE"}), "symbol"),
        (
            json!({"discord_webhook_url": "http://10.0.0.1/x"}),
            "discord_webhook_url",
        ),
    ] {
        let response = patch_json(&app, &path, &body).await;
        let (status, error) = error_code(response).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            error["error"]["details"][0]["path"], field,
            "{body}: {error}"
        );
    }
    let (status, _) = error_code(patch_json(&app, &path, &json!({"colour": "red"})).await).await;
    assert_eq!(status, 422);
    let unchanged = get_json(&app, &path).await;
    assert_eq!(unchanged["config"], rule["config"]);
    assert_eq!(unchanged["frequency"], rule["frequency"]);
    assert_eq!(unchanged["updated_at"], rule["updated_at"]);

    let receiver = Receiver::start().await;
    let response = patch_json(
        &app,
        &path,
        &json!({"discord_webhook_url": receiver.url("/discord")}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let endpoints = get_json(&app, "/api/v1/endpoints").await;
    let data = endpoints["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{endpoints}");
    assert_eq!(data[0]["kind"], "discord");
    assert_eq!(data[0]["filter_rule_ids"], json!([rule["id"]]));
    let response = patch_json(&app, &path, &json!({"discord_webhook_url": null})).await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert!(changed["discord_webhook_url"].is_null());
    let endpoints = get_json(&app, "/api/v1/endpoints").await;
    assert_eq!(
        endpoints["data"].as_array().unwrap().len(),
        0,
        "{endpoints}"
    );
    app.stop().await;
    receiver.shutdown().await;
}
