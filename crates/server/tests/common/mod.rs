//! Starts the real application on port 0 against a fresh database.

#![allow(dead_code)]

pub mod browser;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tradehook_server::state::AppState;
use tradehook_server::{App, Config};
use tradehook_store::testing::TestDb;

pub const ADMIN_KEY: &str = "test-admin-key";
/// A fixed sealing key (32 zero bytes) so tests need no key file.
pub const TEST_SEALING_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    token: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// The configuration tests start from: port 0, the test database, an
/// admin key.
pub fn test_config(db_url: &str) -> Config {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".to_string();
    config.database_url = db_url.to_string();
    config.admin_key = Some(tradehook_server::config::Secret::new(ADMIN_KEY));
    config.database.max_connections = 4;
    config.secrets_key = Some(tradehook_server::config::Secret::new(TEST_SEALING_KEY));
    // Tests deliver to a local receiver over plain HTTP.
    config.delivery.allow_http = true;
    config.delivery.allow_networks = "127.0.0.1/32".to_string();
    config.delivery.poll_interval_ms = 50;
    // No outside market data in tests unless a test points at a fake.
    config.market.source = "none".to_string();
    config
}

impl TestApp {
    pub async fn start(db: &TestDb) -> TestApp {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: &TestDb, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(&db.url);
        configure(&mut config);
        Self::start_config(config).await
    }

    pub async fn start_config(config: Config) -> TestApp {
        let app = App::build(config).await.expect("app builds");
        let addr = app.local_addr();
        let state = app.state().clone();
        let token = app.shutdown_token();
        let handle = tokio::spawn(app.run());
        TestApp {
            addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            state,
            token,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path))
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.delete(self.url(path))
    }

    /// Creates a key through the API with the admin key; returns (id, secret).
    pub async fn create_key(&self, name: &str, role: &str, rpm: Option<i64>) -> (String, String) {
        let mut body = serde_json::json!({ "name": name, "role": role });
        if let Some(rpm) = rpm {
            body["rate_limit_per_minute"] = rpm.into();
        }
        let response = self
            .post("/api/v1/keys")
            .header("x-api-key", ADMIN_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        (
            created["id"].as_str().unwrap().to_string(),
            created["secret"].as_str().unwrap().to_string(),
        )
    }

    /// Stops the app through its shutdown token and checks it exits cleanly.
    pub async fn stop(self) {
        self.token.cancel();
        let result = tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("app stops within 30 s")
            .expect("app task did not panic");
        result.expect("app run returns Ok");
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.token.clone()
    }
}

/// The error code of an error response.
pub async fn error_code(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert!(body["error"]["code"].is_string(), "error shape: {body}");
    assert!(body["error"]["message"].is_string(), "error shape: {body}");
    (status, body)
}

/// The variable that names the Redis server for tests.
pub const REDIS_URL_VAR: &str = "TRADEHOOK_TEST_REDIS_URL";

/// The Redis URL tests use, or `None` after printing why they skip: the
/// variable when set (then a dead server fails the test), else a server
/// answering on the default local port.
pub async fn redis_url(test_name: &str) -> Option<String> {
    if let Ok(url) = std::env::var(REDIS_URL_VAR)
        && !url.is_empty()
    {
        return Some(url);
    }
    let default = "redis://127.0.0.1:6379";
    let client = redis::Client::open(default).ok()?;
    let probe = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await;
    if let Ok(Ok(mut conn)) = probe
        && redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    {
        return Some(default.to_string());
    }
    eprintln!(
        "SKIPPED {test_name}: Redis not available (set {REDIS_URL_VAR} or start a server on 127.0.0.1:6379)"
    );
    None
}

/// Creates an endpoint through the API; returns its JSON (with `secret`).
pub async fn create_endpoint(app: &TestApp, body: Value) -> Value {
    let response = app
        .post("/api/v1/endpoints")
        .header("x-api-key", ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let json: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "endpoint creation failed: {json}");
    json
}

/// Polls `check` until it returns `Some`, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GET with the admin key, as JSON.
pub async fn get_json(app: &TestApp, path: &str) -> Value {
    app.get(path)
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

// Helpers for the endpoint, channel, stream and SSRF tests.

/// Publishes an event the way the app's producers do; returns its id.
pub async fn publish_event(app: &TestApp, event_type: &str, data: Value) -> String {
    let event = tradehook_delivery::Outbox::event(event_type, data);
    app.state.outbox.publish(&event).await.unwrap();
    event.id
}

/// POSTs a JSON body with the admin key.
pub async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.post(path)
        .header("x-api-key", ADMIN_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// PATCHes a JSON body with the admin key.
pub async fn patch_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .header("x-api-key", ADMIN_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The `details[0].path` of a 422, after checking the status and code.
pub async fn validation_path(response: reqwest::Response) -> String {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON answer");
    assert_eq!(
        status, 422,
        "expected a validation error, got {status}: {body}"
    );
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    body["error"]["details"][0]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("a validation error names a path: {body}"))
        .to_string()
}

/// The first delivery of an endpoint in `status`, waiting up to 10 s.
pub async fn delivery_in(app: &TestApp, endpoint_id: &str, status: &str) -> Value {
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

/// Checks `check` every 20 ms for `duration` and panics the first time it
/// is false: "nothing more happens" without a bare sleep.
pub async fn holds_for<F, Fut>(duration: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + duration;
    while tokio::time::Instant::now() < deadline {
        assert!(check().await, "no longer true: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(check().await, "no longer true: {what}");
}
