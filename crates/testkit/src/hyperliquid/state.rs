//! State shared by the HTTP handler, the WebSocket connections and the
//! test's handle: the market, the live connections with their
//! subscriptions, and what clients sent.
//!
//! One mutex guards all of it, and nothing awaits while holding it. That
//! is what makes "ack before data" hold: a subscription is registered and
//! its ack queued on the connection in one critical section, and every
//! push routes frames under the same lock, so no data frame can be queued
//! ahead of the ack.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Mutex, MutexGuard, PoisonError},
};

use serde_json::{Value, json};
use tokio::{sync::mpsc, sync::watch, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{config::FakeConfig, market::Market, rest::RestRequest, subscription::Subscription};

pub(crate) struct Shared {
    pub(crate) config: FakeConfig,
    state: Mutex<State>,
    /// Bumped on every change to connections or subscriptions, to wake
    /// `wait_for_*`.
    pub(crate) changed: watch::Sender<()>,
    /// `true` while the fake plays a dead server.
    pub(crate) silent: watch::Sender<bool>,
    /// Cancelled at shutdown; every connection holds a child.
    pub(crate) root: CancellationToken,
}

pub(crate) struct State {
    pub(crate) market: Market,
    pub(crate) conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    pub(crate) accepted: usize,
    pub(crate) requests: Vec<RestRequest>,
    /// Charged REST weights inside the rolling minute.
    pub(crate) weights: VecDeque<(Instant, u32)>,
    pub(crate) client_messages: Vec<String>,
}

pub(crate) struct Conn {
    tx: mpsc::UnboundedSender<String>,
    /// In subscription order, with the object as the client sent it (acks
    /// and errors echo that).
    pub(crate) subs: Vec<(Subscription, Value)>,
    pub(crate) kill: CancellationToken,
}

impl Conn {
    /// Queues a text frame. A closed receiver means the connection is on
    /// its way out, which is nothing to report.
    pub(crate) fn send(&self, frame: String) {
        let _ = self.tx.send(frame);
    }
}

pub(crate) fn frame(channel: &str, data: Value) -> String {
    json!({"channel": channel, "data": data}).to_string()
}

impl Shared {
    pub(crate) fn new(config: FakeConfig) -> Shared {
        let market = Market::new(&config);
        Shared {
            config,
            state: Mutex::new(State {
                market,
                conns: BTreeMap::new(),
                next_conn: 0,
                accepted: 0,
                requests: Vec::new(),
                weights: VecDeque::new(),
                client_messages: Vec::new(),
            }),
            changed: watch::channel(()).0,
            silent: watch::channel(false).0,
            root: CancellationToken::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while asserting must not wedge the server.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn notify(&self) {
        self.changed.send_modify(|()| {});
    }

    /// Registers a new connection; returns its id and the token that ends it.
    pub(crate) fn register(&self, tx: mpsc::UnboundedSender<String>) -> (u64, CancellationToken) {
        let kill = self.root.child_token();
        let mut st = self.lock();
        let id = st.next_conn;
        st.next_conn += 1;
        st.accepted += 1;
        st.conns.insert(
            id,
            Conn {
                tx,
                subs: Vec::new(),
                kill: kill.clone(),
            },
        );
        drop(st);
        self.notify();
        (id, kill)
    }

    pub(crate) fn deregister(&self, id: u64) {
        let removed = self.lock().conns.remove(&id).is_some();
        if removed {
            self.notify();
        }
    }
}

impl State {
    /// Sends to every subscription `render` returns a frame for. A
    /// connection with two matching subscriptions gets two frames, like
    /// the real server.
    pub(crate) fn route(&self, mut render: impl FnMut(&Subscription) -> Option<String>) {
        for conn in self.conns.values() {
            for (sub, _) in &conn.subs {
                if let Some(f) = render(sub) {
                    conn.send(f);
                }
            }
        }
    }
}
