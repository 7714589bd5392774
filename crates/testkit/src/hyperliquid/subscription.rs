//! WebSocket subscriptions: parsing them the way the real server does,
//! and deciding which ones kill the connection.
//!
//! The real server deserialises the request first (a wrong shape, an
//! unknown `type` or interval, or a coin given as an array is a parse
//! `error` frame) and validates the values afterwards (an unknown or
//! mis-cased coin, `nSigFigs: 6`, or `mantissa` without `nSigFigs: 5`
//! closes the socket with no frame at all).

use std::collections::HashSet;

use serde_json::Value;

use super::interval::Interval;

/// A live subscription on one connection, as the fake understood it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subscription {
    AllMids {
        dex: Option<String>,
    },
    Candle {
        coin: String,
        interval: Interval,
    },
    Trades {
        coin: String,
    },
    L2Book {
        coin: String,
        n_sig_figs: Option<u8>,
        mantissa: Option<u8>,
        fast: bool,
    },
    Bbo {
        coin: String,
    },
}

impl Subscription {
    pub fn all_mids() -> Subscription {
        Subscription::AllMids { dex: None }
    }

    /// Panics on an interval Hyperliquid does not have.
    pub fn candle(coin: &str, interval: &str) -> Subscription {
        Subscription::Candle {
            coin: coin.to_owned(),
            interval: Interval::parse(interval)
                .unwrap_or_else(|| panic!("hyperliquid fake: unknown interval {interval:?}")),
        }
    }

    pub fn trades(coin: &str) -> Subscription {
        Subscription::Trades {
            coin: coin.to_owned(),
        }
    }

    pub fn l2_book(coin: &str) -> Subscription {
        Subscription::L2Book {
            coin: coin.to_owned(),
            n_sig_figs: None,
            mantissa: None,
            fast: false,
        }
    }

    pub fn bbo(coin: &str) -> Subscription {
        Subscription::Bbo {
            coin: coin.to_owned(),
        }
    }

    /// The coin it is about; `None` for `allMids`.
    pub fn coin(&self) -> Option<&str> {
        match self {
            Subscription::AllMids { .. } => None,
            Subscription::Candle { coin, .. }
            | Subscription::Trades { coin }
            | Subscription::L2Book { coin, .. }
            | Subscription::Bbo { coin } => Some(coin),
        }
    }
}

/// What became of a `subscription` object from a client.
#[derive(Debug)]
pub(crate) enum Parsed {
    Valid(Subscription),
    /// Answered with `Error parsing JSON into valid websocket request`.
    Malformed,
    /// Answered by an abrupt close; the reason is for debugging only.
    Fatal(String),
}

pub(crate) fn parse(sub: &Value, coins: &HashSet<String>) -> Parsed {
    match shape(sub) {
        None => Parsed::Malformed,
        Some(s) => match validate(&s, coins) {
            Ok(()) => Parsed::Valid(s),
            Err(why) => Parsed::Fatal(why),
        },
    }
}

/// Deserialisation: types and required fields only.
fn shape(sub: &Value) -> Option<Subscription> {
    let obj = sub.as_object()?;
    let coin = || obj.get("coin")?.as_str().map(str::to_owned);
    // A present-but-null optional is the same as an absent one.
    let opt_u8 = |key: &str| -> Option<Option<u8>> {
        match obj.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(v) => u8::try_from(v.as_u64()?).ok().map(Some),
        }
    };
    Some(match obj.get("type")?.as_str()? {
        "allMids" => Subscription::AllMids {
            dex: match obj.get("dex") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_str()?.to_owned()),
            },
        },
        "candle" => Subscription::Candle {
            coin: coin()?,
            interval: Interval::parse(obj.get("interval")?.as_str()?)?,
        },
        "trades" => Subscription::Trades { coin: coin()? },
        "l2Book" => Subscription::L2Book {
            coin: coin()?,
            n_sig_figs: opt_u8("nSigFigs")?,
            mantissa: opt_u8("mantissa")?,
            fast: match obj.get("fast") {
                None | Some(Value::Null) => false,
                Some(v) => v.as_bool()?,
            },
        },
        "bbo" => Subscription::Bbo { coin: coin()? },
        _ => return None,
    })
}

/// Validation: values that parse but that the server will not serve.
fn validate(sub: &Subscription, coins: &HashSet<String>) -> Result<(), String> {
    if let Some(coin) = sub.coin()
        && !coins.contains(coin)
    {
        return Err(format!("unknown coin {coin:?}"));
    }
    if let Subscription::L2Book {
        n_sig_figs,
        mantissa,
        ..
    } = sub
    {
        if let Some(n) = n_sig_figs
            && !(2..=5).contains(n)
        {
            return Err(format!("nSigFigs {n}"));
        }
        if let Some(m) = mantissa
            && (*n_sig_figs != Some(5) || ![1, 2, 5].contains(m))
        {
            return Err(format!("mantissa {m} with nSigFigs {n_sig_figs:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn coins() -> HashSet<String> {
        ["BTC", "kPEPE"].into_iter().map(str::to_owned).collect()
    }

    fn outcome(v: Value) -> String {
        match parse(&v, &coins()) {
            Parsed::Valid(_) => "valid".into(),
            Parsed::Malformed => "malformed".into(),
            Parsed::Fatal(_) => "fatal".into(),
        }
    }

    #[test]
    fn coins_must_match_the_universe_exactly() {
        assert_eq!(outcome(json!({"type":"trades","coin":"kPEPE"})), "valid");
        assert_eq!(outcome(json!({"type":"trades","coin":"KPEPE"})), "fatal");
        assert_eq!(outcome(json!({"type":"trades","coin":"btc"})), "fatal");
    }

    #[test]
    fn shape_errors_are_parse_errors_not_closes() {
        assert_eq!(
            outcome(json!({"type":"trades","coin":["BTC"]})),
            "malformed"
        );
        assert_eq!(
            outcome(json!({"type":"candle","coin":"BTC","interval":"2m"})),
            "malformed"
        );
        assert_eq!(
            outcome(json!({"type":"userFills","user":"0x0"})),
            "malformed"
        );
        assert_eq!(outcome(json!("trades")), "malformed");
    }

    #[test]
    fn book_aggregation_is_checked_like_the_real_server() {
        let book =
            |n: Value, m: Value| json!({"type":"l2Book","coin":"BTC","nSigFigs":n,"mantissa":m});
        assert_eq!(outcome(book(json!(null), json!(null))), "valid");
        assert_eq!(outcome(book(json!(5), json!(2))), "valid");
        assert_eq!(outcome(book(json!(6), json!(null))), "fatal");
        assert_eq!(outcome(book(json!(4), json!(2))), "fatal");
        assert_eq!(outcome(book(json!(5), json!(3))), "fatal");
    }
}
