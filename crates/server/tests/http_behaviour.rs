//! Error shapes, limits, request ids, metrics, docs and shutdown.
//! These do not depend on the backend, so they run on SQLite.

mod common;

use std::time::Duration;

use common::{ADMIN_KEY, TestApp, error_code};
use serde_json::{Value, json};
use tradehook_store::testing::TestDb;

async fn post_keys(
    app: &TestApp,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.post("/api/v1/keys")
        .header("x-api-key", ADMIN_KEY)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_json_gets_400_with_line_and_column() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (status, body) =
        error_code(post_keys(&app, "application/json", "{\n  \"name\": \"a\",\n  nope\n}").await)
            .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "malformed_json");
    assert_eq!(body["error"]["details"], json!({"line": 3, "column": 3}));
    app.stop().await;
}

#[tokio::test]
async fn invalid_fields_get_422_with_the_field_path() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let cases = [
        (json!({}), ""),
        (json!({"name": "x", "role": "root"}), "role"),
        (
            json!({"name": "x", "rate_limit_per_minute": 0}),
            "rate_limit_per_minute",
        ),
        (
            json!({"name": "x", "rate_limit_per_minute": "ten"}),
            "rate_limit_per_minute",
        ),
        (json!({"name": ""}), "name"),
        (json!({"name": "bad/name"}), "name"),
        (json!({"name": "x", "colour": "red"}), "colour"),
    ];
    for (input, path) in cases {
        let (status, body) =
            error_code(post_keys(&app, "application/json", input.to_string()).await).await;
        assert_eq!(status, 422, "{input}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed", "{input}");
        assert_eq!(body["error"]["details"][0]["path"], path, "{input}: {body}");
    }
    // None of it created anything.
    assert!(db.store.list_api_keys(true).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn wrong_content_type_gets_415_and_big_bodies_get_413() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, |c| c.http.body_limit_bytes = 1024).await;
    let (status, body) = error_code(post_keys(&app, "text/plain", r#"{"name":"x"}"#).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (415, "unsupported_media_type")
    );

    let big = format!(r#"{{"name":"x","pad":"{}"}}"#, "a".repeat(4096));
    let (status, body) = error_code(post_keys(&app, "application/json", big).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (413, "payload_too_large")
    );
    assert_eq!(body["error"]["details"]["limit_bytes"], 1024);

    // `application/json; charset=utf-8` and `+json` types are JSON.
    let ok = post_keys(&app, "application/json; charset=utf-8", r#"{"name":"ok"}"#).await;
    assert_eq!(ok.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (status, body) = error_code(app.get("/nope").send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (404, "not_found")
    );
    let (status, body) = error_code(app.post("/health").send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (405, "method_not_allowed")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_key_is_limited_per_minute_with_headers() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (_, key) = app.create_key("slow", "read", Some(3)).await;
    for remaining in ["2", "1", "0"] {
        let r = app
            .get("/api/v1/me")
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit"], "3");
        assert_eq!(r.headers()["x-ratelimit-remaining"], remaining);
        let reset: u64 = r.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > 1_700_000_000, "reset is a Unix time: {reset}");
    }
    let refused = app
        .get("/api/v1/me")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "retry-after {retry}");
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    let (_, body) = error_code(refused).await;
    assert_eq!(body["error"]["code"], "rate_limited");

    // Other keys are not affected.
    assert_eq!(
        app.get("/api/v1/me")
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn public_routes_are_limited_per_client_ip() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, |c| c.rate_limit.anonymous_per_minute = 2).await;
    for _ in 0..2 {
        let r = app.get("/health").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-limit"], "2");
    }
    let refused = app.get("/health").send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // Failed authentication spends the same budget, so guessing is bounded.
    let r = app
        .get("/api/v1/me")
        .header("x-api-key", "th_guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let generated = app.get("/health").send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let echoed = app
        .get("/health")
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
    // Errors carry it too.
    let error = app
        .get("/api/v1/me")
        .header("x-request-id", "err-9")
        .send()
        .await
        .unwrap();
    assert_eq!(error.headers()["x-request-id"], "err-9");
    app.stop().await;
}

#[tokio::test]
async fn health_ready_and_ready_fails_when_the_database_is_gone() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let health: Value = app
        .get("/health")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));
    let ready: Value = app
        .get("/ready")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({"status": "ready", "database": "sqlite"}));

    app.state.store.close().await;
    let (status, body) = error_code(app.get("/ready").send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (503, "not_ready")
    );
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health").send().await.unwrap().status(), 200);
    // An API call that needs the database answers 503, not a 500.
    let (status, _) = error_code(
        app.get("/api/v1/me")
            .header("x-api-key", "th_x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 503);
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (id, _) = app.create_key("m", "read", None).await;
    app.get(&format!("/api/v1/keys/{id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let text = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"tradehook_http_requests_total{method="GET",route="/api/v1/keys/{id}",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains("tradehook_http_request_duration_seconds_bucket"),
        "histogram present"
    );
    assert!(!text.contains(&id), "raw paths never become labels");
    assert!(
        text.contains("process_resident_memory_bytes"),
        "process metrics present"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_from_the_binary() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let page = app.get("/docs/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    // Every script and stylesheet is relative: nothing from a CDN.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!html.contains(attr), "external asset ({attr}) in {html}");
    }
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/swagger-initializer.js",
    ] {
        let r = app.get(asset).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.bytes().await.unwrap().len() > 100, "{asset}");
    }
    let init = app
        .get("/docs/swagger-initializer.js")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    app.stop().await;
}

#[tokio::test]
async fn the_served_openapi_document_matches_the_committed_snapshot() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let served: Value = app
        .get("/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.stop().await;
    assert_eq!(served["openapi"], "3.1.0");

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == pretty,
        "docs/openapi.json differs from the served document; if the API change is intended, \
         run `UPDATE_SNAPSHOTS=1 cargo test -p tradehook-server --test http_behaviour` and commit it"
    );
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish_and_refuses_new_ones() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let body = br#"{"name":"late"}"#;
    // Raw HTTP/1.1 so the test knows when the handler is running: the
    // server sends `100 Continue` when the handler starts reading the body.
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/keys HTTP/1.1\r\nhost: t\r\nx-api-key: {ADMIN_KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("100 Continue\r\n\r\n") {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n > 0,
            "connection closed early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }

    let addr = app.addr;
    app.shutdown_token().cancel();
    // New connections are refused once the listener is closed.
    wait_until(|| async { tokio::net::TcpStream::connect(addr).await.is_err() }).await;

    // The in-flight request still completes.
    conn.write_all(body).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert_eq!(db.store.list_api_keys(false).await.unwrap().len(), 1);
    app.stop().await;
}

async fn wait_until<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
