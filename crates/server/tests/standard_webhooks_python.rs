//! Interop: deliveries verify with the Standard Webhooks reference library
//! for Python (`pip install standardwebhooks`), through
//! `scripts/verify_standardwebhooks.py`. Without python3 and the package
//! these tests print SKIPPED, unless `TRADEHOOK_TEST_REQUIRE_PYTHON=1`
//! makes that a failure (as CI should).

mod common;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ADMIN_KEY, TestApp, create_endpoint, publish_event};
use serde_json::{Map, Value, json};
use tradehook_core::webhook::signing::WebhookSecret;
use tradehook_store::testing::TestDb;
use tradehook_testkit::receiver::{Receiver, Recorded};

const WAIT: Duration = Duration::from_secs(10);
const REQUIRE_VAR: &str = "TRADEHOOK_TEST_REQUIRE_PYTHON";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/verify_standardwebhooks.py")
}

/// Whether python3 can import `standardwebhooks`; prints why not and
/// returns false, or panics when the variable requires Python.
fn python_available(test_name: &str) -> bool {
    let status = Command::new("python3")
        .arg(script())
        .arg("--check")
        .stdout(Stdio::null())
        .status();
    if matches!(&status, Ok(s) if s.success()) {
        return true;
    }
    assert!(
        std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
        "{test_name}: {REQUIRE_VAR}=1 but python3 with standardwebhooks is not available \
         ({status:?}); pip install standardwebhooks"
    );
    eprintln!(
        "SKIPPED {test_name}: python3 with standardwebhooks not available (pip install standardwebhooks)"
    );
    false
}

/// The script's exit code and output for one request as received.
async fn python_verify(secret: &str, body: &[u8], headers: &[(String, String)]) -> (i32, String) {
    let mut header_map = Map::new();
    for (name, value) in headers {
        header_map.insert(name.clone(), Value::String(value.clone()));
    }
    let input = json!({
        "secret": secret,
        "body": std::str::from_utf8(body).expect("webhook bodies are UTF-8"),
        "headers": header_map,
    })
    .to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("python3")
            .arg(script())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

async fn one_delivery(app: &TestApp, rx: &Receiver, path: &str) -> Recorded {
    publish_event(
        app,
        "alert.triggered",
        json!({"symbol": "BTCUSDT", "price": 100000.5, "note": "über €100k 🚀 \"quoted\""}),
    )
    .await;
    rx.wait_for_path(path, 1, WAIT).await.remove(0)
}

#[tokio::test]
async fn a_delivery_verifies_with_the_python_reference_and_a_tampered_one_does_not() {
    if !python_available("a_delivery_verifies_with_the_python_reference") {
        return;
    }
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    let ep = create_endpoint(&app, json!({"url": rx.url("/py"), "event_types": ["*"]})).await;
    let secret = ep["secret"].as_str().unwrap();
    let got = one_delivery(&app, &rx, "/py").await;

    let (code, out) = python_verify(secret, &got.body, &got.headers).await;
    assert_eq!(code, 0, "Python refused a genuine delivery: {out}");

    let mut tampered = got.body.clone();
    let at = tampered
        .windows(6)
        .position(|w| w == b"100000")
        .expect("the price is in the body");
    tampered[at] = b'9';
    let (code, out) = python_verify(secret, &tampered, &got.headers).await;
    assert_eq!(code, 1, "Python must reject a tampered body: {out}");

    let other = WebhookSecret::generate().expose();
    let (code, out) = python_verify(&other, &got.body, &got.headers).await;
    assert_eq!(code, 1, "Python must reject another secret: {out}");
    app.stop().await;
    rx.shutdown().await;
}

#[tokio::test]
async fn during_rotation_python_accepts_the_old_and_the_new_secret() {
    if !python_available("during_rotation_python_accepts_the_old_and_the_new_secret") {
        return;
    }
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = Receiver::start().await;
    let ep = create_endpoint(&app, json!({"url": rx.url("/rot"), "event_types": ["*"]})).await;
    let old = ep["secret"].as_str().unwrap().to_string();
    let rotated: Value = app
        .post(&format!(
            "/api/v1/endpoints/{}/rotate-secret",
            ep["id"].as_str().unwrap()
        ))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    let got = one_delivery(&app, &rx, "/rot").await;
    assert_eq!(
        got.header("webhook-signature").unwrap().split(' ').count(),
        2
    );
    for secret in [&old, &new] {
        let (code, out) = python_verify(secret, &got.body, &got.headers).await;
        assert_eq!(code, 0, "Python refused a rotated delivery: {out}");
    }
    app.stop().await;
    rx.shutdown().await;
}
