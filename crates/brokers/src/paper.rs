//! The built-in paper broker: simulated fills against the live feed, no
//! account needed. It is the default broker.
//!
//! # How it trades
//!
//! - **Symbols.** Orders and positions carry the canonical form of their
//!   symbol ([`ParsedSymbol::canonical`]: `BTC/USD`, `AAPL`, `BRK.B`), so
//!   `BTCUSD`, `BTC-USD` and `COINBASE:BTCUSD` are one position. Prices come
//!   from the [`PriceSource`] under [`price_key`]: crypto by its base asset
//!   (`BTC`, as the feed names it; `BTC/USDT` is priced as `BTC` too), other
//!   classes by the canonical symbol. The newest of the source's price and
//!   the last [`PaperBroker::on_price`] tick is used.
//! - **Market orders** fill at once at the latest price moved against the
//!   trader by `slippage_bps` (a buy pays up, a sell gets less), or are
//!   rejected when there is no price ("no market price for X").
//! - **Limit, stop and stop-limit orders** rest (status `new`) and are
//!   checked on every tick by [`PaperBroker::on_price`] — also the first
//!   tick after they are placed, even when they are marketable at once, so
//!   every fill of a resting order and every OCO cancel comes out of
//!   `on_price`. A buy limit fills when the price is at or below the limit,
//!   a sell limit at or above, at the tick's price (slipped, but never worse
//!   than the limit); a buy stop fills when the price is at or above the
//!   stop, a sell stop at or below, at the tick's price slipped (a gap
//!   through the stop fills at the gapped price). A stop-limit is triggered
//!   by its stop and then works as a limit, also on later ticks.
//!   `ioc`/`fok` limit and stop orders are decided at submission against
//!   the current price: filled, or canceled. Other times in force are
//!   treated alike: orders rest until filled or canceled (no sessions, no
//!   `day` expiry). Fills are whole: no partial fills.
//! - **OCO.** Open orders whose client order ids are `X-sl` and `X-tp` (see
//!   [`crate::adapter::with_leg`]) form a group: when one fills, the other
//!   is canceled, and reported in [`PriceUpdate::canceled`].
//! - **Commission** per fill: `commission_per_order` plus `commission_pct`
//!   percent of the notional (`0.1` = 0.1 %), rounded to 8 decimals.
//! - **Positions** have a signed quantity and an average entry price. Cash
//!   moves with every fill (notional and commission), so realised P&L ends
//!   up in cash. Shorts are allowed for every class in paper, crypto too
//!   unless `allow_crypto_short` is false (Alpaca itself does not short
//!   crypto).
//! - **Buying power** = cash − 2 × the market value of short positions,
//!   i.e. equity not yet committed to positions, without margin: for an
//!   account without shorts it is the cash. An order that opens or adds to a
//!   position must leave it non-negative (checked when placed, at the limit
//!   or stop price for resting orders, and again when it fills, as open
//!   orders reserve nothing; a resting order that no longer fits is
//!   rejected then and reported in [`PriceUpdate::rejected`]). Orders that
//!   only reduce a position are always allowed.
//! - **Equity** = cash + Σ qty × last price (the average entry price when a
//!   symbol has no price).
//! - **Idempotency.** A `client_order_id` already used gives back the
//!   existing order, filled or not, with no second fill. Ids are remembered
//!   while their order is open or among the last [`HISTORY_LIMIT`] final
//!   orders.
//! - **Persistence.** [`PaperBroker::snapshot`] gives the whole state
//!   ([`PaperState`], serde) and [`PaperBroker::restore`] rebuilds the broker
//!   from it; the server stores it in the same transaction as the order
//!   rows each batch of changes wrote.
//!
//! All methods take a mutex for a few microseconds and do no IO. The
//! [`PriceSource`] is called with the mutex held, so it must not call back
//! into the broker.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::{Deserialize, Serialize};

use crate::adapter::{BrokerAdapter, BrokerError, Rejection, oco_leg};
use crate::symbol::{AssetClass, ParsedSymbol, parse_symbol, same_instrument};
use crate::types::{
    Account, Order, OrderRequest, OrderStatus, OrderType, Position, Side, TimeInForce,
};

/// Final orders kept in the state (and so remembered for idempotency).
/// The server commits the state together with the order rows, so the
/// rows, not this history, are the record of past orders; a small history
/// keeps the state (saved with every batch of changes) small.
pub const HISTORY_LIMIT: usize = 100;

/// Latest prices, implemented by the server from its market cache.
pub trait PriceSource: Send + Sync {
    /// The latest price of `feed_symbol` and its time (Unix ms).
    fn price(&self, feed_symbol: &str) -> Option<(f64, i64)>;
}

/// Settings of the paper broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PaperConfig {
    /// Cash of a new account.
    pub starting_cash: Decimal,
    /// Fixed commission per fill.
    pub commission_per_order: Decimal,
    /// Commission in percent of the notional: `0.1` is 0.1 %.
    pub commission_pct: Decimal,
    /// Slippage of market and stop fills in basis points: `5` is 0.05 %.
    pub slippage_bps: Decimal,
    /// Whether crypto may be sold short (Alpaca refuses; paper allows by
    /// default).
    pub allow_crypto_short: bool,
}

impl Default for PaperConfig {
    /// 100 000 USD, no commission, no slippage, crypto shorts allowed.
    fn default() -> Self {
        PaperConfig {
            starting_cash: Decimal::from(100_000),
            commission_per_order: Decimal::ZERO,
            commission_pct: Decimal::ZERO,
            slippage_bps: Decimal::ZERO,
            allow_crypto_short: true,
        }
    }
}

/// A position as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperPosition {
    /// Canonical symbol.
    pub symbol: String,
    /// Signed; never zero (a closed position is removed).
    pub qty: Decimal,
    pub avg_entry_price: Decimal,
}

/// An open order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperOrder {
    pub order: Order,
    pub time_in_force: TimeInForce,
    /// A stop-limit whose stop was crossed: it now works as a limit.
    #[serde(default)]
    pub triggered: bool,
}

/// The last tick of a price key seen by [`PaperBroker::on_price`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastPrice {
    pub key: String,
    pub price: f64,
    /// Unix ms.
    pub ts: i64,
}

/// Everything the paper broker knows; JSON via serde. Restoring it gives a
/// broker in the same state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperState {
    pub cash: Decimal,
    /// Sorted by symbol.
    pub positions: Vec<PaperPosition>,
    /// In the order they were placed.
    pub open_orders: Vec<PaperOrder>,
    /// Final orders (filled, canceled, rejected), oldest first, at most
    /// [`HISTORY_LIMIT`].
    pub history: Vec<Order>,
    /// The number in the next order id (`paper-{seq}`).
    pub next_seq: u64,
    /// Last ticks by key, sorted, so that equity is marked the same way
    /// after a restart until the price source has prices again.
    #[serde(default)]
    pub last_prices: Vec<LastPrice>,
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceUpdate {
    /// Orders that filled, in the order they were placed.
    pub filled: Vec<Order>,
    /// OCO siblings canceled because their partner filled.
    pub canceled: Vec<Order>,
    /// Resting orders refused when they would have filled (buying power, or
    /// a crypto short when those are disallowed).
    pub rejected: Vec<Order>,
}

impl PriceUpdate {
    pub fn is_empty(&self) -> bool {
        self.filled.is_empty() && self.canceled.is_empty() && self.rejected.is_empty()
    }
}

/// The key the paper broker prices `symbol` by: the base asset for crypto
/// (`BTCUSDT` → `BTC`), the canonical symbol otherwise (`nasdaq:aapl` →
/// `AAPL`; forex without its slash, `EURUSD`).
pub fn price_key(symbol: &str) -> String {
    key_of(&parse_symbol(symbol))
}

fn key_of(p: &ParsedSymbol) -> String {
    match p.class {
        AssetClass::Crypto => p.base.clone(),
        AssetClass::Forex => format!("{}{}", p.base, p.quote_or_usd()),
        AssetClass::Equity | AssetClass::Unknown => p.base.clone(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn to_decimal(price: f64) -> Option<Decimal> {
    if !price.is_finite() || price <= 0.0 {
        return None;
    }
    Decimal::from_f64(price)
        .map(|d| d.normalize())
        .filter(|d| *d > Decimal::ZERO)
}

fn signed(side: Side, qty: Decimal) -> Decimal {
    match side {
        Side::Buy => qty,
        Side::Sell => -qty,
    }
}

#[derive(Debug)]
struct Inner {
    cash: Decimal,
    positions: BTreeMap<String, PaperPosition>,
    open: Vec<PaperOrder>,
    history: VecDeque<Order>,
    next_seq: u64,
    /// Last tick per price key, from `on_price`.
    last: HashMap<String, (f64, i64)>,
}

impl Inner {
    fn find(&self, pred: impl Fn(&Order) -> bool) -> Option<&Order> {
        self.open
            .iter()
            .map(|o| &o.order)
            .find(|o| pred(o))
            .or_else(|| self.history.iter().find(|o| pred(o)))
    }

    fn archive(&mut self, order: Order) {
        self.history.push_back(order);
        while self.history.len() > HISTORY_LIMIT {
            self.history.pop_front();
        }
    }

    fn next_id(&mut self) -> String {
        let id = format!("paper-{}", self.next_seq);
        self.next_seq += 1;
        id
    }
}

/// The paper broker. Cheap to share behind an `Arc`.
pub struct PaperBroker {
    config: PaperConfig,
    prices: Arc<dyn PriceSource>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for PaperBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperBroker")
            .field("config", &self.config)
            .field("inner", &self.lock())
            .finish_non_exhaustive()
    }
}

impl PaperBroker {
    /// A fresh account with `config.starting_cash` and nothing else.
    pub fn new(config: PaperConfig, prices: Arc<dyn PriceSource>) -> Self {
        let state = PaperState {
            cash: config.starting_cash,
            positions: Vec::new(),
            open_orders: Vec::new(),
            history: Vec::new(),
            next_seq: 1,
            last_prices: Vec::new(),
        };
        Self::restore(config, prices, state)
    }

    /// A broker in the state `snapshot` returned (cash comes from the state,
    /// not from `config.starting_cash`).
    pub fn restore(config: PaperConfig, prices: Arc<dyn PriceSource>, state: PaperState) -> Self {
        let mut history: VecDeque<Order> = state.history.into();
        while history.len() > HISTORY_LIMIT {
            history.pop_front();
        }
        let inner = Inner {
            cash: state.cash,
            positions: state
                .positions
                .into_iter()
                .filter(|p| !p.qty.is_zero())
                .map(|p| (p.symbol.clone(), p))
                .collect(),
            open: state.open_orders,
            history,
            next_seq: state.next_seq.max(1),
            last: state
                .last_prices
                .into_iter()
                .filter(|l| to_decimal(l.price).is_some())
                .map(|l| (l.key, (l.price, l.ts)))
                .collect(),
        };
        PaperBroker {
            config,
            prices,
            inner: Mutex::new(inner),
        }
    }

    /// The whole state, to store and later [`restore`](Self::restore).
    pub fn snapshot(&self) -> PaperState {
        let inner = self.lock();
        PaperState {
            cash: inner.cash,
            positions: inner.positions.values().cloned().collect(),
            open_orders: inner.open.clone(),
            history: inner.history.iter().cloned().collect(),
            next_seq: inner.next_seq,
            last_prices: {
                let mut last: Vec<LastPrice> = inner
                    .last
                    .iter()
                    .map(|(key, &(price, ts))| LastPrice {
                        key: key.clone(),
                        price,
                        ts,
                    })
                    .collect();
                last.sort_by(|a, b| a.key.cmp(&b.key));
                last
            },
        }
    }

    pub fn config(&self) -> &PaperConfig {
        &self.config
    }

    /// The price keys of open orders and positions: the feed symbols whose
    /// ticks matter to this broker.
    pub fn price_keys(&self) -> Vec<String> {
        let inner = self.lock();
        let mut keys: Vec<String> = inner
            .open
            .iter()
            .map(|o| price_key(&o.order.symbol))
            .chain(inner.positions.keys().map(|s| price_key(s)))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// A new price for `feed_symbol` (a [`price_key`], e.g. `BTC`): fills
    /// the resting orders it crosses, cancels their OCO siblings. Call it on
    /// every tick. Non-finite or non-positive prices are ignored.
    pub fn on_price(&self, feed_symbol: &str, price: f64, ts: i64) -> PriceUpdate {
        let mut out = PriceUpdate::default();
        let Some(p) = to_decimal(price) else {
            return out;
        };
        let mut inner = self.lock();
        let newer = inner.last.get(feed_symbol).is_none_or(|(_, t)| *t <= ts);
        if newer {
            inner.last.insert(feed_symbol.to_string(), (price, ts));
        }
        let ids: Vec<String> = inner
            .open
            .iter()
            .filter(|o| price_key(&o.order.symbol) == feed_symbol)
            .map(|o| o.order.id.clone())
            .collect();
        for id in ids {
            // An earlier fill in this loop may have canceled it (OCO).
            let Some(idx) = inner.open.iter().position(|o| o.order.id == id) else {
                continue;
            };
            let mut triggered = inner.open[idx].triggered;
            let fill = self.crossing(&inner.open[idx].order, &mut triggered, p);
            inner.open[idx].triggered = triggered;
            let Some(fill_price) = fill else {
                continue;
            };
            let mut order = inner.open.remove(idx).order;
            match self.execute(&mut inner, &mut order, fill_price, ts) {
                Ok(()) => {
                    inner.archive(order.clone());
                    if let Some(sibling) = Self::cancel_sibling(&mut inner, &order, ts) {
                        out.canceled.push(sibling);
                    }
                    out.filled.push(order);
                }
                Err(_) => {
                    order.status = OrderStatus::Rejected;
                    order.updated_at = ts;
                    inner.archive(order.clone());
                    out.rejected.push(order);
                }
            }
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest price under `key`: the source's or the last tick's.
    fn mark(&self, inner: &Inner, key: &str) -> Option<Decimal> {
        let source = self.prices.price(key);
        let tick = inner.last.get(key).copied();
        let best = match (source, tick) {
            (Some(s), Some(t)) => Some(if t.1 > s.1 { t } else { s }),
            (s, t) => s.or(t),
        };
        best.and_then(|(price, _)| to_decimal(price))
    }

    fn mark_or_avg(&self, inner: &Inner, pos: &PaperPosition) -> Decimal {
        self.mark(inner, &price_key(&pos.symbol))
            .unwrap_or(pos.avg_entry_price)
    }

    /// `price` moved against the trader by the slippage.
    fn slipped(&self, side: Side, price: Decimal) -> Decimal {
        let s = self.config.slippage_bps / Decimal::from(10_000);
        let factor = match side {
            Side::Buy => Decimal::ONE + s,
            Side::Sell => Decimal::ONE - s,
        };
        (price * factor).round_dp(8).normalize()
    }

    fn commission(&self, notional: Decimal) -> Decimal {
        (self.config.commission_per_order
            + notional * self.config.commission_pct / Decimal::from(100))
        .round_dp(8)
        .normalize()
    }

    /// The fill price if `order` trades at market price `p`; updates a
    /// stop-limit's trigger.
    fn crossing(&self, order: &Order, triggered: &mut bool, p: Decimal) -> Option<Decimal> {
        let side = order.side;
        let limit_fill = |limit: Decimal| match side {
            Side::Buy => (p <= limit).then(|| self.slipped(side, p).min(limit)),
            Side::Sell => (p >= limit).then(|| self.slipped(side, p).max(limit)),
        };
        let stop_crossed = |stop: Decimal| match side {
            Side::Buy => p >= stop,
            Side::Sell => p <= stop,
        };
        match order.order_type {
            OrderType::Market => Some(self.slipped(side, p)),
            OrderType::Limit => limit_fill(order.limit_price?),
            OrderType::Stop => stop_crossed(order.stop_price?).then(|| self.slipped(side, p)),
            OrderType::StopLimit => {
                if !*triggered && stop_crossed(order.stop_price?) {
                    *triggered = true;
                }
                if *triggered {
                    limit_fill(order.limit_price?)
                } else {
                    None
                }
            }
        }
    }

    /// Market value of short positions (positive), with `symbol` taken at
    /// `qty` and `price` instead of its current state.
    fn short_exposure(&self, inner: &Inner, symbol: &str, qty: Decimal, price: Decimal) -> Decimal {
        let others: Decimal = inner
            .positions
            .values()
            .filter(|p| p.symbol != symbol && p.qty < Decimal::ZERO)
            .map(|p| -p.qty * self.mark_or_avg(inner, p))
            .sum();
        let this = if qty < Decimal::ZERO {
            -qty * price
        } else {
            Decimal::ZERO
        };
        others + this
    }

    fn buying_power(&self, inner: &Inner) -> Decimal {
        let shorts: Decimal = inner
            .positions
            .values()
            .filter(|p| p.qty < Decimal::ZERO)
            .map(|p| -p.qty * self.mark_or_avg(inner, p))
            .sum();
        (inner.cash - Decimal::TWO * shorts).max(Decimal::ZERO)
    }

    /// Checks that trading `qty` of `symbol` on `side` at `price` is allowed
    /// now; returns the cash after it.
    fn affordable(
        &self,
        inner: &Inner,
        symbol: &str,
        side: Side,
        qty: Decimal,
        price: Decimal,
    ) -> Result<Decimal, BrokerError> {
        let q0 = inner.positions.get(symbol).map_or(Decimal::ZERO, |p| p.qty);
        let q1 = q0 + signed(side, qty);
        if !self.config.allow_crypto_short
            && q1 < Decimal::ZERO
            && parse_symbol(symbol).class == AssetClass::Crypto
        {
            return Err(crypto_short(symbol, qty, q0).into());
        }
        let notional = qty * price;
        let fee = self.commission(notional);
        let cash1 = match side {
            Side::Buy => inner.cash - notional - fee,
            Side::Sell => inner.cash + notional - fee,
        };
        let flips = !q0.is_zero() && !q1.is_zero() && (q0 > Decimal::ZERO) != (q1 > Decimal::ZERO);
        let opens = q1.abs() > q0.abs() || flips;
        if opens {
            let after = cash1 - Decimal::TWO * self.short_exposure(inner, symbol, q1, price);
            if after < Decimal::ZERO {
                return Err(BrokerError::InsufficientFunds(format!(
                    "insufficient buying power: {side} {qty} {symbol} at {price} needs {} \
                     (commission included), buying power is {}",
                    (notional + fee).normalize(),
                    self.buying_power(inner).normalize()
                )));
            }
        }
        Ok(cash1)
    }

    /// Fills `order` entirely at `price` at time `ts`: moves cash, updates
    /// the position, marks the order filled.
    fn execute(
        &self,
        inner: &mut Inner,
        order: &mut Order,
        price: Decimal,
        ts: i64,
    ) -> Result<(), BrokerError> {
        let symbol = order.symbol.clone();
        let cash1 = self.affordable(inner, &symbol, order.side, order.qty, price)?;
        inner.cash = cash1.normalize();
        let delta = signed(order.side, order.qty);
        let (q0, avg0) = inner
            .positions
            .get(&symbol)
            .map_or((Decimal::ZERO, Decimal::ZERO), |p| {
                (p.qty, p.avg_entry_price)
            });
        let q1 = q0 + delta;
        if q1.is_zero() {
            inner.positions.remove(&symbol);
        } else {
            let adds = q0.is_zero() || (q0 > Decimal::ZERO) == (delta > Decimal::ZERO);
            let flips = (q0 > Decimal::ZERO) != (q1 > Decimal::ZERO);
            let avg1 = if adds {
                ((q0.abs() * avg0 + order.qty * price) / q1.abs()).round_dp(10)
            } else if flips {
                price
            } else {
                avg0
            };
            inner.positions.insert(
                symbol.clone(),
                PaperPosition {
                    symbol,
                    qty: q1.normalize(),
                    avg_entry_price: avg1.normalize(),
                },
            );
        }
        order.filled_qty = order.qty;
        order.filled_avg_price = Some(price);
        order.status = OrderStatus::Filled;
        order.updated_at = ts;
        Ok(())
    }

    /// Cancels the open OCO partner of `filled`, if any.
    fn cancel_sibling(inner: &mut Inner, filled: &Order, ts: i64) -> Option<Order> {
        let (group, leg) = oco_leg(&filled.client_order_id)?;
        let other = format!("{group}-{}", if leg == "sl" { "tp" } else { "sl" });
        let idx = inner
            .open
            .iter()
            .position(|o| o.order.client_order_id == other)?;
        let mut sibling = inner.open.remove(idx).order;
        sibling.status = OrderStatus::Canceled;
        sibling.updated_at = ts;
        inner.archive(sibling.clone());
        Some(sibling)
    }

    fn position_view(&self, inner: &Inner, p: &PaperPosition) -> Position {
        let mark = self.mark_or_avg(inner, p);
        Position {
            symbol: p.symbol.clone(),
            qty: p.qty,
            avg_entry_price: p.avg_entry_price,
            market_value: (p.qty * mark).normalize(),
            unrealized_pl: ((mark - p.avg_entry_price) * p.qty).normalize(),
        }
    }

    fn submit(&self, req: &OrderRequest) -> Result<Order, BrokerError> {
        let mut inner = self.lock();
        if !req.client_order_id.is_empty()
            && let Some(existing) = inner.find(|o| o.client_order_id == req.client_order_id)
        {
            return Ok(existing.clone());
        }
        let parsed = parse_symbol(&req.symbol);
        let symbol = parsed.canonical();
        let position = inner
            .positions
            .get(&symbol)
            .map(|p| self.position_view(&inner, p));
        self.check_restrictions(req, position.as_ref())
            .map_err(|r| {
                if r.code.starts_with("invalid") {
                    BrokerError::Invalid(r.reason)
                } else {
                    r.into()
                }
            })?;
        let key = key_of(&parsed);
        let mark = self.mark(&inner, &key);
        let now = now_ms();
        let mut order = Order {
            id: String::new(),
            client_order_id: req.client_order_id.clone(),
            symbol: symbol.clone(),
            side: req.side,
            qty: req.qty.normalize(),
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            order_type: req.order_type,
            status: OrderStatus::New,
            limit_price: req.limit_price.map(|d| d.normalize()),
            stop_price: req.stop_price.map(|d| d.normalize()),
            submitted_at: now,
            updated_at: now,
        };
        // A limit or stop order the price already crosses trades at once,
        // as at a real venue (a marketable limit takes the offer).
        let crossed = matches!(req.order_type, OrderType::Limit | OrderType::Stop)
            && mark.is_some_and(|p| self.crossing(&order, &mut false, p).is_some());
        let immediate = req.order_type == OrderType::Market
            || crossed
            || matches!(req.time_in_force, TimeInForce::Ioc | TimeInForce::Fok);
        if req.order_type == OrderType::Market && mark.is_none() {
            return Err(BrokerError::Rejected {
                status: 422,
                code: Some("no_price".into()),
                message: if key == symbol {
                    format!("no market price for {symbol}")
                } else {
                    format!("no market price for {symbol} (feed symbol {key})")
                },
            });
        }
        if immediate {
            let mut triggered = false;
            let fill = mark.and_then(|p| self.crossing(&order, &mut triggered, p));
            match fill {
                Some(price) => self.execute(&mut inner, &mut order, price, now)?,
                None => order.status = OrderStatus::Canceled,
            }
            order.id = inner.next_id();
            if order.client_order_id.is_empty() {
                order.client_order_id = order.id.clone();
            }
            inner.archive(order.clone());
            if order.status == OrderStatus::Filled {
                // Decided at submission, so no tick reports the canceled
                // sibling; it can be read back with get_order.
                Self::cancel_sibling(&mut inner, &order, now);
            }
            return Ok(order);
        }
        // A resting order: check it would be affordable at its own price.
        let reference = match req.order_type {
            OrderType::Limit | OrderType::StopLimit => req.limit_price,
            OrderType::Stop => req.stop_price,
            OrderType::Market => mark,
        }
        .unwrap_or(Decimal::ZERO);
        self.affordable(&inner, &symbol, req.side, order.qty, reference)?;
        order.id = inner.next_id();
        if order.client_order_id.is_empty() {
            order.client_order_id = order.id.clone();
        }
        inner.open.push(PaperOrder {
            order: order.clone(),
            time_in_force: req.time_in_force,
            triggered: false,
        });
        Ok(order)
    }
}

fn crypto_short(symbol: &str, qty: Decimal, held: Decimal) -> Rejection {
    Rejection::new(
        "crypto_short",
        format!(
            "crypto cannot be sold short: sell {qty} {symbol} exceeds the {} held",
            held.max(Decimal::ZERO).normalize()
        ),
    )
}

#[async_trait]
impl BrokerAdapter for PaperBroker {
    fn kind(&self) -> &'static str {
        "paper"
    }

    async fn account(&self) -> Result<Account, BrokerError> {
        let inner = self.lock();
        let value: Decimal = inner
            .positions
            .values()
            .map(|p| p.qty * self.mark_or_avg(&inner, p))
            .sum();
        Ok(Account {
            equity: (inner.cash + value).normalize(),
            cash: inner.cash,
            buying_power: self.buying_power(&inner).normalize(),
            currency: "USD".into(),
        })
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let inner = self.lock();
        Ok(inner
            .positions
            .values()
            .map(|p| self.position_view(&inner, p))
            .collect())
    }

    async fn submit_order(&self, req: &OrderRequest) -> Result<Order, BrokerError> {
        self.submit(req)
    }

    async fn get_order(&self, id: &str) -> Result<Order, BrokerError> {
        self.lock()
            .find(|o| o.id == id)
            .cloned()
            .ok_or(BrokerError::NotFound)
    }

    async fn get_order_by_client_id(
        &self,
        client_order_id: &str,
    ) -> Result<Option<Order>, BrokerError> {
        Ok(self
            .lock()
            .find(|o| o.client_order_id == client_order_id)
            .cloned())
    }

    async fn cancel_order(&self, id: &str) -> Result<(), BrokerError> {
        let mut inner = self.lock();
        if let Some(idx) = inner.open.iter().position(|o| o.order.id == id) {
            let mut order = inner.open.remove(idx).order;
            order.status = OrderStatus::Canceled;
            order.updated_at = now_ms();
            inner.archive(order);
            return Ok(());
        }
        match inner.history.iter().find(|o| o.id == id) {
            Some(o) => Err(BrokerError::Rejected {
                status: 422,
                code: Some("not_cancelable".into()),
                message: format!("order is {} and cannot be canceled", o.status),
            }),
            None => Err(BrokerError::NotFound),
        }
    }

    async fn list_open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        Ok(self.lock().open.iter().map(|o| o.order.clone()).collect())
    }

    async fn close_position(&self, symbol: &str) -> Result<Option<Order>, BrokerError> {
        let position = {
            let inner = self.lock();
            inner
                .positions
                .values()
                .find(|p| same_instrument(&p.symbol, symbol))
                .cloned()
        };
        let Some(p) = position else {
            return Ok(None);
        };
        let side = if p.qty > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        let req = OrderRequest {
            client_order_id: String::new(),
            symbol: p.symbol,
            side,
            qty: p.qty.abs(),
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            limit_price: None,
            stop_price: None,
        };
        self.submit(&req).map(Some)
    }

    /// Paper's rules: a known-looking symbol, qty > 0, exactly the price
    /// fields of the order type and positive, and no crypto short sale when
    /// `allow_crypto_short` is false. Validation failures have codes
    /// starting with `invalid` (`submit_order` turns them into
    /// [`BrokerError::Invalid`]).
    fn check_restrictions(
        &self,
        req: &OrderRequest,
        position: Option<&Position>,
    ) -> Result<(), Rejection> {
        let parsed = parse_symbol(&req.symbol);
        if parsed.base.is_empty() {
            return Err(Rejection::new("invalid_symbol", "the symbol is empty"));
        }
        if req.qty <= Decimal::ZERO {
            return Err(Rejection::new(
                "invalid_qty",
                format!("qty must be positive, got {}", req.qty),
            ));
        }
        let t = req.order_type;
        for (name, value, needed) in [
            ("limit_price", req.limit_price, t.needs_limit_price()),
            ("stop_price", req.stop_price, t.needs_stop_price()),
        ] {
            match (value, needed) {
                (None, true) => {
                    return Err(Rejection::new(
                        "invalid_price",
                        format!("{t} orders need a {name}"),
                    ));
                }
                (Some(_), false) => {
                    return Err(Rejection::new(
                        "invalid_price",
                        format!("{t} orders take no {name}"),
                    ));
                }
                (Some(v), true) if v <= Decimal::ZERO => {
                    return Err(Rejection::new(
                        "invalid_price",
                        format!("{name} must be positive, got {v}"),
                    ));
                }
                _ => {}
            }
        }
        if req.side == Side::Sell
            && !self.config.allow_crypto_short
            && parsed.class == AssetClass::Crypto
        {
            let held = position
                .filter(|p| same_instrument(&p.symbol, &req.symbol))
                .map_or(Decimal::ZERO, |p| p.qty);
            if req.qty > held {
                return Err(crypto_short(&parsed.canonical(), req.qty, held));
            }
        }
        Ok(())
    }
}
