//! Calling the real API in-process with the session's key.
//!
//! The dashboard sends its changes through the same router that serves
//! `/api/v1` (`tower::ServiceExt::oneshot`, no socket), with the key as a
//! bearer token, so validation, roles, rate limits and events are exactly
//! the API's. A 4xx answer becomes [`FormErrors`] for the form that sent it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tower::ServiceExt;

use crate::state::AppState;

/// Largest API answer the dashboard reads (pages are bounded anyway).
const MAX_REPLY: usize = 8 * 1024 * 1024;

/// The app's router, built on first use (building it inside
/// `app::router` would recurse), shared by the dashboard's handlers.
#[derive(Clone)]
pub struct ApiHandle {
    state: AppState,
    router: Arc<OnceLock<Router>>,
}

impl ApiHandle {
    pub fn new(state: AppState) -> Self {
        ApiHandle {
            state,
            router: Arc::new(OnceLock::new()),
        }
    }

    fn router(&self) -> Router {
        self.router
            .get_or_init(|| crate::app::router(self.state.clone()).0)
            .clone()
    }
}

/// The API as one signed-in key sees it.
#[derive(Clone)]
pub struct Api {
    handle: ApiHandle,
    key: Arc<str>,
    /// The browser's address, so the API's per-IP limits see the real
    /// client rather than one shared "unknown".
    peer: Option<ConnectInfo<SocketAddr>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

/// An API answer: its status and JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct ApiReply {
    pub status: StatusCode,
    pub body: Value,
}

impl Api {
    pub fn new(handle: ApiHandle, key: &str, peer: Option<ConnectInfo<SocketAddr>>) -> Self {
        Api {
            handle,
            key: Arc::from(key),
            peer,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.handle.state
    }

    /// Sends a request to the app and returns the raw response (streams).
    pub async fn raw(&self, mut req: Request<Body>) -> Response {
        let bearer = HeaderValue::from_str(&format!("Bearer {}", self.key))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        req.headers_mut().insert(header::AUTHORIZATION, bearer);
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(peer);
        }
        match self.handle.router().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    /// A JSON request to the app; `body` is sent as JSON when given.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> ApiReply {
        let mut builder = Request::builder().method(method).uri(path);
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v).expect("JSON serialises"))
            }
            None => Body::empty(),
        };
        let req = builder.body(body).expect("a valid request");
        let response = self.raw(req).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_REPLY)
            .await
            .unwrap_or_default();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        ApiReply { status, body }
    }

    pub async fn get(&self, path: &str) -> ApiReply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> ApiReply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> ApiReply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> ApiReply {
        self.send(Method::DELETE, path, None).await
    }
}

impl ApiReply {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The API's `error.message`, or the status when there is none.
    pub fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("the API answered {}", self.status))
    }

    /// The error as shown next to a form.
    pub fn form_errors(&self) -> FormErrors {
        let mut fields = BTreeMap::new();
        if let Some(list) = self.body["error"]["details"].as_array() {
            for d in list {
                if let (Some(path), Some(message)) = (d["path"].as_str(), d["message"].as_str()) {
                    fields.insert(path.to_string(), message.to_string());
                }
            }
        }
        FormErrors {
            message: Some(self.message()),
            fields,
        }
    }

    /// The body of a success, or the error as a page.
    pub fn json(self) -> Result<Value, super::PageError> {
        if self.ok() {
            Ok(self.body)
        } else {
            Err(super::PageError::new(self.status, self.message()))
        }
    }
}

/// What went wrong with a submitted form: the API's message and the
/// message for each field path (`settings.sl_pct`).
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub message: Option<String>,
    pub fields: BTreeMap<String, String>,
}

impl FormErrors {
    pub fn none() -> Self {
        FormErrors::default()
    }

    /// The message for a field; `allowed_symbols[2]` counts as
    /// `allowed_symbols`, since one input holds the whole list.
    pub fn field(&self, path: &str) -> Option<&str> {
        self.fields
            .get(path)
            .or_else(|| {
                self.fields
                    .iter()
                    .find(|(k, _)| k.strip_prefix(path).is_some_and(|r| r.starts_with('[')))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.message.is_none() && self.fields.is_empty()
    }
}
