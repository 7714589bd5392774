//! The delivery worker: leases due deliveries fairly, sends them with
//! bounded concurrency, and records every attempt.
//!
//! Each round asks which endpoints have due work and leases, per endpoint,
//! only as many deliveries as that endpoint has free concurrency and rate
//! budget, so one slow or dead endpoint holds at most its own cap of
//! sends and never delays the others. Sends run as tasks; their reports go
//! to a recorder task that writes results in batches (one transaction per
//! batch), applies the retry policy and disables endpoints that are gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tradehook_core::crypto::SecretBox;
use tradehook_core::time::{UnixMillis, now_ms};
use tradehook_core::webhook::retry::{
    Decision, RetrySchedule, decide, endpoint_should_be_disabled,
};
use tradehook_store::{AttemptResult, LeasedDelivery, NextState, Store};

use crate::client::SafeClient;
use crate::outbox::Outbox;
use crate::sender::{AttemptReport, send};
use crate::target::{LogSink, Target};

/// Worker settings.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Names this worker in leases and the audit trail.
    pub worker_id: String,
    /// Sends in flight at once, over all endpoints.
    pub concurrency: usize,
    /// How long a lease lasts; longer than the request timeout.
    pub lease: Duration,
    /// How often to look for due work when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Disable an endpoint that has failed continuously this long.
    pub disable_after: Duration,
    pub default_schedule: RetrySchedule,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            worker_id: format!("worker-{}", std::process::id()),
            concurrency: 256,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
            disable_after: Duration::from_secs(3 * 24 * 3600),
            default_schedule: RetrySchedule::default(),
        }
    }
}

struct EndpointState {
    target: Arc<Target>,
    permits: Arc<Semaphore>,
    limiter: Option<Bucket>,
    blocked_until: UnixMillis,
}

struct Finished {
    delivery: LeasedDelivery,
    target: Arc<Target>,
    report: AttemptReport,
    /// A global send permit, held until the result is recorded, so a
    /// recorder that falls behind slows leasing instead of letting leases
    /// pile up and expire. (The endpoint's own permit caps concurrent
    /// sends only and is released when the send ends.)
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// The delivery worker of one process.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    outbox: Outbox,
    client: SafeClient,
    sealer: SecretBox,
    log: LogSink,
    config: DispatcherConfig,
    global: Arc<Semaphore>,
    endpoints: Mutex<HashMap<String, EndpointState>>,
}

impl Dispatcher {
    pub fn new(
        outbox: Outbox,
        client: SafeClient,
        sealer: SecretBox,
        log: LogSink,
        config: DispatcherConfig,
    ) -> Self {
        Dispatcher {
            inner: Arc::new(Inner {
                store: outbox.store().clone(),
                outbox,
                client,
                sealer,
                log,
                global: Arc::new(Semaphore::new(config.concurrency.max(1))),
                config,
                endpoints: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Runs until `shutdown`; sends still in flight then get a short grace
    /// to finish and be recorded (unrecorded ones are due again when their
    /// lease ends, with the same `webhook-id`).
    pub async fn run(self, shutdown: CancellationToken) {
        let (tx, rx) = mpsc::channel::<Finished>(4096);
        let sends = TaskTracker::new();
        let recorder = tokio::spawn(record_loop(self.inner.clone(), rx));
        let wake = self.inner.outbox.wake_handle();
        let mut backlog_tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            let leased = match self.round(&tx, &sends).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "delivery round failed; retrying shortly");
                    0
                }
            };
            if leased > 0 {
                // More may be due right away; still let other tasks run.
                tokio::task::yield_now().await;
                if shutdown.is_cancelled() {
                    break;
                }
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(self.inner.config.poll_interval) => {}
                _ = backlog_tick.tick() => self.report_backlog().await,
            }
        }
        sends.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), sends.wait()).await;
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_secs(10), recorder).await;
    }

    async fn report_backlog(&self) {
        let now = now_ms();
        if let Ok((count, oldest)) = self.inner.store.delivery_backlog(now).await {
            metrics::gauge!("tradehook_delivery_queue_depth").set(count as f64);
            let age = oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
            metrics::gauge!("tradehook_delivery_oldest_due_seconds").set(age);
        }
    }

    /// One pass: lease what each due endpoint can take and start sending.
    /// Returns how many deliveries were leased.
    async fn round(
        &self,
        tx: &mpsc::Sender<Finished>,
        sends: &TaskTracker,
    ) -> tradehook_store::Result<usize> {
        let inner = &self.inner;
        let now = now_ms();
        if inner.global.available_permits() == 0 {
            return Ok(0);
        }
        let due = inner.store.due_endpoints(now, 512).await?;
        let mut leased_total = 0;
        for endpoint_id in due {
            let Some((target, permits, budget)) = self.prepare(&endpoint_id, now).await? else {
                continue;
            };
            let leased = inner
                .store
                .lease_deliveries(
                    &endpoint_id,
                    now,
                    now + inner.config.lease.as_millis() as i64,
                    &inner.config.worker_id,
                    budget as i64,
                )
                .await?;
            leased_total += leased.len();
            // Only what was leased spends the endpoint's rate budget.
            if let Some(bucket) = inner
                .endpoints
                .lock()
                .expect("lock")
                .get_mut(&endpoint_id)
                .and_then(|s| s.limiter.as_mut())
            {
                bucket.take(leased.len() as u32, now);
            }
            for delivery in leased {
                let (Ok(own), Ok(global)) = (
                    permits.clone().try_acquire_owned(),
                    inner.global.clone().try_acquire_owned(),
                ) else {
                    // Cannot happen (budget ≤ free permits); the lease expires
                    // and the delivery comes back.
                    continue;
                };
                let inner2 = inner.clone();
                let target = target.clone();
                let tx = tx.clone();
                sends.spawn(async move {
                    let report = send(
                        &inner2.client,
                        &inner2.log,
                        &target,
                        &delivery.event,
                        now_ms(),
                    )
                    .await;
                    drop(own);
                    inner2.outbox.wake_dispatcher();
                    if let Some(until) = report.pace_until
                        && let Some(state) =
                            inner2.endpoints.lock().expect("lock").get_mut(&target.id)
                    {
                        state.blocked_until = state.blocked_until.max(until);
                    }
                    let _ = tx
                        .send(Finished {
                            delivery,
                            target,
                            report,
                            _permit: global,
                        })
                        .await;
                });
            }
        }
        Ok(leased_total)
    }

    /// The endpoint's target, its permits, and how many deliveries it may
    /// take now; `None` to skip it this round.
    async fn prepare(
        &self,
        endpoint_id: &str,
        now: UnixMillis,
    ) -> tradehook_store::Result<Option<(Arc<Target>, Arc<Semaphore>, usize)>> {
        let inner = &self.inner;
        let record = match inner.store.get_endpoint(endpoint_id).await {
            Ok(r) => r,
            Err(tradehook_store::StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !record.enabled {
            return Ok(None);
        }
        let mut endpoints = inner.endpoints.lock().expect("lock");
        let fresh = endpoints.get(endpoint_id).is_some_and(|s| {
            s.target.updated_at == record.updated_at
                && s.target.failing_since == record.failing_since
        });
        if !fresh {
            let target = match Target::from_record(
                &record,
                &inner.sealer,
                &inner.config.default_schedule,
                now,
            ) {
                Ok(t) => t,
                Err(problem) => {
                    tracing::error!(endpoint = endpoint_id, %problem, "endpoint cannot be sent to");
                    return Ok(None);
                }
            };
            let old = endpoints.remove(endpoint_id);
            let same_limits = old.as_ref().is_some_and(|o| {
                o.target.max_concurrency == target.max_concurrency
                    && o.target.rate_limit_per_minute == target.rate_limit_per_minute
            });
            let state = match old {
                Some(old) if same_limits => EndpointState {
                    target: Arc::new(target),
                    ..old
                },
                _ => EndpointState {
                    permits: Arc::new(Semaphore::new(target.max_concurrency)),
                    limiter: target
                        .rate_limit_per_minute
                        .filter(|n| *n > 0)
                        .map(|n| Bucket::per_minute(n, now)),
                    target: Arc::new(target),
                    blocked_until: 0,
                },
            };
            endpoints.insert(endpoint_id.to_string(), state);
        }
        let state = endpoints.get_mut(endpoint_id).expect("just inserted");
        if state.blocked_until > now {
            return Ok(None);
        }
        let mut budget = state
            .permits
            .available_permits()
            .min(inner.global.available_permits());
        if budget == 0 {
            return Ok(None);
        }
        if let Some(bucket) = &mut state.limiter {
            let available = bucket.available(now);
            if available == 0 {
                state.blocked_until = bucket.next_token_at(now);
                return Ok(None);
            }
            budget = budget.min(available as usize);
        }
        Ok(Some((state.target.clone(), state.permits.clone(), budget)))
    }
}

/// Writes finished attempts in batches and acts on their verdicts.
async fn record_loop(inner: Arc<Inner>, mut rx: mpsc::Receiver<Finished>) {
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        record_batch(&inner, std::mem::take(&mut batch)).await;
    }
}

async fn record_batch(inner: &Arc<Inner>, batch: Vec<Finished>) {
    let now = now_ms();
    let mut results = Vec::with_capacity(batch.len());
    let mut to_disable: Vec<(String, String)> = Vec::new();
    for f in &batch {
        let attempt = f.delivery.attempts + 1;
        let jitter = rand::random::<f64>() * 2.0 - 1.0;
        let decision = decide(
            &f.target.schedule,
            attempt as u32,
            &f.report.outcome,
            now,
            jitter,
        );
        let next = match &decision {
            Decision::Delivered => NextState::Delivered,
            Decision::RetryAt { at_ms, .. } => NextState::RetryAt(*at_ms),
            Decision::Failed { .. } => NextState::Failed,
            Decision::DisableEndpoint { reason } => {
                to_disable.push((f.target.id.clone(), reason.clone()));
                NextState::Failed
            }
        };
        if !matches!(decision, Decision::Delivered)
            && endpoint_should_be_disabled(
                f.target.failing_since,
                now,
                inner.config.disable_after.as_millis() as i64,
            )
        {
            to_disable.push((
                f.target.id.clone(),
                format!(
                    "failing continuously for more than {} s",
                    inner.config.disable_after.as_secs()
                ),
            ));
        }
        let kind = f.target.kind.as_str();
        let label = match next {
            NextState::Delivered => "delivered",
            NextState::RetryAt(_) => "retrying",
            NextState::Failed => "failed",
        };
        metrics::counter!("tradehook_deliveries_total", "status" => label, "kind" => kind)
            .increment(1);
        metrics::histogram!("tradehook_delivery_attempt_duration_seconds", "kind" => kind)
            .record(f.report.latency_ms as f64 / 1000.0);
        results.push(AttemptResult {
            delivery_id: f.delivery.id.clone(),
            endpoint_id: f.delivery.endpoint_id.clone(),
            lease_token: f.delivery.lease_token,
            attempt,
            started_at: f.report.started_at,
            latency_ms: f.report.latency_ms,
            http_status: f.report.http_status.map(i64::from),
            error_class: f.report.error_class.map(|c| c.as_str().to_string()),
            response_snippet: f.report.snippet.clone(),
            next,
            worker: inner.config.worker_id.clone(),
        });
    }
    // Retry the write a few times: losing it would only mean the lease
    // expires and the delivery is sent again, but that is a duplicate.
    for attempt in 0..5 {
        match inner.store.record_attempts(&results).await {
            Ok(applied) => {
                let stale = applied.iter().filter(|a| !**a).count();
                if stale > 0 {
                    tracing::debug!(
                        stale,
                        "attempt results for expired leases were not recorded"
                    );
                }
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "could not record delivery attempts");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
    // The batch's permits are released now (when `batch` drops), so the
    // dispatcher can lease more.
    drop(batch);
    inner.outbox.wake_dispatcher();
    to_disable.sort();
    to_disable.dedup_by(|a, b| a.0 == b.0);
    for (endpoint_id, reason) in to_disable {
        disable(inner, &endpoint_id, &reason).await;
    }
}

async fn disable(inner: &Arc<Inner>, endpoint_id: &str, reason: &str) {
    match inner
        .store
        .disable_endpoint(endpoint_id, reason, now_ms())
        .await
    {
        Ok(true) => {
            tracing::warn!(endpoint = endpoint_id, reason, "endpoint disabled");
            metrics::counter!("tradehook_endpoints_disabled_total").increment(1);
            let url = inner
                .endpoints
                .lock()
                .expect("lock")
                .get(endpoint_id)
                .map(|s| redact_url(&s.target.url))
                .unwrap_or_default();
            let event = Outbox::event(
                "endpoint.disabled",
                serde_json::json!({ "endpoint_id": endpoint_id, "url": url, "reason": reason }),
            );
            if let Err(e) = inner.outbox.publish(&event).await {
                tracing::warn!(error = %e, "could not publish endpoint.disabled");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, endpoint = endpoint_id, "could not disable endpoint"),
    }
}

/// Scheme, host and path only: queries and paths of chat webhooks carry
/// tokens, so the path is cut to its first segment.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let first = u.path().split('/').find(|s| !s.is_empty()).unwrap_or("");
            format!(
                "{}://{}/{}{}",
                u.scheme(),
                u.host_str().unwrap_or(""),
                first,
                if u.path().len() > first.len() + 1 {
                    "/…"
                } else {
                    ""
                }
            )
        }
        Err(_) => "(invalid URL)".to_string(),
    }
}

/// An endpoint's rate budget: a token bucket holding up to a minute's
/// worth, refilled continuously. Written here rather than using
/// `governor` because the dispatcher must read the balance before
/// leasing and spend only what it actually leased; governor can only
/// spend.
#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    per_ms: f64,
    last: UnixMillis,
}

impl Bucket {
    fn per_minute(n: u32, now: UnixMillis) -> Self {
        let capacity = f64::from(n);
        Bucket {
            capacity,
            tokens: capacity,
            per_ms: capacity / 60_000.0,
            last: now,
        }
    }

    fn refill(&mut self, now: UnixMillis) {
        let elapsed = (now - self.last).max(0) as f64;
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.capacity);
        self.last = self.last.max(now);
    }

    /// Whole tokens available now.
    fn available(&mut self, now: UnixMillis) -> u32 {
        self.refill(now);
        self.tokens.floor() as u32
    }

    fn take(&mut self, n: u32, now: UnixMillis) {
        self.refill(now);
        self.tokens = (self.tokens - f64::from(n)).max(0.0);
    }

    /// When the next whole token will be there.
    fn next_token_at(&self, now: UnixMillis) -> UnixMillis {
        let missing = (1.0 - self.tokens.fract()).max(0.0);
        now + (missing / self.per_ms).ceil().max(1.0) as i64
    }
}

#[cfg(test)]
mod bucket_tests {
    use super::Bucket;

    #[test]
    fn the_bucket_spends_only_what_is_taken_and_refills_over_time() {
        let mut b = Bucket::per_minute(2, 0);
        assert_eq!(b.available(0), 2);
        assert_eq!(b.available(0), 2, "reading does not spend");
        b.take(1, 0);
        assert_eq!(b.available(0), 1);
        b.take(1, 0);
        assert_eq!(b.available(0), 0);
        assert_eq!(b.next_token_at(0), 30_000, "2 a minute: one every 30 s");
        assert_eq!(b.available(29_999), 0);
        assert_eq!(b.available(30_000), 1);
        assert_eq!(b.available(600_000), 2, "never more than a minute's worth");
    }
}
