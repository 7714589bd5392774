//! A bare WebSocket and HTTP client for the Hyperliquid fake's tests:
//! just enough to speak the protocol and to tell a reset from a close.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Error, Message, error::ProtocolError},
};
use tradehook_testkit::hyperliquid::FakeHyperliquid;

/// Generous: only bounds how long a broken test takes to fail.
pub const WAIT: Duration = Duration::from_secs(5);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect(fake: &FakeHyperliquid) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(fake.ws_url())
        .await
        .expect("connect to the fake");
    ws
}

pub async fn send(ws: &mut Ws, msg: Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .expect("send");
}

pub async fn send_raw(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.expect("send");
}

/// The next text frame; panics on anything else or after [`WAIT`].
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no frame within the wait")
            .expect("socket ended")
            .expect("socket error");
        match msg {
            Message::Text(t) => return t.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

pub async fn next_json(ws: &mut Ws) -> Value {
    let text = next_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts nothing arrives for `quiet` (the socket may stay open).
pub async fn expect_no_frame(ws: &mut Ws, quiet: Duration) {
    if let Ok(msg) = tokio::time::timeout(quiet, ws.next()).await {
        panic!("expected silence, got {msg:?}");
    }
}

pub async fn subscribe(ws: &mut Ws, sub: Value) {
    send(ws, json!({"method": "subscribe", "subscription": sub})).await;
    let ack = next_json(ws).await;
    assert_eq!(ack["channel"], "subscriptionResponse", "{ack}");
    assert_eq!(ack["data"]["method"], "subscribe");
    assert_eq!(ack["data"]["subscription"], sub);
}

/// Reads until the connection dies and asserts it died without a close
/// frame (what browsers report as 1006). Text frames before the end are
/// returned. Panics if the socket is still open after [`WAIT`].
pub async fn expect_reset(ws: &mut Ws) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let next = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("socket still open after the wait");
        match next {
            // A TCP close without the handshake, or an RST.
            Some(Err(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)))
            | Some(Err(Error::Io(_))) => return seen,
            None => panic!("stream ended without an error: was it closed politely?"),
            Some(Err(e)) => panic!("want a reset, got {e}"),
            Some(Ok(Message::Close(frame))) => panic!("got a close frame {frame:?}, want a reset"),
            Some(Ok(Message::Text(t))) => seen.push(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(_)) => {}
        }
    }
}

/// Like [`expect_reset`], also returning how long after `since` it died.
pub async fn time_to_reset(ws: &mut Ws, since: Instant) -> Duration {
    expect_reset(ws).await;
    since.elapsed()
}

/// POSTs `body` to `/info`; returns the status and the JSON reply.
pub async fn info(fake: &FakeHyperliquid, body: Value) -> (u16, Value) {
    info_raw(fake, body.to_string()).await
}

pub async fn info_raw(fake: &FakeHyperliquid, body: String) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/info", fake.rest_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST /info");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON body"))
}
