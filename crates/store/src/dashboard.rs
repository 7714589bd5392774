//! What the web dashboard needs that no API repository has: its sessions
//! and the overview's counts.
//!
//! A session row holds the SHA-256 of the session id (the cookie holds
//! the id itself), the signed-in key's id and the key sealed by the
//! caller, the session's CSRF token and its expiry. Rows live in the
//! database so that every replica on one PostgreSQL sees the same
//! sessions, and deleting the row ends the session everywhere.

use tradehook_core::time::UnixMillis;

use crate::{Result, Store, on_backend, on_write};

/// A stored dashboard session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DashboardSession {
    pub id_hash: String,
    pub key_id: String,
    /// The API key, sealed by the server's `SecretBox`.
    pub key_sealed: String,
    pub csrf_token: String,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

/// How many rows of each kind since an instant (the overview's "today").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityCounts {
    pub alerts: i64,
    pub signals: i64,
    pub orders: i64,
    pub deliveries: i64,
    pub failed_deliveries: i64,
}

/// An endpoint that is failing now or was disabled.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FailingEndpoint {
    pub id: String,
    pub kind: String,
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<UnixMillis>,
}

impl Store {
    pub async fn insert_dashboard_session(&self, s: &DashboardSession) -> Result<()> {
        on_write!(self, pool => {
            sqlx::query(
                "INSERT INTO dashboard_sessions (id_hash, key_id, key_sealed, csrf_token, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&s.id_hash)
            .bind(&s.key_id)
            .bind(&s.key_sealed)
            .bind(&s.csrf_token)
            .bind(s.created_at)
            .bind(s.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The live session with this id hash; expired sessions are absent.
    pub async fn get_dashboard_session(
        &self,
        id_hash: &str,
        now: UnixMillis,
    ) -> Result<Option<DashboardSession>> {
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, DashboardSession>(
                "SELECT id_hash, key_id, key_sealed, csrf_token, created_at, expires_at
                 FROM dashboard_sessions WHERE id_hash = $1 AND expires_at > $2",
            )
            .bind(id_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    /// Ends a session; true when there was one.
    pub async fn delete_dashboard_session(&self, id_hash: &str) -> Result<bool> {
        let n = on_write!(self, pool => {
            sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Deletes expired sessions; returns how many.
    pub async fn prune_dashboard_sessions(&self, now: UnixMillis) -> Result<u64> {
        let n = on_write!(self, pool => {
            sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// Alerts, signals, orders and deliveries created at or after `since`
    /// (each an index range count).
    pub async fn activity_counts(&self, since: UnixMillis) -> Result<ActivityCounts> {
        let row: (i64, i64, i64, i64, i64) = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT
                   (SELECT COUNT(*) FROM alerts WHERE committed_at >= $1),
                   (SELECT COUNT(*) FROM signals WHERE received_at >= $1),
                   (SELECT COUNT(*) FROM orders WHERE created_at >= $1),
                   (SELECT COUNT(*) FROM deliveries WHERE created_at >= $1),
                   (SELECT COUNT(*) FROM deliveries WHERE created_at >= $1 AND status = 'failed')",
            )
            .bind(since)
            .fetch_one(pool)
            .await?
        });
        Ok(ActivityCounts {
            alerts: row.0,
            signals: row.1,
            orders: row.2,
            deliveries: row.3,
            failed_deliveries: row.4,
        })
    }

    /// Endpoints failing continuously or disabled, longest failing first,
    /// at most `limit`.
    pub async fn failing_endpoints(&self, limit: i64) -> Result<Vec<FailingEndpoint>> {
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, FailingEndpoint>(
                "SELECT id, kind, url, description, enabled, disabled_reason, failing_since
                 FROM endpoints WHERE failing_since IS NOT NULL OR NOT enabled
                 ORDER BY failing_since IS NULL, failing_since, id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}

impl Store {
    /// A bot's equity at the start of a period and now: the last snapshot
    /// before `since` (else the first after it) and the newest one. Two
    /// index probes, however many snapshots the day holds.
    pub async fn equity_change(
        &self,
        bot_id: &str,
        since: UnixMillis,
    ) -> Result<Option<(String, String)>> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT
                   (SELECT equity FROM equity_snapshots WHERE bot_id = $1 AND ts < $2 ORDER BY ts DESC LIMIT 1),
                   (SELECT equity FROM equity_snapshots WHERE bot_id = $1 AND ts >= $2 ORDER BY ts LIMIT 1),
                   (SELECT equity FROM equity_snapshots WHERE bot_id = $1 ORDER BY ts DESC LIMIT 1)",
            )
            .bind(bot_id)
            .bind(since)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.and_then(|(before, first, last)| Some((before.or(first)?, last?))))
    }
}
