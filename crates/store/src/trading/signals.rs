//! Signals: intake, deduplication and the signal log.
//!
//! Intake is one transaction ([`Store::accept_signal`]): claim the dedupe
//! key, store the signal, queue its job, publish its event with the
//! event's deliveries. Once the webhook is answered, the signal can
//! neither be lost nor executed twice; a crash before commit leaves
//! nothing, and the sender's retry is then not a duplicate.
//!
//! The dedupe key is claimed with an upsert that takes over the
//! `(bot, key)` row only if it has expired. On PostgreSQL a second copy
//! racing the first waits on the first's row lock, then finds an unexpired
//! row and claims nothing; under SQLite's single writer the copies simply
//! take turns. So of two identical signals exactly one is accepted,
//! without a read before the write.

use serde_json::Value;
use tradehook_core::event::Event;
use tradehook_core::ids::new_id;
use tradehook_core::time::{UnixMillis, now_ms};

use super::{Cursor, json_text, parse_json, trim_page};
use crate::sql::Where;
use crate::tx::on_tx;
use crate::{Result, Store, StoreError, Tx, on_backend};

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

/// Claims `(bot, key)` for a signal unless an unexpired claim exists.
/// Returns a row only when the claim was taken.
const CLAIM_KEY: &str = "INSERT INTO signal_dedupe (bot_id, dedupe_key, signal_id, expires_at)
     VALUES ($2, $9, $1, $13)
     ON CONFLICT (bot_id, dedupe_key) DO UPDATE SET signal_id = excluded.signal_id, expires_at = excluded.expires_at
     WHERE signal_dedupe.expires_at <= $3
     RETURNING signal_id";

const INSERT_SIGNAL: &str =
    "INSERT INTO signals (id, bot_id, received_at, format, symbol, action, status, reason,
        dedupe_key, body, parsed, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $3, $3)";

/// The job that executes an accepted signal, due at once.
const INSERT_JOB: &str = "INSERT INTO jobs (id, signal_id, bot_id, kind, status, next_attempt_at, created_at, updated_at)
     VALUES ($12, $1, $2, 'execute', 'pending', $3, $3, $3)";

/// All of intake's writes in one PostgreSQL statement (one round trip):
/// the claim, then the signal only if the claim was taken, then the job
/// only if the signal was inserted and is accepted ($14). The job's
/// foreign key is checked at the end of the statement, after the signal.
const INTAKE_POSTGRES: &str = "WITH claim AS (
        INSERT INTO signal_dedupe (bot_id, dedupe_key, signal_id, expires_at)
        VALUES ($2, $9, $1, $13)
        ON CONFLICT (bot_id, dedupe_key) DO UPDATE SET signal_id = excluded.signal_id, expires_at = excluded.expires_at
        WHERE signal_dedupe.expires_at <= $3
        RETURNING signal_id
     ), signal AS (
        INSERT INTO signals (id, bot_id, received_at, format, symbol, action, status, reason,
            dedupe_key, body, parsed, created_at, updated_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $3, $3 FROM claim
        RETURNING id
     ), job AS (
        INSERT INTO jobs (id, signal_id, bot_id, kind, status, next_attempt_at, created_at, updated_at)
        SELECT $12, id, $2, 'execute', 'pending', $3, $3, $3 FROM signal WHERE $14
     )
     SELECT COUNT(*) FROM claim";

/// Binds intake's parameters, numbered as in the statements above.
macro_rules! bind_intake {
    ($query:expr, $s:expr, $record:expr, $parsed:expr, $job_id:expr) => {
        $query
            .bind(&$record.id)
            .bind(&$s.bot_id)
            .bind($s.received_at)
            .bind(&$s.format)
            .bind(&$s.symbol)
            .bind(&$s.action)
            .bind($s.status.as_str())
            .bind(&$s.reason)
            .bind(&$s.dedupe_key)
            .bind(&$s.body)
            .bind($parsed)
            .bind($job_id)
            .bind($s.dedupe_expires_at)
            .bind($s.status == SignalStatus::Accepted)
    };
}

impl Store {
    /// Takes a signal in, in one transaction: claims its dedupe key,
    /// stores it, queues an `execute` job when it is accepted, and
    /// publishes the event `make_event` builds (`signal.received` or
    /// `signal.rejected`) with its deliveries.
    ///
    /// A key already claimed by a signal whose claim has not expired
    /// (`expires_at` after this signal's `received_at`) makes this one a
    /// [`SignalOutcome::Duplicate`], and nothing is written. An expired
    /// claim is taken over, so the same key is accepted again after the
    /// window. Expired claims are removed by [`Store::prune_signal_dedupe`].
    ///
    /// Built for the intake path: no read before writing, and on
    /// PostgreSQL the claim, signal and job are one statement.
    pub async fn accept_signal(
        &self,
        s: &NewSignal,
        make_event: impl FnOnce(&SignalRecord) -> Event,
    ) -> Result<SignalOutcome> {
        let record = SignalRecord {
            id: new_id("sig"),
            bot_id: s.bot_id.clone(),
            received_at: s.received_at,
            format: s.format.clone(),
            symbol: s.symbol.clone(),
            action: s.action.clone(),
            status: s.status.as_str().to_string(),
            reason: s.reason.clone(),
            dedupe_key: s.dedupe_key.clone(),
            body: s.body.clone(),
            parsed: s.parsed.clone(),
            created_at: s.received_at,
            updated_at: s.received_at,
        };
        let accepted = s.status == SignalStatus::Accepted;
        let job_id = new_id("job");
        let parsed = json_text(&s.parsed);
        let mut tx = self.begin().await?;
        let claimed = match &mut tx.inner {
            crate::tx::TxInner::Postgres(t) => {
                let n: i64 = bind_intake!(
                    sqlx::query_scalar(INTAKE_POSTGRES),
                    s,
                    record,
                    &parsed,
                    &job_id
                )
                .fetch_one(&mut **t)
                .await?;
                n > 0
            }
            crate::tx::TxInner::Sqlite(t) => {
                let conn = &mut **t;
                let claim: Option<String> =
                    bind_intake!(sqlx::query_scalar(CLAIM_KEY), s, record, &parsed, &job_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                if claim.is_some() {
                    bind_intake!(sqlx::query(INSERT_SIGNAL), s, record, &parsed, &job_id)
                        .execute(&mut *conn)
                        .await?;
                    if accepted {
                        bind_intake!(sqlx::query(INSERT_JOB), s, record, &parsed, &job_id)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                claim.is_some()
            }
        };
        if !claimed {
            // The holder's claim is committed (PostgreSQL waited for it),
            // so this read, a new statement, sees it. Dropping the
            // transaction rolls back, though nothing was written.
            let original: Option<String> = on_tx!(tx, conn => {
                sqlx::query_scalar("SELECT signal_id FROM signal_dedupe WHERE bot_id = $1 AND dedupe_key = $2")
                    .bind(&s.bot_id)
                    .bind(&s.dedupe_key)
                    .fetch_optional(&mut *conn)
                    .await?
            });
            // Only a prune racing this call could remove the claim, and
            // it prunes only expired claims, which this call would have
            // taken over: report the key's holder as unknown rather than
            // retrying.
            return Ok(SignalOutcome::Duplicate {
                original_signal_id: original.unwrap_or_default(),
            });
        }
        let event = make_event(&record);
        let (event_seq, _) = tx.publish_event(&event).await?;
        tx.commit().await?;
        Ok(if accepted {
            SignalOutcome::Accepted {
                signal: record,
                job_id,
                event_seq,
            }
        } else {
            SignalOutcome::Rejected {
                signal: record,
                event_seq,
            }
        })
    }

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
        let done = on_backend!(self, pool => {
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
        Ok(on_backend!(self, pool => {
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
