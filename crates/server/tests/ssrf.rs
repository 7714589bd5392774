//! The SSRF guard through the API and the dispatcher: private, loopback,
//! metadata and tunnel addresses are refused when an endpoint is saved
//! and again when a delivery is sent. Nothing here connects anywhere but
//! the local receiver: refusals are judged on the address alone.

mod common;

use common::{TestApp, create_endpoint, delivery_in, get_json, post_json, publish_event};
use serde_json::{Value, json};
use tradehook_store::testing::TestDb;
use tradehook_testkit::receiver::Receiver;

/// The shipped delivery policy: https only, no networks opened.
fn default_policy(c: &mut tradehook_server::Config) {
    c.delivery.allow_networks = String::new();
    c.delivery.allow_http = false;
}

async fn refusal(app: &TestApp, url: &str) -> (String, String) {
    let response = post_json(
        app,
        "/api/v1/endpoints",
        &json!({"url": url, "event_types": ["*"]}),
    )
    .await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 422, "{url} was not refused: {body}");
    let detail = &body["error"]["details"][0];
    (
        detail["path"].as_str().unwrap_or_default().to_string(),
        detail["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// Refused at `url` with a message containing `why`.
async fn assert_refused(app: &TestApp, url: &str, why: &str) {
    let (path, message) = refusal(app, url).await;
    assert_eq!(path, "url", "{url}: {message}");
    assert!(message.contains(why), "{url}: {message}");
}

#[tokio::test]
async fn the_default_policy_refuses_internal_addresses_and_other_schemes() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, default_policy).await;
    let blocked_addresses = [
        "https://127.0.0.1/hook",
        "https://127.0.0.1:8443/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://100.64.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[2002:7f00:1::]/hook",
        "https://localhost/hook",
        // Other spellings of loopback that URL parsers turn into 127.0.0.1.
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://127.1/hook",
    ];
    for url in blocked_addresses {
        assert_refused(&app, url, "is not allowed").await;
    }
    assert_refused(&app, "http://example.com/hook", "http").await;
    assert_refused(&app, "ftp://x/hook", "ftp").await;
    assert_refused(&app, "example.com/hook", "scheme").await;
    let listed = get_json(&app, "/api/v1/endpoints").await;
    assert_eq!(listed["data"], json!([]), "nothing was created: {listed}");

    // A public address passes (disabled, so nothing is ever sent to it).
    create_endpoint(
        &app,
        json!({"url": "https://8.8.8.8/hook", "event_types": ["*"], "enabled": false}),
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_allow_list_opens_its_networks_but_never_the_metadata_service() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, |c| {
        c.delivery.allow_networks = "127.0.0.1/32,169.254.0.0/16".to_string();
        c.delivery.allow_http = true;
    })
    .await;
    for url in ["http://127.0.0.1:9/hook", "https://169.254.10.10/hook"] {
        create_endpoint(
            &app,
            json!({"url": url, "event_types": ["*"], "enabled": false}),
        )
        .await;
    }
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2/hook",
        "http://10.1.2.3/hook",
    ] {
        assert_refused(&app, url, "is not allowed").await;
    }
    app.stop().await;
}

/// The guard runs again at send time: an endpoint saved under a looser
/// policy is refused by a dispatcher with the strict one.
#[tokio::test]
async fn the_dispatcher_refuses_a_blocked_address_when_sending() {
    let db = TestDb::sqlite().await;
    let rx = Receiver::start().await;
    let loose = TestApp::start(&db).await;
    let ep = create_endpoint(
        &loose,
        json!({"url": rx.url("/internal"), "event_types": ["*"],
               "retry_schedule": ["0s", "20ms", "20ms"]}),
    )
    .await;
    loose.stop().await;

    let strict = TestApp::start_with(&db, |c| {
        c.delivery.allow_networks = String::new();
        c.delivery.allow_http = true;
    })
    .await;
    let id = ep["id"].as_str().unwrap();
    publish_event(&strict, "order.filled", json!({"symbol": "BTCUSDT"})).await;
    let failed = delivery_in(&strict, id, "failed").await;
    assert_eq!(failed["attempts"], 1, "a blocked address is not retried");
    let detail = get_json(
        &strict,
        &format!("/api/v1/deliveries/{}", failed["id"].as_str().unwrap()),
    )
    .await;
    let attempts = detail["attempts_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{detail}");
    assert_eq!(attempts[0]["error_class"], "ssrf_blocked", "{detail}");
    assert!(attempts[0]["http_status"].is_null(), "{detail}");
    assert!(rx.requests().is_empty(), "the receiver got nothing");
    strict.stop().await;
    assert_eq!(rx.count(), 0, "nor after the dispatcher stopped");
    rx.shutdown().await;
}

/// The same for a host name: the guard checks what the name resolves to
/// at send time, and files the refusal as `ssrf_blocked`, not as a
/// connection error to retry.
#[tokio::test]
async fn the_dispatcher_refuses_a_name_that_resolves_to_a_blocked_address() {
    let db = TestDb::sqlite().await;
    let rx = Receiver::start().await;
    let loose = TestApp::start_with(&db, |c| {
        c.delivery.allow_networks = "127.0.0.0/8,::1/128".to_string();
    })
    .await;
    let url = format!("http://localhost:{}/by-name", rx.addr().port());
    let ep = create_endpoint(
        &loose,
        json!({"url": url, "event_types": ["*"], "retry_schedule": ["0s", "20ms", "20ms"]}),
    )
    .await;
    loose.stop().await;

    let strict = TestApp::start_with(&db, |c| {
        c.delivery.allow_networks = String::new();
        c.delivery.allow_http = true;
    })
    .await;
    let id = ep["id"].as_str().unwrap();
    publish_event(&strict, "order.filled", json!({})).await;
    let failed = delivery_in(&strict, id, "failed").await;
    let detail = get_json(
        &strict,
        &format!("/api/v1/deliveries/{}", failed["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        detail["attempts_log"][0]["error_class"], "ssrf_blocked",
        "{detail}"
    );
    assert_eq!(failed["attempts"], 1, "not retried: {detail}");
    assert_eq!(rx.count(), 0);
    strict.stop().await;
    rx.shutdown().await;
}
