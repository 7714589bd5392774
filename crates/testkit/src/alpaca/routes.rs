//! The Trading API v2 endpoints over the [`Book`]: path matching, query
//! parameters and the JSON each endpoint answers with.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    book::{Book, Query},
    model::Side,
    validate::{ApiError, Checked},
};

/// What an endpoint answers: a status and an optional JSON body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
        }
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        Reply {
            status: e.status,
            body: Some(e.body),
        }
    }
}

fn answer(r: Checked<Value>) -> Reply {
    r.map_or_else(Reply::from, Reply::ok)
}

/// Routes one authorised, rate-allowed request.
pub(crate) fn dispatch(
    book: &mut Book,
    method: &str,
    segments: &[String],
    query: &Query,
    body: &Value,
) -> Reply {
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method, segs.as_slice()) {
        ("GET", ["v2", "account"]) => Reply::ok(book.account_wire()),
        ("GET", ["v2", "positions"]) => {
            let list: Vec<Value> = book
                .positions
                .values()
                .map(|p| book.position_wire(p))
                .collect();
            Reply::ok(Value::Array(list))
        }
        ("DELETE", ["v2", "positions"]) => {
            let cancel = query.get("cancel_orders").is_some_and(|v| v == "true");
            Reply {
                status: 207,
                body: Some(Value::Array(book.close_all(cancel))),
            }
        }
        ("GET", ["v2", "positions", key @ ..]) if !key.is_empty() => {
            match single(key).and_then(|k| book.position_by_key(k)) {
                Some(p) => Reply::ok(book.position_wire(&p)),
                None => ApiError::not_found("position does not exist").into(),
            }
        }
        ("DELETE", ["v2", "positions", key @ ..]) if !key.is_empty() => match single(key) {
            Some(k) => answer(book.close_position(k, query)),
            None => ApiError::not_found("position does not exist").into(),
        },
        ("GET", ["v2", "orders"]) => answer(list_orders(book, query)),
        ("POST", ["v2", "orders"]) => answer(book.submit(body)),
        ("DELETE", ["v2", "orders"]) => Reply {
            status: 207,
            body: Some(Value::Array(book.cancel_all())),
        },
        ("GET", ["v2", "orders:by_client_order_id"]) => {
            let found = query
                .get("client_order_id")
                .and_then(|c| book.orders.iter().position(|o| &o.client_order_id == c));
            match found {
                Some(i) => {
                    book.read(i);
                    Reply::ok(book.order_wire(i))
                }
                None => ApiError::not_found("order not found").into(),
            }
        }
        ("GET", ["v2", "orders", id]) => match book.index_of(id) {
            Some(i) => {
                book.read(i);
                Reply::ok(book.order_wire(i))
            }
            None => ApiError::not_found("order not found").into(),
        },
        ("PATCH", ["v2", "orders", id]) => answer(book.replace(id, body)),
        ("DELETE", ["v2", "orders", id]) => match book.cancel(id) {
            Ok(()) => Reply {
                status: 204,
                body: None,
            },
            Err(e) => e.into(),
        },
        (
            _,
            [
                "v2",
                "account" | "positions" | "orders" | "orders:by_client_order_id",
                ..,
            ],
        ) => ApiError::new(405, 40510000, "method not allowed").into(),
        _ => ApiError::not_found("endpoint not found").into(),
    }
}

/// A position key is one path segment: `/v2/positions/BTC/USD` is two,
/// and Alpaca answers it with 404.
fn single<'a>(key: &[&'a str]) -> Option<&'a str> {
    match key {
        [k] if !k.contains('/') => Some(k),
        _ => None,
    }
}

fn list_orders(book: &Book, query: &Query) -> Checked<Value> {
    let status = query.get("status").map_or("open", String::as_str);
    if !["open", "closed", "all"].contains(&status) {
        return Err(ApiError::invalid("invalid status"));
    }
    let limit = match query.get("limit") {
        None => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=500).contains(l))
            .ok_or_else(|| ApiError::invalid("invalid limit"))?,
    };
    let time = |name: &str| -> Checked<Option<DateTime<Utc>>> {
        query
            .get(name)
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| ApiError::invalid(format!("invalid {name}")))
            })
            .transpose()
    };
    let (after, until) = (time("after")?, time("until")?);
    let asc = match query.get("direction").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(ApiError::invalid("invalid direction")),
    };
    let nested = query.get("nested").is_some_and(|v| v == "true");
    let side = match query.get("side").map(String::as_str) {
        None => None,
        Some("buy") => Some(Side::Buy),
        Some("sell") => Some(Side::Sell),
        Some(_) => return Err(ApiError::invalid("invalid side")),
    };
    let symbols: Option<Vec<&str>> = query.get("symbols").map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });

    let mut picked: Vec<usize> = (0..book.orders.len())
        .filter(|&i| {
            let o = &book.orders[i];
            let status_ok = match status {
                "open" => o.is_open(),
                "closed" => !o.is_open(),
                _ => true,
            };
            status_ok
                && !(nested && o.parent.is_some())
                && after.is_none_or(|t| o.created_at > t)
                && until.is_none_or(|t| o.created_at < t)
                && side.is_none_or(|s| o.side == s)
                && symbols.as_ref().is_none_or(|list| {
                    list.iter()
                        .any(|s| *s == o.symbol || *s == o.symbol.replace('/', ""))
                })
        })
        .collect();
    // Creation order is time order; ties keep it.
    if !asc {
        picked.reverse();
    }
    picked.truncate(limit);
    Ok(Value::Array(
        picked
            .into_iter()
            .map(|i| {
                if nested {
                    book.order_wire(i)
                } else {
                    let mut v = book.order_wire(i);
                    // Flat listings show children on their own too.
                    if book.orders[i].parent.is_some() {
                        v["legs"] = Value::Null;
                    }
                    v
                }
            })
            .collect(),
    ))
}

/// Decodes `%XX` (and `+` as a space when `plus` is set).
pub(crate) fn percent_decode(s: &str, plus: bool) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_query(q: Option<&str>) -> Query {
    let mut query = Query::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.insert(percent_decode(k, true), percent_decode(v, true));
    }
    query
}

/// Path segments, each decoded: `BTC%2FUSD` becomes `BTC/USD`.
pub(crate) fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect()
}
