//! The `/stream` WebSocket: `trade_updates` as Alpaca sends them.
//!
//! Both auth forms are accepted (`{"action":"authenticate","data":
//! {"key_id","secret_key"}}` and `{"action":"auth","key","secret"}`),
//! `listen` before auth is answered `unauthorized`, and frames go out as
//! binary frames holding JSON, as paper does, unless
//! [`FakeAlpacaConfig::stream_text_frames`](super::FakeAlpacaConfig) is
//! set. Client frames may be text or binary. Every order change the book
//! makes (new, fill, partial_fill, canceled, expired, rejected, replaced,
//! and whatever a test sets by hand) is sent to listeners.

use std::sync::Arc;

use axum::{
    extract::{
        State as AxumState, WebSocketUpgrade,
        ws::{Message, WebSocket},
    },
    response::Response,
};
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};

use super::server::Shared;

pub(crate) async fn upgrade(
    AxumState(shared): AxumState<Arc<Shared>>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| run(shared, socket))
}

struct Conn {
    authorised: bool,
    updates: Option<broadcast::Receiver<Value>>,
}

async fn run(shared: Arc<Shared>, mut socket: WebSocket) {
    shared.lock().stream_connections += 1;
    let mut conn = Conn {
        authorised: false,
        updates: None,
    };
    loop {
        let next_update = async {
            match conn.updates.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            update = next_update => match update {
                Ok(frame) => {
                    if send(&shared, &mut socket, &frame).await.is_err() {
                        break;
                    }
                }
                // A listener too slow for 1024 updates misses some, like
                // a real client that falls behind.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                };
                let replies = handle(&shared, &mut conn, &text);
                let mut failed = false;
                for reply in replies {
                    if send(&shared, &mut socket, &reply).await.is_err() {
                        failed = true;
                        break;
                    }
                }
                if failed {
                    break;
                }
            }
        }
    }
    shared.lock().stream_connections -= 1;
}

async fn send(shared: &Shared, socket: &mut WebSocket, frame: &Value) -> Result<(), axum::Error> {
    let text = frame.to_string();
    let msg = if shared.config.stream_text_frames {
        Message::Text(text.into())
    } else {
        Message::Binary(text.into_bytes().into())
    };
    socket.send(msg).await
}

fn authorization(status: &str, action: &str) -> Value {
    json!({"stream": "authorization", "data": {"status": status, "action": action}})
}

fn handle(shared: &Shared, conn: &mut Conn, text: &str) -> Vec<Value> {
    shared.lock().stream_messages.push(text.to_owned());
    let Ok(msg) = serde_json::from_str::<Value>(text) else {
        return vec![json!({"stream": "listening", "data": {"error": "invalid syntax"}})];
    };
    let str_at = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    match msg.get("action").and_then(Value::as_str) {
        Some(action @ ("authenticate" | "auth")) => {
            let (key, secret) = if action == "authenticate" {
                let data = msg.get("data").cloned().unwrap_or_default();
                (str_at(&data, "key_id"), str_at(&data, "secret_key"))
            } else {
                (str_at(&msg, "key"), str_at(&msg, "secret"))
            };
            conn.authorised = key.as_deref() == Some(shared.config.key_id.as_str())
                && secret.as_deref() == Some(shared.config.secret_key.as_str());
            let status = if conn.authorised {
                "authorized"
            } else {
                "unauthorized"
            };
            vec![authorization(status, "authenticate")]
        }
        Some("listen") => {
            if !conn.authorised {
                return vec![authorization("unauthorized", "listen")];
            }
            let streams: Vec<String> = msg
                .pointer("/data/streams")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .filter(|s| *s == "trade_updates")
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            conn.updates = streams
                .iter()
                .any(|s| s == "trade_updates")
                .then(|| shared.lock().book.updates.subscribe());
            vec![json!({"stream": "listening", "data": {"streams": streams}})]
        }
        _ => vec![json!({"stream": "listening", "data": {"error": "invalid action"}})],
    }
}
