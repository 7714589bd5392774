//! TradingView intake: `POST /hooks/tradingview/{token}`.
//!
//! TradingView gives up after 3 s and resends on most 5xx answers, so the
//! answer comes as soon as the signal and its execution job are committed
//! (one transaction, with the `signal.received` event); orders are placed
//! afterwards by the execution worker. Client problems are always 4xx:
//! 400 body not JSON (line and column), 404 unknown token, 401 wrong body
//! secret, 413 body over 64 KiB, 422 schema error (path and code), 423
//! paused bot (the signal is recorded as rejected). Only a database outage
//! answers 503, which TradingView retries. A resend within the dedupe
//! window answers 200 with `"duplicate": true` and the first signal's id.
//!
//! The bot is found by its token through the store's cache
//! ([`tradehook_store::Store::find_bot_by_token_hash_cached`]): a pause,
//! rotation or deletion made through this process applies to the next
//! signal; one made by another replica within a second (the execution
//! worker reads the bot again, so a paused bot's signal is still refused
//! there). On SQLite, concurrent intakes share a commit (see
//! `Store::accept_signal`); each is answered after its own commit.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tradehook_core::signals::{
    self, DEFAULT_DEDUPE_WINDOW_SECS, Format, LegResult, ParsedSignal, SignalError,
};
use tradehook_core::time::now_ms;
use tradehook_delivery::Outbox;
use tradehook_store::{BotRecord, NewSignal, SignalOutcome, SignalStatus};

use crate::api::bots::{BotSettings, token_hash};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

/// The largest body accepted (TradingView documents no limit; 64 KiB is
/// far above any real alert).
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/tradingview/{token}", post(tradingview))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn signal_error(e: &SignalError) -> ApiError {
    match e {
        SignalError::MalformedJson {
            line,
            column,
            message,
        } => ApiError::MalformedJson {
            line: *line,
            column: *column,
            message: message.clone(),
        },
        other => ApiError::Unprocessable {
            code: other.code(),
            path: other.path().unwrap_or("$").to_string(),
            message: other.to_string(),
        },
    }
}

fn event_data(
    bot: &BotRecord,
    signal_id: &str,
    p: Option<&ParsedSignal>,
    reason: Option<&str>,
) -> Value {
    let mut data = json!({
        "signal_id": signal_id,
        "bot_id": bot.id,
        "bot_name": bot.name,
    });
    if let Some(p) = p {
        data["symbol"] = json!(p.symbol);
        data["action"] = json!(p.action);
        data["sentiment"] = json!(p.sentiment);
        data["quantity"] = json!(p.quantity.map(|q| q.to_string()));
        data["price"] = json!(p.price.map(|q| q.to_string()));
        data["format"] = json!(p.format.as_str());
    }
    if let Some(r) = reason {
        data["reason"] = json!(r);
    }
    data
}

async fn tradingview(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match intake(&state, &token, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn intake(
    state: &AppState,
    token: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let received_at = now_ms();
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: BODY_LIMIT as u64,
            }
        } else {
            ApiError::validation("$", e.body_text())
        }
    })?;
    let not_found = || ApiError::NotFound("no bot has this webhook token".to_string());
    if token.len() != 43 {
        return Err(not_found());
    }
    let bot = state
        .store
        .find_bot_by_token_hash_cached(&token_hash(token))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or_else(not_found)?;
    let parsed = signals::parse(&body).map_err(|e| signal_error(&e))?;
    // The body secret, when the bot has one, compared in constant time.
    if let Some(sealed) = &bot.body_secret_sealed {
        let expected = state.sealer.open(sealed).map_err(|e| {
            ApiError::internal(anyhow::anyhow!("cannot open a bot's body secret: {e}"))
        })?;
        if !parsed.secret.as_ref().is_some_and(|s| s.matches(&expected)) {
            return Err(ApiError::InvalidSecret);
        }
    }
    let settings = BotSettings::parse(&bot.settings).unwrap_or_default();
    // Refusals that are recorded: the trader sees them in the activity log.
    let refusal: Option<(StatusCode, &'static str, String)> = if bot.paused {
        Some((
            StatusCode::LOCKED,
            "bot_paused",
            format!(
                "the bot is paused{}",
                bot.paused_reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        ))
    } else if let Err(e) = signals::intent(&parsed) {
        Some((StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))
    } else if let Err(e) = signals::check_staleness(
        parsed.time,
        match (parsed.max_lag, settings.max_lag_secs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        received_at,
    ) {
        Some((StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))
    } else {
        symbols_not_allowed(&bot, &parsed).map(|s| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "symbol_not_allowed",
                format!(
                    "`{s}` is not in the bot's allowed_symbols ({})",
                    bot.allowed_symbols.join(", ")
                ),
            )
        })
    };
    let key = signals::dedupe_key(&bot.id, &parsed, &body);
    let dedupe_expires_at = if key.explicit {
        i64::MAX
    } else {
        received_at + DEFAULT_DEDUPE_WINDOW_SECS as i64 * 1000
    };
    let reason = refusal.as_ref().map(|(_, _, m)| m.clone());
    let outcome = state
        .store
        .accept_signal(
            &NewSignal {
                bot_id: bot.id.clone(),
                format: parsed.format.as_str().to_string(),
                symbol: parsed.symbol.clone(),
                action: json!(parsed.action)
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                dedupe_key: key.key,
                dedupe_expires_at,
                body: serde_json::to_string(&parsed.raw).unwrap_or_default(),
                parsed: json!({
                    "format": parsed.format.as_str(),
                    "symbol": parsed.symbol,
                    "raw": parsed.raw,
                }),
                status: if refusal.is_some() {
                    SignalStatus::Rejected
                } else {
                    SignalStatus::Accepted
                },
                reason: reason.clone(),
                received_at,
            },
            |s| {
                if refusal.is_some() {
                    Outbox::event(
                        "signal.rejected",
                        event_data(&bot, &s.id, Some(&parsed), reason.as_deref()),
                    )
                } else {
                    Outbox::event(
                        "signal.received",
                        event_data(&bot, &s.id, Some(&parsed), None),
                    )
                }
            },
        )
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    metrics::counter!("tradehook_signals_total", "outcome" => match &outcome {
        SignalOutcome::Accepted { .. } => "accepted",
        SignalOutcome::Rejected { .. } => "rejected",
        SignalOutcome::Duplicate { .. } => "duplicate",
    })
    .increment(1);
    metrics::histogram!("tradehook_signal_ack_seconds")
        .record((now_ms() - received_at) as f64 / 1000.0);
    match outcome {
        SignalOutcome::Duplicate { original_signal_id } => Ok((
            StatusCode::OK,
            ApiJson(json!({"success": true, "duplicate": true, "signal_id": original_signal_id})),
        )
            .into_response()),
        SignalOutcome::Rejected { signal, event_seq } => {
            state.outbox.committed(event_seq);
            let (status, code, message) = refusal.expect("a rejected signal has its refusal");
            let body = json!({"error": {
                "code": code,
                "message": message,
                "details": {"signal_id": signal.id},
            }});
            Ok((status, ApiJson(body)).into_response())
        }
        SignalOutcome::Accepted {
            signal, event_seq, ..
        } => {
            state.outbox.committed(event_seq);
            state.jobs_wake.notify_one();
            if parsed.format == Format::MultiLeg {
                let results: Vec<LegResult> = parsed
                    .legs
                    .iter()
                    .map(|_| LegResult::accepted(format!("queued as signal {}", signal.id)))
                    .collect();
                let mut answer = signals::multi_leg_response(&parsed, &results, now_ms());
                answer["signal_id"] = json!(signal.id);
                answer["duplicate"] = json!(false);
                return Ok((StatusCode::OK, ApiJson(answer)).into_response());
            }
            Ok((
                StatusCode::OK,
                ApiJson(json!({
                    "success": true,
                    "duplicate": false,
                    "signal_id": signal.id,
                    "status": "accepted",
                })),
            )
                .into_response())
        }
    }
}

/// The first symbol of the signal the bot may not trade, if any. Symbols
/// match across spellings (`BTCUSD`, `BTC/USD`, `BINANCE:BTCUSDT`…).
fn symbols_not_allowed(bot: &BotRecord, p: &ParsedSignal) -> Option<String> {
    let mut symbols: Vec<&str> = vec![p.symbol.as_str()];
    symbols.extend(p.legs.iter().map(|l| l.symbol.as_str()));
    symbols
        .into_iter()
        .filter(|s| !s.is_empty())
        .find(|s| {
            !bot.allowed_symbols
                .iter()
                .any(|a| a.eq_ignore_ascii_case(s) || tradehook_brokers::same_instrument(a, s))
        })
        .map(str::to_string)
}
