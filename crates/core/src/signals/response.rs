//! The answer to a multi-leg body.

use serde::Serialize;
use serde_json::{Value, json};

use super::types::{AlertType, ParsedSignal};

/// What became of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegStatus {
    /// Stored; the order will be placed asynchronously.
    Accepted,
    /// Placed with the broker.
    Success,
    /// Refused or failed.
    Error,
}

impl LegStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Success => "success",
            Self::Error => "error",
        }
    }
}

/// The result of one leg, in the order of [`ParsedSignal::legs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegResult {
    pub status: LegStatus,
    pub message: String,
    /// The broker's or tradehook's order id, when there is one.
    pub order_id: Option<String>,
}

impl LegResult {
    pub fn accepted(message: impl Into<String>) -> Self {
        Self {
            status: LegStatus::Accepted,
            message: message.into(),
            order_id: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self {
            status: LegStatus::Error,
            message: message.into(),
            order_id: None,
        }
    }
}

/// The documented multi-leg success answer:
///
/// ```json
/// {"status":"success","message":"2 of 2 legs accepted","alertType":"multi_leg_order",
///  "timestamp":"2024-06-10T06:13:20.000Z",
///  "results":[{"leg_number":1,"symbol":"NIFTY","transaction":"B","quantity":"50",
///              "status":"accepted","message":"queued"}]}
/// ```
///
/// `results[i]` belongs to `parsed.legs[i]`; a leg without a result is
/// reported as `error` / "not executed", extra results are ignored. The
/// top `status` is `success` when no leg failed, `error` when all did and
/// `partial` otherwise. `leg_number` counts legs in body order from 1;
/// `quantity` is a string, as in the request. `now_ms` (Unix ms) is the
/// `timestamp`, passed in because this crate does not read the clock.
pub fn multi_leg_response(parsed: &ParsedSignal, results: &[LegResult], now_ms: i64) -> Value {
    let missing = LegResult::error("not executed");
    let legs: Vec<Value> = parsed
        .legs
        .iter()
        .enumerate()
        .map(|(i, leg)| {
            let r = results.get(i).unwrap_or(&missing);
            let mut entry = json!({
                "leg_number": i + 1,
                "symbol": leg.symbol,
                "transaction": leg.transaction.letter(),
                "quantity": leg.quantity.to_string(),
                "status": r.status.as_str(),
                "message": r.message,
            });
            if let Some(id) = &r.order_id {
                entry["order_id"] = json!(id);
            }
            entry
        })
        .collect();
    let total = parsed.legs.len();
    let failed = (0..total)
        .filter(|i| results.get(*i).is_none_or(|r| r.status == LegStatus::Error))
        .count();
    let (status, message) = if total == 0 {
        let what = if parsed.alert_type == Some(AlertType::CancelOrder) {
            "cancel accepted"
        } else {
            "no legs"
        };
        ("success", what.to_string())
    } else if failed == 0 {
        let verb = if results
            .iter()
            .take(total)
            .all(|r| r.status == LegStatus::Success)
        {
            "placed"
        } else {
            "accepted"
        };
        ("success", format!("{total} of {total} legs {verb}"))
    } else if failed == total {
        ("error", format!("{failed} of {total} legs failed"))
    } else {
        ("partial", format!("{failed} of {total} legs failed"))
    };
    let timestamp = chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    json!({
        "status": status,
        "message": message,
        "alertType": parsed.alert_type.unwrap_or(AlertType::MultiLegOrder).as_str(),
        "timestamp": timestamp,
        "results": legs,
    })
}
