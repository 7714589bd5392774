//! Discord, Slack and Telegram end to end: the receiver plays each chat
//! API with its real answers (bodies, statuses, rate-limit headers).

mod common;

use std::time::Duration;

use common::{TestApp, create_endpoint, delivery_in, eventually, get_json, publish_event};
use serde_json::{Value, json};
use tradehook_store::testing::TestDb;
use tradehook_testkit::receiver::{Behaviour, Receiver};

const WAIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "123456:ABC-def_ghi";
const CHAT: &str = "-100123";

fn fast() -> Value {
    json!(["0s", "20ms", "20ms", "20ms", "20ms"])
}

fn alert() -> Value {
    json!({"symbol": "BTCUSDT", "price": "101234.5", "rule_id": "r1",
           "message": "BTC crossed 100k <!channel> @everyone"})
}

fn telegram_ok() -> Behaviour {
    Behaviour::Json(200, json!({"ok": true, "result": {}}))
}

async fn telegram_endpoint(app: &TestApp, rx: &Receiver, token: &str) -> Value {
    create_endpoint(
        app,
        // Not `*`: other endpoints' `endpoint.disabled` events stay out.
        json!({"kind": "telegram", "url": rx.url(""),
               "event_types": ["alert.*", "order.*", "signal.*"],
               "telegram_chat_id": CHAT, "telegram_bot_token": token,
               "retry_schedule": fast()}),
    )
    .await
}

async fn wait_disabled(app: &TestApp, endpoint: &Value) -> String {
    let id = endpoint["id"].as_str().unwrap();
    let e = eventually(10, &format!("{id} disabled"), || async {
        let e = get_json(app, &format!("/api/v1/endpoints/{id}")).await;
        (e["enabled"] == false).then_some(e)
    })
    .await;
    e["disabled_reason"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn chat_destinations_get_their_own_message_shapes() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    rx.set("/api/webhooks/1/discord-token", Behaviour::Status(204));
    rx.set(
        "/services/T1/B1/slack",
        Behaviour::StatusBody(200, "ok".into()),
    );
    let telegram_path = format!("/bot{TOKEN}/sendMessage");
    rx.set(&telegram_path, telegram_ok());
    let discord = create_endpoint(
        &app,
        json!({"kind": "discord", "url": rx.url("/api/webhooks/1/discord-token"),
               "event_types": ["alert.*"]}),
    )
    .await;
    let slack = create_endpoint(
        &app,
        json!({"kind": "slack", "url": rx.url("/services/T1/B1/slack"),
               "event_types": ["alert.*"]}),
    )
    .await;
    let telegram = telegram_endpoint(&app, &rx, TOKEN).await;

    publish_event(&app, "alert.triggered", alert()).await;

    let d = rx
        .wait_for_path("/api/webhooks/1/discord-token", 1, WAIT)
        .await
        .remove(0);
    assert_eq!(d.method, "POST");
    assert_eq!(d.header("content-type"), Some("application/json"));
    let body = d.json();
    let title = body["embeds"][0]["title"].as_str().unwrap_or_default();
    assert!(!title.trim().is_empty(), "{body}");
    assert_eq!(body["allowed_mentions"]["parse"], json!([]), "{body}");

    let s = rx
        .wait_for_path("/services/T1/B1/slack", 1, WAIT)
        .await
        .remove(0);
    let body = s.json();
    let text = body["text"].as_str().unwrap_or_default();
    assert!(!text.trim().is_empty(), "{body}");
    assert!(!text.contains("<!channel>"), "mrkdwn is escaped: {text}");
    assert!(!body["blocks"].as_array().unwrap().is_empty(), "{body}");

    let t = rx.wait_for_path(&telegram_path, 1, WAIT).await.remove(0);
    let body = t.json();
    assert_eq!(body["chat_id"], json!(-100123), "{body}");
    assert_eq!(body["parse_mode"], "MarkdownV2");
    assert!(!body["text"].as_str().unwrap_or_default().is_empty());

    for ep in [&discord, &slack, &telegram] {
        delivery_in(&app, ep["id"].as_str().unwrap(), "delivered").await;
    }
    app.stop().await;
    rx.shutdown().await;
}

#[tokio::test]
async fn permanent_chat_answers_disable_the_endpoint_without_retrying() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    rx.set(
        "/api/webhooks/404/gone",
        Behaviour::Json(404, json!({"message": "Unknown Webhook", "code": 10015})),
    );
    rx.set(
        "/services/archived",
        Behaviour::StatusBody(410, "channel_is_archived".into()),
    );
    rx.set(
        "/services/revoked",
        Behaviour::StatusBody(403, "invalid_token".into()),
    );
    let blocked_token = "999:blocked-bot";
    let blocked_path = format!("/bot{blocked_token}/sendMessage");
    rx.set(
        &blocked_path,
        Behaviour::Json(
            403,
            json!({"ok": false, "error_code": 403,
                   "description": "Forbidden: bot was blocked by the user"}),
        ),
    );
    let cases = [
        ("discord", "/api/webhooks/404/gone", "404"),
        ("slack", "/services/archived", "channel_is_archived"),
        ("slack", "/services/revoked", "invalid_token"),
    ];
    let mut endpoints = Vec::new();
    for (kind, path, reason) in cases {
        let ep = create_endpoint(
            &app,
            json!({"kind": kind, "url": rx.url(path), "event_types": ["order.*"],
                   "retry_schedule": fast()}),
        )
        .await;
        endpoints.push((ep, path.to_string(), reason));
    }
    let telegram = telegram_endpoint(&app, &rx, blocked_token).await;
    endpoints.push((telegram, blocked_path, "blocked by the user"));

    publish_event(&app, "order.filled", json!({"symbol": "ETHUSDT"})).await;
    for (ep, path, expected) in &endpoints {
        let reason = wait_disabled(&app, ep).await;
        assert!(reason.contains(expected), "{path}: {reason}");
        let failed = delivery_in(&app, ep["id"].as_str().unwrap(), "failed").await;
        assert_eq!(failed["attempts"], 1, "{path}: not retried");
        assert_eq!(rx.requests_for(path).len(), 1, "{path}");
    }
    app.stop().await;
    rx.shutdown().await;
}

#[tokio::test]
async fn telegram_429_waits_for_parameters_retry_after() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    let path = format!("/bot{TOKEN}/sendMessage");
    rx.push(
        &path,
        [Behaviour::Json(
            429,
            json!({"ok": false, "error_code": 429,
                   "description": "Too Many Requests: retry after 1",
                   "parameters": {"retry_after": 1}}),
        )],
    );
    rx.set(&path, telegram_ok());
    let ep = telegram_endpoint(&app, &rx, TOKEN).await;
    publish_event(&app, "signal.received", json!({"symbol": "SOLUSDT"})).await;
    let got = rx.wait_for_path(&path, 2, WAIT).await;
    let gap = got[1].received_at - got[0].received_at;
    assert!(
        gap >= Duration::from_millis(1000),
        "retried after {gap:?}, before retry_after: 1"
    );
    let delivered = delivery_in(&app, ep["id"].as_str().unwrap(), "delivered").await;
    assert_eq!(delivered["attempts"], 2);
    app.stop().await;
    rx.shutdown().await;
}

#[tokio::test]
async fn discord_429_waits_for_the_bodys_retry_after() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    let path = "/api/webhooks/2/limited";
    rx.push(
        path,
        [Behaviour::Json(
            429,
            json!({"message": "You are being rate limited.", "retry_after": 1.0, "global": false}),
        )],
    );
    rx.set(path, Behaviour::Status(204));
    let ep = create_endpoint(
        &app,
        json!({"kind": "discord", "url": rx.url(path), "event_types": ["*"],
               "retry_schedule": fast()}),
    )
    .await;
    publish_event(&app, "bot.paused", json!({"bot_id": "b1"})).await;
    let got = rx.wait_for_path(path, 2, WAIT).await;
    let gap = got[1].received_at - got[0].received_at;
    assert!(
        gap >= Duration::from_millis(1000),
        "retried after {gap:?}, before retry_after: 1.0"
    );
    delivery_in(&app, ep["id"].as_str().unwrap(), "delivered").await;
    app.stop().await;
    rx.shutdown().await;
}

fn empty_bucket() -> Behaviour {
    Behaviour::Headers(
        204,
        vec![
            ("X-RateLimit-Limit".into(), "5".into()),
            ("X-RateLimit-Remaining".into(), "0".into()),
            ("X-RateLimit-Reset-After".into(), "1".into()),
            ("X-RateLimit-Bucket".into(), "abcd".into()),
        ],
        String::new(),
    )
}

/// Two events published together: the second message waits for the
/// bucket the first answer said was empty.
#[tokio::test]
async fn discord_rate_limit_headers_pace_the_next_message() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    let path = "/api/webhooks/3/paced";
    rx.push(path, [empty_bucket()]);
    rx.set(path, Behaviour::Status(204));
    create_endpoint(
        &app,
        json!({"kind": "discord", "url": rx.url(path), "event_types": ["*"]}),
    )
    .await;
    publish_event(&app, "order.filled", json!({"n": 1})).await;
    publish_event(&app, "order.filled", json!({"n": 2})).await;
    let got = rx.wait_for_path(path, 2, WAIT).await;
    let gap = got[1].received_at - got[0].received_at;
    assert!(
        gap >= Duration::from_millis(950),
        "second message after {gap:?}, inside the empty bucket's reset"
    );
    app.stop().await;
    rx.shutdown().await;
}

/// The second event is published only once the first answer is in, so
/// this checks the pacing itself, whatever the concurrency.
#[tokio::test]
async fn discord_pacing_holds_a_message_published_after_the_empty_bucket_answer() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    let path = "/api/webhooks/4/paced";
    rx.push(path, [empty_bucket()]);
    rx.set(path, Behaviour::Status(204));
    let ep = create_endpoint(
        &app,
        json!({"kind": "discord", "url": rx.url(path), "event_types": ["*"]}),
    )
    .await;
    publish_event(&app, "order.filled", json!({"n": 1})).await;
    delivery_in(&app, ep["id"].as_str().unwrap(), "delivered").await;
    publish_event(&app, "order.filled", json!({"n": 2})).await;
    let got = rx.wait_for_path(path, 2, WAIT).await;
    let gap = got[1].received_at - got[0].received_at;
    assert!(
        gap >= Duration::from_millis(950),
        "second message after {gap:?}, inside the empty bucket's reset"
    );
    app.stop().await;
    rx.shutdown().await;
}

#[tokio::test]
async fn the_telegram_token_never_shows_in_the_api() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    // A port with nothing listening: the connection error names the URL,
    // which carries the token.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ep = create_endpoint(
        &app,
        json!({"kind": "telegram", "url": format!("http://127.0.0.1:{closed}"),
               "event_types": ["*"], "telegram_chat_id": CHAT,
               "telegram_bot_token": TOKEN, "retry_schedule": ["0s"]}),
    )
    .await;
    assert!(!ep.to_string().contains("ABC-def_ghi"), "{ep}");
    let id = ep["id"].as_str().unwrap();
    publish_event(&app, "order.rejected", json!({"symbol": "BTCUSDT"})).await;
    let failed = delivery_in(&app, id, "failed").await;
    let detail = get_json(
        &app,
        &format!("/api/v1/deliveries/{}", failed["id"].as_str().unwrap()),
    )
    .await;
    let attempt = &detail["attempts_log"][0];
    assert_eq!(attempt["error_class"], "connect", "{detail}");
    assert!(
        attempt["response"]
            .as_str()
            .unwrap_or_default()
            .contains("/sendMessage"),
        "the error names the URL, so the check below means something: {detail}"
    );
    let shown = [
        detail.to_string(),
        get_json(&app, "/api/v1/endpoints").await.to_string(),
        get_json(&app, &format!("/api/v1/endpoints/{id}"))
            .await
            .to_string(),
        get_json(&app, &format!("/api/v1/endpoints/{id}/deliveries"))
            .await
            .to_string(),
    ];
    for text in shown {
        assert!(!text.contains("ABC-def_ghi"), "token shown: {text}");
        assert!(!text.contains(TOKEN), "token shown: {text}");
    }
    app.stop().await;
}
