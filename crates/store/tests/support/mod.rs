//! Builders shared by the rule and alert tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::json;
use tradehook_core::event::Event;
use tradehook_core::ids::new_id;
use tradehook_store::{AlertRecord, EndpointRecord, NewAlert, NewRule, RuleRecord};

pub fn endpoint(id: &str, patterns: &[&str]) -> EndpointRecord {
    EndpointRecord {
        id: id.to_string(),
        kind: "webhook".into(),
        url: format!("https://example.com/{id}"),
        description: String::new(),
        event_types: patterns.iter().map(|s| s.to_string()).collect(),
        filter_symbols: None,
        filter_rule_ids: None,
        filter_bot_ids: None,
        enabled: true,
        disabled_reason: None,
        rate_limit_per_minute: None,
        max_concurrency: 8,
        headers: BTreeMap::new(),
        secret: "sealed:v1:x".into(),
        previous_secret: None,
        previous_secret_expires_at: None,
        signature_scheme: "standard".into(),
        signature_header: None,
        telegram_chat_id: None,
        telegram_bot_token: None,
        retry_schedule: None,
        failing_since: None,
        created_at: 1,
        updated_at: 1,
        owner_rule_id: None,
        body_format: "envelope".into(),
    }
}

/// An endpoint created inline for one rule, subscribed to its alerts.
pub fn owned_endpoint(id: &str, rule_id: &str, kind: &str) -> EndpointRecord {
    EndpointRecord {
        kind: kind.into(),
        filter_rule_ids: Some(vec![rule_id.to_string()]),
        owner_rule_id: Some(rule_id.to_string()),
        ..endpoint(id, &["alert.*"])
    }
}

pub fn rule(symbol: &str, rule_type: &str, frequency: &str) -> NewRule {
    NewRule {
        id: new_id("rul"),
        name: format!("{symbol} {rule_type}"),
        symbol: symbol.into(),
        rule_type: rule_type.into(),
        config: json!({"threshold": 70, "period": 14}),
        frequency: frequency.into(),
        cooldown_seconds: 0,
        enabled: true,
        expires_at: None,
        discord_webhook_url: Some("https://discord.com/api/webhooks/1/token".into()),
        generic_webhook_url: None,
        created_at: 1_000,
    }
}

pub fn alert(rule_id: &str, window_start: i64) -> NewAlert {
    NewAlert {
        rule_id: rule_id.into(),
        window_start,
        window_end: window_start + 60_000,
        price: 101.5,
        indicators: json!({"rsi": 71.2}),
        feed_ts: window_start + 59_000,
    }
}

/// The event a fired alert publishes.
pub fn alert_event(rule: &RuleRecord, alert: &AlertRecord) -> Event {
    Event {
        id: "evt_ignored".into(),
        event_type: "alert.triggered".into(),
        timestamp_ms: alert.committed_at,
        data: json!({
            "rule_id": rule.id,
            "symbol": rule.symbol,
            "alert_id": alert.id,
            "price": alert.price,
        }),
    }
}

pub fn expired_event(rule: &RuleRecord) -> Event {
    Event {
        id: new_id("evt"),
        event_type: "alert.expired".into(),
        timestamp_ms: rule.updated_at,
        data: json!({"rule_id": rule.id, "symbol": rule.symbol}),
    }
}
