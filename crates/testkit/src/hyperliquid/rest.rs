//! `POST /info`: `allMids`, `meta`, `candleSnapshot` and `l2Book`, with
//! Hyperliquid's request weights and a rolling per-minute budget.
//!
//! Errors are JSON `{"code": <string>, "msg": <string>}` (the official
//! SDK reads `code` and `msg`; the real values are unconfirmed):
//! 400 `bad_request` for a body that does not deserialise (not JSON,
//! unknown `type`, missing or mistyped fields, unknown interval), 422
//! `unknown_coin` for a well-formed request naming a coin the fake does
//! not have, 429 `rate_limited` over the weight budget.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    body::Bytes,
    extract::State as AxumState,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{interval::Interval, market::Market, state::Shared};

const WINDOW: Duration = Duration::from_secs(60);

/// One call to `/info`, as the fake saw and answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct RestRequest {
    /// The body's `type`, or `None` if the body had none.
    pub kind: Option<String>,
    /// The body as JSON; a body that is not JSON is kept as a string.
    pub body: Value,
    /// What the call was charged (0 when refused with 429).
    pub weight: u32,
    pub status: u16,
    /// Items in a `candleSnapshot` reply.
    pub items: Option<usize>,
}

/// The weight of one request: 2 for the cheap types, 20 for the rest,
/// and `candleSnapshot` adds one per started 60 items returned (a 5000
/// candle reply weighs 20 + 84; the real rounding is unconfirmed).
pub fn weight(kind: Option<&str>, items: Option<usize>) -> u32 {
    let base = match kind {
        Some(
            "l2Book"
            | "allMids"
            | "clearinghouseState"
            | "orderStatus"
            | "spotClearinghouseState"
            | "exchangeStatus",
        ) => 2,
        Some("userRole") => 60,
        _ => 20,
    };
    let extra = items.map_or(0, |n| n.div_ceil(60));
    base + u32::try_from(extra).unwrap_or(u32::MAX - base)
}

struct Answer {
    status: StatusCode,
    body: Value,
    items: Option<usize>,
}

fn error(status: StatusCode, code: &str, msg: String) -> Answer {
    Answer {
        status,
        body: json!({"code": code, "msg": msg}),
        items: None,
    }
}

fn bad_request(msg: impl Into<String>) -> Answer {
    error(StatusCode::BAD_REQUEST, "bad_request", msg.into())
}

pub(crate) async fn info(AxumState(shared): AxumState<Arc<Shared>>, body: Bytes) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let kind = parsed
        .as_ref()
        .and_then(|b| b.get("type"))
        .and_then(Value::as_str)
        .map(str::to_owned);

    let mut st = shared.lock();
    let answer = match &parsed {
        None => bad_request("Failed to deserialize the JSON body"),
        Some(req) => answer(&st.market, &shared.config, req),
    };
    let cost = weight(kind.as_deref(), answer.items);

    let now = Instant::now();
    while st
        .weights
        .front()
        .is_some_and(|(at, _)| now - *at >= WINDOW)
    {
        st.weights.pop_front();
    }
    let used: u32 = st.weights.iter().map(|(_, w)| w).sum();
    let over = shared
        .config
        .rest_weight_per_minute
        .is_some_and(|budget| used + cost > budget);
    let answer = if over {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("weight {cost} over the budget: {used} used in the last minute"),
        )
    } else {
        st.weights.push_back((now, cost));
        answer
    };
    st.requests.push(RestRequest {
        kind,
        body: parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(&body).into_owned())),
        weight: if over { 0 } else { cost },
        status: answer.status.as_u16(),
        items: answer.items,
    });
    drop(st);
    (answer.status, Json(answer.body)).into_response()
}

fn answer(market: &Market, config: &super::FakeConfig, req: &Value) -> Answer {
    let coin_of = |v: &Value| v.get("coin").and_then(Value::as_str).map(str::to_owned);
    match req.get("type").and_then(Value::as_str) {
        Some("allMids") => ok(market.mids()),
        Some("meta") => ok(market.meta.clone()),
        Some("l2Book") => {
            let Some(coin) = coin_of(req) else {
                return bad_request("l2Book needs a string coin");
            };
            if !market.coins.contains(&coin) {
                return unknown_coin(&coin);
            }
            let book = market
                .book(&coin)
                .cloned()
                .unwrap_or_else(|| json!({"coin": coin, "time": 0, "levels": [[], []]}));
            ok(super::ws::trim_book(&book, false))
        }
        Some("candleSnapshot") => candle_snapshot(market, config, req.get("req")),
        Some(other) => bad_request(format!("unknown type {other:?}")),
        None => bad_request("missing type"),
    }
}

fn ok(body: Value) -> Answer {
    Answer {
        status: StatusCode::OK,
        body,
        items: None,
    }
}

fn unknown_coin(coin: &str) -> Answer {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_coin",
        format!("unknown coin {coin:?}"),
    )
}

fn candle_snapshot(market: &Market, config: &super::FakeConfig, req: Option<&Value>) -> Answer {
    let Some(req) = req.and_then(Value::as_object) else {
        return bad_request("candleSnapshot needs a req object");
    };
    let Some(coin) = req.get("coin").and_then(Value::as_str) else {
        return bad_request("req.coin must be a string");
    };
    let Some(iv) = req
        .get("interval")
        .and_then(Value::as_str)
        .and_then(Interval::parse)
    else {
        return bad_request("req.interval must be one of 1m..1M");
    };
    let Some(start) = req.get("startTime").and_then(Value::as_i64) else {
        return bad_request("req.startTime must be an integer (ms)");
    };
    let end = match req.get("endTime") {
        None | Some(Value::Null) => i64::MAX,
        Some(v) => match v.as_i64() {
            Some(end) => end,
            None => return bad_request("req.endTime must be an integer (ms)"),
        },
    };
    if !market.coins.contains(coin) {
        return unknown_coin(coin);
    }
    let candles = market.snapshot(
        coin,
        iv,
        (start, end),
        config.snapshot_cap,
        config.history_limit,
    );
    Answer {
        status: StatusCode::OK,
        items: Some(candles.len()),
        body: Value::Array(candles.iter().map(|c| c.to_wire()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candle_snapshot_weight_adds_one_per_started_sixty_items() {
        assert_eq!(weight(Some("candleSnapshot"), Some(0)), 20);
        assert_eq!(weight(Some("candleSnapshot"), Some(1)), 21);
        assert_eq!(weight(Some("candleSnapshot"), Some(60)), 21);
        assert_eq!(weight(Some("candleSnapshot"), Some(61)), 22);
        assert_eq!(weight(Some("candleSnapshot"), Some(5000)), 104);
        assert_eq!(weight(Some("allMids"), None), 2);
        assert_eq!(weight(Some("meta"), None), 20);
        assert_eq!(weight(None, None), 20);
    }
}
