//! Where the execution worker's writes go.
//!
//! A paper account's broker lives in this process, so everything a paper
//! job does (its order rows and their events, the broker's new state, the
//! job's end and the signal's status) can commit as one transaction: the
//! job's [`Journal`]. The jobs of one bot leased together share one
//! journal, so a burst of signals costs one commit, not several per
//! signal. A crash before the commit leaves the stored rows and the stored
//! broker state as they were before the batch, and the jobs run again.
//! Remote brokers (Alpaca) cannot take part in a transaction, so their
//! rows commit one write at a time ([`Writer::Own`]), the row before the
//! broker call.

use tokio::sync::{Mutex, MutexGuard};
use tradehook_core::event::Event;
use tradehook_delivery::Outbox;
use tradehook_store::{Store, StoreError, Tx};

/// An open transaction collecting a batch's writes, with the events it
/// published (announced to this process's waiters after the commit).
pub(super) struct Journal {
    pub(super) tx: Tx,
    seqs: Vec<i64>,
}

impl Journal {
    /// Opens a journal. With `batch`, the endpoints' subscriptions are
    /// read once for all the events it will publish.
    pub(super) async fn begin(store: &Store, batch: bool) -> Result<Journal, StoreError> {
        let mut tx = store.begin().await?;
        if batch {
            tx.keep_subscribers().await?;
        }
        Ok(Journal {
            tx,
            seqs: Vec::new(),
        })
    }

    /// Publishes `event` (with its deliveries) in this transaction.
    pub(super) async fn publish(&mut self, event: &Event) -> Result<(), StoreError> {
        let (seq, _) = self.tx.publish_event(event).await?;
        self.seqs.push(seq);
        Ok(())
    }

    /// Commits, then wakes the dispatcher and live streams.
    pub(super) async fn commit(self, outbox: &Outbox) -> Result<(), StoreError> {
        self.tx.commit().await?;
        if let Some(seq) = self.seqs.iter().max() {
            outbox.committed(*seq);
        }
        Ok(())
    }
}

/// A write in progress: its own transaction, or a share of a journal.
pub(super) enum Writer<'a> {
    /// Committed by [`Writer::done`].
    Own(Journal),
    /// Committed with the rest of the journal.
    Shared(MutexGuard<'a, Journal>),
}

impl<'a> Writer<'a> {
    /// Joins `journal` when there is one, else opens a transaction.
    pub(super) async fn open(
        store: &Store,
        journal: Option<&'a Mutex<Journal>>,
    ) -> Result<Writer<'a>, StoreError> {
        Ok(match journal {
            Some(j) => Writer::Shared(j.lock().await),
            None => Writer::Own(Journal::begin(store, false).await?),
        })
    }

    pub(super) fn tx(&mut self) -> &mut Tx {
        &mut self.journal().tx
    }

    pub(super) async fn publish(&mut self, event: &Event) -> Result<(), StoreError> {
        self.journal().publish(event).await
    }

    fn journal(&mut self) -> &mut Journal {
        match self {
            Writer::Own(j) => j,
            Writer::Shared(j) => j,
        }
    }

    /// Ends the write: commits its own transaction; a shared one commits
    /// later with its journal.
    pub(super) async fn done(self, outbox: &Outbox) -> Result<(), StoreError> {
        match self {
            Writer::Own(j) => j.commit(outbox).await,
            Writer::Shared(_) => Ok(()),
        }
    }
}
