//! Market data: candles, latest prices, the tradable universe.

use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use tradehook_core::event::rfc3339_ms;
use tradehook_core::time::now_ms;
use tradehook_feeds::Interval;
use tradehook_store::CandleQuery;
use utoipa::{IntoParams, ToSchema};

use crate::api::deliveries::parse_time;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::auth::Identity;
use crate::http::json::ApiJson;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct CandleParams {
    /// Coin, e.g. `BTC` (case-sensitive).
    pub symbol: String,
    /// `1m`, `5m`, `1h`, …
    pub interval: String,
    /// Candles opening at or after (RFC 3339 or Unix ms).
    pub from: Option<String>,
    /// Candles opening before (RFC 3339 or Unix ms).
    pub to: Option<String>,
    /// The previous page's `next`.
    pub after: Option<String>,
    /// Page size, 1–5000 (default 500).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandleView {
    /// Open time, Unix ms.
    pub t: i64,
    /// Open time, RFC 3339.
    pub time: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub trades: i64,
    /// False for the bucket still being built.
    pub closed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandlePage {
    pub symbol: String,
    pub interval: String,
    pub source: String,
    pub data: Vec<CandleView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceView {
    pub symbol: String,
    pub price: f64,
    /// Feed time of the price, RFC 3339.
    pub time: String,
    /// How old the price is, in milliseconds.
    pub age_ms: i64,
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Prices {
    pub data: Vec<PriceView>,
    /// Whether the live feed is connected (null without a live feed).
    pub feed_connected: Option<bool>,
    pub feed_reconnects: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Symbols {
    pub source: String,
    /// Symbols followed by this instance.
    pub followed: Vec<String>,
    /// Every tradable symbol of the source.
    pub universe: Vec<String>,
}

/// Candles in time order, with cursor pagination.
#[utoipa::path(get, path = "/api/v1/candles", tag = "market", params(CandleParams),
    responses((status = 200, description = "A page of candles", body = CandlePage),
        (status = 422, description = "Invalid parameter or `symbol_not_found`", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn candles(
    State(state): State<AppState>,
    _caller: Identity,
    Query(p): Query<CandleParams>,
) -> ApiResult<ApiJson<CandlePage>> {
    let interval: Interval =
        p.interval
            .parse()
            .map_err(|e: tradehook_feeds::interval::UnknownInterval| {
                ApiError::validation("interval", e.to_string())
            })?;
    let limit = p.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::validation("limit", "1 to 5000"));
    }
    if !state.market.knows(&p.symbol).await {
        return Err(ApiError::Unprocessable {
            code: "symbol_not_found",
            path: "symbol".into(),
            message: format!(
                "unknown symbol `{}` (symbols are case-sensitive; see GET /api/v1/symbols)",
                p.symbol
            ),
        });
    }
    let after = p
        .after
        .as_deref()
        .map(|a| {
            a.parse::<i64>()
                .map_err(|_| ApiError::validation("after", "not a cursor from a previous page"))
        })
        .transpose()?;
    let rows = state
        .store
        .list_candles(&CandleQuery {
            source: state.market.source.clone(),
            symbol: p.symbol.clone(),
            interval: interval.as_str().to_string(),
            from: p
                .from
                .as_deref()
                .map(|t| parse_time("from", t))
                .transpose()?,
            to: p.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
            after,
            limit,
        })
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|c| c.open_time.to_string()))
        .flatten();
    Ok(ApiJson(CandlePage {
        symbol: p.symbol,
        interval: interval.as_str().to_string(),
        source: state.market.source.clone(),
        data: rows
            .into_iter()
            .map(|c| CandleView {
                t: c.open_time,
                time: rfc3339_ms(c.open_time),
                open: c.open,
                high: c.high,
                low: c.low,
                close: c.close,
                volume: c.volume,
                trades: c.trades,
                closed: c.closed,
            })
            .collect(),
        next,
    }))
}

/// The latest price of every followed symbol, with its age and source.
#[utoipa::path(get, path = "/api/v1/prices", tag = "market",
    responses((status = 200, description = "Latest prices", body = Prices)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn prices(State(state): State<AppState>, _caller: Identity) -> ApiJson<Prices> {
    let now = now_ms();
    let status = state.market.feed_status();
    ApiJson(Prices {
        data: state
            .market
            .prices()
            .into_iter()
            .map(|(symbol, p)| PriceView {
                symbol,
                price: p.price,
                time: rfc3339_ms(p.ts),
                age_ms: (now - p.ts).max(0),
                source: p.source,
            })
            .collect(),
        feed_connected: status
            .as_ref()
            .map(|s| s.connected.load(std::sync::atomic::Ordering::Relaxed)),
        feed_reconnects: status
            .as_ref()
            .map(|s| s.reconnects.load(std::sync::atomic::Ordering::Relaxed)),
    })
}

/// The tradable universe and the followed symbols.
#[utoipa::path(get, path = "/api/v1/symbols", tag = "market",
    responses((status = 200, description = "Symbols", body = Symbols),
        (status = 503, description = "The source's universe cannot be read now", body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn symbols(
    State(state): State<AppState>,
    _caller: Identity,
) -> ApiResult<ApiJson<Symbols>> {
    let universe = state
        .market
        .universe()
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot read the symbol universe: {e}")))?;
    Ok(ApiJson(Symbols {
        source: state.market.source.clone(),
        followed: state.market.followed().to_vec(),
        universe,
    }))
}
