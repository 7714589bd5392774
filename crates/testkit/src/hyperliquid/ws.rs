//! The `/ws` endpoint: one task per connection, speaking Hyperliquid's
//! JSON protocol and dying the way the real server makes sockets die.
//!
//! Every way out of [`run`] drops the socket without a close frame, so the
//! client sees a reset (tungstenite: "Connection reset without closing
//! handshake", browsers: 1006). Only a client's own close is answered
//! politely.

use std::sync::Arc;

use axum::{
    extract::{
        State as AxumState, WebSocketUpgrade,
        ws::{Message, WebSocket},
    },
    response::Response,
};
use futures::SinkExt as _;
use serde_json::{Value, json};
use tokio::{sync::mpsc, time::Instant};

use super::{
    state::{Conn, Shared, State, frame},
    subscription::{self, Parsed, Subscription},
};

/// The legacy greeting the official SDK still tolerates.
const GREETING: &str = "Websocket connection established.";

pub(crate) async fn upgrade(
    AxumState(shared): AxumState<Arc<Shared>>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| run(shared, socket))
}

async fn run(shared: Arc<Shared>, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    if shared.config.greeting {
        let _ = tx.send(GREETING.to_owned());
    }
    let (id, kill) = shared.register(tx);
    let mut silent = shared.silent.subscribe();
    let mut last_sent = Instant::now();
    let mut doomed_at: Option<Instant> = None;

    loop {
        // The idle clock counts server → client traffic only, and a dead
        // server closes nothing, so it stops while silent.
        let idle_at = match shared.config.idle_close_after {
            Some(d) if !*silent.borrow() => Some(last_sent + d),
            _ => None,
        };
        tokio::select! {
            biased;
            () = kill.cancelled() => break,
            () = sleep_until(doomed_at) => break,
            () = sleep_until(idle_at) => break,
            changed = silent.changed() => {
                if changed.is_err() {
                    break;
                }
                last_sent = Instant::now();
            }
            Some(text) = rx.recv() => {
                if *silent.borrow() {
                    continue;
                }
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
                last_sent = Instant::now();
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if handle(&shared, id, text.as_str()).is_err() {
                        let delay = shared.config.bad_subscription_close_after;
                        doomed_at.get_or_insert(Instant::now() + delay);
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    // tungstenite queued the close reply; flushing sends it.
                    let _ = socket.flush().await;
                    break;
                }
                // Protocol pings are answered by tungstenite itself;
                // binary frames mean nothing to this server.
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break,
            },
        }
    }
    shared.deregister(id);
    // Dropping the socket closes the TCP stream with no close frame.
    drop(socket);
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Marks a connection the server is about to close.
struct Doomed;

/// Handles one text frame from a client.
fn handle(shared: &Shared, id: u64, text: &str) -> Result<(), Doomed> {
    let mut st = shared.lock();
    st.client_messages.push(text.to_owned());
    let Some(conn) = st.conns.get(&id) else {
        return Ok(());
    };
    let parse_error = || {
        frame(
            "error",
            json!(format!(
                "Error parsing JSON into valid websocket request: {text}"
            )),
        )
    };
    let Ok(req) = serde_json::from_str::<Value>(text) else {
        conn.send(parse_error());
        return Ok(());
    };
    let method = req.get("method").and_then(Value::as_str);
    let subscribing = match method {
        Some("ping") => {
            conn.send(json!({"channel": "pong"}).to_string());
            return Ok(());
        }
        Some("subscribe") => true,
        Some("unsubscribe") => false,
        _ => {
            conn.send(parse_error());
            return Ok(());
        }
    };
    let Some(raw) = req.get("subscription") else {
        conn.send(parse_error());
        return Ok(());
    };
    let sub = match subscription::parse(raw, &st.market.coins) {
        Parsed::Valid(sub) => sub,
        Parsed::Malformed => {
            conn.send(parse_error());
            return Ok(());
        }
        // Like the real server: no ack, no error, just a dead socket soon.
        Parsed::Fatal(_why) => return Err(Doomed),
    };
    let raw = raw.clone();
    let changed = if subscribing {
        subscribe(&mut st, id, sub, raw, shared.config.snapshot_on_subscribe)
    } else {
        unsubscribe(&mut st, id, &sub, raw)
    };
    drop(st);
    if changed {
        shared.notify();
    }
    Ok(())
}

fn ack(method: &str, raw: &Value) -> String {
    frame(
        "subscriptionResponse",
        json!({"method": method, "subscription": raw}),
    )
}

/// Registers, acks and (optionally) sends the channel's current state, in
/// that order, all under the lock. Returns whether anything changed.
fn subscribe(st: &mut State, id: u64, sub: Subscription, raw: Value, snapshot: bool) -> bool {
    let snapshot = if snapshot {
        initial_frame(st, &sub)
    } else {
        None
    };
    let Some(conn) = st.conns.get_mut(&id) else {
        return false;
    };
    if conn.subs.iter().any(|(s, _)| *s == sub) {
        conn.send(frame("error", json!(format!("Already subscribed: {raw}"))));
        return false;
    }
    conn.send(ack("subscribe", &raw));
    conn.subs.push((sub, raw));
    if let Some(f) = snapshot {
        conn.send(f);
    }
    true
}

fn unsubscribe(st: &mut State, id: u64, sub: &Subscription, raw: Value) -> bool {
    let Some(conn): Option<&mut Conn> = st.conns.get_mut(&id) else {
        return false;
    };
    let Some(pos) = conn.subs.iter().position(|(s, _)| s == sub) else {
        // Wording unconfirmed; the real server does answer with an error.
        conn.send(frame(
            "error",
            json!(format!("Already unsubscribed: {raw}")),
        ));
        return false;
    };
    conn.subs.remove(pos);
    conn.send(ack("unsubscribe", &raw));
    true
}

/// What a new subscriber sees right after the ack, if anything.
fn initial_frame(st: &State, sub: &Subscription) -> Option<String> {
    let m = &st.market;
    match sub {
        Subscription::AllMids { .. } => Some(frame("allMids", json!({"mids": m.mids()}))),
        Subscription::Candle { coin, interval } => m
            .newest(coin, *interval)
            .map(|c| frame("candle", c.to_wire())),
        Subscription::Trades { coin } => m.recent_trades(coin).map(|t| frame("trades", t)),
        Subscription::L2Book { coin, fast, .. } => {
            m.book(coin).map(|b| frame("l2Book", trim_book(b, *fast)))
        }
        // Sent only when the bbo changes.
        Subscription::Bbo { .. } => None,
    }
}

/// At most 20 levels per side, 5 with `fast`.
pub(crate) fn trim_book(book: &Value, fast: bool) -> Value {
    let depth = if fast { 5 } else { 20 };
    let mut book = book.clone();
    if let Some(sides) = book.get_mut("levels").and_then(Value::as_array_mut) {
        for side in sides {
            if let Some(levels) = side.as_array_mut() {
                levels.truncate(depth);
            }
        }
    }
    book
}
