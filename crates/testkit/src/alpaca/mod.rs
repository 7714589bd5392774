//! A fake Alpaca Trading API v2 on one local port, speaking the real
//! protocol as described in `shared/reference/alpaca.md`: the keys in
//! `APCA-API-*` headers, string decimals, nanosecond timestamps, the real
//! error bodies (`{"code": 40310000, "message": "insufficient buying
//! power", …}`), and `X-Ratelimit-*` headers on every answer.
//!
//! The fake owns one account. Tests set prices ([`set_price`] also
//! creates the asset: a slash makes it a crypto pair), seed positions and
//! cash, choose how orders fill ([`FillMode`], [`script_next_order`]),
//! force the next answer ([`force`]) and read back what was sent
//! ([`requests`]). Orders that can execute fill at the set price and move
//! cash and positions; limit and stop orders rest until the price reaches
//! them. There is no clock: nothing happens unless a request or the test
//! makes it happen.
//!
//! The `/stream` WebSocket sends `trade_updates` for every order change
//! (see `stream.rs`).
//!
//! It never talks to Alpaca. Not served: assets, market data, multi-leg
//! (`mleg`) orders, options beyond the type/TIF table.
//!
//! [`set_price`]: FakeAlpaca::set_price
//! [`script_next_order`]: FakeAlpaca::script_next_order
//! [`force`]: FakeAlpaca::force
//! [`requests`]: FakeAlpaca::requests

mod book;
mod config;
mod fills;
mod manage;
mod model;
mod routes;
mod server;
mod stream;
mod validate;

#[cfg(test)]
mod tests;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, routing::get};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};

pub use config::{FakeAlpacaConfig, FillMode, Forced, OpenStatus, Stage};
pub use model::{AssetClass, FINAL, dec, ts};
pub use server::RecordedRequest;

use model::Position;
use server::Shared;

/// The running fake. Dropping it stops it.
pub struct FakeAlpaca {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

impl FakeAlpaca {
    /// Binds `127.0.0.1:0` and serves in a spawned task.
    pub async fn start(config: FakeAlpacaConfig) -> FakeAlpaca {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("alpaca fake: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("alpaca fake: bound socket has no address");
        let shared = Arc::new(Shared::new(config));
        let app = Router::new()
            .route("/stream", get(stream::upgrade))
            .fallback(server::handle)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            // Only fails if accept does, which the test sees as
            // connection errors anyway.
            let _ = axum::serve(listener, app).await;
        });
        FakeAlpaca {
            addr,
            shared,
            server: Some(server),
        }
    }

    /// With [`FakeAlpacaConfig::default`].
    pub async fn start_default() -> FakeAlpaca {
        FakeAlpaca::start(FakeAlpacaConfig::default()).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the REST base, without `/v2`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/stream`, the `trade_updates` stream.
    pub fn stream_url(&self) -> String {
        format!("ws://{}/stream", self.addr)
    }

    /// Open `/stream` connections.
    pub fn stream_connections(&self) -> usize {
        self.shared.lock().stream_connections
    }

    /// Every frame `/stream` clients sent, in arrival order.
    pub fn stream_messages(&self) -> Vec<String> {
        self.shared.lock().stream_messages.clone()
    }

    pub fn key_id(&self) -> &str {
        &self.shared.config.key_id
    }

    pub fn secret_key(&self) -> &str {
        &self.shared.config.secret_key
    }

    /// Sets the price of `symbol`, creating the asset on first use
    /// (`BTC/USD` is crypto, its position `BTCUSD`; an OCC contract is an
    /// option; anything else equity). Resting orders that the price
    /// reaches fill. The first price is also `lastday_price`.
    pub fn set_price(&self, symbol: &str, price: Decimal) {
        self.shared.lock().book.set_price(symbol, price);
    }

    /// Puts a position in place without an order (negative is short).
    /// The asset must have a price.
    pub fn set_position(&self, symbol: &str, qty: Decimal, avg_entry_price: Decimal) {
        let mut st = self.shared.lock();
        let asset = st
            .book
            .lookup(symbol)
            .unwrap_or_else(|| panic!("alpaca fake: set a price for {symbol:?} first"));
        let key = asset.position_symbol();
        if qty.is_zero() {
            st.book.positions.remove(&key);
            return;
        }
        st.book.positions.insert(
            key.clone(),
            Position {
                asset_id: asset.id,
                symbol: key,
                class: asset.class,
                qty,
                avg_entry_price,
            },
        );
    }

    pub fn set_cash(&self, cash: Decimal) {
        self.shared.lock().book.cash = cash;
    }

    pub fn cash(&self) -> Decimal {
        self.shared.lock().book.cash
    }

    /// How orders without a script fill from now on.
    pub fn set_fill_mode(&self, mode: FillMode) {
        self.shared.lock().book.fill_mode = mode;
    }

    /// The next accepted order (of any type, also one made by closing a
    /// position) follows `stages` instead of the fill mode. Queued
    /// scripts are used in order.
    pub fn script_next_order(&self, stages: Vec<Stage>) {
        assert!(!stages.is_empty(), "alpaca fake: an empty script");
        self.shared.lock().book.next_scripts.push_back(stages);
    }

    /// Answers the first request that matches `forced` with it instead
    /// of the real answer. Several are used in the order given.
    pub fn force(&self, forced: Forced) {
        self.shared.lock().forced.push(forced);
    }

    /// Answers new orders with 403 `new orders are rejected by user
    /// request` (and shows `trade_suspended_by_user`).
    pub fn set_reject_new_orders(&self, on: bool) {
        self.shared.lock().book.reject_new_orders = on;
    }

    /// A new budget of `limit` requests per `window`, starting now.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        let mut st = self.shared.lock();
        st.rate_limit = limit;
        st.rate_window = window;
        st.reset_rate_window();
    }

    /// Fills `qty` more of an open order (all that is left if `None`) at
    /// the symbol's price. Panics on an unknown or closed order.
    pub fn fill_order(&self, order_id: &str, qty: Option<Decimal>) {
        let mut st = self.shared.lock();
        let book = &mut st.book;
        let i = book
            .index_of(order_id)
            .unwrap_or_else(|| panic!("alpaca fake: no order {order_id}"));
        assert!(
            book.orders[i].is_open(),
            "alpaca fake: order {order_id} is closed"
        );
        let price = book.price_of(&book.orders[i].symbol);
        let qty = qty.unwrap_or_else(|| book.orders[i].remaining(price));
        book.orders[i].script.clear();
        book.fill(i, qty, price);
    }

    /// Sets an order's status by hand (`expired`, `canceled`, `rejected`,
    /// `done_for_day`, …), as the exchange would, and sends the matching
    /// `trade_updates` event (the status's name; `fill` and
    /// `partial_fill` for the fill statuses, without a fill).
    pub fn set_order_status(&self, order_id: &str, status: &str) {
        let mut st = self.shared.lock();
        let i = st
            .book
            .index_of(order_id)
            .unwrap_or_else(|| panic!("alpaca fake: no order {order_id}"));
        let o = &mut st.book.orders[i];
        let now = chrono::Utc::now();
        o.status = status.to_owned();
        o.script.clear();
        o.updated_at = now;
        match status {
            "canceled" => o.canceled_at = Some(now),
            "expired" => o.expired_at = Some(now),
            "rejected" => o.failed_at = Some(now),
            _ => {}
        }
        let event = match status {
            "filled" => "fill",
            "partially_filled" => "partial_fill",
            other => other,
        };
        st.book.emit(i, event, None);
    }

    /// Every order, wire form, oldest first (children included).
    pub fn orders(&self) -> Vec<Value> {
        let st = self.shared.lock();
        (0..st.book.orders.len())
            .map(|i| st.book.order_wire(i))
            .collect()
    }

    /// One order, wire form, without counting as a read.
    pub fn order(&self, order_id: &str) -> Option<Value> {
        let st = self.shared.lock();
        st.book.index_of(order_id).map(|i| st.book.order_wire(i))
    }

    /// Every position, wire form.
    pub fn positions(&self) -> Vec<Value> {
        let st = self.shared.lock();
        st.book
            .positions
            .values()
            .map(|p| st.book.position_wire(p))
            .collect()
    }

    /// The signed quantity held of `symbol` (either form), zero if none.
    pub fn position_qty(&self, symbol: &str) -> Decimal {
        let st = self.shared.lock();
        st.book
            .lookup(symbol)
            .map_or(Decimal::ZERO, |a| st.book.position_qty(&a.symbol))
    }

    /// `GET /v2/account` as it would answer now.
    pub fn account(&self) -> Value {
        self.shared.lock().book.account_wire()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests with `method` whose path starts with `path_prefix`.
    pub fn requests_to(&self, method: &str, path_prefix: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Stops the server.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }
}

impl Drop for FakeAlpaca {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
