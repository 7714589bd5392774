//! Indicator rules (macd_cross, rsi, bollinger_bands): firings checked
//! against the indicators computed directly, sharing, warm-up.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tradehook_core::indicators::{BollingerBands, Macd, Rsi};
use tradehook_feeds::{Candle, FeedEvent, Interval};
use tradehook_rules::{Engine, Firing, Frequency, WarmupNeed};

const SYM: &str = "ETH";

/// A seeded random walk of 1m candles starting at `T0`.
fn walk(seed: u64, n: usize) -> Vec<Candle> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut p = 100.0;
    (0..n)
        .map(|i| {
            p = (p + (rng.random::<f64>() - 0.5) * 3.0).max(10.0);
            let mut c = candle(SYM, Interval::M1, T0 + i as i64 * MIN, p);
            c.high = p + rng.random::<f64>() * 2.0;
            c.low = p - rng.random::<f64>() * 2.0;
            c
        })
        .collect()
}

fn feed(e: &mut Engine, candles: &[Candle]) -> Vec<Firing> {
    let mut out = Vec::new();
    for c in candles {
        e.on_event(&FeedEvent::CandleClosed(c.clone()), &mut out);
    }
    out
}

fn fired_at(f: &[Firing], n: u32) -> Vec<i64> {
    f.iter()
        .filter(|f| f.rule_id == id(n))
        .map(|f| f.feed_ts)
        .collect()
}

fn ind_rule(n: u32, rule_type: &str, config: Value) -> tradehook_rules::Rule {
    rule(n, SYM, rule_type, config, Frequency::EveryTime)
}

/// Close times of the bars where `fires(prev, cur)` holds, for values
/// computed bar by bar.
fn expected<T: Copy>(
    candles: &[Candle],
    values: impl Iterator<Item = Option<T>>,
    fires: impl Fn(&Candle, &Candle, T, T) -> bool,
) -> Vec<i64> {
    let mut prev: Option<(usize, T)> = None;
    let mut out = Vec::new();
    for (i, v) in values.enumerate() {
        let Some(v) = v else { continue };
        if let Some((j, p)) = prev
            && fires(&candles[j], &candles[i], p, v)
        {
            out.push(candles[i].close_time());
        }
        prev = Some((i, v));
    }
    out
}

#[test]
fn rsi_fires_on_the_bar_it_crosses() {
    let candles = walk(1, 600);
    let mut e = Engine::new();
    let cfg =
        |t: f64, d: &str| json!({"period": 14, "interval": "1m", "threshold": t, "direction": d});
    e.upsert(ind_rule(1, "rsi", cfg(60.0, "overbought")));
    e.upsert(ind_rule(2, "rsi", cfg(40.0, "oversold")));
    let f = feed(&mut e, &candles);
    let mut rsi = Rsi::new(14).unwrap();
    let values: Vec<_> = candles.iter().map(|c| rsi.update(c.close)).collect();
    let up = expected(&candles, values.iter().copied(), |_, _, p, v| {
        p <= 60.0 && 60.0 < v
    });
    let down = expected(&candles, values.iter().copied(), |_, _, p, v| {
        p >= 40.0 && 40.0 > v
    });
    assert!(up.len() >= 3 && down.len() >= 3, "{up:?} {down:?}");
    assert_eq!(fired_at(&f, 1), up);
    assert_eq!(fired_at(&f, 2), down);
    let first = f.iter().find(|f| f.rule_id == id(1)).unwrap();
    assert_eq!(first.indicators[0].0, "rsi");
    assert!(first.indicators[0].1 > 60.0 && first.indicators[1].1 <= 60.0);
    assert_eq!(
        (first.window_start, first.window_end),
        (first.feed_ts, first.feed_ts)
    );
    assert!(first.prev_price.is_some());
}

#[test]
fn macd_cross_bullish_and_bearish() {
    let candles = walk(2, 600);
    let mut e = Engine::new();
    let cfg =
        |d: &str| json!({"fast": 12, "slow": 26, "signal": 9, "interval": "1m", "direction": d});
    e.upsert(ind_rule(1, "macd_cross", cfg("bullish")));
    e.upsert(ind_rule(2, "macd_cross", cfg("bearish")));
    let f = feed(&mut e, &candles);
    let mut macd = Macd::new(12, 26, 9).unwrap();
    let values: Vec<_> = candles.iter().map(|c| macd.update(c.close)).collect();
    let bull = expected(&candles, values.iter().copied(), |_, _, p, v| {
        p.macd <= p.signal && v.macd > v.signal
    });
    let bear = expected(&candles, values.iter().copied(), |_, _, p, v| {
        p.macd >= p.signal && v.macd < v.signal
    });
    assert!(bull.len() >= 3 && bear.len() >= 3);
    assert_eq!(fired_at(&f, 1), bull);
    assert_eq!(fired_at(&f, 2), bear);
    assert_eq!(e.instance_count(), 1, "both rules share one MACD");
}

#[test]
fn bollinger_touch_and_break() {
    let candles = walk(3, 600);
    let mut e = Engine::new();
    let cfg = |band: &str, event: &str| json!({"period": 20, "std_dev": 2.0, "interval": "1m", "band": band, "event": event});
    e.upsert(ind_rule(1, "bollinger_bands", cfg("upper", "touch")));
    e.upsert(ind_rule(2, "bollinger_bands", cfg("lower", "touch")));
    e.upsert(ind_rule(3, "bollinger_bands", cfg("upper", "break")));
    e.upsert(ind_rule(4, "bollinger_bands", cfg("lower", "break")));
    let f = feed(&mut e, &candles);
    let mut bb = BollingerBands::new(20, 2.0, 2.0).unwrap();
    let values: Vec<_> = candles.iter().map(|c| bb.update(c.close)).collect();
    let v = || values.iter().copied();
    let touch_up = expected(&candles, v(), |pc, c, p, b| {
        c.high >= b.upper && pc.high < p.upper
    });
    let touch_down = expected(&candles, v(), |pc, c, p, b| {
        c.low <= b.lower && pc.low > p.lower
    });
    let break_up = expected(&candles, v(), |_, c, _, b| c.close > b.upper);
    let break_down = expected(&candles, v(), |_, c, _, b| c.close < b.lower);
    for (n, want) in [
        (1, &touch_up),
        (2, &touch_down),
        (3, &break_up),
        (4, &break_down),
    ] {
        assert!(want.len() >= 2, "rule {n}: {want:?}");
        assert_eq!(&fired_at(&f, n), want, "rule {n}");
    }
    assert_eq!(e.instance_count(), 1);
    let b = f.iter().find(|f| f.rule_id == id(3)).unwrap();
    assert_eq!(
        b.indicators.iter().map(|x| x.0).collect::<Vec<_>>(),
        ["upper", "middle", "lower"]
    );
}

#[test]
fn warm_up_never_fires_and_readiness_needs_two_values() {
    // Strictly rising: RSI is 100 from its first value. Without a previous
    // value there is no cross, so no alert ever.
    let candles: Vec<Candle> = (0..40)
        .map(|i| candle(SYM, Interval::M1, T0 + i * MIN, 100.0 + i as f64))
        .collect();
    let mut e = Engine::new();
    e.upsert(ind_rule(
        1,
        "rsi",
        json!({"period": 14, "interval": "1m", "threshold": 70, "direction": "overbought"}),
    ));
    assert!(!e.is_ready(&id(1)));
    // The first RSI comes with the 15th close, the second with the 16th.
    assert!(feed(&mut e, &candles[..15]).is_empty());
    assert!(!e.is_ready(&id(1)), "one value is not enough");
    assert!(feed(&mut e, &candles[15..16]).is_empty());
    assert!(e.is_ready(&id(1)));
    assert!(feed(&mut e, &candles[16..]).is_empty());
}

#[test]
fn rules_with_the_same_parameters_share_one_instance() {
    let mut e = Engine::new();
    let rsi = |n, sym: &str, period: u32, interval: &str| {
        rule(
            n,
            sym,
            "rsi",
            json!({"period": period, "interval": interval, "threshold": 70, "direction": "overbought"}),
            Frequency::OncePerBar,
        )
    };
    e.upsert(rsi(1, "BTC", 14, "1m"));
    e.upsert(rsi(2, "BTC", 14, "1m"));
    assert_eq!(e.instance_count(), 1);
    e.upsert(rsi(3, "BTC", 21, "1m"));
    e.upsert(rsi(4, "BTC", 14, "5m"));
    e.upsert(rsi(5, "ETH", 14, "1m"));
    assert_eq!(e.instance_count(), 4);
    e.upsert(rule(
        6,
        "BTC",
        "bollinger_bands",
        json!({"period": 14, "std_dev": 2, "interval": "1m", "band": "upper", "event": "break"}),
        Frequency::OncePerBar,
    ));
    e.upsert(rule(
        7,
        "BTC",
        "bollinger_bands",
        json!({"period": 14, "std_dev": 2.5, "interval": "1m", "band": "upper", "event": "break"}),
        Frequency::OncePerBar,
    ));
    assert_eq!(e.instance_count(), 6);
    // Refcounted: the instance goes with its last rule.
    assert!(e.remove(&id(1)));
    assert_eq!(e.instance_count(), 6);
    assert!(e.remove(&id(2)));
    assert_eq!(e.instance_count(), 5);
    // Replacing a rule with other parameters moves it.
    e.upsert(rsi(3, "BTC", 14, "5m"));
    assert_eq!(e.instance_count(), 4);
    for n in 3..=7 {
        assert!(e.remove(&id(n)));
    }
    assert_eq!(e.instance_count(), 0);
    assert!(e.warmup_needs().is_empty());
}

#[test]
fn warm_then_live_fires_like_all_live() {
    let candles = walk(4, 900);
    let split = 400;
    let rules = || {
        vec![
            ind_rule(
                1,
                "rsi",
                json!({"period": 14, "interval": "1m", "threshold": 55, "direction": "overbought"}),
            ),
            ind_rule(
                2,
                "macd_cross",
                json!({"fast": 12, "slow": 26, "signal": 9, "interval": "1m", "direction": "bullish"}),
            ),
            ind_rule(
                3,
                "bollinger_bands",
                json!({"period": 20, "std_dev": 2, "interval": "1m", "band": "upper", "event": "touch"}),
            ),
            ind_rule(
                4,
                "candle_close",
                json!({"interval": "1m", "operator": "crossing", "value": 100}),
            ),
        ]
    };
    let mut live = Engine::new();
    let mut warmed = Engine::new();
    for r in rules() {
        live.upsert(r.clone());
        warmed.upsert(r);
    }
    let needs = warmed.warmup_needs();
    assert_eq!(needs.len(), 1);
    let WarmupNeed {
        symbol,
        interval,
        bars,
    } = &needs[0];
    assert_eq!((symbol.as_str(), *interval), (SYM, Interval::M1));
    // MACD(12, 26, 9): lookback 33, two values, and convergence.
    assert_eq!(*bars, 33 + 2 + 10 * (26 + 9));
    assert!(*bars <= split);

    let all: Vec<Firing> = feed(&mut live, &candles)
        .into_iter()
        .filter(|f| f.feed_ts > candles[split - 1].close_time())
        .collect();
    warmed.warm(SYM, Interval::M1, &candles[..split]);
    assert!(warmed.warmup_needs().is_empty());
    for n in 1..=4 {
        assert!(warmed.is_ready(&id(n)));
    }
    // Warming again with overlapping history changes nothing, and so does
    // a live replay of a candle already seen.
    warmed.warm(SYM, Interval::M1, &candles[..split]);
    assert!(feed(&mut warmed, &candles[split - 5..split]).is_empty());
    let rest = feed(&mut warmed, &candles[split..]);
    assert!(all.len() > 10, "{}", all.len());
    assert_eq!(rest, all);
}

#[test]
fn warm_fires_nothing() {
    let candles = walk(5, 400);
    let mut e = Engine::new();
    e.upsert(ind_rule(
        1,
        "bollinger_bands",
        json!({"period": 20, "std_dev": 1, "interval": "1m", "band": "upper", "event": "break"}),
    ));
    e.warm(SYM, Interval::M1, &candles);
    // The candles are seen: feeding them live does nothing either.
    assert!(feed(&mut e, &candles).is_empty());
    // Unknown symbols and intervals are ignored.
    e.warm("NOPE", Interval::M1, &candles);
    e.warm(SYM, Interval::H1, &candles);
}

#[test]
fn candle_revised_fires_nothing_and_is_not_fed() {
    let candles = walk(6, 300);
    let mut e = Engine::new();
    e.upsert(ind_rule(
        1,
        "bollinger_bands",
        json!({"period": 20, "std_dev": 1, "interval": "1m", "band": "upper", "event": "break"}),
    ));
    let mut out = Vec::new();
    for c in &candles {
        e.on_event(&FeedEvent::CandleRevised(c.clone()), &mut out);
        e.on_event(&FeedEvent::CandleUpdate(c.clone()), &mut out);
    }
    assert!(out.is_empty());
    assert!(!e.is_ready(&id(1)));
    assert!(!feed(&mut e, &candles).is_empty(), "closes do fire");
}

#[test]
fn indicator_frequencies_use_the_rule_interval() {
    // Hourly candles; a once_per_bar rule's window is the hour, and a once
    // rule leaves after its first firing.
    let mut rng = StdRng::seed_from_u64(7);
    let h0 = Interval::H1.bucket_start(T0);
    let mut p = 100.0;
    let candles: Vec<Candle> = (0..300)
        .map(|i| {
            p += (rng.random::<f64>() - 0.5) * 3.0;
            candle(SYM, Interval::H1, h0 + i * 3_600_000, p)
        })
        .collect();
    let mut e = Engine::new();
    let cfg =
        json!({"period": 20, "std_dev": 1, "interval": "1h", "band": "upper", "event": "break"});
    e.upsert(rule(
        1,
        SYM,
        "bollinger_bands",
        cfg.clone(),
        Frequency::OncePerBar,
    ));
    e.upsert(rule(2, SYM, "bollinger_bands", cfg, Frequency::Once));
    // 1m candles do not evaluate hourly rules.
    assert!(feed(&mut e, &walk(8, 100)).is_empty());
    let f = feed(&mut e, &candles);
    let per_bar: Vec<&Firing> = f.iter().filter(|f| f.rule_id == id(1)).collect();
    assert!(per_bar.len() > 3);
    for x in &per_bar {
        assert_eq!(x.window_start, Interval::H1.bucket_start(x.feed_ts));
        assert_eq!(x.window_end, x.window_start + 3_600_000 - 1);
        assert_eq!(x.feed_ts, x.window_end);
    }
    assert_eq!(fired_at(&f, 2), [per_bar[0].feed_ts]);
    assert_eq!(e.len(), 1);
    assert_eq!(e.instance_count(), 1);
}

#[test]
fn cooldown_and_expiry_apply_to_indicator_rules() {
    let candles = walk(9, 400);
    let cfg =
        json!({"period": 20, "std_dev": 1, "interval": "1m", "band": "upper", "event": "break"});
    let mut free = Engine::new();
    free.upsert(rule(
        1,
        SYM,
        "bollinger_bands",
        cfg.clone(),
        Frequency::EveryTime,
    ));
    let all = fired_at(&feed(&mut free, &candles), 1);
    let mut e = Engine::new();
    let mut r = rule(1, SYM, "bollinger_bands", cfg, Frequency::EveryTime);
    r.cooldown_ms = 10 * MIN;
    r.expires_at = Some(T0 + 200 * MIN);
    e.upsert(r);
    let got = fired_at(&feed(&mut e, &candles), 1);
    let mut want = Vec::new();
    for t in all {
        if t < T0 + 200 * MIN && want.last().is_none_or(|&l: &i64| t >= l + 10 * MIN) {
            want.push(t);
        }
    }
    assert!(want.len() > 2);
    assert_eq!(got, want);
}
