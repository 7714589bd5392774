//! The Alpaca broker: Trading API v2 over HTTPS (reqwest with rustls),
//! as described in `shared/reference/alpaca.md`.
//!
//! - **Keys** go in the `APCA-API-KEY-ID` / `APCA-API-SECRET-KEY` headers
//!   and nowhere else: `Debug` output masks them, and the call log
//!   ([`CallRecord`]) has them removed from paths and bodies.
//! - **Symbols**: orders are sent in Alpaca's order form (`BTC/USD`,
//!   `BRK.B`), positions are addressed in its position form (`BTCUSD`, as
//!   `/v2/positions/BTC/USD` is a 404). Orders come back as Alpaca spells
//!   them (`BTC/USD`); crypto positions are reported as `BTC/USD` too, so
//!   one instrument has one spelling in both.
//! - **Errors**: 403 and 422 are [`BrokerError::Rejected`] with Alpaca's
//!   code and message, never retried; 404 is `NotFound`; 429 is waited out
//!   (`Retry-After`, else `X-Ratelimit-Reset`, else 3 s) a bounded number
//!   of times, then `RateLimited`; 5xx and network errors are
//!   `Unavailable` after bounded retries with backoff — for calls that are
//!   safe to repeat. `POST /v2/orders` is never blindly repeated: after an
//!   ambiguous failure the order is looked up by its `client_order_id`
//!   and sent again only if it is not there, and a duplicate id answers
//!   with the order already placed. Closing a position looks for the
//!   closing order the same way.
//! - **Restrictions** ([`BrokerAdapter::check_restrictions`]) refuse
//!   locally what Alpaca would: see [`codes`].
//!
//! It must not log or store the keys, and holds no state besides the HTTP
//! client: every answer comes from Alpaca.

mod calllog;
mod client;
mod restrict;
mod retry;
mod wire;

use std::{
    fmt,
    time::{Duration, Instant, SystemTime},
};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

pub use calllog::{CallLog, CallRecord};
pub use restrict::codes;
pub use retry::RetryPolicy;

use crate::{
    adapter::{BrokerAdapter, BrokerError, ExitPair, Rejection},
    symbol::{
        AssetClass, SymbolError, alpaca_order_symbol, alpaca_position_symbol, get_asset_class,
    },
    types::{Account, Order, OrderRequest, OrderStatus, OrderType, Position},
};
use calllog::{Masked, REDACTED};
use client::{Failure, Http};

/// Which Alpaca: paper trading or real money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Paper,
    Live,
}

impl Environment {
    /// The REST base, without `/v2`.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Environment::Paper => "https://paper-api.alpaca.markets",
            Environment::Live => "https://api.alpaca.markets",
        }
    }
}

/// How to reach an Alpaca account.
#[derive(Clone, PartialEq, Eq)]
pub struct AlpacaConfig {
    /// REST base without `/v2`; `None` is the environment's default.
    /// Tests point it at the testkit fake.
    pub base_url: Option<String>,
    pub key_id: String,
    pub secret_key: String,
    pub environment: Environment,
}

impl AlpacaConfig {
    pub fn paper(key_id: impl Into<String>, secret_key: impl Into<String>) -> AlpacaConfig {
        AlpacaConfig {
            base_url: None,
            key_id: key_id.into(),
            secret_key: secret_key.into(),
            environment: Environment::Paper,
        }
    }

    pub fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .unwrap_or(self.environment.default_base_url())
    }
}

impl fmt::Debug for AlpacaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlpacaConfig")
            .field("base_url", &self.base_url)
            .field("key_id", &Masked(&self.key_id))
            .field("secret_key", &REDACTED)
            .field("environment", &self.environment)
            .finish()
    }
}

/// The Alpaca [`BrokerAdapter`].
pub struct AlpacaBroker {
    config: AlpacaConfig,
    http: Http,
}

impl fmt::Debug for AlpacaBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlpacaBroker")
            .field("config", &self.config)
            .field("policy", &self.http.policy)
            .field("call_log", &self.http.call_log.is_some())
            .finish()
    }
}

/// A symbol Alpaca cannot trade, as a restriction failure.
fn symbol_rejection(e: SymbolError) -> BrokerError {
    let code = match e {
        SymbolError::Unsupported { .. } => codes::FOREX_UNSUPPORTED,
        _ => codes::UNKNOWN_SYMBOL,
    };
    Rejection::new(code, e.to_string()).into()
}

/// Percent-encodes a path segment or query value (everything but the
/// unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn bad_answer(e: String) -> BrokerError {
    BrokerError::Unavailable(format!("unexpected answer from Alpaca: {e}"))
}

fn orders(v: &Value) -> Result<Vec<Order>, BrokerError> {
    v.as_array()
        .ok_or_else(|| bad_answer("expected a list of orders".into()))?
        .iter()
        .map(|o| wire::order(o).map_err(bad_answer))
        .collect()
}

/// Most orders one `GET /v2/orders` returns.
const PAGE: usize = 500;

impl AlpacaBroker {
    /// With [`RetryPolicy::default`] and no call log.
    pub fn new(config: AlpacaConfig) -> Result<AlpacaBroker, BrokerError> {
        AlpacaBroker::with_policy(config, RetryPolicy::default())
    }

    pub fn with_policy(
        config: AlpacaConfig,
        policy: RetryPolicy,
    ) -> Result<AlpacaBroker, BrokerError> {
        let base = config.base_url().to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(BrokerError::Invalid(format!(
                "Alpaca base URL must be http(s): {base}"
            )));
        }
        let http = Http::new(&base, &config.key_id, &config.secret_key, policy)?;
        Ok(AlpacaBroker { config, http })
    }

    /// Hands every HTTP exchange, secrets removed, to `log`.
    pub fn with_call_log(mut self, log: CallLog) -> AlpacaBroker {
        self.http.call_log = Some(log);
        self
    }

    pub fn config(&self) -> &AlpacaConfig {
        &self.config
    }

    /// Polls the order, pausing longer each time (the policy's
    /// `poll_initial` doubling up to `poll_max`), until it is final
    /// (filled, canceled, expired, replaced, rejected). After `timeout`
    /// it returns the last state seen, which is not final: check
    /// `status.is_final()`. Rate limits and outages while polling are
    /// waited through; `NotFound` and rejections end the wait.
    pub async fn wait_for_final(
        &self,
        order_id: &str,
        timeout: Duration,
    ) -> Result<Order, BrokerError> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        let mut last_error = None;
        let mut polls = 0;
        loop {
            match self.get_order(order_id).await {
                Ok(o) if o.status.is_final() => return Ok(o),
                Ok(o) => last = Some(o),
                Err(e) if e.is_retryable() => last_error = Some(e),
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let pause = self.http.policy.poll_pause(polls);
            polls += 1;
            tokio::time::sleep(pause.min(deadline - now)).await;
        }
        match (last, last_error) {
            (Some(o), _) => Ok(o),
            (None, Some(e)) => Err(e),
            (None, None) => Err(BrokerError::Unavailable(format!(
                "order {order_id} not seen within {timeout:?}"
            ))),
        }
    }

    /// After an ambiguous failure of a position close: the newest market
    /// order for `symbol` created since `since`, if Alpaca has one.
    /// Sends an order body once in effect: an ambiguous failure is
    /// followed by a lookup of the client order id before any resend.
    /// Gives the order's JSON.
    async fn post_order(&self, body: &Value, client_order_id: &str) -> Result<Value, BrokerError> {
        let body = body.clone();
        let mut resends = 0;
        loop {
            let failure = match self
                .http
                .send(Method::POST, "/v2/orders", Some(&body), false)
                .await
            {
                Ok(a) if a.ok() => return a.json(),
                Ok(a)
                    if a.status == 422
                        && a.message().contains("client_order_id must be unique") =>
                {
                    // Placed already (by an earlier try of ours, or before
                    // a restart): that order is the answer.
                    return match self.order_json_by_client_id(client_order_id).await? {
                        Some(o) => Ok(o),
                        None => Err(a.error()),
                    };
                }
                Ok(a) => return Err(a.error()),
                Err(f @ Failure::RateLimited { .. }) => return Err(f.into()),
                Err(f) => f,
            };
            // The order may or may not exist: look before sending again.
            match self.order_json_by_client_id(client_order_id).await {
                Ok(Some(o)) => return Ok(o),
                Ok(None) if resends < self.http.policy.max_retries => {
                    tracing::warn!(
                        client_order_id = %client_order_id, ?failure,
                        "order not placed after a failed POST; sending it again"
                    );
                    tokio::time::sleep(self.http.policy.backoff(resends)).await;
                    resends += 1;
                }
                Ok(None) => return Err(failure.into()),
                Err(e) => {
                    return Err(BrokerError::Unavailable(format!(
                        "order {} may or may not be placed: {}; looking it up failed: {e}",
                        client_order_id,
                        BrokerError::from(failure)
                    )));
                }
            }
        }
    }

    async fn order_json_by_client_id(
        &self,
        client_order_id: &str,
    ) -> Result<Option<Value>, BrokerError> {
        let path = format!(
            "/v2/orders:by_client_order_id?client_order_id={}",
            enc(client_order_id)
        );
        match self.http.get(&path).await {
            Ok(v) => Ok(Some(v)),
            Err(BrokerError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find_closing_order(
        &self,
        symbol: &str,
        since: SystemTime,
    ) -> Result<Option<Order>, BrokerError> {
        // Allow for our clock running ahead of Alpaca's.
        let after: DateTime<Utc> = (since - Duration::from_secs(5)).into();
        let path = format!(
            "/v2/orders?status=all&direction=desc&limit=50&symbols={}&after={}",
            enc(symbol),
            enc(&after.to_rfc3339_opts(SecondsFormat::Nanos, true))
        );
        let found = orders(&self.http.get(&path).await?)?;
        Ok(found
            .into_iter()
            .find(|o| o.order_type == OrderType::Market))
    }
}

#[async_trait]
impl BrokerAdapter for AlpacaBroker {
    fn kind(&self) -> &'static str {
        "alpaca"
    }

    async fn account(&self) -> Result<Account, BrokerError> {
        wire::account(&self.http.get("/v2/account").await?).map_err(bad_answer)
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let v = self.http.get("/v2/positions").await?;
        v.as_array()
            .ok_or_else(|| bad_answer("expected a list of positions".into()))?
            .iter()
            .map(|p| wire::position(p).map_err(bad_answer))
            .collect()
    }

    async fn submit_order(&self, req: &OrderRequest) -> Result<Order, BrokerError> {
        restrict::check_static(req)?;
        let symbol = alpaca_order_symbol(&req.symbol).map_err(symbol_rejection)?;
        let body = wire::order_body(req, &symbol);
        let v = self.post_order(&body, &req.client_order_id).await?;
        wire::order(&v).map_err(bad_answer)
    }

    /// Equities: one `oco` order (the take profit's limit with the stop as
    /// its leg), so the two never hold the same shares twice. Crypto takes
    /// no order classes: `None`, the caller manages the pair.
    async fn submit_exit_pair(
        &self,
        take_profit: &OrderRequest,
        stop_loss: &OrderRequest,
    ) -> Result<Option<ExitPair>, BrokerError> {
        if get_asset_class(&take_profit.symbol) == AssetClass::Crypto {
            return Ok(None);
        }
        restrict::check_static(take_profit)?;
        let stop = stop_loss
            .stop_price
            .ok_or_else(|| BrokerError::Invalid("the stop loss has no stop price".into()))?;
        let symbol = alpaca_order_symbol(&take_profit.symbol).map_err(symbol_rejection)?;
        let mut body = wire::order_body(take_profit, &symbol);
        body["order_class"] = json!("oco");
        if let Some(limit) = take_profit.limit_price {
            body["take_profit"] = json!({"limit_price": limit.normalize().to_string()});
        }
        body["stop_loss"] = json!({"stop_price": stop.normalize().to_string()});
        let v = self.post_order(&body, &take_profit.client_order_id).await?;
        let tp = wire::order(&v).map_err(bad_answer)?;
        let leg = v["legs"]
            .as_array()
            .and_then(|legs| {
                legs.iter()
                    .find(|l| l["type"] == "stop" || l["stop_price"].is_string())
            })
            .ok_or_else(|| bad_answer("the oco order came back without its stop leg".into()))?;
        let mut sl = wire::order(leg).map_err(bad_answer)?;
        // Alpaca names the leg itself; ours is what the caller knows.
        sl.client_order_id = stop_loss.client_order_id.clone();
        Ok(Some(ExitPair {
            take_profit: tp,
            stop_loss: sl,
        }))
    }

    async fn get_order(&self, id: &str) -> Result<Order, BrokerError> {
        let v = self.http.get(&format!("/v2/orders/{}", enc(id))).await?;
        wire::order(&v).map_err(bad_answer)
    }

    async fn get_order_by_client_id(
        &self,
        client_order_id: &str,
    ) -> Result<Option<Order>, BrokerError> {
        let path = format!(
            "/v2/orders:by_client_order_id?client_order_id={}",
            enc(client_order_id)
        );
        match self.http.get(&path).await {
            Ok(v) => wire::order(&v).map(Some).map_err(bad_answer),
            Err(BrokerError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Idempotent: an order already canceled counts as success.
    async fn cancel_order(&self, id: &str) -> Result<(), BrokerError> {
        let path = format!("/v2/orders/{}", enc(id));
        let answer = self.http.send(Method::DELETE, &path, None, true).await?;
        if answer.ok() {
            return Ok(());
        }
        if answer.status == 422 {
            // Not cancelable: fine if it is canceled (an earlier try of
            // ours went through), a refusal otherwise.
            if let Ok(o) = self.get_order(id).await
                && o.status == OrderStatus::Canceled
            {
                return Ok(());
            }
        }
        Err(answer.error())
    }

    async fn list_open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/v2/orders?status=open&direction=asc&limit={PAGE}");
            if let Some(a) = &after {
                path.push_str(&format!("&after={}", enc(a)));
            }
            let v = self.http.get(&path).await?;
            let page = orders(&v)?;
            let n = page.len();
            all.extend(page);
            let last_created = v
                .as_array()
                .and_then(|l| l.last())
                .and_then(|o| o.get("created_at"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if n < PAGE || last_created.is_none() || last_created == after {
                return Ok(all);
            }
            after = last_created;
        }
    }

    async fn close_position(&self, symbol: &str) -> Result<Option<Order>, BrokerError> {
        let position_symbol = alpaca_position_symbol(symbol).map_err(symbol_rejection)?;
        let order_symbol = alpaca_order_symbol(symbol).map_err(symbol_rejection)?;
        let path = format!("/v2/positions/{}", enc(&position_symbol));
        let started = SystemTime::now();
        let mut resends = 0;
        loop {
            let failure = match self.http.send(Method::DELETE, &path, None, false).await {
                Ok(a) if a.ok() => return wire::order(&a.json()?).map(Some).map_err(bad_answer),
                Ok(a) if a.status == 404 => return Ok(None),
                Ok(a) => return Err(a.error()),
                Err(f @ Failure::RateLimited { .. }) => return Err(f.into()),
                Err(f) => f,
            };
            // Closing places an order: look for it before closing again.
            if let Some(o) = self.find_closing_order(&order_symbol, started).await? {
                return Ok(Some(o));
            }
            if resends >= self.http.policy.max_retries {
                return Err(failure.into());
            }
            tokio::time::sleep(self.http.policy.backoff(resends)).await;
            resends += 1;
        }
    }

    fn check_restrictions(
        &self,
        req: &OrderRequest,
        position: Option<&Position>,
    ) -> Result<(), Rejection> {
        restrict::check(req, position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_keys() {
        let config = AlpacaConfig::paper("PKABCDEF123", "very-secret-value");
        let broker = AlpacaBroker::new(config.clone()).unwrap();
        for text in [format!("{config:?}"), format!("{broker:?}")] {
            assert!(!text.contains("very-secret-value"), "{text}");
            assert!(!text.contains("PKABCDEF123"), "{text}");
            assert!(text.contains("PKAB"), "{text}");
        }
        assert_eq!(config.base_url(), "https://paper-api.alpaca.markets");
        let live = AlpacaConfig {
            environment: Environment::Live,
            ..config
        };
        assert_eq!(live.base_url(), "https://api.alpaca.markets");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(enc("bot_1-2.3~x"), "bot_1-2.3~x");
        assert_eq!(enc("a/b c&d"), "a%2Fb%20c%26d");
    }
}
