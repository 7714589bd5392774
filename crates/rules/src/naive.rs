//! A naive engine for the tick threshold rules: every tick scans all
//! threshold rules of its symbol. The baseline of the benchmarks and the
//! oracle of the indexed engine's tests; it has the same semantics for
//! `price_threshold`, `price_alert` and `channel` evaluated on ticks, and
//! ignores every other rule (and bar-close frequencies) and candles.

use std::collections::HashMap;

use tradehook_feeds::FeedEvent;

use crate::engine::{Firing, tick_holds};
use crate::model::{Frequency, Rule, RuleConfig, effective_frequency, rearm_at};

struct NaiveRule {
    id: String,
    config: RuleConfig,
    frequency: Frequency,
    created_at: i64,
    cooldown_ms: i64,
    expires_at: i64,
    rearm_at: i64,
}

#[derive(Default)]
struct NaiveSym {
    last: Option<f64>,
    rules: Vec<NaiveRule>,
}

/// See the module docs.
#[derive(Default)]
pub struct NaiveEngine {
    syms: HashMap<String, NaiveSym>,
    symbol_of: HashMap<String, String>,
}

impl NaiveEngine {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.symbol_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbol_of.is_empty()
    }

    pub fn upsert(&mut self, rule: Rule) {
        self.remove(&rule.id);
        let frequency = effective_frequency(&rule.config, rule.frequency);
        let tick_rule = matches!(
            rule.config,
            RuleConfig::PriceThreshold(_) | RuleConfig::PriceAlert(_) | RuleConfig::Channel(_)
        ) && frequency != Frequency::OncePerBarClose;
        if !tick_rule || rule.config.validate().is_err() {
            return;
        }
        let rearm = match rule.last_fired_at {
            Some(lf) => rearm_at(
                frequency,
                rule.config.bar(),
                rule.created_at,
                rule.cooldown_ms,
                lf,
            ),
            None => i64::MIN,
        };
        if rearm == i64::MAX {
            return;
        }
        self.symbol_of.insert(rule.id.clone(), rule.symbol.clone());
        self.syms
            .entry(rule.symbol)
            .or_default()
            .rules
            .push(NaiveRule {
                id: rule.id,
                config: rule.config,
                frequency,
                created_at: rule.created_at,
                cooldown_ms: rule.cooldown_ms.max(0),
                expires_at: rule.expires_at.unwrap_or(i64::MAX),
                rearm_at: rearm,
            });
    }

    pub fn remove(&mut self, id: &str) -> bool {
        let Some(symbol) = self.symbol_of.remove(id) else {
            return false;
        };
        if let Some(sym) = self.syms.get_mut(&symbol) {
            sym.rules.retain(|r| r.id != id);
        }
        true
    }

    pub fn seed_price(&mut self, symbol: &str, price: f64, _ts: i64) {
        if price.is_finite() {
            self.syms.entry(symbol.to_string()).or_default().last = Some(price);
        }
    }

    pub fn on_event(&mut self, ev: &FeedEvent, out: &mut Vec<Firing>) {
        let FeedEvent::Tick { symbol, price, ts } = ev else {
            return;
        };
        let (price, ts) = (*price, *ts);
        if !price.is_finite() {
            return;
        }
        let sym = match self.syms.get_mut(symbol.as_str()) {
            Some(s) => s,
            None => self.syms.entry(symbol.clone()).or_default(),
        };
        let prev = sym.last.replace(price);
        let mut fired_once = false;
        for r in &mut sym.rules {
            if r.expires_at <= ts || ts < r.rearm_at || !tick_holds(&r.config, prev, price) {
                continue;
            }
            let bar = r.config.bar();
            let (window_start, window_end) = r.frequency.window(bar, r.created_at, ts);
            r.rearm_at = rearm_at(r.frequency, bar, r.created_at, r.cooldown_ms, ts);
            fired_once |= r.rearm_at == i64::MAX;
            out.push(Firing {
                rule_id: r.id.clone(),
                symbol: symbol.clone(),
                rule_type: r.config.rule_type(),
                window_start,
                window_end,
                price,
                prev_price: prev,
                indicators: Vec::new(),
                feed_ts: ts,
            });
        }
        if fired_once {
            let symbol_of = &mut self.symbol_of;
            sym.rules.retain(|r| {
                let keep = r.rearm_at != i64::MAX;
                if !keep {
                    symbol_of.remove(&r.id);
                }
                keep
            });
        }
    }
}
