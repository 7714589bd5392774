//! How orders move once accepted: scripts of stages, fills at the
//! symbol's price with their effect on cash and positions, resting
//! limit and stop orders that fill when the price reaches them, and
//! bracket children released when the parent fills.

use chrono::Utc;
use rust_decimal::Decimal;

use super::{
    book::Book,
    config::Stage,
    model::{AssetClass, Position, Side},
};

impl Book {
    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.orders.iter().position(|o| o.id == id)
    }

    pub(crate) fn price_of(&self, symbol: &str) -> Decimal {
        self.assets.get(symbol).map_or(Decimal::ZERO, |a| a.price)
    }

    /// A read of the order by a client: advances its script.
    pub(crate) fn read(&mut self, i: usize) {
        let o = &self.orders[i];
        if o.reads_left == 0 && !o.script.is_empty() && o.is_open() {
            self.advance(i);
        }
        let o = &mut self.orders[i];
        o.reads_left = o.reads_left.saturating_sub(1);
    }

    /// Enters the next stage of the order's script.
    pub(crate) fn advance(&mut self, i: usize) {
        if self.orders[i].script.is_empty() {
            return;
        }
        let stage = self.orders[i].script.remove(0);
        self.enter(i, stage);
    }

    fn enter(&mut self, i: usize, stage: Stage) {
        let now = Utc::now();
        let price = self.price_of(&self.orders[i].symbol);
        {
            let o = &mut self.orders[i];
            o.reads_left = stage.reads();
            o.updated_at = now;
        }
        match &stage {
            Stage::Open { status, .. } => self.orders[i].status = status.as_str().to_owned(),
            Stage::Partial { filled_qty, .. } => {
                let delta = *filled_qty - self.orders[i].filled_qty;
                if delta > Decimal::ZERO {
                    self.fill(i, delta, price);
                }
                self.orders[i].status = "partially_filled".to_owned();
            }
            Stage::Filled => {
                let rest = self.orders[i].remaining(price);
                self.fill(i, rest, price);
            }
            Stage::Canceled => {
                let o = &mut self.orders[i];
                o.status = "canceled".to_owned();
                o.canceled_at = Some(now);
                self.emit(i, "canceled", None);
                self.cancel_children(i);
            }
            Stage::Expired => {
                let o = &mut self.orders[i];
                o.status = "expired".to_owned();
                o.expired_at = Some(now);
                self.emit(i, "expired", None);
                self.cancel_children(i);
            }
            Stage::Rejected => {
                let o = &mut self.orders[i];
                o.status = "rejected".to_owned();
                o.failed_at = Some(now);
                self.emit(i, "rejected", None);
                self.cancel_children(i);
            }
        }
        self.orders[i].stage = Some(stage);
    }

    /// Fills `qty` more at `price` and updates the position and cash. A
    /// complete fill marks the order filled, releases its children and
    /// cancels an oco/bracket sibling.
    pub(crate) fn fill(&mut self, i: usize, qty: Decimal, price: Decimal) {
        if qty <= Decimal::ZERO {
            return;
        }
        let now = Utc::now();
        let target = self.orders[i].target_qty(price);
        let o = &mut self.orders[i];
        let before = o.filled_qty;
        let after = before + qty;
        let avg_before = o.filled_avg_price.unwrap_or(Decimal::ZERO);
        o.filled_avg_price = Some(((avg_before * before + price * qty) / after).round_dp(9));
        o.filled_qty = after;
        o.updated_at = now;
        let (side, symbol, class) = (o.side, o.symbol.clone(), o.class);
        let complete = after >= target;
        if complete {
            o.status = "filled".to_owned();
            o.filled_at = Some(now);
        } else {
            o.status = "partially_filled".to_owned();
        }
        self.cash -= side.sign() * qty * price;
        self.move_position(&symbol, class, side.sign() * qty, price);
        let event = if complete { "fill" } else { "partial_fill" };
        self.emit(i, event, Some((qty, price)));
        if complete {
            self.release_children(i);
            self.cancel_siblings(i);
        }
    }

    fn move_position(&mut self, symbol: &str, class: AssetClass, delta: Decimal, price: Decimal) {
        let Some(asset) = self.assets.get(symbol) else {
            return;
        };
        let key = asset.position_symbol();
        let asset_id = asset.id.clone();
        let pos = self.positions.entry(key.clone()).or_insert(Position {
            asset_id,
            symbol: key.clone(),
            class,
            qty: Decimal::ZERO,
            avg_entry_price: Decimal::ZERO,
        });
        let old = pos.qty;
        let new = old + delta;
        if old.is_zero() || (old.is_sign_positive() == delta.is_sign_positive()) {
            // Opening or adding: the entry price averages in.
            pos.avg_entry_price =
                ((pos.avg_entry_price * old.abs() + price * delta.abs()) / new.abs()).round_dp(9);
        } else if !new.is_zero() && new.is_sign_positive() != old.is_sign_positive() {
            // Flipped through zero: what is left was entered now.
            pos.avg_entry_price = price;
        }
        pos.qty = new;
        if new.is_zero() {
            self.positions.remove(&key);
        }
    }

    /// Bracket and oto children wait as `held` until the parent fills.
    fn release_children(&mut self, i: usize) {
        let legs = self.orders[i].legs.clone();
        for id in legs {
            if let Some(j) = self.index_of(&id)
                && self.orders[j].status == "held"
            {
                self.orders[j].status = "new".to_owned();
                self.orders[j].updated_at = Utc::now();
                self.emit(j, "new", None);
            }
        }
        let symbols: Vec<String> = vec![self.orders[i].symbol.clone()];
        for s in symbols {
            self.on_price(&s);
        }
    }

    fn cancel_children(&mut self, i: usize) {
        let legs = self.orders[i].legs.clone();
        for id in legs {
            if let Some(j) = self.index_of(&id)
                && self.orders[j].is_open()
            {
                self.orders[j].status = "canceled".to_owned();
                self.orders[j].canceled_at = Some(Utc::now());
                self.emit(j, "canceled", None);
            }
        }
    }

    /// The other exit of a bracket, or the other half of an oco, is
    /// canceled when one fills.
    fn cancel_siblings(&mut self, i: usize) {
        let o = &self.orders[i];
        let siblings: Vec<String> = match &o.parent {
            Some(p) => match self.index_of(p) {
                // An oto parent's single leg has no sibling; an oco's
                // parent is itself an exit.
                Some(pi) if self.orders[pi].order_class == "oco" => {
                    let mut v = self.orders[pi].legs.clone();
                    v.push(self.orders[pi].id.clone());
                    v
                }
                Some(pi) => self.orders[pi].legs.clone(),
                None => Vec::new(),
            },
            None if o.order_class == "oco" => o.legs.clone(),
            None => Vec::new(),
        };
        let me = o.id.clone();
        for id in siblings.into_iter().filter(|id| *id != me) {
            if let Some(j) = self.index_of(&id)
                && self.orders[j].is_open()
            {
                self.orders[j].status = "canceled".to_owned();
                self.orders[j].canceled_at = Some(Utc::now());
                self.emit(j, "canceled", None);
            }
        }
    }

    /// Whether a resting order can execute at `price` now, and the
    /// stop orders it triggers on the way.
    pub(crate) fn marketable(&mut self, i: usize, price: Decimal) -> bool {
        let o = &mut self.orders[i];
        let buy = o.side == Side::Buy;
        let crosses_stop = |stop: Decimal| if buy { price >= stop } else { price <= stop };
        let crosses_limit = |limit: Decimal| if buy { price <= limit } else { price >= limit };
        match o.order_type.as_str() {
            "market" => true,
            "limit" => o.limit_price.is_some_and(crosses_limit),
            "stop" => o.triggered || o.stop_price.is_some_and(crosses_stop),
            "stop_limit" => {
                if !o.triggered && o.stop_price.is_some_and(crosses_stop) {
                    o.triggered = true;
                }
                o.triggered && o.limit_price.is_some_and(crosses_limit)
            }
            // Trailing stops never trigger in the fake; fill them by hand.
            _ => false,
        }
    }

    /// The price of `symbol` moved: resting orders without a script that
    /// are now marketable fill in full.
    pub(crate) fn on_price(&mut self, symbol: &str) {
        let price = self.price_of(symbol);
        let candidates: Vec<usize> = (0..self.orders.len())
            .filter(|&i| {
                let o = &self.orders[i];
                o.symbol == symbol
                    && o.is_open()
                    && o.status != "held"
                    && o.script.is_empty()
                    && o.stage.is_none()
            })
            .collect();
        for i in candidates {
            if self.orders[i].is_open() && self.marketable(i, price) {
                let rest = self.orders[i].remaining(price);
                self.fill(i, rest, price);
            }
        }
    }

    /// Signed position quantity of the asset traded as `symbol`.
    pub(crate) fn position_qty(&self, symbol: &str) -> Decimal {
        self.assets
            .get(symbol)
            .and_then(|a| self.positions.get(&a.position_symbol()))
            .map_or(Decimal::ZERO, |p| p.qty)
    }

    /// What open orders of `side` on `symbol` still want, `held` children
    /// included (Alpaca holds shares for them).
    pub(crate) fn held(&self, symbol: &str, side: Side) -> Decimal {
        let price = self.price_of(symbol);
        self.orders
            .iter()
            .filter(|o| o.symbol == symbol && o.side == side && o.is_open())
            .map(|o| o.remaining(price))
            .sum()
    }

    /// Cash reserved by open buys (at their limit, else the price).
    pub(crate) fn reserved(&self, crypto: bool) -> Decimal {
        self.orders
            .iter()
            .filter(|o| {
                o.side == Side::Buy
                    && o.is_open()
                    && o.parent.is_none()
                    && (o.class == AssetClass::Crypto) == crypto
            })
            .map(|o| {
                let price = self.price_of(&o.symbol);
                match (o.qty, o.notional) {
                    (None, Some(n)) => n,
                    _ => o.remaining(price) * o.limit_price.unwrap_or(price),
                }
            })
            .sum()
    }
}
