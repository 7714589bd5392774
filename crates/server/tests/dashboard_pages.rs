//! The dashboard's rule, alert and delivery pages over HTTP, driven like
//! a browser (cookies kept, redirects not followed): each page renders
//! for a session and redirects without one, forms refuse without the CSRF
//! token, invalid input comes back inline (422), valid input redirects
//! (303) and the change is visible through the API.

#![allow(dead_code)]

mod common;

use common::{ADMIN_KEY, TestApp, get_json, post_json};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tradehook_store::testing::TestDb;

/// A browser: keeps the session cookie and the page's CSRF token, and
/// does not follow redirects so tests see them.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    html: String,
}

impl Page {
    /// The value of the first hidden `_csrf` field.
    fn csrf(&self) -> String {
        let at = self
            .html
            .find("name=\"_csrf\" value=\"")
            .expect("the page has a CSRF field");
        let rest = &self.html[at + 20..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    fn has(&self, text: &str) -> bool {
        self.html.contains(text)
    }
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn finish(&mut self, r: reqwest::Response) -> Page {
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let set_cookie = r
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string());
        if let Some(c) = &set_cookie {
            let pair = c.split(';').next().unwrap().to_string();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        Page {
            status,
            location,
            set_cookie,
            html: r.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let mut req = self.client.get(self.app.url(path));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        self.finish(r).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut req = self.client.post(self.app.url(path)).form(form);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        self.finish(r).await
    }

    async fn sign_in(&mut self, key: &str) -> Page {
        self.post("/ui/sign-in", &[("key", key), ("next", "/ui")])
            .await
    }

    /// Signs in with the admin key and returns the overview's CSRF token.
    async fn signed_in(app: &'a TestApp) -> (Browser<'a>, String) {
        let mut b = Browser::new(app);
        let p = b.sign_in(ADMIN_KEY).await;
        assert_eq!(p.status, 303, "{}", p.html);
        let overview = b.get("/ui").await;
        assert_eq!(overview.status, 200);
        let csrf = overview.csrf();
        (b, csrf)
    }
}

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
