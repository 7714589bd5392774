//! Request rate limits per API key and per client IP.
//!
//! In process (the default) limits use `governor`'s GCRA, one keyed
//! limiter per distinct per-minute limit. With `redis_url` set, limits use
//! a fixed one-minute window counted in Redis (`INCR` + `EXPIRE` in one
//! script), so several replicas share them; governor has no shared-store
//! backend, which is why that part is written here.
//!
//! Redis problems never block the API: a call that fails or exceeds
//! `redis_timeout_ms` lets the request pass, increments
//! `tradehook_ratelimit_backend_errors_total`, and logs a warning at most
//! once a minute. A lost connection is re-established in the background;
//! no request waits for it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Gcra};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;
use tradehook_core::time::now_ms;

/// The metric incremented when the Redis backend fails.
pub const BACKEND_ERRORS_METRIC: &str = "tradehook_ratelimit_backend_errors_total";

/// The outcome of one check, with what the `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds at which the full limit is available again.
    pub reset_at: u64,
    /// For a refused request: seconds until a retry can pass (≥ 1).
    pub retry_after: u64,
}

/// A rate limiter shared by the whole process. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Backend>,
}

enum Backend {
    Memory(MemoryLimiter),
    Redis(RedisLimiter),
}

impl RateLimiter {
    pub fn in_memory() -> Self {
        RateLimiter {
            inner: Arc::new(Backend::Memory(MemoryLimiter::default())),
        }
    }

    /// A Redis-backed limiter. Does not connect yet: the first check
    /// starts a connection in the background and passes meanwhile.
    pub fn redis(url: &str, timeout: Duration) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        Ok(RateLimiter {
            inner: Arc::new(Backend::Redis(RedisLimiter {
                client,
                timeout,
                conn: Arc::new(Mutex::new(None)),
                connecting: Arc::new(AtomicI64::new(0)),
                last_warning_ms: AtomicI64::new(i64::MIN),
            })),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match &*self.inner {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// Counts one request for `key` against `per_minute`.
    pub async fn check(&self, key: &str, per_minute: u32) -> Decision {
        let per_minute = per_minute.max(1);
        match &*self.inner {
            Backend::Memory(m) => m.check(key, per_minute),
            Backend::Redis(r) => r.check(key, per_minute).await,
        }
    }

    /// Forgets idle in-process state; run periodically.
    pub fn housekeeping(&self) {
        if let Backend::Memory(m) = &*self.inner {
            m.retain_recent();
        }
    }
}

type KeyedGcra =
    Gcra<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

#[derive(Default)]
struct MemoryLimiter {
    /// One limiter per distinct limit: governor's quota is per limiter.
    by_limit: RwLock<HashMap<u32, Arc<KeyedGcra>>>,
    clock: DefaultClock,
}

impl MemoryLimiter {
    fn limiter(&self, per_minute: u32) -> Arc<KeyedGcra> {
        if let Some(l) = self.by_limit.read().expect("lock").get(&per_minute) {
            return l.clone();
        }
        let mut map = self.by_limit.write().expect("lock");
        map.entry(per_minute)
            .or_insert_with(|| {
                let quota = Quota::per_minute(NonZeroU32::new(per_minute).expect("limit > 0"));
                Arc::new(Gcra::keyed(quota).with_middleware::<StateInformationMiddleware>())
            })
            .clone()
    }

    fn check(&self, key: &str, per_minute: u32) -> Decision {
        let limiter = self.limiter(per_minute);
        let now_s = (now_ms() / 1000) as u64;
        // Time to regain one request, in milliseconds.
        let per_request_ms = 60_000 / u64::from(per_minute);
        match limiter.check_key(&key.to_string()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = u64::from(per_minute - remaining.min(per_minute));
                Decision {
                    allowed: true,
                    limit: per_minute,
                    remaining,
                    reset_at: now_s + (missing * per_request_ms).div_ceil(1000),
                    retry_after: 0,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Decision {
                    allowed: false,
                    limit: per_minute,
                    remaining: 0,
                    reset_at: now_s + (u64::from(per_minute) * per_request_ms).div_ceil(1000),
                    retry_after: retry_after.max(1),
                }
            }
        }
    }

    fn retain_recent(&self) {
        for limiter in self.by_limit.read().expect("lock").values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

struct RedisLimiter {
    client: redis::Client,
    timeout: Duration,
    conn: Arc<Mutex<Option<ConnectionManager>>>,
    /// Unix ms of the last connection attempt started (0: never).
    connecting: Arc<AtomicI64>,
    last_warning_ms: AtomicI64,
}

/// Counts a request in the current window and sets the window's expiry
/// on its first request, atomically.
const WINDOW_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
";

impl RedisLimiter {
    async fn check(&self, key: &str, per_minute: u32) -> Decision {
        let now = now_ms();
        let window = now / 60_000;
        let reset_at = ((window + 1) * 60) as u64;
        let open = Decision {
            allowed: true,
            limit: per_minute,
            remaining: per_minute,
            reset_at,
            retry_after: 0,
        };
        let Some(mut conn) = self.connection().await else {
            self.backend_failed("not connected");
            return open;
        };
        let redis_key = format!("tradehook:ratelimit:{key}:{window}");
        let script = redis::Script::new(WINDOW_SCRIPT);
        let mut invocation = script.key(&redis_key);
        invocation.arg(120);
        let call = invocation.invoke_async::<i64>(&mut conn);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(count)) => {
                let count = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
                let allowed = count <= per_minute;
                let now_s = (now / 1000) as u64;
                Decision {
                    allowed,
                    limit: per_minute,
                    remaining: per_minute.saturating_sub(count),
                    reset_at,
                    retry_after: if allowed {
                        0
                    } else {
                        reset_at.saturating_sub(now_s).max(1)
                    },
                }
            }
            Ok(Err(e)) => {
                self.backend_failed(&e.to_string());
                open
            }
            Err(_) => {
                self.backend_failed("timed out");
                open
            }
        }
    }

    /// The live connection, or `None` while one is being made. Starts at
    /// most one attempt every 2 s, in the background.
    async fn connection(&self) -> Option<ConnectionManager> {
        if let Some(conn) = self.conn.lock().await.as_ref() {
            return Some(conn.clone());
        }
        let now = now_ms();
        let last = self.connecting.load(Ordering::Relaxed);
        if now - last >= 2_000
            && self
                .connecting
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let client = self.client.clone();
            let slot = self.conn.clone();
            let timeout = self.timeout.max(Duration::from_millis(500));
            tokio::spawn(async move {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1);
                if let Ok(Ok(manager)) = tokio::time::timeout(
                    timeout * 4,
                    ConnectionManager::new_with_config(client, config),
                )
                .await
                {
                    *slot.lock().await = Some(manager);
                }
            });
        }
        None
    }

    fn backend_failed(&self, what: &str) {
        metrics::counter!(BACKEND_ERRORS_METRIC).increment(1);
        let now = now_ms();
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60_000
            && self
                .last_warning_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                error = what,
                "rate limiting backend (Redis) unavailable; requests pass unlimited (warned at most once a minute)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_limiter_counts_down_then_refuses() {
        let limiter = RateLimiter::in_memory();
        for expected_remaining in (0..3).rev() {
            let d = limiter.check("k", 3).await;
            assert!(d.allowed);
            assert_eq!(d.limit, 3);
            assert_eq!(d.remaining, expected_remaining);
        }
        let refused = limiter.check("k", 3).await;
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        // One request comes back every 20 s at 3/min.
        assert!((1..=20).contains(&refused.retry_after), "{refused:?}");
        // Another key has its own budget.
        assert!(limiter.check("other", 3).await.allowed);
    }

    #[tokio::test]
    async fn memory_limiter_reports_reset_in_the_future() {
        let limiter = RateLimiter::in_memory();
        let d = limiter.check("k", 60).await;
        let now_s = (now_ms() / 1000) as u64;
        assert!(d.reset_at >= now_s && d.reset_at <= now_s + 2, "{d:?}");
    }

    #[tokio::test]
    async fn unreachable_redis_fails_open() {
        // Port 1 on loopback: connection refused at once.
        let limiter = RateLimiter::redis("redis://127.0.0.1:1", Duration::from_millis(50)).unwrap();
        for _ in 0..5 {
            let d = limiter.check("k", 1).await;
            assert!(d.allowed, "{d:?}");
        }
    }
}
