//! Standard Webhooks v1 signatures (HMAC-SHA256) and endpoint secrets.
//!
//! Each attempt is signed over `<msg_id>.<timestamp>.<body>` with the
//! endpoint's secret and sent as `webhook-signature: v1,<base64>`. During a
//! key rotation the old and the new secrets both sign, and a receiver
//! accepts if any signature matches. [`verify`] is the receiver's side; we
//! use it in tests and to let operators check their own receivers.
//!
//! Secrets never appear in `Debug` output or error messages: only
//! [`WebhookSecret::preview`] is safe to log or show.

use std::fmt;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest key bytes a secret may have (Standard Webhooks).
pub const MIN_SECRET_BYTES: usize = 24;
/// Most key bytes a secret may have (Standard Webhooks).
pub const MAX_SECRET_BYTES: usize = 64;
/// Key bytes in a generated secret.
pub const GENERATED_SECRET_BYTES: usize = 24;
/// How far a signed timestamp may be from the receiver's clock; the
/// reference libraries (Python, Rust, JS) all use five minutes.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

/// Standard base64 that also takes secrets whose `=` padding was dropped
/// and whose last character carries stray low bits. Both happen when
/// secrets are copied around by hand, and the reference libraries accept
/// them (their test vectors include such secrets).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

type HmacSha256 = Hmac<Sha256>;

/// An endpoint's HMAC key: 24 to 64 bytes.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

/// Why a secret was refused. The secret itself is never part of the
/// message, so these errors are safe to log or return to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("webhook secret is empty: expected `whsec_` followed by base64")]
    Empty,
    #[error("webhook secret is not valid base64 after the optional `whsec_` prefix: {0}")]
    NotBase64(String),
    #[error(
        "webhook secret decodes to {0} bytes; it must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes"
    )]
    BadLength(usize),
}

impl WebhookSecret {
    /// Reads `whsec_<base64>` or bare base64; padding is optional and
    /// surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = LENIENT
            .decode(encoded)
            .map_err(|e| SecretError::NotBase64(e.to_string()))?;
        Self::from_bytes(key)
    }

    /// Takes raw key bytes, checking their length.
    pub fn from_bytes(key: Vec<u8>) -> Result<Self, SecretError> {
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(SecretError::BadLength(key.len()));
        }
        Ok(Self { key })
    }

    /// A new secret of [`GENERATED_SECRET_BYTES`] random bytes from the
    /// operating system's generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rng())
    }

    /// A new secret drawn from `rng`, so tests can make it repeatable.
    pub fn generate_with(rng: &mut impl RngCore) -> Self {
        let mut key = vec![0u8; GENERATED_SECRET_BYTES];
        rng.fill_bytes(&mut key);
        Self { key }
    }

    /// The key bytes used for HMAC.
    pub fn as_bytes(&self) -> &[u8] {
        &self.key
    }

    /// The full secret, `whsec_<padded base64>`: for storing it and for
    /// showing it to the endpoint's owner once.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// The same as [`expose`](Self::expose); the name says at the call
    /// site that the whole secret is being written out.
    pub fn to_string_full(&self) -> String {
        self.expose()
    }

    /// A short form that identifies the secret without revealing it,
    /// e.g. `whsec_MfKQ…` (four base64 characters, three bytes of a key
    /// of 24 or more).
    pub fn preview(&self) -> String {
        let encoded = STANDARD.encode(&self.key);
        format!("{SECRET_PREFIX}{}…", &encoded[..4])
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WebhookSecret")
            .field(&self.preview())
            .finish()
    }
}

impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.key.ct_eq(&other.key).into()
    }
}

impl Eq for WebhookSecret {}

impl std::str::FromStr for WebhookSecret {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn mac_v1(secret: &WebhookSecret, msg_id: &str, timestamp_secs: i64, body: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `v1,<base64>` signature of one attempt.
///
/// `msg_id` must not contain `.` (the signed content would be ambiguous);
/// tradehook's ids never do, so this is only checked in debug builds.
pub fn sign_v1(secret: &WebhookSecret, msg_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    debug_assert!(!msg_id.contains('.'), "webhook id `{msg_id}` contains `.`");
    format!(
        "v1,{}",
        STANDARD.encode(mac_v1(secret, msg_id, timestamp_secs, body))
    )
}

/// The `webhook-signature` header value: one `v1` signature per secret,
/// space-separated, so that receivers still holding an old secret keep
/// accepting during a rotation.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| sign_v1(s, msg_id, timestamp_secs, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `sha256=<lowercase hex HMAC-SHA256 of the body>`: the simple scheme
/// for receivers that cannot do Standard Webhooks (GitHub's style). It
/// does not cover a timestamp, so it does not stop replays.
pub fn hex_body_signature(secret: &WebhookSecret, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Why a signed request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("webhook id is empty or contains `.`")]
    InvalidId,
    #[error("webhook timestamp `{0}` is not integer Unix seconds")]
    InvalidTimestamp(String),
    #[error("webhook timestamp {timestamp} is more than 5 minutes before now ({now})")]
    TooOld { timestamp: i64, now: i64 },
    #[error("webhook timestamp {timestamp} is more than 5 minutes after now ({now})")]
    TooNew { timestamp: i64, now: i64 },
    #[error("no v1 signature matches")]
    NoMatch,
}

/// Checks a request the way a Standard Webhooks receiver does: the
/// timestamp within ±5 minutes of `now_secs`, then any `v1` entry of the
/// signature header matching. Entries of other versions (`v1a`, `v2`) are
/// skipped, and signatures are compared in constant time.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    if msg_id.is_empty() || msg_id.contains('.') {
        return Err(VerifyError::InvalidId);
    }
    // Only plain digits: `i64::from_str` would take a leading `+`, and then
    // the signed content would not be what the sender signed.
    let ts_text = timestamp_header.trim();
    let timestamp: i64 = match ts_text.parse() {
        Ok(t) if ts_text.bytes().all(|b| b.is_ascii_digit()) => t,
        _ => return Err(VerifyError::InvalidTimestamp(shorten(timestamp_header))),
    };
    if timestamp < now_secs.saturating_sub(TIMESTAMP_TOLERANCE_SECS) {
        return Err(VerifyError::TooOld {
            timestamp,
            now: now_secs,
        });
    }
    if timestamp > now_secs.saturating_add(TIMESTAMP_TOLERANCE_SECS) {
        return Err(VerifyError::TooNew {
            timestamp,
            now: now_secs,
        });
    }
    let expected = mac_v1(secret, msg_id, timestamp, body);
    let matched = signature_header
        .split_ascii_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, sig)| STANDARD.decode(sig).ok())
        .any(|sig| bool::from(sig.ct_eq(&expected)));
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

/// Header values come from the network: keep what goes into an error
/// message short.
fn shorten(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
#[path = "signing_tests.rs"]
mod tests;
