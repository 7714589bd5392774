//! The dashboard's rule, alert and delivery pages over HTTP, driven like
//! a browser (cookies kept, redirects not followed): each page renders
//! for a session and redirects without one, forms refuse without the CSRF
//! token, invalid input comes back inline (422), valid input redirects
//! (303) and the change is visible through the API.

#![allow(dead_code)]

mod common;

use common::{ADMIN_KEY, TestApp, get_json, post_json};
use serde_json::{Value, json};
use tradehook_store::testing::TestDb;

use common::browser::Browser;

async fn api_rule(app: &TestApp, body: Value) -> Value {
    let r = post_json(app, "/api/v1/rules", &body).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

fn rule_fields(rule_type: &str) -> Vec<(&'static str, &'static str)> {
    match rule_type {
        "price_threshold" => vec![("config.operator", ">="), ("config.threshold", "100")],
        "percent_move" => vec![
            ("config.percent", "5"),
            ("config.window_seconds", "60"),
            ("config.direction", "up"),
        ],
        "candle_close" => vec![
            ("config.interval", "1m"),
            ("config.operator", ">"),
            ("config.value", "10"),
        ],
        "macd_cross" => vec![
            ("config.fast", "12"),
            ("config.slow", "26"),
            ("config.signal", "9"),
            ("config.interval", "1m"),
            ("config.direction", "bullish"),
        ],
        "rsi" => vec![
            ("config.period", "14"),
            ("config.interval", "1m"),
            ("config.threshold", "70"),
            ("config.direction", "overbought"),
        ],
        "bollinger_bands" => vec![
            ("config.period", "20"),
            ("config.std_dev", "2"),
            ("config.interval", "1m"),
            ("config.band", "upper"),
            ("config.event", "touch"),
        ],
        "channel" => vec![
            ("config.lower", "10"),
            ("config.upper", "20"),
            ("config.event", "entering"),
        ],
        "price_alert" => vec![("config.condition", "above"), ("config.target_price", "5")],
        other => panic!("unknown type {other}"),
    }
}

const RULE_TYPES: [&str; 8] = [
    "price_threshold",
    "percent_move",
    "candle_close",
    "macd_cross",
    "rsi",
    "bollinger_bands",
    "channel",
    "price_alert",
];

#[tokio::test]
async fn rule_pages_redirect_to_sign_in_without_a_session() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let mut b = Browser::new(&app);
    for path in ["/ui/rules", "/ui/rules/new?type=rsi", "/ui/rules/rul_x"] {
        let p = b.get(path).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(p.location.unwrap().starts_with("/ui/sign-in"), "{path}");
    }
    for path in [
        "/ui/rules",
        "/ui/rules/rul_x",
        "/ui/rules/rul_x/enabled",
        "/ui/rules/rul_x/delete",
    ] {
        let p = b.post(path, &[("_csrf", "anything")]).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(p.location.unwrap().starts_with("/ui/sign-in"), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_rule_type_is_created_through_its_form() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (mut b, _) = Browser::signed_in(&app).await;
    let list = b.get("/ui/rules").await;
    assert_eq!(list.status, 200);
    assert!(list.has("No rules yet."));
    for t in RULE_TYPES {
        let form = b.get(&format!("/ui/rules/new?type={t}")).await;
        assert_eq!(form.status, 200, "{t}");
        for (name, _) in rule_fields(t) {
            assert!(form.has(&format!("name=\"{name}\"")), "{t}: {name}");
        }
        assert!(form.has("required"), "{t}: the browser validates");
        let csrf = form.csrf();
        let name = format!("dash {t}");
        let mut fields = vec![
            ("_csrf", csrf.as_str()),
            ("rule_type", t),
            ("name", name.as_str()),
            ("symbol", "BTC"),
            ("frequency", "once_per_bar"),
            ("cooldown_seconds", "0"),
            ("enabled", "on"),
        ];
        fields.extend(rule_fields(t));
        let p = b.post("/ui/rules", &fields).await;
        assert_eq!(p.status, 303, "{t}: {}", p.html);
        assert_eq!(p.location.as_deref(), Some("/ui/rules?done=created"));
    }
    let rules = get_json(&app, "/api/v1/rules?limit=50").await;
    let data = rules["data"].as_array().unwrap();
    assert_eq!(data.len(), 8);
    let rsi = data.iter().find(|r| r["rule_type"] == "rsi").unwrap();
    assert_eq!(rsi["config"]["period"], 14);
    assert_eq!(rsi["config"]["interval"], "1m");
    let list = b.get("/ui/rules").await;
    assert_eq!(list.status, 200);
    for t in RULE_TYPES {
        assert!(list.has(&format!("dash {t}")), "{t} is listed");
    }
    assert!(list.has("never"), "last fire time shown");
    app.stop().await;
}

#[tokio::test]
async fn rule_forms_refuse_without_csrf_and_show_field_errors_inline() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let refused = b
        .post(
            "/ui/rules",
            &[
                ("rule_type", "price_threshold"),
                ("name", "x"),
                ("symbol", "BTC"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    let bad = b
        .post(
            "/ui/rules",
            &[
                ("_csrf", csrf.as_str()),
                ("rule_type", "price_threshold"),
                ("name", "neg"),
                ("symbol", "BTC"),
                ("config.operator", ">="),
                ("config.threshold", "-5"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.has("id=\"f-config-threshold-err\""), "{}", bad.html);
    assert!(bad.has("must be greater than 0"));
    assert!(bad.has("value=\"neg\""), "the input survives");
    let discord = b
        .post(
            "/ui/rules",
            &[
                ("_csrf", csrf.as_str()),
                ("rule_type", "price_alert"),
                ("name", "hook"),
                ("symbol", "BTC"),
                ("config.condition", "above"),
                ("config.target_price", "5"),
                ("discord_webhook_url", "not a url"),
            ],
        )
        .await;
    assert_eq!(discord.status, 422);
    assert!(
        discord.has("id=\"f-discord_webhook_url-err\""),
        "{}",
        discord.html
    );
    let unknown = b
        .post(
            "/ui/rules",
            &[
                ("_csrf", csrf.as_str()),
                ("rule_type", "price_threshold"),
                ("name", "sym"),
                ("symbol", "NOPE_NOT_A_SYMBOL"),
                ("config.operator", ">="),
                ("config.threshold", "5"),
            ],
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.has("id=\"f-symbol-err\""), "{}", unknown.html);
    let none = get_json(&app, "/api/v1/rules").await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn rules_are_edited_enabled_disabled_and_deleted() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rule = api_rule(
        &app,
        json!({"name": "edit me", "symbol": "BTC", "rule_type": "channel",
               "config": {"lower": 10, "upper": 20, "event": "inside"}}),
    )
    .await;
    let id = rule["id"].as_str().unwrap();
    let (mut b, _) = Browser::signed_in(&app).await;
    let page = b.get(&format!("/ui/rules/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.has("value=\"edit me\""));
    assert!(page.has("name=\"config.upper\""));
    let csrf = page.csrf();
    let path = format!("/ui/rules/{id}");
    let base = |upper: &'static str| {
        vec![
            ("name", "edited"),
            ("symbol", "BTC"),
            ("config.lower", "10"),
            ("config.upper", upper),
            ("config.event", "exiting"),
            ("frequency", "every_time"),
            ("cooldown_seconds", "30"),
            ("enabled", "on"),
        ]
    };
    let mut bad = base("5");
    bad.push(("_csrf", &csrf));
    let p = b.post(&path, &bad).await;
    assert_eq!(p.status, 422, "{}", p.html);
    assert!(p.has("id=\"f-config-upper-err\""), "{}", p.html);
    assert!(p.has("value=\"edited\""));
    assert_eq!(b.post(&path, &base("30")).await.status, 403);
    let mut good = base("30");
    good.push(("_csrf", &csrf));
    let p = b.post(&path, &good).await;
    assert_eq!(p.status, 303, "{}", p.html);
    let api = get_json(&app, &format!("/api/v1/rules/{id}")).await;
    assert_eq!(api["name"], "edited");
    assert_eq!(api["config"]["upper"], 30.0);
    assert_eq!(api["config"]["event"], "exiting");
    assert_eq!(api["cooldown_seconds"], 30);

    let p = b
        .post(
            &format!("/ui/rules/{id}/enabled"),
            &[("_csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(
        get_json(&app, &format!("/api/v1/rules/{id}")).await["enabled"],
        false
    );
    assert_eq!(p.location.as_deref(), Some("/ui/rules?done=disabled"));
    let list = b.get("/ui/rules?done=disabled").await;
    assert!(list.has("Disabled."));
    assert!(list.has("title=\"Enable: evaluate this rule again\""));
    assert_eq!(
        b.post(&format!("/ui/rules/{id}/delete"), &[]).await.status,
        403
    );
    let p = b
        .post(&format!("/ui/rules/{id}/delete"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(p.status, 303);
    let gone = app
        .get(&format!("/api/v1/rules/{id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    app.stop().await;
}

/// Stores `n` closed one-minute candles of `symbol` ending at the current
/// minute, prices rising from 100.
async fn store_candles(app: &TestApp, symbol: &str, n: i64) -> i64 {
    let now = tradehook_core::time::now_ms();
    let last = now - now.rem_euclid(60_000);
    let rows: Vec<tradehook_store::CandleRow> = (0..n)
        .map(|i| {
            let p = 100.0 + i as f64;
            tradehook_store::CandleRow {
                symbol: symbol.into(),
                interval: "1m".into(),
                open_time: last - (n - 1 - i) * 60_000,
                open: p,
                high: p + 2.0,
                low: p - 1.0,
                close: p + 1.0,
                volume: 1.0,
                trades: 1,
                closed: true,
            }
        })
        .collect();
    app.state
        .store
        .upsert_candles(&app.state.market.source, &rows, now)
        .await
        .unwrap();
    last
}

async fn fire(app: &TestApp, rule_id: &str, window_start: i64, price: f64) {
    let fired = app
        .state
        .store
        .fire_alert(
            &tradehook_store::NewAlert {
                rule_id: rule_id.into(),
                window_start,
                window_end: window_start + 59_999,
                price,
                indicators: json!({"rsi": 71.5}),
                feed_ts: window_start + 1_000,
            },
            tradehook_core::time::now_ms(),
            |_, _| tradehook_delivery::Outbox::event("alert.fired", json!({})),
        )
        .await
        .unwrap();
    assert!(fired.is_some());
}

#[tokio::test]
async fn alerts_page_lists_pages_filters_and_charts_with_markers() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let mut anon = Browser::new(&app);
    let p = anon.get("/ui/alerts").await;
    assert_eq!(p.status, 303);
    assert!(p.location.unwrap().starts_with("/ui/sign-in"));

    let (mut b, _) = Browser::signed_in(&app).await;
    let empty = b.get("/ui/alerts").await;
    assert_eq!(empty.status, 200, "{}", empty.html);
    assert!(empty.has("No alerts match."));
    assert!(
        empty.has("id=\"alerts-table\" hidden") && empty.has("id=\"alerts-live\""),
        "an empty first page still has the (hidden) live table"
    );
    assert!(empty.has("No candles stored"));

    let rule = api_rule(
        &app,
        json!({"name": "chart rule", "symbol": "BTC", "rule_type": "price_threshold",
               "config": {"operator": ">", "threshold": 1}, "frequency": "every_time"}),
    )
    .await;
    let other = api_rule(
        &app,
        json!({"name": "other rule", "symbol": "ETH", "rule_type": "price_threshold",
               "config": {"operator": ">", "threshold": 1}, "frequency": "every_time"}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap();
    let last = store_candles(&app, "BTC", 30).await;
    // 55 alerts: the first page shows 50, the cursor the other 5; the
    // last three fall inside the chart.
    for i in 0..55 {
        fire(&app, rule_id, last - (54 - i) * 60_000, 120.0).await;
    }
    fire(&app, other["id"].as_str().unwrap(), last, 5.0).await;

    let p = b.get("/ui/alerts?symbol=BTC&interval=1m").await;
    assert_eq!(p.status, 200, "{}", p.html);
    assert!(p.html.len() < 200 * 1024);
    assert!(p.has("<svg"));
    assert_eq!(p.html.matches("<rect").count(), 30, "one body per candle");
    assert_eq!(
        p.html.matches("class=\"marker\"").count(),
        30,
        "a marker per alert inside the chart's candles"
    );
    assert!(p.has("chart rule (price_threshold) fired at 120.00"));
    assert!(!p.has("other rule"), "filtered by symbol");
    assert_eq!(p.html.matches("<tr>").count(), 51, "header and 50 rows");
    assert!(
        p.has("<tbody id=\"alerts-live\" data-symbol=\"BTC\">"),
        "the first page takes live alerts of its filter"
    );
    let at = p
        .html
        .find("/ui/alerts?symbol=BTC&amp;interval=1m&amp;cursor=")
        .unwrap();
    let rest = &p.html[at..];
    let href = rest[..rest.find('"').unwrap()].replace("&amp;", "&");
    let older = b.get(&href).await;
    assert_eq!(older.status, 200);
    assert_eq!(older.html.matches("<tr>").count(), 6, "header and 5 rows");
    assert!(!older.has("Older →"));
    assert!(!older.has("alerts-live"), "older pages stay still");

    let by_rule = b
        .get(&format!(
            "/ui/alerts?rule_id={}",
            other["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_rule.status, 200);
    assert!(by_rule.has("other rule"));
    assert!(!by_rule.has(">chart rule<"));
    app.stop().await;
}

#[tokio::test]
async fn delivery_pages_redirect_to_sign_in_without_a_session() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let mut b = Browser::new(&app);
    for path in [
        "/ui/deliveries",
        "/ui/deliveries/ep_x",
        "/ui/deliveries/ep_x/dlv_x",
    ] {
        let p = b.get(path).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(p.location.unwrap().starts_with("/ui/sign-in"), "{path}");
    }
    for path in [
        "/ui/deliveries",
        "/ui/deliveries/ep_x/enabled",
        "/ui/deliveries/ep_x/test",
        "/ui/deliveries/ep_x/rotate",
        "/ui/deliveries/ep_x/dlv_x/replay",
    ] {
        let p = b.post(path, &[("_csrf", "anything")]).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(p.location.unwrap().starts_with("/ui/sign-in"), "{path}");
    }
    app.stop().await;
}

fn between<'h>(html: &'h str, start: &str, end: &str) -> &'h str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    let rest = &html[at..];
    &rest[..rest.find(end).unwrap()]
}

#[tokio::test]
async fn endpoints_are_created_tested_rotated_disabled_and_deliveries_replayed() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rx = tradehook_testkit::receiver::Receiver::start().await;
    let (mut b, csrf) = Browser::signed_in(&app).await;
    let empty = b.get("/ui/deliveries").await;
    assert_eq!(empty.status, 200);
    assert!(empty.has("No endpoints yet."));

    let url = rx.url("/hook");
    let refused = b
        .post("/ui/deliveries", &[("url", &url), ("event_types", "*")])
        .await;
    assert_eq!(refused.status, 403);
    let bad = b
        .post(
            "/ui/deliveries",
            &[
                ("_csrf", &csrf),
                ("url", "not a url"),
                ("event_types", "alert.*"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.has("id=\"f-url-err\""), "{}", bad.html);
    assert!(bad.has("value=\"not a url\""));
    let created = b
        .post(
            "/ui/deliveries",
            &[
                ("_csrf", &csrf),
                ("url", &url),
                ("event_types", "*"),
                ("description", "dash hook"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.html);
    let secret = between(&created.html, "<pre id=\"new-secret\">", "<").to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let list = get_json(&app, "/api/v1/endpoints").await;
    let ep = &list["data"][0];
    assert_eq!(ep["description"], "dash hook");
    let id = ep["id"].as_str().unwrap().to_string();
    let again = b.get("/ui/deliveries").await;
    assert!(again.has("dash hook") && again.has("healthy"));
    assert!(!again.has(&secret), "the secret is shown once");

    // Send test: a delivery that arrives, with its attempt.
    let page = format!("/ui/deliveries/{id}");
    assert_eq!(b.get(&page).await.status, 200);
    assert_eq!(b.post(&format!("{page}/test"), &[]).await.status, 403);
    let sent = b.post(&format!("{page}/test"), &[("_csrf", &csrf)]).await;
    assert_eq!(sent.status, 303);
    assert_eq!(sent.location.unwrap(), format!("{page}?done=sent"));
    let delivered = common::delivery_in(&app, &id, "delivered").await;
    let did = delivered["id"].as_str().unwrap();
    let filtered = b.get(&format!("{page}?status=delivered")).await;
    assert!(filtered.has(did), "{}", filtered.html);
    let failed = b.get(&format!("{page}?status=failed")).await;
    assert!(failed.has("No deliveries match."));
    let detail = b.get(&format!("{page}/{did}")).await;
    assert_eq!(detail.status, 200, "{}", detail.html);
    assert!(detail.has("<td>200</td>"), "{}", detail.html);
    assert!(detail.has(" ms</td>"));

    // Replay: a second attempt.
    assert_eq!(
        b.post(&format!("{page}/{did}/replay"), &[]).await.status,
        403
    );
    let replayed = b
        .post(&format!("{page}/{did}/replay"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(replayed.status, 303);
    common::eventually(10, "the replay is attempted", || async {
        let d = get_json(&app, &format!("/api/v1/deliveries/{did}")).await;
        (d["attempts_log"].as_array().map_or(0, Vec::len) >= 2).then_some(())
    })
    .await;

    // Rotation: a new secret, shown once in the answer.
    assert_eq!(b.post(&format!("{page}/rotate"), &[]).await.status, 403);
    let rotated = b.post(&format!("{page}/rotate"), &[("_csrf", &csrf)]).await;
    assert_eq!(rotated.status, 200);
    let new_secret = between(&rotated.html, "<pre id=\"new-secret\">", "<");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(!b.get(&page).await.has(new_secret));

    // Disable.
    let off = b
        .post(
            &format!("{page}/enabled"),
            &[("_csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(off.status, 303);
    let api = get_json(&app, &format!("/api/v1/endpoints/{id}")).await;
    assert_eq!(api["enabled"], false);
    let shown = b.get(&format!("{page}?done=disabled")).await;
    assert!(shown.has("Disabled.") && shown.has(">disabled<"));
    let big = b.get("/ui/deliveries").await;
    assert!(big.html.len() < 200 * 1024);
    app.stop().await;
}

#[tokio::test]
async fn the_new_pages_stay_light_and_read_keys_cannot_change_rules() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let rule = api_rule(
        &app,
        json!({"name": "light", "symbol": "BTC", "rule_type": "rsi",
               "config": {"period": 14, "interval": "1m", "threshold": 70, "direction": "overbought"}}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap();
    let last = store_candles(&app, "BTC", 200).await;
    fire(&app, rule_id, last, 150.0).await;
    let ep = common::create_endpoint(
        &app,
        json!({"url": "http://127.0.0.1:9/x", "event_types": ["*"]}),
    )
    .await;
    let ep_id = ep["id"].as_str().unwrap();
    let (mut b, _) = Browser::signed_in(&app).await;
    let css = include_str!("../src/dashboard/assets/app.css").len();
    let js = include_str!("../src/dashboard/assets/app.js").len();
    for path in [
        "/ui/rules".to_string(),
        "/ui/rules/new?type=macd_cross".to_string(),
        format!("/ui/rules/{rule_id}"),
        "/ui/alerts?symbol=BTC".to_string(),
        "/ui/deliveries".to_string(),
        format!("/ui/deliveries/{ep_id}"),
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
    let chart = b.get("/ui/alerts?symbol=BTC").await;
    assert_eq!(chart.html.matches("<rect").count(), 200);
    assert_eq!(chart.html.matches("class=\"marker\"").count(), 1);

    let (_, secret) = app.create_key("looker", "read", None).await;
    let mut reader = Browser::new(&app);
    reader.sign_in(&secret).await;
    let page = reader.get("/ui/rules").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let refused = reader
        .post(
            &format!("/ui/rules/{rule_id}/enabled"),
            &[("_csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        get_json(&app, &format!("/api/v1/rules/{rule_id}")).await["enabled"],
        true
    );
    app.stop().await;
}
