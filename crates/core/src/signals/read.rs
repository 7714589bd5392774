//! Reading fields of a JSON object the lenient way TradingView bodies need:
//! quoted numbers, empty strings for absent values, leftover placeholders.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::error::{SchemaCode, SignalError};

type Result<T> = std::result::Result<T, SignalError>;

/// Which numbers a field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    /// Greater than zero (quantities, prices, percents).
    Positive,
    /// Zero or more.
    NonNegative,
}

/// Whether `s` holds a `{{...}}` placeholder TradingView did not replace.
pub(crate) fn has_placeholder(s: &str) -> bool {
    s.find("{{")
        .is_some_and(|start| s[start + 2..].contains("}}"))
}

/// A JSON object being read, with the path of the object itself.
pub(crate) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub path: String,
}

impl<'a> Obj<'a> {
    pub fn root(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            path: String::new(),
        }
    }

    /// The path of a field of this object.
    pub fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The value of `key`, or `None` when it is absent, `null` or a blank
    /// string.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        match self.map.get(key)? {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            v => Some(v),
        }
    }

    fn missing(&self, key: &str) -> SignalError {
        let message = match self.map.get(key) {
            None => format!("`{key}` is required"),
            Some(Value::Null) => format!("`{key}` is required but is null"),
            Some(_) => format!("`{key}` is required but is empty"),
        };
        SignalError::schema(self.field_path(key), SchemaCode::MissingField, message)
    }

    /// A text field: strings are trimmed; numbers are taken as their text
    /// (a ticker like `7203` may arrive unquoted).
    pub fn str_opt(&self, key: &str) -> Result<Option<String>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let path = self.field_path(key);
        let s = match v {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(SignalError::schema(
                    path,
                    SchemaCode::InvalidType,
                    format!("`{key}` must be a string, got {}", type_name(other)),
                ));
            }
        };
        check_placeholder(&path, &s)?;
        Ok(Some(s))
    }

    pub fn str_req(&self, key: &str) -> Result<String> {
        self.str_opt(key)?.ok_or_else(|| self.missing(key))
    }

    /// Free text: kept as sent (not trimmed), but still refused when it is
    /// a leftover placeholder.
    pub fn text_opt(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            Some(Value::String(s)) => {
                check_placeholder(&self.field_path(key), s)?;
                Ok(Some(s.clone()))
            }
            _ => self.str_opt(key),
        }
    }

    /// A decimal from a JSON number or a numeric string.
    pub fn dec_opt(&self, key: &str, sign: Sign) -> Result<Option<Decimal>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        read_decimal(&self.field_path(key), key, v, sign).map(Some)
    }

    pub fn dec_req(&self, key: &str, sign: Sign) -> Result<Decimal> {
        self.dec_opt(key, sign)?.ok_or_else(|| self.missing(key))
    }

    /// A whole number ≥ 0 (`max_lag`, `sort_order`), as number or string.
    pub fn u64_opt(&self, key: &str) -> Result<Option<u64>> {
        let Some(d) = self.dec_opt(key, Sign::NonNegative)? else {
            return Ok(None);
        };
        if !d.fract().is_zero() {
            return Err(SignalError::schema(
                self.field_path(key),
                SchemaCode::InvalidNumber,
                format!("`{key}` must be a whole number, got {d}"),
            ));
        }
        u64::try_from(d).map(Some).map_err(|_| {
            SignalError::schema(
                self.field_path(key),
                SchemaCode::InvalidNumber,
                format!("`{key}` is too large: {d}"),
            )
        })
    }

    /// A boolean: `true`/`false` or the strings "true"/"false" (any case).
    pub fn bool_opt(&self, key: &str) -> Result<Option<bool>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let path = self.field_path(key);
        match v {
            Value::Bool(b) => Ok(Some(*b)),
            Value::String(s) => {
                let t = s.trim();
                check_placeholder(&path, t)?;
                if t.eq_ignore_ascii_case("true") {
                    Ok(Some(true))
                } else if t.eq_ignore_ascii_case("false") {
                    Ok(Some(false))
                } else {
                    Err(SignalError::schema(
                        path,
                        SchemaCode::InvalidValue,
                        format!("`{key}` must be true or false, got \"{t}\""),
                    ))
                }
            }
            other => Err(SignalError::schema(
                path,
                SchemaCode::InvalidType,
                format!("`{key}` must be true or false, got {}", type_name(other)),
            )),
        }
    }

    /// A nested object.
    pub fn obj_opt(&self, key: &str) -> Result<Option<Obj<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.field_path(key),
            })),
            Some(other) => Err(SignalError::schema(
                self.field_path(key),
                SchemaCode::InvalidType,
                format!("`{key}` must be an object, got {}", type_name(other)),
            )),
        }
    }

    /// A time as Unix milliseconds: RFC 3339 text, or a number (or numeric
    /// string) of Unix seconds or milliseconds. Values below 10^11 are
    /// taken as seconds (10^11 ms is 1973, 10^11 s is the year 5138).
    pub fn time_opt(&self, key: &str) -> Result<Option<i64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let path = self.field_path(key);
        let invalid = |got: &str| {
            SignalError::schema(
                path.clone(),
                SchemaCode::InvalidTime,
                format!(
                    "`{key}` must be RFC 3339 (2024-06-10T06:13:20Z) or Unix seconds or milliseconds, got {got}"
                ),
            )
        };
        let number = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => {
                let t = s.trim();
                check_placeholder(&path, t)?;
                if parse_decimal_text(t).is_none() {
                    let dt = chrono::DateTime::parse_from_rfc3339(t)
                        .map_err(|_| invalid(&format!("\"{t}\"")))?;
                    return Ok(Some(dt.timestamp_millis()));
                }
                t.to_string()
            }
            other => return Err(invalid(type_name(other))),
        };
        let d = parse_decimal_text(&number).ok_or_else(|| invalid(&number))?;
        if d.is_sign_negative() {
            return Err(invalid(&number));
        }
        let ms = if d < Decimal::from(100_000_000_000_i64) {
            d * Decimal::from(1000)
        } else {
            d
        };
        i64::try_from(ms.trunc())
            .map(Some)
            .map_err(|_| invalid(&number))
    }
}

/// Refuses a value that still holds a placeholder.
pub(crate) fn check_placeholder(path: &str, s: &str) -> Result<()> {
    if has_placeholder(s) {
        return Err(SignalError::schema(
            path,
            SchemaCode::UnreplacedPlaceholder,
            format!(
                "holds the unreplaced TradingView placeholder \"{s}\": the placeholder is misspelt or does not apply to this alert (strategy.* placeholders need a strategy alert)"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a plain decimal: an optional sign, digits with at most one `.`,
/// and an optional exponent. No thousands separators, no spaces inside,
/// no `NaN`/`inf`.
pub(crate) fn parse_decimal_text(t: &str) -> Option<Decimal> {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits = 0;
    let mut dots = 0;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        if b[i] == b'.' {
            dots += 1;
        } else {
            digits += 1;
        }
        i += 1;
    }
    if digits == 0 || dots > 1 {
        return None;
    }
    let mut exponent = false;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        exponent = true;
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    if exponent {
        Decimal::from_scientific(t).ok()
    } else {
        Decimal::from_str(t).ok()
    }
}

fn read_decimal(path: &str, key: &str, v: &Value, sign: Sign) -> Result<Decimal> {
    let invalid = |message: String| SignalError::schema(path, SchemaCode::InvalidNumber, message);
    let d = match v {
        Value::Number(n) => {
            let text = n.to_string();
            parse_decimal_text(&text)
                .ok_or_else(|| invalid(format!("`{key}` is out of range: {text}")))?
        }
        Value::String(s) => {
            let t = s.trim();
            check_placeholder(path, t)?;
            match parse_decimal_text(t) {
                Some(d) => d,
                None if t.contains(',') => {
                    return Err(invalid(format!(
                        "`{key}` must be a number with `.` as decimal point and no thousands separator, got \"{t}\""
                    )));
                }
                None => {
                    return Err(invalid(format!("`{key}` must be a number, got \"{t}\"")));
                }
            }
        }
        other => {
            return Err(invalid(format!(
                "`{key}` must be a number or a numeric string, got {}",
                type_name(other)
            )));
        }
    };
    match sign {
        Sign::Positive if d <= Decimal::ZERO => {
            Err(invalid(format!("`{key}` must be greater than 0, got {d}")))
        }
        Sign::NonNegative if d < Decimal::ZERO => {
            Err(invalid(format!("`{key}` must not be negative, got {d}")))
        }
        _ => Ok(d),
    }
}
