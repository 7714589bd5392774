//! A transaction on either backend, so several repositories can write in
//! one atomic step (an alert, its event and the event's deliveries).

use sqlx::{Postgres, Sqlite, Transaction};

use crate::{Backend, BackendKind, Result, Store};

pub(crate) enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// An open transaction. Dropped without `commit`, it rolls back.
pub struct Tx {
    // Declared before the gate so that a transaction dropped without
    // commit queues its rollback before the next writer enters.
    pub(crate) inner: TxInner,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// Set by [`Tx::keep_subscribers`]: the subscriptions every later
    /// [`Tx::publish_event`] of this transaction matches against.
    pub(crate) subscribers: Option<Vec<crate::events::Subscriber>>,
}

/// Runs `$body` with `$conn` bound to the transaction's connection
/// (`&mut *tx`), compiled once per backend.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::tx::TxInner::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::tx::TxInner::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

impl Store {
    /// Starts a transaction. On SQLite it enters the store's write gate
    /// (see `WriteGate`), held until commit or drop, and takes the write
    /// lock at once (`BEGIN IMMEDIATE`), so a transaction that reads then
    /// writes cannot fail half-way with a busy error.
    pub async fn begin(&self) -> Result<Tx> {
        let gate = self.gate.enter().await?;
        let inner = match &self.backend {
            Backend::Sqlite(pool) => TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx {
            inner,
            _gate: gate,
            subscribers: None,
        })
    }
}

impl Tx {
    /// The backend this transaction runs on, for the few statements whose
    /// text differs between them.
    pub(crate) fn kind(&self) -> BackendKind {
        match self.inner {
            TxInner::Sqlite(_) => BackendKind::Sqlite,
            TxInner::Postgres(_) => BackendKind::Postgres,
        }
    }

    pub async fn commit(self) -> Result<()> {
        // The gate is released after the commit, when `self` drops.
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
