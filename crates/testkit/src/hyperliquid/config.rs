//! What a [`FakeHyperliquid`](super::FakeHyperliquid) serves and how
//! strict it is. Every documented limit is a field, because Hyperliquid's
//! published values have changed over time.

use std::time::Duration;

/// One perp of `meta.universe`.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    /// Case-sensitive, exactly as clients must send it (`kPEPE`).
    pub name: String,
    pub sz_decimals: u32,
    pub max_leverage: u32,
    /// Sent as `"isDelisted": true`; a delisted perp has no mid.
    pub is_delisted: bool,
    /// Its mid in `allMids` until a trade moves it.
    pub initial_mid: f64,
}

impl Asset {
    pub fn perp(name: &str, sz_decimals: u32, max_leverage: u32, initial_mid: f64) -> Asset {
        Asset {
            name: name.to_owned(),
            sz_decimals,
            max_leverage,
            is_delisted: false,
            initial_mid,
        }
    }

    pub fn delisted(name: &str, sz_decimals: u32, max_leverage: u32) -> Asset {
        Asset {
            is_delisted: true,
            ..Asset::perp(name, sz_decimals, max_leverage, 0.0)
        }
    }
}

/// Construct with `FakeConfig { field: x, ..FakeConfig::default() }`.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// `meta.universe`, in asset-id order. Default: BTC, ETH, SOL, kPEPE
    /// and a delisted MATIC.
    pub universe: Vec<Asset>,
    /// Coins that are valid in subscriptions and `candleSnapshot` and have
    /// a mid, but are not perps of the first dex: spot (`@107`,
    /// `PURR/USDC`) and HIP-3 (`xyz:XYZ100`). Name and initial mid.
    pub extra_coins: Vec<(String, f64)>,
    /// Most candles in one `candleSnapshot` reply (oldest first). 5000.
    pub snapshot_cap: usize,
    /// Only this many most recent candles per coin and interval exist for
    /// `candleSnapshot`, the open one included. 5000.
    pub history_limit: usize,
    /// At a bucket boundary, send one last frame of the old bucket before
    /// the first frame of the new one (third parties see this; unconfirmed).
    pub send_final_candle_frame: bool,
    /// Close a connection abruptly after this long without server → client
    /// traffic. 60 s; `None` turns it off. Suspended while silent.
    pub idle_close_after: Option<Duration>,
    /// Delay between subscribing to an unknown coin (or bad `nSigFigs` /
    /// `mantissa`) and the abrupt close. 100 ms (third parties: 90–155 ms);
    /// other subscriptions keep flowing until then.
    pub bad_subscription_close_after: Duration,
    /// REST weight budget per rolling minute; over it, 429. 1200; `None`
    /// turns limiting off (weights are still recorded).
    pub rest_weight_per_minute: Option<u32>,
    /// Send the legacy non-JSON text `Websocket connection established.`
    /// on connect. Off: third parties saw none in 2026.
    pub greeting: bool,
    /// Fill `allMids` to ~1,100 keys mixing perps, `@N` spot, `#N` and
    /// `dex:COIN`, like the real 16–19 KB frame. Off by default.
    pub big_all_mids: bool,
    /// Right after the ack, send what the channel has now: the mids, the
    /// open candle, the recent trades (backfill), the last book. On.
    pub snapshot_on_subscribe: bool,
    /// How many recent trades a `trades` subscription is backfilled with.
    /// 30.
    pub trades_backfill: usize,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            universe: vec![
                Asset::perp("BTC", 5, 40, 69172.5),
                Asset::perp("ETH", 4, 25, 3512.25),
                Asset::perp("SOL", 2, 20, 151.375),
                Asset::perp("kPEPE", 0, 10, 0.012345),
                Asset::delisted("MATIC", 1, 20),
            ],
            extra_coins: vec![
                ("@107".to_owned(), 69.408),
                ("PURR/USDC".to_owned(), 0.18742),
                ("xyz:XYZ100".to_owned(), 25012.0),
            ],
            snapshot_cap: 5000,
            history_limit: 5000,
            send_final_candle_frame: true,
            idle_close_after: Some(Duration::from_secs(60)),
            bad_subscription_close_after: Duration::from_millis(100),
            rest_weight_per_minute: Some(1200),
            greeting: false,
            big_all_mids: false,
            snapshot_on_subscribe: true,
            trades_backfill: 30,
        }
    }
}
