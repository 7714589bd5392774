//! An endpoint made ready to send to: secrets opened, schedule parsed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tradehook_core::crypto::SecretBox;
use tradehook_core::event::Event;
use tradehook_core::time::UnixMillis;
use tradehook_core::webhook::outcome::ChannelKind;
use tradehook_core::webhook::retry::RetrySchedule;
use tradehook_core::webhook::signing::WebhookSecret;
use tradehook_store::EndpointRecord;

/// Where a target's messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Channel(ChannelKind),
    /// Recorded in process (demo and tests).
    Log,
}

impl TargetKind {
    pub fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "webhook" => TargetKind::Channel(ChannelKind::Webhook),
            "discord" => TargetKind::Channel(ChannelKind::Discord),
            "slack" => TargetKind::Channel(ChannelKind::Slack),
            "telegram" => TargetKind::Channel(ChannelKind::Telegram),
            "log" => TargetKind::Log,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Channel(c) => c.as_str(),
            TargetKind::Log => "log",
        }
    }
}

/// How webhook bodies are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureScheme {
    /// Standard Webhooks `webhook-id`/`webhook-timestamp`/`webhook-signature`.
    Standard,
    /// Also a `sha256=<hex>` HMAC of the body in the named header.
    HmacSha256Hex { header: String },
}

/// What a webhook request's body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `{"id","type","timestamp","data"}` (the default).
    Envelope,
    /// The event's `data` object alone, for receivers that expect a flat
    /// payload (price alerts).
    Data,
}

impl BodyFormat {
    pub fn parse(format: &str) -> Option<Self> {
        match format {
            "envelope" => Some(BodyFormat::Envelope),
            "data" => Some(BodyFormat::Data),
            _ => None,
        }
    }
}

/// An endpoint, ready to send to.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    pub kind: TargetKind,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The current secret first, then a rotated-out one still in its grace period.
    pub secrets: Vec<WebhookSecret>,
    pub scheme: SignatureScheme,
    pub body_format: BodyFormat,
    pub telegram_chat_id: Option<String>,
    pub telegram_token: Option<String>,
    pub schedule: RetrySchedule,
    pub max_concurrency: usize,
    pub rate_limit_per_minute: Option<u32>,
    pub failing_since: Option<UnixMillis>,
    pub updated_at: UnixMillis,
}

impl Target {
    /// Opens the record's secrets and parses its settings. An error means
    /// the stored endpoint cannot be sent to (wrong sealing key, corrupt
    /// row); the message says which part.
    pub fn from_record(
        record: &EndpointRecord,
        sealer: &SecretBox,
        default_schedule: &RetrySchedule,
        now: UnixMillis,
    ) -> Result<Target, String> {
        let kind = TargetKind::parse(&record.kind)
            .ok_or_else(|| format!("unknown endpoint kind `{}`", record.kind))?;
        let open = |sealed: &str, what: &str| -> Result<String, String> {
            sealer
                .open(sealed)
                .map_err(|e| format!("cannot open the {what}: {e}"))
        };
        let parse_secret =
            |text: String| WebhookSecret::parse(&text).map_err(|e| format!("stored secret: {e}"));
        let mut secrets = vec![parse_secret(open(&record.secret, "endpoint secret")?)?];
        if let (Some(previous), Some(until)) =
            (&record.previous_secret, record.previous_secret_expires_at)
            && until > now
        {
            secrets.push(parse_secret(open(previous, "previous secret")?)?);
        }
        let scheme = match record.signature_scheme.as_str() {
            "hmac_sha256_hex" => SignatureScheme::HmacSha256Hex {
                header: record
                    .signature_header
                    .clone()
                    .unwrap_or_else(|| "x-signature".to_string()),
            },
            _ => SignatureScheme::Standard,
        };
        let body_format = BodyFormat::parse(&record.body_format)
            .ok_or_else(|| format!("unknown body format `{}`", record.body_format))?;
        let schedule = match &record.retry_schedule {
            Some(delays) => {
                RetrySchedule::parse(delays).map_err(|e| format!("retry schedule: {e}"))?
            }
            None => default_schedule.clone(),
        };
        let telegram_token = record
            .telegram_bot_token
            .as_deref()
            .map(|t| open(t, "Telegram bot token"))
            .transpose()?;
        Ok(Target {
            id: record.id.clone(),
            kind,
            url: record.url.clone(),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            secrets,
            scheme,
            body_format,
            telegram_chat_id: record.telegram_chat_id.clone(),
            telegram_token,
            schedule,
            max_concurrency: usize::try_from(record.max_concurrency.clamp(1, 256)).unwrap_or(1),
            rate_limit_per_minute: record
                .rate_limit_per_minute
                .and_then(|n| u32::try_from(n).ok()),
            failing_since: record.failing_since,
            updated_at: record.updated_at,
        })
    }
}

/// One message recorded by a `log` endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub endpoint_id: String,
    pub webhook_id: String,
    pub event: Event,
    pub at: UnixMillis,
}

/// The in-process destination of `log` endpoints: the newest messages.
#[derive(Debug, Clone, Default)]
pub struct LogSink {
    entries: Arc<Mutex<VecDeque<LogEntry>>>,
}

impl LogSink {
    const KEEP: usize = 1000;

    pub fn push(&self, entry: LogEntry) {
        let mut entries = self.entries.lock().expect("lock");
        if entries.len() == Self::KEEP {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The kept messages, oldest first.
    pub fn entries(&self) -> Vec<LogEntry> {
        self.entries.lock().expect("lock").iter().cloned().collect()
    }
}
