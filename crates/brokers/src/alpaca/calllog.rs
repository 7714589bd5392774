//! The call log: every HTTP exchange with Alpaca, handed to an optional
//! callback with the keys removed, so the service can store what was
//! sent and answered.

use std::{fmt, sync::Arc};

use serde_json::Value;

/// One HTTP request and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// Path and query, without the base URL: `/v2/orders?status=open`.
    pub path: String,
    /// `None` when no answer came (network error, timeout).
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// The JSON sent, secrets removed.
    pub request_body: Option<String>,
    /// The body received, secrets removed.
    pub response_body: Option<String>,
    /// The network error, when there was one.
    pub error: Option<String>,
    /// 0 for the first try of a call, then 1, 2, … for its retries.
    pub attempt: u32,
}

/// Receives every [`CallRecord`]. Called inline: it must be quick.
pub type CallLog = Arc<dyn Fn(CallRecord) + Send + Sync>;

pub(crate) const REDACTED: &str = "[REDACTED]";

/// JSON keys whose values are never logged.
const SECRET_KEYS: [&str; 8] = [
    "key_id",
    "secret_key",
    "secret",
    "key",
    "password",
    "token",
    "authorization",
    "apca-api-secret-key",
];

/// Removes the secrets from a body: the values of secret-looking JSON
/// keys, and every occurrence of the given strings.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let text = match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            redact_value(&mut v);
            v.to_string()
        }
        Err(_) => text.to_owned(),
    };
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text, |t, s| t.replace(s, REDACTED))
}

fn redact_value(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                    *val = Value::String(REDACTED.to_owned());
                } else {
                    redact_value(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

/// Shows the first four characters of a key id, nothing of a secret.
pub(crate) struct Masked<'a>(pub &'a str);

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head: String = self.0.chars().take(4).collect();
        write!(f, "\"{head}…\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_removed_from_json_and_text() {
        let body = r#"{"action":"auth","key":"PK123","secret":"s3cr3t","data":{"secret_key":"x"}}"#;
        let out = redact(body, &["PK123", "s3cr3t"]);
        assert!(!out.contains("PK123") && !out.contains("s3cr3t"), "{out}");
        assert!(out.contains(r#""action":"auth""#));
        assert_eq!(
            redact("key PK123 here", &["PK123", ""]),
            "key [REDACTED] here"
        );
        assert_eq!(format!("{:?}", Masked("PKABCDEFG")), "\"PKAB…\"");
    }
}
