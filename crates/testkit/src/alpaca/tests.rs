//! The fake against a plain HTTP client: the wire rules it must keep.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::*;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    secret: String,
}

impl Client {
    fn new(fake: &FakeAlpaca) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: fake.base_url(),
            key: fake.key_id().to_owned(),
            secret: fake.secret_key().to_owned(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("APCA-API-KEY-ID", &self.key)
            .header("APCA-API-SECRET-KEY", &self.secret);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, body, headers)
    }
}

async fn fake() -> (FakeAlpaca, Client) {
    let fake = FakeAlpaca::start_default().await;
    fake.set_price("AAPL", d("150"));
    fake.set_price("BTC/USD", d("60000"));
    let client = Client::new(&fake);
    (fake, client)
}

#[tokio::test]
async fn wrong_keys_get_401_and_every_answer_has_rate_headers() {
    let (fake, mut client) = fake().await;
    let (status, _, headers) = client.call("GET", "/v2/account", None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-ratelimit-limit"], "200");
    assert_eq!(headers["x-ratelimit-remaining"], "199");
    assert!(headers.contains_key("x-ratelimit-reset"));
    client.secret = "wrong".into();
    let (status, body, headers) = client.call("GET", "/v2/account", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], 40110000);
    assert_eq!(headers["x-ratelimit-remaining"], "198");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn market_buy_fills_and_moves_cash_and_positions() {
    let (fake, client) = fake().await;
    let (status, order, _) = client
        .call(
            "POST",
            "/v2/orders",
            Some(json!({"symbol": "AAPL", "qty": 2, "side": "buy", "type": "market", "time_in_force": "day"})),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "accepted");
    assert_eq!(order["qty"], "2");
    let (_, order, _) = client
        .call(
            "GET",
            &format!("/v2/orders/{}", order["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(order["status"], "filled");
    assert_eq!(order["filled_avg_price"], "150");
    assert!(order["filled_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(fake.cash(), d("99700"));
    let (_, pos, _) = client.call("GET", "/v2/positions/AAPL", None).await;
    assert_eq!(pos["qty"], "2");
    assert_eq!(pos["market_value"], "300");
}

#[tokio::test]
async fn crypto_positions_use_the_no_slash_form() {
    let (fake, client) = fake().await;
    let (status, order, _) = client
        .call(
            "POST",
            "/v2/orders",
            Some(json!({"symbol": "BTCUSD", "qty": "0.5", "side": "buy", "type": "market", "time_in_force": "gtc"})),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["symbol"], "BTC/USD");
    assert_eq!(order["asset_class"], "crypto");
    let (status, pos, _) = client.call("GET", "/v2/positions/BTCUSD", None).await;
    assert_eq!(status, 200);
    assert_eq!(pos["symbol"], "BTCUSD");
    assert_eq!(pos["qty"], "0.5");
    let (status, body, _) = client.call("GET", "/v2/positions/BTC/USD", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], 40410000);
    assert_eq!(fake.position_qty("BTC/USD"), d("0.5"));
}

#[tokio::test]
async fn the_documented_rejections() {
    let (fake, client) = fake().await;
    let post = |body: Value| client.call("POST", "/v2/orders", Some(body));
    let cases = [
        (
            json!({"symbol": "BTC/USD", "qty": 1, "side": "buy", "type": "stop", "stop_price": 1, "time_in_force": "gtc"}),
            422,
            "invalid order type for crypto order",
        ),
        (
            json!({"symbol": "AAPL", "qty": 1, "notional": 5, "side": "buy", "type": "market", "time_in_force": "day"}),
            422,
            "only one of qty or notional is accepted",
        ),
        (
            json!({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit", "time_in_force": "day"}),
            422,
            "limit_price is required for limit orders",
        ),
        (
            json!({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "stop", "stop_price": 140,
                   "time_in_force": "day", "order_class": "bracket",
                   "take_profit": {"limit_price": 200}, "stop_loss": {"stop_price": 100}}),
            422,
            "bracket orders must be market or limit orders",
        ),
        (
            json!({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day",
                   "order_class": "bracket", "stop_loss": {"stop_price": 100}}),
            422,
            "bracket orders require take_profit.limit_price",
        ),
        (
            json!({"symbol": "AAPL", "qty": "0.5", "side": "buy", "type": "limit", "limit_price": 1,
                   "time_in_force": "day"}),
            422,
            "fractional orders must be market orders",
        ),
        (
            json!({"symbol": "AAPL", "qty": 1000, "side": "buy", "type": "market", "time_in_force": "day"}),
            403,
            "insufficient buying power",
        ),
        (
            json!({"symbol": "BTC/USD", "qty": 1, "side": "sell", "type": "market", "time_in_force": "gtc"}),
            403,
            "insufficient balance for BTC (requested: 1, available: 0)",
        ),
    ];
    for (body, status, message) in cases {
        let (s, answer, _) = post(body.clone()).await;
        assert_eq!(
            (s, answer["message"].as_str()),
            (status, Some(message)),
            "{body}"
        );
        assert!(answer["code"].is_u64());
    }
    let (_, answer, _) = post(json!({"symbol": "AAPL", "qty": 1000, "side": "buy", "type": "market", "time_in_force": "day"})).await;
    assert_eq!(answer["code"], 40310000);
    assert_eq!(answer["buying_power"], "100000");
    assert_eq!(answer["cost_basis"], "150000");
    assert!(fake.orders().is_empty());
}

#[tokio::test]
async fn duplicate_client_order_id_is_422() {
    let (_fake, client) = fake().await;
    let body = json!({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market",
                      "time_in_force": "day", "client_order_id": "abc"});
    let (s, _, _) = client.call("POST", "/v2/orders", Some(body.clone())).await;
    assert_eq!(s, 200);
    let (s, answer, _) = client.call("POST", "/v2/orders", Some(body)).await;
    assert_eq!(s, 422);
    assert_eq!(answer["message"], "client_order_id must be unique");
    let (s, found, _) = client
        .call(
            "GET",
            "/v2/orders:by_client_order_id?client_order_id=abc",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(found["client_order_id"], "abc");
}

#[tokio::test]
async fn rate_budget_runs_out_with_429() {
    let (fake, client) = fake().await;
    fake.set_rate_limit(2, Duration::from_secs(30));
    for _ in 0..2 {
        assert_eq!(client.call("GET", "/v2/account", None).await.0, 200);
    }
    let (s, body, headers) = client.call("GET", "/v2/account", None).await;
    assert_eq!(s, 429);
    assert_eq!(body["code"], 42910000);
    assert_eq!(headers["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn scripts_walk_an_order_through_its_stages() {
    let (fake, client) = fake().await;
    fake.script_next_order(vec![
        Stage::new(1),
        Stage::partial(d("4"), 1),
        Stage::Filled,
    ]);
    let (_, order, _) = client
        .call(
            "POST",
            "/v2/orders",
            Some(json!({"symbol": "AAPL", "qty": 10, "side": "buy", "type": "market", "time_in_force": "day"})),
        )
        .await;
    let path = format!("/v2/orders/{}", order["id"].as_str().unwrap());
    assert_eq!(order["status"], "new");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (_, o, _) = client.call("GET", &path, None).await;
        seen.push((
            o["status"].as_str().unwrap().to_owned(),
            o["filled_qty"].as_str().unwrap().to_owned(),
        ));
    }
    let want = [
        ("new", "0"),
        ("partially_filled", "4"),
        ("filled", "10"),
        ("filled", "10"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(seen, want);
    assert_eq!(fake.position_qty("AAPL"), d("10"));
}

#[tokio::test]
async fn limit_orders_rest_until_the_price_reaches_them_and_cancel_with_204() {
    let (fake, client) = fake().await;
    let limit = |px: u32| json!({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit", "limit_price": px, "time_in_force": "gtc"});
    let (_, a, _) = client.call("POST", "/v2/orders", Some(limit(140))).await;
    let (_, b, _) = client.call("POST", "/v2/orders", Some(limit(130))).await;
    assert_eq!(a["status"], "new");
    let (_, open, _) = client.call("GET", "/v2/orders?status=open", None).await;
    assert_eq!(open.as_array().unwrap().len(), 2);
    fake.set_price("AAPL", d("139"));
    assert_eq!(
        fake.order(a["id"].as_str().unwrap()).unwrap()["status"],
        "filled"
    );
    let path = format!("/v2/orders/{}", b["id"].as_str().unwrap());
    let (s, body, _) = client.call("DELETE", &path, None).await;
    assert_eq!((s, body), (204, Value::Null));
    let (s, body, _) = client.call("DELETE", &path, None).await;
    assert_eq!(s, 422, "{body}");
    let (s, _, _) = client.call("DELETE", "/v2/orders/nope", None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn forced_answers_can_follow_real_processing() {
    let (fake, client) = fake().await;
    fake.force(
        Forced::status(500)
            .on("POST", "/v2/orders")
            .after_processing(),
    );
    let (s, _, _) = client
        .call(
            "POST",
            "/v2/orders",
            Some(json!({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"})),
        )
        .await;
    assert_eq!(s, 500);
    assert_eq!(fake.orders().len(), 1);
    fake.force(Forced::rate_limited(Duration::from_secs(1)));
    let (s, _, headers) = client.call("GET", "/v2/account", None).await;
    assert_eq!(s, 429);
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert!(fake.requests()[1].forced);
}

#[tokio::test]
async fn close_position_sells_it_with_a_market_order() {
    let (fake, client) = fake().await;
    fake.set_position("AAPL", d("3"), d("100"));
    let (s, order, _) = client
        .call("DELETE", "/v2/positions/AAPL?percentage=50", None)
        .await;
    assert_eq!(s, 200, "{order}");
    assert_eq!(order["side"], "sell");
    assert_eq!(order["qty"], "1.5");
    assert_eq!(fake.position_qty("AAPL"), d("1.5"));
    let (s, list, _) = client.call("DELETE", "/v2/positions", None).await;
    assert_eq!(s, 207);
    assert_eq!(list[0]["symbol"], "AAPL");
    assert!(fake.positions().is_empty());
    let (s, _, _) = client.call("DELETE", "/v2/positions/AAPL", None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn brackets_hold_their_legs_until_the_parent_fills() {
    let (fake, client) = fake().await;
    fake.set_fill_mode(FillMode::After {
        status: OpenStatus::Accepted,
        reads: 1,
    });
    let (s, order, _) = client
        .call(
            "POST",
            "/v2/orders",
            Some(json!({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day",
                        "order_class": "bracket", "take_profit": {"limit_price": "160"},
                        "stop_loss": {"stop_price": "140"}})),
        )
        .await;
    assert_eq!(s, 200, "{order}");
    let legs = order["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2);
    assert!(legs.iter().all(|l| l["status"] == "held"));
    let path = format!("/v2/orders/{}", order["id"].as_str().unwrap());
    client.call("GET", &path, None).await;
    let (_, order, _) = client.call("GET", &path, None).await;
    assert_eq!(order["status"], "filled");
    assert!(
        order["legs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["status"] == "new")
    );
    fake.set_price("AAPL", d("161"));
    let (_, order, _) = client.call("GET", &path, None).await;
    let statuses: Vec<&str> = order["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["filled", "canceled"]);
    assert!(fake.positions().is_empty());
}

mod stream;
