//! Rate limits shared through Redis, and failing open without it.

mod common;

use std::time::Duration;

use common::{TestApp, redis_url};
use tradehook_store::testing::TestDb;

#[tokio::test]
async fn two_replicas_share_a_keys_limit_through_redis() {
    let Some(url) = redis_url("two_replicas_share_a_keys_limit_through_redis").await else {
        return;
    };
    let db = TestDb::sqlite().await;
    let configure = |c: &mut tradehook_server::Config| {
        c.redis_url = Some(url.clone());
        c.rate_limit.anonymous_per_minute = 0;
        // Generous, so a slow CI machine's first connection is not a pass.
        c.rate_limit.redis_timeout_ms = 2000;
    };
    let a = TestApp::start_with(&db, configure).await;
    let b = TestApp::start_with(&db, configure).await;
    let (_, key) = a.create_key("shared", "read", Some(4)).await;

    // The limiter connects in the background; wait until replica A counts
    // in Redis (remaining goes below the limit).
    wait_for_redis(&a, &key).await;
    wait_for_redis(&b, &key).await;
    // Both replicas have spent 1 request each; 2 remain across both.
    let mut statuses = Vec::new();
    for app in [&a, &b, &a] {
        let r = app
            .get("/api/v1/me")
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses,
        vec![200, 200, 429],
        "the third request across both replicas is refused"
    );
    a.stop().await;
    b.stop().await;
}

/// Sends requests until one is counted by Redis; returns when the first
/// counted request has been made on `app`.
async fn wait_for_redis(app: &TestApp, key: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = app
            .get("/api/v1/me")
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        // Uncounted (fail-open) answers report the full limit remaining.
        if r.headers()["x-ratelimit-remaining"] != "4" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis limiter never connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_unreachable_redis_fails_open_and_is_counted() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, |c| {
        // Nothing listens on port 1.
        c.redis_url = Some("redis://127.0.0.1:1".to_string());
        c.rate_limit.anonymous_per_minute = 0;
    })
    .await;
    let (_, key) = app.create_key("open", "read", Some(1)).await;
    for _ in 0..5 {
        let r = app
            .get("/api/v1/me")
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "limit of 1/min is not enforced while Redis is down"
        );
    }
    let metrics = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count: f64 = metrics
        .lines()
        .find(|l| l.starts_with("tradehook_ratelimit_backend_errors_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("metric missing:\n{metrics}"));
    assert!(count >= 5.0, "{count}");
    app.stop().await;
}
