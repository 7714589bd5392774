#![allow(dead_code)]

use serde_json::Value;
use tradehook_feeds::{Candle, FeedEvent, Interval};
use tradehook_rules::{Engine, Firing, Frequency, Rule, RuleConfig};

/// A minute boundary (and an hour boundary: 1_699_999_200_000 + 14 min).
pub const T0: i64 = 1_700_000_040_000;
pub const MIN: i64 = 60_000;

pub fn id(n: u32) -> String {
    format!("rul_{n:032x}")
}

pub fn rule(n: u32, symbol: &str, rule_type: &str, config: Value, frequency: Frequency) -> Rule {
    Rule {
        id: id(n),
        symbol: symbol.to_string(),
        config: RuleConfig::parse(rule_type, &config).expect("valid config"),
        frequency,
        cooldown_ms: 0,
        expires_at: None,
        created_at: T0 - 3_600_000,
        last_fired_at: None,
    }
}

pub fn tick(e: &mut Engine, symbol: &str, price: f64, ts: i64) -> Vec<Firing> {
    let mut out = Vec::new();
    e.on_event(
        &FeedEvent::Tick {
            symbol: symbol.to_string(),
            price,
            ts,
        },
        &mut out,
    );
    out
}

pub fn ids(f: &[Firing]) -> Vec<String> {
    let mut v: Vec<String> = f.iter().map(|f| f.rule_id.clone()).collect();
    v.sort();
    v
}

pub fn candle(symbol: &str, interval: Interval, open_time: i64, close: f64) -> Candle {
    Candle {
        symbol: symbol.to_string(),
        interval,
        open_time,
        open: close,
        high: close,
        low: close,
        close,
        volume: 1.0,
        trades: 1,
    }
}

pub fn closed(e: &mut Engine, c: Candle) -> Vec<Firing> {
    let mut out = Vec::new();
    e.on_event(&FeedEvent::CandleClosed(c), &mut out);
    out
}
