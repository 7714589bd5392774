//! The web dashboard over HTTP: sign-in, sessions, CSRF, and every page
//! and form, driven like a browser (cookies kept, redirects not followed).

mod common;

use common::{ADMIN_KEY, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
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

#[tokio::test]
async fn root_and_pages_redirect_to_sign_in_without_a_session() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let mut b = Browser::new(&app);
    let root = b.get("/").await;
    assert_eq!(root.status, 303);
    assert_eq!(root.location.as_deref(), Some("/ui"));
    for path in ["/ui", "/ui/overview.json", "/ui/stream", "/ui/rules"] {
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
    assert!(overview.has("viewer (read)"));
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
async fn sections_not_built_yet_say_so() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let (mut b, _) = Browser::signed_in(&app).await;
    let p = b.get("/ui/rules").await;
    assert_eq!(p.status, 404);
    assert!(p.has("Rules is not built yet"));
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
