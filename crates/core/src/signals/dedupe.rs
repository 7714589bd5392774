//! [`dedupe_key`]: the idempotency key of a signal.
//!
//! TradingView resends a body up to three times, 5 s apart, when the
//! answer is a 5xx other than 504; a duplicate must be answered 2xx and
//! not executed again. The key is stored under a unique constraint.
//!
//! - With an explicit id ([`ParsedSignal::signal_id`]) the key is
//!   `id:` + SHA-256 hex of (bot id, signal id): the same id for the same
//!   bot is the same signal, at any distance in time (`explicit: true`).
//! - Otherwise the key is `body:` + SHA-256 hex of (bot id, canonical
//!   body), and the caller treats two equal keys as one signal only within
//!   a window ([`DEFAULT_DEDUPE_WINDOW_SECS`]): an identical body a
//!   minute later is a new signal (`explicit: false`).
//!
//! The canonical body is the JSON with object keys sorted (recursively)
//! and no whitespace outside strings, so a resend whose formatting or key
//! order changed still matches. Values are not reinterpreted: `0.5` and
//! `"0.5"`, or `1` and `1.0`, stay different. A body that is not JSON is
//! hashed as it is. The bot id is length-prefixed so that no pair of
//! (bot id, content) can collide with another by concatenation.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::types::ParsedSignal;

/// How long a body-hash key stands for the same signal, by default.
pub const DEFAULT_DEDUPE_WINDOW_SECS: u64 = 60;

/// A signal's idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DedupeKey {
    /// `id:<64 hex>` or `body:<64 hex>`.
    pub key: String,
    /// Whether the key comes from an explicit signal id (no window).
    pub explicit: bool,
}

/// The key of `parsed` (from `body`) for bot `bot_id`.
pub fn dedupe_key(bot_id: &str, parsed: &ParsedSignal, body: &[u8]) -> DedupeKey {
    match &parsed.signal_id {
        Some(id) => DedupeKey {
            key: format!(
                "id:{}",
                digest(b"tradehook.signal.id.v1", bot_id, id.as_bytes())
            ),
            explicit: true,
        },
        None => DedupeKey {
            key: format!(
                "body:{}",
                digest(b"tradehook.signal.body.v1", bot_id, &canonical_body(body))
            ),
            explicit: false,
        },
    }
}

fn digest(domain: &[u8], bot_id: &str, content: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(domain);
    h.update((bot_id.len() as u64).to_be_bytes());
    h.update(bot_id.as_bytes());
    h.update(content);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// The body with sorted keys and no insignificant whitespace; the bytes
/// as they are when the body is not JSON.
pub fn canonical_body(body: &[u8]) -> Vec<u8> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let mut out = String::with_capacity(body.len());
            write_canonical(&v, &mut out);
            out.into_bytes()
        }
        Err(_) => body.to_vec(),
    }
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            // Sorted here whatever the map type: serde_json's
            // `preserve_order` feature, if any crate turns it on, keeps
            // insertion order.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
