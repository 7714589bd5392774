//! Outbound delivery rules: what to sign, when to retry, where not to go.
//!
//! Everything here is a pure decision the delivery workers ask for:
//! - [`signing`]: Standard Webhooks v1 signatures and secrets;
//! - [`outcome`]: how an HTTP answer or a transport error is judged, per
//!   destination (plain webhook, Discord, Slack, Telegram);
//! - [`retry`]: the retry schedule and the next step after an attempt;
//! - [`netpolicy`]: which IP addresses may be contacted (SSRF guard);
//! - [`pattern`]: event type patterns that subscriptions use.
//!
//! This module must not send requests, resolve names or read the clock:
//! the caller does the IO and passes in the time and the randomness, so
//! every rule is deterministic under test.

pub mod netpolicy;
pub mod outcome;
pub mod pattern;
pub mod retry;
pub mod signing;

pub use netpolicy::{Blocked, NetPolicy, blocked_reason, check_url_scheme};
pub use outcome::{
    ChannelKind, ErrorClass, Outcome, ResponseFacts, RetryHint, classify, classify_error,
    retry_after_delay,
};
pub use pattern::{EventPattern, matches_any};
pub use retry::{
    Decision, RetrySchedule, decide, endpoint_should_be_disabled, format_duration, parse_duration,
};
pub use signing::{
    VerifyError, WebhookSecret, hex_body_signature, sign_v1, signature_header, verify,
};
