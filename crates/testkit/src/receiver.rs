//! A programmable webhook receiver on a real local socket.
//!
//! Tests and the load benchmark point tradehook at [`Receiver::url`], set
//! what each path answers ([`Behaviour`]), and read back every request
//! ([`Recorded`]) to check headers, bodies and retry timing. It answers any
//! method on any path and keeps HTTP/1.1 connections alive, like a real
//! receiver. It only records: verifying signatures is the business of the
//! test, with the signing code, not of this fake.

mod behaviour;
mod conn;
mod recorded;

use std::{
    collections::{HashMap, VecDeque},
    fmt::Write as _,
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt as _;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub use behaviour::Behaviour;
pub use recorded::Recorded;

use behaviour::Answer;
use conn::CancellableListener;

/// Bodies above this are answered 413 (and recorded without a body).
/// Webhooks are kilobytes; this leaves room for "a few MiB" tests.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// How long [`Receiver::shutdown`] waits for the server task before
/// aborting it. Connections are reset at once, so this is only a backstop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A local HTTP server that answers as told and records every request.
///
/// Dropping it without [`Receiver::shutdown`] also stops it, without waiting.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<Inner>,
    /// Bumped after every recorded request (and on `clear`) to wake waiters.
    changed: watch::Sender<()>,
    record_bodies: AtomicBool,
    shutdown: CancellationToken,
}

struct Inner {
    default: Slot,
    paths: HashMap<String, Slot>,
    queues: HashMap<String, VecDeque<Arc<Behaviour>>>,
    recorded: Vec<Recorded>,
}

/// A standing behaviour and how many requests it has answered, which is
/// what makes [`Behaviour::Random`] repeatable.
struct Slot {
    behaviour: Arc<Behaviour>,
    served: u64,
}

impl Slot {
    fn new(behaviour: Behaviour) -> Self {
        behaviour.validate();
        Self {
            behaviour: Arc::new(behaviour),
            served: 0,
        }
    }

    fn answer(&mut self) -> Answer {
        let answer = Answer::choose(&self.behaviour, self.served);
        self.served += 1;
        answer
    }
}

impl Inner {
    fn next_answer(&mut self, path: &str) -> Answer {
        if let Some(once) = self.queues.get_mut(path).and_then(VecDeque::pop_front) {
            return Answer::choose(&once, 0);
        }
        match self.paths.get_mut(path) {
            Some(slot) => slot.answer(),
            None => self.default.answer(),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not hide every later request.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Receiver {
    /// Binds `127.0.0.1:0` and serves in a spawned task. Every path answers
    /// `Status(200)` until told otherwise; bodies are recorded.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("test receiver: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("test receiver: bound socket has no address");
        let (changed, _) = watch::channel(());
        let shared = Arc::new(Shared {
            state: Mutex::new(Inner {
                default: Slot::new(Behaviour::default()),
                paths: HashMap::new(),
                queues: HashMap::new(),
                recorded: Vec::new(),
            }),
            changed,
            record_bodies: AtomicBool::new(true),
            shutdown: CancellationToken::new(),
        });
        let listener = CancellableListener {
            inner: listener,
            shutdown: shared.shutdown.clone(),
        };
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(shared.shutdown.clone().cancelled_owned());
        let server = tokio::spawn(async move {
            // The listener swallows accept errors, so this cannot fail.
            let _ = server.await;
        });
        Receiver {
            addr,
            shared,
            server: Some(server),
        }
    }

    /// Like [`Receiver::start`] with [`record_bodies(false)`](Self::record_bodies),
    /// for benchmarks that only need counts, ids and arrival times.
    pub async fn start_counting_only() -> Receiver {
        let receiver = Self::start().await;
        receiver.record_bodies(false);
        receiver
    }

    /// Whether to keep bodies and all headers. When off, a request keeps its
    /// path, method, arrival time, status and only the `webhook-id` and
    /// `webhook-timestamp` headers; its body is read and thrown away.
    pub fn record_bodies(&self, on: bool) {
        self.shared.record_bodies.store(on, Ordering::Relaxed);
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`; `path` may carry a query.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The answer for every path without its own [`set`](Self::set) or
    /// queued answers. Resets the draw count of a [`Behaviour::Random`].
    pub fn set_default(&self, behaviour: Behaviour) {
        self.shared.lock().default = Slot::new(behaviour);
    }

    /// The standing answer for one path (no query), so one receiver can act
    /// as several endpoints. Resets the draw count of a [`Behaviour::Random`].
    pub fn set(&self, path: &str, behaviour: Behaviour) {
        let slot = Slot::new(behaviour);
        self.shared
            .lock()
            .paths
            .insert(path_key(path).to_owned(), slot);
    }

    /// Queues one-shot answers for a path, used in order before its
    /// standing answer. Appends to answers already queued.
    pub fn push(&self, path: &str, behaviours: impl IntoIterator<Item = Behaviour>) {
        let key = path_key(path);
        let queued: Vec<Arc<Behaviour>> = behaviours
            .into_iter()
            .map(|b| {
                b.validate();
                Arc::new(b)
            })
            .collect();
        self.shared
            .lock()
            .queues
            .entry(key.to_owned())
            .or_default()
            .extend(queued);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().recorded.clone()
    }

    /// The requests to one path (no query), in arrival order.
    pub fn requests_for(&self, path: &str) -> Vec<Recorded> {
        let key = path_key(path);
        for_path(&self.shared.lock().recorded, key)
    }

    pub fn count(&self) -> usize {
        self.shared.lock().recorded.len()
    }

    /// Waits until at least `n` requests are recorded and returns them all.
    /// Panics, listing what did arrive, if that takes longer than `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        self.wait_until(timeout, |all| (all.len() >= n).then(|| all.to_vec()))
            .await
            .unwrap_or_else(|all| {
                panic!(
                    "test receiver: expected at least {n} requests within {timeout:?}, got {}{}",
                    all.len(),
                    summary(&all)
                )
            })
    }

    /// Waits until at least `n` requests to `path` are recorded and returns
    /// those. Panics, listing what did arrive, on timeout.
    pub async fn wait_for_path(&self, path: &str, n: usize, timeout: Duration) -> Vec<Recorded> {
        let key = path_key(path);
        self.wait_until(timeout, |all| {
            let matching = for_path(all, key);
            (matching.len() >= n).then_some(matching)
        })
        .await
        .unwrap_or_else(|all| {
            panic!(
                "test receiver: expected at least {n} requests to {key} within {timeout:?}, got {}{}",
                for_path(&all, key).len(),
                summary(&all)
            )
        })
    }

    /// Forgets the recorded requests. Answers (standing and queued) stay.
    pub fn clear(&self) {
        self.shared.lock().recorded.clear();
        self.shared.changed.send_modify(|()| {});
    }

    /// Stops accepting, resets open connections (hanging requests included)
    /// and waits for the server task.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }

    /// Checks `done` on every change until it yields, or hands back all
    /// requests at the deadline. Woken by the record path, never by polling.
    async fn wait_until<T>(
        &self,
        timeout: Duration,
        done: impl Fn(&[Recorded]) -> Option<T>,
    ) -> Result<T, Vec<Recorded>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.shared.changed.subscribe();
        loop {
            // Mark seen before looking, so a request recorded after the look
            // still wakes the wait below.
            changes.mark_unchanged();
            if let Some(found) = done(&self.shared.lock().recorded) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `shared`, which `self` keeps alive.
                Ok(Err(_)) => unreachable!("receiver state dropped while waiting"),
                Err(_) => return Err(self.requests()),
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// Behaviours and recordings are keyed by path alone; a query here would
/// silently never match, so it is refused.
fn path_key(path: &str) -> &str {
    assert!(
        path.starts_with('/') && !path.contains('?'),
        "test receiver: expected a path like \"/hooks/a\" without a query, got {path:?}"
    );
    path
}

fn for_path(all: &[Recorded], path: &str) -> Vec<Recorded> {
    all.iter().filter(|r| r.path == path).cloned().collect()
}

fn summary(all: &[Recorded]) -> String {
    const SHOWN: usize = 20;
    let mut out = String::new();
    for r in all.iter().take(SHOWN) {
        let _ = write!(out, "\n  {} {} -> {}", r.method, r.path, r.answered_status);
    }
    if all.len() > SHOWN {
        let _ = write!(out, "\n  ... and {} more", all.len() - SHOWN);
    }
    out
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let received_at = Instant::now();
    let (parts, body) = request.into_parts();
    let keep_all = shared.record_bodies.load(Ordering::Relaxed);

    let too_large = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_BODY);
    let body = if too_large {
        Err(StatusCode::PAYLOAD_TOO_LARGE)
    } else if keep_all {
        axum::body::to_bytes(body, MAX_BODY)
            .await
            .map(Vec::from)
            .map_err(|_| StatusCode::BAD_REQUEST)
    } else {
        drain(body).await.map(|()| Vec::new())
    };

    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| keep_all || *name == "webhook-id" || *name == "webhook-timestamp")
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = parts.uri.path();
    let mut recorded = Recorded {
        path: path.to_owned(),
        query: parts.uri.query().map(str::to_owned),
        method: parts.method.as_str().to_owned(),
        headers,
        body: Vec::new(),
        received_at,
        answered_status: 0,
    };

    let answer = {
        let mut inner = shared.lock();
        // A broken or oversized body is refused without using up an answer,
        // so queued answers stay in step with the requests that count.
        let answer = match body {
            Ok(body) => {
                recorded.body = body;
                Ok(inner.next_answer(path))
            }
            Err(status) => Err(status),
        };
        recorded.answered_status = match &answer {
            Ok(answer) => answer.status(),
            Err(status) => status.as_u16(),
        };
        inner.recorded.push(recorded);
        answer
    };
    shared.changed.send_modify(|()| {});

    match answer {
        Ok(answer) => answer.respond(&shared.shutdown).await,
        Err(status) => status.into_response(),
    }
}

/// Reads a body to its end without keeping it, so the connection stays
/// usable for the next request.
async fn drain(body: Body) -> Result<(), StatusCode> {
    let mut data = body.into_data_stream();
    while let Some(chunk) = data.next().await {
        chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
    }
    Ok(())
}
