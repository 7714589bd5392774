//! Why a signal was refused.

use std::fmt;

use serde::Serialize;

/// A stable, snake_case reason for a schema error; the API returns it as
/// `code` and clients may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaCode {
    /// The body is JSON but not an object.
    NotAnObject,
    /// The body matches none of the three formats, or more than one.
    UnknownFormat,
    /// A required field is absent, `null` or an empty string.
    MissingField,
    /// A field has the wrong JSON type (e.g. a string where an object is
    /// needed).
    InvalidType,
    /// A number or numeric string that cannot be read, or is out of range
    /// (e.g. a quantity of 0).
    InvalidNumber,
    /// `action` / `strategy_order_action` / `transactionType` is not one of
    /// the accepted values.
    InvalidAction,
    /// `sentiment` is not bullish / bearish / flat (or long / short).
    InvalidSentiment,
    /// Another enumerated field holds a value outside its set
    /// (`orderType`, `quantityType`, `timeInForce`, `alertType`,
    /// `strategy_market_position`, ...).
    InvalidValue,
    /// A field still holds a TradingView placeholder such as
    /// `{{strategy.order.contracts}}`.
    UnreplacedPlaceholder,
    /// `time` / `timestamp` is neither RFC 3339 nor Unix seconds/millis.
    InvalidTime,
    /// Fields that exclude each other are both given (e.g. `trailAmount`
    /// and `trailPercent`).
    ConflictingFields,
    /// The sentiment contradicts the action (e.g. `add` with `flat`).
    InvalidSentimentAction,
    /// `strategy_market_position` cannot follow from the action and the
    /// previous position (e.g. a buy that leaves a long position flat).
    InconsistentPosition,
    /// A strategy alert without market position whose order id names
    /// neither a long nor a short side.
    AmbiguousTrade,
}

impl SchemaCode {
    /// The code as sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAnObject => "not_an_object",
            Self::UnknownFormat => "unknown_format",
            Self::MissingField => "missing_field",
            Self::InvalidType => "invalid_type",
            Self::InvalidNumber => "invalid_number",
            Self::InvalidAction => "invalid_action",
            Self::InvalidSentiment => "invalid_sentiment",
            Self::InvalidValue => "invalid_value",
            Self::UnreplacedPlaceholder => "unreplaced_placeholder",
            Self::InvalidTime => "invalid_time",
            Self::ConflictingFields => "conflicting_fields",
            Self::InvalidSentimentAction => "invalid_sentiment_action",
            Self::InconsistentPosition => "inconsistent_position",
            Self::AmbiguousTrade => "ambiguous_trade",
        }
    }
}

impl fmt::Display for SchemaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a TradingView body was refused, or a signal dropped.
///
/// Suggested HTTP answers: [`SignalError::MalformedJson`] → 400,
/// [`SignalError::Schema`] → 422, [`SignalError::Stale`] → 2xx or 422 as
/// the bot prefers (never 5xx: TradingView would resend).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// The body is not JSON. An unquoted placeholder that rendered empty
    /// (`"price": {{close}}` → `"price": ,`) is the usual cause.
    #[error("body is not valid JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// The body is JSON but does not fit the format. `path` names the
    /// field: `action`, `takeProfit.percent`, `order_legs[1].quantity`;
    /// `$` is the body itself.
    #[error("{path}: {message}")]
    Schema {
        path: String,
        code: SchemaCode,
        message: String,
    },
    /// The signal is older than its `max_lag` allows.
    #[error("signal is {age_ms} ms old; max_lag allows {max_lag_secs} s")]
    Stale { age_ms: i64, max_lag_secs: u64 },
}

impl SignalError {
    pub(crate) fn schema(
        path: impl Into<String>,
        code: SchemaCode,
        message: impl Into<String>,
    ) -> Self {
        Self::Schema {
            path: path.into(),
            code,
            message: message.into(),
        }
    }

    /// A stable snake_case code: `malformed_json`, `stale_signal` or the
    /// [`SchemaCode`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson { .. } => "malformed_json",
            Self::Schema { code, .. } => code.as_str(),
            Self::Stale { .. } => "stale_signal",
        }
    }

    /// The JSON path of the offending field, for schema errors.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Schema { path, .. } => Some(path),
            _ => None,
        }
    }
}
