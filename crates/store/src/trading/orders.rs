//! Orders: what bots sent (or are about to send) to brokers.
//!
//! An order is stored before it is submitted, under a `client_order_id`
//! of ours that the broker echoes back; the unique key on it is what
//! makes a retried submission recognisable, and a second insert of the
//! same id is a `Conflict { constraint: "order_client_id_taken" }`.
//! Statuses are the broker's, normalised by the caller to the spellings
//! in [`FINAL_ORDER_STATUSES`] for the finished ones.

use tradehook_core::time::{UnixMillis, now_ms};

use super::{Cursor, map_err, trim_page};
use crate::sql::Where;
use crate::tx::on_tx;
use crate::{Result, Store, StoreError, Tx, on_backend, on_write};

/// Statuses after which an order never changes. The `orders_open` index
/// in the migrations lists the same ones; both must agree.
pub const FINAL_ORDER_STATUSES: &[&str] = &[
    "filled", "canceled", "expired", "rejected", "replaced", "failed",
];

/// The condition for an order that is not final, written exactly as in
/// the `orders_open` index so that both backends use it.
const OPEN: &str =
    "status NOT IN ('filled', 'canceled', 'expired', 'rejected', 'replaced', 'failed')";

/// A stored order. Quantities and prices are decimals as text.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderRecord {
    /// `ord_…`.
    pub id: String,
    pub bot_id: String,
    /// The signal that caused it; `None` for orders of our own (a
    /// liquidation on a circuit breaker).
    pub signal_id: Option<String>,
    pub broker_account_id: String,
    pub client_order_id: String,
    pub broker_order_id: Option<String>,
    pub symbol: String,
    pub side: String,
    pub qty: String,
    pub order_type: String,
    pub time_in_force: String,
    pub limit_price: Option<String>,
    pub stop_price: Option<String>,
    pub status: String,
    pub filled_qty: String,
    pub filled_avg_price: Option<String>,
    /// `entry`, `exit`, `sl`, `tp` or `liquidate`.
    pub leg: String,
    /// The entry a stop-loss or take-profit protects.
    pub parent_order_id: Option<String>,
    pub reason: Option<String>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// What is needed to store a new order. It starts with nothing filled.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// `new_id("ord")`.
    pub id: String,
    pub bot_id: String,
    pub signal_id: Option<String>,
    pub broker_account_id: String,
    pub client_order_id: String,
    pub broker_order_id: Option<String>,
    pub symbol: String,
    pub side: String,
    pub qty: String,
    pub order_type: String,
    pub time_in_force: String,
    pub limit_price: Option<String>,
    pub stop_price: Option<String>,
    pub status: String,
    pub leg: String,
    pub parent_order_id: Option<String>,
    pub reason: Option<String>,
    pub created_at: UnixMillis,
}

/// What a broker said about an order; `None` leaves a field as it is.
/// Fields only ever gain a value, so there is no clearing.
#[derive(Debug, Clone, Default)]
pub struct OrderUpdate {
    pub status: Option<String>,
    pub broker_order_id: Option<String>,
    pub filled_qty: Option<String>,
    pub filled_avg_price: Option<String>,
    pub reason: Option<String>,
}

/// Which orders to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub bot_id: Option<String>,
    pub status: Option<String>,
    /// Only orders whose status is not final.
    pub open_only: bool,
    /// `created_at` at or after.
    pub from: Option<UnixMillis>,
    /// `created_at` before.
    pub to: Option<UnixMillis>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
    pub limit: i64,
}

/// One page of orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<OrderRecord>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<String>,
}

const COLUMNS: &str = "id, bot_id, signal_id, broker_account_id, client_order_id, broker_order_id, symbol, \
    side, qty, order_type, time_in_force, limit_price, stop_price, status, filled_qty, filled_avg_price, leg, \
    parent_order_id, reason, created_at, updated_at";

/// The order's bot must exist: a missing one is reported as the missing
/// foreign key it is, under this id.
const BOT_MISSING: &str = "bot_missing";

fn insert_sql() -> String {
    format!(
        "INSERT INTO orders (id, bot_id, signal_id, broker_account_id, client_order_id, broker_order_id, symbol,
            side, qty, order_type, time_in_force, limit_price, stop_price, status, filled_qty, leg,
            parent_order_id, reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, '0', $15, $16, $17, $18, $18)
         RETURNING {COLUMNS}"
    )
}

fn update_sql() -> String {
    format!(
        "UPDATE orders SET status = COALESCE($2, status), broker_order_id = COALESCE($3, broker_order_id),
            filled_qty = COALESCE($4, filled_qty), filled_avg_price = COALESCE($5, filled_avg_price),
            reason = COALESCE($6, reason), updated_at = $7
         WHERE id = $1
         RETURNING {COLUMNS}"
    )
}

macro_rules! bind_new_order {
    ($query:expr, $o:expr) => {
        $query
            .bind(&$o.id)
            .bind(&$o.bot_id)
            .bind(&$o.signal_id)
            .bind(&$o.broker_account_id)
            .bind(&$o.client_order_id)
            .bind(&$o.broker_order_id)
            .bind(&$o.symbol)
            .bind(&$o.side)
            .bind(&$o.qty)
            .bind(&$o.order_type)
            .bind(&$o.time_in_force)
            .bind(&$o.limit_price)
            .bind(&$o.stop_price)
            .bind(&$o.status)
            .bind(&$o.leg)
            .bind(&$o.parent_order_id)
            .bind(&$o.reason)
            .bind($o.created_at)
    };
}

macro_rules! bind_update {
    ($query:expr, $id:expr, $u:expr) => {
        $query
            .bind($id)
            .bind(&$u.status)
            .bind(&$u.broker_order_id)
            .bind(&$u.filled_qty)
            .bind(&$u.filled_avg_price)
            .bind(&$u.reason)
            .bind(now_ms())
    };
}

impl Store {
    /// Stores an order. A `client_order_id` already used is a
    /// `Conflict { constraint: "order_client_id_taken" }`; an unknown
    /// bot is `Conflict { constraint: "bot_missing" }`.
    pub async fn insert_order(&self, o: &NewOrder) -> Result<OrderRecord> {
        Ok(on_write!(self, pool => {
            bind_new_order!(sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(insert_sql())), o)
                .fetch_one(pool)
                .await
                .map_err(map_err(BOT_MISSING))?
        }))
    }

    pub async fn get_order(&self, id: &str) -> Result<OrderRecord> {
        let sql = format!("SELECT {COLUMNS} FROM orders WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// The order with our `client_order_id` (what brokers echo back).
    pub async fn get_order_by_client_id(&self, client_order_id: &str) -> Result<OrderRecord> {
        let sql = format!("SELECT {COLUMNS} FROM orders WHERE client_order_id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(sql))
                .bind(client_order_id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// Records what the broker said about an order, stamping `updated_at`
    /// with the wall clock. Returns the order as it now is.
    pub async fn update_order(&self, id: &str, u: &OrderUpdate) -> Result<OrderRecord> {
        let row = on_write!(self, pool => {
            bind_update!(sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(update_sql())), id, u)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// A page of orders, newest first (by `created_at`, then id),
    /// filtered. A cursor this store did not produce is `InvalidCursor`.
    pub async fn list_orders(&self, f: &OrderFilter) -> Result<OrderPage> {
        let cursor = f.cursor.as_deref().map(Cursor::parse).transpose()?;
        let mut w = Where::new("TRUE");
        if f.bot_id.is_some() {
            let p = w.param();
            w.and(&format!("bot_id = ${p}"));
        }
        if f.status.is_some() {
            let p = w.param();
            w.and(&format!("status = ${p}"));
        }
        if f.open_only {
            w.and(OPEN);
        }
        if f.from.is_some() {
            let p = w.param();
            w.and(&format!("created_at >= ${p}"));
        }
        if f.to.is_some() {
            let p = w.param();
            w.and(&format!("created_at < ${p}"));
        }
        if cursor.is_some() {
            let (at, id) = (w.param(), w.param());
            w.and(&format!("(created_at, id) < (${at}, ${id})"));
        }
        let limit = w.param();
        let sql = format!(
            "SELECT {COLUMNS} FROM orders{} ORDER BY created_at DESC, id DESC LIMIT ${limit}",
            w.as_str()
        );
        let mut orders = on_backend!(self, pool => {
            // Bound in the order the conditions were added above.
            let mut q = sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(sql));
            if let Some(v) = &f.bot_id {
                q = q.bind(v);
            }
            if let Some(v) = &f.status {
                q = q.bind(v);
            }
            if let Some(v) = f.from {
                q = q.bind(v);
            }
            if let Some(v) = f.to {
                q = q.bind(v);
            }
            if let Some(c) = &cursor {
                q = q.bind(c.at).bind(&c.id);
            }
            q.bind(f.limit + 1).fetch_all(pool).await?
        });
        let more = trim_page(&mut orders, f.limit);
        let next = if more {
            orders.last().map(|o| Cursor::format(o.created_at, &o.id))
        } else {
            None
        };
        Ok(OrderPage { orders, next })
    }

    /// A bot's stop-loss and take-profit orders that are not final, oldest
    /// first: what must be cancelled when the position they protect goes.
    pub async fn open_protective_orders(&self, bot_id: &str) -> Result<Vec<OrderRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM orders WHERE bot_id = $1 AND leg IN ('sl', 'tp') AND {OPEN}"
        );
        let orders = on_backend!(self, pool => {
            sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(sql)).bind(bot_id).fetch_all(pool).await?
        });
        Ok(oldest_first(orders))
    }

    /// Every order that is not final, of one bot or of all, oldest first:
    /// what a reconciler asks the broker about.
    pub async fn open_orders(&self, bot_id: Option<&str>) -> Result<Vec<OrderRecord>> {
        let sql =
            format!("SELECT {COLUMNS} FROM orders WHERE ($1 IS NULL OR bot_id = $1) AND {OPEN}");
        let orders = on_backend!(self, pool => {
            sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(sql)).bind(bot_id).fetch_all(pool).await?
        });
        Ok(oldest_first(orders))
    }
}

/// Open orders are sorted here, not by the statement: an `ORDER BY`
/// makes SQLite prefer the time index (which avoids the sort) and read
/// every order of the bot, instead of the few rows of `orders_open`.
fn oldest_first(mut orders: Vec<OrderRecord>) -> Vec<OrderRecord> {
    orders.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    orders
}

impl Tx {
    /// [`Store::get_order_by_client_id`] as this transaction sees it
    /// (rows it wrote included).
    pub async fn get_order_by_client_id(&mut self, client_order_id: &str) -> Result<OrderRecord> {
        let sql = format!("SELECT {COLUMNS} FROM orders WHERE client_order_id = $1");
        let row = on_tx!(self, conn => {
            sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(sql))
                .bind(client_order_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// [`Store::insert_order`] inside a larger write (the order with the
    /// event that announces it).
    pub async fn insert_order(&mut self, o: &NewOrder) -> Result<OrderRecord> {
        Ok(on_tx!(self, conn => {
            bind_new_order!(sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(insert_sql())), o)
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err(BOT_MISSING))?
        }))
    }

    /// [`Store::update_order`] inside a larger write (a fill with its
    /// `order.filled` event).
    pub async fn update_order(&mut self, id: &str, u: &OrderUpdate) -> Result<OrderRecord> {
        let row = on_tx!(self, conn => {
            bind_update!(sqlx::query_as::<_, OrderRecord>(sqlx::AssertSqlSafe(update_sql())), id, u)
                .fetch_optional(&mut *conn)
                .await?
        });
        row.ok_or(StoreError::NotFound)
    }
}
