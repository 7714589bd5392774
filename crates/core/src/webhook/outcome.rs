//! How one delivery attempt turned out, judged per destination.
//!
//! The worker makes the request and reports either the response
//! ([`ResponseFacts`]) or the kind of transport error ([`ErrorClass`]);
//! this module turns that into an [`Outcome`]: success, try again, give
//! up, or disable the endpoint. Plain webhooks follow the common rules;
//! Discord, Slack and Telegram add the answers that mean "this destination
//! is gone". What happens next (when to retry) is [`super::retry`]'s job.
//!
//! The rules: only 2xx is success; 3xx fails at once because redirects are
//! never followed (an SSRF guard checked only the first host); timeouts,
//! network errors, 408, 429 and 5xx are retried; other 4xx fail at once;
//! 410 disables the endpoint.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kind of destination an endpoint delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Webhook,
    Discord,
    Slack,
    Telegram,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [Self::Webhook, Self::Discord, Self::Slack, Self::Telegram];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Discord => "discord",
            Self::Slack => "slack",
            Self::Telegram => "telegram",
        }
    }
}

/// What the worker saw of an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseFacts {
    pub status: u16,
    /// The raw `Retry-After` header, if any.
    pub retry_after_header: Option<String>,
    /// The start of the body (the worker caps how much it reads); may be
    /// cut in the middle of JSON, so rules fall back to plain text.
    pub body_snippet: String,
}

/// Why a request got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Dns,
    Connect,
    Tls,
    Timeout,
    /// Every address of the host is in a blocked range.
    SsrfBlocked,
    InvalidUrl,
    /// The request body is over the size limit: sending it again cannot
    /// help.
    BodyTooLarge,
    Other,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 8] = [
        Self::Dns,
        Self::Connect,
        Self::Tls,
        Self::Timeout,
        Self::SsrfBlocked,
        Self::InvalidUrl,
        Self::BodyTooLarge,
        Self::Other,
    ];

    /// A stable snake_case name, for storage and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::SsrfBlocked => "ssrf_blocked",
            Self::InvalidUrl => "invalid_url",
            Self::BodyTooLarge => "body_too_large",
            Self::Other => "other",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Dns => "DNS lookup failed",
            Self::Connect => "connection failed",
            Self::Tls => "TLS handshake failed",
            Self::Timeout => "request timed out",
            Self::SsrfBlocked => "destination address is blocked by the network policy",
            Self::InvalidUrl => "endpoint URL is invalid",
            Self::BodyTooLarge => "request body is over the size limit",
            Self::Other => "transport error",
        }
    }

    /// Whether trying again later may succeed. A blocked address, a bad
    /// URL or an oversized body stay so until someone changes them.
    pub fn is_retryable(self) -> bool {
        !matches!(
            self,
            Self::SsrfBlocked | Self::InvalidUrl | Self::BodyTooLarge
        )
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A receiver's request to wait, from `Retry-After` or a chat API body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryHint {
    /// Wait this many milliseconds from now.
    DelayMs(i64),
    /// Wait until this Unix time in milliseconds (an HTTP date).
    AtMs(i64),
}

impl RetryHint {
    /// Reads a `Retry-After` value: seconds (decimals tolerated) or an
    /// HTTP date. Anything else is ignored rather than failing delivery.
    pub fn from_header(value: &str) -> Option<Self> {
        let value = value.trim();
        if let Ok(secs) = value.parse::<f64>() {
            return seconds_to_ms(secs).map(Self::DelayMs);
        }
        let at = httpdate::parse_http_date(value).ok()?;
        Some(Self::AtMs(system_time_ms(at)))
    }

    /// The wait from `now_ms`, never negative: a date in the past means
    /// "now".
    pub fn delay_ms(self, now_ms: i64) -> i64 {
        match self {
            Self::DelayMs(ms) => ms.max(0),
            Self::AtMs(at) => at.saturating_sub(now_ms).max(0),
        }
    }
}

/// How long a `Retry-After` value asks to wait, judged at `now`.
pub fn retry_after_delay(value: &str, now: SystemTime) -> Option<Duration> {
    let hint = RetryHint::from_header(value)?;
    Some(Duration::from_millis(
        hint.delay_ms(system_time_ms(now)) as u64
    ))
}

fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn seconds_to_ms(secs: f64) -> Option<i64> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // `as` saturates, so an absurd value becomes i64::MAX, later capped.
    Some((secs * 1000.0).ceil() as i64)
}

/// The verdict on one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Worth trying again, no sooner than `hint` if the receiver gave one.
    Retryable {
        reason: String,
        hint: Option<RetryHint>,
    },
    /// Will not succeed as is; do not retry this message.
    Failed {
        reason: String,
    },
    /// The destination is gone; stop sending anything to it.
    Disable {
        reason: String,
    },
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }
}

/// Judges a transport error (no HTTP response).
pub fn classify_error(class: ErrorClass) -> Outcome {
    let reason = class.describe().to_string();
    if class.is_retryable() {
        Outcome::Retryable { reason, hint: None }
    } else {
        Outcome::Failed { reason }
    }
}

/// Judges an HTTP response from a destination of the given kind.
pub fn classify(kind: ChannelKind, response: &ResponseFacts) -> Outcome {
    match kind {
        ChannelKind::Webhook => common(response, None),
        ChannelKind::Discord => discord(response),
        ChannelKind::Slack => slack(response),
        ChannelKind::Telegram => telegram(response),
    }
}

/// Slack's error strings that mean the webhook will never work again.
pub const SLACK_DISABLE_ERRORS: [&str; 5] = [
    "channel_is_archived",
    "no_service",
    "invalid_token",
    "team_disabled",
    "action_prohibited",
];

fn discord(r: &ResponseFacts) -> Outcome {
    if r.status == 404 {
        return Outcome::Disable {
            reason: "Discord webhook no longer exists (HTTP 404 Unknown Webhook)".into(),
        };
    }
    // The body's float seconds are more precise than the header.
    let body_hint = (r.status == 429)
        .then(|| json(&r.body_snippet)?.get("retry_after")?.as_f64())
        .flatten()
        .and_then(seconds_to_ms)
        .map(RetryHint::DelayMs);
    common(r, body_hint)
}

fn slack(r: &ResponseFacts) -> Outcome {
    if !is_2xx(r.status) {
        // Incoming webhooks answer in plain text; Slack's Web API style
        // `{"ok":false,"error":…}` is accepted too.
        let text = r.body_snippet.trim();
        let error = json(text)
            .and_then(|v| v.get("error")?.as_str().map(str::to_string))
            .unwrap_or_else(|| text.to_string());
        if SLACK_DISABLE_ERRORS.contains(&error.as_str()) {
            return Outcome::Disable {
                reason: format!("Slack refused the webhook: {error} (HTTP {})", r.status),
            };
        }
    }
    common(r, None)
}

fn telegram(r: &ResponseFacts) -> Outcome {
    let body = json(&r.body_snippet);
    if is_2xx(r.status) {
        // A cut-off body is not JSON; the status alone must do then.
        return match body {
            Some(v) if v.get("ok") != Some(&Value::Bool(true)) => Outcome::Failed {
                reason: format!(
                    "Telegram answered HTTP {} without \"ok\":true: {}",
                    r.status,
                    snippet(&r.body_snippet)
                ),
            },
            _ => Outcome::Success,
        };
    }
    let lower = r.body_snippet.to_ascii_lowercase();
    let gone = match r.status {
        403 => lower.contains("blocked by the user") || lower.contains("kicked"),
        400 => lower.contains("chat not found"),
        _ => false,
    };
    if gone {
        return Outcome::Disable {
            reason: format!(
                "Telegram cannot reach the chat (HTTP {}): {}",
                r.status,
                snippet(&r.body_snippet)
            ),
        };
    }
    let body_hint = (r.status == 429)
        .then(|| body?.get("parameters")?.get("retry_after")?.as_f64())
        .flatten()
        .and_then(seconds_to_ms)
        .map(RetryHint::DelayMs);
    common(r, body_hint)
}

/// The rules every destination shares. `body_hint` (from a chat API's
/// body) wins over the `Retry-After` header when both are present.
fn common(r: &ResponseFacts, body_hint: Option<RetryHint>) -> Outcome {
    let status = r.status;
    let reason = || match snippet(&r.body_snippet) {
        s if s.is_empty() => format!("HTTP {status}"),
        s => format!("HTTP {status}: {s}"),
    };
    match status {
        200..=299 => Outcome::Success,
        300..=399 => Outcome::Failed {
            reason: format!("HTTP {status}: redirects are not followed"),
        },
        410 => Outcome::Disable {
            reason: format!("HTTP 410 Gone: {}", snippet(&r.body_snippet)),
        },
        408 | 429 | 500..=599 => Outcome::Retryable {
            reason: reason(),
            hint: body_hint.or_else(|| {
                r.retry_after_header
                    .as_deref()
                    .and_then(RetryHint::from_header)
            }),
        },
        _ => Outcome::Failed { reason: reason() },
    }
}

fn is_2xx(status: u16) -> bool {
    (200..=299).contains(&status)
}

fn json(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// A one-line, bounded excerpt of a body for a reason message.
fn snippet(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
