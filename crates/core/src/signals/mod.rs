//! Inbound TradingView signals: from webhook body to trade intent.
//!
//! - [`parse()`] reads a body in any of the three formats (strategy alert,
//!   multi-leg, TradersPost-style) into one [`ParsedSignal`], or says
//!   which field is wrong ([`SignalError`], with a JSON path and a stable
//!   code);
//! - [`dedupe_key`] gives the idempotency key that stops TradingView's
//!   resends from trading twice;
//! - [`intent()`] maps the signal to what the bot should do, by the tables
//!   in [`intent`](mod@intent);
//! - [`check_staleness`] drops signals older than their `max_lag`;
//! - [`multi_leg_response`] builds the answer to a multi-leg body;
//! - [`alert_templates`] gives the messages to paste into TradingView.
//!
//! All of it is pure: the caller reads the clock, stores keys, and places
//! orders.

pub mod dedupe;
pub mod error;
pub mod intent;
pub mod parse;
mod read;
pub mod response;
pub mod templates;
pub mod types;

pub use dedupe::{DEFAULT_DEDUPE_WINDOW_SECS, DedupeKey, canonical_body, dedupe_key};
pub use error::{SchemaCode, SignalError};
pub use intent::{
    Intent, IntentKind, MULTI_LEG_TABLE, Outcome, STRATEGY_ORDER_ID_TABLE, STRATEGY_POSITION_TABLE,
    TRADERSPOST_TABLE, intent, order_id_side,
};
pub use parse::{REDACTED, parse};
pub use response::{LegResult, LegStatus, multi_leg_response};
pub use templates::{AlertTemplate, alert_templates, substitute_placeholders};
pub use types::*;

/// Refuses a signal older than `max_lag_secs`, with code `stale_signal`.
///
/// Passes when either value is unknown, and when `time_ms` is in the
/// future (clock skew). A signal exactly `max_lag_secs` old passes. Use
/// the body's [`ParsedSignal::max_lag`] or a per-bot setting (the smaller
/// of the two when both are set). Note that `{{time}}` is the bar's open
/// time, so stamp signals with `{{timenow}}` when checking staleness.
pub fn check_staleness(
    time_ms: Option<i64>,
    max_lag_secs: Option<u64>,
    now_ms: i64,
) -> Result<(), SignalError> {
    let (Some(time_ms), Some(max_lag_secs)) = (time_ms, max_lag_secs) else {
        return Ok(());
    };
    let age_ms = now_ms.saturating_sub(time_ms);
    let max_ms = i64::try_from(max_lag_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    if age_ms > max_ms {
        return Err(SignalError::Stale {
            age_ms,
            max_lag_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "unit_tests.rs"]
mod tests;
