//! What a [`FakeAlpaca`](super::FakeAlpaca) starts with and how tests
//! steer it: the account, the keys, the rate limit, how orders fill
//! ([`FillMode`], [`Stage`]) and answers forced in place of the real one
//! ([`Forced`]).

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Construct with `FakeAlpacaConfig { field: x, ..FakeAlpacaConfig::default() }`.
#[derive(Debug, Clone)]
pub struct FakeAlpacaConfig {
    /// Expected `APCA-API-KEY-ID`. `"PKTEST"`.
    pub key_id: String,
    /// Expected `APCA-API-SECRET-KEY`. `"secret-test"`.
    pub secret_key: String,
    /// Starting cash. 100 000.
    pub cash: Decimal,
    /// Account `multiplier`: `buying_power` is cash times this. 1.
    pub multiplier: u32,
    /// Equity shorts allowed (`shorting_enabled`). Off; crypto is never
    /// shortable.
    pub shorting_enabled: bool,
    /// `last_equity`, the previous close's equity. Defaults to `cash`.
    pub last_equity: Option<Decimal>,
    /// Requests per window before 429. 200 (Alpaca's per-minute budget).
    pub rate_limit: u32,
    /// The rate-limit window. 60 s.
    pub rate_window: Duration,
    /// Longest `client_order_id` accepted. 48 (legacy docs; the current
    /// reference allows 128).
    pub client_order_id_max_len: usize,
    /// Answer 401 with an HTML page instead of JSON, as third parties
    /// report. Off.
    pub unauthorized_html: bool,
    /// How market orders (and limit orders marketable on arrival) fill
    /// unless a script was queued with
    /// [`script_next_order`](super::FakeAlpaca::script_next_order).
    pub fill_mode: FillMode,
    /// Send `/stream` frames as text instead of binary (paper sends
    /// binary). Off.
    pub stream_text_frames: bool,
    /// Reject a new order that would cross an open order of the other
    /// side on the same symbol (422 42210000). On.
    pub detect_wash_trades: bool,
}

impl Default for FakeAlpacaConfig {
    fn default() -> Self {
        FakeAlpacaConfig {
            key_id: "PKTEST".to_owned(),
            secret_key: "secret-test".to_owned(),
            cash: Decimal::from(100_000),
            multiplier: 1,
            shorting_enabled: false,
            last_equity: None,
            rate_limit: 200,
            rate_window: Duration::from_secs(60),
            client_order_id_max_len: 48,
            unauthorized_html: false,
            fill_mode: FillMode::Immediate,
            detect_wash_trades: true,
            stream_text_frames: false,
        }
    }
}

/// How an order that can fill (market, or limit/stop that is marketable)
/// fills when no script is queued for it.
#[derive(Debug, Clone, PartialEq)]
pub enum FillMode {
    /// Fills in full at the symbol's price as it is accepted. The POST
    /// reply still shows `accepted` with nothing filled, as Alpaca's
    /// usually does; the next read shows `filled`.
    Immediate,
    /// Shows `status` for `reads` reads of the order (GET by id or by
    /// client order id), then fills in full.
    After { status: OpenStatus, reads: u32 },
}

/// A status an order can rest in before it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenStatus {
    New,
    Accepted,
    PendingNew,
}

impl OpenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpenStatus::New => "new",
            OpenStatus::Accepted => "accepted",
            OpenStatus::PendingNew => "pending_new",
        }
    }
}

/// One step of an order's script. The order enters the first stage when
/// it is accepted (the POST reply shows it) and moves to the next after
/// the stage's `reads` reads (GET by id or by client order id; listings
/// do not count). The last stage stays. Fills happen at the symbol's
/// price when a stage is entered, updating positions and cash.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Nothing (more) filled.
    Open {
        status: OpenStatus,
        reads: u32,
    },
    /// `partially_filled` with `filled_qty` filled in all.
    Partial {
        filled_qty: Decimal,
        reads: u32,
    },
    /// The rest fills.
    Filled,
    Canceled,
    Expired,
    Rejected,
}

impl Stage {
    pub fn new(reads: u32) -> Stage {
        Stage::Open {
            status: OpenStatus::New,
            reads,
        }
    }

    pub fn accepted(reads: u32) -> Stage {
        Stage::Open {
            status: OpenStatus::Accepted,
            reads,
        }
    }

    pub fn partial(filled_qty: Decimal, reads: u32) -> Stage {
        Stage::Partial { filled_qty, reads }
    }

    pub(crate) fn reads(&self) -> u32 {
        match self {
            Stage::Open { reads, .. } | Stage::Partial { reads, .. } => *reads,
            _ => 0,
        }
    }
}

/// An answer given in place of the real one, to the first request that
/// matches (any request unless narrowed with [`on`](Forced::on)).
#[derive(Debug, Clone, PartialEq)]
pub struct Forced {
    pub status: u16,
    /// `None`: an empty body.
    pub body: Option<Value>,
    /// Extra headers (the `X-Ratelimit-*` headers are always set).
    pub headers: Vec<(String, String)>,
    /// For 429: `X-Ratelimit-Remaining: 0` and `X-Ratelimit-Reset` this
    /// far ahead (rounded up to the next epoch second, as the header is).
    pub reset_in: Option<Duration>,
    /// Handle the request for real first, then answer this instead: an
    /// order that was placed although the client saw an error.
    pub after_processing: bool,
    /// Only a request with this method and a path starting with this.
    pub only: Option<(String, String)>,
    /// Answer only after this long (to run a client into its timeout).
    pub delay: Option<Duration>,
}

impl Forced {
    /// `status` with Alpaca's error body shape.
    pub fn status(status: u16) -> Forced {
        let message = match status {
            500 => "internal server error",
            502 => "bad gateway",
            503 => "service unavailable",
            504 => "gateway timeout",
            _ => "forced error",
        };
        Forced {
            status,
            body: Some(json!({"code": u32::from(status) * 100_000, "message": message})),
            headers: Vec::new(),
            reset_in: None,
            after_processing: false,
            only: None,
            delay: None,
        }
    }

    /// `status` with this body.
    pub fn with_body(status: u16, body: Value) -> Forced {
        Forced {
            body: Some(body),
            ..Forced::status(status)
        }
    }

    /// 429 whose `X-Ratelimit-Reset` is `reset_in` ahead.
    pub fn rate_limited(reset_in: Duration) -> Forced {
        Forced {
            reset_in: Some(reset_in),
            ..Forced::with_body(
                429,
                json!({"code": 42910000, "message": "rate limit exceeded"}),
            )
        }
    }

    /// Adds a header (for example `Retry-After`).
    pub fn header(mut self, name: &str, value: &str) -> Forced {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Narrows to requests with `method` (`"POST"`) whose path starts
    /// with `path_prefix` (`"/v2/orders"`).
    pub fn on(mut self, method: &str, path_prefix: &str) -> Forced {
        self.only = Some((method.to_ascii_uppercase(), path_prefix.to_owned()));
        self
    }

    /// Answers only after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Forced {
        self.delay = Some(delay);
        self
    }

    /// See [`Forced::after_processing`].
    pub fn after_processing(mut self) -> Forced {
        self.after_processing = true;
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|(m, p)| m == method && path.starts_with(p.as_str()))
    }
}
