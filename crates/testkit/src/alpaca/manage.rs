//! Operations on orders and positions that already exist: cancel one or
//! all, replace (`PATCH`, a new order with a new id), and close one or
//! all positions with market orders.

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    book::{Book, Query},
    model::{AssetClass, Side, parse_decimal},
    validate::{ApiError, Checked, NewOrder},
};

impl Book {
    /// `DELETE /v2/orders/{id}`.
    pub(crate) fn cancel(&mut self, id: &str) -> Checked<()> {
        let i = self
            .index_of(id)
            .ok_or_else(|| ApiError::not_found("order not found"))?;
        let o = &mut self.orders[i];
        if !o.is_open() {
            return Err(ApiError::unprocessable(format!(
                "order is already in \"{}\" state",
                o.status
            )));
        }
        let now = Utc::now();
        o.status = "canceled".to_owned();
        o.canceled_at = Some(now);
        o.updated_at = now;
        o.script.clear();
        let legs = o.legs.clone();
        self.emit(i, "canceled", None);
        for leg in legs {
            if let Some(j) = self.index_of(&leg)
                && self.orders[j].is_open()
            {
                self.orders[j].status = "canceled".to_owned();
                self.orders[j].canceled_at = Some(now);
                self.emit(j, "canceled", None);
            }
        }
        Ok(())
    }

    /// `DELETE /v2/orders`: 207 entries.
    pub(crate) fn cancel_all(&mut self) -> Vec<Value> {
        let open: Vec<String> = self
            .orders
            .iter()
            .filter(|o| o.is_open() && o.parent.is_none())
            .map(|o| o.id.clone())
            .collect();
        open.into_iter()
            .map(|id| match self.cancel(&id) {
                Ok(()) => {
                    let i = self.index_of(&id).unwrap_or_default();
                    json!({"id": id, "status": 200, "body": self.order_wire(i)})
                }
                Err(e) => json!({"id": id, "status": 500, "body": e.body}),
            })
            .collect()
    }

    /// `PATCH /v2/orders/{id}`: a new order replaces the old one.
    pub(crate) fn replace(&mut self, id: &str, body: &Value) -> Checked<Value> {
        let i = self
            .index_of(id)
            .ok_or_else(|| ApiError::not_found("order not found"))?;
        if !self.orders[i].is_open() || self.orders[i].status == "held" {
            return Err(ApiError::unprocessable(format!(
                "order is not replaceable in \"{}\" state",
                self.orders[i].status
            )));
        }
        let field = |f: &str| parse_decimal(body, f).map_err(ApiError::invalid);
        let mut next = self.orders[i].clone();
        if let Some(q) = field("qty")? {
            if q <= Decimal::ZERO {
                return Err(ApiError::invalid("qty must be > 0"));
            }
            next.qty = Some(q);
        }
        if let Some(p) = field("limit_price")? {
            if next.limit_price.is_none() {
                return Err(ApiError::invalid(
                    "limit_price must not be set for this order type",
                ));
            }
            next.limit_price = Some(p);
        }
        if let Some(p) = field("stop_price")? {
            if next.stop_price.is_none() {
                return Err(ApiError::invalid(
                    "stop_price must not be set for this order type",
                ));
            }
            next.stop_price = Some(p);
        }
        if let Some(p) = field("trail")? {
            if next.trail_price.is_some() {
                next.trail_price = Some(p);
            } else if next.trail_percent.is_some() {
                next.trail_percent = Some(p);
            } else {
                return Err(ApiError::invalid("trail is only for trailing_stop orders"));
            }
        }
        if let Some(Value::String(tif)) = body.get("time_in_force") {
            next.time_in_force = tif.clone();
        }
        let now = Utc::now();
        next.client_order_id = match body.get("client_order_id") {
            Some(Value::String(c)) if !c.is_empty() => {
                if self.orders.iter().any(|o| &o.client_order_id == c) {
                    return Err(ApiError::invalid("client_order_id must be unique"));
                }
                c.clone()
            }
            _ => Uuid::new_v4().to_string(),
        };
        next.id = Uuid::new_v4().to_string();
        next.replaces = Some(id.to_owned());
        next.created_at = now;
        next.updated_at = now;
        next.status = "accepted".to_owned();
        next.script.clear();
        next.stage = None;
        let old = &mut self.orders[i];
        old.status = "replaced".to_owned();
        old.replaced_at = Some(now);
        old.replaced_by = Some(next.id.clone());
        old.updated_at = now;
        old.script.clear();
        self.emit(i, "replaced", None);
        self.orders.push(next);
        let j = self.orders.len() - 1;
        Ok(self.start(j))
    }

    /// `DELETE /v2/positions/{symbol}`: the closing market order.
    pub(crate) fn close_position(&mut self, key: &str, query: &Query) -> Checked<Value> {
        let pos = self
            .position_by_key(key)
            .ok_or_else(|| ApiError::not_found("position does not exist"))?;
        let symbol = self
            .assets
            .values()
            .find(|a| a.id == pos.asset_id)
            .map(|a| a.symbol.clone())
            .ok_or_else(|| ApiError::not_found("position does not exist"))?;
        let size = pos.qty.abs();
        let qty = match (query.get("qty"), query.get("percentage")) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "only one of qty or percentage is accepted",
                ));
            }
            (Some(q), None) => q
                .parse::<Decimal>()
                .ok()
                .filter(|q| *q > Decimal::ZERO)
                .ok_or_else(|| ApiError::invalid("invalid qty"))?,
            (None, Some(p)) => {
                let pct = p
                    .parse::<Decimal>()
                    .ok()
                    .filter(|p| *p > Decimal::ZERO && *p <= Decimal::from(100))
                    .ok_or_else(|| ApiError::invalid("invalid percentage"))?;
                (size * pct / Decimal::from(100)).round_dp(9)
            }
            (None, None) => size,
        };
        let side = if pos.qty > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        let available = size - self.held(&symbol, side);
        if qty > available {
            return Err(self.insufficient_qty(&symbol, qty, available));
        }
        let tif = if pos.class == AssetClass::Crypto {
            "gtc"
        } else {
            "day"
        };
        let asset = self.assets[&symbol].clone();
        let i = self.create(NewOrder {
            asset,
            side,
            qty: Some(qty),
            notional: None,
            order_type: "market".to_owned(),
            time_in_force: tif.to_owned(),
            limit_price: None,
            stop_price: None,
            trail_price: None,
            trail_percent: None,
            extended_hours: false,
            client_order_id: None,
            order_class: "simple".to_owned(),
            take_profit: None,
            stop_loss: None,
            position_intent: None,
        });
        Ok(self.start(i))
    }

    /// `DELETE /v2/positions`: 207 entries.
    pub(crate) fn close_all(&mut self, cancel_orders: bool) -> Vec<Value> {
        if cancel_orders {
            self.cancel_all();
        }
        let keys: Vec<String> = self.positions.keys().cloned().collect();
        keys.into_iter()
            .map(|key| match self.close_position(&key, &Query::default()) {
                Ok(order) => json!({
                    "order_id": order["id"], "status": 200, "symbol": key, "body": order
                }),
                Err(e) => json!({"status": e.status, "symbol": key, "body": e.body}),
            })
            .collect()
    }
}
