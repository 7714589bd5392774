//! Turning a stream of "current bucket" updates into closed candles,
//! exactly once per (symbol, interval, open time).
//!
//! Hyperliquid sends the whole current bucket on every update and may or
//! may not send a final update for a finished bucket. A bucket is closed
//! when an update for a later bucket arrives, or when the clock passes its
//! end plus a grace period; never by waiting for a final frame. The
//! tracker remembers the last closed open time per series (restored from
//! storage at start), so a late or repeated frame never closes a bucket
//! twice, across reconnects and restarts.

use std::collections::HashMap;

use crate::interval::Interval;
use crate::types::{Candle, FeedEvent};

type Key = (String, Interval);

#[derive(Debug, Default)]
pub struct CandleTracker {
    grace_ms: i64,
    open: HashMap<Key, Candle>,
    last_closed: HashMap<Key, i64>,
}

impl CandleTracker {
    /// `grace_ms`: how long after a bucket's end the clock closes it if no
    /// later update came.
    pub fn new(grace_ms: i64) -> Self {
        CandleTracker {
            grace_ms,
            ..Self::default()
        }
    }

    /// Restores the newest closed open time of a series (from storage).
    pub fn set_last_closed(&mut self, symbol: &str, interval: Interval, open_time: i64) {
        let slot = self
            .last_closed
            .entry((symbol.to_string(), interval))
            .or_insert(open_time);
        *slot = (*slot).max(open_time);
    }

    pub fn last_closed(&self, symbol: &str, interval: Interval) -> Option<i64> {
        self.last_closed
            .get(&(symbol.to_string(), interval))
            .copied()
    }

    /// The open bucket of a series, if any.
    pub fn open_candle(&self, symbol: &str, interval: Interval) -> Option<&Candle> {
        self.open.get(&(symbol.to_string(), interval))
    }

    /// An update carrying the whole current bucket. Pushes a
    /// `CandleClosed` for the previous bucket when this one is later, then
    /// a `CandleUpdate`. Updates for closed or older buckets are ignored.
    pub fn on_update(&mut self, candle: Candle, out: &mut Vec<FeedEvent>) {
        let key = (candle.symbol.clone(), candle.interval);
        if self
            .last_closed
            .get(&key)
            .is_some_and(|last| candle.open_time <= *last)
        {
            return;
        }
        if let Some(previous) = self.open.get(&key) {
            if previous.open_time > candle.open_time {
                return;
            }
            if previous.open_time < candle.open_time {
                let previous = self.open.remove(&key).expect("present");
                self.close(previous, out);
            }
        }
        out.push(FeedEvent::CandleUpdate(candle.clone()));
        self.open.insert(key, candle);
    }

    /// Closes every open bucket whose end plus the grace period is before
    /// `now`.
    pub fn on_clock(&mut self, now: i64, out: &mut Vec<FeedEvent>) {
        let due: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, c)| c.close_time() + self.grace_ms < now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut closing: Vec<Candle> = due.iter().filter_map(|k| self.open.remove(k)).collect();
        closing.sort_by(|a, b| (a.open_time, &a.symbol).cmp(&(b.open_time, &b.symbol)));
        for candle in closing {
            self.close(candle, out);
        }
    }

    /// A candle known to be finished (from REST backfill). Pushes
    /// `CandleClosed` unless that bucket was already closed; returns
    /// whether it did. Feed these oldest first.
    pub fn on_closed(&mut self, candle: Candle, out: &mut Vec<FeedEvent>) -> bool {
        let key = (candle.symbol.clone(), candle.interval);
        if self
            .last_closed
            .get(&key)
            .is_some_and(|last| candle.open_time <= *last)
        {
            return false;
        }
        // A stale open bucket older than this one was missed: drop it; the
        // backfill delivers it (it comes before this one).
        if self
            .open
            .get(&key)
            .is_some_and(|open| open.open_time <= candle.open_time)
        {
            self.open.remove(&key);
        }
        self.close(candle, out);
        true
    }

    fn close(&mut self, candle: Candle, out: &mut Vec<FeedEvent>) {
        self.last_closed
            .insert((candle.symbol.clone(), candle.interval), candle.open_time);
        out.push(FeedEvent::CandleClosed(candle));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64, close: f64) -> Candle {
        Candle {
            symbol: "BTC".into(),
            interval: Interval::M1,
            open_time: t,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
            trades: 1,
        }
    }

    fn closed(out: &[FeedEvent]) -> Vec<i64> {
        out.iter()
            .filter_map(|e| match e {
                FeedEvent::CandleClosed(c) => Some(c.open_time),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_later_bucket_closes_the_previous_one_once() {
        let mut t = CandleTracker::new(2_000);
        let mut out = Vec::new();
        t.on_update(bar(0, 1.0), &mut out);
        t.on_update(bar(0, 2.0), &mut out);
        t.on_update(bar(60_000, 3.0), &mut out);
        t.on_update(bar(60_000, 4.0), &mut out);
        assert_eq!(closed(&out), vec![0]);
        let FeedEvent::CandleClosed(c) = &out[2] else {
            panic!("{out:?}")
        };
        assert_eq!(c.close, 2.0, "the last state of the bucket");
        // A late frame for the closed bucket changes nothing.
        out.clear();
        t.on_update(bar(0, 9.0), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_clock_closes_a_bucket_after_its_grace_period() {
        let mut t = CandleTracker::new(2_000);
        let mut out = Vec::new();
        t.on_update(bar(0, 1.0), &mut out);
        out.clear();
        t.on_clock(59_999 + 2_000, &mut out);
        assert!(out.is_empty(), "not before end + grace");
        t.on_clock(59_999 + 2_001, &mut out);
        assert_eq!(closed(&out), vec![0]);
        // Then the first frame of the next bucket does not close it again.
        out.clear();
        t.on_update(bar(60_000, 2.0), &mut out);
        assert_eq!(closed(&out), Vec::<i64>::new());
    }

    #[test]
    fn restored_state_prevents_closing_twice_across_restarts() {
        let mut t = CandleTracker::new(2_000);
        t.set_last_closed("BTC", Interval::M1, 60_000);
        let mut out = Vec::new();
        t.on_update(bar(60_000, 1.0), &mut out);
        assert!(out.is_empty());
        assert!(!t.on_closed(bar(0, 1.0), &mut out));
        assert!(t.on_closed(bar(120_000, 1.0), &mut out));
        assert_eq!(closed(&out), vec![120_000]);
    }

    #[test]
    fn backfilled_buckets_replace_a_stale_open_bucket() {
        let mut t = CandleTracker::new(2_000);
        let mut out = Vec::new();
        t.on_update(bar(0, 1.0), &mut out); // then the connection drops
        out.clear();
        assert!(t.on_closed(bar(0, 1.5), &mut out));
        assert!(t.on_closed(bar(60_000, 2.0), &mut out));
        t.on_update(bar(120_000, 3.0), &mut out);
        assert_eq!(closed(&out), vec![0, 60_000]);
        let FeedEvent::CandleClosed(c) = &out[0] else {
            panic!()
        };
        assert_eq!(c.close, 1.5, "the backfilled (complete) bar wins");
    }
}
