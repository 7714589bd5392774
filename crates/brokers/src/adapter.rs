//! The interface every broker implements, its errors, and client order ids.

use async_trait::async_trait;
use uuid::Uuid;

use crate::types::{Account, Order, OrderRequest, Position};

/// What can go wrong talking to a broker. Only [`BrokerError::RateLimited`]
/// and [`BrokerError::Unavailable`] are worth retrying; the rest would fail
/// the same way again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The broker refused the request (HTTP 403/422 at Alpaca, or a
    /// restriction check). Do not retry.
    #[error("rejected ({status}{}): {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// Too many requests (HTTP 429); retry after the delay when given.
    #[error("rate limited{}", retry_after_ms.map(|ms| format!(", retry after {ms} ms")).unwrap_or_default())]
    RateLimited { retry_after_ms: Option<u64> },
    /// Network failure or 5xx: retryable.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// No such order or position.
    #[error("not found")]
    NotFound,
    /// Not enough cash or buying power for the order.
    #[error("insufficient funds: {0}")]
    InsufficientFunds(String),
    /// The request is malformed (non-positive qty, missing price, ...).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl BrokerError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BrokerError::RateLimited { .. } | BrokerError::Unavailable(_)
        )
    }
}

/// Why an order breaks a broker's rules, found before sending it.
/// `code` is a stable machine-readable name (`crypto_short`,
/// `invalid_qty`, ...), `reason` a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejection {
    pub reason: String,
    pub code: &'static str,
}

impl Rejection {
    pub fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Rejection {
            reason: reason.into(),
            code,
        }
    }
}

impl From<Rejection> for BrokerError {
    /// A restriction failure reads like the broker's own 422.
    fn from(r: Rejection) -> Self {
        BrokerError::Rejected {
            status: 422,
            code: Some(r.code.to_string()),
            message: r.reason,
        }
    }
}

/// The two exits placed by [`BrokerAdapter::submit_exit_pair`]. Each
/// carries the client order id it was requested with, even where the
/// broker named a leg itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitPair {
    pub take_profit: Order,
    pub stop_loss: Order,
}

/// A broker: Alpaca, the paper broker, fakes in tests.
#[async_trait]
pub trait BrokerAdapter: Send + Sync {
    /// A short name: `paper`, `alpaca`.
    fn kind(&self) -> &'static str;
    async fn account(&self) -> Result<Account, BrokerError>;
    async fn positions(&self) -> Result<Vec<Position>, BrokerError>;
    /// Places an order. A `client_order_id` already used must give back the
    /// existing order, not a second one (crash recovery resubmits).
    async fn submit_order(&self, req: &OrderRequest) -> Result<Order, BrokerError>;
    async fn get_order(&self, id: &str) -> Result<Order, BrokerError>;
    async fn get_order_by_client_id(
        &self,
        client_order_id: &str,
    ) -> Result<Option<Order>, BrokerError>;
    async fn cancel_order(&self, id: &str) -> Result<(), BrokerError>;
    async fn list_open_orders(&self) -> Result<Vec<Order>, BrokerError>;
    /// Closes the whole position in `symbol` (any spelling) with a market
    /// order; `None` when there is no position.
    async fn close_position(&self, symbol: &str) -> Result<Option<Order>, BrokerError>;
    /// Places the take profit (a limit) and the stop loss (a stop) that
    /// protect one position, so that one filling cancels the other.
    ///
    /// The default sends them as two orders: the paper broker links legs
    /// by their `-tp` / `-sl` ids itself. A broker that cannot hold both
    /// for the same quantity answers `Ok(None)` before sending anything:
    /// the caller then rests the take profit alone and watches the stop.
    async fn submit_exit_pair(
        &self,
        take_profit: &OrderRequest,
        stop_loss: &OrderRequest,
    ) -> Result<Option<ExitPair>, BrokerError> {
        let tp = self.submit_order(take_profit).await?;
        let sl = self.submit_order(stop_loss).await?;
        Ok(Some(ExitPair {
            take_profit: tp,
            stop_loss: sl,
        }))
    }
    /// Checks an order against the broker's rules without sending it, given
    /// the current position in its symbol, if any.
    fn check_restrictions(
        &self,
        req: &OrderRequest,
        position: Option<&Position>,
    ) -> Result<(), Rejection>;
}

/// Longest client order id we generate (Alpaca's legacy limit).
pub const MAX_CLIENT_ORDER_ID_LEN: usize = 48;
/// Characters kept of the bot id.
const BOT_PART_LEN: usize = 16;
/// Hex digits of randomness.
const RANDOM_LEN: usize = 12;
/// Characters kept of a leg name.
const LEG_LEN: usize = 4;

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The bot id cut to `max` characters: its type prefix (`bot_`, up to 8
/// characters) and the end of the rest.
fn shorten(bot_id: &str, max: usize) -> String {
    let s = sanitize(bot_id);
    if s.len() <= max {
        return s;
    }
    let head = s
        .find('_')
        .map(|i| &s[..=i])
        .filter(|h| h.len() <= 8 && h.len() < max)
        .unwrap_or("");
    let tail = &s[s.len() - (max - head.len())..];
    format!("{head}{tail}")
}

fn leg_part(leg: &str) -> String {
    leg.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(LEG_LEN)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A fresh client order id: `{bot}-{ts_ms}-{random}` and `-sl`/`-tp` (or
/// another leg name) when `leg` is given, at most
/// [`MAX_CLIENT_ORDER_ID_LEN`] characters.
///
/// To fit, the bot id is shortened to 16 characters: its type prefix and
/// its last characters, so `bot_0192f5c2…89ab` (a UUIDv7, whose leading hex
/// digits are its creation time and whose last 12 are random) becomes
/// `bot_` plus its last 12 hex digits; characters other than letters,
/// digits and `_` become `_` (so `-` only separates the parts). The
/// timestamp stays whole (13 digits until the year 2286; negative counts as
/// 0), the random part is 12 hex digits of a UUIDv4 (48 bits), and a leg
/// keeps at most 4 letters or digits. Typical lengths: 43 without a leg,
/// 46 with one.
///
/// For an OCO pair derive both legs from one entry id with [`with_leg`], so
/// that they share the prefix the paper broker groups them by.
pub fn client_order_id(bot_id: &str, ts_ms: i64, leg: Option<&str>) -> String {
    let ts = ts_ms.max(0).to_string();
    let random = Uuid::new_v4().simple().to_string();
    let random = &random[..RANDOM_LEN];
    let leg = leg.map(leg_part).filter(|l| !l.is_empty());
    let fixed = ts.len() + 1 + RANDOM_LEN + leg.as_ref().map_or(0, |l| l.len() + 1) + 1;
    let bot_len = BOT_PART_LEN.min(MAX_CLIENT_ORDER_ID_LEN - fixed);
    let mut bot = shorten(bot_id, bot_len);
    if bot.is_empty() {
        bot.push('x');
    }
    match leg {
        Some(leg) => format!("{bot}-{ts}-{random}-{leg}"),
        None => format!("{bot}-{ts}-{random}"),
    }
}

/// `{base}-{leg}`, the id of a stop-loss (`sl`) or take-profit (`tp`) leg of
/// the entry whose client order id is `base`. Orders `X-sl` and `X-tp` form
/// an OCO group in the paper broker. If the result would pass 48
/// characters, `base` is cut at the end.
pub fn with_leg(base: &str, leg: &str) -> String {
    let leg = leg_part(leg);
    let keep = base
        .len()
        .min(MAX_CLIENT_ORDER_ID_LEN.saturating_sub(leg.len() + 1));
    let mut cut = keep;
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{leg}", &base[..cut])
}

/// The group prefix and leg (`"sl"` or `"tp"`) of an OCO leg's client
/// order id; `None` for other ids.
pub fn oco_leg(client_order_id: &str) -> Option<(&str, &'static str)> {
    if let Some(group) = client_order_id.strip_suffix("-sl") {
        Some((group, "sl"))
    } else {
        client_order_id
            .strip_suffix("-tp")
            .map(|group| (group, "tp"))
    }
    .filter(|(group, _)| !group.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: &str = "bot_0192f5c2a1b27c3d8e4f5a6b7c8d9e0f";

    #[test]
    fn ids_fit_48_characters_and_keep_the_leg() {
        for leg in [None, Some("sl"), Some("tp")] {
            for bot in [
                BOT,
                "b",
                "",
                "a-very-long-bot-name-with-dashes-and-more-and-more",
            ] {
                for ts in [0, 1_718_000_000_000, -5, i64::MAX] {
                    let id = client_order_id(bot, ts, leg);
                    assert!(id.len() <= MAX_CLIENT_ORDER_ID_LEN, "{id} ({})", id.len());
                    assert!(!id.is_empty());
                    if let Some(leg) = leg {
                        assert!(id.ends_with(&format!("-{leg}")), "{id}");
                        assert_eq!(oco_leg(&id).map(|(_, l)| l), Some(leg));
                    } else {
                        assert_eq!(oco_leg(&id), None, "{id}");
                    }
                }
            }
        }
    }

    #[test]
    fn ids_keep_the_bot_prefix_and_random_tail() {
        let id = client_order_id(BOT, 1_718_000_000_000, Some("sl"));
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.len(), 4, "{id}");
        assert_eq!(parts[0], "bot_5a6b7c8d9e0f");
        assert_eq!(parts[1], "1718000000000");
        assert_eq!(parts[2].len(), 12);
        assert!(parts[2].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(parts[3], "sl");
        assert_eq!(id.len(), 46);
        assert_eq!(client_order_id(BOT, 1_718_000_000_000, None).len(), 43);
        assert_eq!(
            client_order_id("my bot", 1, None).split('-').next(),
            Some("my_bot")
        );
    }

    #[test]
    fn ids_are_unique() {
        let ids: std::collections::HashSet<String> = (0..10_000)
            .map(|_| client_order_id(BOT, 1_718_000_000_000, None))
            .collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn legs_of_one_entry_share_its_prefix() {
        let entry = client_order_id(BOT, 1_718_000_000_000, None);
        let sl = with_leg(&entry, "sl");
        let tp = with_leg(&entry, "tp");
        assert_eq!(oco_leg(&sl), Some((entry.as_str(), "sl")));
        assert_eq!(oco_leg(&tp), Some((entry.as_str(), "tp")));
        let long = "x".repeat(60);
        let sl = with_leg(&long, "sl");
        assert_eq!(sl.len(), 48);
        assert!(sl.ends_with("-sl"));
        assert_eq!(oco_leg("-sl"), None);
        assert_eq!(oco_leg("abc-sx"), None);
    }

    #[test]
    fn retryable_errors() {
        assert!(
            BrokerError::RateLimited {
                retry_after_ms: None
            }
            .is_retryable()
        );
        assert!(BrokerError::Unavailable("502".into()).is_retryable());
        for e in [
            BrokerError::Rejected {
                status: 403,
                code: Some("40310000".into()),
                message: "insufficient buying power".into(),
            },
            BrokerError::NotFound,
            BrokerError::InsufficientFunds("x".into()),
            BrokerError::Invalid("x".into()),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
        let e: BrokerError = Rejection::new("crypto_short", "no shorts").into();
        assert_eq!(e.to_string(), "rejected (422 crypto_short): no shorts");
    }
}
