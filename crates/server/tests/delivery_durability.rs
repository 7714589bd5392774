//! Durability: several workers never send one attempt twice, and a crash
//! in the middle of a send loses nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{ADMIN_KEY, TEST_SEALING_KEY, TestApp, create_endpoint, eventually, get_json};
use serde_json::{Value, json};
use tradehook_delivery::Outbox;
use tradehook_store::testing::TestDb;
use tradehook_store::{DeliveryFilter, DeliveryStatus};
use tradehook_testkit::receiver::{Behaviour, Receiver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgresql_deliver_everything_exactly_once() {
    let Some(db) =
        TestDb::postgres("two_replicas_on_postgresql_deliver_everything_exactly_once").await
    else {
        return;
    };
    let rx = Receiver::start_counting_only().await;
    let a = TestApp::start_with(&db, |c| c.delivery.workers = 2).await;
    let b = TestApp::start_with(&db, |c| c.delivery.workers = 2).await;
    let paths = ["/one", "/two"];
    for p in paths {
        create_endpoint(&a, json!({"url": rx.url(p), "event_types": ["*"]})).await;
    }
    let events = 150;
    for i in 0..events {
        // Publish through both replicas; each wakes only its own workers.
        let app = if i % 2 == 0 { &a } else { &b };
        app.state
            .outbox
            .publish(&Outbox::event("order.filled", json!({"n": i})))
            .await
            .unwrap();
    }
    let expected = events * paths.len();
    eventually(20, "every delivery recorded as delivered", || async {
        let done = db
            .store
            .list_deliveries(&DeliveryFilter {
                status: Some(DeliveryStatus::Delivered),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len();
        (done == expected).then_some(())
    })
    .await;

    let got = rx.requests();
    let mut per_pair: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in &got {
        *per_pair
            .entry((r.path.clone(), r.webhook_id().unwrap().to_string()))
            .or_default() += 1;
    }
    assert_eq!(per_pair.len(), expected, "no delivery lost");
    let dupes: Vec<_> = per_pair.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "no attempt sent twice: {dupes:?}");
    assert_eq!(got.len(), expected);

    // Both replicas did part of the work.
    let workers: BTreeSet<String> = {
        let mut w = BTreeSet::new();
        for d in db
            .store
            .list_deliveries(&DeliveryFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
        {
            for attempt in db.store.delivery_attempts(&d.id).await.unwrap() {
                w.insert(attempt.worker.rsplit_once('-').unwrap().0.to_string());
            }
        }
        w
    };
    assert_eq!(
        workers.len(),
        2,
        "attempts came from both replicas: {workers:?}"
    );
    a.stop().await;
    b.stop().await;
    rx.shutdown().await;
    db.cleanup().await;
}

/// The `tradehook` binary, serving on a free port; returns it and its address.
fn start_binary(db_url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradehook"))
        .arg("serve")
        .env("TRADEHOOK_LISTEN", "127.0.0.1:0")
        .env("TRADEHOOK_DATABASE_URL", db_url)
        .env("TRADEHOOK_ADMIN_KEY", ADMIN_KEY)
        .env("TRADEHOOK_SECRETS_KEY", TEST_SEALING_KEY)
        .env("TRADEHOOK_DELIVERY_ALLOW_HTTP", "true")
        .env("TRADEHOOK_DELIVERY_ALLOW_NETWORKS", "127.0.0.1/32")
        .env("TRADEHOOK_DELIVERY_REQUEST_TIMEOUT_SECS", "5")
        .env("TRADEHOOK_DELIVERY_LEASE_SECS", "6")
        .env("TRADEHOOK_DELIVERY_POLL_INTERVAL_MS", "50")
        .env("TRADEHOOK_LOG_FORMAT", "json")
        .env("TRADEHOOK_MARKET_SOURCE", "none")
        .env("TRADEHOOK_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tradehook");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("tradehook logs before exiting")
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "tradehook listening" {
            break v["addr"].as_str().unwrap().to_string();
        }
    };
    // Keep draining the pipe so the child never blocks on a full buffer.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_in_the_middle_of_a_send_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let rx = Receiver::start().await;
    // The first request hangs: the process is killed while sending it.
    rx.push("/hook", [Behaviour::Hang]);
    let http = reqwest::Client::new();

    let (mut first, addr) = start_binary(&db_url);
    let endpoint: Value = http
        .post(format!("http://{addr}/api/v1/endpoints"))
        .header("x-api-key", ADMIN_KEY)
        .json(&json!({"url": rx.url("/hook"), "event_types": ["endpoint.test"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = endpoint["id"]
        .as_str()
        .expect("endpoint created")
        .to_string();
    let queued = http
        .post(format!("http://{addr}/api/v1/endpoints/{id}/test"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);
    let hung = rx
        .wait_for_path("/hook", 1, Duration::from_secs(10))
        .await
        .remove(0);

    first.kill().unwrap(); // SIGKILL: no graceful anything.
    first.wait().unwrap();

    let (mut second, addr) = start_binary(&db_url);
    // After the dead worker's lease ends, the delivery is sent again with
    // the same webhook-id, and recorded.
    let again = rx
        .wait_for_path("/hook", 2, Duration::from_secs(20))
        .await
        .remove(1);
    assert_eq!(again.webhook_id(), hung.webhook_id());
    let delivered: Value = eventually(10, "delivery recorded", || {
        let http = http.clone();
        let url = format!("http://{addr}/api/v1/endpoints/{id}/deliveries?status=delivered");
        async move {
            let page: Value = http
                .get(url)
                .header("x-api-key", ADMIN_KEY)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            page["data"].as_array()?.first().cloned()
        }
    })
    .await;
    assert_eq!(delivered["event_id"].as_str(), hung.webhook_id());
    assert_eq!(
        delivered["attempts"], 1,
        "the killed attempt was never recorded"
    );
    second.kill().unwrap();
    second.wait().unwrap();
    rx.shutdown().await;
}

#[tokio::test]
async fn an_expired_lease_makes_the_delivery_due_for_another_worker() {
    let db = TestDb::sqlite().await;
    let rx = Receiver::start().await;
    let app = TestApp::start(&db).await;
    let ep = create_endpoint(&app, json!({"url": rx.url("/x"), "event_types": ["*"]})).await;
    app.stop().await;

    // A worker leases the delivery and dies without recording anything.
    let event = Outbox::event("order.filled", json!({}));
    db.store.publish_event(&event).await.unwrap();
    let now = tradehook_core::time::now_ms();
    let leased = db
        .store
        .lease_deliveries(
            ep["id"].as_str().unwrap(),
            now,
            now + 300,
            "dead-worker",
            10,
        )
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);

    let app = TestApp::start(&db).await;
    let got = rx.wait_for_path("/x", 1, Duration::from_secs(10)).await;
    assert_eq!(got[0].webhook_id(), Some(event.id.as_str()));
    let path = format!(
        "/api/v1/endpoints/{}/deliveries",
        ep["id"].as_str().unwrap()
    );
    eventually(10, "the delivery is recorded as delivered", || async {
        (get_json(&app, &path).await["data"][0]["status"] == "delivered").then_some(())
    })
    .await;
    app.stop().await;
    rx.shutdown().await;
}
