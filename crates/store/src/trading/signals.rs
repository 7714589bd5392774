//! Signals: the records intake writes ([`crate::Store::accept_signal`],
//! in `intake`), and the signal log.

use serde_json::Value;
use tradehook_core::time::{UnixMillis, now_ms};

use super::{Cursor, parse_json, trim_page};
use crate::sql::Where;
use crate::tx::on_tx;
use crate::{Result, Store, StoreError, Tx, on_backend, on_write};

/// Where a signal is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalStatus {
    /// Valid and queued for execution.
    Accepted,
    /// Refused at intake (paused bot, symbol not allowed, bad body …).
    Rejected,
    Executing,
    Executed,
    Failed,
}

impl SignalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalStatus::Accepted => "accepted",
            SignalStatus::Rejected => "rejected",
            SignalStatus::Executing => "executing",
            SignalStatus::Executed => "executed",
            SignalStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(SignalStatus::Accepted),
            "rejected" => Some(SignalStatus::Rejected),
            "executing" => Some(SignalStatus::Executing),
            "executed" => Some(SignalStatus::Executed),
            "failed" => Some(SignalStatus::Failed),
            _ => None,
        }
    }
}

/// A stored signal.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    /// `sig_…`.
    pub id: String,
    pub bot_id: String,
    pub received_at: UnixMillis,
    /// How the body was read (`json`, `text`, …).
    pub format: String,
    pub symbol: String,
    pub action: String,
    /// See [`SignalStatus`].
    pub status: String,
    pub reason: Option<String>,
    pub dedupe_key: String,
    /// The raw body, secrets removed by the caller.
    pub body: String,
    /// The body as understood (JSON).
    pub parsed: Value,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// A signal to take in.
#[derive(Debug, Clone)]
pub struct NewSignal {
    pub bot_id: String,
    pub format: String,
    pub symbol: String,
    pub action: String,
    /// An id the sender gave, or one derived from the body.
    pub dedupe_key: String,
    /// Until when another signal with this key is a duplicate:
    /// `i64::MAX` for ids the sender gave explicitly (never reused).
    pub dedupe_expires_at: UnixMillis,
    pub body: String,
    pub parsed: Value,
    /// `Accepted` queues an `execute` job; any other status (intake uses
    /// `Rejected`) is stored without one.
    pub status: SignalStatus,
    pub reason: Option<String>,
    pub received_at: UnixMillis,
}

/// What intake did with a signal.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalOutcome {
    /// Stored, with its `execute` job and its event.
    Accepted {
        signal: SignalRecord,
        job_id: String,
        event_seq: i64,
    },
    /// Stored as refused, with its event and no job.
    Rejected {
        signal: SignalRecord,
        event_seq: i64,
    },
    /// Another signal holds the dedupe key; nothing was written.
    Duplicate { original_signal_id: String },
}

/// Which signals to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub bot_id: Option<String>,
    pub status: Option<SignalStatus>,
    /// `received_at` at or after.
    pub from: Option<UnixMillis>,
    /// `received_at` before.
    pub to: Option<UnixMillis>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
    pub limit: i64,
}

/// One page of signals.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalPage {
    pub signals: Vec<SignalRecord>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SignalRow {
    id: String,
    bot_id: String,
    received_at: i64,
    format: String,
    symbol: String,
    action: String,
    status: String,
    reason: Option<String>,
    dedupe_key: String,
    body: String,
    parsed: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SignalRow> for SignalRecord {
    type Error = StoreError;
    fn try_from(r: SignalRow) -> Result<Self> {
        Ok(SignalRecord {
            parsed: parse_json("signal parsed", &r.parsed)?,
            id: r.id,
            bot_id: r.bot_id,
            received_at: r.received_at,
            format: r.format,
            symbol: r.symbol,
            action: r.action,
            status: r.status,
            reason: r.reason,
            dedupe_key: r.dedupe_key,
            body: r.body,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "id, bot_id, received_at, format, symbol, action, status, reason, dedupe_key, \
    body, parsed, created_at, updated_at";

impl Store {
    pub async fn get_signal(&self, id: &str) -> Result<SignalRecord> {
        let sql = format!("SELECT {COLUMNS} FROM signals WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, SignalRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// A page of signals, newest first (by `received_at`, then id),
    /// filtered. A cursor this store did not produce is `InvalidCursor`.
    pub async fn list_signals(&self, f: &SignalFilter) -> Result<SignalPage> {
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
        if f.from.is_some() {
            let p = w.param();
            w.and(&format!("received_at >= ${p}"));
        }
        if f.to.is_some() {
            let p = w.param();
            w.and(&format!("received_at < ${p}"));
        }
        if cursor.is_some() {
            let (at, id) = (w.param(), w.param());
            w.and(&format!("(received_at, id) < (${at}, ${id})"));
        }
        let limit = w.param();
        let sql = format!(
            "SELECT {COLUMNS} FROM signals{} ORDER BY received_at DESC, id DESC LIMIT ${limit}",
            w.as_str()
        );
        let rows = on_backend!(self, pool => {
            // Bound in the order the conditions were added above.
            let mut q = sqlx::query_as::<_, SignalRow>(sqlx::AssertSqlSafe(sql));
            if let Some(v) = &f.bot_id {
                q = q.bind(v);
            }
            if let Some(v) = f.status {
                q = q.bind(v.as_str());
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
        let mut signals = rows
            .into_iter()
            .map(SignalRecord::try_from)
            .collect::<Result<Vec<_>>>()?;
        let more = trim_page(&mut signals, f.limit);
        let next = if more {
            signals.last().map(|s| Cursor::format(s.received_at, &s.id))
        } else {
            None
        };
        Ok(SignalPage { signals, next })
    }

    /// Sets a signal's status and reason (`None` clears it), stamping
    /// `updated_at` with the wall clock. `NotFound` if it is missing.
    pub async fn set_signal_status(
        &self,
        id: &str,
        status: SignalStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let done = on_write!(self, pool => {
            sqlx::query(SET_STATUS).bind(id).bind(status.as_str()).bind(reason).bind(now_ms())
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes up to `batch` dedupe claims that expired at or before
    /// `now`. Returns how many; call again until 0 so no single statement
    /// holds locks for long. Claims that never expire stay.
    pub async fn prune_signal_dedupe(&self, now: UnixMillis, batch: i64) -> Result<u64> {
        Ok(on_write!(self, pool => {
            sqlx::query(
                "DELETE FROM signal_dedupe WHERE (bot_id, dedupe_key) IN (
                    SELECT bot_id, dedupe_key FROM signal_dedupe WHERE expires_at <= $1
                    ORDER BY expires_at LIMIT $2)",
            )
            .bind(now)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}

const SET_STATUS: &str =
    "UPDATE signals SET status = $2, reason = $3, updated_at = $4 WHERE id = $1";

impl Tx {
    /// [`Store::set_signal_status`] inside a larger write (the job that
    /// executed it completing, the order event published).
    pub async fn set_signal_status(
        &mut self,
        id: &str,
        status: SignalStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let done = on_tx!(self, conn => {
            sqlx::query(SET_STATUS).bind(id).bind(status.as_str()).bind(reason).bind(now_ms())
                .execute(&mut *conn).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
