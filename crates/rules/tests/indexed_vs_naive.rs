//! The indexed engine fires exactly what the naive full scan fires, on
//! long random walks with many random threshold, alert and channel rules
//! (every tick operator, every tick frequency, cooldowns, expiry), rules
//! added, replaced and removed along the way, and seeded prices.

mod common;

use common::{MIN, T0};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tradehook_feeds::FeedEvent;
use tradehook_rules::{Engine, Firing, Frequency, NaiveEngine, Rule, RuleConfig};

const SYMBOLS: [&str; 4] = ["BTC", "ETH", "SOL", "DOGE"];
const OPS: [&str; 7] = [
    ">=",
    ">",
    "<=",
    "<",
    "crossing",
    "crossing_up",
    "crossing_down",
];
const FREQS: [Frequency; 4] = [
    Frequency::Once,
    Frequency::OncePerBar,
    Frequency::OncePerMinute,
    Frequency::EveryTime,
];

/// A price on a grid of 0.25 (so ticks hit thresholds exactly), sometimes
/// off the grid.
fn level(rng: &mut StdRng) -> f64 {
    let base = 80.0 + f64::from(rng.random_range(0..160u32)) * 0.25;
    if rng.random_bool(0.2) {
        base + rng.random::<f64>() * 0.25
    } else {
        base
    }
}

fn random_rule(rng: &mut StdRng, n: u32, ts: i64) -> Rule {
    let symbol = SYMBOLS[rng.random_range(0..SYMBOLS.len())];
    let (rule_type, config) = match rng.random_range(0..10) {
        0..=5 => (
            "price_threshold",
            json!({"operator": OPS[rng.random_range(0..OPS.len())], "threshold": level(rng)}),
        ),
        6 => (
            "price_alert",
            json!({"condition": if rng.random_bool(0.5) { "above" } else { "below" },
                   "target_price": level(rng)}),
        ),
        _ => {
            let (a, b) = (level(rng), level(rng));
            let (lower, upper) = if a < b {
                (a, b)
            } else if a > b {
                (b, a)
            } else {
                (a, a + 0.25)
            };
            let event = ["entering", "exiting", "inside", "outside"][rng.random_range(0..4)];
            (
                "channel",
                json!({"lower": lower, "upper": upper, "event": event}),
            )
        }
    };
    Rule {
        id: if n.is_multiple_of(7) {
            format!("custom-{n}")
        } else {
            format!("rul_{n:032x}")
        },
        symbol: symbol.to_string(),
        config: RuleConfig::parse(rule_type, &config).unwrap(),
        frequency: FREQS[rng.random_range(0..FREQS.len())],
        cooldown_ms: if rng.random_bool(0.3) {
            rng.random_range(0..90_000)
        } else {
            0
        },
        expires_at: rng
            .random_bool(0.1)
            .then(|| ts + rng.random_range(0..600_000)),
        created_at: ts - rng.random_range(0..1_000_000),
        last_fired_at: rng
            .random_bool(0.05)
            .then(|| ts - rng.random_range(0..120_000)),
    }
}

fn key(f: &Firing) -> (String, i64, i64, u64, Option<u64>, i64) {
    (
        f.rule_id.clone(),
        f.window_start,
        f.window_end,
        f.price.to_bits(),
        f.prev_price.map(f64::to_bits),
        f.feed_ts,
    )
}

fn run(seed: u64, rules: u32, ticks: usize) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut indexed = Engine::new();
    let mut naive = NaiveEngine::new();
    let mut next_id = 0u32;
    let mut ts = T0;
    for _ in 0..rules {
        let r = random_rule(&mut rng, next_id, ts);
        next_id += 1;
        indexed.upsert(r.clone());
        naive.upsert(r);
    }
    let mut prices: Vec<f64> = SYMBOLS.iter().map(|_| level(&mut rng)).collect();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut total = 0;
    for step in 0..ticks {
        ts += rng.random_range(0..4_000);
        match rng.random_range(0..1000) {
            // Add, replace or remove rules along the way.
            0..=9 => {
                let r = random_rule(&mut rng, next_id, ts);
                next_id += 1;
                indexed.upsert(r.clone());
                naive.upsert(r);
            }
            10..=14 => {
                let n = rng.random_range(0..next_id);
                let mut r = random_rule(&mut rng, n, ts);
                r.created_at = r.created_at.min(ts);
                indexed.upsert(r.clone());
                naive.upsert(r);
            }
            15..=19 => {
                let n = rng.random_range(0..next_id);
                for id in [format!("rul_{n:032x}"), format!("custom-{n}")] {
                    assert_eq!(indexed.remove(&id), naive.remove(&id), "remove {id}");
                }
            }
            20 => {
                let s = rng.random_range(0..SYMBOLS.len());
                prices[s] = level(&mut rng);
                indexed.seed_price(SYMBOLS[s], prices[s], ts);
                naive.seed_price(SYMBOLS[s], prices[s], ts);
            }
            _ => {}
        }
        let s = rng.random_range(0..SYMBOLS.len());
        prices[s] = match rng.random_range(0..100) {
            // A gap.
            0..=2 => level(&mut rng),
            // Stay.
            3..=10 => prices[s],
            // Back onto the grid.
            11..=30 => (prices[s] * 4.0).round() / 4.0,
            _ => (prices[s] + (rng.random::<f64>() - 0.5) * 1.5).clamp(60.0, 140.0),
        };
        let ev = FeedEvent::Tick {
            symbol: SYMBOLS[s].to_string(),
            price: prices[s],
            ts,
        };
        a.clear();
        b.clear();
        indexed.on_event(&ev, &mut a);
        naive.on_event(&ev, &mut b);
        let mut ka: Vec<_> = a.iter().map(key).collect();
        let mut kb: Vec<_> = b.iter().map(key).collect();
        ka.sort();
        kb.sort();
        if ka != kb {
            let only_indexed: Vec<_> = ka.iter().filter(|k| !kb.contains(k)).collect();
            let only_naive: Vec<_> = kb.iter().filter(|k| !ka.contains(k)).collect();
            panic!(
                "seed {seed}, step {step}, {ev:?}: only indexed {only_indexed:?}, only naive {only_naive:?}"
            );
        }
        assert_eq!(indexed.len(), naive.len(), "seed {seed}, step {step}");
        total += a.len();
    }
    total
}

#[test]
fn indexed_and_naive_fire_the_same() {
    let mut total = 0;
    for seed in 0..6 {
        total += run(seed, 1_500, 20_000);
    }
    assert!(total > 10_000, "the walks fire plenty: {total}");
}

#[test]
fn indexed_and_naive_agree_with_few_rules_and_many_minutes() {
    // Few rules, so bands are wide and the fast path is taken often.
    for seed in 100..110 {
        run(seed, 20, 5_000);
    }
    let _ = MIN;
}
