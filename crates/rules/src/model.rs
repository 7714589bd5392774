//! The rule model: rule types, their configurations with strict
//! validation, trigger frequencies, and the part of a stored rule that
//! evaluation needs.
//!
//! A configuration arrives as `(rule_type, config JSON)` and is parsed by
//! [`RuleConfig::parse`]. Parsing is strict: unknown fields, wrong types,
//! zero periods and non-positive prices are refused, each with the path of
//! the offending field (`config.period`, `rule_type`, ...) so an API can
//! answer with a precise 422. A parsed config serializes back to its
//! canonical JSON (the config object alone, without the rule type).

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tradehook_feeds::Interval;

/// The longest indicator period accepted. Warm-up needs this many closed
/// bars from storage or the exchange, so it is bounded.
pub const MAX_PERIOD: u32 = 1000;
/// The longest `percent_move` window: one day of ticks per (symbol,
/// window) is kept in memory.
pub const MAX_WINDOW_SECONDS: u32 = 86_400;

/// A configuration (or rule type, or frequency) that does not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    /// Where: `rule_type`, `frequency`, `config`, `config.period`, ...
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The kinds of rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    PriceThreshold,
    PercentMove,
    CandleClose,
    MacdCross,
    Rsi,
    BollingerBands,
    Channel,
    PriceAlert,
}

impl RuleType {
    pub const ALL: [RuleType; 8] = [
        RuleType::PriceThreshold,
        RuleType::PercentMove,
        RuleType::CandleClose,
        RuleType::MacdCross,
        RuleType::Rsi,
        RuleType::BollingerBands,
        RuleType::Channel,
        RuleType::PriceAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::PriceThreshold => "price_threshold",
            RuleType::PercentMove => "percent_move",
            RuleType::CandleClose => "candle_close",
            RuleType::MacdCross => "macd_cross",
            RuleType::Rsi => "rsi",
            RuleType::BollingerBands => "bollinger_bands",
            RuleType::Channel => "channel",
            RuleType::PriceAlert => "price_alert",
        }
    }

    /// Parses a rule type; the error's path is `rule_type`.
    pub fn parse(s: &str) -> Result<RuleType, FieldError> {
        RuleType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    "rule_type",
                    format!(
                        "unknown rule type `{s}`: expected one of {}",
                        RuleType::ALL.map(|t| t.as_str()).join(", ")
                    ),
                )
            })
    }

    /// Whether rules of this type are evaluated on ticks (with the default
    /// frequencies), as opposed to closed candles.
    pub fn is_tick_driven(self) -> bool {
        matches!(
            self,
            RuleType::PriceThreshold
                | RuleType::PercentMove
                | RuleType::Channel
                | RuleType::PriceAlert
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RuleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RuleType {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleType::parse(s)
    }
}

/// How a price is compared with a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operator {
    #[serde(rename = ">=")]
    Gte,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<=")]
    Lte,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "crossing")]
    Crossing,
    #[serde(rename = "crossing_up")]
    CrossingUp,
    #[serde(rename = "crossing_down")]
    CrossingDown,
}

impl Operator {
    pub const ALL: [Operator; 7] = [
        Operator::Gte,
        Operator::Gt,
        Operator::Lte,
        Operator::Lt,
        Operator::Crossing,
        Operator::CrossingUp,
        Operator::CrossingDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Gte => ">=",
            Operator::Gt => ">",
            Operator::Lte => "<=",
            Operator::Lt => "<",
            Operator::Crossing => "crossing",
            Operator::CrossingUp => "crossing_up",
            Operator::CrossingDown => "crossing_down",
        }
    }

    /// Level operators are states (`>=` ...); the others are edges that
    /// need a previous value.
    pub fn is_level(self) -> bool {
        matches!(
            self,
            Operator::Gte | Operator::Gt | Operator::Lte | Operator::Lt
        )
    }

    /// Whether the operator fires for a move from `prev` to `cur` against
    /// `level`. Level operators look at `cur` only; crossings need `prev`
    /// (`None`: no baseline yet, nothing crosses).
    ///
    /// crossing_up: `prev < T <= cur`; crossing_down: `prev > T >= cur`.
    pub fn holds(self, level: f64, prev: Option<f64>, cur: f64) -> bool {
        match self {
            Operator::Gte => cur >= level,
            Operator::Gt => cur > level,
            Operator::Lte => cur <= level,
            Operator::Lt => cur < level,
            Operator::CrossingUp => prev.is_some_and(|p| p < level && level <= cur),
            Operator::CrossingDown => prev.is_some_and(|p| p > level && level >= cur),
            Operator::Crossing => {
                prev.is_some_and(|p| (p < level && level <= cur) || (p > level && level >= cur))
            }
        }
    }
}

/// Direction of a `percent_move`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveDirection {
    Up,
    Down,
    Either,
}

/// Direction of a `macd_cross`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrossDirection {
    /// MACD crosses above its signal line.
    Bullish,
    /// MACD crosses below its signal line.
    Bearish,
}

/// Which RSI zone an `rsi` rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RsiZone {
    /// RSI crosses above the threshold.
    Overbought,
    /// RSI crosses below the threshold.
    Oversold,
}

/// Which Bollinger band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Upper,
    Lower,
}

/// What happens at a Bollinger band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BandEvent {
    /// The bar's high (low) reaches the band, having been inside it on the
    /// previous bar.
    Touch,
    /// The close is beyond the band (a state).
    Break,
}

/// What a `channel` rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelEvent {
    Entering,
    Exiting,
    Inside,
    Outside,
}

/// Which side of `price_alert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertCondition {
    /// price >= target.
    Above,
    /// price <= target.
    Below,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceThreshold {
    pub operator: Operator,
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PercentMove {
    pub percent: f64,
    pub window_seconds: u32,
    pub direction: MoveDirection,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandleClose {
    pub interval: Interval,
    pub operator: Operator,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacdCross {
    pub fast: u32,
    pub slow: u32,
    pub signal: u32,
    pub interval: Interval,
    pub direction: CrossDirection,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsiConfig {
    pub period: u32,
    pub interval: Interval,
    pub threshold: f64,
    pub direction: RsiZone,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BollingerConfig {
    pub period: u32,
    pub std_dev: f64,
    pub interval: Interval,
    pub band: Band,
    pub event: BandEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub lower: f64,
    pub upper: f64,
    pub event: ChannelEvent,
}

impl Channel {
    pub fn contains(&self, p: f64) -> bool {
        self.lower <= p && p <= self.upper
    }

    /// Whether the channel event fires for a move from `prev` to `cur`.
    /// entering: prev outside and cur inside; exiting: prev inside and cur
    /// outside (a gap over the whole channel is neither); inside/outside
    /// are states of `cur`.
    pub fn holds(&self, prev: Option<f64>, cur: f64) -> bool {
        match self.event {
            ChannelEvent::Inside => self.contains(cur),
            ChannelEvent::Outside => !self.contains(cur),
            ChannelEvent::Entering => prev.is_some_and(|p| !self.contains(p) && self.contains(cur)),
            ChannelEvent::Exiting => prev.is_some_and(|p| self.contains(p) && !self.contains(cur)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceAlert {
    pub condition: AlertCondition,
    pub target_price: f64,
}

impl PriceAlert {
    pub fn holds(&self, cur: f64) -> bool {
        match self.condition {
            AlertCondition::Above => cur >= self.target_price,
            AlertCondition::Below => cur <= self.target_price,
        }
    }
}

/// A rule's validated configuration. Serializes to the canonical config
/// object (without the rule type).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RuleConfig {
    PriceThreshold(PriceThreshold),
    PercentMove(PercentMove),
    CandleClose(CandleClose),
    MacdCross(MacdCross),
    Rsi(RsiConfig),
    BollingerBands(BollingerConfig),
    Channel(Channel),
    PriceAlert(PriceAlert),
}

fn de<T: DeserializeOwned>(config: &serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // Unknown and missing fields are reported at the object itself;
        // name the field from the message instead.
        let field = if path == "." || path.is_empty() {
            ["unknown field `", "missing field `"]
                .iter()
                .find_map(|pre| message.strip_prefix(pre))
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string)
        } else {
            Some(path)
        };
        match field {
            Some(f) => FieldError::new(format!("config.{f}"), message),
            None => FieldError::new("config", message),
        }
    })
}

fn positive(path: &str, v: f64) -> Result<(), FieldError> {
    if !v.is_finite() {
        return Err(FieldError::new(
            format!("config.{path}"),
            "must be a finite number",
        ));
    }
    if v <= 0.0 {
        return Err(FieldError::new(
            format!("config.{path}"),
            "must be greater than 0",
        ));
    }
    Ok(())
}

fn period(path: &str, v: u32, min: u32) -> Result<(), FieldError> {
    if v < min || v > MAX_PERIOD {
        return Err(FieldError::new(
            format!("config.{path}"),
            format!("must be between {min} and {MAX_PERIOD}"),
        ));
    }
    Ok(())
}

impl RuleConfig {
    /// Parses and validates the config of a rule of type `rule_type`.
    pub fn parse(rule_type: &str, config: &serde_json::Value) -> Result<RuleConfig, FieldError> {
        let rule_type = RuleType::parse(rule_type)?;
        if !config.is_object() {
            return Err(FieldError::new("config", "must be a JSON object"));
        }
        let parsed = match rule_type {
            RuleType::PriceThreshold => RuleConfig::PriceThreshold(de(config)?),
            RuleType::PercentMove => RuleConfig::PercentMove(de(config)?),
            RuleType::CandleClose => RuleConfig::CandleClose(de(config)?),
            RuleType::MacdCross => RuleConfig::MacdCross(de(config)?),
            RuleType::Rsi => RuleConfig::Rsi(de(config)?),
            RuleType::BollingerBands => RuleConfig::BollingerBands(de(config)?),
            RuleType::Channel => RuleConfig::Channel(de(config)?),
            RuleType::PriceAlert => RuleConfig::PriceAlert(de(config)?),
        };
        parsed.validate()?;
        Ok(parsed)
    }

    /// Checks the values (the shape is checked by parsing). Paths start
    /// with `config.`.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            RuleConfig::PriceThreshold(c) => positive("threshold", c.threshold),
            RuleConfig::PercentMove(c) => {
                positive("percent", c.percent)?;
                if c.window_seconds == 0 || c.window_seconds > MAX_WINDOW_SECONDS {
                    return Err(FieldError::new(
                        "config.window_seconds",
                        format!("must be between 1 and {MAX_WINDOW_SECONDS}"),
                    ));
                }
                Ok(())
            }
            RuleConfig::CandleClose(c) => positive("value", c.value),
            RuleConfig::MacdCross(c) => {
                period("fast", c.fast, 2)?;
                period("slow", c.slow, 2)?;
                period("signal", c.signal, 1)?;
                if c.fast >= c.slow {
                    return Err(FieldError::new("config.fast", "must be less than slow"));
                }
                Ok(())
            }
            RuleConfig::Rsi(c) => {
                period("period", c.period, 2)?;
                if !c.threshold.is_finite() || c.threshold <= 0.0 || c.threshold >= 100.0 {
                    return Err(FieldError::new(
                        "config.threshold",
                        "must be between 0 and 100 (exclusive)",
                    ));
                }
                Ok(())
            }
            RuleConfig::BollingerBands(c) => {
                period("period", c.period, 2)?;
                positive("std_dev", c.std_dev)
            }
            RuleConfig::Channel(c) => {
                positive("lower", c.lower)?;
                positive("upper", c.upper)?;
                if c.lower >= c.upper {
                    return Err(FieldError::new(
                        "config.upper",
                        "must be greater than lower",
                    ));
                }
                Ok(())
            }
            RuleConfig::PriceAlert(c) => positive("target_price", c.target_price),
        }
    }

    pub fn rule_type(&self) -> RuleType {
        match self {
            RuleConfig::PriceThreshold(_) => RuleType::PriceThreshold,
            RuleConfig::PercentMove(_) => RuleType::PercentMove,
            RuleConfig::CandleClose(_) => RuleType::CandleClose,
            RuleConfig::MacdCross(_) => RuleType::MacdCross,
            RuleConfig::Rsi(_) => RuleType::Rsi,
            RuleConfig::BollingerBands(_) => RuleType::BollingerBands,
            RuleConfig::Channel(_) => RuleType::Channel,
            RuleConfig::PriceAlert(_) => RuleType::PriceAlert,
        }
    }

    /// The interval of the config, for the rule types that have one.
    pub fn interval(&self) -> Option<Interval> {
        match self {
            RuleConfig::CandleClose(c) => Some(c.interval),
            RuleConfig::MacdCross(c) => Some(c.interval),
            RuleConfig::Rsi(c) => Some(c.interval),
            RuleConfig::BollingerBands(c) => Some(c.interval),
            _ => None,
        }
    }

    /// The rule's bar: its config interval, else 1m.
    pub fn bar(&self) -> Interval {
        self.interval().unwrap_or(Interval::M1)
    }

    /// The canonical JSON of the config.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("configs serialize")
    }
}

/// How often a rule may fire. See the crate docs for the exact windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Once,
    OncePerBar,
    OncePerBarClose,
    OncePerMinute,
    EveryTime,
}

impl Frequency {
    pub const ALL: [Frequency; 5] = [
        Frequency::Once,
        Frequency::OncePerBar,
        Frequency::OncePerBarClose,
        Frequency::OncePerMinute,
        Frequency::EveryTime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Once => "once",
            Frequency::OncePerBar => "once_per_bar",
            Frequency::OncePerBarClose => "once_per_bar_close",
            Frequency::OncePerMinute => "once_per_minute",
            Frequency::EveryTime => "every_time",
        }
    }

    /// Parses a frequency; the error's path is `frequency`.
    pub fn parse(s: &str) -> Result<Frequency, FieldError> {
        Frequency::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    "frequency",
                    format!(
                        "unknown frequency `{s}`: expected one of {}",
                        Frequency::ALL.map(|f| f.as_str()).join(", ")
                    ),
                )
            })
    }

    /// The exactly-once window `[start, end]` containing a firing at feed
    /// time `ts` for a rule whose bar is `bar`, created at `created_at`.
    /// A pure function of the feed data and the rule, so two evaluators
    /// agree on it.
    pub fn window(self, bar: Interval, created_at: i64, ts: i64) -> (i64, i64) {
        match self {
            Frequency::Once => (created_at, i64::MAX),
            Frequency::OncePerBar | Frequency::OncePerBarClose => {
                let start = bar.bucket_start(ts);
                (start, start + bar.millis() - 1)
            }
            Frequency::OncePerMinute => {
                let start = Interval::M1.bucket_start(ts);
                (start, start + Interval::M1.millis() - 1)
            }
            Frequency::EveryTime => (ts, ts),
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Frequency {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Frequency::parse(s)
    }
}

/// What the engine needs of a stored rule. Names, delivery targets and
/// the like stay in the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `rul_<32 hex>` ids are stored in 16 bytes; other ids work too.
    pub id: String,
    pub symbol: String,
    pub config: RuleConfig,
    pub frequency: Frequency,
    /// Minimum time between two firings, ms (negative counts as 0).
    pub cooldown_ms: i64,
    /// Unix ms; the rule never fires on feed data at or after it.
    pub expires_at: Option<i64>,
    /// Unix ms; the start of a `once` rule's window.
    pub created_at: i64,
    /// Feed time of the last firing, if any: the rule stays throttled
    /// for that firing's window and cooldown.
    pub last_fired_at: Option<i64>,
}

impl Rule {
    pub fn rule_type(&self) -> RuleType {
        self.config.rule_type()
    }

    /// The frequency the engine applies: `price_alert` is one-shot
    /// whatever its stored frequency.
    pub fn effective_frequency(&self) -> Frequency {
        effective_frequency(&self.config, self.frequency)
    }

    /// The first feed time at which the rule may fire again after a
    /// firing at `last_fired` (`i64::MAX`: never).
    pub fn rearm_at(&self, last_fired: i64) -> i64 {
        rearm_at(
            self.effective_frequency(),
            self.config.bar(),
            self.created_at,
            self.cooldown_ms,
            last_fired,
        )
    }
}

pub(crate) fn effective_frequency(config: &RuleConfig, f: Frequency) -> Frequency {
    match config {
        RuleConfig::PriceAlert(_) => Frequency::Once,
        _ => f,
    }
}

/// The first feed time a rule may fire again after firing at `last`: past
/// the end of that firing's window and past `last + cooldown`.
pub(crate) fn rearm_at(
    frequency: Frequency,
    bar: Interval,
    created_at: i64,
    cooldown_ms: i64,
    last: i64,
) -> i64 {
    let (_, end) = frequency.window(bar, created_at, last);
    end.saturating_add(1)
        .max(last.saturating_add(cooldown_ms.max(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(rule_type: &str, config: serde_json::Value) -> FieldError {
        RuleConfig::parse(rule_type, &config).expect_err("must be refused")
    }

    #[test]
    fn every_rule_type_parses_and_round_trips() {
        let cases = [
            (
                "price_threshold",
                json!({"operator": ">=", "threshold": 100.5}),
            ),
            (
                "percent_move",
                json!({"percent": 2.5, "window_seconds": 300, "direction": "either"}),
            ),
            (
                "candle_close",
                json!({"interval": "15m", "operator": "crossing_up", "value": 3000.0}),
            ),
            (
                "macd_cross",
                json!({"fast": 12, "slow": 26, "signal": 9, "interval": "1h", "direction": "bullish"}),
            ),
            (
                "rsi",
                json!({"period": 14, "interval": "4h", "threshold": 70.0, "direction": "overbought"}),
            ),
            (
                "bollinger_bands",
                json!({"period": 20, "std_dev": 2.0, "interval": "1d", "band": "lower", "event": "touch"}),
            ),
            (
                "channel",
                json!({"lower": 90.0, "upper": 110.0, "event": "exiting"}),
            ),
            (
                "price_alert",
                json!({"condition": "below", "target_price": 0.25}),
            ),
        ];
        for (t, cfg) in cases {
            let parsed = RuleConfig::parse(t, &cfg).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(parsed.rule_type().as_str(), t);
            assert_eq!(parsed.to_json(), cfg, "{t} serializes back canonically");
            assert_eq!(RuleConfig::parse(t, &parsed.to_json()).unwrap(), parsed);
        }
    }

    #[test]
    fn every_operator_parses() {
        for op in Operator::ALL {
            let c = RuleConfig::parse(
                "price_threshold",
                &json!({"operator": op.as_str(), "threshold": 1}),
            )
            .unwrap();
            assert_eq!(
                c,
                RuleConfig::PriceThreshold(PriceThreshold {
                    operator: op,
                    threshold: 1.0
                })
            );
        }
    }

    #[test]
    fn unknown_rule_type_names_rule_type() {
        let e = err("price_treshold", json!({}));
        assert_eq!(e.path, "rule_type");
        assert!(e.message.contains("price_treshold"), "{e}");
    }

    #[test]
    fn config_must_be_an_object() {
        assert_eq!(err("rsi", json!([1, 2])).path, "config");
        assert_eq!(err("rsi", json!(null)).path, "config");
    }

    #[test]
    fn unknown_field_is_named() {
        let e = err(
            "price_threshold",
            json!({"operator": ">=", "threshold": 1, "extra": true}),
        );
        assert_eq!(e.path, "config.extra");
        assert!(e.message.contains("unknown field"), "{e}");
        let e = err(
            "channel",
            json!({"lower": 1, "upper": 2, "event": "inside", "middle": 1.5}),
        );
        assert_eq!(e.path, "config.middle");
    }

    #[test]
    fn missing_field_is_named() {
        let e = err("price_threshold", json!({"operator": ">="}));
        assert_eq!(e.path, "config.threshold");
        assert!(e.message.contains("missing field"), "{e}");
    }

    #[test]
    fn bad_operator_is_refused() {
        let e = err("price_threshold", json!({"operator": "=>", "threshold": 1}));
        assert_eq!(e.path, "config.operator");
        let e = err(
            "candle_close",
            json!({"interval": "1m", "operator": "above", "value": 1}),
        );
        assert_eq!(e.path, "config.operator");
    }

    #[test]
    fn bad_enums_and_types_name_the_field() {
        let e = err(
            "candle_close",
            json!({"interval": "2m", "operator": ">", "value": 1}),
        );
        assert_eq!(e.path, "config.interval");
        let e = err(
            "percent_move",
            json!({"percent": 1, "window_seconds": 60, "direction": "sideways"}),
        );
        assert_eq!(e.path, "config.direction");
        let e = err(
            "price_threshold",
            json!({"operator": ">", "threshold": "100"}),
        );
        assert_eq!(e.path, "config.threshold");
        let e = err(
            "rsi",
            json!({"period": -3, "interval": "1m", "threshold": 70, "direction": "oversold"}),
        );
        assert_eq!(e.path, "config.period");
        let e = err(
            "rsi",
            json!({"period": 14.5, "interval": "1m", "threshold": 70, "direction": "oversold"}),
        );
        assert_eq!(e.path, "config.period");
    }

    #[test]
    fn zero_periods_are_refused() {
        let e = err(
            "rsi",
            json!({"period": 0, "interval": "1m", "threshold": 70, "direction": "oversold"}),
        );
        assert_eq!(e.path, "config.period");
        let e = err(
            "bollinger_bands",
            json!({"period": 0, "std_dev": 2, "interval": "1m", "band": "upper", "event": "touch"}),
        );
        assert_eq!(e.path, "config.period");
        for (f, cfg) in [
            ("fast", json!({"fast": 0, "slow": 26, "signal": 9})),
            ("slow", json!({"fast": 12, "slow": 0, "signal": 9})),
            ("signal", json!({"fast": 12, "slow": 26, "signal": 0})),
        ] {
            let mut cfg = cfg;
            cfg["interval"] = json!("1m");
            cfg["direction"] = json!("bearish");
            assert_eq!(err("macd_cross", cfg).path, format!("config.{f}"));
        }
        let e = err(
            "rsi",
            json!({"period": MAX_PERIOD + 1, "interval": "1m", "threshold": 70, "direction": "oversold"}),
        );
        assert_eq!(e.path, "config.period");
    }

    #[test]
    fn macd_fast_must_be_below_slow() {
        let e = err(
            "macd_cross",
            json!({"fast": 26, "slow": 26, "signal": 9, "interval": "1m", "direction": "bullish"}),
        );
        assert_eq!(e.path, "config.fast");
    }

    #[test]
    fn non_positive_prices_are_refused() {
        for v in [json!(0), json!(-1.5)] {
            let e = err("price_threshold", json!({"operator": ">", "threshold": v}));
            assert_eq!(e.path, "config.threshold");
            let e = err(
                "price_alert",
                json!({"condition": "above", "target_price": v}),
            );
            assert_eq!(e.path, "config.target_price");
            let e = err(
                "candle_close",
                json!({"interval": "1m", "operator": "<", "value": v}),
            );
            assert_eq!(e.path, "config.value");
            let e = err(
                "percent_move",
                json!({"percent": v, "window_seconds": 60, "direction": "up"}),
            );
            assert_eq!(e.path, "config.percent");
            let e = err(
                "bollinger_bands",
                json!({"period": 20, "std_dev": v, "interval": "1m", "band": "upper", "event": "break"}),
            );
            assert_eq!(e.path, "config.std_dev");
            let e = err(
                "channel",
                json!({"lower": v, "upper": 10, "event": "inside"}),
            );
            assert_eq!(e.path, "config.lower");
        }
        let e = err(
            "percent_move",
            json!({"percent": 1, "window_seconds": 0, "direction": "up"}),
        );
        assert_eq!(e.path, "config.window_seconds");
    }

    #[test]
    fn non_finite_values_are_refused() {
        // JSON has no NaN or infinity; configs built in code are checked
        // by validate().
        let c = RuleConfig::PriceThreshold(PriceThreshold {
            operator: Operator::Gt,
            threshold: f64::NAN,
        });
        assert_eq!(c.validate().unwrap_err().path, "config.threshold");
        let c = RuleConfig::Channel(Channel {
            lower: 1.0,
            upper: f64::INFINITY,
            event: ChannelEvent::Inside,
        });
        assert_eq!(c.validate().unwrap_err().path, "config.upper");
        // 1e400 overflows to infinity in some parsers; serde_json refuses it.
        assert!(
            RuleConfig::parse(
                "price_threshold",
                &serde_json::from_str::<serde_json::Value>(r#"{"operator":">","threshold":1e300}"#)
                    .unwrap()
            )
            .is_ok()
        );
    }

    #[test]
    fn rsi_threshold_is_between_0_and_100() {
        for t in [json!(0), json!(100), json!(-5), json!(150)] {
            let e = err(
                "rsi",
                json!({"period": 14, "interval": "1m", "threshold": t, "direction": "overbought"}),
            );
            assert_eq!(e.path, "config.threshold");
        }
    }

    #[test]
    fn channel_lower_must_be_below_upper() {
        for (l, u) in [(10, 10), (11, 10)] {
            let e = err(
                "channel",
                json!({"lower": l, "upper": u, "event": "inside"}),
            );
            assert_eq!(e.path, "config.upper");
        }
        let e = err(
            "channel",
            json!({"lower": 1, "upper": 2, "event": "around"}),
        );
        assert_eq!(e.path, "config.event");
    }

    #[test]
    fn frequencies_parse() {
        for f in Frequency::ALL {
            assert_eq!(Frequency::parse(f.as_str()).unwrap(), f);
        }
        let e = Frequency::parse("twice").unwrap_err();
        assert_eq!(e.path, "frequency");
        for t in RuleType::ALL {
            assert_eq!(t.as_str().parse::<RuleType>().unwrap(), t);
        }
    }

    #[test]
    fn windows_are_exact() {
        let ts = 1_700_000_123_456; // 12:35:23.456 in some hour
        let m = Interval::M1.bucket_start(ts);
        assert_eq!(
            Frequency::OncePerMinute.window(Interval::H1, 5, ts),
            (m, m + 59_999)
        );
        let h = Interval::H1.bucket_start(ts);
        assert_eq!(
            Frequency::OncePerBar.window(Interval::H1, 5, ts),
            (h, h + 3_599_999)
        );
        assert_eq!(
            Frequency::OncePerBarClose.window(Interval::M1, 5, ts),
            (m, m + 59_999)
        );
        assert_eq!(Frequency::Once.window(Interval::M1, 5, ts), (5, i64::MAX));
        assert_eq!(Frequency::EveryTime.window(Interval::M1, 5, ts), (ts, ts));
    }

    #[test]
    fn rearm_is_after_the_window_and_the_cooldown() {
        let ts = 1_700_000_100_000;
        let m = Interval::M1.bucket_start(ts);
        assert_eq!(
            rearm_at(Frequency::OncePerBar, Interval::M1, 0, 0, ts),
            m + 60_000
        );
        assert_eq!(
            rearm_at(Frequency::OncePerBar, Interval::M1, 0, 120_000, ts),
            ts + 120_000
        );
        assert_eq!(
            rearm_at(Frequency::EveryTime, Interval::M1, 0, 0, ts),
            ts + 1
        );
        assert_eq!(rearm_at(Frequency::Once, Interval::M1, 0, 0, ts), i64::MAX);
    }
}
