//! A browser for the dashboard tests: keeps the session cookie and the
//! page's CSRF token, and does not follow redirects so tests see them.

use reqwest::StatusCode;

use super::{ADMIN_KEY, TestApp};

pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub client: reqwest::Client,
    pub cookie: Option<String>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub html: String,
}

impl Page {
    /// The value of the first hidden `_csrf` field.
    pub fn csrf(&self) -> String {
        let at = self
            .html
            .find("name=\"_csrf\" value=\"")
            .expect("the page has a CSRF field");
        let rest = &self.html[at + 20..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    pub fn has(&self, text: &str) -> bool {
        self.html.contains(text)
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    pub async fn finish(&mut self, r: reqwest::Response) -> Page {
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

    pub async fn get(&mut self, path: &str) -> Page {
        let mut req = self.client.get(self.app.url(path));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        self.finish(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut req = self.client.post(self.app.url(path)).form(form);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        self.finish(r).await
    }

    pub async fn sign_in(&mut self, key: &str) -> Page {
        self.post("/ui/sign-in", &[("key", key), ("next", "/ui")])
            .await
    }

    /// Signs in with the admin key and returns the overview's CSRF token.
    pub async fn signed_in(app: &'a TestApp) -> (Browser<'a>, String) {
        let mut b = Browser::new(app);
        let p = b.sign_in(ADMIN_KEY).await;
        assert_eq!(p.status, 303, "{}", p.html);
        let overview = b.get("/ui").await;
        assert_eq!(overview.status, 200);
        let csrf = overview.csrf();
        (b, csrf)
    }
}
