//! Tick-driven rules: price_threshold, price_alert, channel, percent_move,
//! candle_close, the frequencies, cooldowns, expiry, replace and remove.

mod common;

use common::*;
use serde_json::json;
use tradehook_feeds::{FeedEvent, Interval};
use tradehook_rules::{Engine, Frequency, RuleType};

fn threshold(n: u32, op: &str, t: f64, f: Frequency) -> tradehook_rules::Rule {
    rule(
        n,
        "BTC",
        "price_threshold",
        json!({"operator": op, "threshold": t}),
        f,
    )
}

#[test]
fn greater_or_equal_is_level_triggered() {
    let mut e = Engine::new();
    e.upsert(threshold(1, ">=", 100.0, Frequency::EveryTime));
    assert!(tick(&mut e, "BTC", 90.0, T0).is_empty());
    let f = tick(&mut e, "BTC", 100.0, T0 + 1);
    assert_eq!(ids(&f), [id(1)], "equality satisfies >=");
    assert_eq!(f[0].price, 100.0);
    assert_eq!(f[0].prev_price, Some(90.0));
    assert_eq!(f[0].rule_type, RuleType::PriceThreshold);
    assert_eq!((f[0].window_start, f[0].window_end), (T0 + 1, T0 + 1));
    assert_eq!(f[0].feed_ts, T0 + 1);
    assert_eq!(f[0].symbol, "BTC");
    // Level: fires again on every tick while it holds (every_time).
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0, T0 + 2)), [id(1)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 150.0, T0 + 3)), [id(1)]);
    assert!(tick(&mut e, "BTC", 99.99, T0 + 4).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 100.01, T0 + 5)), [id(1)]);
}

#[test]
fn strict_operators_exclude_equality() {
    let mut e = Engine::new();
    e.upsert(threshold(1, ">", 100.0, Frequency::EveryTime));
    e.upsert(threshold(2, "<", 100.0, Frequency::EveryTime));
    e.upsert(threshold(3, "<=", 100.0, Frequency::EveryTime));
    assert_eq!(ids(&tick(&mut e, "BTC", 90.0, T0)), [id(2), id(3)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0, T0 + 1)), [id(3)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0000001, T0 + 2)), [id(1)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0, T0 + 3)), [id(3)]);
    assert_eq!(
        ids(&tick(&mut e, "BTC", 99.9999999, T0 + 4)),
        [id(2), id(3)]
    );
    // The next float above 100 is > 100.
    let next = f64::from_bits(100f64.to_bits() + 1);
    assert_eq!(ids(&tick(&mut e, "BTC", next, T0 + 5)), [id(1)]);
}

#[test]
fn crossing_up_needs_a_fresh_cross_and_equality_counts() {
    let mut e = Engine::new();
    e.upsert(threshold(1, "crossing_up", 100.0, Frequency::EveryTime));
    // The first tick is the baseline: already above is not a cross.
    assert!(tick(&mut e, "BTC", 105.0, T0).is_empty());
    assert!(tick(&mut e, "BTC", 106.0, T0 + 1).is_empty());
    assert!(tick(&mut e, "BTC", 95.0, T0 + 2).is_empty());
    // Reaching T exactly counts as a cross...
    let f = tick(&mut e, "BTC", 100.0, T0 + 3);
    assert_eq!(ids(&f), [id(1)]);
    assert_eq!(f[0].prev_price, Some(95.0));
    // ...staying at T and moving on does not cross again.
    assert!(tick(&mut e, "BTC", 100.0, T0 + 4).is_empty());
    assert!(tick(&mut e, "BTC", 101.0, T0 + 5).is_empty());
    // Back to T from above and up again: T is not below T, no cross.
    assert!(tick(&mut e, "BTC", 100.0, T0 + 6).is_empty());
    assert!(tick(&mut e, "BTC", 100.5, T0 + 7).is_empty());
    assert!(tick(&mut e, "BTC", 99.0, T0 + 8).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 120.0, T0 + 9)), [id(1)]);
}

#[test]
fn crossing_down_and_crossing_either_way() {
    let mut e = Engine::new();
    e.upsert(threshold(1, "crossing_down", 100.0, Frequency::EveryTime));
    e.upsert(threshold(2, "crossing", 100.0, Frequency::EveryTime));
    assert!(tick(&mut e, "BTC", 110.0, T0).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0, T0 + 1)), [id(1), id(2)]);
    assert!(
        tick(&mut e, "BTC", 90.0, T0 + 2).is_empty(),
        "moving on from T"
    );
    assert_eq!(ids(&tick(&mut e, "BTC", 101.0, T0 + 3)), [id(2)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 99.0, T0 + 4)), [id(1), id(2)]);
    assert!(tick(&mut e, "BTC", 99.0, T0 + 5).is_empty());
}

#[test]
fn a_gap_fires_every_threshold_it_jumps() {
    let mut e = Engine::new();
    for (n, t) in [(1, 101.0), (2, 102.0), (3, 103.0), (4, 110.0)] {
        e.upsert(threshold(n, "crossing_up", t, Frequency::EveryTime));
    }
    e.upsert(threshold(5, ">=", 104.0, Frequency::EveryTime));
    e.upsert(threshold(6, "crossing_down", 102.5, Frequency::EveryTime));
    assert!(tick(&mut e, "BTC", 100.0, T0).is_empty());
    assert_eq!(
        ids(&tick(&mut e, "BTC", 105.0, T0 + 1)),
        [id(1), id(2), id(3), id(5)]
    );
    assert_eq!(ids(&tick(&mut e, "BTC", 90.0, T0 + 2)), [id(6)]);
    assert_eq!(
        ids(&tick(&mut e, "BTC", 200.0, T0 + 3)),
        [id(1), id(2), id(3), id(4), id(5)]
    );
}

#[test]
fn a_rule_created_before_any_price_takes_the_first_tick_as_baseline() {
    let mut e = Engine::new();
    e.upsert(threshold(1, "crossing", 100.0, Frequency::EveryTime));
    assert!(tick(&mut e, "BTC", 120.0, T0).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 80.0, T0 + 1)), [id(1)]);
    // A rule created while the price is known crosses relative to it.
    e.upsert(threshold(2, "crossing_up", 90.0, Frequency::EveryTime));
    assert_eq!(ids(&tick(&mut e, "BTC", 95.0, T0 + 2)), [id(2)]);
}

#[test]
fn a_level_rule_already_true_fires_on_the_next_tick() {
    let mut e = Engine::new();
    // No price known yet: the first tick decides.
    e.upsert(threshold(1, ">=", 100.0, Frequency::OncePerMinute));
    assert_eq!(ids(&tick(&mut e, "BTC", 110.0, T0)), [id(1)]);
    // Price known and already above: fires on the next tick, without a
    // cross.
    e.upsert(threshold(2, ">", 100.0, Frequency::OncePerMinute));
    e.upsert(threshold(3, "<", 50.0, Frequency::OncePerMinute));
    assert_eq!(ids(&tick(&mut e, "BTC", 110.0, T0 + 1_000)), [id(2)]);
    // Created true but false at the next tick: no firing; it waits.
    e.upsert(threshold(4, "<=", 115.0, Frequency::OncePerMinute));
    assert!(tick(&mut e, "BTC", 116.0, T0 + 2_000).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 114.0, T0 + 3_000)), [id(4)]);
}

#[test]
fn level_rules_rearm_when_their_window_ends() {
    let mut e = Engine::new();
    e.upsert(threshold(1, ">=", 100.0, Frequency::OncePerMinute));
    let f = tick(&mut e, "BTC", 110.0, T0 + 5_000);
    assert_eq!(ids(&f), [id(1)]);
    assert_eq!((f[0].window_start, f[0].window_end), (T0, T0 + MIN - 1));
    assert!(tick(&mut e, "BTC", 111.0, T0 + 30_000).is_empty());
    assert!(tick(&mut e, "BTC", 112.0, T0 + MIN - 1).is_empty());
    // The next minute: re-armed, still true, fires on the next tick.
    let f = tick(&mut e, "BTC", 113.0, T0 + MIN);
    assert_eq!(ids(&f), [id(1)]);
    assert_eq!(f[0].window_start, T0 + MIN);
    // Re-armed while false: waits for the condition.
    assert!(tick(&mut e, "BTC", 90.0, T0 + 2 * MIN).is_empty());
    assert!(tick(&mut e, "BTC", 95.0, T0 + 2 * MIN + 1).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0, T0 + 2 * MIN + 2)), [id(1)]);
}

#[test]
fn once_fires_once_then_leaves_the_engine() {
    let mut e = Engine::new();
    let mut r = threshold(1, "crossing", 100.0, Frequency::Once);
    r.created_at = T0 - 42;
    e.upsert(r);
    assert_eq!(e.len(), 1);
    tick(&mut e, "BTC", 90.0, T0);
    let f = tick(&mut e, "BTC", 100.0, T0 + 1);
    assert_eq!(ids(&f), [id(1)]);
    assert_eq!((f[0].window_start, f[0].window_end), (T0 - 42, i64::MAX));
    assert_eq!(e.len(), 0);
    assert!(!e.remove(&id(1)));
    assert!(tick(&mut e, "BTC", 90.0, T0 + 2).is_empty());
    assert!(tick(&mut e, "BTC", 100.0, T0 + 3).is_empty());
    // A once rule that already fired (loaded from storage) is not held.
    let mut r = threshold(2, ">=", 1.0, Frequency::Once);
    r.last_fired_at = Some(T0);
    e.upsert(r);
    assert_eq!(e.len(), 0);
}

#[test]
fn once_per_bar_uses_the_one_minute_bar_for_tick_rules() {
    let mut e = Engine::new();
    e.upsert(threshold(1, "crossing", 100.0, Frequency::OncePerBar));
    tick(&mut e, "BTC", 90.0, T0);
    let f = tick(&mut e, "BTC", 110.0, T0 + 10_000);
    assert_eq!((f[0].window_start, f[0].window_end), (T0, T0 + MIN - 1));
    assert!(
        tick(&mut e, "BTC", 90.0, T0 + 20_000).is_empty(),
        "same bar"
    );
    assert!(
        tick(&mut e, "BTC", 110.0, T0 + 30_000).is_empty(),
        "same bar"
    );
    // A crossing missed while throttled is not replayed after.
    assert!(tick(&mut e, "BTC", 111.0, T0 + MIN).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 95.0, T0 + MIN + 1)), [id(1)]);
}

#[test]
fn once_per_bar_close_evaluates_tick_rules_on_the_close() {
    let mut e = Engine::new();
    e.upsert(threshold(
        1,
        "crossing_up",
        100.0,
        Frequency::OncePerBarClose,
    ));
    e.upsert(threshold(2, ">=", 100.0, Frequency::OncePerBarClose));
    // Ticks never fire them.
    assert!(tick(&mut e, "BTC", 90.0, T0).is_empty());
    assert!(tick(&mut e, "BTC", 120.0, T0 + 1).is_empty());
    assert!(!e.is_ready(&id(1)), "needs a previous close");
    assert_eq!(e.warmup_needs().len(), 1);
    assert!(closed(&mut e, candle("BTC", Interval::M1, T0 - MIN, 95.0)).is_empty());
    assert!(e.is_ready(&id(1)));
    assert!(e.warmup_needs().is_empty());
    let f = closed(&mut e, candle("BTC", Interval::M1, T0, 101.0));
    assert_eq!(ids(&f), [id(1), id(2)]);
    let f1 = f.iter().find(|f| f.rule_id == id(1)).unwrap();
    assert_eq!(f1.price, 101.0);
    assert_eq!(f1.prev_price, Some(95.0));
    assert_eq!((f1.window_start, f1.window_end), (T0, T0 + MIN - 1));
    assert_eq!(f1.feed_ts, T0 + MIN - 1);
    // Other intervals do not evaluate them.
    assert!(closed(&mut e, candle("BTC", Interval::M5, T0, 200.0)).is_empty());
    // Next bar: level still true fires, the crossing does not.
    assert_eq!(
        ids(&closed(
            &mut e,
            candle("BTC", Interval::M1, T0 + MIN, 102.0)
        )),
        [id(2)]
    );
}

#[test]
fn every_time_windows_are_the_feed_timestamp() {
    let mut e = Engine::new();
    e.upsert(threshold(1, ">=", 100.0, Frequency::EveryTime));
    let f = tick(&mut e, "BTC", 100.0, T0 + 7);
    assert_eq!((f[0].window_start, f[0].window_end), (T0 + 7, T0 + 7));
    // A second tick at the same millisecond is the same window.
    assert!(tick(&mut e, "BTC", 101.0, T0 + 7).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 101.0, T0 + 8)), [id(1)]);
}

#[test]
fn cooldown_throttles_past_the_window() {
    let mut e = Engine::new();
    let mut r = threshold(1, ">=", 100.0, Frequency::EveryTime);
    r.cooldown_ms = 5_000;
    e.upsert(r);
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0, T0)), [id(1)]);
    assert!(tick(&mut e, "BTC", 100.0, T0 + 1).is_empty());
    assert!(tick(&mut e, "BTC", 100.0, T0 + 4_999).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0, T0 + 5_000)), [id(1)]);
    // last_fired_at from storage throttles a new rule too.
    let mut r = threshold(2, ">=", 100.0, Frequency::OncePerMinute);
    r.symbol = "ETH".into();
    r.last_fired_at = Some(T0 + 5_000);
    e.upsert(r);
    assert!(tick(&mut e, "ETH", 100.0, T0 + 10_000).is_empty());
    assert_eq!(ids(&tick(&mut e, "ETH", 100.0, T0 + MIN)), [id(2)]);
}

#[test]
fn expired_rules_never_fire() {
    let mut e = Engine::new();
    let mut r = threshold(1, ">=", 100.0, Frequency::EveryTime);
    r.expires_at = Some(T0 + 10_000);
    e.upsert(r);
    let mut r = threshold(2, "crossing_up", 100.0, Frequency::EveryTime);
    r.expires_at = Some(T0 + 10_000);
    e.upsert(r);
    tick(&mut e, "BTC", 90.0, T0);
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0, T0 + 9_999)), [id(1), id(2)]);
    tick(&mut e, "BTC", 90.0, T0 + 9_999);
    assert!(tick(&mut e, "BTC", 100.0, T0 + 10_000).is_empty());
    assert!(tick(&mut e, "BTC", 90.0, T0 + 20_000).is_empty());
    assert!(tick(&mut e, "BTC", 100.0, T0 + 30_000).is_empty());
    // Still held until removed.
    assert!(e.remove(&id(1)));
}

#[test]
fn replace_and_remove() {
    let mut e = Engine::new();
    e.upsert(threshold(1, ">=", 100.0, Frequency::OncePerMinute));
    assert_eq!(ids(&tick(&mut e, "BTC", 100.0, T0)), [id(1)]);
    // Replacing resets arming: it fires again in the same minute.
    e.upsert(threshold(1, ">=", 120.0, Frequency::OncePerMinute));
    assert_eq!(e.len(), 1);
    assert!(
        tick(&mut e, "BTC", 110.0, T0 + 1).is_empty(),
        "old level gone"
    );
    assert_eq!(ids(&tick(&mut e, "BTC", 121.0, T0 + 2)), [id(1)]);
    e.upsert(threshold(1, "<", 100.0, Frequency::OncePerMinute));
    assert_eq!(ids(&tick(&mut e, "BTC", 99.0, T0 + 3)), [id(1)]);
    assert!(e.remove(&id(1)));
    assert!(!e.remove(&id(1)));
    assert_eq!(e.len(), 0);
    assert!(tick(&mut e, "BTC", 50.0, T0 + MIN).is_empty());
    // Remove while pending, placed and throttled.
    e.upsert(threshold(2, ">=", 100.0, Frequency::OncePerMinute));
    assert!(e.remove(&id(2)));
    e.upsert(threshold(3, "crossing", 100.0, Frequency::OncePerMinute));
    assert!(e.remove(&id(3)));
    e.upsert(threshold(4, "<=", 100.0, Frequency::OncePerMinute));
    assert_eq!(ids(&tick(&mut e, "BTC", 50.0, T0 + MIN + 1)), [id(4)]);
    assert!(e.remove(&id(4)));
    assert!(tick(&mut e, "BTC", 200.0, T0 + 3 * MIN).is_empty());
    assert!(tick(&mut e, "BTC", 50.0, T0 + 4 * MIN).is_empty());
    assert_eq!(e.len(), 0);
}

#[test]
fn ids_that_are_not_rule_ids_work_too() {
    let mut e = Engine::new();
    let mut r = threshold(1, ">=", 100.0, Frequency::EveryTime);
    r.id = "my-rule".into();
    e.upsert(r.clone());
    let mut upper = threshold(2, ">=", 100.0, Frequency::EveryTime);
    upper.id = format!("rul_{}", "AB".repeat(16));
    e.upsert(upper.clone());
    let f = tick(&mut e, "BTC", 100.0, T0);
    let mut got: Vec<_> = f.iter().map(|f| f.rule_id.as_str()).collect();
    got.sort();
    assert_eq!(got, ["my-rule", upper.id.as_str()]);
    assert!(e.is_ready("my-rule"));
    assert!(e.remove("my-rule"));
    assert!(e.remove(&upper.id));
    assert!(!e.is_ready("my-rule"));
}

#[test]
fn symbols_are_independent() {
    let mut e = Engine::new();
    e.upsert(threshold(1, "crossing_up", 100.0, Frequency::EveryTime));
    tick(&mut e, "BTC", 90.0, T0);
    assert!(tick(&mut e, "ETH", 110.0, T0 + 1).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 110.0, T0 + 2)), [id(1)]);
}

#[test]
fn seed_price_is_a_baseline_without_firing() {
    let mut e = Engine::new();
    e.upsert(threshold(1, "crossing_up", 100.0, Frequency::EveryTime));
    e.upsert(threshold(2, ">=", 100.0, Frequency::EveryTime));
    e.seed_price("BTC", 90.0, T0);
    let f = tick(&mut e, "BTC", 101.0, T0 + 1);
    assert_eq!(ids(&f), [id(1), id(2)]);
    assert_eq!(f[0].prev_price, Some(90.0));
    // A level rule waiting below its edge sees a seeded jump.
    tick(&mut e, "BTC", 90.0, T0 + 2);
    e.seed_price("BTC", 105.0, T0 + 3);
    assert_eq!(ids(&tick(&mut e, "BTC", 106.0, T0 + 4)), [id(2)]);
}

#[test]
fn price_alert_is_one_shot() {
    let mut e = Engine::new();
    e.upsert(rule(
        1,
        "BTC",
        "price_alert",
        json!({"condition": "above", "target_price": 100}),
        Frequency::EveryTime,
    ));
    e.upsert(rule(
        2,
        "BTC",
        "price_alert",
        json!({"condition": "below", "target_price": 80}),
        Frequency::OncePerBar,
    ));
    assert!(tick(&mut e, "BTC", 90.0, T0).is_empty());
    let f = tick(&mut e, "BTC", 100.0, T0 + 1);
    assert_eq!(ids(&f), [id(1)]);
    assert_eq!(f[0].window_end, i64::MAX, "the lifetime window");
    assert!(tick(&mut e, "BTC", 101.0, T0 + MIN).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 80.0, T0 + MIN + 1)), [id(2)]);
    assert!(tick(&mut e, "BTC", 70.0, T0 + 2 * MIN).is_empty());
    assert_eq!(e.len(), 0);
    // Already true at creation: fires on the next tick.
    e.upsert(rule(
        3,
        "BTC",
        "price_alert",
        json!({"condition": "below", "target_price": 80}),
        Frequency::Once,
    ));
    assert_eq!(ids(&tick(&mut e, "BTC", 70.0, T0 + 2 * MIN + 1)), [id(3)]);
}

fn channel(n: u32, event: &str) -> tradehook_rules::Rule {
    rule(
        n,
        "BTC",
        "channel",
        json!({"lower": 90, "upper": 110, "event": event}),
        Frequency::EveryTime,
    )
}

#[test]
fn channel_entering_and_exiting() {
    let mut e = Engine::new();
    e.upsert(channel(1, "entering"));
    e.upsert(channel(2, "exiting"));
    assert!(tick(&mut e, "BTC", 80.0, T0).is_empty());
    assert_eq!(
        ids(&tick(&mut e, "BTC", 90.0, T0 + 1)),
        [id(1)],
        "bound is inside"
    );
    assert!(tick(&mut e, "BTC", 100.0, T0 + 2).is_empty());
    assert_eq!(ids(&tick(&mut e, "BTC", 110.5, T0 + 3)), [id(2)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 110.0, T0 + 4)), [id(1)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 89.0, T0 + 5)), [id(2)]);
    // A gap over the whole channel is neither.
    assert!(tick(&mut e, "BTC", 120.0, T0 + 6).is_empty());
    assert!(tick(&mut e, "BTC", 80.0, T0 + 7).is_empty());
}

#[test]
fn channel_inside_and_outside_are_states() {
    let mut e = Engine::new();
    e.upsert(channel(1, "inside"));
    e.upsert(channel(2, "outside"));
    assert_eq!(ids(&tick(&mut e, "BTC", 80.0, T0)), [id(2)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 85.0, T0 + 1)), [id(2)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 95.0, T0 + 2)), [id(1)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 110.0, T0 + 3)), [id(1)]);
    // Jumping over the channel: still outside, inside waits at the other
    // edge.
    assert_eq!(ids(&tick(&mut e, "BTC", 60.0, T0 + 4)), [id(2)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 130.0, T0 + 5)), [id(2)]);
    assert_eq!(ids(&tick(&mut e, "BTC", 105.0, T0 + 6)), [id(1)]);
}

#[test]
fn percent_move_over_a_rolling_window() {
    let mut e = Engine::new();
    let pm = |n, dir: &str, pct: f64| {
        rule(
            n,
            "BTC",
            "percent_move",
            json!({"percent": pct, "window_seconds": 60, "direction": dir}),
            Frequency::EveryTime,
        )
    };
    e.upsert(pm(1, "up", 5.0));
    e.upsert(pm(2, "down", 5.0));
    e.upsert(pm(3, "either", 10.0));
    assert!(tick(&mut e, "BTC", 100.0, T0).is_empty());
    assert!(tick(&mut e, "BTC", 104.0, T0 + 10_000).is_empty());
    let f = tick(&mut e, "BTC", 105.0, T0 + 20_000);
    assert_eq!(ids(&f), [id(1)]);
    assert_eq!(f[0].indicators[0], ("change_pct", 5.0));
    assert_eq!(f[0].indicators[1], ("window_low", 100.0));
    // The 100 leaves the window (older than 60 s): the low is now 104.
    assert!(tick(&mut e, "BTC", 106.0, T0 + 60_001).is_empty());
    // Down 10% from the window's high (106) fires down and either.
    assert_eq!(ids(&tick(&mut e, "BTC", 95.0, T0 + 61_000)), [id(2), id(3)]);
    // Level-triggered: fires again while it holds.
    assert_eq!(ids(&tick(&mut e, "BTC", 94.9, T0 + 62_000)), [id(2), id(3)]);
    assert!(e.remove(&id(3)));
    assert_eq!(ids(&tick(&mut e, "BTC", 95.0, T0 + 63_000)), [id(2)]);
}

#[test]
fn percent_move_rules_share_a_series_per_window() {
    let mut e = Engine::new();
    let pm = |n, secs: u32| {
        rule(
            n,
            "BTC",
            "percent_move",
            json!({"percent": 1.0, "window_seconds": secs, "direction": "up"}),
            Frequency::OncePerMinute,
        )
    };
    e.upsert(pm(1, 10));
    e.upsert(pm(2, 100));
    tick(&mut e, "BTC", 100.0, T0);
    // 50 s later the 10 s window has forgotten 100; the 100 s one has not.
    tick(&mut e, "BTC", 100.5, T0 + 45_000);
    assert_eq!(ids(&tick(&mut e, "BTC", 101.0, T0 + 50_000)), [id(2)]);
}

#[test]
fn candle_close_compares_closes() {
    let mut e = Engine::new();
    let cc = |n, op: &str| {
        rule(
            n,
            "ETH",
            "candle_close",
            json!({"interval": "5m", "operator": op, "value": 3000}),
            Frequency::OncePerBar,
        )
    };
    e.upsert(cc(1, "crossing_up"));
    e.upsert(cc(2, ">"));
    let bar = 5 * MIN;
    let t = Interval::M5.bucket_start(T0);
    // Ticks and updates do nothing.
    assert!(tick(&mut e, "ETH", 4000.0, T0).is_empty());
    let mut out = Vec::new();
    e.on_event(
        &FeedEvent::CandleUpdate(candle("ETH", Interval::M5, t, 3100.0)),
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(
        e.warmup_needs(),
        [tradehook_rules::WarmupNeed {
            symbol: "ETH".into(),
            interval: Interval::M5,
            bars: 1
        }]
    );
    // The first close is the crossing's baseline; the level fires.
    assert_eq!(
        ids(&closed(&mut e, candle("ETH", Interval::M5, t, 3100.0))),
        [id(2)]
    );
    assert!(closed(&mut e, candle("ETH", Interval::M5, t + bar, 2900.0)).is_empty());
    let f = closed(&mut e, candle("ETH", Interval::M5, t + 2 * bar, 3000.5));
    assert_eq!(ids(&f), [id(1), id(2)]);
    assert_eq!(f[0].prev_price, Some(2900.0));
    assert_eq!(f[0].price, 3000.5);
    assert_eq!(
        (f[0].window_start, f[0].window_end),
        (t + 2 * bar, t + 3 * bar - 1)
    );
    // The same candle again (a replay) is ignored.
    assert!(closed(&mut e, candle("ETH", Interval::M5, t + 2 * bar, 3000.5)).is_empty());
    // A revision never fires.
    e.on_event(
        &FeedEvent::CandleRevised(candle("ETH", Interval::M5, t + 2 * bar, 5000.0)),
        &mut out,
    );
    assert!(out.is_empty());
}

#[test]
fn candle_revised_fires_nothing() {
    let mut e = Engine::new();
    e.upsert(threshold(1, ">=", 1.0, Frequency::OncePerBarClose));
    e.upsert(rule(
        2,
        "BTC",
        "candle_close",
        json!({"interval": "1m", "operator": ">=", "value": 1}),
        Frequency::EveryTime,
    ));
    let mut out = Vec::new();
    for i in 0..3 {
        e.on_event(
            &FeedEvent::CandleRevised(candle("BTC", Interval::M1, T0 + i * MIN, 100.0)),
            &mut out,
        );
    }
    assert!(out.is_empty());
    assert!(!e.is_ready(&id(2)), "revisions do not feed the series");
}

#[test]
fn counts_by_type() {
    let mut e = Engine::new();
    e.upsert(threshold(1, ">=", 1.0, Frequency::EveryTime));
    e.upsert(threshold(2, ">=", 1.0, Frequency::EveryTime));
    e.upsert(channel(3, "inside"));
    let counts = e.count_by_type();
    assert_eq!(counts.len(), RuleType::ALL.len());
    assert!(counts.contains(&(RuleType::PriceThreshold, 2)));
    assert!(counts.contains(&(RuleType::Channel, 1)));
    assert!(counts.contains(&(RuleType::Rsi, 0)));
    assert_eq!(e.len(), 3);
}
