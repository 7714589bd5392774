//! How long to wait before trying again: after a 429 (from
//! `Retry-After` or `X-Ratelimit-Reset`), after a 5xx or network error
//! (exponential backoff), and between polls of an order. Pure functions
//! of the headers and the clock, so they are tested on their own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

/// Bounds on retrying and polling. Construct with
/// `RetryPolicy { field: x, ..RetryPolicy::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after a 5xx or network error, for idempotent calls (and
    /// for an order POST only once a lookup showed it was not placed). 3.
    pub max_retries: u32,
    /// First backoff after a 5xx or network error; doubles each time. 200 ms.
    pub backoff_initial: Duration,
    /// Longest backoff. 5 s.
    pub backoff_max: Duration,
    /// Retries after a 429 (the official SDK: 3). 3.
    pub max_rate_limit_retries: u32,
    /// Wait after a 429 that says nothing of when to come back (the
    /// official SDK's 3 s).
    pub rate_limit_fallback: Duration,
    /// A 429 asking for a longer wait than this is not waited out: the
    /// call fails with `RateLimited` at once. 60 s.
    pub rate_limit_max_wait: Duration,
    /// Timeout of one HTTP request. 10 s.
    pub request_timeout: Duration,
    /// First pause between polls in `wait_for_final`; doubles. 100 ms.
    pub poll_initial: Duration,
    /// Longest pause between polls. 2 s.
    pub poll_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            max_rate_limit_retries: 3,
            rate_limit_fallback: Duration::from_secs(3),
            rate_limit_max_wait: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            poll_initial: Duration::from_millis(100),
            poll_max: Duration::from_secs(2),
        }
    }
}

/// Margin added to a reset time: `X-Ratelimit-Reset` has whole seconds,
/// and arriving just before the window turns would waste the retry.
const RESET_MARGIN: Duration = Duration::from_millis(50);

impl RetryPolicy {
    /// The pause before retry number `attempt` (0 for the first retry)
    /// after a 5xx or network error.
    pub fn backoff(&self, attempt: u32) -> Duration {
        grow(self.backoff_initial, attempt, self.backoff_max)
    }

    /// The pause before poll number `n` (0 first).
    pub fn poll_pause(&self, n: u32) -> Duration {
        grow(self.poll_initial, n, self.poll_max)
    }

    /// How long a 429 asks us to wait: `Retry-After` (seconds) first,
    /// then `X-Ratelimit-Reset` (epoch seconds) against `now`, else the
    /// fallback. A reset already past waits only the margin.
    pub fn rate_limit_wait(&self, headers: &HeaderMap, now: SystemTime) -> Duration {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        if let Some(secs) = header("retry-after").and_then(|v| v.parse::<f64>().ok())
            && secs.is_finite()
            && secs >= 0.0
        {
            return Duration::from_secs_f64(secs.min(86_400.0));
        }
        if let Some(reset) = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()) {
            let reset = UNIX_EPOCH + Duration::from_secs(reset);
            let left = reset.duration_since(now).unwrap_or(Duration::ZERO);
            return left + RESET_MARGIN;
        }
        self.rate_limit_fallback
    }
}

fn grow(initial: Duration, n: u32, max: Duration) -> Duration {
    initial
        .checked_mul(2u32.saturating_pow(n.min(20)))
        .unwrap_or(max)
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let waits: Vec<u128> = (0..7).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn rate_limit_wait_reads_retry_after_then_reset() {
        let p = RetryPolicy::default();
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(
            p.rate_limit_wait(&headers(&[("retry-after", "2")]), now),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.rate_limit_wait(&headers(&[("x-ratelimit-reset", "1700000002")]), now),
            Duration::from_millis(1750 + 50)
        );
        // Retry-After wins over the reset.
        assert_eq!(
            p.rate_limit_wait(
                &headers(&[("x-ratelimit-reset", "1700000002"), ("retry-after", "1")]),
                now
            ),
            Duration::from_secs(1)
        );
        // A reset in the past: only the margin.
        assert_eq!(
            p.rate_limit_wait(&headers(&[("x-ratelimit-reset", "1600000000")]), now),
            Duration::from_millis(50)
        );
        assert_eq!(
            p.rate_limit_wait(&headers(&[("x-ratelimit-reset", "soon")]), now),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.rate_limit_wait(&HeaderMap::new(), now),
            Duration::from_secs(3)
        );
    }
}
