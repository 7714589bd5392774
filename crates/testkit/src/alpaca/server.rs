//! The HTTP side: one handler for every path that records the request,
//! applies a forced answer, checks the keys, charges the rate limit and
//! routes to the endpoints, then sets the `X-Ratelimit-*` headers.
//!
//! One mutex guards the book, the recorded requests, the forced answers
//! and the rate window; nothing awaits while holding it.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::{Body, to_bytes},
    extract::{Request, State as AxumState},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::Response,
};
use serde_json::Value;

use super::{
    book::Book,
    config::{FakeAlpacaConfig, Forced},
    routes::{Reply, dispatch, parse_query, segments},
};

/// One HTTP request as the fake saw and answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// As sent, still percent-encoded.
    pub path: String,
    /// The raw query string, `""` if none.
    pub query: String,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// JSON if it parsed, else the text as a string; `Null` when empty.
    pub body: Value,
    pub status: u16,
    /// What the fake answered; `Null` for an empty body.
    pub response: Value,
    /// When it arrived, by the wall clock (what `X-Ratelimit-Reset` is
    /// measured against).
    pub received_at: SystemTime,
    /// Whether a [`Forced`] answer was given.
    pub forced: bool,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Milliseconds since the Unix epoch.
    pub fn received_ms(&self) -> u128 {
        self.received_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    }
}

pub(crate) struct Shared {
    pub(crate) config: FakeAlpacaConfig,
    state: Mutex<State>,
}

pub(crate) struct State {
    pub(crate) book: Book,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) forced: Vec<Forced>,
    pub(crate) rate_limit: u32,
    pub(crate) rate_window: Duration,
    window_start: Option<SystemTime>,
    window_count: u32,
    /// Open `/stream` connections.
    pub(crate) stream_connections: usize,
    /// Every frame `/stream` clients sent, in arrival order.
    pub(crate) stream_messages: Vec<String>,
}

impl Shared {
    pub(crate) fn new(config: FakeAlpacaConfig) -> Shared {
        let book = Book::new(&config);
        let state = State {
            book,
            requests: Vec::new(),
            forced: Vec::new(),
            rate_limit: config.rate_limit,
            rate_window: config.rate_window,
            window_start: None,
            window_count: 0,
            stream_connections: 0,
            stream_messages: Vec::new(),
        };
        Shared {
            config,
            state: Mutex::new(state),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while asserting must not wedge the server.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Starts a fresh rate window.
    pub(crate) fn reset_rate_window(&mut self) {
        self.window_start = None;
        self.window_count = 0;
    }

    /// Counts one request; `false` if it is over the budget.
    fn charge(&mut self, now: SystemTime) -> bool {
        let expired = self
            .window_start
            .is_none_or(|s| now >= s + self.rate_window);
        if expired {
            self.window_start = Some(now);
            self.window_count = 0;
        }
        self.window_count = self.window_count.saturating_add(1);
        self.window_count <= self.rate_limit
    }

    /// `(remaining, reset epoch seconds)` of the current window.
    fn rate_headers(&self, now: SystemTime) -> (u32, u64) {
        let start = self.window_start.unwrap_or(now);
        let remaining = self.rate_limit.saturating_sub(self.window_count);
        (remaining, epoch_ceil(start + self.rate_window))
    }
}

fn epoch_ceil(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

const BODY_LIMIT: usize = 1 << 20;

const HTML_401: &str = "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n\
<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n</body>\r\n</html>\r\n";

pub(crate) async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    request: Request,
) -> Response {
    let now = SystemTime::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let headers = &parts.headers;

    let (reply, extra, rate, delay, html) = {
        let mut st = shared.lock();
        let st = &mut *st;
        let within_budget = st.charge(now);
        let forced = st
            .forced
            .iter()
            .position(|f| f.matches(&method, &path))
            .map(|i| st.forced.remove(i));
        let authorised = authorised(headers, &shared.config);
        let mut reply = Reply {
            status: 0,
            body: None,
        };
        let mut html = false;
        if forced.as_ref().is_none_or(|f| f.after_processing) {
            reply = if !authorised {
                html = shared.config.unauthorized_html;
                Reply {
                    status: 401,
                    body: Some(
                        serde_json::json!({"code": 40110000, "message": "request is not authorized"}),
                    ),
                }
            } else if !within_budget {
                Reply {
                    status: 429,
                    body: Some(
                        serde_json::json!({"code": 42910000, "message": "rate limit exceeded"}),
                    ),
                }
            } else {
                // A body that is not a JSON object reaches the routes as is;
                // POST answers it with "request body format is invalid".
                dispatch(
                    &mut st.book,
                    &method,
                    &segments(&path),
                    &parse_query(parts.uri.query()),
                    &body,
                )
            };
        }
        let (mut remaining, mut reset) = st.rate_headers(now);
        let mut extra = Vec::new();
        let mut delay = None;
        if let Some(f) = &forced {
            reply = Reply {
                status: f.status,
                body: f.body.clone(),
            };
            html = false;
            extra.clone_from(&f.headers);
            delay = f.delay;
            if let Some(r) = f.reset_in {
                remaining = 0;
                reset = epoch_ceil(now + r);
            }
        }
        st.requests.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            query: raw_query,
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.clone(),
            status: reply.status,
            response: reply.body.clone().unwrap_or(Value::Null),
            received_at: now,
            forced: forced.is_some(),
        });
        (reply, extra, (st.rate_limit, remaining, reset), delay, html)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    respond(reply, &extra, rate, html)
}

fn authorised(headers: &HeaderMap, config: &FakeAlpacaConfig) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    get("apca-api-key-id") == Some(config.key_id.as_str())
        && get("apca-api-secret-key") == Some(config.secret_key.as_str())
}

fn respond(
    reply: Reply,
    extra: &[(String, String)],
    (limit, remaining, reset): (u32, u32, u64),
    html: bool,
) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = if html {
        ("text/html", Body::from(HTML_401))
    } else {
        match reply.body {
            Some(v) => ("application/json; charset=UTF-8", Body::from(v.to_string())),
            None => ("", Body::empty()),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    if !content_type.is_empty() {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    for (name, value) in extra {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    response
}
