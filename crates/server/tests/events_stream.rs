//! The event history (`GET /api/v1/events`) and the live stream (SSE),
//! read the way a browser's `EventSource` reads it.

mod common;

use std::time::Duration;

use common::{ADMIN_KEY, TestApp, error_code, get_json, validation_path};
use serde_json::{Value, json};
use tradehook_core::event::{Event, rfc3339_ms};
use tradehook_core::ids::new_id;
use tradehook_core::time::now_ms;
use tradehook_delivery::Outbox;
use tradehook_store::backend_test;
use tradehook_store::testing::TestDb;

const STREAM: &str = "/api/v1/events/stream";

/// One SSE message.
#[derive(Debug, Default, PartialEq)]
struct Message {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// Reads SSE messages from a streaming response.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    /// Opens the stream with the admin key and checks it is one.
    async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> SseReader {
        let response = stream_request(app, query, last_event_id).await;
        assert_eq!(response.status(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next message that carries data (comments and keep-alives are
    /// skipped); panics after 10 s.
    async fn next(&mut self) -> Message {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let normalised = self.buffer.replace("\r\n", "\n");
            if let Some(end) = normalised.find("\n\n") {
                let block = normalised[..end].to_string();
                self.buffer = normalised[end + 2..].to_string();
                let message = parse_block(&block);
                if !message.data.is_empty() {
                    return message;
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an SSE message within 10 s")
                .expect("the stream stays readable")
                .expect("the stream stays open");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("SSE is UTF-8"));
        }
    }
}

fn parse_block(block: &str) -> Message {
    let mut message = Message::default();
    let mut data = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => message.id = Some(value.to_string()),
            "event" => message.event = Some(value.to_string()),
            "data" => data.push(value),
            _ => {}
        }
    }
    message.data = data.join("\n");
    message
}

/// A client without the harness's overall timeout, which would cut a
/// stream short.
async fn stream_request(
    app: &TestApp,
    query: &str,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let client = reqwest::Client::new();
    let mut request = client
        .get(app.url(&format!("{STREAM}{query}")))
        .header("x-api-key", ADMIN_KEY);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    request.send().await.unwrap()
}

async fn publish(app: &TestApp, event_type: &str, data: Value) -> Event {
    let event = Outbox::event(event_type, data);
    app.state.outbox.publish(&event).await.unwrap();
    event
}

fn assert_message_is(message: &Message, event: &Event) {
    assert_eq!(message.id.as_deref(), Some(event.id.as_str()));
    assert_eq!(message.event.as_deref(), Some(event.event_type.as_str()));
    assert_eq!(
        message.data,
        event.webhook_body(),
        "data is the webhook body"
    );
}

#[tokio::test]
async fn a_live_event_arrives_with_its_id_type_and_webhook_body() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    publish(&app, "bot.paused", json!({"bot_id": "earlier"})).await;
    let mut stream = SseReader::open(&app, "", None).await;
    let event = publish(
        &app,
        "alert.triggered",
        json!({"symbol": "BTCUSDT", "price": 100000, "note": "line one\nline two"}),
    )
    .await;
    let message = stream.next().await;
    assert_message_is(&message, &event);
    let body: Value = serde_json::from_str(&message.data).unwrap();
    assert_eq!(body["data"]["note"], "line one\nline two");
    drop(stream);
    app.stop().await;
}

#[tokio::test]
async fn a_type_filter_leaves_other_events_out() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let mut stream = SseReader::open(&app, "?type=order.*", None).await;
    publish(&app, "alert.triggered", json!({"symbol": "BTCUSDT"})).await;
    let order = publish(&app, "order.filled", json!({"symbol": "BTCUSDT"})).await;
    assert_message_is(&stream.next().await, &order);
    drop(stream);
    app.stop().await;
}

backend_test!(
    reconnecting_with_last_event_id_replays_what_was_missed_in_order,
    |db| {
        let app = TestApp::start(db).await;
        let mut stream = SseReader::open(&app, "", None).await;
        let first = publish(&app, "signal.received", json!({"n": 1})).await;
        assert_message_is(&stream.next().await, &first);
        drop(stream);

        let second = publish(&app, "order.filled", json!({"n": 2})).await;
        let third = publish(&app, "alert.triggered", json!({"n": 3})).await;
        let mut resumed = SseReader::open(&app, "", Some(&first.id)).await;
        assert_message_is(&resumed.next().await, &second);
        assert_message_is(&resumed.next().await, &third);
        let live = publish(&app, "bot.resumed", json!({"n": 4})).await;
        assert_message_is(&resumed.next().await, &live);
        drop(resumed);
        app.stop().await;
    }
);

#[tokio::test]
async fn the_stream_refuses_unknown_ids_bad_patterns_and_missing_keys() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(&db).await;
    let unknown = format!("evt_{}", "0".repeat(32));
    let response = stream_request(&app, "", Some(&unknown)).await;
    assert_eq!(validation_path(response).await, "Last-Event-ID");
    let response = stream_request(&app, "?type=alerts.*", None).await;
    assert_eq!(validation_path(response).await, "type");

    let anonymous = reqwest::Client::new()
        .get(app.url(STREAM))
        .send()
        .await
        .unwrap();
    let (status, body) = error_code(anonymous).await;
    assert_eq!(status, 401, "{body}");
    app.stop().await;
}

/// A whole second an hour ago: recent enough to be inside retention.
fn base_time() -> i64 {
    (now_ms() / 1000 - 3600) * 1000
}

async fn publish_at(app: &TestApp, event_type: &str, at: i64) -> String {
    let event = Event {
        id: new_id("evt"),
        event_type: event_type.to_string(),
        timestamp_ms: at,
        data: json!({"at": at}),
    };
    app.state.outbox.publish(&event).await.unwrap();
    event.id
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Follows `next` from `path` (which has a query) to the end.
async fn all_pages(app: &TestApp, path: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut current = path.to_string();
    loop {
        let page = get_json(app, &current).await;
        pages.push(ids(&page));
        match page["next"].as_str() {
            Some(next) => current = format!("{path}&after={next}"),
            None => return pages,
        }
        assert!(pages.len() < 10, "paging does not end");
    }
}

backend_test!(history_filters_by_type_and_time_and_pages_by_cursor, |db| {
    let app = TestApp::start(db).await;
    let base = base_time();
    let e0 = publish_at(&app, "alert.triggered", base).await;
    let e1 = publish_at(&app, "order.filled", base + 1000).await;
    let e2 = publish_at(&app, "alert.expired", base + 2000).await;
    let e3 = publish_at(&app, "alert.triggered", base + 3000).await;
    let e4 = publish_at(&app, "signal.received", base + 4000).await;

    let all = get_json(&app, "/api/v1/events").await;
    assert_eq!(
        ids(&all),
        [
            e0.as_str(),
            e1.as_str(),
            e2.as_str(),
            e3.as_str(),
            e4.as_str()
        ]
    );
    assert_eq!(
        all["data"][0],
        json!({"id": e0, "type": "alert.triggered",
               "timestamp": rfc3339_ms(base), "data": {"at": base}})
    );
    assert!(all["next"].is_null(), "{all}");

    let alerts = get_json(&app, "/api/v1/events?type=alert.*").await;
    assert_eq!(ids(&alerts), [e0.as_str(), e2.as_str(), e3.as_str()]);
    let mixed = get_json(&app, "/api/v1/events?type=alert.*,signal.received").await;
    assert_eq!(
        ids(&mixed),
        [e0.as_str(), e2.as_str(), e3.as_str(), e4.as_str()]
    );

    let window = get_json(
        &app,
        &format!("/api/v1/events?from={}&to={}", base + 1000, base + 3000),
    )
    .await;
    assert_eq!(
        ids(&window),
        [e1.as_str(), e2.as_str()],
        "from is inclusive, to exclusive"
    );
    let rfc = get_json(
        &app,
        &format!(
            "/api/v1/events?from={}&to={}",
            rfc3339_ms(base + 1000),
            rfc3339_ms(base + 3000)
        ),
    )
    .await;
    assert_eq!(ids(&rfc), [e1.as_str(), e2.as_str()]);
    let both = get_json(
        &app,
        &format!("/api/v1/events?type=alert.*&from={}", base + 1000),
    )
    .await;
    assert_eq!(ids(&both), [e2.as_str(), e3.as_str()]);

    assert_eq!(
        all_pages(&app, "/api/v1/events?limit=2").await,
        [
            vec![e0.clone(), e1.clone()],
            vec![e2.clone(), e3.clone()],
            vec![e4.clone()]
        ]
    );
    assert_eq!(
        all_pages(&app, "/api/v1/events?type=alert.*&limit=2").await,
        [vec![e0.clone(), e2.clone()], vec![e3.clone()]]
    );

    for (query, path) in [
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("after=x", "after"),
        ("limit=0", "limit"),
        ("type=alerts.*", "type"),
    ] {
        let response = app
            .get(&format!("/api/v1/events?{query}"))
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(validation_path(response).await, path, "{query}");
    }
    app.stop().await;
});
