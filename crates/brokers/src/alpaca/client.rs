//! One HTTP exchange with Alpaca, and the retry loop around it: 429 is
//! waited out (the request was not processed, so any call may repeat),
//! 5xx and network errors are retried with backoff only when the caller
//! says the call is safe to repeat. Every attempt goes to the call log.

use std::time::{Instant, SystemTime};

use reqwest::{
    Method,
    header::{HeaderMap, HeaderValue},
};
use serde_json::Value;

use super::{
    calllog::{CallLog, CallRecord, redact},
    retry::RetryPolicy,
    wire,
};
use crate::adapter::BrokerError;

/// An answer that is not to be retried (2xx, 4xx other than 429).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> Result<Value, BrokerError> {
        serde_json::from_str(&self.body).map_err(|e| {
            BrokerError::Unavailable(format!(
                "Alpaca answered {} with bad JSON: {e}",
                self.status
            ))
        })
    }

    /// A 4xx as our error: 404 is `NotFound`, the rest `Rejected` with
    /// Alpaca's code and message.
    pub fn error(&self) -> BrokerError {
        if self.status == 404 {
            return BrokerError::NotFound;
        }
        let (code, message) = wire::error_body(self.status, &self.body);
        BrokerError::Rejected {
            status: self.status,
            code,
            message,
        }
    }

    pub fn message(&self) -> String {
        wire::error_body(self.status, &self.body).1
    }
}

/// Why no usable answer came.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// 429 after the allowed retries, or asking for too long a wait.
    RateLimited { retry_after_ms: u64 },
    /// 5xx: the request may or may not have been processed.
    Server { status: u16, message: String },
    /// No answer: the request may or may not have arrived.
    Network(String),
}

impl From<Failure> for BrokerError {
    fn from(f: Failure) -> BrokerError {
        match f {
            Failure::RateLimited { retry_after_ms } => BrokerError::RateLimited {
                retry_after_ms: Some(retry_after_ms),
            },
            Failure::Server { status, message } => {
                BrokerError::Unavailable(format!("Alpaca answered {status}: {message}"))
            }
            Failure::Network(e) => BrokerError::Unavailable(e),
        }
    }
}

pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    secrets: [String; 2],
    pub(crate) policy: RetryPolicy,
    pub(crate) call_log: Option<CallLog>,
}

impl Http {
    pub fn new(
        base: &str,
        key_id: &str,
        secret_key: &str,
        policy: RetryPolicy,
    ) -> Result<Http, BrokerError> {
        let header = |v: &str| {
            let mut h = HeaderValue::from_str(v)
                .map_err(|_| BrokerError::Invalid("Alpaca keys must be visible ASCII".into()))?;
            h.set_sensitive(true);
            Ok::<_, BrokerError>(h)
        };
        let mut headers = HeaderMap::new();
        headers.insert("APCA-API-KEY-ID", header(key_id)?);
        headers.insert("APCA-API-SECRET-KEY", header(secret_key)?);
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(policy.request_timeout)
            .user_agent(concat!("tradehook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BrokerError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Http {
            client,
            // Accept a base given with its `/v2`, as Alpaca's docs print it.
            base: base
                .trim_end_matches('/')
                .trim_end_matches("/v2")
                .to_owned(),
            secrets: [key_id.to_owned(), secret_key.to_owned()],
            policy,
            call_log: None,
        })
    }

    /// One attempt; logs it.
    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        attempt: u32,
    ) -> Result<(u16, HeaderMap, String), String> {
        let started = Instant::now();
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let result = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                match resp.text().await {
                    Ok(text) => Ok((status, headers, text)),
                    Err(e) => Err(format!("reading Alpaca's answer: {e}")),
                }
            }
            Err(e) => Err(format!("calling Alpaca: {e}")),
        };
        if let Some(log) = &self.call_log {
            let secrets = [self.secrets[0].as_str(), self.secrets[1].as_str()];
            let (status, response_body, error) = match &result {
                Ok((s, _, text)) => (
                    Some(*s),
                    (!text.is_empty()).then(|| redact(text, &secrets)),
                    None,
                ),
                Err(e) => (None, None, Some(redact(e, &secrets))),
            };
            log(CallRecord {
                method: method.as_str().to_owned(),
                path: redact(path, &secrets),
                status,
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                request_body: body.map(|b| redact(&b.to_string(), &secrets)),
                response_body,
                error,
                attempt,
            });
        }
        result
    }

    /// Sends until an answer that is not 429 (nor, with `repeatable`, a
    /// 5xx or network error) comes, within the policy's bounds.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        repeatable: bool,
    ) -> Result<Answer, Failure> {
        let mut attempt = 0;
        let mut server_retries = 0;
        let mut rate_retries = 0;
        loop {
            let failure = match self.attempt(&method, path, body, attempt).await {
                Ok((429, headers, _)) => {
                    let wait = self.policy.rate_limit_wait(&headers, SystemTime::now());
                    let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                    if rate_retries >= self.policy.max_rate_limit_retries
                        || wait > self.policy.rate_limit_max_wait
                    {
                        return Err(Failure::RateLimited { retry_after_ms });
                    }
                    tracing::warn!(%method, path, wait_ms = retry_after_ms, "Alpaca rate limit; waiting");
                    rate_retries += 1;
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Ok((status, _, text)) if status >= 500 => Failure::Server {
                    status,
                    message: wire::error_body(status, &text).1,
                },
                Ok((status, _, body)) => return Ok(Answer { status, body }),
                Err(e) => Failure::Network(e),
            };
            if !repeatable || server_retries >= self.policy.max_retries {
                return Err(failure);
            }
            let wait = self.policy.backoff(server_retries);
            tracing::warn!(%method, path, ?failure, wait_ms = wait.as_millis(), "Alpaca call failed; retrying");
            server_retries += 1;
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// A repeatable call whose 2xx answer is JSON.
    pub async fn get(&self, path: &str) -> Result<Value, BrokerError> {
        let answer = self.send(Method::GET, path, None, true).await?;
        if answer.ok() {
            answer.json()
        } else {
            Err(answer.error())
        }
    }
}
