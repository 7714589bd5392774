//! Bounded reads for the dashboard's analytics page: each takes a row
//! limit and walks an index (or a small sort) so the page stays fast with
//! many rows. The same SQL runs on SQLite and PostgreSQL.

use tradehook_core::time::UnixMillis;

use crate::{Result, Store, on_backend};

/// One delivery attempt, for latency and success rate per endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptStat {
    pub endpoint_id: String,
    pub latency_ms: i64,
    pub http_status: Option<i64>,
}

impl Store {
    /// A bot's last `limit` equity snapshots as `(ts, equity)`, oldest
    /// first.
    pub async fn recent_equity(
        &self,
        bot_id: &str,
        limit: i64,
    ) -> Result<Vec<(UnixMillis, String)>> {
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT ts, equity FROM (
                     SELECT ts, equity FROM equity_snapshots
                     WHERE bot_id = $1 ORDER BY ts DESC LIMIT $2
                 ) AS recent ORDER BY ts",
            )
            .bind(bot_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// The last `limit` delivery attempts (newest first).
    pub async fn recent_attempt_stats(&self, limit: i64) -> Result<Vec<AttemptStat>> {
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, (String, i64, Option<i64>)>(
                "SELECT d.endpoint_id, CAST(a.latency_ms AS BIGINT), CAST(a.http_status AS BIGINT)
                 FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                 ORDER BY a.started_at DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(endpoint_id, latency_ms, http_status)| AttemptStat {
                endpoint_id,
                latency_ms,
                http_status,
            })
            .collect())
    }

    /// Signal-to-fill latency of the last `limit` filled entry orders as
    /// `(bot_id, ms)`: the order's `updated_at` minus its signal's
    /// `received_at`, newest first.
    pub async fn recent_signal_to_fill(&self, limit: i64) -> Result<Vec<(String, i64)>> {
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT o.bot_id, CAST(o.updated_at - s.received_at AS BIGINT)
                 FROM orders o JOIN signals s ON s.id = o.signal_id
                 WHERE o.leg = 'entry' AND o.status = 'filled'
                 ORDER BY o.updated_at DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}
