//! The state every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tradehook_core::apikey::KeyHash;
use tradehook_core::crypto::SecretBox;
use tradehook_delivery::{LogSink, Outbox, SafeClient};
use tradehook_store::Store;

use crate::config::Config;
use crate::ratelimit::RateLimiter;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub limiter: RateLimiter,
    pub metrics: PrometheusHandle,
    /// SHA-256 of the configured admin key, compared in constant time.
    pub admin_key_hash: Option<KeyHash>,
    /// When each key's `last_used_at` was last written, so it is written
    /// at most once a minute per key instead of on every request.
    pub key_touches: Arc<Mutex<HashMap<String, i64>>>,
    /// Publishes events (outbox write + wake-ups).
    pub outbox: Outbox,
    /// Seals and opens stored secrets.
    pub sealer: SecretBox,
    /// The SSRF-guarded client, used to check endpoint URLs.
    pub client: SafeClient,
    /// Messages received by `log` endpoints.
    pub log_sink: LogSink,
    /// In-process limits of internal actions (endpoint test sends).
    pub action_limiter: RateLimiter,
    /// Latest prices, feed health and the universe.
    pub market: crate::market::Market,
    /// Wakes the local rule evaluator when rules change.
    pub rules: crate::evaluator::RulesHandle,
    /// Cancelled when the service stops; long-lived responses end then.
    pub shutdown: CancellationToken,
    /// Wakes the local execution worker when intake commits a job, so a
    /// signal does not wait for the idle poll.
    pub jobs_wake: Arc<tokio::sync::Notify>,
}
