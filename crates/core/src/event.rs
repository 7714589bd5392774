//! Events: what happened, as delivered to every subscriber.
//!
//! An event has a prefixed id (`evt_…`), a dotted type (`alert.triggered`),
//! a timestamp and a JSON `data` object. The webhook body is
//! `{"id","type","timestamp","data"}` with an RFC 3339 timestamp.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::UnixMillis;

/// Every event type tradehook emits.
pub const EVENT_TYPES: &[&str] = &[
    "alert.triggered",
    "alert.expired",
    "price_alert.triggered",
    "signal.received",
    "signal.rejected",
    "order.submitted",
    "order.filled",
    "order.partially_filled",
    "order.rejected",
    "order.canceled",
    "risk.global_stop_loss",
    "risk.global_take_profit",
    "bot.paused",
    "bot.resumed",
    "cleanup.orders_canceled",
    "endpoint.disabled",
    "endpoint.test",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix milliseconds.
    pub timestamp_ms: UnixMillis,
    pub data: Value,
}

/// The JSON body sent to webhook endpoints.
#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a Value,
}

impl Event {
    /// `{"id","type","timestamp","data"}`, compact, as sent and signed.
    pub fn webhook_body(&self) -> String {
        serde_json::to_string(&WebhookBody {
            id: &self.id,
            event_type: &self.event_type,
            timestamp: rfc3339_ms(self.timestamp_ms),
            data: &self.data,
        })
        .expect("JSON values serialise")
    }

    /// A string field of `data`, used by endpoint filters (`symbol`,
    /// `rule_id`, `bot_id`).
    pub fn data_str(&self, field: &str) -> Option<&str> {
        self.data.get(field).and_then(Value::as_str)
    }
}

/// RFC 3339 with milliseconds in UTC, e.g. `2026-11-23T01:16:22.788Z`.
pub fn rfc3339_ms(ms: UnixMillis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_body_has_the_documented_fields() {
        let e = Event {
            id: "evt_1".into(),
            event_type: "alert.triggered".into(),
            timestamp_ms: 1_795_396_582_788,
            data: serde_json::json!({"symbol": "BTC", "price": 100000.5}),
        };
        assert_eq!(
            e.webhook_body(),
            r#"{"id":"evt_1","type":"alert.triggered","timestamp":"2026-11-23T01:16:22.788Z","data":{"price":100000.5,"symbol":"BTC"}}"#
        );
        assert_eq!(e.data_str("symbol"), Some("BTC"));
        assert_eq!(e.data_str("price"), None);
    }
}
