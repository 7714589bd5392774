//! The account's ground truth — cash, assets with their prices, orders,
//! positions — and the operations the endpoints perform on it. Checks
//! that need the account live here: buying power, crypto no-short,
//! equity shorts, duplicate `client_order_id`, bracket entry / oco exit
//! and wash trades.

use std::collections::{BTreeMap, VecDeque};

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{
    config::{FakeAlpacaConfig, FillMode, Stage},
    model::{Asset, AssetClass, Order, Side, dec, ts},
    validate::{ApiError, Checked, NewOrder, check_order},
};

pub(crate) struct Book {
    pub account_id: String,
    pub account_created: chrono::DateTime<Utc>,
    pub cash: Decimal,
    pub last_equity: Decimal,
    pub multiplier: u32,
    pub shorting_enabled: bool,
    pub client_order_id_max_len: usize,
    pub detect_wash_trades: bool,
    pub reject_new_orders: bool,
    /// By order symbol (`AAPL`, `BTC/USD`).
    pub assets: BTreeMap<String, Asset>,
    /// In creation order.
    pub orders: Vec<Order>,
    /// By position symbol (`AAPL`, `BTCUSD`).
    pub positions: BTreeMap<String, super::model::Position>,
    pub fill_mode: FillMode,
    pub next_scripts: VecDeque<Vec<Stage>>,
    /// `trade_updates` frames for `/stream` listeners.
    pub updates: broadcast::Sender<Value>,
}

impl Book {
    pub(crate) fn new(config: &FakeAlpacaConfig) -> Book {
        Book {
            account_id: Uuid::new_v4().to_string(),
            account_created: Utc::now(),
            cash: config.cash,
            last_equity: config.last_equity.unwrap_or(config.cash),
            multiplier: config.multiplier,
            shorting_enabled: config.shorting_enabled,
            client_order_id_max_len: config.client_order_id_max_len,
            detect_wash_trades: config.detect_wash_trades,
            reject_new_orders: false,
            assets: BTreeMap::new(),
            orders: Vec::new(),
            positions: BTreeMap::new(),
            fill_mode: config.fill_mode.clone(),
            next_scripts: VecDeque::new(),
            updates: broadcast::channel(1024).0,
        }
    }

    /// Sets (or creates) an asset's price; resting orders may fill.
    pub(crate) fn set_price(&mut self, symbol: &str, price: Decimal) {
        let asset = self.assets.entry(symbol.to_owned()).or_insert(Asset {
            id: Uuid::new_v4().to_string(),
            symbol: symbol.to_owned(),
            class: AssetClass::of_symbol(symbol),
            price,
            lastday_price: price,
        });
        asset.price = price;
        self.on_price(symbol);
    }

    /// By the symbol as sent; crypto also in the legacy `BTCUSD` form.
    pub(crate) fn lookup(&self, symbol: &str) -> Option<Asset> {
        self.assets.get(symbol).cloned().or_else(|| {
            self.assets
                .values()
                .find(|a| a.class == AssetClass::Crypto && a.position_symbol() == symbol)
                .cloned()
        })
    }

    /// Sends a `trade_updates` event about order `i`; `fill` is
    /// `(qty, price)` of an execution.
    pub(crate) fn emit(&mut self, i: usize, event: &str, fill: Option<(Decimal, Decimal)>) {
        if self.updates.receiver_count() == 0 {
            return;
        }
        let mut data = json!({
            "event": event,
            "order": self.order_wire(i),
            "timestamp": ts(Utc::now()),
        });
        if let Some((qty, price)) = fill {
            data["execution_id"] = json!(Uuid::new_v4().to_string());
            data["price"] = json!(dec(price));
            data["qty"] = json!(dec(qty));
            data["position_qty"] = json!(dec(self.position_qty(&self.orders[i].symbol)));
        }
        // No listener is not an error.
        let _ = self
            .updates
            .send(json!({"stream": "trade_updates", "data": data}));
    }

    pub(crate) fn order_wire(&self, i: usize) -> Value {
        let o = &self.orders[i];
        let legs = (!o.legs.is_empty()).then(|| {
            o.legs
                .iter()
                .filter_map(|id| self.index_of(id))
                .map(|j| self.orders[j].to_wire(None))
                .collect()
        });
        o.to_wire(legs)
    }

    /// `POST /v2/orders`.
    pub(crate) fn submit(&mut self, body: &Value) -> Checked<Value> {
        if self.reject_new_orders {
            return Err(ApiError::forbidden(
                "new orders are rejected by user request",
            ));
        }
        let new = check_order(body, |s| self.lookup(s), self.client_order_id_max_len)?;
        if let Some(id) = &new.client_order_id
            && self.orders.iter().any(|o| &o.client_order_id == id)
        {
            return Err(ApiError::invalid("client_order_id must be unique"));
        }
        self.check_account(&new)?;
        let i = self.create(new);
        Ok(self.start(i))
    }

    fn check_account(&self, new: &NewOrder) -> Checked<()> {
        let symbol = &new.asset.symbol;
        let price = new.asset.price;
        let qty = new
            .qty
            .or_else(|| new.notional.map(|n| (n / price).round_dp(9)))
            .unwrap_or_default();
        let position = self.position_qty(symbol);
        let crypto = new.asset.class == AssetClass::Crypto;

        match new.order_class.as_str() {
            "bracket" => {
                let reduces = (new.side == Side::Sell && position > Decimal::ZERO)
                    || (new.side == Side::Buy && position < Decimal::ZERO);
                let shorts = new.side == Side::Sell && !self.shorting_enabled;
                if reduces || shorts {
                    return Err(ApiError::unprocessable(
                        "bracket orders must be entry orders",
                    ));
                }
            }
            "oco" => {
                let exits = (new.side == Side::Sell && position >= qty)
                    || (new.side == Side::Buy && -position >= qty);
                if !exits {
                    return Err(ApiError::unprocessable("oco orders must be exit orders"));
                }
            }
            _ => {}
        }

        if self.detect_wash_trades && self.would_wash(new) {
            return Err(ApiError::unprocessable(
                "potential wash trade detected. use complex orders",
            ));
        }

        let base = new.limit_price.or(new.stop_price).unwrap_or(price);
        let (opening, cost) = match new.side {
            Side::Buy => {
                let covering = (-position).max(Decimal::ZERO);
                let opening = (qty - covering).max(Decimal::ZERO);
                let cost = match new.notional {
                    Some(n) if covering.is_zero() => n,
                    _ => opening * base,
                };
                (opening, cost)
            }
            Side::Sell => {
                let long = position.max(Decimal::ZERO);
                let available = (long - self.held(symbol, Side::Sell)).max(Decimal::ZERO);
                if qty > available {
                    let shortable = !crypto
                        && self.shorting_enabled
                        && qty.fract().is_zero()
                        && new.notional.is_none();
                    if crypto {
                        let base_ccy = symbol.split('/').next().unwrap_or(symbol);
                        return Err(ApiError::forbidden(format!(
                            "insufficient balance for {base_ccy} (requested: {}, available: {})",
                            dec(qty),
                            dec(available)
                        ))
                        .with("symbol", json!(new.asset.position_symbol()))
                        .with("balance", json!(dec(long)))
                        .with("available", json!(dec(available))));
                    }
                    if !shortable {
                        return Err(self.insufficient_qty(symbol, qty, available));
                    }
                }
                let opening = (qty - available).max(Decimal::ZERO);
                (opening, opening * base)
            }
        };
        if opening > Decimal::ZERO {
            let power = if crypto {
                self.non_marginable_buying_power()
            } else {
                self.buying_power()
            };
            if cost > power {
                return Err(ApiError::forbidden("insufficient buying power")
                    .with("buying_power", json!(dec(power)))
                    .with("cost_basis", json!(dec(cost))));
            }
        }
        Ok(())
    }

    pub(crate) fn insufficient_qty(
        &self,
        symbol: &str,
        qty: Decimal,
        available: Decimal,
    ) -> ApiError {
        let existing = self.position_qty(symbol);
        ApiError::forbidden(format!(
            "insufficient qty available for order (requested: {}, available: {})",
            dec(qty),
            dec(available)
        ))
        .with("available", json!(dec(available)))
        .with("existing_qty", json!(dec(existing)))
        .with("held_for_orders", json!(dec(self.held(symbol, Side::Sell))))
        .with("symbol", json!(symbol))
    }

    /// A new order that could execute against an open order of ours on
    /// the other side.
    fn would_wash(&self, new: &NewOrder) -> bool {
        let other = new.side.opposite();
        self.orders.iter().any(|o| {
            o.symbol == new.asset.symbol
                && o.side == other
                && o.is_open()
                && o.status != "held"
                && match (new.order_type.as_str(), o.order_type.as_str()) {
                    ("market", "market" | "limit") => true,
                    ("limit", "market") => true,
                    ("limit", "limit") => match (new.limit_price, o.limit_price) {
                        (Some(mine), Some(theirs)) => match new.side {
                            Side::Buy => mine >= theirs,
                            Side::Sell => mine <= theirs,
                        },
                        _ => false,
                    },
                    _ => false,
                }
        })
    }

    pub(crate) fn buying_power(&self) -> Decimal {
        ((self.cash - self.reserved(false) - self.reserved(true)).max(Decimal::ZERO))
            * Decimal::from(self.multiplier)
    }

    pub(crate) fn non_marginable_buying_power(&self) -> Decimal {
        (self.cash - self.reserved(false) - self.reserved(true)).max(Decimal::ZERO)
    }

    /// Records the order (and its legs) as `accepted`; returns its index.
    pub(crate) fn create(&mut self, new: NewOrder) -> usize {
        let now = Utc::now();
        let asset = &new.asset;
        let order = Order {
            id: Uuid::new_v4().to_string(),
            client_order_id: new
                .client_order_id
                .clone()
                .unwrap_or_else(|| Uuid::new_v4().to_string()),
            created_at: now,
            updated_at: now,
            filled_at: None,
            canceled_at: None,
            expired_at: None,
            failed_at: None,
            replaced_at: None,
            replaced_by: None,
            replaces: None,
            asset_id: asset.id.clone(),
            symbol: asset.symbol.clone(),
            class: asset.class,
            notional: new.notional,
            qty: new.qty,
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            order_class: new.order_class.clone(),
            order_type: new.order_type.clone(),
            side: new.side,
            time_in_force: new.time_in_force.clone(),
            limit_price: if new.order_class == "oco" {
                new.limit_price.or(new.take_profit)
            } else {
                new.limit_price
            },
            stop_price: new.stop_price,
            trail_price: new.trail_price,
            trail_percent: new.trail_percent,
            status: "accepted".to_owned(),
            extended_hours: new.extended_hours,
            position_intent: new.position_intent.clone(),
            legs: Vec::new(),
            parent: None,
            triggered: false,
            script: Vec::new(),
            stage: None,
            reads_left: 0,
        };
        let parent_id = order.id.clone();
        let exit_side = new.side.opposite();
        let mut children = Vec::new();
        let child =
            |order_type: &str, limit: Option<Decimal>, stop: Option<Decimal>, side: Side| {
                let mut c = order.clone();
                c.id = Uuid::new_v4().to_string();
                c.client_order_id = Uuid::new_v4().to_string();
                c.order_type = order_type.to_owned();
                c.limit_price = limit;
                c.stop_price = stop;
                c.side = side;
                c.parent = Some(parent_id.clone());
                c.status = "held".to_owned();
                c
            };
        match new.order_class.as_str() {
            "bracket" | "oto" => {
                if let Some(tp) = new.take_profit {
                    children.push(child("limit", Some(tp), None, exit_side));
                }
                if let Some((stop, limit)) = new.stop_loss {
                    let t = if limit.is_some() {
                        "stop_limit"
                    } else {
                        "stop"
                    };
                    children.push(child(t, limit, Some(stop), exit_side));
                }
            }
            "oco" => {
                if let Some((stop, limit)) = new.stop_loss {
                    let t = if limit.is_some() {
                        "stop_limit"
                    } else {
                        "stop"
                    };
                    let mut c = child(t, limit, Some(stop), new.side);
                    // The stop half of an oco is live from the start.
                    c.status = "new".to_owned();
                    children.push(c);
                }
            }
            _ => {}
        }
        let mut order = order;
        order.legs = children.iter().map(|c| c.id.clone()).collect();
        self.orders.push(order);
        let i = self.orders.len() - 1;
        self.orders.extend(children);
        i
    }

    /// Sets the order going (its script, the fill mode, or resting) and
    /// returns the wire form a POST answers with.
    pub(crate) fn start(&mut self, i: usize) -> Value {
        self.emit(i, "new", None);
        if let Some(script) = self.next_scripts.pop_front() {
            self.orders[i].script = script;
            self.advance(i);
            return self.order_wire(i);
        }
        let price = self.price_of(&self.orders[i].symbol);
        if !self.marketable(i, price) {
            self.orders[i].status = "new".to_owned();
            return self.order_wire(i);
        }
        match self.fill_mode.clone() {
            FillMode::Immediate => {
                let reply = self.order_wire(i);
                self.orders[i].script = vec![Stage::Filled];
                self.advance(i);
                reply
            }
            FillMode::After { status, reads } => {
                self.orders[i].script = vec![Stage::Open { status, reads }, Stage::Filled];
                self.advance(i);
                self.order_wire(i)
            }
        }
    }

    /// By position symbol (`BTCUSD`) or asset id; `BTC/USD` finds nothing.
    pub(crate) fn position_by_key(&self, key: &str) -> Option<super::model::Position> {
        self.positions
            .get(key)
            .or_else(|| self.positions.values().find(|p| p.asset_id == key))
            .cloned()
    }

    pub(crate) fn position_wire(&self, p: &super::model::Position) -> Value {
        let asset = self.assets.values().find(|a| a.id == p.asset_id);
        let (price, lastday, symbol) = asset
            .map_or((p.avg_entry_price, p.avg_entry_price, ""), |a| {
                (a.price, a.lastday_price, a.symbol.as_str())
            });
        let closing = if p.qty > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        p.to_wire(price, lastday, self.held(symbol, closing))
    }

    pub(crate) fn account_wire(&self) -> Value {
        let mut long = Decimal::ZERO;
        let mut short = Decimal::ZERO;
        for p in self.positions.values() {
            let price = self
                .assets
                .values()
                .find(|a| a.id == p.asset_id)
                .map_or(p.avg_entry_price, |a| a.price);
            let value = p.qty * price;
            if value.is_sign_negative() {
                short += value;
            } else {
                long += value;
            }
        }
        let equity = self.cash + long + short;
        let bp = dec(self.buying_power());
        json!({
            "id": self.account_id,
            "account_number": "PA3FAKE00001",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": bp,
            "regt_buying_power": bp,
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": dec(self.non_marginable_buying_power()),
            "options_buying_power": dec(self.non_marginable_buying_power()),
            "cash": dec(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": dec(equity),
            "pattern_day_trader": false,
            "trading_blocked": false,
            "transfers_blocked": false,
            "account_blocked": false,
            "trade_suspended_by_user": self.reject_new_orders,
            "created_at": ts(self.account_created),
            "multiplier": self.multiplier.to_string(),
            "shorting_enabled": self.shorting_enabled,
            "equity": dec(equity),
            "last_equity": dec(self.last_equity),
            "long_market_value": dec(long),
            "short_market_value": dec(short),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
            "options_approved_level": 0,
            "options_trading_level": 0,
        })
    }
}

/// Query parameters, last value wins.
pub(crate) type Query = BTreeMap<String, String>;
