//! Hyperliquid REST `/info`: the coin universe, mid prices, and candle
//! history with pagination, kept under the per-IP weight budget.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::json;

use crate::hyperliquid::frame::{FrameError, parse_candle};
use crate::interval::Interval;
use crate::types::Candle;

/// Only the newest 5000 candles of a series exist on Hyperliquid.
pub const HISTORY_LIMIT: i64 = 5000;
/// Weight of `meta` and `candleSnapshot` (before per-item weight).
const WEIGHT_HEAVY: u32 = 20;
/// Weight of `allMids`.
const WEIGHT_LIGHT: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("request to Hyperliquid failed: {0}")]
    Http(String),
    #[error("Hyperliquid answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unexpected answer from Hyperliquid: {0}")]
    Parse(String),
}

impl From<FrameError> for RestError {
    fn from(e: FrameError) -> Self {
        RestError::Parse(e.to_string())
    }
}

/// A REST client sharing one weight budget.
#[derive(Clone)]
pub struct RestClient {
    base_url: String,
    http: reqwest::Client,
    budget: Arc<DefaultDirectRateLimiter>,
}

#[derive(Deserialize)]
struct Meta {
    universe: Vec<Asset>,
}

#[derive(Deserialize)]
struct Asset {
    name: String,
    #[serde(default, rename = "isDelisted")]
    is_delisted: bool,
}

impl RestClient {
    /// `weight_per_minute` stays below Hyperliquid's 1200 per IP.
    pub fn new(base_url: &str, weight_per_minute: u32) -> Self {
        let per_minute =
            NonZeroU32::new(weight_per_minute.max(WEIGHT_HEAVY + 84)).expect("positive");
        RestClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(20))
                .build()
                .expect("HTTP client"),
            budget: Arc::new(RateLimiter::direct(Quota::per_minute(per_minute))),
        }
    }

    async fn spend(&self, weight: u32) {
        if let Some(n) = NonZeroU32::new(weight) {
            // Fails only when n exceeds the burst, which `new` prevents.
            let _ = self.budget.until_n_ready(n).await;
        }
    }

    /// One `/info` call, paying `weight` from the budget first. A 429
    /// (the server's view of the budget differs from ours) is retried
    /// after 1, 2, 4 and 8 s.
    async fn info(&self, body: serde_json::Value, weight: u32) -> Result<String, RestError> {
        self.spend(weight).await;
        let mut attempt = 0u32;
        let text = loop {
            let response = self
                .http
                .post(format!("{}/info", self.base_url))
                .json(&body)
                .send()
                .await
                .map_err(|e| RestError::Http(e.to_string()))?;
            let status = response.status().as_u16();
            let text = response
                .text()
                .await
                .map_err(|e| RestError::Http(e.to_string()))?;
            if status == 429 && attempt < 4 {
                metrics::counter!("tradehook_feed_rest_throttled_total").increment(1);
                tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                attempt += 1;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(RestError::Status {
                    status,
                    body: text.chars().take(300).collect(),
                });
            }
            break text;
        };
        metrics::counter!("tradehook_feed_rest_requests_total", "type" => body["type"].as_str().unwrap_or("?").to_string())
            .increment(1);
        Ok(text)
    }

    /// Tradable perp coins, delisted ones left out.
    pub async fn universe(&self) -> Result<Vec<String>, RestError> {
        let text = self.info(json!({"type": "meta"}), WEIGHT_HEAVY).await?;
        let meta: Meta =
            serde_json::from_str(&text).map_err(|e| RestError::Parse(format!("meta: {e}")))?;
        Ok(meta
            .universe
            .into_iter()
            .filter(|a| !a.is_delisted)
            .map(|a| a.name)
            .collect())
    }

    /// Every mid price (REST answers a bare map).
    pub async fn all_mids(&self) -> Result<Vec<(String, f64)>, RestError> {
        let text = self.info(json!({"type": "allMids"}), WEIGHT_LIGHT).await?;
        let map: std::collections::HashMap<String, String> =
            serde_json::from_str(&text).map_err(|e| RestError::Parse(format!("allMids: {e}")))?;
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.parse::<f64>().ok().filter(|p| p.is_finite())?)))
            .collect())
    }

    /// One `candleSnapshot` call: the buckets overlapping [start, end].
    pub async fn candle_snapshot(
        &self,
        coin: &str,
        interval: Interval,
        start: i64,
        end: i64,
    ) -> Result<Vec<Candle>, RestError> {
        let body = json!({"type": "candleSnapshot", "req": {"coin": coin, "interval": interval.as_str(), "startTime": start, "endTime": end}});
        // The reply's size adds weight (one per 60 items) and the server
        // charges it up front, so reserve what the range can return.
        let expected = ((end - start).max(0) / interval.millis() + 1).min(HISTORY_LIMIT) as u32;
        let text = self
            .info(body, WEIGHT_HEAVY + expected.div_ceil(60))
            .await?;
        let raw: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(&text)
            .map_err(|e| RestError::Parse(format!("candleSnapshot: {e}")))?;
        let mut candles = Vec::with_capacity(raw.len());
        for item in raw {
            let c = parse_candle(item.get())?;
            if c.symbol != coin || c.interval != interval {
                return Err(RestError::Parse(format!(
                    "candleSnapshot for {coin} {interval} returned {} {}",
                    c.symbol, c.interval
                )));
            }
            candles.push(c);
        }
        Ok(candles)
    }

    /// Every bucket opening in [start, end], paging by
    /// `startTime = last.t + interval`, oldest first, without duplicates.
    /// Starts no earlier than the 5000-candle history allows.
    pub async fn candles_between(
        &self,
        coin: &str,
        interval: Interval,
        start: i64,
        end: i64,
    ) -> Result<Vec<Candle>, RestError> {
        let step = interval.millis();
        let oldest = interval.bucket_start(end) - (HISTORY_LIMIT - 1) * step;
        let mut cursor = interval.bucket_start(start.max(oldest));
        let mut out: Vec<Candle> = Vec::new();
        while cursor <= end {
            let page = self.candle_snapshot(coin, interval, cursor, end).await?;
            let fresh: Vec<Candle> = page
                .into_iter()
                .filter(|c| c.open_time >= cursor && c.open_time <= end)
                .filter(|c| out.last().is_none_or(|l| c.open_time > l.open_time))
                .collect();
            let Some(last) = fresh.last() else { break };
            cursor = last.open_time + step;
            out.extend(fresh);
        }
        metrics::counter!("tradehook_feed_backfill_candles_total").increment(out.len() as u64);
        Ok(out)
    }
}
