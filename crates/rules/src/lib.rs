//! Alert rules: the rule model with strict validation ([`model`]) and the
//! in-memory evaluation engine ([`Engine`]). Pure and synchronous: no
//! database, no async runtime. The server feeds the engine with
//! [`FeedEvent`](tradehook_feeds::FeedEvent)s and turns its [`Firing`]s
//! into deliveries; storage keeps the rules and the fired markers.
//!
//! # Semantics
//!
//! These are product decisions; the tests pin each of them.
//!
//! ## Bars and windows
//!
//! A rule's *bar* is its config interval when it has one (`candle_close`,
//! `macd_cross`, `rsi`, `bollinger_bands`), else 1m. Every firing carries
//! an exactly-once *window* `[window_start, window_end]` (inclusive Unix
//! ms), a pure function of the rule and the feed timestamp, so two
//! evaluators compute the same window and storage can keep one fired
//! marker per (rule, window):
//!
//! | frequency | window of a firing at feed time `ts` |
//! |---|---|
//! | `once` | `[created_at, i64::MAX]`: the rule's lifetime |
//! | `once_per_bar`, `once_per_bar_close` | the bar containing `ts`: `[start, start + interval − 1]` |
//! | `once_per_minute` | the minute containing `ts` |
//! | `every_time` | `[ts, ts]` |
//!
//! The feed time of a tick is its `ts`; of a closed candle, its close time
//! (the bar's last millisecond).
//!
//! ## Throttling, cooldown, expiry
//!
//! After a firing at `ts` a rule does not fire again in the same window,
//! nor before `ts + cooldown_ms`: it re-arms at
//! `max(window_end + 1, ts + cooldown_ms)`. A rule upserted with
//! `last_fired_at` is throttled the same way from that time. `once` rules
//! (and every `price_alert`, which is one-shot whatever its frequency)
//! leave the engine after firing; one upserted with `last_fired_at` set is
//! not held at all. A rule with `expires_at <= ts` never fires (it stays
//! held, inert, until removed). Crossings that happen while a rule is
//! throttled are not replayed when it re-arms.
//!
//! Feed times are assumed non-decreasing per symbol.
//!
//! ## Price rules on ticks
//!
//! - `crossing_up` fires when `prev < T <= cur`, `crossing_down` when
//!   `prev > T >= cur`, `crossing` on either. `prev` is the symbol's
//!   previous tick (or [`Engine::seed_price`]): a rule created while the
//!   price is unknown takes the first tick as its baseline, one created
//!   while it is known crosses relative to it. Reaching T exactly is a
//!   cross; staying at T and moving on is not another. A gap that jumps
//!   over several thresholds fires all of them.
//! - Level operators (`>=`, `>`, `<=`, `<`, `price_alert`
//!   above = `price >= target`, below = `price <= target`, channel
//!   `inside` / `outside`) are states: they fire on every tick where the
//!   condition holds and the rule is armed. A rule whose condition already
//!   holds when created fires on the next tick; when its throttle ends it
//!   fires on the next tick if the condition still holds.
//! - `channel` bounds are inside (`lower <= p <= upper`). `entering` fires
//!   when the previous price was outside and the current one inside,
//!   `exiting` the reverse; a gap over the whole channel is neither.
//! - `percent_move` keeps, per (symbol, `window_seconds`), the ticks of the
//!   last `window_seconds` (those with `t >= ts − window`), with monotonic
//!   deques for their minimum and maximum. `up` fires when
//!   `(cur − min) / min × 100 >= percent`, `down` when
//!   `(max − cur) / max × 100 >= percent`, `either` on both. It is a
//!   state: while the move holds it fires as often as its frequency lets.
//! - With `once_per_bar_close`, `price_threshold`, `channel` and
//!   `percent_move` are not evaluated on ticks but on each closed 1m
//!   candle, with `cur` = the close and `prev` = the previous close (for
//!   `percent_move`, the close against the rolling window of ticks).
//!
//! ## Rules on closed candles
//!
//! Closed candles of a rule's interval evaluate `candle_close` (its
//! operator on the close; crossings against the previous close) and the
//! indicator rules. A closed candle whose open time is at or before the
//! last one a series has seen is ignored, so history can be replayed.
//! [`FeedEvent::CandleUpdate`](tradehook_feeds::FeedEvent::CandleUpdate)
//! is ignored and a `CandleRevised` never fires anything (nor feeds the
//! series: rules already saw that close).
//!
//! Indicator rules share one indicator instance per (symbol, interval,
//! parameters), counted by reference and dropped with its last rule. A
//! rule evaluates only once its indicator has produced two values (every
//! condition compares with the previous bar), so warm-up never fires.
//!
//! - `macd_cross` bullish: the MACD line crosses above its signal
//!   (`prev macd <= prev signal && macd > signal`); bearish the reverse.
//! - `rsi` overbought fires on the bar RSI crosses above the threshold
//!   (`prev <= T < cur`), oversold on the bar it crosses below
//!   (`prev >= T > cur`).
//! - `bollinger_bands` touch upper fires on the bar whose high reaches the
//!   upper band when the previous bar's high was below its own upper band
//!   (lower: low <= lower band, previous low above it); break fires on
//!   every bar closing beyond the band (close > upper, close < lower),
//!   throttled by the frequency.
//!
//! Warm-up: [`Engine::warmup_needs`] lists the (symbol, interval) series
//! not yet initialised with the number of closed bars to fetch: 1 for a
//! close series; for an indicator its lookback + 2 (two values), plus 10
//! periods for RSI (10 × period) and MACD (10 × (slow + signal)) so that
//! their exponential smoothing has converged to what a longer history
//! gives, at most 5000. [`Engine::warm`] feeds them through the same path
//! as live candles without firing; live closed candles warm a series just
//! as well. Call `warm` right after adding rules: a series that has seen
//! live candles skips older history.
//!
//! # Performance
//!
//! Threshold rules (`price_threshold`, `price_alert`, `channel`) live in
//! per-symbol ordered indexes keyed by an exact integer encoding of the
//! price ([`price_key`]): a tick from p0 to p1 visits only the entries
//! between them, and a tick that stays between the nearest entries costs a
//! hash lookup and a few comparisons. See [`engine`] for the structures
//! and `benches/engine.rs` for the figures. [`NaiveEngine`] scans every
//! rule of the symbol per tick, as the baseline and the test oracle.

pub mod engine;
pub mod model;
pub mod naive;
mod pool;

pub use engine::{Engine, Firing, WarmupNeed, price_key};
pub use model::{FieldError, Frequency, Rule, RuleConfig, RuleType};
pub use naive::NaiveEngine;
