//! Delivery end to end: the real app, a local receiver, both backends.

mod common;

use std::time::Duration;

use common::{ADMIN_KEY, TestApp, create_endpoint, eventually, get_json};
use serde_json::{Value, json};
use tradehook_core::webhook::signing::{WebhookSecret, verify};
use tradehook_delivery::Outbox;
use tradehook_store::backend_test;
use tradehook_testkit::receiver::{Behaviour, Receiver};

const WAIT: Duration = Duration::from_secs(10);

/// A fast schedule so retries happen within a test.
fn fast() -> Value {
    json!(["0s", "20ms", "20ms", "20ms", "20ms"])
}

async fn publish(app: &TestApp, event_type: &str, data: Value) -> String {
    let event = Outbox::event(event_type, data);
    app.state.outbox.publish(&event).await.unwrap();
    event.id
}

async fn delivery_for(app: &TestApp, endpoint_id: &str, status: &str) -> Value {
    eventually(
        10,
        &format!("a {status} delivery on {endpoint_id}"),
        || async {
            let page = get_json(
                app,
                &format!("/api/v1/endpoints/{endpoint_id}/deliveries?status={status}"),
            )
            .await;
            page["data"].as_array().and_then(|d| d.first().cloned())
        },
    )
    .await
}

backend_test!(a_subscribed_webhook_receives_one_signed_delivery, |db| {
    let app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    let ep = create_endpoint(
        &app,
        json!({"url": rx.url("/hook"), "event_types": ["alert.*"]}),
    )
    .await;
    let secret = WebhookSecret::parse(ep["secret"].as_str().unwrap()).unwrap();
    create_endpoint(
        &app,
        json!({"url": rx.url("/orders"), "event_types": ["order.*"]}),
    )
    .await;

    let event_id = publish(
        &app,
        "alert.triggered",
        json!({"symbol": "BTC", "price": 100000}),
    )
    .await;
    let got = rx.wait_for_path("/hook", 1, WAIT).await.remove(0);
    assert_eq!(got.webhook_id(), Some(event_id.as_str()));
    let ts = got.header("webhook-timestamp").unwrap();
    verify(
        &secret,
        &event_id,
        ts,
        got.header("webhook-signature").unwrap(),
        &got.body,
        ts.parse().unwrap(),
    )
    .expect("the signature verifies");
    let body = got.json();
    assert_eq!(body["id"], event_id.as_str());
    assert_eq!(body["type"], "alert.triggered");
    assert_eq!(body["data"], json!({"symbol": "BTC", "price": 100000}));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let delivered = delivery_for(&app, ep["id"].as_str().unwrap(), "delivered").await;
    let detail = get_json(
        &app,
        &format!("/api/v1/deliveries/{}", delivered["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(detail["attempts"], 1);
    assert_eq!(detail["attempts_log"][0]["http_status"], 200);
    assert!(
        rx.requests_for("/orders").is_empty(),
        "not subscribed to alerts"
    );
    app.stop().await;
    rx.shutdown().await;
});

backend_test!(
    server_errors_and_timeouts_are_retried_until_delivered,
    |db| {
        let app = TestApp::start(db).await;
        let rx = Receiver::start().await;
        rx.push(
            "/flaky",
            [
                Behaviour::Status(500),
                Behaviour::Status(503),
                Behaviour::Status(408),
                Behaviour::Status(429),
            ],
        );
        let ep = create_endpoint(
            &app,
            json!({"url": rx.url("/flaky"), "event_types": ["*"], "retry_schedule": fast()}),
        )
        .await;
        let event_id = publish(&app, "order.filled", json!({})).await;
        let got = rx.wait_for_path("/flaky", 5, WAIT).await;
        assert!(
            got.iter()
                .all(|r| r.webhook_id() == Some(event_id.as_str())),
            "same webhook-id on every retry"
        );
        let delivered = delivery_for(&app, ep["id"].as_str().unwrap(), "delivered").await;
        assert_eq!(delivered["attempts"], 5);
        let detail = get_json(
            &app,
            &format!("/api/v1/deliveries/{}", delivered["id"].as_str().unwrap()),
        )
        .await;
        let statuses: Vec<i64> = detail["attempts_log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["http_status"].as_i64().unwrap())
            .collect();
        assert_eq!(statuses, [500, 503, 408, 429, 200]);
        app.stop().await;
        rx.shutdown().await;
    }
);

backend_test!(
    client_errors_fail_at_once_and_410_disables_the_endpoint,
    |db| {
        let app = TestApp::start(db).await;
        let rx = Receiver::start().await;
        rx.set("/bad", Behaviour::Status(400));
        rx.set("/gone", Behaviour::Status(410));
        let watcher = create_endpoint(
            &app,
            json!({"kind": "log", "event_types": ["endpoint.disabled"]}),
        )
        .await;
        let bad = create_endpoint(
            &app,
            json!({"url": rx.url("/bad"), "event_types": ["order.*"], "retry_schedule": fast()}),
        )
        .await;
        let gone = create_endpoint(
            &app,
            json!({"url": rx.url("/gone"), "event_types": ["order.*"], "retry_schedule": fast()}),
        )
        .await;
        publish(&app, "order.rejected", json!({})).await;

        let failed = delivery_for(&app, bad["id"].as_str().unwrap(), "failed").await;
        assert_eq!(failed["attempts"], 1, "400 is not retried");
        delivery_for(&app, gone["id"].as_str().unwrap(), "failed").await;
        let gone_now = eventually(10, "endpoint disabled", || async {
            let e = get_json(
                &app,
                &format!("/api/v1/endpoints/{}", gone["id"].as_str().unwrap()),
            )
            .await;
            (e["enabled"] == false).then_some(e)
        })
        .await;
        assert!(
            gone_now["disabled_reason"]
                .as_str()
                .unwrap()
                .contains("410"),
            "{gone_now}"
        );
        // endpoint.disabled reached the watcher (a log endpoint).
        let entries = eventually(10, "endpoint.disabled logged", || async {
            let e = app.state.log_sink.entries();
            e.iter()
                .any(|l| l.event.event_type == "endpoint.disabled")
                .then_some(e)
        })
        .await;
        let disabled = entries
            .iter()
            .find(|l| l.event.event_type == "endpoint.disabled")
            .unwrap();
        assert_eq!(disabled.event.data["endpoint_id"], gone["id"]);
        assert_eq!(disabled.endpoint_id, watcher["id"].as_str().unwrap());
        assert_eq!(rx.requests_for("/bad").len(), 1);
        assert_eq!(rx.requests_for("/gone").len(), 1);
        app.stop().await;
        rx.shutdown().await;
    }
);

backend_test!(retry_after_is_honoured, |db| {
    let app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    rx.push(
        "/slow-down",
        [Behaviour::RetryAfter {
            status: 429,
            retry_after: "1".into(),
        }],
    );
    create_endpoint(
        &app,
        json!({"url": rx.url("/slow-down"), "event_types": ["*"], "retry_schedule": fast()}),
    )
    .await;
    publish(&app, "bot.paused", json!({})).await;
    let got = rx.wait_for_path("/slow-down", 2, WAIT).await;
    let gap = got[1].received_at - got[0].received_at;
    assert!(
        gap >= Duration::from_millis(1000),
        "retried after {gap:?}, before Retry-After: 1"
    );
    app.stop().await;
    rx.shutdown().await;
});

backend_test!(a_hanging_endpoint_does_not_delay_the_others, |db| {
    let app = TestApp::start_with(db, |c| c.delivery.request_timeout_secs = 30).await;
    let rx = Receiver::start().await;
    rx.set("/hang", Behaviour::Hang);
    create_endpoint(
        &app,
        json!({"url": rx.url("/hang"), "event_types": ["*"], "max_concurrency": 2}),
    )
    .await;
    create_endpoint(&app, json!({"url": rx.url("/ok"), "event_types": ["*"]})).await;
    for i in 0..30 {
        publish(&app, "signal.received", json!({"n": i})).await;
    }
    // Every event reaches the healthy endpoint while the other hangs.
    rx.wait_for_path("/ok", 30, WAIT).await;
    assert_eq!(
        rx.requests_for("/hang").len(),
        2,
        "the hanging endpoint holds only its own cap"
    );
    rx.shutdown().await;
    app.stop().await;
});

backend_test!(a_rotated_secret_signs_alongside_the_old_one, |db| {
    let app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    let ep = create_endpoint(&app, json!({"url": rx.url("/r"), "event_types": ["*"]})).await;
    let id = ep["id"].as_str().unwrap();
    let old = WebhookSecret::parse(ep["secret"].as_str().unwrap()).unwrap();
    let rotated: Value = app
        .post(&format!("/api/v1/endpoints/{id}/rotate-secret"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = WebhookSecret::parse(rotated["secret"].as_str().unwrap()).unwrap();
    assert_ne!(old.expose(), new.expose());

    let event_id = publish(&app, "endpoint.test", json!({})).await;
    let got = rx.wait_for_path("/r", 1, WAIT).await.remove(0);
    let sigs = got.header("webhook-signature").unwrap();
    assert_eq!(sigs.split(' ').count(), 2, "{sigs}");
    let ts = got.header("webhook-timestamp").unwrap();
    let now: i64 = ts.parse().unwrap();
    verify(&new, &event_id, ts, sigs, &got.body, now).expect("new secret verifies");
    verify(&old, &event_id, ts, sigs, &got.body, now).expect("old secret still verifies");
    let view = get_json(&app, &format!("/api/v1/endpoints/{id}")).await;
    assert!(view["previous_secret_expires_at"].is_string());
    assert!(
        !view.to_string().contains(&new.expose()),
        "reads never show the secret"
    );
    app.stop().await;
    rx.shutdown().await;
});

backend_test!(
    replay_resends_with_the_same_webhook_id_and_recover_resends_failures,
    |db| {
        let app = TestApp::start(db).await;
        let rx = Receiver::start().await;
        rx.push("/x", [Behaviour::Status(400), Behaviour::Status(400)]);
        let ep = create_endpoint(&app, json!({"url": rx.url("/x"), "event_types": ["*"]})).await;
        let id = ep["id"].as_str().unwrap();
        let first = publish(&app, "order.canceled", json!({})).await;
        let second = publish(&app, "order.canceled", json!({})).await;
        rx.wait_for_path("/x", 2, WAIT).await;
        let failed = delivery_for(&app, id, "failed").await;

        let replayed = app
            .post(&format!(
                "/api/v1/deliveries/{}/replay",
                failed["id"].as_str().unwrap()
            ))
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(replayed.status(), 200);
        let got = rx.wait_for_path("/x", 3, WAIT).await;
        assert_eq!(got[2].webhook_id(), failed["event_id"].as_str());

        let recovered: Value = app
            .post(&format!(
                "/api/v1/endpoints/{id}/recover?since=2020-01-01T00:00:00Z"
            ))
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(recovered["recovered"], 1, "the other failed delivery");
        let got = rx.wait_for_path("/x", 4, WAIT).await;
        let ids: std::collections::BTreeSet<_> =
            got.iter().filter_map(|r| r.webhook_id()).collect();
        assert_eq!(ids, [first.as_str(), second.as_str()].into_iter().collect());
        app.stop().await;
        rx.shutdown().await;
    }
);

backend_test!(custom_headers_and_the_hex_signature_scheme_are_sent, |db| {
    let app = TestApp::start(db).await;
    let rx = Receiver::start().await;
    let ep = create_endpoint(
        &app,
        json!({
            "url": rx.url("/gh"), "event_types": ["*"], "headers": {"X-Team": "quant"},
            "signature_scheme": "hmac_sha256_hex", "signature_header": "X-Hub-Signature-256"
        }),
    )
    .await;
    let secret = WebhookSecret::parse(ep["secret"].as_str().unwrap()).unwrap();
    publish(&app, "order.submitted", json!({"symbol": "ETH"})).await;
    let got = rx.wait_for_path("/gh", 1, WAIT).await.remove(0);
    assert_eq!(got.header("x-team"), Some("quant"));
    let expected = tradehook_core::webhook::signing::hex_body_signature(&secret, &got.body);
    assert_eq!(got.header("x-hub-signature-256"), Some(expected.as_str()));
    assert!(expected.starts_with("sha256=") && expected.len() == 7 + 64);
    // Standard Webhooks headers are still there.
    assert!(got.header("webhook-signature").unwrap().starts_with("v1,"));

    // Delivery metrics count it by status and kind.
    let text = eventually(10, "delivery metrics", || async {
        let t = app
            .get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        t.contains(r#"tradehook_deliveries_total{status="delivered",kind="webhook"}"#)
            .then_some(t)
    })
    .await;
    assert!(
        text.contains("tradehook_delivery_attempt_duration_seconds_bucket"),
        "{text}"
    );
    app.stop().await;
    rx.shutdown().await;
});
