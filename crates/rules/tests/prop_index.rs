//! Property test of the rule index: for any set of tick rules and any path
//! of ticks, rule changes and seeded prices, the indexed [`Engine`] fires
//! exactly the firings (rule, window, price, previous price, feed time)
//! that the full scan of [`NaiveEngine`] fires, after every step.
//!
//! `indexed_vs_naive.rs` runs a few long seeded walks; this one draws many
//! short paths with proptest, so a disagreement shrinks to a small case.
//! More cases: `PROPTEST_CASES=5000 cargo test -p tradehook-rules --test
//! prop_index`.

use proptest::prelude::*;
use serde_json::json;
use tradehook_feeds::FeedEvent;
use tradehook_rules::{Engine, Firing, Frequency, NaiveEngine, Rule, RuleConfig};

const SYMBOLS: [&str; 3] = ["BTC", "ETH", "SOL"];
/// A minute boundary.
const T0: i64 = 1_700_000_040_000;
/// Rule numbers are drawn from a small range, so upserts replace and
/// removals hit existing rules often.
const RULE_NUMBERS: u32 = 24;

/// A price on a grid of 0.25 between 95 and 105, so ticks land exactly on
/// thresholds and channel edges; sometimes just off the grid.
fn level() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (0u32..=40).prop_map(|i| 95.0 + f64::from(i) * 0.25),
        1 => (0u32..=40, 0.0f64..0.25).prop_map(|(i, f)| 95.0 + f64::from(i) * 0.25 + f),
    ]
}

fn frequency() -> impl Strategy<Value = Frequency> {
    prop_oneof![
        Just(Frequency::Once),
        Just(Frequency::OncePerBar),
        Just(Frequency::OncePerMinute),
        Just(Frequency::EveryTime),
    ]
}

fn config() -> impl Strategy<Value = RuleConfig> {
    let operator = prop_oneof![
        Just(">="),
        Just(">"),
        Just("<="),
        Just("<"),
        Just("crossing"),
        Just("crossing_up"),
        Just("crossing_down"),
    ];
    prop_oneof![
        3 => (operator, level()).prop_map(|(op, t)| {
            RuleConfig::parse("price_threshold", &json!({"operator": op, "threshold": t})).unwrap()
        }),
        1 => (any::<bool>(), level()).prop_map(|(above, p)| {
            let condition = if above { "above" } else { "below" };
            RuleConfig::parse("price_alert", &json!({"condition": condition, "target_price": p}))
                .unwrap()
        }),
        2 => (
            level(),
            level(),
            prop_oneof![Just("entering"), Just("exiting"), Just("inside"), Just("outside")]
        )
            .prop_map(|(a, b, event)| {
                let (lower, upper) = if a < b {
                    (a, b)
                } else if a > b {
                    (b, a)
                } else {
                    (a, a + 0.25)
                };
                RuleConfig::parse(
                    "channel",
                    &json!({"lower": lower, "upper": upper, "event": event}),
                )
                .unwrap()
            }),
    ]
}

/// A rule, with its times relative to the moment it is added.
#[derive(Debug, Clone)]
struct RuleSpec {
    n: u32,
    symbol: usize,
    config: RuleConfig,
    frequency: Frequency,
    cooldown_ms: i64,
    expires_in: Option<i64>,
    created_ago: i64,
    last_fired_ago: Option<i64>,
}

impl RuleSpec {
    fn rule(&self, now: i64) -> Rule {
        Rule {
            // Both id forms: `rul_<hex>` is stored compactly, others as text.
            id: rule_id(self.n),
            symbol: SYMBOLS[self.symbol].to_string(),
            config: self.config,
            frequency: self.frequency,
            cooldown_ms: self.cooldown_ms,
            expires_at: self.expires_in.map(|d| now + d),
            created_at: now - self.created_ago,
            last_fired_at: self.last_fired_ago.map(|d| now - d),
        }
    }
}

fn rule_id(n: u32) -> String {
    if n.is_multiple_of(5) {
        format!("custom-{n}")
    } else {
        format!("rul_{n:032x}")
    }
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        0..RULE_NUMBERS,
        0..SYMBOLS.len(),
        config(),
        frequency(),
        prop_oneof![3 => Just(0i64), 1 => 0i64..90_000, 1 => (0i64..180).prop_map(|k| k * 500)],
        prop_oneof![
            4 => Just(None),
            1 => (0i64..300_000).prop_map(Some),
            2 => (0i64..60).prop_map(|k| Some(k * 500)),
        ],
        0i64..1_000_000,
        prop_oneof![9 => Just(None), 1 => (0i64..120_000).prop_map(Some)],
    )
        .prop_map(
            |(
                n,
                symbol,
                config,
                frequency,
                cooldown_ms,
                expires_in,
                created_ago,
                last_fired_ago,
            )| {
                RuleSpec {
                    n,
                    symbol,
                    config,
                    frequency,
                    cooldown_ms,
                    expires_in,
                    created_ago,
                    last_fired_ago,
                }
            },
        )
}

/// Where the next tick's price comes from.
#[derive(Debug, Clone)]
enum Price {
    /// A level anywhere in the range (a gap).
    Level(f64),
    /// The symbol's previous price again.
    Same,
    /// The previous price moved by this many quarter steps.
    Steps(i8),
    /// A value both engines must ignore.
    NotFinite,
}

#[derive(Debug, Clone)]
enum Step {
    Tick {
        symbol: usize,
        price: Price,
        after_ms: i64,
    },
    Upsert(RuleSpec),
    Remove(u32),
    Seed {
        symbol: usize,
        price: f64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let price = prop_oneof![
        3 => level().prop_map(Price::Level),
        2 => Just(Price::Same),
        6 => (-4i8..=4).prop_map(Price::Steps),
        1 => Just(Price::NotFinite),
    ];
    // Mostly small gaps; sometimes past a minute, a bar or a cooldown.
    // Multiples of 500 ms land exactly on minute ends, expiries and
    // cooldown ends, where `<` and `<=` differ.
    let after_ms = prop_oneof![
        3 => 0i64..4_000,
        6 => (0i64..16).prop_map(|k| k * 250),
        1 => 0i64..200_000,
        1 => (0i64..400).prop_map(|k| k * 500),
    ];
    prop_oneof![
        20 => (0..SYMBOLS.len(), price, after_ms)
            .prop_map(|(symbol, price, after_ms)| Step::Tick { symbol, price, after_ms }),
        2 => rule_spec().prop_map(Step::Upsert),
        1 => (0..RULE_NUMBERS).prop_map(Step::Remove),
        1 => (0..SYMBOLS.len(), level()).prop_map(|(symbol, price)| Step::Seed { symbol, price }),
    ]
}

type Key = (String, i64, i64, u64, Option<u64>, i64);

fn sorted_keys(firings: &[Firing]) -> Vec<Key> {
    let mut keys: Vec<Key> = firings
        .iter()
        .map(|f| {
            (
                f.rule_id.clone(),
                f.window_start,
                f.window_end,
                f.price.to_bits(),
                f.prev_price.map(f64::to_bits),
                f.feed_ts,
            )
        })
        .collect();
    keys.sort();
    keys
}

/// Runs both engines over the path; returns how many firings there were.
fn check(
    initial: &[RuleSpec],
    start: &[Option<f64>],
    steps: &[Step],
) -> Result<usize, TestCaseError> {
    let mut indexed = Engine::new();
    let mut naive = NaiveEngine::new();
    let mut ts = T0;
    for spec in initial {
        indexed.upsert(spec.rule(ts));
        naive.upsert(spec.rule(ts));
    }
    let mut last: Vec<f64> = vec![100.0; SYMBOLS.len()];
    for (s, p) in start.iter().enumerate() {
        if let Some(p) = *p {
            indexed.seed_price(SYMBOLS[s], p, ts);
            naive.seed_price(SYMBOLS[s], p, ts);
            last[s] = p;
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut fired = 0;
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Upsert(spec) => {
                indexed.upsert(spec.rule(ts));
                naive.upsert(spec.rule(ts));
            }
            Step::Remove(n) => {
                let id = rule_id(*n);
                prop_assert_eq!(
                    indexed.remove(&id),
                    naive.remove(&id),
                    "step {}: remove {}",
                    i,
                    id
                );
            }
            Step::Seed { symbol, price } => {
                indexed.seed_price(SYMBOLS[*symbol], *price, ts);
                naive.seed_price(SYMBOLS[*symbol], *price, ts);
                last[*symbol] = *price;
            }
            Step::Tick {
                symbol,
                price,
                after_ms,
            } => {
                ts += after_ms;
                let p = match price {
                    Price::Level(p) => *p,
                    Price::Same => last[*symbol],
                    Price::Steps(k) => (last[*symbol] + f64::from(*k) * 0.25).clamp(90.0, 110.0),
                    Price::NotFinite => f64::NAN,
                };
                if p.is_finite() {
                    last[*symbol] = p;
                }
                let ev = FeedEvent::Tick {
                    symbol: SYMBOLS[*symbol].to_string(),
                    price: p,
                    ts,
                };
                a.clear();
                b.clear();
                indexed.on_event(&ev, &mut a);
                naive.on_event(&ev, &mut b);
                prop_assert_eq!(
                    sorted_keys(&a),
                    sorted_keys(&b),
                    "step {}: {:?} (left: indexed, right: naive)",
                    i,
                    ev
                );
                fired += a.len();
            }
        }
        prop_assert_eq!(indexed.len(), naive.len(), "step {}: rule count", i);
    }
    Ok(fired)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_indexed_engine_fires_exactly_what_the_naive_scan_fires(
        initial in prop::collection::vec(rule_spec(), 0..40),
        start in prop::collection::vec(prop::option::weighted(0.7, level()), SYMBOLS.len()),
        steps in prop::collection::vec(step(), 1..300),
    ) {
        check(&initial, &start, &steps)?;
    }
}

/// The property is not vacuous: over many generated paths the engines
/// fire often (a generator that never fired would pass the test above).
#[test]
fn generated_paths_fire() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = (
        prop::collection::vec(rule_spec(), 10..40),
        prop::collection::vec(prop::option::weighted(0.7, level()), SYMBOLS.len()),
        prop::collection::vec(step(), 100..300),
    );
    let mut fired = 0;
    for _ in 0..50 {
        let (initial, start, steps) = strategy.new_tree(&mut runner).unwrap().current();
        fired += check(&initial, &start, &steps).expect("the engines agree");
    }
    assert!(fired > 500, "50 paths fired only {fired} times");
}
