//! Deliveries: leasing due work, recording attempts, the audit trail,
//! replay and recovery.
//!
//! A lease pushes `next_attempt_at` to the lease's end and bumps
//! `lease_token`. If the worker dies, the delivery is simply due again
//! when the lease ends; if it comes back late, its result is refused
//! because the token has moved on. On PostgreSQL the lease takes rows with
//! `FOR UPDATE SKIP LOCKED`, so replicas never lease the same row at once;
//! SQLite serialises writers, so its single `UPDATE … RETURNING` is atomic.

use tradehook_core::event::Event;
use tradehook_core::time::UnixMillis;

use crate::tx::on_tx;
use crate::{BackendKind, Result, Store, StoreError, on_backend, on_write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// A delivery as listed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
    pub event_type: String,
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRecord {
    pub attempt: i64,
    pub started_at: i64,
    pub latency_ms: i64,
    pub http_status: Option<i64>,
    pub error_class: Option<String>,
    pub response_snippet: String,
    pub next_retry_at: Option<i64>,
    pub worker: String,
}

/// A delivery leased for sending, with its event.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedDelivery {
    pub id: String,
    pub endpoint_id: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub lease_token: i64,
    pub event: Event,
}

#[derive(sqlx::FromRow)]
struct LeasedRow {
    id: String,
    endpoint_id: String,
    attempts: i64,
    lease_token: i64,
    event_id: String,
    event_type: String,
    created_at: i64,
    data: String,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextState {
    Delivered,
    RetryAt(UnixMillis),
    Failed,
}

/// The result of one attempt, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub delivery_id: String,
    pub endpoint_id: String,
    pub lease_token: i64,
    /// 1-based number of this attempt.
    pub attempt: i64,
    pub started_at: UnixMillis,
    pub latency_ms: i64,
    pub http_status: Option<i64>,
    pub error_class: Option<String>,
    /// At most 2 KiB of the response body.
    pub response_snippet: String,
    pub next: NextState,
    pub worker: String,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    /// Only deliveries with an id less than this (newest first paging).
    pub before_id: Option<String>,
    pub limit: i64,
}

const DELIVERY_COLUMNS: &str = "d.id, d.event_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, \
    d.last_status, d.last_error, d.created_at, d.updated_at, d.delivered_at, e.event_type";

impl Store {
    /// Enabled endpoints that have due deliveries, most overdue first.
    pub async fn due_endpoints(&self, now: UnixMillis, limit: i64) -> Result<Vec<String>> {
        Ok(on_backend!(self, pool => {
            // One index probe per enabled endpoint (the first pending row on
            // the partial index), rather than aggregating the whole queue.
            sqlx::query_scalar(
                "SELECT id FROM (
                    SELECT e.id,
                           (SELECT d.next_attempt_at FROM deliveries d
                             WHERE d.endpoint_id = e.id AND d.status = 'pending'
                             ORDER BY d.next_attempt_at LIMIT 1) AS due
                    FROM endpoints e WHERE e.enabled
                 ) t
                 WHERE due <= $1 ORDER BY due LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Leases up to `limit` due deliveries of one endpoint until
    /// `lease_until`, oldest first.
    pub async fn lease_deliveries(
        &self,
        endpoint_id: &str,
        now: UnixMillis,
        lease_until: UnixMillis,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<LeasedDelivery>> {
        let pick = match self.kind() {
            BackendKind::Postgres => {
                "SELECT id FROM deliveries WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at <= $2
                 ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED"
            }
            BackendKind::Sqlite => {
                "SELECT id FROM deliveries WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at <= $2
                 ORDER BY next_attempt_at LIMIT $5"
            }
        };
        let sql = format!(
            "WITH leased AS (
                UPDATE deliveries SET next_attempt_at = $3, lease_owner = $4, lease_token = lease_token + 1
                WHERE id IN ({pick})
                RETURNING id, endpoint_id, attempts, lease_token, event_id
             )
             SELECT l.id, l.endpoint_id, l.attempts, l.lease_token, l.event_id, e.event_type, e.created_at, e.data
             FROM leased l JOIN events e ON e.id = l.event_id"
        );
        let rows: Vec<LeasedRow> = match self.kind() {
            BackendKind::Postgres => on_backend!(self, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(endpoint_id)
                    .bind(now)
                    .bind(lease_until)
                    .bind(owner)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }),
            // SQLite has no UPDATE in a CTE: update with RETURNING, then
            // read the events, in one transaction.
            BackendKind::Sqlite => {
                self.lease_sqlite(pick, endpoint_id, now, lease_until, owner, limit)
                    .await?
            }
        };
        rows.into_iter()
            .map(|r| {
                Ok(LeasedDelivery {
                    id: r.id,
                    endpoint_id: r.endpoint_id,
                    attempts: r.attempts,
                    lease_token: r.lease_token,
                    event: Event {
                        id: r.event_id,
                        event_type: r.event_type,
                        timestamp_ms: r.created_at,
                        data: serde_json::from_str(&r.data)
                            .map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?,
                    },
                })
            })
            .collect()
    }

    async fn lease_sqlite(
        &self,
        pick: &str,
        endpoint_id: &str,
        now: UnixMillis,
        lease_until: UnixMillis,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<LeasedRow>> {
        let mut tx = self.begin().await?;
        let update = format!(
            "UPDATE deliveries SET next_attempt_at = $3, lease_owner = $4, lease_token = lease_token + 1
             WHERE id IN ({pick})
             RETURNING id, endpoint_id, attempts, lease_token, event_id"
        );
        let rows = on_tx!(tx, conn => {
            let leased: Vec<(String, String, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(update))
                .bind(endpoint_id)
                .bind(now)
                .bind(lease_until)
                .bind(owner)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?;
            let mut rows = Vec::with_capacity(leased.len());
            for (id, endpoint_id, attempts, lease_token, event_id) in leased {
                let (event_type, created_at, data): (String, i64, String) =
                    sqlx::query_as("SELECT event_type, created_at, data FROM events WHERE id = $1")
                        .bind(&event_id)
                        .fetch_one(&mut *conn)
                        .await?;
                rows.push(LeasedRow { id, endpoint_id, attempts, lease_token, event_id, event_type, created_at, data });
            }
            rows
        });
        tx.commit().await?;
        Ok(rows)
    }

    /// Records attempts and moves their deliveries on, in one transaction.
    /// A result whose lease token no longer matches (the lease expired and
    /// another worker took it) is not applied; the returned flags say which
    /// were. Also keeps each endpoint's `failing_since` current.
    ///
    /// On PostgreSQL the whole batch is three set-based statements (arrays
    /// through `unnest`). Endpoint rows are updated once per endpoint, in id
    /// order, so concurrent batches never lock them in opposite orders
    /// (which deadlocked and lost whole batches).
    pub async fn record_attempts(&self, results: &[AttemptResult]) -> Result<Vec<bool>> {
        if results.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Row<'_>> = results.iter().map(Row::of).collect();
        let mut tx = self.begin().await?;
        let applied: Vec<bool> = match &mut tx.inner {
            crate::tx::TxInner::Postgres(t) => record_postgres(t, &rows).await?,
            crate::tx::TxInner::Sqlite(t) => record_sqlite(t, &rows).await?,
        };
        // The last applied outcome per endpoint decides its health.
        let mut health: std::collections::BTreeMap<&str, (bool, i64)> =
            std::collections::BTreeMap::new();
        for (r, ok) in results.iter().zip(&applied) {
            if *ok {
                health.insert(
                    &r.endpoint_id,
                    (r.next == NextState::Delivered, r.started_at),
                );
            }
        }
        for (endpoint_id, (delivered, at)) in health {
            on_tx!(tx, conn => {
                if delivered {
                    sqlx::query("UPDATE endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
                        .bind(endpoint_id)
                        .execute(&mut *conn)
                        .await?;
                } else {
                    sqlx::query("UPDATE endpoints SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL")
                        .bind(endpoint_id)
                        .bind(at)
                        .execute(&mut *conn)
                        .await?;
                }
            });
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// Puts a leased delivery back without counting an attempt (the
    /// endpoint's own rate limit said wait).
    pub async fn postpone_delivery(
        &self,
        id: &str,
        lease_token: i64,
        until: UnixMillis,
    ) -> Result<bool> {
        Ok(on_write!(self, pool => {
            sqlx::query(
                "UPDATE deliveries SET next_attempt_at = $3, lease_owner = NULL
                 WHERE id = $1 AND lease_token = $2 AND status = 'pending'",
            )
            .bind(id)
            .bind(lease_token)
            .bind(until)
            .execute(pool)
            .await?
            .rows_affected()
                > 0
        }))
    }

    pub async fn get_delivery(&self, id: &str) -> Result<DeliveryRecord> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = $1"
        );
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, DeliveryRecord>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// A delivery's attempts, oldest first.
    pub async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRecord>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT attempt, started_at, latency_ms, http_status, error_class, response_snippet, next_retry_at, worker
                 FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
            )
            .bind(delivery_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Deliveries, newest first, filtered.
    pub async fn list_deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
             WHERE ($1 IS NULL OR d.endpoint_id = $1) AND ($2 IS NULL OR d.status = $2) AND ($3 IS NULL OR d.id < $3)
             ORDER BY d.id DESC LIMIT $4"
        );
        Ok(on_backend!(self, pool => {
            sqlx::query_as::<_, DeliveryRecord>(sqlx::AssertSqlSafe(sql))
                .bind(&f.endpoint_id)
                .bind(f.status.map(DeliveryStatus::as_str))
                .bind(&f.before_id)
                .bind(f.limit)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Makes a delivery due now with a fresh attempt budget, whatever its
    /// state. Its `webhook-id` (the event id) stays the same.
    pub async fn replay_delivery(&self, id: &str, now: UnixMillis) -> Result<()> {
        let done = on_write!(self, pool => {
            sqlx::query(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2,
                    lease_token = lease_token + 1, lease_owner = NULL
                 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Makes every failed delivery of an endpoint created since `since`
    /// due now. Returns how many.
    pub async fn recover_endpoint(
        &self,
        endpoint_id: &str,
        since: UnixMillis,
        now: UnixMillis,
    ) -> Result<u64> {
        Ok(on_write!(self, pool => {
            sqlx::query(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3, updated_at = $3,
                    lease_token = lease_token + 1, lease_owner = NULL
                 WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2",
            )
            .bind(endpoint_id)
            .bind(since)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// Counts by status, for metrics: (pending due now, oldest due time).
    pub async fn delivery_backlog(&self, now: UnixMillis) -> Result<(i64, Option<i64>)> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as::<_, (i64, Option<i64>)>(
                "SELECT COUNT(*), MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1",
            )
            .bind(now)
            .fetch_one(pool)
            .await?
        }))
    }
}

/// One result as the columns it writes.
struct Row<'a> {
    r: &'a AttemptResult,
    status: &'static str,
    next_at: i64,
    delivered_at: Option<i64>,
    next_retry_at: Option<i64>,
    now: i64,
}

impl<'a> Row<'a> {
    fn of(r: &'a AttemptResult) -> Self {
        let (status, next_at, delivered_at) = match r.next {
            NextState::Delivered => ("delivered", r.started_at, Some(r.started_at + r.latency_ms)),
            NextState::RetryAt(at) => ("pending", at, None),
            NextState::Failed => ("failed", r.started_at, None),
        };
        Row {
            r,
            status,
            next_at,
            delivered_at,
            next_retry_at: match r.next {
                NextState::RetryAt(at) => Some(at),
                _ => None,
            },
            now: r.started_at + r.latency_ms,
        }
    }
}

async fn record_sqlite(conn: &mut sqlx::SqliteConnection, rows: &[Row<'_>]) -> Result<Vec<bool>> {
    let mut applied = Vec::with_capacity(rows.len());
    for row in rows {
        let r = row.r;
        let done = sqlx::query(
            "UPDATE deliveries SET status = $3, attempts = $4, next_attempt_at = $5, last_status = $6,
                last_error = $7, updated_at = $8, delivered_at = COALESCE($9, delivered_at), lease_owner = NULL
             WHERE id = $1 AND lease_token = $2 AND status = 'pending'",
        )
        .bind(&r.delivery_id)
        .bind(r.lease_token)
        .bind(row.status)
        .bind(r.attempt)
        .bind(row.next_at)
        .bind(r.http_status)
        .bind(&r.error_class)
        .bind(row.now)
        .bind(row.delivered_at)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            > 0;
        if done {
            sqlx::query(
                "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, latency_ms, http_status,
                    error_class, response_snippet, next_retry_at, worker)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&r.delivery_id)
            .bind(r.attempt)
            .bind(r.started_at)
            .bind(r.latency_ms)
            .bind(r.http_status)
            .bind(&r.error_class)
            .bind(&r.response_snippet)
            .bind(row.next_retry_at)
            .bind(&r.worker)
            .execute(&mut *conn)
            .await?;
        }
        applied.push(done);
    }
    Ok(applied)
}

async fn record_postgres(conn: &mut sqlx::PgConnection, rows: &[Row<'_>]) -> Result<Vec<bool>> {
    let ids: Vec<&str> = rows.iter().map(|x| x.r.delivery_id.as_str()).collect();
    let tokens: Vec<i64> = rows.iter().map(|x| x.r.lease_token).collect();
    let statuses: Vec<&str> = rows.iter().map(|x| x.status).collect();
    let attempts: Vec<i64> = rows.iter().map(|x| x.r.attempt).collect();
    let next_at: Vec<i64> = rows.iter().map(|x| x.next_at).collect();
    let http: Vec<Option<i64>> = rows.iter().map(|x| x.r.http_status).collect();
    let errors: Vec<Option<&str>> = rows.iter().map(|x| x.r.error_class.as_deref()).collect();
    let now: Vec<i64> = rows.iter().map(|x| x.now).collect();
    let delivered: Vec<Option<i64>> = rows.iter().map(|x| x.delivered_at).collect();
    let updated: Vec<String> = sqlx::query_scalar(
        "UPDATE deliveries d SET status = r.status, attempts = r.attempts, next_attempt_at = r.next_at,
            last_status = r.http, last_error = r.err, updated_at = r.now,
            delivered_at = COALESCE(r.delivered, d.delivered_at), lease_owner = NULL
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                     $7::text[], $8::bigint[], $9::bigint[])
              AS r(id, token, status, attempts, next_at, http, err, now, delivered)
         WHERE d.id = r.id AND d.lease_token = r.token AND d.status = 'pending'
         RETURNING d.id",
    )
    .bind(&ids)
    .bind(&tokens)
    .bind(&statuses)
    .bind(&attempts)
    .bind(&next_at)
    .bind(&http)
    .bind(&errors)
    .bind(&now)
    .bind(&delivered)
    .fetch_all(&mut *conn)
    .await?;
    let updated: std::collections::HashSet<String> = updated.into_iter().collect();
    let applied: Vec<bool> = rows
        .iter()
        .map(|x| updated.contains(&x.r.delivery_id))
        .collect();
    let done: Vec<&Row<'_>> = rows
        .iter()
        .zip(&applied)
        .filter(|(_, a)| **a)
        .map(|(x, _)| x)
        .collect();
    if !done.is_empty() {
        let ids: Vec<&str> = done.iter().map(|x| x.r.delivery_id.as_str()).collect();
        let attempts: Vec<i64> = done.iter().map(|x| x.r.attempt).collect();
        let started: Vec<i64> = done.iter().map(|x| x.r.started_at).collect();
        let latency: Vec<i64> = done.iter().map(|x| x.r.latency_ms).collect();
        let http: Vec<Option<i64>> = done.iter().map(|x| x.r.http_status).collect();
        let errors: Vec<Option<&str>> = done.iter().map(|x| x.r.error_class.as_deref()).collect();
        let snippets: Vec<&str> = done.iter().map(|x| x.r.response_snippet.as_str()).collect();
        let retry: Vec<Option<i64>> = done.iter().map(|x| x.next_retry_at).collect();
        let workers: Vec<&str> = done.iter().map(|x| x.r.worker.as_str()).collect();
        sqlx::query(
            "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, latency_ms, http_status,
                error_class, response_snippet, next_retry_at, worker)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                                  $6::text[], $7::text[], $8::bigint[], $9::text[])",
        )
        .bind(&ids)
        .bind(&attempts)
        .bind(&started)
        .bind(&latency)
        .bind(&http)
        .bind(&errors)
        .bind(&snippets)
        .bind(&retry)
        .bind(&workers)
        .execute(&mut *conn)
        .await?;
    }
    Ok(applied)
}
