//! A fake Hyperliquid market-data server on one local port: `POST /info`
//! and the `/ws` WebSocket, speaking the real wire protocol as described
//! in `shared/reference/hyperliquid.md`.
//!
//! The fake owns a ground-truth market. Tests move it ([`push_trades`],
//! [`push_trade_price`], [`seed_history`]), the fake pushes the resulting
//! frames to subscribers and serves the same candles over REST, and tests
//! compare what their client built with [`candles`]. It also reproduces
//! the server's hostile habits: abrupt closes on unknown coins and idle
//! sockets, dropped connections on demand, silence, and REST weight
//! limits. It has no clock of its own: candles move only when a test
//! pushes a trade, so tests are deterministic.
//!
//! It must not sign, trade or talk to the real exchange; `/exchange` is
//! not served.
//!
//! [`push_trades`]: FakeHyperliquid::push_trades
//! [`push_trade_price`]: FakeHyperliquid::push_trade_price
//! [`seed_history`]: FakeHyperliquid::seed_history
//! [`candles`]: FakeHyperliquid::candles

mod config;
mod interval;
mod market;
mod model;
mod rest;
mod state;
mod subscription;
mod ws;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

pub use config::{Asset, FakeConfig};
pub use interval::Interval;
pub use model::{Candle, Level, Side, Trade, decimal};
pub use rest::{RestRequest, weight};
pub use subscription::Subscription;

use state::{Shared, frame};

/// How long [`FakeHyperliquid::shutdown`] waits for the server task; only
/// a backstop, since every connection is cancelled first.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Size of the trade [`FakeHyperliquid::push_trade_price`] makes up.
const SYNTHETIC_TRADE_SIZE: f64 = 0.1;

/// The running fake. Dropping it stops it without waiting.
pub struct FakeHyperliquid {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

impl FakeHyperliquid {
    /// Binds `127.0.0.1:0` and serves in a spawned task.
    pub async fn start(config: FakeConfig) -> FakeHyperliquid {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("hyperliquid fake: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("hyperliquid fake: bound socket has no address");
        let shared = Arc::new(Shared::new(config));
        let app = Router::new()
            .route("/info", post(rest::info))
            .route("/ws", get(ws::upgrade))
            .with_state(Arc::clone(&shared));
        let stop = shared.root.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            // axum::serve only fails if accept does, which ends the test
            // anyway with connection errors.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await;
        });
        FakeHyperliquid {
            addr,
            shared,
            server: Some(server),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the REST base (POST `{rest_url}/info`).
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// One buy of size 0.1 at `price`: see [`push_trades`](Self::push_trades).
    pub fn push_trade_price(&self, coin: &str, price: f64, ts_ms: i64) {
        let trade = Trade::new(Side::Buy, price, SYNTHETIC_TRADE_SIZE, ts_ms);
        self.push_trades(coin, vec![trade]);
    }

    /// Trades move the whole market, as on the real exchange: each one
    /// updates the bucket containing its time in every interval (o/h/l/c,
    /// `v` += size, `n` += 1; a later bucket closes the previous one), the
    /// coin's mid and the backfill buffer. Then `trades` subscribers get
    /// one frame with the batch, and `candle` subscribers get, per trade,
    /// the whole bucket it touched — preceded, when it opened a new
    /// bucket and [`FakeConfig::send_final_candle_frame`] is on, by a
    /// final frame of the bucket it closed. `allMids` is not pushed: call
    /// [`push_all_mids`](Self::push_all_mids).
    ///
    /// Panics on a coin the fake does not have.
    pub fn push_trades(&self, coin: &str, trades: Vec<Trade>) {
        let mut st = self.shared.lock();
        assert_coin(&st.market, coin);
        let send_final = self.shared.config.send_final_candle_frame;
        let (wire, candles) = st.market.apply_trades(coin, &trades, send_final);
        if !wire.is_empty() {
            let trades_frame = frame("trades", Value::Array(wire));
            st.route(|s| {
                matches!(s, Subscription::Trades { coin: c } if c == coin)
                    .then(|| trades_frame.clone())
            });
        }
        for c in candles {
            let f = frame("candle", c.to_wire());
            st.route(|s| {
                matches!(s, Subscription::Candle { coin: sc, interval }
                    if *sc == c.coin && interval.as_str() == c.interval)
                .then(|| f.clone())
            });
        }
    }

    /// Sets a mid without a trade (spot or padded keys included).
    pub fn set_mid(&self, coin: &str, price: f64) {
        self.shared.lock().market.set_mid(coin, price);
    }

    /// The mids as REST serves them: a bare map of decimal strings.
    pub fn mids(&self) -> Value {
        self.shared.lock().market.mids()
    }

    /// Sends `{"channel":"allMids","data":{"mids":{..}}}` with the full map
    /// to every `allMids` subscriber.
    pub fn push_all_mids(&self) {
        let st = self.shared.lock();
        let f = frame("allMids", json!({"mids": st.market.mids()}));
        st.route(|s| matches!(s, Subscription::AllMids { .. }).then(|| f.clone()));
    }

    /// Replaces the coin's book (bids and asks best first) and pushes the
    /// snapshot to `l2Book` subscribers, cut to 20 levels per side (5 with
    /// `fast`). `nSigFigs`/`mantissa` are accepted but not applied.
    pub fn push_l2_book(&self, coin: &str, bids: Vec<Level>, asks: Vec<Level>, time: i64) {
        let mut st = self.shared.lock();
        assert_coin(&st.market, coin);
        let side = |v: Vec<Level>| v.into_iter().map(Level::to_wire).collect::<Vec<_>>();
        let book = json!({"coin": coin, "time": time, "levels": [side(bids), side(asks)]});
        st.market.set_book(coin, book.clone());
        st.route(|s| match s {
            Subscription::L2Book { coin: c, fast, .. } if c == coin => {
                Some(frame("l2Book", ws::trim_book(&book, *fast)))
            }
            _ => None,
        });
    }

    /// Pushes a `bbo` frame; `None` sides go out as `null`.
    pub fn push_bbo(&self, coin: &str, bid: Option<Level>, ask: Option<Level>, time: i64) {
        let st = self.shared.lock();
        assert_coin(&st.market, coin);
        let f = frame(
            "bbo",
            json!({"coin": coin, "time": time,
                   "bbo": [bid.map(Level::to_wire), ask.map(Level::to_wire)]}),
        );
        st.route(|s| matches!(s, Subscription::Bbo { coin: c } if c == coin).then(|| f.clone()));
    }

    /// Adds (or replaces) buckets of history for `candleSnapshot`; nothing
    /// is pushed. Each candle's coin, interval and close time are set from
    /// the arguments; its open time must be aligned to the interval.
    pub fn seed_history(&self, coin: &str, interval: &str, candles: Vec<Candle>) {
        let iv = parse_interval(interval);
        let mut st = self.shared.lock();
        assert_coin(&st.market, coin);
        st.market.seed(coin, iv, candles);
    }

    /// Ground truth: every bucket of the coin and interval, closed and
    /// open, oldest first — including those older than
    /// [`FakeConfig::history_limit`] that REST no longer serves.
    pub fn candles(&self, coin: &str, interval: &str) -> Vec<Candle> {
        self.shared
            .lock()
            .market
            .series(coin, parse_interval(interval))
    }

    /// Closes every WebSocket connection abruptly (no close frame), like a
    /// server restart. Subscriptions are forgotten at once.
    pub fn drop_connections(&self) {
        let conns = std::mem::take(&mut self.shared.lock().conns);
        for conn in conns.values() {
            conn.kill.cancel();
        }
        self.shared.notify();
    }

    /// Open WebSocket connections.
    pub fn connections(&self) -> usize {
        self.shared.lock().conns.len()
    }

    /// WebSocket connections accepted since start, to count reconnects.
    pub fn connections_accepted(&self) -> usize {
        self.shared.lock().accepted
    }

    /// Live subscriptions of every open connection, by connection age
    /// then subscription order.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let st = self.shared.lock();
        st.conns
            .values()
            .flat_map(|c| c.subs.iter().map(|(s, _)| s.clone()))
            .collect()
    }

    /// Every text frame clients sent, in arrival order (pings included).
    pub fn client_messages(&self) -> Vec<String> {
        self.shared.lock().client_messages.clone()
    }

    /// Every `/info` call so far, refused ones included.
    pub fn requests(&self) -> Vec<RestRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets recorded requests and resets the weight budget.
    pub fn clear_requests(&self) {
        let mut st = self.shared.lock();
        st.requests.clear();
        st.weights.clear();
    }

    /// While on, nothing reaches clients — no acks, data, errors or pongs
    /// (frames are discarded, not delayed) — and idle closes are
    /// suspended: a hung server, not a closing one. Requests still
    /// register subscriptions. When turned off, the idle clock restarts.
    pub fn set_silent(&self, on: bool) {
        self.shared.silent.send_replace(on);
    }

    /// Waits until at least `n` subscriptions are live in total. Panics
    /// after `timeout`, listing what is live.
    pub async fn wait_for_subscriptions(&self, n: usize, timeout: Duration) {
        self.wait_until(timeout, |f| f.subscriptions().len() >= n)
            .await
            .unwrap_or_else(|()| {
                panic!(
                    "hyperliquid fake: wanted {n} subscriptions within {timeout:?}, have {:?}",
                    self.subscriptions()
                )
            });
    }

    /// Waits until exactly `n` connections are open. Panics after `timeout`.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) {
        self.wait_until(timeout, |f| f.connections() == n)
            .await
            .unwrap_or_else(|()| {
                panic!(
                    "hyperliquid fake: wanted {n} connections within {timeout:?}, have {}",
                    self.connections()
                )
            });
    }

    async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&FakeHyperliquid) -> bool,
    ) -> Result<(), ()> {
        let mut changed = self.shared.changed.subscribe();
        let wait = async {
            while !done(self) {
                // The sender lives as long as `self`, so this cannot fail.
                let _ = changed.changed().await;
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| ())
    }

    /// Closes every connection abruptly and stops the server.
    pub async fn shutdown(mut self) {
        self.shared.root.cancel();
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for FakeHyperliquid {
    fn drop(&mut self) {
        self.shared.root.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Pushing data for a coin no client could subscribe to is a test bug.
fn assert_coin(market: &market::Market, coin: &str) {
    assert!(
        market.coins.contains(coin),
        "hyperliquid fake: {coin:?} is not in the universe or extra_coins"
    );
}

fn parse_interval(interval: &str) -> Interval {
    Interval::parse(interval)
        .unwrap_or_else(|| panic!("hyperliquid fake: unknown interval {interval:?}"))
}
