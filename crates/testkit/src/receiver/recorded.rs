//! One request as the receiver saw it.

use std::time::Instant;

/// A request the receiver got, recorded when it arrived (after its body
/// was read, before any delay in the answer).
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The URI path, without the query.
    pub path: String,
    /// The query string without `?`, if the URI had one (Discord's
    /// `?wait=true`, for instance).
    pub query: Option<String>,
    pub method: String,
    /// Header names in lower case, in the order received; a repeated header
    /// appears once per value. With bodies off
    /// ([`Receiver::record_bodies`](super::Receiver::record_bodies)) only
    /// `webhook-id` and `webhook-timestamp` are kept.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes; empty when bodies are off.
    pub body: Vec<u8>,
    pub received_at: Instant,
    /// The status the receiver chose: 0 for [`Behaviour::Hang`](super::Behaviour::Hang),
    /// 413 or 400 for a body that was too large or broke off.
    pub answered_status: u16,
}

impl Recorded {
    /// The first value of this header, looked up case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON. Panics, showing the body, if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: body is not JSON ({e}){}: {:?}",
                self.method,
                self.path,
                if self.body.is_empty() {
                    " (bodies are not recorded when record_bodies(false))"
                } else {
                    ""
                },
                String::from_utf8_lossy(&self.body),
            )
        })
    }

    /// The Standard Webhooks `webhook-id` header: the idempotency key, the
    /// same on every retry of one message.
    pub fn webhook_id(&self) -> Option<&str> {
        self.header("webhook-id")
    }
}
