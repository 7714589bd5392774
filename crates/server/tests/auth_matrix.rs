//! The authentication and authorisation matrix (docs/security.md), checked
//! route by route from the served OpenAPI document, so a route added later
//! is covered without editing this file.
//!
//! Every `/api/v1` operation is called with no key, a malformed header, an
//! unknown key and a revoked key (all 401); every operation that changes
//! state with a `read` key (403); the key-management operations with a
//! `write` key (403). All of these are refused before the handler runs, so
//! path parameters only need the right shape and bodies are `{}`.
//! Outside `/api/v1`: the public routes answer without a key, the
//! dashboard sends a visitor without a session to sign-in, and the intake
//! wants its token, not a key.

mod common;

use std::collections::BTreeMap;

use common::{ADMIN_KEY, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use tradehook_core::ids::new_id;
use tradehook_store::testing::TestDb;

/// `/api/v1` operations in the document when this test was written: 51.
/// Lower the floor only when routes are really removed; the test must
/// never pass by checking nothing.
const MIN_API_OPERATIONS: usize = 50;
/// Operations that change state (POST, PUT, PATCH, DELETE): 21 when written.
const MIN_MUTATING_OPERATIONS: usize = 20;

/// The id prefix (`tradehook_core::ids`) of the resource a path segment
/// names, so each `{id}` is filled with an id of the right shape.
fn id_prefix(collection: &str) -> &'static str {
    match collection {
        "alerts" => "alr",
        "bots" => "bot",
        "broker-accounts" => "bac",
        "deliveries" => "dlv",
        "endpoints" => "ep",
        "keys" => "key",
        "orders" => "ord",
        "price-alerts" | "rules" => "rul",
        "signals" => "sig",
        other => panic!(
            "no id prefix known for `/{other}/{{id}}`: add the new resource's prefix to id_prefix"
        ),
    }
}

/// The path with every `{param}` filled with a valid-looking id.
fn concrete(template: &str) -> String {
    let segments: Vec<&str> = template.split('/').collect();
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.starts_with('{') && s.ends_with('}') {
                new_id(id_prefix(segments[i - 1]))
            } else {
                (*s).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    template: String,
    path: String,
}

impl Operation {
    fn mutates(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS)
    }

    /// Key management: the only routes that need an `admin` key.
    fn admin_only(&self) -> bool {
        self.template == "/api/v1/keys" || self.template.starts_with("/api/v1/keys/")
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

/// Every `/api/v1` operation of the served document.
fn api_operations(doc: &Value) -> Vec<Operation> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut ops = Vec::new();
    for (template, item) in paths {
        if !template.starts_with("/api/v1/") {
            continue;
        }
        let item = item.as_object().expect("a path item is an object");
        for method in item.keys() {
            let method = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                "head" => Method::HEAD,
                "options" => Method::OPTIONS,
                // `parameters`, `summary`, ... are not operations.
                _ => continue,
            };
            ops.push(Operation {
                method,
                template: template.clone(),
                path: concrete(template),
            });
        }
    }
    ops
}

/// Sends the operation with the given headers: `{}` as the body of a
/// method that has one.
async fn call(app: &TestApp, op: &Operation, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app.client.request(op.method.clone(), app.url(&op.path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if matches!(op.method, Method::POST | Method::PUT | Method::PATCH) {
        request = request.json(&json!({}));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Calls every operation and collects those whose answer is not
/// `(status, code)`.
async fn refusals(
    app: &TestApp,
    ops: &[&Operation],
    headers: &[(&str, &str)],
    expected: (u16, &str),
) -> Vec<String> {
    let mut wrong = Vec::new();
    for op in ops {
        let (status, body) = call(app, op, headers).await;
        let code = body["error"]["code"].as_str().unwrap_or("");
        if (status, code) != expected {
            wrong.push(format!("{}: {status} {body}", op.name()));
        }
    }
    wrong
}

/// What is sent (a description and the headers) and the answer expected.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, (u16, &'a str));

async fn start() -> (TestDb, TestApp) {
    let db = TestDb::sqlite().await;
    let app = TestApp::start_with(&db, |c| {
        // Failed authentication spends the client IP's anonymous budget;
        // this test fails authentication on purpose about 200 times.
        c.rate_limit.anonymous_per_minute = 0;
    })
    .await;
    (db, app)
}

async fn served_document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), 200, "/openapi.json is public");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_api_route_answers_without_a_valid_key_or_beyond_its_role() {
    let (db, app) = start().await;
    let doc = served_document(&app).await;
    let ops = api_operations(&doc);

    let mut by_method = BTreeMap::<String, usize>::new();
    for op in &ops {
        *by_method.entry(op.method.to_string()).or_default() += 1;
    }
    let all: Vec<&Operation> = ops.iter().collect();
    let mutating: Vec<&Operation> = ops.iter().filter(|o| o.mutates()).collect();
    let admin_only: Vec<&Operation> = ops.iter().filter(|o| o.admin_only()).collect();
    println!(
        "checking {} /api/v1 operations ({by_method:?}); {} change state, {} are admin-only",
        all.len(),
        mutating.len(),
        admin_only.len()
    );
    assert!(
        all.len() >= MIN_API_OPERATIONS,
        "only {} /api/v1 operations in /openapi.json (floor {MIN_API_OPERATIONS})",
        all.len()
    );
    assert!(
        mutating.len() >= MIN_MUTATING_OPERATIONS,
        "only {} state-changing operations (floor {MIN_MUTATING_OPERATIONS})",
        mutating.len()
    );
    assert_eq!(
        admin_only.len(),
        4,
        "key management is list, create, get and revoke"
    );
    // Every operation declares the key schemes, so clients know.
    for op in &ops {
        let security = &doc["paths"][&op.template][op.method.as_str().to_lowercase()]["security"];
        assert_eq!(
            security,
            &json!([{"api_key": []}, {"bearer": []}]),
            "{} does not declare the API key in the document",
            op.name()
        );
    }

    // Keys for each role, and one that is revoked.
    let (_, read_key) = app.create_key("matrix-read", "read", Some(100_000)).await;
    let (_, write_key) = app.create_key("matrix-write", "write", Some(100_000)).await;
    let (revoked_id, revoked_key) = app.create_key("matrix-revoked", "admin", None).await;
    let response = app
        .delete(&format!("/api/v1/keys/{revoked_id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the key is revoked");

    let unknown = "th_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let bearer_unknown = format!("Bearer {unknown}");
    let bearer_revoked = format!("Bearer {revoked_key}");
    let cases: [Case; 6] = [
        ("no key", vec![], (401, "missing_api_key")),
        (
            "a Basic authorization header",
            vec![("authorization", "Basic YWRtaW46YWRtaW4=")],
            (401, "missing_api_key"),
        ),
        (
            "an unknown key in X-API-Key",
            vec![("x-api-key", unknown)],
            (401, "invalid_api_key"),
        ),
        (
            "an unknown bearer key",
            vec![("authorization", &bearer_unknown)],
            (401, "invalid_api_key"),
        ),
        (
            "a key one character off the admin key",
            vec![("x-api-key", "test-admin-kez")],
            (401, "invalid_api_key"),
        ),
        (
            "a revoked key",
            vec![("authorization", &bearer_revoked)],
            (401, "revoked_api_key"),
        ),
    ];
    let mut failures = Vec::new();
    for (what, headers, expected) in &cases {
        for wrong in refusals(&app, &all, headers, *expected).await {
            failures.push(format!("with {what}: {wrong}"));
        }
    }
    for wrong in refusals(
        &app,
        &mutating,
        &[("x-api-key", &read_key)],
        (403, "forbidden"),
    )
    .await
    {
        failures.push(format!("with a read key: {wrong}"));
    }
    for wrong in refusals(
        &app,
        &admin_only,
        &[("x-api-key", &write_key)],
        (403, "forbidden"),
    )
    .await
    {
        failures.push(format!("with a write key: {wrong}"));
    }
    assert!(
        failures.is_empty(),
        "{} answers broke the matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The keys do work where their role allows: a read key reads, a write
    // key reaches a state-changing handler (here it fails validation).
    let (status, _) = call(
        &app,
        &Operation {
            method: Method::GET,
            template: "/api/v1/rules".into(),
            path: "/api/v1/rules".into(),
        },
        &[("x-api-key", &read_key)],
    )
    .await;
    assert_eq!(status, 200, "a read key lists rules");
    let (status, body) = call(
        &app,
        &Operation {
            method: Method::POST,
            template: "/api/v1/rules".into(),
            path: "/api/v1/rules".into(),
        },
        &[("x-api-key", &write_key)],
    )
    .await;
    assert_eq!(status, 422, "a write key reaches the handler: {body}");

    app.stop().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_need_no_key_and_the_dashboard_and_intake_have_their_own_credentials() {
    let (db, app) = start().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    for path in ["/health", "/ready", "/metrics", "/openapi.json", "/docs/"] {
        let response = app.get(path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} answers without a key");
    }

    // The dashboard: no session, no page; an API key header is no session.
    for path in ["/ui", "/ui/rules", "/ui/deliveries", "/ui/logs"] {
        let response = no_redirects
            .get(app.url(path))
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{path}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("/ui/sign-in"), "{path} -> {location}");
    }
    let response = no_redirects
        .get(app.url("/ui/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the sign-in page is public");

    // The intake: the token in the path is the credential; an API key
    // does not replace it.
    let response = app
        .post("/hooks/tradingview/not-a-token")
        .header("x-api-key", ADMIN_KEY)
        .json(&json!({"ticker": "BTCUSD", "action": "buy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "an unknown token finds no bot");

    app.stop().await;
    db.cleanup().await;
}
