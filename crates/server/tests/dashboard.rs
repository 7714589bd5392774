//! The web dashboard over HTTP: sign-in, sessions, CSRF, and every page
//! and form, driven like a browser (cookies kept, redirects not followed).

mod common;

use common::{ADMIN_KEY, TestApp};
use serde_json::{Value, json};
use sha2::Digest;
use tradehook_store::testing::TestDb;

use common::browser::Browser;

#[tokio::test]
async fn root_and_pages_redirect_to_sign_in_without_a_session() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let mut b = Browser::new(&app);
    let root = b.get("/").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.location.as_deref(), Some("/ui"));
    for path in [
        "/ui",
        "/ui/overview.json",
        "/ui/stream",
        "/ui/setup",
        "/ui/setup/bot_x",
        "/ui/brokers",
        "/ui/bots",
        "/ui/bots/bot_x",
        "/ui/rules",
    ] {
        let p = b.get(path).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(
            p.location
                .as_deref()
                .unwrap()
                .starts_with("/ui/sign-in?next="),
            "{path}: {:?}",
            p.location
        );
    }
    // Forms too: no session, no action, whatever the token says.
    for path in [
        "/ui/bots",
        "/ui/brokers",
        "/ui/bots/bot_x/pause",
        "/ui/sign-out",
    ] {
        let p = b.post(path, &[("_csrf", "anything")]).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(p.location.unwrap().starts_with("/ui/sign-in"));
    }
    let form = b.get("/ui/sign-in?next=/ui").await;
    assert_eq!(form.status, 200);
    assert!(form.has("<label for=\"key\">API key</label>"));
    app.stop().await;
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_opens_the_overview() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let mut b = Browser::new(&app);
    let p = b.sign_in(ADMIN_KEY).await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location.as_deref(), Some("/ui"));
    let cookie = p.set_cookie.unwrap();
    assert!(cookie.starts_with("th_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    // Plain HTTP to 127.0.0.1: no Secure, or the browser would drop it.
    assert!(!cookie.contains("Secure"), "{cookie}");
    // Only the hash of the id is stored.
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("th_session=");
    let now = tradehook_core::time::now_ms();
    let store = &app.state.store;
    assert!(
        store
            .get_dashboard_session(id, now)
            .await
            .unwrap()
            .is_none()
    );
    let hash: String = sha2::Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let row = store
        .get_dashboard_session(&hash, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.key_id, "admin");
    assert!(!row.key_sealed.contains(ADMIN_KEY), "the key is sealed");

    let overview = b.get("/ui").await;
    assert_eq!(overview.status, 200);
    for text in [
        "Overview",
        "Prices",
        "Feed",
        "Failing endpoints",
        "Recent events",
        "alerts today",
        "Sign out",
    ] {
        assert!(overview.has(text), "overview lacks {text}");
    }
    for nav in [
        "Setup",
        "Brokers",
        "Bots",
        "Rules",
        "Alerts",
        "Deliveries",
        "Logs",
        "Analytics",
    ] {
        assert!(overview.has(&format!(">{nav}</a>")), "nav lacks {nav}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_secure_cookie_is_set_behind_tls() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/ui/sign-in"))
        .header("x-forwarded-proto", "https")
        .form(&[("key", ADMIN_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_key_shows_the_error_and_opens_no_session() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let mut b = Browser::new(&app);
    let p = b.sign_in("th_not-a-real-key").await;
    assert_eq!(p.status, 401);
    assert!(p.has("the API key is not valid"), "{}", p.html);
    assert!(p.set_cookie.is_none());
    let empty = b.sign_in("  ").await;
    assert_eq!(empty.status, 422);
    assert!(empty.has("Enter an API key."));
    app.stop().await;
}

#[tokio::test]
async fn a_stored_key_signs_in_and_revoking_it_ends_the_session() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (id, secret) = app.create_key("viewer", "read", None).await;
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in(&secret).await.status, 303);
    let overview = b.get("/ui").await;
    assert_eq!(overview.status, 200);
    assert!(overview.has("viewer · read"));
    let revoked = app
        .delete(&format!("/api/v1/keys/{id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let after = b.get("/ui").await;
    assert_eq!(after.status, 303);
    app.stop().await;
}

#[tokio::test]
async fn sign_out_needs_the_csrf_token_and_ends_the_session_on_the_server() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let stolen = b.cookie.clone();

    let none = b.post("/ui/sign-out", &[]).await;
    assert_eq!(none.status, 403);
    let wrong = b.post("/ui/sign-out", &[("_csrf", "wrong")]).await;
    assert_eq!(wrong.status, 403);
    assert_eq!(b.get("/ui").await.status, 200, "still signed in");

    let out = b.post("/ui/sign-out", &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/ui/sign-in"));
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    // The old cookie is worthless now, even if someone kept it.
    b.cookie = stolen;
    assert_eq!(b.get("/ui").await.status, 303);
    app.stop().await;
}

#[tokio::test]
async fn assets_are_cached_and_pages_stay_light() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (mut b, _) = Browser::signed_in(&app).await;
    let mut assets = 0;
    for file in ["app.css", "app.js"] {
        let r = reqwest::get(app.url(&format!("/ui/assets/{file}")))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=31536000")
        );
        assets += r.bytes().await.unwrap().len();
    }
    let headers = reqwest::get(app.url("/ui/sign-in")).await.unwrap();
    let h = headers.headers();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    for path in ["/ui", "/ui/sign-in"] {
        let p = b.get(path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(
            !p.has("http://") && !p.has("https://"),
            "{path} loads nothing from elsewhere"
        );
        assert!(p.html.len() + assets < 200 * 1024, "{path} weighs too much");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_section_is_built_and_unknown_sections_are_404() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (mut b, _) = Browser::signed_in(&app).await;
    for path in ["/ui/logs", "/ui/analytics"] {
        let built = b.get(path).await;
        assert_eq!(built.status, 200, "{path}");
        assert!(!built.has("is not built yet"), "{path}");
    }
    assert_eq!(b.get("/ui/nonsense").await.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_overview_shows_counts_and_its_live_parts_work() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    common::publish_event(
        &app,
        "bot.paused",
        json!({"bot_id": "bot_x", "bot_name": "trend"}),
    )
    .await;
    let (mut b, _) = Browser::signed_in(&app).await;
    let page = b.get("/ui").await;
    assert!(page.has("bot.paused"), "recent events are listed");

    let live = b.get("/ui/overview.json").await;
    assert_eq!(live.status, 200);
    let live: Value = serde_json::from_str(&live.html).unwrap();
    assert_eq!(live["counts"]["signals"], 0);
    assert_eq!(live["feed"]["connected"], Value::Null);
    let symbols: Vec<&str> = live["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["BTC", "ETH", "SOL"]);

    // The stream answers with the session cookie alone and carries new events.
    let mut stream = app
        .client
        .get(app.url("/ui/stream"))
        .header("cookie", b.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let id = common::publish_event(&app, "bot.resumed", json!({"bot_id": "bot_x"})).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains(&id) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("the event reaches the dashboard stream within 10 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    app.stop().await;
}

// ------------------------------------------------------------- trading pages

use common::post_json;

/// A paper account and a bot on it, through the API; returns the bot.
async fn paper_bot(app: &TestApp, name: &str, paused: bool) -> Value {
    let account = post_json(
        app,
        "/api/v1/broker-accounts",
        &json!({"name": format!("{name}-acct"), "kind": "paper", "starting_cash": 50000}),
    )
    .await;
    assert_eq!(account.status(), 201);
    let account: Value = account.json().await.unwrap();
    let bot = post_json(
        app,
        "/api/v1/bots",
        &json!({"name": name, "broker_account_id": account["id"], "allowed_symbols": ["BTCUSD"], "paused": paused}),
    )
    .await;
    assert_eq!(bot.status(), 201);
    bot.json().await.unwrap()
}

async fn api_bot(app: &TestApp, id: &str) -> Value {
    common::get_json(app, &format!("/api/v1/bots/{id}")).await
}

#[tokio::test]
async fn brokers_page_adds_paper_accounts_and_shows_their_status() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let empty = b.get("/ui/brokers").await;
    assert_eq!(empty.status, 200);
    assert!(empty.has("No broker accounts yet"));

    let form = [
        ("_csrf", csrf.as_str()),
        ("name", "paper-main"),
        ("kind", "paper"),
        ("environment", "paper"),
        ("starting_cash", "25000"),
    ];
    assert_eq!(
        b.post("/ui/brokers", &form[1..]).await.status,
        403,
        "no CSRF token"
    );
    let created = b.post("/ui/brokers", &form).await;
    assert_eq!(created.status, 303, "{}", created.html);
    assert_eq!(
        created.location.as_deref(),
        Some("/ui/brokers?done=created")
    );
    let page = b.get("/ui/brokers?done=created").await;
    assert!(page.has("paper-main"));
    assert!(page.has("connected"));
    assert!(page.has("25000"), "equity from the status route");
    assert!(page.has("No open positions."));

    // A duplicate name: the API's 409 shows above the form.
    let dup = b.post("/ui/brokers", &form).await;
    assert_eq!(dup.status, 422);
    assert!(dup.has("class=\"error\""), "{}", dup.html);
    app.stop().await;
}

#[tokio::test]
async fn broker_form_errors_are_inline_and_credentials_are_never_shown_back() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let bad_cash = b
        .post(
            "/ui/brokers",
            &[
                ("_csrf", &csrf),
                ("name", "p"),
                ("kind", "paper"),
                ("starting_cash", "lots"),
            ],
        )
        .await;
    assert_eq!(bad_cash.status, 422);
    assert!(
        bad_cash.has("id=\"f-starting_cash-err\""),
        "{}",
        bad_cash.html
    );
    assert!(bad_cash.has("value=\"lots\""), "the input is kept");

    let no_secret = b
        .post(
            "/ui/brokers",
            &[
                ("_csrf", &csrf),
                ("name", "alp"),
                ("kind", "alpaca"),
                ("credentials.key_id", "AKSECRETKEYID"),
            ],
        )
        .await;
    assert_eq!(no_secret.status, 422);
    assert!(
        no_secret.has("id=\"f-credentials-secret_key-err\""),
        "{}",
        no_secret.html
    );
    assert!(
        !no_secret.has("AKSECRETKEYID"),
        "credentials are write-only"
    );
    app.stop().await;
}

#[tokio::test]
async fn broker_accounts_are_edited_and_their_keys_replaced_without_showing_them() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let created = post_json(
        &app,
        "/api/v1/broker-accounts",
        &json!({"name": "alp", "kind": "alpaca", "base_url": "https://alpaca.example",
                "credentials": {"key_id": "OLDKEYID", "secret_key": "OLDSECRET"}}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let account: Value = created.json().await.unwrap();
    let id = account["id"].as_str().unwrap();
    let path = format!("/ui/brokers/{id}");
    let (mut b, csrf) = Browser::signed_in(&app).await;

    let list = b.get("/ui/brokers").await;
    assert!(list.has(&format!("href=\"{path}\"")), "an Edit link");
    let form = b.get(&path).await;
    assert_eq!(form.status, 200);
    assert!(form.has("value=\"alp\"") && form.has("value=\"https://alpaca.example\""));
    assert!(form.has("name=\"credentials.secret_key\""));
    assert!(
        !form.has("OLDKEYID") && !form.has("OLDSECRET"),
        "keys are write-only"
    );

    let fields = [("name", "alp-main"), ("base_url", "https://alpaca.example")];
    assert_eq!(b.post(&path, &fields).await.status, 403, "no CSRF token");

    // A bad key: 422 inline, the typed secret not shown back, nothing saved.
    let bad = b
        .post(
            &path,
            &[
                ("_csrf", csrf.as_str()),
                ("name", "alp-main"),
                ("base_url", "https://alpaca.example"),
                ("credentials.key_id", "has space"),
                ("credentials.secret_key", "NEWSECRET"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.has("id=\"f-credentials-key_id-err\""), "{}", bad.html);
    assert!(bad.has("value=\"alp-main\""), "the typed name is kept");
    assert!(!bad.has("NEWSECRET"));
    let api: Value = common::get_json(&app, &format!("/api/v1/broker-accounts/{id}")).await;
    assert_eq!(api["name"], "alp");

    // Empty key fields keep the keys; an empty base URL clears it.
    let sealed_before = app
        .state
        .store
        .get_broker_account(id)
        .await
        .unwrap()
        .credentials;
    let saved = b
        .post(
            &path,
            &[
                ("_csrf", csrf.as_str()),
                ("name", "alp-main"),
                ("base_url", ""),
                ("credentials.key_id", ""),
                ("credentials.secret_key", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert_eq!(saved.location.as_deref(), Some("/ui/brokers?done=saved"));
    let api: Value = common::get_json(&app, &format!("/api/v1/broker-accounts/{id}")).await;
    assert_eq!(api["name"], "alp-main");
    assert_eq!(api["base_url"], Value::Null);
    assert_eq!(api["has_credentials"], true);
    let record = app.state.store.get_broker_account(id).await.unwrap();
    assert_eq!(record.credentials, sealed_before, "the keys are kept");

    // New keys replace the sealed ones.
    let replaced = b
        .post(
            &path,
            &[
                ("_csrf", csrf.as_str()),
                ("name", "alp-main"),
                ("base_url", ""),
                ("credentials.key_id", "NEWKEYID"),
                ("credentials.secret_key", "NEWSECRET"),
            ],
        )
        .await;
    assert_eq!(replaced.status, 303, "{}", replaced.html);
    let record = app.state.store.get_broker_account(id).await.unwrap();
    assert_ne!(record.credentials, sealed_before);
    let opened = app
        .state
        .sealer
        .open(record.credentials.as_deref().unwrap())
        .unwrap();
    assert!(opened.contains("NEWKEYID") && opened.contains("NEWSECRET"));

    // A paper account's edit form has no key fields.
    let paper: Value = post_json(
        &app,
        "/api/v1/broker-accounts",
        &json!({"name": "p", "kind": "paper"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let paper_form = b
        .get(&format!("/ui/brokers/{}", paper["id"].as_str().unwrap()))
        .await;
    assert_eq!(paper_form.status, 200);
    assert!(!paper_form.has("credentials.key_id"));
    assert_eq!(b.get("/ui/brokers/bac_nothere").await.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn bots_are_created_and_listed_with_inline_errors() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let existing = paper_bot(&app, "first", false).await;
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let list = b.get("/ui/bots").await;
    assert_eq!(list.status, 200);
    assert!(list.has("first") && list.has("active") && list.has("P&amp;L today"));

    let account = existing["broker_account_id"].as_str().unwrap();
    let bad = b
        .post(
            "/ui/bots",
            &[
                ("_csrf", &csrf),
                ("name", "second"),
                ("broker_account_id", account),
                ("allowed_symbols", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.has("id=\"f-allowed_symbols-err\""), "{}", bad.html);

    let made = b
        .post(
            "/ui/bots",
            &[
                ("_csrf", &csrf),
                ("name", "second"),
                ("broker_account_id", account),
                ("allowed_symbols", "ETHUSD, SOLUSD"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.html);
    let location = made.location.unwrap();
    assert!(location.starts_with("/ui/setup/bot_"), "{location}");
    let id = location.trim_start_matches("/ui/setup/");
    assert_eq!(
        api_bot(&app, id).await["allowed_symbols"],
        json!(["ETHUSD", "SOLUSD"])
    );
    app.stop().await;
}

#[tokio::test]
async fn bot_settings_save_through_the_api_with_inline_errors() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "trend", false).await;
    let id = bot["id"].as_str().unwrap();
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let page = b.get(&format!("/ui/bots/{id}")).await;
    assert_eq!(page.status, 200);
    for field in [
        "settings.sizing_mode",
        "settings.base_order_pct",
        "settings.notional",
        "settings.fixed_qty",
        "settings.use_limit_orders",
        "settings.use_strategy_order_price",
        "settings.limit_offset_ticks",
        "settings.attach_sl_tp",
        "settings.sl_pct",
        "settings.tp_pct",
        "settings.use_avg_fill_for_sl_tp",
        "settings.enable_global_sl_tp",
        "settings.global_sl_pct",
        "settings.global_tp_pct",
        "settings.global_tp_liquidate",
        "settings.max_lag_secs",
    ] {
        assert!(
            page.has(&format!("name=\"{field}\"")),
            "the form lacks {field}"
        );
    }
    assert!(page.has("Clean up SL/TP") && page.has(">Pause</button>"));

    let account = bot["broker_account_id"].as_str().unwrap();
    let form = |sl: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("name", "trend".to_string()),
            ("broker_account_id", account.to_string()),
            ("allowed_symbols", "BTCUSD".to_string()),
            ("settings.sizing_mode", "pct_equity".to_string()),
            ("settings.base_order_pct", "0.05".to_string()),
            ("settings.sl_pct", sl.to_string()),
            ("settings.tp_pct", "0.04".to_string()),
            ("settings.global_sl_pct", "0.8".to_string()),
            ("settings.global_tp_pct", "1.2".to_string()),
            ("settings.limit_offset_ticks", "2".to_string()),
            ("settings.use_limit_orders", "on".to_string()),
            ("settings.attach_sl_tp", "on".to_string()),
        ]
    };
    let path = format!("/ui/bots/{id}");
    let bad = form("2");
    let bad_refs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = b.post(&path, &bad_refs).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.has("id=\"f-settings-sl_pct-err\""),
        "{}",
        refused.html
    );
    assert!(refused.has("between 0 and 1"));
    assert!(refused.has("value=\"2\""), "the submitted value is kept");
    assert_eq!(
        api_bot(&app, id).await["settings"]["sl_pct"],
        0.01,
        "nothing saved"
    );

    assert_eq!(
        b.post(&path, &bad_refs[1..]).await.status,
        403,
        "no CSRF token"
    );
    let good = form("0.03");
    let good_refs: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = b.post(&path, &good_refs).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert_eq!(
        saved.location.as_deref(),
        Some(format!("/ui/bots/{id}?done=saved").as_str())
    );
    let s = &api_bot(&app, id).await["settings"];
    assert_eq!(s["sl_pct"], 0.03);
    assert_eq!(s["use_limit_orders"], true);
    assert_eq!(s["attach_sl_tp"], true);
    assert_eq!(
        s["enable_global_sl_tp"], false,
        "an unchecked toggle is off"
    );
    assert_eq!(s["limit_offset_ticks"], 2);
    assert!(
        b.get(&format!("/ui/bots/{id}?done=saved"))
            .await
            .has("Saved.")
    );
    app.stop().await;
}

#[tokio::test]
async fn pause_resume_and_cleanup_buttons_act_through_the_api() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "swing", false).await;
    let id = bot["id"].as_str().unwrap();
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let pause = format!("/ui/bots/{id}/pause");
    assert_eq!(b.post(&pause, &[("paused", "true")]).await.status, 403);
    assert_eq!(
        b.post(&pause, &[("_csrf", "nope"), ("paused", "true")])
            .await
            .status,
        403
    );
    let paused = b
        .post(&pause, &[("_csrf", &csrf), ("paused", "true")])
        .await;
    assert_eq!(paused.status, 303);
    assert_eq!(api_bot(&app, id).await["paused"], true);
    assert!(b.get("/ui/bots").await.has(">Resume</button>"));
    b.post(&pause, &[("_csrf", &csrf), ("paused", "false")])
        .await;
    assert_eq!(api_bot(&app, id).await["paused"], false);

    let cleanup = format!("/ui/bots/{id}/cleanup");
    assert_eq!(b.post(&cleanup, &[]).await.status, 403);
    let cleaned = b.post(&cleanup, &[("_csrf", &csrf)]).await;
    assert_eq!(cleaned.status, 303, "{}", cleaned.html);
    assert!(
        b.get(cleaned.location.as_deref().unwrap())
            .await
            .has("Cleanup ran.")
    );
    app.stop().await;
}

#[tokio::test]
async fn todays_pnl_comes_from_equity_snapshots() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "pnl", true).await;
    let id = bot["id"].as_str().unwrap();
    let now = tradehook_core::time::now_ms();
    let midnight = now - now.rem_euclid(86_400_000);
    for (ts, equity) in [(midnight - 60_000, "50000"), (now - 1000, "50123.456")] {
        app.state
            .store
            .insert_equity_snapshot(&tradehook_store::EquitySnapshot {
                bot_id: id.to_string(),
                ts,
                equity: equity.to_string(),
                cash: equity.to_string(),
                positions: json!([]),
            })
            .await
            .unwrap();
    }
    let (mut b, _) = Browser::signed_in(&app).await;
    let list = b.get("/ui/bots").await;
    assert!(list.has("123.46"), "{}", list.html);
    app.stop().await;
}

#[tokio::test]
async fn setup_shows_the_webhook_url_templates_and_sends_a_test_signal() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "hooked", true).await;
    let id = bot["id"].as_str().unwrap();
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let index = b.get("/ui/setup").await;
    assert_eq!(index.status, 200);
    assert!(index.has(&format!("/ui/setup/{id}")));

    let page = b.get(&format!("/ui/setup/{id}")).await;
    assert_eq!(page.status, 200);
    let url = bot["webhook_url"].as_str().unwrap();
    assert!(page.has(url), "the webhook URL is shown");
    assert!(page.has("data-copy=\"webhook-url\""));
    assert!(page.has("{{ticker}}"), "alert messages are shown");
    assert!(page.has("data-copy=\"template-0\""));

    let test = format!("/ui/setup/{id}/test");
    assert_eq!(
        b.post(&test, &[("symbol", "BTCUSD"), ("action", "exit")])
            .await
            .status,
        403
    );
    // Paused: the intake records the signal as rejected and answers 423.
    let sent = b
        .post(
            &test,
            &[("_csrf", &csrf), ("symbol", "BTCUSD"), ("action", "exit")],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.html);
    assert!(sent.has("The intake answered 423"), "{}", sent.html);
    let signals = common::get_json(&app, &format!("/api/v1/signals?bot_id={id}")).await;
    assert_eq!(signals["data"].as_array().unwrap().len(), 1, "{signals}");

    // Active: accepted.
    common::patch_json(
        &app,
        &format!("/api/v1/bots/{id}"),
        &json!({"paused": false}),
    )
    .await;
    let accepted = b
        .post(
            &test,
            &[("_csrf", &csrf), ("symbol", "BTCUSD"), ("action", "exit")],
        )
        .await;
    assert!(
        accepted.has("The intake accepted the test signal"),
        "{}",
        accepted.html
    );
    app.stop().await;
}

#[tokio::test]
async fn rotating_the_token_shows_the_new_url_and_kills_the_old_one() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "rotor", true).await;
    let id = bot["id"].as_str().unwrap();
    let old = bot["webhook_url"].as_str().unwrap();
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let rotate = format!("/ui/setup/{id}/rotate");
    assert_eq!(b.post(&rotate, &[]).await.status, 403);
    assert_eq!(b.post(&rotate, &[("_csrf", "x")]).await.status, 403);
    let page = b.post(&rotate, &[("_csrf", &csrf)]).await;
    assert_eq!(page.status, 200);
    assert!(page.has("New token made"));
    let new = api_bot(&app, id).await["webhook_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    assert!(page.has(&new) && !page.has(old));
    let old_token = old.rsplit('/').next().unwrap();
    let gone = app
        .post(&format!("/hooks/tradingview/{old_token}"))
        .header("content-type", "application/json")
        .body(json!({"ticker": "BTCUSD", "action": "exit"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn every_page_renders_light_and_read_keys_cannot_change_anything() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "weight", true).await;
    let id = bot["id"].as_str().unwrap();
    let (mut b, _) = Browser::signed_in(&app).await;
    let css = include_str!("../src/dashboard/assets/app.css").len();
    let js = include_str!("../src/dashboard/assets/app.js").len();
    for path in [
        "/ui".to_string(),
        "/ui/setup".to_string(),
        format!("/ui/setup/{id}"),
        "/ui/brokers".to_string(),
        "/ui/bots".to_string(),
        format!("/ui/bots/{id}"),
    ] {
        let p = b.get(&path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(
            p.html.len() + css + js < 200 * 1024,
            "{path} weighs too much"
        );
        assert!(
            !p.has("src=\"http") && !p.has("href=\"http"),
            "{path} loads nothing from elsewhere"
        );
    }

    let (_, secret) = app.create_key("looker", "read", None).await;
    let mut reader = Browser::new(&app);
    reader.sign_in(&secret).await;
    let page = reader.get(&format!("/ui/bots/{id}")).await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let refused = reader
        .post(
            &format!("/ui/bots/{id}/pause"),
            &[("_csrf", &csrf), ("paused", "false")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.has("may only read"), "{}", refused.html);
    assert_eq!(api_bot(&app, id).await["paused"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_session_works_on_every_replica_and_sign_out_ends_it_everywhere() {
    let Some(db) = TestDb::postgres("dashboard_replicas").await else {
        return;
    };
    let a = TestApp::start(&db).await;
    let b = TestApp::start(&db).await;
    let (mut on_a, _) = Browser::signed_in(&a).await;
    let mut on_b = Browser::new(&b);
    on_b.cookie = on_a.cookie.clone();
    let page = on_b.get("/ui").await;
    assert_eq!(page.status, 200, "replica B knows A's session");

    // Today's counts are read from PostgreSQL too.
    let bot = paper_bot(&b, "replicated", true).await;
    let id = bot["id"].as_str().unwrap();
    let test = format!("/ui/setup/{id}/test");
    let sent = on_b
        .post(
            &test,
            &[
                ("_csrf", &page.csrf()),
                ("symbol", "BTCUSD"),
                ("action", "exit"),
            ],
        )
        .await;
    assert!(sent.has("The intake answered 423"), "{}", sent.html);
    let live: Value = serde_json::from_str(&on_a.get("/ui/overview.json").await.html).unwrap();
    assert_eq!(live["counts"]["signals"], 1, "{live}");

    let out = on_b.post("/ui/sign-out", &[("_csrf", &page.csrf())]).await;
    assert_eq!(out.status, 303);
    assert_eq!(on_a.get("/ui").await.status, 303, "signed out on A too");
    a.stop().await;
    b.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn deleting_a_broker_account_is_refused_while_a_bot_uses_it() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let bot = paper_bot(&app, "holder", true).await;
    let account = bot["broker_account_id"].as_str().unwrap();
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let path = format!("/ui/brokers/{account}/delete");
    assert_eq!(b.post(&path, &[]).await.status, 403);
    let refused = b.post(&path, &[("_csrf", &csrf)]).await;
    assert_eq!(refused.status, 409, "{}", refused.html);
    assert!(refused.has("class=\"error\""));

    // An account no bot ever named goes.
    let spare = post_json(
        &app,
        "/api/v1/broker-accounts",
        &json!({"name": "spare", "kind": "paper"}),
    )
    .await;
    let spare: Value = spare.json().await.unwrap();
    let path = format!("/ui/brokers/{}/delete", spare["id"].as_str().unwrap());
    let deleted = b.post(&path, &[("_csrf", &csrf)]).await;
    assert_eq!(deleted.status, 303, "{}", deleted.html);
    let after = b.get("/ui/brokers?done=deleted").await;
    assert!(after.has("Deleted.") && !after.has(">spare"));
    app.stop().await;
}
