//! Publishing events: the outbox write plus in-process wake-ups.
//!
//! The database is the queue; the notifications here only shorten the
//! wait of this process's dispatcher and live streams. Other replicas find
//! the same work by polling, so nothing depends on a notification arriving.

use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tradehook_core::event::Event;
use tradehook_core::ids::new_id;
use tradehook_core::time::now_ms;
use tradehook_store::{Result, Store};

/// Publishes events and wakes whoever waits for them. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    wake: Arc<Notify>,
    latest: Arc<watch::Sender<i64>>,
}

impl Outbox {
    pub fn new(store: Store) -> Self {
        let (latest, _) = watch::channel(0);
        Outbox {
            store,
            wake: Arc::new(Notify::new()),
            latest: Arc::new(latest),
        }
    }

    /// A new event with a fresh id and the current time.
    pub fn event(event_type: &str, data: serde_json::Value) -> Event {
        Event {
            id: new_id("evt"),
            event_type: event_type.to_string(),
            timestamp_ms: now_ms(),
            data,
        }
    }

    /// Stores the event and its deliveries in one transaction, then wakes
    /// the dispatcher and live streams. Returns (seq, deliveries).
    pub async fn publish(&self, event: &Event) -> Result<(i64, usize)> {
        let out = self.store.publish_event(event).await?;
        self.committed(out.0);
        Ok(out)
    }

    /// Tells waiters that events up to `seq` were committed (for callers
    /// that published inside their own transaction).
    pub fn committed(&self, seq: i64) {
        self.wake.notify_one();
        self.latest.send_if_modified(|latest| {
            if seq > *latest {
                *latest = seq;
                true
            } else {
                false
            }
        });
    }

    /// Wakes the dispatcher (new or newly due deliveries).
    pub fn wake_dispatcher(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Changes whenever this process commits an event.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.latest.subscribe()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
