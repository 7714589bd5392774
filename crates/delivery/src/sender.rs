//! Sends one event to one target and judges the answer.

use std::time::Instant;

use tradehook_core::event::Event;
use tradehook_core::time::UnixMillis;
use tradehook_core::webhook::outcome::{
    ChannelKind, ErrorClass, Outcome, ResponseFacts, classify, classify_error,
};
use tradehook_core::webhook::signing::{hex_body_signature, signature_header};

use crate::client::{SafeClient, SendError};
use crate::format;
use crate::target::{BodyFormat, LogEntry, LogSink, SignatureScheme, Target, TargetKind};

/// What one attempt did, for the audit trail and the retry decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptReport {
    pub started_at: UnixMillis,
    pub latency_ms: i64,
    pub http_status: Option<u16>,
    pub error_class: Option<ErrorClass>,
    pub snippet: String,
    pub outcome: Outcome,
    /// Send nothing more to this target before this time (Discord's
    /// `X-RateLimit-*` headers said its bucket is empty).
    pub pace_until: Option<UnixMillis>,
}

/// The headers and body of a webhook request (exposed for tests). The
/// signatures cover the body exactly as sent, whichever format it has.
pub fn webhook_request(
    target: &Target,
    event: &Event,
    timestamp_secs: i64,
) -> (Vec<(String, String)>, Vec<u8>) {
    let body = match target.body_format {
        BodyFormat::Envelope => event.webhook_body().into_bytes(),
        BodyFormat::Data => serde_json::to_string(&event.data)
            .expect("JSON values serialise")
            .into_bytes(),
    };
    let mut headers: Vec<(String, String)> = target.headers.clone();
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("webhook-id".into(), event.id.clone()));
    headers.push(("webhook-timestamp".into(), timestamp_secs.to_string()));
    let secrets: Vec<_> = target.secrets.iter().collect();
    headers.push((
        "webhook-signature".into(),
        signature_header(&secrets, &event.id, timestamp_secs, &body),
    ));
    if let SignatureScheme::HmacSha256Hex { header } = &target.scheme {
        headers.push((
            header.clone(),
            hex_body_signature(&target.secrets[0], &body),
        ));
    }
    (headers, body)
}

fn json_request(value: serde_json::Value) -> (Vec<(String, String)>, Vec<u8>) {
    (
        vec![("content-type".into(), "application/json".into())],
        serde_json::to_vec(&value).expect("JSON values serialise"),
    )
}

/// Sends `event` to `target` now.
pub async fn send(
    client: &SafeClient,
    log: &LogSink,
    target: &Target,
    event: &Event,
    now_ms: UnixMillis,
) -> AttemptReport {
    let start = Instant::now();
    let channel = match target.kind {
        TargetKind::Log => {
            log.push(LogEntry {
                endpoint_id: target.id.clone(),
                webhook_id: event.id.clone(),
                event: event.clone(),
                at: now_ms,
            });
            tracing::info!(endpoint = %target.id, event_type = %event.event_type, event_id = %event.id, "log endpoint received an event");
            return AttemptReport {
                started_at: now_ms,
                latency_ms: 0,
                http_status: None,
                error_class: None,
                snippet: String::new(),
                outcome: Outcome::Success,
                pace_until: None,
            };
        }
        TargetKind::Channel(c) => c,
    };
    let (url, (headers, body)) = match channel {
        ChannelKind::Webhook => (
            target.url.clone(),
            webhook_request(target, event, now_ms / 1000),
        ),
        ChannelKind::Discord => (
            target.url.clone(),
            json_request(format::discord::message(event)),
        ),
        ChannelKind::Slack => (
            target.url.clone(),
            json_request(format::slack::message(event)),
        ),
        ChannelKind::Telegram => {
            let token = target.telegram_token.as_deref().unwrap_or_default();
            let chat = target.telegram_chat_id.as_deref().unwrap_or_default();
            let base = target.url.trim_end_matches('/');
            (
                format!("{base}/bot{token}/sendMessage"),
                json_request(format::telegram::message(event, chat)),
            )
        }
    };
    let result = client.post(&url, &headers, body).await;
    let latency_ms = start.elapsed().as_millis() as i64;
    match result {
        Ok(response) => {
            let facts = ResponseFacts {
                status: response.status,
                retry_after_header: response.header("retry-after").map(str::to_string),
                body_snippet: response.snippet.clone(),
            };
            let pace_until = match channel {
                ChannelKind::Discord => discord_pace(&response, now_ms + latency_ms),
                _ => None,
            };
            AttemptReport {
                started_at: now_ms,
                latency_ms,
                http_status: Some(response.status),
                error_class: None,
                snippet: response.snippet,
                outcome: classify(channel, &facts),
                pace_until,
            }
        }
        Err(SendError { class, message }) => AttemptReport {
            started_at: now_ms,
            latency_ms,
            http_status: None,
            error_class: Some(class),
            // Never echo a Telegram token that may sit in the URL.
            snippet: redact(&message, target.telegram_token.as_deref()),
            outcome: classify_error(class),
            pace_until: None,
        },
    }
}

fn redact(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "***"),
        _ => text.to_string(),
    }
}

/// When Discord's bucket for this webhook is empty (`X-RateLimit-Remaining:
/// 0`), the time its `X-RateLimit-Reset-After` (seconds, decimals) ends.
/// Discord asks clients to pace from these headers rather than hard-coded
/// numbers.
pub fn discord_pace(response: &crate::client::Response, now_ms: UnixMillis) -> Option<UnixMillis> {
    let remaining: f64 = response
        .header("x-ratelimit-remaining")?
        .trim()
        .parse()
        .ok()?;
    if remaining > 0.0 {
        return None;
    }
    let after: f64 = response
        .header("x-ratelimit-reset-after")?
        .trim()
        .parse()
        .ok()?;
    (after.is_finite() && after >= 0.0).then(|| now_ms + (after.min(3600.0) * 1000.0).ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Response;
    use tradehook_core::webhook::retry::RetrySchedule;
    use tradehook_core::webhook::signing::{WebhookSecret, verify};

    fn response(headers: &[(&str, &str)]) -> Response {
        Response {
            status: 204,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            snippet: String::new(),
        }
    }

    fn webhook_target(body_format: BodyFormat) -> Target {
        Target {
            id: "ep_1".into(),
            kind: TargetKind::Channel(ChannelKind::Webhook),
            url: "https://example.com/hook".into(),
            headers: Vec::new(),
            secrets: vec![WebhookSecret::generate()],
            scheme: SignatureScheme::HmacSha256Hex {
                header: "x-signature".into(),
            },
            body_format,
            telegram_chat_id: None,
            telegram_token: None,
            schedule: RetrySchedule::default(),
            max_concurrency: 1,
            rate_limit_per_minute: None,
            failing_since: None,
            updated_at: 0,
        }
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    #[test]
    fn a_data_body_is_the_event_data_alone_and_is_what_is_signed() {
        let event = Event {
            id: "evt_1".into(),
            event_type: "alert.triggered".into(),
            timestamp_ms: 1_795_396_582_788,
            data: serde_json::json!({"symbol": "BTC", "price": 100000.5}),
        };
        let target = webhook_target(BodyFormat::Data);
        let (headers, body) = webhook_request(&target, &event, 1_795_396_582);
        assert_eq!(body, br#"{"price":100000.5,"symbol":"BTC"}"#);
        assert_eq!(header(&headers, "webhook-id"), "evt_1");
        verify(
            &target.secrets[0],
            "evt_1",
            header(&headers, "webhook-timestamp"),
            header(&headers, "webhook-signature"),
            &body,
            1_795_396_582,
        )
        .expect("the signature covers the data body");
        assert_eq!(
            header(&headers, "x-signature"),
            hex_body_signature(&target.secrets[0], &body)
        );

        let (_, envelope) = webhook_request(&webhook_target(BodyFormat::Envelope), &event, 0);
        assert_eq!(envelope, event.webhook_body().into_bytes());
    }

    #[test]
    fn an_empty_discord_bucket_paces_until_its_reset() {
        let r = response(&[
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset-After", "1.25"),
        ]);
        assert_eq!(discord_pace(&r, 10_000), Some(11_250));
    }

    #[test]
    fn a_bucket_with_room_or_no_headers_does_not_pace() {
        let r = response(&[
            ("X-RateLimit-Remaining", "3"),
            ("X-RateLimit-Reset-After", "1.25"),
        ]);
        assert_eq!(discord_pace(&r, 10_000), None);
        assert_eq!(discord_pace(&response(&[]), 10_000), None);
        let garbage = response(&[
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset-After", "soon"),
        ]);
        assert_eq!(discord_pace(&garbage, 10_000), None);
    }
}
