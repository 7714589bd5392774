//! Jobs: the work an accepted signal queues, leased like deliveries.
//!
//! A lease pushes `next_attempt_at` to the lease's end and bumps
//! `lease_token`. If the worker dies after the webhook was answered but
//! before the job finished, the job is simply due again when the lease
//! ends; if the worker comes back late, its result is refused because the
//! token has moved on. On PostgreSQL the lease takes rows with
//! `FOR UPDATE SKIP LOCKED`, so replicas never lease the same job at once;
//! SQLite serialises writers, so its single `UPDATE … RETURNING` is atomic.
//!
//! `attempts` counts leases, not results: a job that kills its worker
//! every time still shows its attempts, so the caller can give up on it.

use tradehook_core::time::{UnixMillis, now_ms};

use crate::tx::on_tx;
use crate::{BackendKind, Result, Store, StoreError, Tx, on_backend, on_write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Done,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(JobStatus::Pending),
            "done" => Some(JobStatus::Done),
            "failed" => Some(JobStatus::Failed),
            _ => None,
        }
    }
}

/// A stored job; as returned by [`Store::lease_jobs`], leased.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRecord {
    /// `job_…`.
    pub id: String,
    pub signal_id: String,
    pub bot_id: String,
    /// `execute` for jobs queued by intake.
    pub kind: String,
    /// See [`JobStatus`].
    pub status: String,
    /// Leases taken so far, this one included.
    pub attempts: i64,
    /// While leased, the end of the lease.
    pub next_attempt_at: UnixMillis,
    /// Pass back to complete, retry or fail the job.
    pub lease_token: i64,
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

const COLUMNS: &str = "id, signal_id, bot_id, kind, status, attempts, next_attempt_at, lease_token, \
    lease_owner, last_error, created_at, updated_at";

const COMPLETE: &str = "UPDATE jobs SET status = 'done', lease_owner = NULL, updated_at = $3
     WHERE id = $1 AND lease_token = $2 AND status = 'pending'";

const RETRY: &str =
    "UPDATE jobs SET next_attempt_at = $3, last_error = $4, lease_owner = NULL, updated_at = $5
     WHERE id = $1 AND lease_token = $2 AND status = 'pending'";

const FAIL: &str =
    "UPDATE jobs SET status = 'failed', last_error = $3, lease_owner = NULL, updated_at = $4
     WHERE id = $1 AND lease_token = $2 AND status = 'pending'";

impl Store {
    /// Leases up to `limit` due pending jobs for `lease_ms`, most overdue
    /// first. Each returned job has its new `lease_token` and one more
    /// attempt; until `now + lease_ms` no other call leases it.
    pub async fn lease_jobs(
        &self,
        owner: &str,
        now: UnixMillis,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<JobRecord>> {
        let pick = match self.kind() {
            BackendKind::Postgres => {
                "SELECT id FROM jobs WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED"
            }
            BackendKind::Sqlite => {
                "SELECT id FROM jobs WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT $4"
            }
        };
        let sql = format!(
            "UPDATE jobs SET next_attempt_at = $2, lease_owner = $3, lease_token = lease_token + 1,
                attempts = attempts + 1, updated_at = $1
             WHERE id IN ({pick})
             RETURNING {COLUMNS}"
        );
        let mut jobs = on_write!(self, pool => {
            sqlx::query_as::<_, JobRecord>(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(now.saturating_add(lease_ms))
                .bind(owner)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        // RETURNING has no order; ids are time-ordered (UUIDv7).
        jobs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(jobs)
    }

    pub async fn get_job(&self, id: &str) -> Result<JobRecord> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, JobRecord>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// The jobs a signal queued, oldest first.
    pub async fn jobs_for_signal(&self, signal_id: &str) -> Result<Vec<JobRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE signal_id = $1 ORDER BY id");
        Ok(on_backend!(self, pool => {
            sqlx::query_as::<_, JobRecord>(sqlx::AssertSqlSafe(sql)).bind(signal_id).fetch_all(pool).await?
        }))
    }

    /// Marks a leased job done. `false` if the lease was lost (it expired
    /// and another worker took the job) or the job is no longer pending.
    pub async fn complete_job(&self, id: &str, lease_token: i64) -> Result<bool> {
        Ok(on_write!(self, pool => {
            sqlx::query(COMPLETE).bind(id).bind(lease_token).bind(now_ms())
                .execute(pool).await?.rows_affected() > 0
        }))
    }

    /// Puts a leased job back to be due at `next_attempt_at`, recording
    /// why. `false` if the lease was lost.
    pub async fn retry_job(
        &self,
        id: &str,
        lease_token: i64,
        next_attempt_at: UnixMillis,
        error: &str,
    ) -> Result<bool> {
        Ok(on_write!(self, pool => {
            sqlx::query(RETRY).bind(id).bind(lease_token).bind(next_attempt_at).bind(error).bind(now_ms())
                .execute(pool).await?.rows_affected() > 0
        }))
    }

    /// Gives up on a leased job, recording why. `false` if the lease was
    /// lost.
    pub async fn fail_job(&self, id: &str, lease_token: i64, error: &str) -> Result<bool> {
        Ok(on_write!(self, pool => {
            sqlx::query(FAIL).bind(id).bind(lease_token).bind(error).bind(now_ms())
                .execute(pool).await?.rows_affected() > 0
        }))
    }

    /// Pending jobs due at `now` and the oldest due time, for metrics.
    pub async fn job_backlog(&self, now: UnixMillis) -> Result<(i64, Option<i64>)> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as::<_, (i64, Option<i64>)>(
                "SELECT COUNT(*), MIN(next_attempt_at) FROM jobs WHERE status = 'pending' AND next_attempt_at <= $1",
            )
            .bind(now)
            .fetch_one(pool)
            .await?
        }))
    }
}

impl Tx {
    /// [`Store::complete_job`] inside a larger write, so the job ends
    /// together with what it did (the signal's status, its orders).
    pub async fn complete_job(&mut self, id: &str, lease_token: i64) -> Result<bool> {
        Ok(on_tx!(self, conn => {
            sqlx::query(COMPLETE).bind(id).bind(lease_token).bind(now_ms())
                .execute(&mut *conn).await?.rows_affected() > 0
        }))
    }

    /// [`Store::retry_job`] inside a larger write.
    pub async fn retry_job(
        &mut self,
        id: &str,
        lease_token: i64,
        next_attempt_at: UnixMillis,
        error: &str,
    ) -> Result<bool> {
        Ok(on_tx!(self, conn => {
            sqlx::query(RETRY).bind(id).bind(lease_token).bind(next_attempt_at).bind(error).bind(now_ms())
                .execute(&mut *conn).await?.rows_affected() > 0
        }))
    }

    /// [`Store::fail_job`] inside a larger write.
    pub async fn fail_job(&mut self, id: &str, lease_token: i64, error: &str) -> Result<bool> {
        Ok(on_tx!(self, conn => {
            sqlx::query(FAIL).bind(id).bind(lease_token).bind(error).bind(now_ms())
                .execute(&mut *conn).await?.rows_affected() > 0
        }))
    }
}
