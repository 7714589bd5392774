//! Session advisory locks: one owner of a periodic job across replicas.
//!
//! On PostgreSQL [`Store::try_advisory_lock`] takes
//! `pg_try_advisory_lock(key)` on a dedicated pooled connection held by
//! the guard; [`AdvisoryLock::release`] unlocks and returns the
//! connection. A guard dropped without `release` closes its connection,
//! which ends the session and so frees the lock. On SQLite (one process)
//! the lock is always granted.

use sqlx::Postgres;
use sqlx::pool::PoolConnection;

use crate::{Backend, Result, Store};

/// A held advisory lock.
pub struct AdvisoryLock {
    key: i64,
    conn: Option<PoolConnection<Postgres>>,
}

impl std::fmt::Debug for AdvisoryLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvisoryLock")
            .field("key", &self.key)
            .finish()
    }
}

/// A lock key from a name (FNV-1a, 64 bits), stable across processes.
pub fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

impl Store {
    /// Takes the advisory lock `key` if nobody holds it; `None` if another
    /// session does.
    pub async fn try_advisory_lock(&self, key: i64) -> Result<Option<AdvisoryLock>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Some(AdvisoryLock { key, conn: None })),
            Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(got.then_some(AdvisoryLock {
                    key,
                    conn: Some(conn),
                }))
            }
        }
    }
}

impl AdvisoryLock {
    /// Unlocks and gives the connection back to the pool.
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Closing the session frees the lock.
                drop(conn.detach());
            }
        }
    }
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}
