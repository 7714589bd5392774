//! The broker call log: every request made to a broker, for audit and
//! JSONL export. Request and response bodies arrive redacted by the
//! caller. The log is pruned by age ([`Store::prune_broker_calls`]).

use tradehook_core::ids::new_id;
use tradehook_core::time::UnixMillis;

use super::{Cursor, trim_page};
use crate::sql::Where;
use crate::{Backend, Result, Store, StoreError, on_backend, on_write};

/// One logged broker call.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BrokerCallRecord {
    /// `bcl_…`.
    pub id: String,
    pub bot_id: Option<String>,
    pub broker_account_id: String,
    pub method: String,
    pub path: String,
    /// HTTP status; `None` when no answer came (network error, timeout).
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub request: Option<String>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub created_at: UnixMillis,
}

/// A broker call to log; the store gives it its id.
#[derive(Debug, Clone)]
pub struct NewBrokerCall {
    pub bot_id: Option<String>,
    pub broker_account_id: String,
    pub method: String,
    pub path: String,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub request: Option<String>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub created_at: UnixMillis,
}

/// Which calls to list.
#[derive(Debug, Clone, Default)]
pub struct BrokerCallFilter {
    pub bot_id: Option<String>,
    pub broker_account_id: Option<String>,
    /// `created_at` at or after.
    pub from: Option<UnixMillis>,
    /// `created_at` before.
    pub to: Option<UnixMillis>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
    /// Oldest first (for export, which then reads forward as the log
    /// grows); newest first otherwise.
    pub oldest_first: bool,
    pub limit: i64,
}

/// One page of calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerCallPage {
    pub calls: Vec<BrokerCallRecord>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<String>,
}

const COLUMNS: &str = "id, bot_id, broker_account_id, method, path, status, latency_ms, request, response, \
    error, created_at";

const INSERT: &str = "INSERT INTO broker_calls (id, bot_id, broker_account_id, method, path, status, latency_ms, \
    request, response, error, created_at) ";

/// Rows per insert statement: 11 parameters each stays well under both
/// backends' limits on bound parameters (SQLite 32,766, PostgreSQL 65,535).
const INSERT_CHUNK: usize = 500;

impl Store {
    /// Logs one call. Returns its id.
    pub async fn insert_broker_call(&self, call: &NewBrokerCall) -> Result<String> {
        let mut ids = self.insert_broker_calls(std::slice::from_ref(call)).await?;
        Ok(ids.pop().expect("one id per call"))
    }

    /// Logs many calls in one transaction, a few hundred rows per
    /// statement, so a logger can buffer calls and write them at once
    /// rather than one round trip per call. Returns their ids, in order.
    pub async fn insert_broker_calls(&self, calls: &[NewBrokerCall]) -> Result<Vec<String>> {
        let ids: Vec<String> = calls.iter().map(|_| new_id("bcl")).collect();
        if calls.is_empty() {
            return Ok(ids);
        }
        macro_rules! insert_all {
            ($pool:expr, $db:ty) => {{
                let mut tx = $pool.begin().await?;
                for (chunk, chunk_ids) in calls.chunks(INSERT_CHUNK).zip(ids.chunks(INSERT_CHUNK)) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(INSERT);
                    q.push_values(chunk.iter().zip(chunk_ids), |mut row, (c, id)| {
                        row.push_bind(id)
                            .push_bind(&c.bot_id)
                            .push_bind(&c.broker_account_id)
                            .push_bind(&c.method)
                            .push_bind(&c.path)
                            .push_bind(c.status)
                            .push_bind(c.latency_ms)
                            .push_bind(&c.request)
                            .push_bind(&c.response)
                            .push_bind(&c.error)
                            .push_bind(c.created_at);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }};
        }
        match &self.backend {
            Backend::Sqlite(pool) => {
                let _gate = self.gate.enter().await?;
                insert_all!(pool, sqlx::Sqlite)
            }
            Backend::Postgres(pool) => insert_all!(pool, sqlx::Postgres),
        }
        Ok(ids)
    }

    pub async fn get_broker_call(&self, id: &str) -> Result<BrokerCallRecord> {
        let sql = format!("SELECT {COLUMNS} FROM broker_calls WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, BrokerCallRecord>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// A page of logged calls by `created_at` then id, newest or oldest
    /// first, filtered. A cursor continues the listing it came from (same
    /// direction); one this store did not produce is `InvalidCursor`.
    pub async fn list_broker_calls(&self, f: &BrokerCallFilter) -> Result<BrokerCallPage> {
        let cursor = f.cursor.as_deref().map(Cursor::parse).transpose()?;
        let mut w = Where::new("TRUE");
        if f.bot_id.is_some() {
            let p = w.param();
            w.and(&format!("bot_id = ${p}"));
        }
        if f.broker_account_id.is_some() {
            let p = w.param();
            w.and(&format!("broker_account_id = ${p}"));
        }
        if f.from.is_some() {
            let p = w.param();
            w.and(&format!("created_at >= ${p}"));
        }
        if f.to.is_some() {
            let p = w.param();
            w.and(&format!("created_at < ${p}"));
        }
        let (cmp, dir) = if f.oldest_first {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        if cursor.is_some() {
            let (at, id) = (w.param(), w.param());
            w.and(&format!("(created_at, id) {cmp} (${at}, ${id})"));
        }
        let limit = w.param();
        let sql = format!(
            "SELECT {COLUMNS} FROM broker_calls{} ORDER BY created_at {dir}, id {dir} LIMIT ${limit}",
            w.as_str()
        );
        let mut calls = on_backend!(self, pool => {
            // Bound in the order the conditions were added above.
            let mut q = sqlx::query_as::<_, BrokerCallRecord>(sqlx::AssertSqlSafe(sql));
            if let Some(v) = &f.bot_id {
                q = q.bind(v);
            }
            if let Some(v) = &f.broker_account_id {
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
        let more = trim_page(&mut calls, f.limit);
        let next = if more {
            calls.last().map(|c| Cursor::format(c.created_at, &c.id))
        } else {
            None
        };
        Ok(BrokerCallPage { calls, next })
    }

    /// Deletes up to `batch` calls logged before `before`. Returns how
    /// many; call again until 0 so no single statement holds locks for
    /// long.
    pub async fn prune_broker_calls(&self, before: UnixMillis, batch: i64) -> Result<u64> {
        Ok(on_write!(self, pool => {
            sqlx::query(
                "DELETE FROM broker_calls WHERE id IN (
                    SELECT id FROM broker_calls WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
            )
            .bind(before)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}
