//! The in-memory evaluation engine. See the crate documentation for the
//! semantics; this module documents the data structures.
//!
//! # Threshold index
//!
//! Tick rules with a price level (`price_threshold`, `price_alert`,
//! `channel`) live in two ordered sets per symbol, `up` and `down`, of
//! entries `(key << 32) | slot` where `key` is an exact order-preserving
//! `u64` encoding of an `f64` ([`price_key`]) and `slot` the rule's slab
//! slot. An `up` entry at key K is visited by a tick moving from k0 up to
//! k1 when `k0 < K <= k1`; a `down` entry when `k1 <= K < k0`. Strict
//! operators use the neighbouring key (`> T` is `>= next float after T`).
//!
//! - Edge rules (crossings, channel entering/exiting) sit at fixed
//!   entries for as long as they are armed.
//! - A level rule (`>=`, `<`, channel inside/outside, price_alert) whose
//!   condition is false sits at the edge where it becomes true. When a tick
//!   reaches it, it fires or, if the tick jumped past its condition, moves
//!   to its new edge.
//! - A new or re-armed level rule goes to the symbol's `pending` list and
//!   is evaluated on the symbol's next tick.
//! - A rule that fired leaves the sets for the symbol's re-arm queue,
//!   keyed by the first feed time it may fire again. An edge rule
//!   throttled for at most a second (`every_time` crossings) keeps its
//!   entries instead, and a visit skips it until it re-arms: it needs a
//!   fresh crossing anyway, and this saves two tree updates per firing.
//!
//! Every visited rule is checked with the same condition function as the
//! naive engine, so the index only has to visit a superset of the rules
//! that fire. Each symbol also keeps a *band*: an open key interval around
//! the last price that holds no entry of either set. A tick inside the band
//! (with nothing pending or due) costs a hash lookup and two comparisons.

use std::collections::{BTreeSet, VecDeque};
use std::mem;

use hashbrown::HashTable;
use rustc_hash::FxHashMap;
use tradehook_feeds::{Candle, FeedEvent, Interval};

use crate::model::{
    AlertCondition, ChannelEvent, Frequency, MoveDirection, Operator, PercentMove, Rule,
    RuleConfig, RuleType, effective_frequency, rearm_at,
};
use crate::pool::Pool;

mod indicator;

use indicator::{InstKey, Instance};

/// One firing of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub rule_id: String,
    pub symbol: String,
    pub rule_type: RuleType,
    /// The exactly-once window of the firing (see the crate docs).
    pub window_start: i64,
    pub window_end: i64,
    /// The price that fired: the tick's price, or the candle's close.
    pub price: f64,
    /// The previous tick's price, or the previous close.
    pub prev_price: Option<f64>,
    /// Indicator values at the firing, e.g. `("rsi", 71.2)`.
    pub indicators: Vec<(&'static str, f64)>,
    /// The tick's time, or the candle's close time (last ms of the bar).
    pub feed_ts: i64,
}

/// History a series needs before its rules can evaluate: feed `bars`
/// closed candles of (`symbol`, `interval`) to [`Engine::warm`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WarmupNeed {
    pub symbol: String,
    pub interval: Interval,
    pub bars: usize,
}

/// An exact, order-preserving encoding of an `f64` as a `u64`:
/// `a < b` iff `price_key(a) < price_key(b)` for non-NaN values (except
/// that −0 and +0 get neighbouring keys), and adjacent floats get adjacent
/// keys.
#[inline]
pub fn price_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

#[inline]
fn entry(key: u64, slot: u32) -> u128 {
    ((key as u128) << 32) | slot as u128
}

#[inline]
fn entry_slot(e: u128) -> u32 {
    e as u32
}

#[inline]
fn entry_key(e: u128) -> u64 {
    (e >> 32) as u64
}

/// An edge rule throttled for at most this long after a firing keeps its
/// entries (a visit skips it until it re-arms) instead of leaving for the
/// re-arm queue and coming back: cheaper for `every_time` crossings.
const SHORT_THROTTLE_MS: i64 = 1_000;

const UP: u8 = 1;
const DOWN: u8 = 2;
const NONE_IDX: u32 = u32::MAX;

/// Where a rule lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// The symbol's threshold index.
    Tick,
    /// A percent-move series (`home_idx`).
    Percent,
    /// A close series (`home_idx`), evaluated on closed candles.
    Close,
    /// An indicator instance (`home_idx`).
    Indicator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the index / percent sets (per `placed`).
    Placed,
    /// In the symbol's pending list.
    Pending,
    /// In the symbol's re-arm queue at `rearm_at`.
    Throttled,
    /// Evaluated by its series (close and indicator rules).
    Listed,
    /// Expired or unusable: held (for `remove`) but never evaluated.
    Dead,
}

/// A rule in the slab. Kept small: 1M of them must fit in 200 MB with
/// their index entries.
struct Slot {
    /// A `rul_<32 hex>` id as a u128 (high, low), or 0 with `str_id`.
    id: [u64; 2],
    config: RuleConfig,
    created_at: i64,
    cooldown_ms: i64,
    /// `i64::MAX`: never.
    expires_at: i64,
    /// First feed time the rule may fire; `i64::MIN` when armed.
    rearm_at: i64,
    symbol: u32,
    home_idx: u32,
    /// The percent series of a bar-close percent_move rule.
    aux: u32,
    frequency: Frequency,
    home: Home,
    state: State,
    placed: u8,
    str_id: bool,
}

/// The shape of a tick rule in the index.
#[derive(Clone, Copy)]
struct Shape {
    up: u64,
    down: u64,
    /// Level rules move between edges; edge rules stay at both keys.
    level: bool,
}

fn shape(config: &RuleConfig) -> Shape {
    let s = |up: u64, down: u64, level: bool| Shape { up, down, level };
    match config {
        RuleConfig::PriceThreshold(c) => {
            let k = price_key(c.threshold);
            match c.operator {
                Operator::Gte => s(k, 0, true),
                Operator::Gt => s(k + 1, 0, true),
                Operator::Lte => s(0, k, true),
                Operator::Lt => s(0, k - 1, true),
                Operator::CrossingUp => s(k, 0, false),
                Operator::CrossingDown => s(0, k, false),
                Operator::Crossing => s(k, k, false),
            }
        }
        RuleConfig::PriceAlert(c) => {
            let k = price_key(c.target_price);
            match c.condition {
                AlertCondition::Above => s(k, 0, true),
                AlertCondition::Below => s(0, k, true),
            }
        }
        RuleConfig::Channel(c) => {
            let (l, u) = (price_key(c.lower), price_key(c.upper));
            match c.event {
                ChannelEvent::Inside => s(l, u, true),
                ChannelEvent::Outside => s(u + 1, l - 1, true),
                ChannelEvent::Entering => s(l, u, false),
                ChannelEvent::Exiting => s(u + 1, l - 1, false),
            }
        }
        _ => s(0, 0, false),
    }
}

/// Which entries an armed rule has at price `p`: edge rules both of their
/// keys, level rules (whose condition is false at `p`) the edge where it
/// becomes true.
fn sides(config: &RuleConfig, p: f64) -> u8 {
    match config {
        RuleConfig::PriceThreshold(c) => match c.operator {
            Operator::Gte | Operator::Gt | Operator::CrossingUp => UP,
            Operator::Lte | Operator::Lt | Operator::CrossingDown => DOWN,
            Operator::Crossing => UP | DOWN,
        },
        RuleConfig::PriceAlert(c) => match c.condition {
            AlertCondition::Above => UP,
            AlertCondition::Below => DOWN,
        },
        RuleConfig::Channel(c) => match c.event {
            ChannelEvent::Inside if p < c.lower => UP,
            ChannelEvent::Inside if p > c.upper => DOWN,
            ChannelEvent::Inside => 0,
            _ => UP | DOWN,
        },
        _ => 0,
    }
}

/// Whether a tick rule fires for a move from `prev` to `cur`. The naive
/// engine uses the same function.
pub(crate) fn tick_holds(config: &RuleConfig, prev: Option<f64>, cur: f64) -> bool {
    match config {
        RuleConfig::PriceThreshold(c) => c.operator.holds(c.threshold, prev, cur),
        RuleConfig::PriceAlert(c) => c.holds(cur),
        RuleConfig::Channel(c) => c.holds(prev, cur),
        _ => false,
    }
}

fn percent_holds(c: &PercentMove, up_pct: f64, down_pct: f64) -> bool {
    match c.direction {
        MoveDirection::Up => up_pct >= c.percent,
        MoveDirection::Down => down_pct >= c.percent,
        MoveDirection::Either => up_pct >= c.percent || down_pct >= c.percent,
    }
}

/// Parses `rul_<32 lowercase hex>`; other ids are stored as strings.
fn parse_id(id: &str) -> Option<[u64; 2]> {
    let hex = id.strip_prefix("rul_")?;
    if hex.len() != 32
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let v = u128::from_str_radix(hex, 16).ok()?;
    Some([(v >> 64) as u64, v as u64])
}

fn format_id(id: [u64; 2]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    s.push_str("rul_");
    for half in id {
        for i in (0..16).rev() {
            s.push(HEX[((half >> (i * 4)) & 0xf) as usize] as char);
        }
    }
    s
}

#[inline]
fn id_hash(id: [u64; 2]) -> u64 {
    (id[1] ^ id[0].rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

struct Sym {
    name: Box<str>,
    last: f64,
    last_key: u64,
    has_last: bool,
    /// No entry of `up` or `down` lies strictly between `band_lo` and
    /// `band_hi`, and the last price is inside, when `band_valid`.
    band_valid: bool,
    band_lo: u64,
    band_hi: u64,
    up: BTreeSet<u128>,
    down: BTreeSet<u128>,
    pending: Vec<u32>,
    rearm: BTreeSet<(i64, u32)>,
    next_rearm: i64,
    /// Percent series fed by this symbol's ticks.
    percent: Vec<u32>,
}

impl Sym {
    fn new(name: &str) -> Sym {
        Sym {
            name: name.into(),
            last: 0.0,
            last_key: 0,
            has_last: false,
            band_valid: false,
            band_lo: 0,
            band_hi: 0,
            up: BTreeSet::new(),
            down: BTreeSet::new(),
            pending: Vec::new(),
            rearm: BTreeSet::new(),
            next_rearm: i64::MAX,
            percent: Vec::new(),
        }
    }

    fn insert(&mut self, side: u8, key: u64, slot: u32) {
        let set = if side == UP {
            &mut self.up
        } else {
            &mut self.down
        };
        set.insert(entry(key, slot));
        if self.band_valid {
            if key <= self.last_key {
                self.band_lo = self.band_lo.max(key);
            }
            if key >= self.last_key {
                self.band_hi = self.band_hi.min(key);
            }
        }
    }

    fn recompute_band(&mut self) {
        if !self.has_last {
            self.band_valid = false;
            return;
        }
        let kc = self.last_key;
        let below = entry(kc, u32::MAX);
        let above = entry(kc, 0);
        let lo = self
            .up
            .range(..=below)
            .next_back()
            .into_iter()
            .chain(self.down.range(..=below).next_back())
            .map(|&e| entry_key(e))
            .max()
            .unwrap_or(0);
        let hi = self
            .up
            .range(above..)
            .next()
            .into_iter()
            .chain(self.down.range(above..).next())
            .map(|&e| entry_key(e))
            .min()
            .unwrap_or(u64::MAX);
        self.band_lo = lo;
        self.band_hi = hi;
        self.band_valid = true;
    }

    fn schedule(&mut self, at: i64, slot: u32) {
        self.rearm.insert((at, slot));
        self.next_rearm = self.next_rearm.min(at);
    }

    fn unschedule(&mut self, at: i64, slot: u32) {
        self.rearm.remove(&(at, slot));
        self.next_rearm = self.rearm.first().map_or(i64::MAX, |e| e.0);
    }
}

/// Ticks of one symbol over a rolling window, with monotonic deques for
/// the window's minimum and maximum, shared by the percent_move rules of
/// that (symbol, window).
struct PercentSeries {
    symbol: u32,
    window_ms: i64,
    /// Increasing prices: the front is the window's minimum.
    min_q: VecDeque<(i64, f64)>,
    /// Decreasing prices: the front is the window's maximum.
    max_q: VecDeque<(i64, f64)>,
    /// Armed tick-evaluated rules by `price_key(percent)`.
    up: BTreeSet<u128>,
    down: BTreeSet<u128>,
    refs: u32,
}

impl PercentSeries {
    fn push(&mut self, ts: i64, p: f64) {
        while self.min_q.back().is_some_and(|&(_, q)| q >= p) {
            self.min_q.pop_back();
        }
        self.min_q.push_back((ts, p));
        while self.max_q.back().is_some_and(|&(_, q)| q <= p) {
            self.max_q.pop_back();
        }
        self.max_q.push_back((ts, p));
        let from = ts.saturating_sub(self.window_ms);
        while self.min_q.front().is_some_and(|&(t, _)| t < from) {
            self.min_q.pop_front();
        }
        while self.max_q.front().is_some_and(|&(t, _)| t < from) {
            self.max_q.pop_front();
        }
    }

    /// (up %, down %, window min, window max) of `cur` against the window.
    fn moves(&self, cur: f64) -> Option<(f64, f64, f64, f64)> {
        let min = self.min_q.front()?.1;
        let max = self.max_q.front()?.1;
        if min <= 0.0 || max <= 0.0 {
            return None;
        }
        Some((
            (cur - min) / min * 100.0,
            (max - cur) / max * 100.0,
            min,
            max,
        ))
    }
}

/// The closes of one (symbol, interval), for candle_close rules and the
/// bar-close evaluation of tick rules.
struct CloseSeries {
    symbol: u32,
    interval: Interval,
    last_open: i64,
    last_close: Option<f64>,
    rules: Vec<u32>,
}

/// The rule engine. Single-threaded and synchronous: shard symbols across
/// engines to use more cores.
pub struct Engine {
    sym_ids: FxHashMap<Box<str>, u32>,
    syms: Vec<Sym>,
    slots: Pool<Slot>,
    ids: HashTable<u32>,
    str_ids: FxHashMap<Box<str>, u32>,
    str_names: FxHashMap<u32, Box<str>>,
    counts: [usize; 8],
    percent: Pool<PercentSeries>,
    percent_index: FxHashMap<(u32, u32), u32>,
    closes: Pool<CloseSeries>,
    close_index: FxHashMap<(u32, Interval), u32>,
    instances: Pool<Instance>,
    inst_index: FxHashMap<InstKey, u32>,
    /// The indicator instances of each (symbol, interval).
    series_instances: FxHashMap<(u32, Interval), Vec<u32>>,
    scratch: Vec<u32>,
    /// Rules to delete after the current evaluation loop.
    doomed: Vec<u32>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

enum Visit {
    Tick { prev: Option<f64> },
    Pending { prev: Option<f64> },
}

impl Engine {
    pub fn new() -> Self {
        Engine {
            sym_ids: FxHashMap::default(),
            syms: Vec::new(),
            slots: Pool::default(),
            ids: HashTable::new(),
            str_ids: FxHashMap::default(),
            str_names: FxHashMap::default(),
            counts: [0; 8],
            percent: Pool::default(),
            percent_index: FxHashMap::default(),
            closes: Pool::default(),
            close_index: FxHashMap::default(),
            instances: Pool::default(),
            inst_index: FxHashMap::default(),
            series_instances: FxHashMap::default(),
            scratch: Vec::new(),
            doomed: Vec::new(),
        }
    }

    /// Rules held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.len() == 0
    }

    /// Rules held per type, in [`RuleType::ALL`] order.
    pub fn count_by_type(&self) -> Vec<(RuleType, usize)> {
        RuleType::ALL
            .into_iter()
            .map(|t| (t, self.counts[t.index()]))
            .collect()
    }

    fn intern(&mut self, symbol: &str) -> u32 {
        if let Some(&s) = self.sym_ids.get(symbol) {
            return s;
        }
        let s = u32::try_from(self.syms.len()).expect("fewer than 2^32 symbols");
        self.syms.push(Sym::new(symbol));
        self.sym_ids.insert(symbol.into(), s);
        s
    }

    fn find(&self, id: &str) -> Option<u32> {
        match parse_id(id) {
            Some(h) => self
                .ids
                .find(id_hash(h), |&s| {
                    let sl = self.slots.at(s);
                    !sl.str_id && sl.id == h
                })
                .copied(),
            None => self.str_ids.get(id).copied(),
        }
    }

    fn rule_id(&self, slot: u32) -> String {
        let sl = self.slots.at(slot);
        if sl.str_id {
            self.str_names[&slot].to_string()
        } else {
            format_id(sl.id)
        }
    }

    /// Adds a rule, or replaces the rule with the same id. A replaced rule
    /// starts afresh (arming, baselines), keeping only what `rule` says
    /// (e.g. `last_fired_at`). A `once` rule that has already fired is
    /// not held.
    pub fn upsert(&mut self, rule: Rule) {
        self.remove(&rule.id);
        let frequency = effective_frequency(&rule.config, rule.frequency);
        let bar = rule.config.bar();
        let rearm = match rule.last_fired_at {
            Some(lf) => rearm_at(frequency, bar, rule.created_at, rule.cooldown_ms, lf),
            None => i64::MIN,
        };
        if rearm == i64::MAX {
            return;
        }
        let symbol = self.intern(&rule.symbol);
        let parsed = parse_id(&rule.id);
        let rule_type = rule.config.rule_type();
        let slot = self.slots.insert(Slot {
            id: parsed.unwrap_or([0, 0]),
            config: rule.config,
            created_at: rule.created_at,
            cooldown_ms: rule.cooldown_ms.max(0),
            expires_at: rule.expires_at.unwrap_or(i64::MAX),
            rearm_at: rearm,
            symbol,
            home_idx: NONE_IDX,
            aux: NONE_IDX,
            frequency,
            home: Home::Tick,
            state: State::Dead,
            placed: 0,
            str_id: parsed.is_none(),
        });
        match parsed {
            Some(h) => {
                let slots = &self.slots;
                self.ids
                    .insert_unique(id_hash(h), slot, |&s| id_hash(slots.at(s).id));
            }
            None => {
                self.str_ids.insert(rule.id.as_str().into(), slot);
                self.str_names.insert(slot, rule.id.into_boxed_str());
            }
        }
        self.counts[rule_type.index()] += 1;
        if rule.config.validate().is_err() {
            // Held so that `remove` finds it, never evaluated.
            return;
        }
        self.attach(slot);
    }

    /// Puts a new rule where it is evaluated.
    fn attach(&mut self, slot: u32) {
        let sl = self.slots.at(slot);
        let (symbol, config, frequency) = (sl.symbol, sl.config, sl.frequency);
        let throttled = sl.rearm_at != i64::MIN;
        let bar_close = frequency == Frequency::OncePerBarClose;
        match config {
            RuleConfig::PriceThreshold(_) | RuleConfig::PriceAlert(_) | RuleConfig::Channel(_)
                if !bar_close =>
            {
                self.slots.at_mut(slot).home = Home::Tick;
                if throttled {
                    self.throttle(slot);
                } else {
                    self.arm_tick(slot);
                }
            }
            RuleConfig::PercentMove(c) if !bar_close => {
                let ps = self.percent_series(symbol, c.window_seconds);
                let sl = self.slots.at_mut(slot);
                sl.home = Home::Percent;
                sl.home_idx = ps;
                if throttled {
                    self.throttle(slot);
                } else {
                    self.arm_percent(slot);
                }
            }
            RuleConfig::PercentMove(c) => {
                let ps = self.percent_series(symbol, c.window_seconds);
                self.slots.at_mut(slot).aux = ps;
                self.list_close(slot, symbol, Interval::M1);
            }
            RuleConfig::PriceThreshold(_) | RuleConfig::Channel(_) | RuleConfig::PriceAlert(_) => {
                self.list_close(slot, symbol, Interval::M1);
            }
            RuleConfig::CandleClose(c) => self.list_close(slot, symbol, c.interval),
            RuleConfig::MacdCross(_) | RuleConfig::Rsi(_) | RuleConfig::BollingerBands(_) => {
                self.attach_indicator(slot);
            }
        }
    }

    fn percent_series(&mut self, symbol: u32, window_seconds: u32) -> u32 {
        if let Some(&ps) = self.percent_index.get(&(symbol, window_seconds)) {
            self.percent.at_mut(ps).refs += 1;
            return ps;
        }
        let ps = self.percent.insert(PercentSeries {
            symbol,
            window_ms: i64::from(window_seconds) * 1000,
            min_q: VecDeque::new(),
            max_q: VecDeque::new(),
            up: BTreeSet::new(),
            down: BTreeSet::new(),
            refs: 1,
        });
        self.percent_index.insert((symbol, window_seconds), ps);
        self.syms[symbol as usize].percent.push(ps);
        ps
    }

    fn release_percent(&mut self, ps: u32) {
        let series = self.percent.at_mut(ps);
        series.refs -= 1;
        if series.refs == 0 {
            let series = self.percent.remove(ps).expect("live series");
            self.percent_index
                .remove(&(series.symbol, (series.window_ms / 1000) as u32));
            self.syms[series.symbol as usize]
                .percent
                .retain(|&p| p != ps);
        }
    }

    fn list_close(&mut self, slot: u32, symbol: u32, interval: Interval) {
        let cs = match self.close_index.get(&(symbol, interval)) {
            Some(&cs) => cs,
            None => {
                let cs = self.closes.insert(CloseSeries {
                    symbol,
                    interval,
                    last_open: i64::MIN,
                    last_close: None,
                    rules: Vec::new(),
                });
                self.close_index.insert((symbol, interval), cs);
                cs
            }
        };
        self.closes.at_mut(cs).rules.push(slot);
        let sl = self.slots.at_mut(slot);
        sl.home = Home::Close;
        sl.home_idx = cs;
        sl.state = State::Listed;
    }

    /// An armed tick rule enters the index: edge rules at their entries,
    /// level rules in the pending list (evaluated on the next tick).
    fn arm_tick(&mut self, slot: u32) {
        let sl = self.slots.at(slot);
        let sh = shape(&sl.config);
        let symbol = sl.symbol;
        if sh.level {
            self.syms[symbol as usize].pending.push(slot);
            let sl = self.slots.at_mut(slot);
            sl.state = State::Pending;
            sl.placed = 0;
        } else {
            let p = self.syms[symbol as usize].last;
            self.place(slot, p);
        }
    }

    /// Places a tick rule at its entries for price `p`.
    fn place(&mut self, slot: u32, p: f64) {
        let sl = self.slots.at_mut(slot);
        let sh = shape(&sl.config);
        let sides = sides(&sl.config, p);
        sl.placed = sides;
        sl.state = State::Placed;
        let sym = &mut self.syms[sl.symbol as usize];
        if sides & UP != 0 {
            sym.insert(UP, sh.up, slot);
        }
        if sides & DOWN != 0 {
            sym.insert(DOWN, sh.down, slot);
        }
    }

    fn unplace(&mut self, slot: u32) {
        let sl = self.slots.at_mut(slot);
        let placed = mem::take(&mut sl.placed);
        if placed == 0 {
            return;
        }
        match sl.home {
            Home::Tick => {
                let sh = shape(&sl.config);
                let sym = &mut self.syms[sl.symbol as usize];
                if placed & UP != 0 {
                    sym.up.remove(&entry(sh.up, slot));
                }
                if placed & DOWN != 0 {
                    sym.down.remove(&entry(sh.down, slot));
                }
            }
            Home::Percent => {
                let RuleConfig::PercentMove(c) = sl.config else {
                    unreachable!("percent home holds percent rules")
                };
                let series = self.percent.at_mut(sl.home_idx);
                let e = entry(price_key(c.percent), slot);
                series.up.remove(&e);
                series.down.remove(&e);
            }
            Home::Close | Home::Indicator => {}
        }
    }

    fn arm_percent(&mut self, slot: u32) {
        let sl = self.slots.at_mut(slot);
        let RuleConfig::PercentMove(c) = sl.config else {
            unreachable!("percent home holds percent rules")
        };
        let e = entry(price_key(c.percent), slot);
        let series = self.percent.at_mut(sl.home_idx);
        let mut placed = 0;
        if c.direction != MoveDirection::Down {
            series.up.insert(e);
            placed |= UP;
        }
        if c.direction != MoveDirection::Up {
            series.down.insert(e);
            placed |= DOWN;
        }
        sl.placed = placed;
        sl.state = State::Placed;
    }

    /// Moves a rule to its symbol's re-arm queue.
    fn throttle(&mut self, slot: u32) {
        let sl = self.slots.at_mut(slot);
        sl.state = State::Throttled;
        let (at, symbol) = (sl.rearm_at, sl.symbol);
        self.syms[symbol as usize].schedule(at, slot);
    }

    /// Removes a rule. Returns whether it was held.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.find(id) {
            Some(slot) => {
                self.delete(slot);
                true
            }
            None => false,
        }
    }

    fn delete(&mut self, slot: u32) {
        self.detach(slot);
        let sl = self.slots.remove(slot).expect("live slot");
        self.counts[sl.config.rule_type().index()] -= 1;
        if sl.str_id {
            if let Some(name) = self.str_names.remove(&slot) {
                self.str_ids.remove(&name);
            }
        } else if let Ok(e) = self.ids.find_entry(id_hash(sl.id), |&s| s == slot) {
            e.remove();
        }
    }

    /// Takes a rule out of every structure that refers to it.
    fn detach(&mut self, slot: u32) {
        let sl = self.slots.at(slot);
        let (state, home, symbol, home_idx, aux, rearm) = (
            sl.state,
            sl.home,
            sl.symbol,
            sl.home_idx,
            sl.aux,
            sl.rearm_at,
        );
        match state {
            State::Placed => self.unplace(slot),
            State::Pending => {
                let pending = &mut self.syms[symbol as usize].pending;
                if let Some(i) = pending.iter().position(|&s| s == slot) {
                    pending.swap_remove(i);
                }
            }
            State::Throttled => self.syms[symbol as usize].unschedule(rearm, slot),
            State::Listed | State::Dead => {}
        }
        match home {
            Home::Percent if home_idx != NONE_IDX => self.release_percent(home_idx),
            Home::Close if home_idx != NONE_IDX => {
                let cs = self.closes.at_mut(home_idx);
                if let Some(i) = cs.rules.iter().position(|&s| s == slot) {
                    cs.rules.remove(i);
                }
                if cs.rules.is_empty() {
                    let cs = self.closes.remove(home_idx).expect("live series");
                    self.close_index.remove(&(cs.symbol, cs.interval));
                }
            }
            Home::Indicator if home_idx != NONE_IDX => self.detach_indicator(slot, home_idx),
            _ => {}
        }
        if aux != NONE_IDX {
            self.release_percent(aux);
        }
        let sl = self.slots.at_mut(slot);
        sl.state = State::Dead;
        sl.home_idx = NONE_IDX;
        sl.aux = NONE_IDX;
    }

    /// Whether the rule can evaluate: its indicator has two values, or its
    /// close series a previous close. Tick rules are always ready.
    pub fn is_ready(&self, id: &str) -> bool {
        let Some(slot) = self.find(id) else {
            return false;
        };
        let sl = self.slots.at(slot);
        match sl.home {
            Home::Tick | Home::Percent => true,
            Home::Close => self
                .closes
                .get(sl.home_idx)
                .is_some_and(|cs| cs.last_close.is_some()),
            Home::Indicator => self.indicator_ready(sl.home_idx),
        }
    }

    /// A known last price of `symbol` (e.g. from storage) without firing:
    /// the baseline of the next tick's crossings.
    pub fn seed_price(&mut self, symbol: &str, price: f64, _ts: i64) {
        if !price.is_finite() {
            return;
        }
        let s = self.intern(symbol);
        let sym = &mut self.syms[s as usize];
        let k1 = price_key(price);
        if sym.has_last {
            // Level rules waiting at an edge the price jumps past must be
            // re-evaluated at the new price: they go back to pending.
            let mut scratch = mem::take(&mut self.scratch);
            scratch.clear();
            collect_range(sym, sym.last_key, k1, &mut scratch);
            for &slot in &scratch {
                let sl = self.slots.at(slot);
                if shape(&sl.config).level {
                    self.unplace(slot);
                    self.syms[s as usize].pending.push(slot);
                    self.slots.at_mut(slot).state = State::Pending;
                }
            }
            self.scratch = scratch;
        }
        let sym = &mut self.syms[s as usize];
        sym.last = price;
        sym.last_key = k1;
        sym.has_last = true;
        sym.recompute_band();
    }

    /// Feeds one event; firings are appended to `out`.
    pub fn on_event(&mut self, ev: &FeedEvent, out: &mut Vec<Firing>) {
        match ev {
            FeedEvent::Tick { symbol, price, ts } => self.on_tick(symbol, *price, *ts, out),
            FeedEvent::CandleClosed(c) => {
                if let Some(&s) = self.sym_ids.get(c.symbol.as_str()) {
                    self.on_closed(s, c.interval, c, Some(out));
                }
            }
            FeedEvent::CandleUpdate(_) | FeedEvent::CandleRevised(_) => {}
        }
    }

    /// Feeds history of closed candles (ascending open time) without
    /// firing. Candles at or before a series' last seen open time are
    /// skipped, so warming again after a restart is harmless.
    pub fn warm(&mut self, symbol: &str, interval: Interval, closed: &[Candle]) {
        let Some(&s) = self.sym_ids.get(symbol) else {
            return;
        };
        for c in closed {
            self.on_closed(s, interval, c, None);
        }
    }

    /// What the series of the held rules need before they can evaluate,
    /// one entry per (symbol, interval) with the most bars any needs.
    pub fn warmup_needs(&self) -> Vec<WarmupNeed> {
        let mut needs: FxHashMap<(u32, Interval), usize> = FxHashMap::default();
        for (_, cs) in self.closes.iter() {
            if cs.last_close.is_none() {
                let n = needs.entry((cs.symbol, cs.interval)).or_default();
                *n = (*n).max(1);
            }
        }
        self.indicator_needs(&mut needs);
        let mut out: Vec<WarmupNeed> = needs
            .into_iter()
            .map(|((s, interval), bars)| WarmupNeed {
                symbol: self.syms[s as usize].name.to_string(),
                interval,
                bars,
            })
            .collect();
        out.sort();
        out
    }

    #[inline]
    fn on_tick(&mut self, symbol: &str, price: f64, ts: i64, out: &mut Vec<Firing>) {
        if !price.is_finite() {
            return;
        }
        let s = match self.sym_ids.get(symbol) {
            Some(&s) => s,
            None => self.intern(symbol),
        };
        let k1 = price_key(price);
        let sym = &mut self.syms[s as usize];
        if sym.band_valid && ts < sym.next_rearm && sym.pending.is_empty() && sym.percent.is_empty()
        {
            let k0 = sym.last_key;
            if sym.band_lo < k0.min(k1) && k0.max(k1) < sym.band_hi {
                sym.last = price;
                sym.last_key = k1;
                return;
            }
        }
        self.tick_slow(s, price, k1, ts, out);
    }

    fn tick_slow(&mut self, s: u32, price: f64, k1: u64, ts: i64, out: &mut Vec<Firing>) {
        if ts >= self.syms[s as usize].next_rearm {
            self.rearm_due(s, ts);
        }
        let sym = &mut self.syms[s as usize];
        let prev = sym.has_last.then_some(sym.last);
        let k0 = sym.last_key;
        let in_band = sym.band_valid && sym.band_lo < k0.min(k1) && k0.max(k1) < sym.band_hi;
        sym.last = price;
        sym.last_key = k1;
        sym.has_last = true;
        if prev.is_some() && !in_band {
            let mut scratch = mem::take(&mut self.scratch);
            scratch.clear();
            let sym = &mut self.syms[s as usize];
            collect_range(sym, k0, k1, &mut scratch);
            sym.band_valid = false;
            for &slot in &scratch {
                self.visit(slot, Visit::Tick { prev }, price, ts, out);
            }
            self.scratch = scratch;
        }
        if !self.syms[s as usize].pending.is_empty() {
            let mut pending = mem::take(&mut self.syms[s as usize].pending);
            for &slot in &pending {
                self.visit(slot, Visit::Pending { prev }, price, ts, out);
            }
            pending.clear();
            let sym = &mut self.syms[s as usize];
            if sym.pending.is_empty() {
                sym.pending = pending;
            }
        }
        if !self.syms[s as usize].percent.is_empty() {
            self.percent_tick(s, prev, price, ts, out);
        }
        let sym = &mut self.syms[s as usize];
        if !sym.band_valid {
            sym.recompute_band();
        }
        self.flush_doomed();
    }

    fn rearm_due(&mut self, s: u32, ts: i64) {
        loop {
            let sym = &mut self.syms[s as usize];
            match sym.rearm.first() {
                Some(&(at, slot)) if at <= ts => {
                    sym.rearm.pop_first();
                    match self.slots.at(slot).home {
                        Home::Tick => self.arm_tick(slot),
                        Home::Percent => self.arm_percent(slot),
                        Home::Close | Home::Indicator => {}
                    }
                }
                _ => break,
            }
        }
        let sym = &mut self.syms[s as usize];
        sym.next_rearm = sym.rearm.first().map_or(i64::MAX, |e| e.0);
    }

    /// Evaluates a tick rule reached by a tick (or pending).
    fn visit(&mut self, slot: u32, how: Visit, price: f64, ts: i64, out: &mut Vec<Firing>) {
        let sl = self.slots.at(slot);
        let prev = match how {
            Visit::Tick { prev } | Visit::Pending { prev } => prev,
        };
        if sl.expires_at <= ts {
            self.unplace(slot);
            self.slots.at_mut(slot).state = State::Dead;
            return;
        }
        let level = shape(&sl.config).level;
        if ts >= sl.rearm_at && tick_holds(&sl.config, prev, price) {
            self.fire(slot, ts, price, prev, Vec::new(), out);
            let rearm = self.slots.at(slot).rearm_at;
            let stays = !level && rearm != i64::MAX && rearm - ts <= SHORT_THROTTLE_MS;
            if !stays {
                self.unplace(slot);
                self.after_fire_indexed(slot);
            }
        } else if level {
            self.unplace(slot);
            self.place(slot, price);
        } else if matches!(how, Visit::Pending { .. }) {
            self.place(slot, price);
        }
    }

    /// After a firing of a rule of the index or a percent series: a `once`
    /// rule goes, others wait for their re-arm time.
    fn after_fire_indexed(&mut self, slot: u32) {
        if self.slots.at(slot).rearm_at == i64::MAX {
            self.doomed.push(slot);
            self.slots.at_mut(slot).state = State::Dead;
        } else {
            self.throttle(slot);
        }
    }

    fn flush_doomed(&mut self) {
        while let Some(slot) = self.doomed.pop() {
            if self.slots.get(slot).is_some() {
                self.delete(slot);
            }
        }
    }

    /// Records a firing: appends it to `out` and sets the rule's re-arm
    /// time (`i64::MAX` for `once` rules).
    fn fire(
        &mut self,
        slot: u32,
        ts: i64,
        price: f64,
        prev: Option<f64>,
        indicators: Vec<(&'static str, f64)>,
        out: &mut Vec<Firing>,
    ) {
        let rule_id = self.rule_id(slot);
        let sl = self.slots.at_mut(slot);
        let bar = sl.config.bar();
        let (window_start, window_end) = sl.frequency.window(bar, sl.created_at, ts);
        sl.rearm_at = rearm_at(sl.frequency, bar, sl.created_at, sl.cooldown_ms, ts);
        out.push(Firing {
            rule_id,
            symbol: self.syms[sl.symbol as usize].name.to_string(),
            rule_type: sl.config.rule_type(),
            window_start,
            window_end,
            price,
            prev_price: prev,
            indicators,
            feed_ts: ts,
        });
    }

    fn percent_tick(
        &mut self,
        s: u32,
        prev: Option<f64>,
        price: f64,
        ts: i64,
        out: &mut Vec<Firing>,
    ) {
        let mut scratch = mem::take(&mut self.scratch);
        let n = self.syms[s as usize].percent.len();
        for i in 0..n {
            let Some(&ps) = self.syms[s as usize].percent.get(i) else {
                break;
            };
            let series = self.percent.at_mut(ps);
            series.push(ts, price);
            let Some((up, down, min, max)) = series.moves(price) else {
                continue;
            };
            for (dir, pct) in [(UP, up), (DOWN, down)] {
                if pct <= 0.0 {
                    continue;
                }
                let series = self.percent.at(ps);
                let set = if dir == UP { &series.up } else { &series.down };
                scratch.clear();
                scratch.extend(
                    set.range(..=entry(price_key(pct), u32::MAX))
                        .map(|&e| entry_slot(e)),
                );
                for &slot in &scratch {
                    let sl = self.slots.at(slot);
                    if sl.expires_at <= ts {
                        self.unplace(slot);
                        self.slots.at_mut(slot).state = State::Dead;
                        continue;
                    }
                    let RuleConfig::PercentMove(c) = sl.config else {
                        continue;
                    };
                    if ts >= sl.rearm_at && percent_holds(&c, up, down) {
                        self.unplace(slot);
                        let change = if up >= down { up } else { -down };
                        let ind = vec![
                            ("change_pct", change),
                            ("window_low", min),
                            ("window_high", max),
                        ];
                        self.fire(slot, ts, price, prev, ind, out);
                        self.after_fire_indexed(slot);
                    }
                }
            }
        }
        self.scratch = scratch;
    }

    /// A closed candle of (`s`, `interval`) for every series of it.
    /// `out: None` warms without firing.
    fn on_closed(
        &mut self,
        s: u32,
        interval: Interval,
        c: &Candle,
        mut out: Option<&mut Vec<Firing>>,
    ) {
        if let Some(&cs) = self.close_index.get(&(s, interval)) {
            self.close_step(cs, c, out.as_deref_mut());
        }
        self.indicator_step(s, interval, c, out);
        self.flush_doomed();
    }

    fn close_step(&mut self, cs: u32, c: &Candle, out: Option<&mut Vec<Firing>>) {
        let series = self.closes.at_mut(cs);
        if c.open_time <= series.last_open || !c.close.is_finite() {
            return;
        }
        series.last_open = c.open_time;
        let prev = series.last_close.replace(c.close);
        let Some(out) = out else {
            return;
        };
        let ts = c.close_time();
        let cur = c.close;
        let rules = mem::take(&mut self.closes.at_mut(cs).rules);
        for &slot in &rules {
            let sl = self.slots.at(slot);
            if sl.expires_at <= ts || ts < sl.rearm_at {
                continue;
            }
            let mut ind = Vec::new();
            let holds = match &sl.config {
                RuleConfig::CandleClose(cc) => cc.operator.holds(cc.value, prev, cur),
                RuleConfig::PercentMove(pm) => {
                    match self.percent.get(sl.aux).and_then(|ps| ps.moves(cur)) {
                        Some((up, down, min, max)) => {
                            let change = if up >= down { up } else { -down };
                            ind = vec![
                                ("change_pct", change),
                                ("window_low", min),
                                ("window_high", max),
                            ];
                            percent_holds(pm, up, down)
                        }
                        None => false,
                    }
                }
                config => tick_holds(config, prev, cur),
            };
            if holds {
                self.fire(slot, ts, cur, prev, ind, out);
                if self.slots.at(slot).rearm_at == i64::MAX {
                    self.doomed.push(slot);
                }
            }
        }
        self.closes.at_mut(cs).rules = rules;
    }
}

/// The entries a move from key `k0` to `k1` reaches.
fn collect_range(sym: &Sym, k0: u64, k1: u64, into: &mut Vec<u32>) {
    if k1 > k0 {
        into.extend(
            sym.up
                .range(entry(k0, u32::MAX) + 1..=entry(k1, u32::MAX))
                .map(|&e| entry_slot(e)),
        );
    } else if k1 < k0 {
        into.extend(
            sym.down
                .range(entry(k1, 0)..entry(k0, 0))
                .map(|&e| entry_slot(e)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million rules must fit in 200 MB with their index entries: the
    /// slab slot is the bulk of it.
    #[test]
    fn slots_stay_small() {
        assert!(mem::size_of::<Slot>() <= 96, "{}", mem::size_of::<Slot>());
        assert_eq!(mem::size_of::<Option<Slot>>(), mem::size_of::<Slot>());
    }

    #[test]
    fn rule_ids_round_trip_through_u128() {
        for id in [
            "rul_0192f5c2a1b2c3d4e5f60718293a4b5c",
            "rul_00000000000000000000000000000000",
            "rul_ffffffffffffffffffffffffffffffff",
        ] {
            assert_eq!(format_id(parse_id(id).unwrap()), id);
        }
        for other in [
            "rul_0192F5C2A1B2C3D4E5F60718293A4B5C",
            "rul_0192f5c2",
            "key_0192f5c2a1b2c3d4e5f60718293a4b5c",
            "rul_0192f5c2a1b2c3d4e5f60718293a4b5cd",
            "rul_+192f5c2a1b2c3d4e5f60718293a4b5c",
        ] {
            assert!(parse_id(other).is_none(), "{other}");
        }
    }

    #[test]
    fn price_keys_preserve_order() {
        let xs = [
            -1e9,
            -1.0,
            -f64::MIN_POSITIVE,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            1.0 + f64::EPSILON,
            1e300,
        ];
        for w in xs.windows(2) {
            assert!(price_key(w[0]) < price_key(w[1]), "{w:?}");
        }
        assert_eq!(price_key(100f64.next_up()), price_key(100.0) + 1);
    }

    #[test]
    fn the_engine_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<Engine>();
    }
}
