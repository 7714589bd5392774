//! The fake's market: the ground truth it serves over REST and pushes
//! over the WebSocket. It knows nothing about connections; it returns
//! what changed and the caller routes it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde_json::{Map, Value, json};

use super::{
    config::FakeConfig,
    interval::Interval,
    model::{Candle, Trade, decimal, normalize},
};

/// The real `allMids` frame has about this many keys (third parties, 2026).
const BIG_ALL_MIDS_KEYS: usize = 1_100;

pub(crate) struct Market {
    /// Everything a subscription or `candleSnapshot` may name.
    pub(crate) coins: HashSet<String>,
    /// The `meta` reply, fixed at start.
    pub(crate) meta: Value,
    mids: BTreeMap<String, f64>,
    candles: HashMap<(String, Interval), BTreeMap<i64, Candle>>,
    recent_trades: HashMap<String, VecDeque<Value>>,
    books: HashMap<String, Value>,
    backfill: usize,
}

impl Market {
    pub(crate) fn new(config: &FakeConfig) -> Market {
        let mut coins = HashSet::new();
        let mut mids = BTreeMap::new();
        let mut universe = Vec::new();
        for a in &config.universe {
            coins.insert(a.name.clone());
            if !a.is_delisted {
                mids.insert(a.name.clone(), normalize(a.initial_mid));
            }
            let mut entry = json!({
                "name": a.name,
                "szDecimals": a.sz_decimals,
                "maxLeverage": a.max_leverage,
                "marginTableId": a.max_leverage,
            });
            if a.is_delisted {
                entry["isDelisted"] = json!(true);
            }
            universe.push(entry);
        }
        for (name, mid) in &config.extra_coins {
            coins.insert(name.clone());
            mids.insert(name.clone(), normalize(*mid));
        }
        if config.big_all_mids {
            fill_mids(&mut mids);
        }
        Market {
            coins,
            meta: json!({"universe": universe, "marginTables": [], "collateralToken": 0}),
            mids,
            candles: HashMap::new(),
            recent_trades: HashMap::new(),
            books: HashMap::new(),
            backfill: config.trades_backfill,
        }
    }

    /// The bare map of decimal strings (REST); the WS wraps it in `mids`.
    pub(crate) fn mids(&self) -> Value {
        let map: Map<String, Value> = self
            .mids
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(decimal(*v))))
            .collect();
        Value::Object(map)
    }

    pub(crate) fn set_mid(&mut self, coin: &str, px: f64) {
        self.mids.insert(coin.to_owned(), normalize(px));
    }

    /// Applies trades in order to every interval's candles and to the mid.
    /// Returns the trades' wire objects and the candle frames to push, in
    /// order: per trade and interval, the final frame of the bucket it
    /// closed (if `send_final`) and then the bucket it updated.
    pub(crate) fn apply_trades(
        &mut self,
        coin: &str,
        trades: &[Trade],
        send_final: bool,
    ) -> (Vec<Value>, Vec<Candle>) {
        let mut frames = Vec::new();
        let mut wire = Vec::with_capacity(trades.len());
        for trade in trades {
            for iv in Interval::ALL {
                let series = self.candles.entry((coin.to_owned(), iv)).or_default();
                let t = iv.bucket_start(trade.time);
                let newest = series.last_key_value().map(|(k, c)| (*k, c.clone()));
                let candle = series
                    .entry(t)
                    .and_modify(|c| {
                        c.high = c.high.max(trade.px);
                        c.low = c.low.min(trade.px);
                        c.close = trade.px;
                        c.volume += trade.sz;
                        c.trades += 1;
                    })
                    .or_insert_with(|| Candle {
                        volume: trade.sz,
                        trades: 1,
                        ..Candle::flat(coin, iv.as_str(), t, trade.px)
                    });
                *candle = candle.clone().normalized();
                let updated = candle.clone();
                if let Some((newest_t, old)) = newest
                    && t > newest_t
                    && send_final
                {
                    frames.push(old);
                }
                frames.push(updated);
            }
            self.mids.insert(coin.to_owned(), normalize(trade.px));
            let w = trade.to_wire(coin);
            let recent = self.recent_trades.entry(coin.to_owned()).or_default();
            recent.push_back(w.clone());
            while recent.len() > self.backfill {
                recent.pop_front();
            }
            wire.push(w);
        }
        (wire, frames)
    }

    /// Adds or replaces closed buckets. The candles' coin, interval and
    /// close time are taken from the arguments.
    pub(crate) fn seed(&mut self, coin: &str, iv: Interval, candles: Vec<Candle>) {
        let series = self.candles.entry((coin.to_owned(), iv)).or_default();
        for c in candles {
            assert_eq!(
                iv.bucket_start(c.open_time),
                c.open_time,
                "hyperliquid fake: seeded candle at {} is not the start of a {iv} bucket",
                c.open_time
            );
            let c = Candle {
                coin: coin.to_owned(),
                interval: iv.as_str().to_owned(),
                close_time: iv.close_time(c.open_time),
                ..c
            }
            .normalized();
            series.insert(c.open_time, c);
        }
    }

    pub(crate) fn series(&self, coin: &str, iv: Interval) -> Vec<Candle> {
        self.candles
            .get(&(coin.to_owned(), iv))
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The newest bucket, which is the one still open.
    pub(crate) fn newest(&self, coin: &str, iv: Interval) -> Option<&Candle> {
        self.candles
            .get(&(coin.to_owned(), iv))?
            .last_key_value()
            .map(|(_, c)| c)
    }

    /// `candleSnapshot`: among the `history_limit` newest buckets, those
    /// overlapping `[start, end]` (so the buckets containing each end are
    /// in), oldest first, at most `cap`.
    pub(crate) fn snapshot(
        &self,
        coin: &str,
        iv: Interval,
        (start, end): (i64, i64),
        cap: usize,
        history_limit: usize,
    ) -> Vec<Candle> {
        let Some(series) = self.candles.get(&(coin.to_owned(), iv)) else {
            return Vec::new();
        };
        series
            .values()
            .skip(series.len().saturating_sub(history_limit))
            .filter(|c| c.open_time <= end && c.close_time >= start)
            .take(cap)
            .cloned()
            .collect()
    }

    /// The backfill batch a new `trades` subscriber gets, oldest first.
    pub(crate) fn recent_trades(&self, coin: &str) -> Option<Value> {
        let recent = self.recent_trades.get(coin).filter(|r| !r.is_empty())?;
        Some(Value::Array(recent.iter().cloned().collect()))
    }

    pub(crate) fn set_book(&mut self, coin: &str, book: Value) {
        self.books.insert(coin.to_owned(), book);
    }

    pub(crate) fn book(&self, coin: &str) -> Option<&Value> {
        self.books.get(coin)
    }
}

/// Pads the mids up to the real frame's size with the real key shapes:
/// perps, `@N` spot, `#N` outcomes and `dex:COIN`. Values are fixed so
/// frames are reproducible.
fn fill_mids(mids: &mut BTreeMap<String, f64>) {
    let perps = (0..200).map(|i| format!("ALT{i}"));
    let spot = (0..600).map(|i| format!("@{i}"));
    let outcomes = (0..40).map(|i| format!("#{i}"));
    let dexes = (0..).map(|i| format!("{}:T{}", ["xyz", "flx", "vntl", "hyna"][i % 4], i / 4));
    for (i, key) in perps.chain(spot).chain(outcomes).chain(dexes).enumerate() {
        if mids.len() >= BIG_ALL_MIDS_KEYS {
            break;
        }
        // Prices from 0.001 to ~100000 with a few decimals each.
        let px = ((i * 7_919) % 100_000) as f64 / 1000.0 * 10f64.powi((i % 5) as i32 - 1);
        mids.entry(key).or_insert(normalize(px + 0.001));
    }
}
