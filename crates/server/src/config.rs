//! Configuration: embedded defaults, a TOML file, `TRADEHOOK_*`
//! environment variables, then command-line flags, each layer overriding
//! the one before.
//!
//! Environment variables are mapped through an explicit table
//! ([`ENV_VARS`]) rather than by splitting names on `_`, so a misspelt
//! variable is reported at start instead of silently ignored. Values are
//! checked after merging and every problem is reported at once, naming
//! the key, the value and what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use tradehook_core::webhook::netpolicy::NetPolicy;
use tradehook_core::webhook::retry::RetrySchedule;
use tradehook_feeds::Interval;
use tradehook_feeds::interval::UnknownInterval;
use tradehook_store::{BackendKind, StoreOptions, redact_url};

/// The documented defaults, embedded in the binary.
pub const DEFAULTS_TOML: &str = include_str!("../config.default.toml");

/// The variable that names a configuration file.
pub const CONFIG_FILE_VAR: &str = "TRADEHOOK_CONFIG";

/// `TRADEHOOK_*` variables that are not configuration keys and must not be
/// reported as unknown: the file variable and the test harness's.
const NON_KEY_VARS: &[&str] = &[CONFIG_FILE_VAR];
const NON_KEY_PREFIXES: &[&str] = &["TRADEHOOK_TEST_"];

/// How an environment value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    /// Taken verbatim (keys and URLs that may look like numbers).
    Text,
    /// Parsed: numbers, booleans, `[a, b]` lists.
    Parsed,
}

/// Every environment variable and the key it sets.
pub const ENV_VARS: &[(&str, &str, EnvKind)] = &[
    ("TRADEHOOK_LISTEN", "listen", EnvKind::Text),
    ("TRADEHOOK_DATABASE_URL", "database_url", EnvKind::Text),
    ("TRADEHOOK_ADMIN_KEY", "admin_key", EnvKind::Text),
    ("TRADEHOOK_REDIS_URL", "redis_url", EnvKind::Text),
    ("TRADEHOOK_SECRETS_KEY", "secrets_key", EnvKind::Text),
    (
        "TRADEHOOK_SECRETS_KEY_FILE",
        "secrets_key_file",
        EnvKind::Text,
    ),
    ("TRADEHOOK_LOG", "log", EnvKind::Text),
    ("TRADEHOOK_LOG_FORMAT", "log_format", EnvKind::Text),
    (
        "TRADEHOOK_HTTP_BODY_LIMIT_BYTES",
        "http.body_limit_bytes",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_HTTP_REQUEST_TIMEOUT_SECS",
        "http.request_timeout_secs",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_HTTP_SHUTDOWN_TIMEOUT_SECS",
        "http.shutdown_timeout_secs",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DATABASE_MAX_CONNECTIONS",
        "database.max_connections",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DATABASE_BUSY_TIMEOUT_MS",
        "database.busy_timeout_ms",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DATABASE_ACQUIRE_TIMEOUT_MS",
        "database.acquire_timeout_ms",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_RATE_LIMIT_DEFAULT_PER_MINUTE",
        "rate_limit.default_per_minute",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_RATE_LIMIT_ADMIN_PER_MINUTE",
        "rate_limit.admin_per_minute",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_RATE_LIMIT_ANONYMOUS_PER_MINUTE",
        "rate_limit.anonymous_per_minute",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_RATE_LIMIT_REDIS_TIMEOUT_MS",
        "rate_limit.redis_timeout_ms",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_ALLOW_HTTP",
        "delivery.allow_http",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_ALLOW_NETWORKS",
        "delivery.allow_networks",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_DELIVERY_WORKERS",
        "delivery.workers",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_CONCURRENCY",
        "delivery.concurrency",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_LEASE_SECS",
        "delivery.lease_secs",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_POLL_INTERVAL_MS",
        "delivery.poll_interval_ms",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_RETRY_SCHEDULE",
        "delivery.retry_schedule",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_DELIVERY_MAX_ATTEMPTS",
        "delivery.max_attempts",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_CONNECT_TIMEOUT_SECS",
        "delivery.connect_timeout_secs",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_REQUEST_TIMEOUT_SECS",
        "delivery.request_timeout_secs",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_DISABLE_AFTER_SECS",
        "delivery.disable_after_secs",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_SECRET_GRACE_SECS",
        "delivery.secret_grace_secs",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_DELIVERY_RETENTION_DAYS",
        "delivery.retention_days",
        EnvKind::Parsed,
    ),
    ("TRADEHOOK_MARKET_SOURCE", "market.source", EnvKind::Text),
    ("TRADEHOOK_MARKET_MODE", "market.mode", EnvKind::Text),
    ("TRADEHOOK_MARKET_SYMBOLS", "market.symbols", EnvKind::Text),
    (
        "TRADEHOOK_MARKET_INTERVALS",
        "market.intervals",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_MARKET_POLL_INTERVAL_MS",
        "market.poll_interval_ms",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_MARKET_CANDLE_GRACE_MS",
        "market.candle_grace_ms",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_MARKET_INITIAL_BACKFILL_BARS",
        "market.initial_backfill_bars",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_MARKET_RETENTION",
        "market.retention",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_MARKET_REPLAY_FILE",
        "market.replay_file",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_MARKET_REPLAY_SPEED",
        "market.replay_speed",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_HTTP_PUBLIC_URL",
        "http.public_url",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_RULES_EVALUATE",
        "rules.evaluate",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_RULES_POLL_INTERVAL_MS",
        "rules.poll_interval_ms",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_RULES_ALERT_RETENTION_DAYS",
        "rules.alert_retention_days",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_RULES_PRICE_ALERT_MAX_HOURS",
        "rules.price_alert_max_hours",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_TRADINGVIEW_ALLOWED_IPS",
        "tradingview.allowed_ips",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_TRADINGVIEW_TRUSTED_PROXIES",
        "tradingview.trusted_proxies",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_HYPERLIQUID_WS_URL",
        "hyperliquid.ws_url",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_HYPERLIQUID_REST_URL",
        "hyperliquid.rest_url",
        EnvKind::Text,
    ),
    (
        "TRADEHOOK_HYPERLIQUID_REST_WEIGHT_PER_MINUTE",
        "hyperliquid.rest_weight_per_minute",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_HYPERLIQUID_PING_INTERVAL_SECS",
        "hyperliquid.ping_interval_secs",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_HYPERLIQUID_SILENCE_TIMEOUT_SECS",
        "hyperliquid.silence_timeout_secs",
        EnvKind::Parsed,
    ),
    (
        "TRADEHOOK_HYPERLIQUID_TRADES",
        "hyperliquid.trades",
        EnvKind::Parsed,
    ),
];

/// A secret value: never printed by `Debug` or `Serialize`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_key: Option<Secret>,
    pub secrets_key_file: String,
    pub log: String,
    pub log_format: LogFormat,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub rate_limit: RateLimitConfig,
    pub delivery: DeliveryConfig,
    pub market: MarketConfig,
    pub rules: RulesConfig,
    pub tradingview: TradingViewConfig,
    pub hyperliquid: HyperliquidConfig,
}

/// The TradingView intake (`/hooks/tradingview/{token}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingViewConfig {
    /// Comma-separated addresses or CIDR networks allowed to post
    /// signals; empty allows any.
    pub allowed_ips: String,
    /// Comma-separated proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    pub evaluate: bool,
    pub poll_interval_ms: u64,
    pub alert_retention_days: u32,
    pub price_alert_max_hours: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    pub source: String,
    pub mode: String,
    pub symbols: String,
    pub intervals: String,
    pub poll_interval_ms: u64,
    pub candle_grace_ms: u64,
    pub initial_backfill_bars: u32,
    pub retention: String,
    pub replay_file: String,
    pub replay_speed: f64,
}

impl MarketConfig {
    pub fn symbol_list(&self) -> Vec<String> {
        split_list(&self.symbols)
    }

    pub fn interval_list(&self) -> Result<Vec<Interval>, String> {
        let mut out: Vec<Interval> = Vec::new();
        for part in split_list(&self.intervals) {
            let i: Interval = part.parse().map_err(|e: UnknownInterval| e.to_string())?;
            if !out.contains(&i) {
                out.push(i);
            }
        }
        if out.is_empty() {
            return Err("at least one interval".to_string());
        }
        Ok(out)
    }

    /// (interval, keep for ms) pairs from `retention`.
    pub fn retention_list(&self) -> Result<Vec<(Interval, i64)>, String> {
        split_list(&self.retention)
            .into_iter()
            .map(|entry| {
                let (i, d) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("`{entry}` is not interval=duration"))?;
                let interval: Interval = i
                    .trim()
                    .parse()
                    .map_err(|e: UnknownInterval| e.to_string())?;
                let keep = tradehook_core::webhook::retry::parse_duration(d.trim())
                    .map_err(|e| e.to_string())?;
                Ok((interval, keep.as_millis() as i64))
            })
            .collect()
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HyperliquidConfig {
    pub ws_url: String,
    pub rest_url: String,
    pub rest_weight_per_minute: u32,
    pub ping_interval_secs: u64,
    pub silence_timeout_secs: u64,
    pub trades: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    pub allow_http: bool,
    pub allow_networks: String,
    pub workers: u32,
    pub concurrency: u32,
    pub lease_secs: u64,
    pub poll_interval_ms: u64,
    pub retry_schedule: String,
    pub max_attempts: u32,
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub disable_after_secs: u64,
    pub secret_grace_secs: u64,
    pub retention_days: u32,
}

impl DeliveryConfig {
    /// The address policy from `allow_networks`.
    pub fn net_policy(&self) -> Result<NetPolicy, String> {
        NetPolicy::parse_allow_list(&self.allow_networks).map_err(|e| e.to_string())
    }

    /// The retry schedule, stretched or cut to `max_attempts`.
    pub fn schedule(&self) -> Result<RetrySchedule, String> {
        let parts: Vec<&str> = self
            .retry_schedule
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let base = RetrySchedule::parse(&parts).map_err(|e| e.to_string())?;
        let wanted = self.max_attempts as usize;
        if wanted == 0 || wanted == base.delays().len() {
            return Ok(base);
        }
        let mut delays: Vec<Duration> = base.delays().iter().copied().take(wanted).collect();
        let last = *base
            .delays()
            .last()
            .expect("a parsed schedule is not empty");
        delays.resize(wanted, last);
        RetrySchedule::new(delays).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub body_limit_bytes: u64,
    pub request_timeout_secs: u64,
    pub shutdown_timeout_secs: u64,
    pub public_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub default_per_minute: u32,
    pub admin_per_minute: u32,
    pub anonymous_per_minute: u32,
    pub redis_timeout_ms: u64,
}

/// Values given as command-line flags; they override every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub log: Option<String>,
    pub log_format: Option<String>,
}

/// Where configuration comes from. `env` is passed in (rather than read
/// here) so tests control it exactly.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub overrides: Overrides,
}

impl Sources {
    /// The process environment's `TRADEHOOK_*` variables, the file named by
    /// `--config` (or `TRADEHOOK_CONFIG`), and the given flags.
    pub fn from_process(file_flag: Option<PathBuf>, overrides: Overrides) -> Self {
        let env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("TRADEHOOK_"))
            .collect();
        let file = file_flag.or_else(|| {
            env.iter()
                .find(|(k, _)| k == CONFIG_FILE_VAR)
                .map(|(_, v)| PathBuf::from(v))
        });
        Sources {
            file,
            env,
            overrides,
        }
    }
}

/// Why the configuration was refused: one line per problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(problem: String) -> Self {
        ConfigError {
            problems: vec![problem],
        }
    }
}

/// Environment variables as a figment layer. Errors name the variable.
struct EnvLayer {
    /// (variable, key path, value)
    vars: Vec<(&'static str, &'static str, Value)>,
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        let names: BTreeMap<&str, &str> =
            self.vars.iter().map(|(var, key, _)| (*key, *var)).collect();
        let names: BTreeMap<String, String> = names
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Metadata::named("environment variable").interpolater(move |_: &Profile, path: &[&str]| {
            let key = path.join(".");
            names.get(&key).cloned().unwrap_or(key)
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (_, key, value) in &self.vars {
            if let Some(nested) = figment::util::nest(key, value.clone()).into_dict() {
                dict = merge_dicts(dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn merge_dicts(mut into: Dict, from: Dict) -> Dict {
    for (k, v) in from {
        let merged = match (into.remove(&k), v) {
            (Some(Value::Dict(_, a)), Value::Dict(tag, b)) => Value::Dict(tag, merge_dicts(a, b)),
            (_, v) => v,
        };
        into.insert(k, merged);
    }
    into
}

impl Config {
    /// Merges every layer, then checks the values.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let env = env_layer(&sources.env)?;
        let mut figment = Figment::from(Toml::string(DEFAULTS_TOML));
        if let Some(path) = &sources.file {
            if !path.is_file() {
                return Err(ConfigError::one(format!(
                    "configuration file {} does not exist or is not a file",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(env);
        let o = &sources.overrides;
        for (key, value) in [
            ("listen", &o.listen),
            ("database_url", &o.database_url),
            ("log", &o.log),
            ("log_format", &o.log_format),
        ] {
            if let Some(value) = value {
                figment = figment.merge((key, value.clone()));
            }
        }
        let config: Config = figment.extract().map_err(|e| ConfigError {
            problems: e.into_iter().map(describe_figment_error).collect(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The defaults alone (what `tradehook serve` uses with no settings).
    pub fn defaults() -> Config {
        Config::load(&Sources::default()).expect("embedded defaults are valid")
    }

    /// Checks values that parse but make no sense, reporting all at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut bad = |key: &str, value: &dyn fmt::Display, expected: &str| {
            problems.push(format!(
                "{key} = {value} ({}): expected {expected}",
                env_var_for(key).unwrap_or("no variable")
            ));
        };
        if self.listen.parse::<SocketAddr>().is_err() {
            bad(
                "listen",
                &quoted(&self.listen),
                "an address and port such as 127.0.0.1:8080",
            );
        }
        if BackendKind::from_url(&self.database_url).is_err() {
            bad(
                "database_url",
                &quoted(&redact_url(&self.database_url)),
                "a URL starting with sqlite:// or postgres://",
            );
        }
        if let Some(key) = &self.admin_key
            && key.expose().trim().len() < 3
        {
            bad("admin_key", &"\"***\"", "at least 3 characters");
        }
        if let Some(url) = &self.redis_url
            && redis::Client::open(url.as_str()).is_err()
        {
            bad(
                "redis_url",
                &quoted(&redact_url(url)),
                "a URL such as redis://127.0.0.1:6379",
            );
        }
        if let Some(key) = &self.secrets_key
            && let Err(e) = tradehook_core::crypto::SecretBox::from_base64(key.expose())
        {
            bad(
                "secrets_key",
                &"\"***\"",
                &format!("32 bytes in base64 ({e})"),
            );
        }
        if let Err(e) = self.delivery.net_policy() {
            bad(
                "delivery.allow_networks",
                &quoted(&self.delivery.allow_networks),
                &format!("a comma-separated CIDR list: {e}"),
            );
        }
        for (key, value) in [
            ("tradingview.allowed_ips", &self.tradingview.allowed_ips),
            (
                "tradingview.trusted_proxies",
                &self.tradingview.trusted_proxies,
            ),
        ] {
            if let Err(e) = crate::hooks_ip::parse_networks(value) {
                bad(
                    key,
                    &quoted(value),
                    &format!("comma-separated IP addresses or CIDR networks: {e}"),
                );
            }
        }
        if let Err(e) = self.delivery.schedule() {
            bad(
                "delivery.retry_schedule",
                &quoted(&self.delivery.retry_schedule),
                &format!("delays such as 0s,5s,2m ({e})"),
            );
        }
        match self.market.source.as_str() {
            "hyperliquid" | "none" => {}
            "replay" => {
                if self.market.replay_file.is_empty() {
                    bad(
                        "market.replay_file",
                        &quoted(&self.market.replay_file),
                        "a CSV or JSONL file when market.source is replay",
                    );
                }
            }
            other => bad(
                "market.source",
                &quoted(other),
                "hyperliquid, replay or none",
            ),
        }
        if !matches!(self.market.mode.as_str(), "ws" | "poll") {
            bad("market.mode", &quoted(&self.market.mode), "ws or poll");
        }
        if let Err(e) = self.market.interval_list() {
            bad("market.intervals", &quoted(&self.market.intervals), &e);
        }
        if let Err(e) = self.market.retention_list() {
            bad(
                "market.retention",
                &quoted(&self.market.retention),
                &format!("interval=duration pairs such as 1m=30d ({e})"),
            );
        }
        if !(self.market.replay_speed.is_finite() && self.market.replay_speed >= 0.0) {
            bad(
                "market.replay_speed",
                &self.market.replay_speed,
                "0 (as fast as possible) or a positive factor",
            );
        }
        for (key, url, schemes) in [
            (
                "hyperliquid.ws_url",
                &self.hyperliquid.ws_url,
                ["ws://", "wss://"],
            ),
            (
                "hyperliquid.rest_url",
                &self.hyperliquid.rest_url,
                ["http://", "https://"],
            ),
        ] {
            if !schemes.iter().any(|s| url.starts_with(s)) {
                bad(
                    key,
                    &quoted(url),
                    &format!("a URL starting with {} or {}", schemes[0], schemes[1]),
                );
            }
        }
        if !(1..=30).contains(&self.hyperliquid.ping_interval_secs) {
            bad(
                "hyperliquid.ping_interval_secs",
                &self.hyperliquid.ping_interval_secs,
                "1 to 30 (the server drops connections silent for 60 s)",
            );
        }
        if self.hyperliquid.silence_timeout_secs <= self.hyperliquid.ping_interval_secs {
            bad(
                "hyperliquid.silence_timeout_secs",
                &self.hyperliquid.silence_timeout_secs,
                "more than hyperliquid.ping_interval_secs",
            );
        }
        if !(100..=1200).contains(&self.hyperliquid.rest_weight_per_minute) {
            bad(
                "hyperliquid.rest_weight_per_minute",
                &self.hyperliquid.rest_weight_per_minute,
                "100 to 1200 (Hyperliquid's limit per IP)",
            );
        }
        if self.delivery.lease_secs <= self.delivery.request_timeout_secs {
            bad(
                "delivery.lease_secs",
                &self.delivery.lease_secs,
                "more than delivery.request_timeout_secs, so a lease outlives its request",
            );
        }
        if !(1..=64).contains(&self.delivery.workers) {
            bad("delivery.workers", &self.delivery.workers, "1 to 64");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            bad(
                "log",
                &quoted(&self.log),
                "a log filter such as info or tradehook_server=debug",
            );
        }
        let public = &self.http.public_url;
        if !(public.is_empty() || public.starts_with("https://") || public.starts_with("http://")) {
            bad(
                "http.public_url",
                &quoted(public),
                "empty or an http(s):// URL such as https://hooks.example.com",
            );
        }
        if !(1..=8760).contains(&self.rules.price_alert_max_hours) {
            bad(
                "rules.price_alert_max_hours",
                &self.rules.price_alert_max_hours,
                "1 to 8760 (one year)",
            );
        }
        let positive: [(&str, u64); 17] = [
            ("market.poll_interval_ms", self.market.poll_interval_ms),
            ("rules.poll_interval_ms", self.rules.poll_interval_ms),
            (
                "market.initial_backfill_bars",
                self.market.initial_backfill_bars.into(),
            ),
            ("delivery.concurrency", self.delivery.concurrency.into()),
            ("delivery.lease_secs", self.delivery.lease_secs),
            ("delivery.poll_interval_ms", self.delivery.poll_interval_ms),
            (
                "delivery.connect_timeout_secs",
                self.delivery.connect_timeout_secs,
            ),
            (
                "delivery.request_timeout_secs",
                self.delivery.request_timeout_secs,
            ),
            (
                "delivery.retention_days",
                self.delivery.retention_days.into(),
            ),
            ("http.body_limit_bytes", self.http.body_limit_bytes),
            ("http.request_timeout_secs", self.http.request_timeout_secs),
            (
                "http.shutdown_timeout_secs",
                self.http.shutdown_timeout_secs,
            ),
            (
                "database.max_connections",
                self.database.max_connections.into(),
            ),
            (
                "database.acquire_timeout_ms",
                self.database.acquire_timeout_ms,
            ),
            (
                "rate_limit.default_per_minute",
                self.rate_limit.default_per_minute.into(),
            ),
            (
                "rate_limit.admin_per_minute",
                self.rate_limit.admin_per_minute.into(),
            ),
            (
                "rate_limit.redis_timeout_ms",
                self.rate_limit.redis_timeout_ms,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                bad(key, &value, "a number greater than 0");
            }
        }
        if self.http.body_limit_bytes > 64 * 1024 * 1024 {
            bad(
                "http.body_limit_bytes",
                &self.http.body_limit_bytes,
                "at most 67108864 (64 MiB)",
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated at load")
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            max_connections: self.database.max_connections,
            busy_timeout: Duration::from_millis(self.database.busy_timeout_ms),
            acquire_timeout: Duration::from_millis(self.database.acquire_timeout_ms),
        }
    }

    /// The configuration as TOML with secrets and URL passwords hidden,
    /// for `tradehook config show`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = redact_url(&self.database_url);
        shown.redis_url = self.redis_url.as_deref().map(redact_url);
        toml::to_string_pretty(&shown).expect("configuration serialises")
    }
}

/// The environment variable that sets `key`.
pub fn env_var_for(key: &str) -> Option<&'static str> {
    ENV_VARS
        .iter()
        .find(|(_, k, _)| *k == key)
        .map(|(v, _, _)| *v)
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

fn env_layer(env: &[(String, String)]) -> Result<EnvLayer, ConfigError> {
    let mut vars = Vec::new();
    let mut problems = Vec::new();
    for (name, value) in env {
        if NON_KEY_VARS.contains(&name.as_str())
            || NON_KEY_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            continue;
        }
        match ENV_VARS.iter().find(|(var, _, _)| var == name) {
            Some((var, key, kind)) => {
                let value = match kind {
                    EnvKind::Text => Value::from(value.clone()),
                    EnvKind::Parsed => value.parse::<Value>().unwrap_or_else(|e| match e {}),
                };
                vars.push((*var, *key, value));
            }
            None if name.starts_with("TRADEHOOK_") => {
                let hint = closest_var(name)
                    .map(|v| format!(" (did you mean {v}?)"))
                    .unwrap_or_default();
                problems.push(format!("unknown environment variable {name}{hint}"));
            }
            None => {}
        }
    }
    if problems.is_empty() {
        Ok(EnvLayer { vars })
    } else {
        Err(ConfigError { problems })
    }
}

fn closest_var(name: &str) -> Option<&'static str> {
    ENV_VARS
        .iter()
        .map(|(var, _, _)| (strsim::levenshtein(name, var), *var))
        .filter(|(d, _)| *d <= 4)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// One line for a figment error, in the same form as `validate`'s:
/// `key = value (source): expected ...`.
fn describe_figment_error(e: figment::Error) -> String {
    use figment::error::{Actual, Kind};
    let key = e.path.join(".");
    let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
    let source = e.metadata.as_ref().map(|md| match &md.source {
        Some(file) => format!("in {file}"),
        None if md.name == "environment variable" => md.interpolate(&Profile::Default, &path),
        None => md.name.to_string(),
    });
    let source = source.map(|s| format!(" ({s})")).unwrap_or_default();
    let shown = |actual: &Actual| match actual {
        Actual::Str(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    match &e.kind {
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!(
                "{key} = {}{source}: expected {}",
                shown(actual),
                humanize(expected)
            )
        }
        Kind::UnknownVariant(value, expected) => {
            format!(
                "{key} = {value:?}{source}: expected one of {}",
                expected.join(", ")
            )
        }
        Kind::UnknownField(..) => format!("unknown key {key}{source}"),
        Kind::MissingField(field) => {
            let full = if key.is_empty() {
                field.to_string()
            } else {
                format!("{key}.{field}")
            };
            format!("missing key {full}{source}")
        }
        other => format!("{key}{source}: {other}"),
    }
}

/// Rust type names in serde's messages, in words.
fn humanize(expected: &str) -> String {
    match expected {
        "u64" | "u32" | "u16" | "usize" => "a whole number (0 or more)".to_string(),
        "i64" | "i32" => "a whole number".to_string(),
        "a string" | "a boolean" => expected.to_string(),
        other => other.to_string(),
    }
}
