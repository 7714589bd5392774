//! The endpoint and delivery API: secrets shown once, validation paths,
//! updates, pagination, test sends, per-endpoint rate limits and the
//! continuous-failure disable.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use common::{
    ADMIN_KEY, TestApp, create_endpoint, delivery_in, error_code, eventually, get_json, holds_for,
    patch_json, post_json, publish_event, validation_path,
};
use serde_json::{Value, json};
use tradehook_store::backend_test;
use tradehook_store::testing::TestDb;
use tradehook_testkit::receiver::{Behaviour, Receiver};

const WAIT: Duration = Duration::from_secs(10);

async fn list_all_endpoints(app: &TestApp) -> Vec<Value> {
    let page = get_json(app, "/api/v1/endpoints?limit=200").await;
    page["data"].as_array().expect("a page has data").clone()
}

async fn create_raw(app: &TestApp, body: &Value) -> reqwest::Response {
    post_json(app, "/api/v1/endpoints", body).await
}

#[tokio::test]
async fn the_secret_is_shown_once_and_header_values_never() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let created = create_endpoint(
        &app,
        json!({
            "url": "http://127.0.0.1:9/hook",
            "event_types": ["*"],
            "headers": {"Authorization": "Bearer hunter2-header-value"},
        }),
    )
    .await;
    let secret = created["secret"].as_str().unwrap();
    let encoded = secret.strip_prefix("whsec_").expect("whsec_ prefix");
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("the secret is base64");
    assert_eq!(key.len(), 24, "24 random bytes");
    assert_eq!(created["headers"], json!(["Authorization"]));
    assert!(
        !created.to_string().contains("hunter2-header-value"),
        "{created}"
    );

    let id = created["id"].as_str().unwrap();
    let one = get_json(&app, &format!("/api/v1/endpoints/{id}")).await;
    let listed = list_all_endpoints(&app).await;
    assert_eq!(listed.len(), 1);
    for view in [&one, &listed[0]] {
        assert_eq!(view["id"], id);
        assert!(view.get("secret").is_none(), "{view}");
        let preview = view["secret_preview"].as_str().unwrap();
        assert!(preview.starts_with("whsec_"), "{preview}");
        assert!(
            secret.starts_with(preview.trim_end_matches('…')),
            "{preview} is the start of the secret"
        );
        assert!(preview.len() < secret.len(), "{preview}");
        let text = view.to_string();
        assert!(
            !text.contains(encoded),
            "reads never show the secret: {text}"
        );
        assert!(!text.contains("hunter2-header-value"), "{text}");
        assert_eq!(view["headers"], json!(["Authorization"]));
    }
    app.stop().await;
}

#[tokio::test]
async fn invalid_endpoints_get_422_at_the_field_path_and_create_nothing() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let url = "http://127.0.0.1:9/hook";
    let cases = [
        (json!({"event_types": ["*"]}), "url"),
        (
            json!({"url": url, "kind": "carrier_pigeon", "event_types": ["*"]}),
            "kind",
        ),
        (json!({"url": url, "event_types": []}), "event_types"),
        (
            json!({"url": url, "event_types": ["alerts.*"]}),
            "event_types[0]",
        ),
        (
            json!({"url": url, "event_types": ["order.*", "Order.Filled"]}),
            "event_types[1]",
        ),
        (
            json!({"url": url, "event_types": ["*"], "rate_limit_per_minute": 0}),
            "rate_limit_per_minute",
        ),
        (
            json!({"url": url, "event_types": ["*"], "max_concurrency": 0}),
            "max_concurrency",
        ),
        (
            json!({"url": url, "event_types": ["*"], "max_concurrency": 1000}),
            "max_concurrency",
        ),
        (
            json!({"url": url, "event_types": ["*"], "headers": {"webhook-id": "x"}}),
            "headers.webhook-id",
        ),
        (
            json!({"url": url, "event_types": ["*"], "headers": {"Content-Type": "text/plain"}}),
            "headers.Content-Type",
        ),
        (
            json!({"url": url, "event_types": ["*"], "headers": {"bad name": "x"}}),
            "headers.bad name",
        ),
        (
            json!({"url": url, "event_types": ["*"], "signature_scheme": "md5"}),
            "signature_scheme",
        ),
        (
            json!({"url": url, "event_types": ["*"], "retry_schedule": ["5 parsecs"]}),
            "retry_schedule",
        ),
        (
            json!({"url": url, "kind": "telegram", "event_types": ["*"],
                   "telegram_bot_token": "123456:ABC-def_ghi"}),
            "telegram_chat_id",
        ),
        (
            json!({"url": url, "kind": "telegram", "event_types": ["*"],
                   "telegram_chat_id": "-100123", "telegram_bot_token": "not a token"}),
            "telegram_bot_token",
        ),
        (
            json!({"url": url, "kind": "telegram", "event_types": ["*"],
                   "telegram_chat_id": "-100123"}),
            "telegram_bot_token",
        ),
        (
            json!({"url": url, "event_types": ["*"], "colour": "red"}),
            "colour",
        ),
    ];
    for (input, path) in cases {
        let got = validation_path(create_raw(&app, &input).await).await;
        assert_eq!(got, path, "for {input}");
    }
    assert!(
        list_all_endpoints(&app).await.is_empty(),
        "no refused request created an endpoint"
    );
    app.stop().await;
}

#[tokio::test]
async fn patch_changes_fields_clears_filters_and_re_enabling_clears_the_reason() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let ep = create_endpoint(
        &app,
        json!({"url": "http://127.0.0.1:9/x", "event_types": ["alert.*"],
               "filter_symbols": ["BTCUSDT"]}),
    )
    .await;
    let id = ep["id"].as_str().unwrap();
    let path = format!("/api/v1/endpoints/{id}");

    let changed = patch_json(&app, &path, &json!({"event_types": ["order.filled"]})).await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["event_types"], json!(["order.filled"]));
    assert_eq!(
        changed["filter_symbols"],
        json!(["BTCUSDT"]),
        "absent is kept"
    );

    let cleared: Value = patch_json(&app, &path, &json!({"filter_symbols": null}))
        .await
        .json()
        .await
        .unwrap();
    assert!(cleared["filter_symbols"].is_null(), "{cleared}");
    assert_eq!(cleared["event_types"], json!(["order.filled"]));

    let off: Value = patch_json(&app, &path, &json!({"enabled": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(off["enabled"], false);
    assert!(off["disabled_reason"].is_string(), "{off}");
    let on: Value = patch_json(&app, &path, &json!({"enabled": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(on["enabled"], true);
    assert!(on["disabled_reason"].is_null(), "{on}");

    // The stored row says the same as the answers.
    let stored = get_json(&app, &path).await;
    assert_eq!(stored["event_types"], json!(["order.filled"]));
    assert!(stored["filter_symbols"].is_null());
    assert!(stored["disabled_reason"].is_null());

    let refused = patch_json(&app, &path, &json!({"event_types": ["alerts.*"]})).await;
    assert_eq!(validation_path(refused).await, "event_types[0]");
    assert_eq!(
        get_json(&app, &path).await["event_types"],
        json!(["order.filled"]),
        "a refused patch changes nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_malformed_endpoint_ids_are_404_and_deleted_ones_too() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let unknown = format!("/api/v1/endpoints/ep_{}", "0".repeat(32));
    for path in [unknown.as_str(), "/api/v1/endpoints/not-an-id"] {
        let (status, body) =
            error_code(patch_json(&app, path, &json!({"description": "x"})).await).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        let got = app
            .get(path)
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 404, "GET {path}");
    }

    let ep = create_endpoint(
        &app,
        json!({"url": "http://127.0.0.1:9/x", "event_types": ["*"]}),
    )
    .await;
    let path = format!("/api/v1/endpoints/{}", ep["id"].as_str().unwrap());
    let deleted = app
        .delete(&path)
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, _) = error_code(
        app.get(&path)
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let again = app
        .delete(&path)
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_telegram_token_is_refused_on_patch_too() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let ep = create_endpoint(
        &app,
        json!({"url": "http://127.0.0.1:9", "kind": "telegram", "event_types": ["*"],
               "telegram_chat_id": "-100123", "telegram_bot_token": "123456:ABC-def_ghi"}),
    )
    .await;
    let path = format!("/api/v1/endpoints/{}", ep["id"].as_str().unwrap());
    let refused = patch_json(&app, &path, &json!({"telegram_bot_token": "not a token"})).await;
    assert_eq!(validation_path(refused).await, "telegram_bot_token");
    app.stop().await;
}

backend_test!(endpoints_page_with_limit_and_next, |db| {
    let app = TestApp::start(db).await;
    let mut created = Vec::new();
    for i in 0..5 {
        let ep = create_endpoint(
            &app,
            json!({"url": format!("http://127.0.0.1:9/{i}"), "event_types": ["*"]}),
        )
        .await;
        created.push(ep["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut path = "/api/v1/endpoints?limit=2".to_string();
    loop {
        let page = get_json(&app, &path).await;
        let data = page["data"].as_array().unwrap();
        sizes.push(data.len());
        seen.extend(data.iter().map(|e| e["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/endpoints?limit=2&after={next}"),
            None => break,
        }
        assert!(sizes.len() < 10, "paging does not end");
    }
    assert_eq!(sizes, [2, 2, 1]);
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "every endpoint once, in id order");
    let bad = app
        .get("/api/v1/endpoints?limit=0")
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(validation_path(bad).await, "limit");
    app.stop().await;
});

#[tokio::test]
async fn a_test_send_reaches_only_its_endpoint_and_is_limited_to_five_a_minute() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    let tested = create_endpoint(
        &app,
        json!({"url": rx.url("/tested"), "event_types": ["order.filled"]}),
    )
    .await;
    let other = create_endpoint(&app, json!({"url": rx.url("/other"), "event_types": ["*"]})).await;
    let id = tested["id"].as_str().unwrap();
    let test_path = format!("/api/v1/endpoints/{id}/test");

    let sent = post_json(&app, &test_path, &json!({})).await;
    assert_eq!(sent.status(), 202);
    let event_id = sent.json::<Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let got = rx.wait_for_path("/tested", 1, WAIT).await.remove(0);
    assert_eq!(got.webhook_id(), Some(event_id.as_str()));
    assert_eq!(got.json()["type"], "endpoint.test");
    assert_eq!(got.json()["data"]["endpoint_id"], id);
    delivery_in(&app, id, "delivered").await;
    let other_deliveries = get_json(
        &app,
        &format!(
            "/api/v1/endpoints/{}/deliveries",
            other["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(other_deliveries["data"], json!([]), "{other_deliveries}");
    assert!(rx.requests_for("/other").is_empty());

    for n in 2..=5 {
        let r = post_json(&app, &test_path, &json!({})).await;
        assert_eq!(r.status(), 202, "test send {n}");
    }
    let sixth = post_json(&app, &test_path, &json!({})).await;
    let retry_after: u64 = sixth
        .headers()
        .get("retry-after")
        .expect("a 429 says when to retry")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (status, body) = error_code(sixth).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );

    let off = patch_json(
        &app,
        &format!("/api/v1/endpoints/{}", other["id"].as_str().unwrap()),
        &json!({"enabled": false}),
    )
    .await;
    assert_eq!(off.status(), 200);
    let (status, body) = error_code(
        post_json(
            &app,
            &format!("/api/v1/endpoints/{}/test", other["id"].as_str().unwrap()),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("endpoint_disabled"))
    );
    app.stop().await;
    rx.shutdown().await;
}

backend_test!(deliveries_page_with_before_and_filter_by_status, |db| {
    let app = TestApp::start(db).await;
    let ep = create_endpoint(&app, json!({"kind": "log", "event_types": ["*"]})).await;
    let id = ep["id"].as_str().unwrap();
    let mut events = Vec::new();
    for i in 0..5 {
        events.push(publish_event(&app, "signal.received", json!({"n": i})).await);
    }
    eventually(10, "five deliveries delivered", || async {
        let page = get_json(
            &app,
            &format!("/api/v1/endpoints/{id}/deliveries?status=delivered"),
        )
        .await;
        (page["data"].as_array()?.len() == 5).then_some(())
    })
    .await;

    let base = format!("/api/v1/endpoints/{id}/deliveries?status=delivered&limit=2");
    let mut path = base.clone();
    let mut seen: Vec<Value> = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = get_json(&app, &path).await;
        let data = page["data"].as_array().unwrap();
        sizes.push(data.len());
        seen.extend(data.iter().cloned());
        match page["next"].as_str() {
            Some(before) => path = format!("{base}&before={before}"),
            None => break,
        }
        assert!(sizes.len() < 10, "paging does not end");
    }
    assert_eq!(sizes, [2, 2, 1]);
    let ids: Vec<&str> = seen.iter().map(|d| d["id"].as_str().unwrap()).collect();
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first, "newest first");
    let seen_events: BTreeSet<&str> = seen
        .iter()
        .map(|d| d["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(seen_events, events.iter().map(String::as_str).collect());

    for status in ["pending", "failed"] {
        let page = get_json(
            &app,
            &format!("/api/v1/endpoints/{id}/deliveries?status={status}"),
        )
        .await;
        assert_eq!(page["data"], json!([]), "{status}: {page}");
    }
    let bogus = app
        .get(&format!("/api/v1/endpoints/{id}/deliveries?status=bogus"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(validation_path(bogus).await, "status");
    app.stop().await;
});

backend_test!(the_per_endpoint_rate_limit_holds_back_the_rest, |db| {
    let app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    let ep = create_endpoint(
        &app,
        json!({"url": rx.url("/limited"), "event_types": ["*"], "rate_limit_per_minute": 2}),
    )
    .await;
    let id = ep["id"].as_str().unwrap();
    for i in 0..5 {
        publish_event(&app, "order.filled", json!({"n": i})).await;
    }
    rx.wait_for_path("/limited", 2, Duration::from_secs(5))
        .await;
    holds_for(
        Duration::from_secs(1),
        "only two requests within the minute",
        || async { rx.requests_for("/limited").len() == 2 },
    )
    .await;
    let pending = get_json(
        &app,
        &format!("/api/v1/endpoints/{id}/deliveries?status=pending"),
    )
    .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 3, "{pending}");
    app.stop().await;
    rx.shutdown().await;
});

/// The budget is spent on sends, not on rounds: one delivery sent out of
/// a limit of two leaves room for one more right away.
#[tokio::test]
async fn a_rate_limited_endpoint_spends_its_budget_only_on_sends() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    let ep = create_endpoint(
        &app,
        json!({"url": rx.url("/limited"), "event_types": ["*"], "rate_limit_per_minute": 2}),
    )
    .await;
    let id = ep["id"].as_str().unwrap();
    publish_event(&app, "order.filled", json!({"n": 0})).await;
    rx.wait_for_path("/limited", 1, WAIT).await;
    delivery_in(&app, id, "delivered").await;
    for i in 1..5 {
        publish_event(&app, "order.filled", json!({"n": i})).await;
    }
    rx.wait_for_path("/limited", 2, Duration::from_secs(5))
        .await;
    holds_for(
        Duration::from_secs(1),
        "only two requests within the minute",
        || async { rx.requests_for("/limited").len() == 2 },
    )
    .await;
    app.stop().await;
    rx.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_failing_continuously_is_disabled() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, |c| c.delivery.disable_after_secs = 1).await;
    let rx = Receiver::start().await;
    rx.set("/down", Behaviour::Status(500));
    let ep = create_endpoint(
        &app,
        json!({"url": rx.url("/down"), "event_types": ["*"],
               "retry_schedule": ["0s", "200ms", "200ms", "200ms", "200ms",
                                  "200ms", "200ms", "200ms", "200ms"]}),
    )
    .await;
    let id = ep["id"].as_str().unwrap();
    publish_event(&app, "bot.paused", json!({})).await;
    let disabled = eventually(10, "the endpoint is disabled", || async {
        let e = get_json(&app, &format!("/api/v1/endpoints/{id}")).await;
        (e["enabled"] == false).then_some(e)
    })
    .await;
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("continuously"), "{reason}");
    assert!(
        rx.requests_for("/down").len() >= 2,
        "it failed more than once before being disabled"
    );
    app.stop().await;
    rx.shutdown().await;
}
