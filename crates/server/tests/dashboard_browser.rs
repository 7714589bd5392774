//! End to end: the dashboard in a real headless Chromium, driven over
//! WebDriver (the system `chromedriver`, through fantoccini). A replayed
//! feed ticks BTC all along; the test signs in, creates a rule and sees
//! its alert arrive live on the Alerts page, creates an endpoint and
//! replays one of its deliveries, and changes a bot setting. Screenshots
//! of the main pages land in `target/screenshots/`.
//!
//! Without `chromedriver` and `chromium` (Debian's `chromium-driver` and
//! `chromium`) the test prints SKIPPED, unless
//! `TRADEHOOK_TEST_REQUIRE_BROWSER=1` makes that a failure (as CI does).

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{ADMIN_KEY, TestApp, eventually, post_json};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tradehook_store::testing::TestDb;
use tradehook_testkit::receiver::Receiver;

const REQUIRE_VAR: &str = "TRADEHOOK_TEST_REQUIRE_BROWSER";
const WAIT: Duration = Duration::from_secs(20);

/// `name` on PATH (or the file an environment variable names).
fn binary(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A chromedriver on a free local port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(chromedriver: &Path) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let status = format!("{}/status", driver.url);
    eventually(20, "chromedriver answers /status", || async {
        let r = reqwest::get(&status).await.ok()?;
        let body: Value = r.json().await.ok()?;
        (body["value"]["ready"] == true).then_some(())
    })
    .await;
    driver
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Where screenshots go: `target/screenshots/` of this workspace (or of
/// `CARGO_TARGET_DIR`).
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn fill(c: &Client, css: &str, text: &str) {
    let input = c.find(Locator::Css(css)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn select(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn path_of(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// Every resource the page loaded came from the app itself.
async fn loaded_nothing_from_elsewhere(c: &Client, app: &TestApp) {
    let names = c
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)",
            vec![],
        )
        .await
        .unwrap();
    let origin = app.url("/");
    for name in names.as_array().unwrap() {
        let name = name.as_str().unwrap();
        assert!(name.starts_with(&origin), "{name} is not from {origin}");
    }
}

/// A replay file of BTC ticks every 250 ms for 15 minutes from now, so
/// the feed keeps ticking in real time while the test runs.
fn replay_file(dir: &Path) -> PathBuf {
    let start = tradehook_core::time::now_ms();
    let rows: String = (0..3600)
        .map(|i| {
            format!(
                "{{\"type\":\"tick\",\"symbol\":\"BTC\",\"ts\":{},\"price\":\"{}\"}}\n",
                start + i * 250,
                100 + i % 7
            )
        })
        .collect();
    let path = dir.join("feed.jsonl");
    std::fs::write(&path, rows).unwrap();
    path
}

#[tokio::test]
async fn a_user_sets_up_alerts_deliveries_and_a_bot_in_chromium() {
    let (Some(chromedriver), Some(chromium)) = (
        binary("CHROMEDRIVER", &["chromedriver"]),
        binary(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        ),
    ) else {
        assert!(
            std::env::var_os(REQUIRE_VAR).is_none(),
            "{REQUIRE_VAR} is set but chromedriver or chromium is not on PATH \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "SKIPPED a_user_sets_up_alerts_deliveries_and_a_bot_in_chromium: \
             chromedriver or chromium is not on PATH (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let feed = replay_file(tmp.path());
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, |c| {
        c.market.source = "replay".into();
        c.market.replay_file = feed.display().to_string();
        c.market.replay_speed = 1.0;
        c.market.symbols = "BTC".into();
    })
    .await;
    let receiver = Receiver::start().await;
    let account: Value = post_json(
        &app,
        "/api/v1/broker-accounts",
        &json!({"name": "paper", "kind": "paper"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let bot: Value = post_json(
        &app,
        "/api/v1/bots",
        &json!({"name": "trend", "broker_account_id": account["id"], "allowed_symbols": ["BTCUSD"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let bot_id = bot["id"].as_str().unwrap();
    assert_eq!(bot["settings"]["use_limit_orders"], false);

    let driver = start_driver(&chromedriver).await;
    let c = browser(&driver, &chromium, &tmp.path().join("profile")).await;

    // Sign in: the dashboard sends a stranger to the sign-in page.
    c.goto(&app.url("/ui")).await.unwrap();
    assert!(path_of(&c).await.starts_with("/ui/sign-in"));
    shot(&c, "sign-in").await;
    fill(&c, "#key", ADMIN_KEY).await;
    click(&c, "form[action='/ui/sign-in'] button[type=submit]").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#events"))
        .await
        .unwrap();
    assert_eq!(path_of(&c).await, "/ui");
    // The overview goes live over SSE.
    eventually(10, "the event stream is live", || async {
        let s = c.find(Locator::Css("#stream-status")).await.ok()?;
        (s.text().await.ok()? == "live").then_some(())
    })
    .await;
    loaded_nothing_from_elsewhere(&c, &app).await;

    // Create a rule that the replayed ticks meet on every evaluation.
    c.goto(&app.url("/ui/rules/new?type=price_threshold"))
        .await
        .unwrap();
    fill(&c, "#f-name", "e2e above 50").await;
    fill(&c, "#f-symbol", "BTC").await;
    select(&c, "#f-config-operator", ">").await;
    fill(&c, "#f-config-threshold", "50").await;
    select(&c, "#f-frequency", "every_time").await;
    shot(&c, "rule-form").await;
    click(&c, "form.stack button[type=submit]").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("p.ok"))
        .await
        .unwrap();
    assert_eq!(path_of(&c).await, "/ui/rules?done=created");
    let rules = c.source().await.unwrap();
    assert!(rules.contains("e2e above 50"), "the new rule is listed");

    // Its alerts arrive on the open Alerts page without a reload: a row
    // that app.js added carries the class `fresh`.
    c.goto(&app.url("/ui/alerts?symbol=BTC")).await.unwrap();
    let fresh = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#alerts-live tr.fresh"))
        .await
        .unwrap();
    let row = fresh.text().await.unwrap();
    assert!(row.contains("e2e above 50") && row.contains("BTC"), "{row}");
    shot(&c, "alerts").await;
    c.goto(&app.url("/ui/rules")).await.unwrap();
    shot(&c, "rules").await;

    // Create an endpoint: its secret is shown once; alerts reach it.
    c.goto(&app.url("/ui/deliveries")).await.unwrap();
    fill(&c, "#f-url", &receiver.url("/hook")).await;
    fill(&c, "#f-event_types", "alert.triggered").await;
    click(&c, "form[action='/ui/deliveries'] button[type=submit]").await;
    let secret = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#new-secret"))
        .await
        .unwrap();
    assert!(secret.text().await.unwrap().starts_with("whsec_"));
    shot(&c, "deliveries").await;
    let delivered = receiver.wait_for_path("/hook", 1, WAIT).await;
    assert!(!delivered.is_empty(), "an alert reached the endpoint");

    // Open the endpoint, then one of its deliveries, and replay it.
    click(&c, "a[href^='/ui/deliveries/']").await;
    let endpoint_page = path_of(&c).await;
    let delivery_link = eventually(20, "a delivery on the endpoint's page", || async {
        c.goto(&app.url(&endpoint_page)).await.ok()?;
        for a in c.find_all(Locator::Css("table a")).await.ok()? {
            let href = a.attr("href").await.ok()??;
            if href.starts_with(&format!("{endpoint_page}/")) {
                return Some(href);
            }
        }
        None
    })
    .await;
    shot(&c, "endpoint").await;
    c.goto(&app.url(&delivery_link)).await.unwrap();
    let event_id = c
        .find(Locator::Css("main code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sent = |recorded: &[tradehook_testkit::receiver::Recorded]| {
        recorded
            .iter()
            .filter(|r| r.header("webhook-id") == Some(event_id.as_str()))
            .count()
    };
    eventually(20, "the delivery's first attempt", || async {
        (sent(&receiver.requests_for("/hook")) >= 1).then_some(())
    })
    .await;
    let before = sent(&receiver.requests_for("/hook"));
    click(&c, "form[action$='/replay'] button").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("p.ok"))
        .await
        .unwrap();
    assert!(path_of(&c).await.ends_with("?done=replayed"));
    eventually(
        20,
        "the replay reaches the receiver with the same webhook-id",
        || async { (sent(&receiver.requests_for("/hook")) > before).then_some(()) },
    )
    .await;
    shot(&c, "delivery").await;

    // Change a bot setting: limit orders on.
    c.goto(&app.url(&format!("/ui/bots/{bot_id}")))
        .await
        .unwrap();
    let toggle = c
        .find(Locator::Css("#f-settings-use_limit_orders"))
        .await
        .unwrap();
    assert!(!toggle.is_selected().await.unwrap());
    toggle.click().await.unwrap();
    shot(&c, "bot-settings").await;
    click(
        &c,
        &format!("form[action='/ui/bots/{bot_id}'] button[type=submit]"),
    )
    .await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("p.ok"))
        .await
        .unwrap();
    let saved = common::get_json(&app, &format!("/api/v1/bots/{bot_id}")).await;
    assert_eq!(saved["settings"]["use_limit_orders"], true, "{saved}");

    // The other main pages, for the README; each renders in the browser.
    for (path, name) in [
        ("/ui".to_string(), "overview"),
        (format!("/ui/setup/{bot_id}"), "setup"),
        ("/ui/brokers".to_string(), "brokers"),
        ("/ui/bots".to_string(), "bots"),
        ("/ui/logs".to_string(), "logs"),
        ("/ui/analytics".to_string(), "analytics"),
    ] {
        c.goto(&app.url(&path)).await.unwrap();
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("main"))
            .await
            .unwrap();
        assert_eq!(path_of(&c).await, path, "no redirect away from {path}");
        loaded_nothing_from_elsewhere(&c, &app).await;
        shot(&c, name).await;
    }
    // At a phone's width the overview needs no sideways scrolling.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&app.url("/ui")).await.unwrap();
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "sideways overflow {overflow}"
    );
    shot(&c, "overview-phone").await;
    c.set_window_size(1280, 1000).await.unwrap();

    // Sign out ends the session.
    c.goto(&app.url("/ui")).await.unwrap();
    click(&c, "form[action='/ui/sign-out'] button").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#key"))
        .await
        .unwrap();
    c.goto(&app.url("/ui/rules")).await.unwrap();
    assert!(path_of(&c).await.starts_with("/ui/sign-in"));

    c.close().await.unwrap();
    drop(driver);
    receiver.shutdown().await;
    app.stop().await;
}
