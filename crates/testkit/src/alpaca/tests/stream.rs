//! The `/stream` WebSocket: auth forms, listen acks, binary frames and
//! `trade_updates` as orders move.

use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

use super::*;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next frame, which must be binary JSON.
async fn next(ws: &mut Ws) -> Value {
    let wait = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await.expect("stream ended").unwrap() {
                Message::Binary(b) => return serde_json::from_slice(&b).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("want a binary frame, got {other:?}"),
            }
        }
    });
    wait.await.expect("no frame within 5 s")
}

#[tokio::test]
async fn listen_needs_auth_and_both_auth_forms_work() {
    let (fake, _client) = fake().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(fake.stream_url())
        .await
        .unwrap();
    send(
        &mut ws,
        json!({"action": "listen", "data": {"streams": ["trade_updates"]}}),
    )
    .await;
    assert_eq!(
        next(&mut ws).await,
        json!({"stream": "authorization", "data": {"status": "unauthorized", "action": "listen"}})
    );
    send(
        &mut ws,
        json!({"action": "auth", "key": "PKTEST", "secret": "nope"}),
    )
    .await;
    assert_eq!(next(&mut ws).await["data"]["status"], "unauthorized");
    send(
        &mut ws,
        json!({"action": "auth", "key": "PKTEST", "secret": "secret-test"}),
    )
    .await;
    assert_eq!(
        next(&mut ws).await,
        json!({"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}})
    );
    let (mut ws2, _) = tokio_tungstenite::connect_async(fake.stream_url())
        .await
        .unwrap();
    send(
        &mut ws2,
        json!({"action": "authenticate", "data": {"key_id": "PKTEST", "secret_key": "secret-test"}}),
    )
    .await;
    assert_eq!(next(&mut ws2).await["data"]["status"], "authorized");
    assert_eq!(fake.stream_connections(), 2);
    assert_eq!(fake.stream_messages().len(), 4);
}

#[tokio::test]
async fn trade_updates_follow_the_order() {
    let (fake, client) = fake().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(fake.stream_url())
        .await
        .unwrap();
    send(
        &mut ws,
        json!({"action": "auth", "key": "PKTEST", "secret": "secret-test"}),
    )
    .await;
    next(&mut ws).await;
    send(
        &mut ws,
        json!({"action": "listen", "data": {"streams": ["trade_updates"]}}),
    )
    .await;
    assert_eq!(
        next(&mut ws).await,
        json!({"stream": "listening", "data": {"streams": ["trade_updates"]}})
    );
    fake.script_next_order(vec![
        Stage::new(0),
        Stage::partial(d("1"), 0),
        Stage::Filled,
    ]);
    let (_, order, _) = client
        .call(
            "POST",
            "/v2/orders",
            Some(
                json!({"symbol": "AAPL", "qty": 3, "side": "buy", "type": "market",
                        "time_in_force": "day"}),
            ),
        )
        .await;
    let path = format!("/v2/orders/{}", order["id"].as_str().unwrap());
    client.call("GET", &path, None).await;
    client.call("GET", &path, None).await;
    let mut events = Vec::new();
    for _ in 0..3 {
        let u = next(&mut ws).await;
        assert_eq!(u["stream"], "trade_updates");
        let data = &u["data"];
        events.push((
            data["event"].as_str().unwrap().to_owned(),
            data["qty"].as_str().map(str::to_owned),
            data["position_qty"].as_str().map(str::to_owned),
        ));
        assert_eq!(data["order"]["id"], order["id"]);
    }
    let want = [
        ("new".to_owned(), None, None),
        (
            "partial_fill".to_owned(),
            Some("1".to_owned()),
            Some("1".to_owned()),
        ),
        (
            "fill".to_owned(),
            Some("2".to_owned()),
            Some("3".to_owned()),
        ),
    ];
    assert_eq!(events, want);
    fake.set_order_status(order["id"].as_str().unwrap(), "rejected");
    assert_eq!(next(&mut ws).await["data"]["event"], "rejected");
}
