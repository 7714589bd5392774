//! Indicator rules: one shared indicator instance per (symbol, interval,
//! parameters), fed by closed candles.

use std::mem;

use rustc_hash::FxHashMap;
use tradehook_core::indicators::{BandsValue, BollingerBands, Macd, MacdValue, Rsi};
use tradehook_feeds::{Candle, Interval};

use super::{Engine, Firing, Home, NONE_IDX, State};
use crate::model::{Band, BandEvent, CrossDirection, RsiZone, RuleConfig};

/// The most closed bars a warm-up asks for (a Hyperliquid candle snapshot
/// returns at most 5000).
pub const MAX_WARMUP_BARS: usize = 5000;

/// Bars beyond the lookback asked for per period of an exponential
/// indicator (RSI's Wilder smoothing, MACD's EMAs), so that values
/// computed from the warm-up history have converged to those of a longer
/// history (the start's weight decays below e^-10 ≈ 5e-5).
const CONVERGENCE_PERIODS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Params {
    Macd(u32, u32, u32),
    Rsi(u32),
    /// Period and the bits of the deviation multiplier.
    Bands(u32, u64),
}

pub(super) type InstKey = (u32, Interval, Params);

enum Ind {
    Macd(Macd),
    Rsi(Rsi),
    Bands(BollingerBands),
}

#[derive(Clone, Copy)]
enum Val {
    Macd(MacdValue),
    Rsi(f64),
    Bands(BandsValue),
}

/// One indicator value and the bar that produced it.
#[derive(Clone, Copy)]
struct Sample {
    val: Val,
    high: f64,
    low: f64,
    close: f64,
}

pub(super) struct Instance {
    symbol: u32,
    interval: Interval,
    params: Params,
    ind: Ind,
    last_open: i64,
    prev: Option<Sample>,
    cur: Option<Sample>,
    rules: Vec<u32>,
}

fn params(config: &RuleConfig) -> Option<(Interval, Params)> {
    match config {
        RuleConfig::MacdCross(c) => Some((c.interval, Params::Macd(c.fast, c.slow, c.signal))),
        RuleConfig::Rsi(c) => Some((c.interval, Params::Rsi(c.period))),
        RuleConfig::BollingerBands(c) => {
            Some((c.interval, Params::Bands(c.period, c.std_dev.to_bits())))
        }
        _ => None,
    }
}

fn new_ind(p: Params) -> Option<Ind> {
    match p {
        Params::Macd(f, s, g) => Macd::new(f as usize, s as usize, g as usize)
            .ok()
            .map(Ind::Macd),
        Params::Rsi(n) => Rsi::new(n as usize).ok().map(Ind::Rsi),
        Params::Bands(n, d) => {
            let d = f64::from_bits(d);
            BollingerBands::new(n as usize, d, d).ok().map(Ind::Bands)
        }
    }
}

impl Ind {
    fn lookback(&self) -> usize {
        match self {
            Ind::Macd(m) => m.lookback(),
            Ind::Rsi(r) => r.lookback(),
            Ind::Bands(b) => b.lookback(),
        }
    }

    fn update(&mut self, close: f64) -> Option<Val> {
        match self {
            Ind::Macd(m) => m.update(close).map(Val::Macd),
            Ind::Rsi(r) => r.update(close).map(Val::Rsi),
            Ind::Bands(b) => b.update(close).map(Val::Bands),
        }
    }
}

/// Closed bars an instance needs before its rules can evaluate: the
/// lookback, two values, and for exponential indicators enough history
/// to converge.
fn warmup_bars(inst: &Instance) -> usize {
    let extra = match inst.params {
        Params::Macd(_, slow, signal) => CONVERGENCE_PERIODS * (slow + signal) as usize,
        Params::Rsi(n) => CONVERGENCE_PERIODS * n as usize,
        Params::Bands(..) => 0,
    };
    (inst.ind.lookback() + 2 + extra).min(MAX_WARMUP_BARS)
}

/// Whether an indicator rule fires on `cur` after `prev`, with the values
/// to report.
fn holds(config: &RuleConfig, prev: &Sample, cur: &Sample) -> Option<Vec<(&'static str, f64)>> {
    match (config, prev.val, cur.val) {
        (RuleConfig::MacdCross(c), Val::Macd(p), Val::Macd(v)) => {
            let fires = match c.direction {
                CrossDirection::Bullish => p.macd <= p.signal && v.macd > v.signal,
                CrossDirection::Bearish => p.macd >= p.signal && v.macd < v.signal,
            };
            fires.then(|| {
                vec![
                    ("macd", v.macd),
                    ("signal", v.signal),
                    ("hist", v.hist),
                    ("prev_macd", p.macd),
                    ("prev_signal", p.signal),
                ]
            })
        }
        (RuleConfig::Rsi(c), Val::Rsi(p), Val::Rsi(v)) => {
            let t = c.threshold;
            let fires = match c.direction {
                RsiZone::Overbought => p <= t && t < v,
                RsiZone::Oversold => p >= t && t > v,
            };
            fires.then(|| vec![("rsi", v), ("prev_rsi", p)])
        }
        (RuleConfig::BollingerBands(c), Val::Bands(p), Val::Bands(v)) => {
            let fires = match (c.event, c.band) {
                (BandEvent::Touch, Band::Upper) => cur.high >= v.upper && prev.high < p.upper,
                (BandEvent::Touch, Band::Lower) => cur.low <= v.lower && prev.low > p.lower,
                (BandEvent::Break, Band::Upper) => cur.close > v.upper,
                (BandEvent::Break, Band::Lower) => cur.close < v.lower,
            };
            fires.then(|| vec![("upper", v.upper), ("middle", v.middle), ("lower", v.lower)])
        }
        _ => None,
    }
}

impl Engine {
    /// Indicator instances held (shared by the rules with the same symbol,
    /// interval and parameters).
    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    pub(super) fn attach_indicator(&mut self, slot: u32) {
        let sl = self.slots.at_mut(slot);
        sl.home = Home::Indicator;
        sl.state = State::Dead;
        let symbol = sl.symbol;
        let Some((interval, p)) = params(&sl.config) else {
            return;
        };
        let key = (symbol, interval, p);
        let inst = match self.inst_index.get(&key) {
            Some(&i) => i,
            None => {
                let Some(ind) = new_ind(p) else {
                    return;
                };
                let i = self.instances.insert(Instance {
                    symbol,
                    interval,
                    params: p,
                    ind,
                    last_open: i64::MIN,
                    prev: None,
                    cur: None,
                    rules: Vec::new(),
                });
                self.inst_index.insert(key, i);
                self.series_instances
                    .entry((symbol, interval))
                    .or_default()
                    .push(i);
                i
            }
        };
        self.instances.at_mut(inst).rules.push(slot);
        let sl = self.slots.at_mut(slot);
        sl.home_idx = inst;
        sl.state = State::Listed;
    }

    pub(super) fn detach_indicator(&mut self, slot: u32, inst: u32) {
        let i = self.instances.at_mut(inst);
        if let Some(pos) = i.rules.iter().position(|&s| s == slot) {
            i.rules.swap_remove(pos);
        }
        if !i.rules.is_empty() {
            return;
        }
        let i = self.instances.remove(inst).expect("live instance");
        self.inst_index.remove(&(i.symbol, i.interval, i.params));
        let series = (i.symbol, i.interval);
        if let Some(list) = self.series_instances.get_mut(&series) {
            list.retain(|&x| x != inst);
            if list.is_empty() {
                self.series_instances.remove(&series);
            }
        }
        self.slots.at_mut(slot).home_idx = NONE_IDX;
    }

    pub(super) fn indicator_ready(&self, inst: u32) -> bool {
        self.instances.get(inst).is_some_and(|i| i.prev.is_some())
    }

    pub(super) fn indicator_needs(&self, needs: &mut FxHashMap<(u32, Interval), usize>) {
        for (_, inst) in self.instances.iter() {
            if inst.prev.is_none() {
                let n = needs.entry((inst.symbol, inst.interval)).or_default();
                *n = (*n).max(warmup_bars(inst));
            }
        }
    }

    /// Feeds a closed candle to the instances of (`s`, `interval`) and,
    /// with `out`, evaluates their rules.
    pub(super) fn indicator_step(
        &mut self,
        s: u32,
        interval: Interval,
        c: &Candle,
        mut out: Option<&mut Vec<Firing>>,
    ) {
        let Some(list) = self.series_instances.get_mut(&(s, interval)) else {
            return;
        };
        let list = mem::take(list);
        let ts = c.close_time();
        for &ii in &list {
            let inst = self.instances.at_mut(ii);
            if c.open_time <= inst.last_open {
                continue;
            }
            inst.last_open = c.open_time;
            let Some(val) = inst.ind.update(c.close) else {
                continue;
            };
            let sample = Sample {
                val,
                high: c.high,
                low: c.low,
                close: c.close,
            };
            inst.prev = inst.cur.replace(sample);
            let Some(prev) = inst.prev else {
                continue;
            };
            let Some(out) = out.as_deref_mut() else {
                continue;
            };
            let rules = mem::take(&mut inst.rules);
            for &slot in &rules {
                let sl = self.slots.at(slot);
                if sl.expires_at <= ts || ts < sl.rearm_at {
                    continue;
                }
                if let Some(values) = holds(&sl.config, &prev, &sample) {
                    self.fire(slot, ts, c.close, Some(prev.close), values, out);
                    if self.slots.at(slot).rearm_at == i64::MAX {
                        self.doomed.push(slot);
                    }
                }
            }
            self.instances.at_mut(ii).rules = rules;
        }
        self.series_instances.insert((s, interval), list);
    }
}
