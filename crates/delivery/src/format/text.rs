//! Text helpers shared by the channel formatters: cutting strings to a
//! length without splitting a character or an escape sequence, and human
//! renderings of JSON scalars (grouped decimals, UTC times).
//!
//! Nothing here knows a channel's markup; each channel passes its own
//! escaper and its own way of counting length.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Marks text that was cut short. One character, not special in Slack
/// mrkdwn or Telegram MarkdownV2, so it never needs escaping.
pub const ELLIPSIS: &str = "…";

/// `s` cut to at most `max` characters (Unicode scalar values). A cut
/// string ends in "…", which counts towards `max`.
pub fn truncate_chars(s: &str, max: usize) -> String {
    let Some((cut, _)) = s.char_indices().nth(max) else {
        return s.to_owned();
    };
    if max == 0 {
        return String::new();
    }
    // `nth(max)` is the first char past the limit; step back one more to
    // leave room for the ellipsis.
    let end = s[..cut].char_indices().last().map_or(0, |(i, _)| i);
    let mut out = s[..end].trim_end().to_owned();
    out.push_str(ELLIPSIS);
    out
}

/// Length in Unicode scalar values (what Discord and Slack count).
pub(crate) fn chars_len(s: &str) -> usize {
    s.chars().count()
}

/// Length in UTF-16 code units. Telegram measures text this way (its
/// entity offsets are UTF-16), and it is never less than the char count,
/// so a text within it is within either reading of the limit.
pub(crate) fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s` escaped with `escape`, cut so that the escaped text measures at
/// most `max` by `len`. The cut falls between escaped characters, so it
/// never leaves half an entity or a lone backslash behind.
pub(crate) fn escape_truncated(
    s: &str,
    max: usize,
    escape: fn(char, &mut String),
    len: fn(&str) -> usize,
) -> String {
    let mut full = String::with_capacity(s.len());
    for c in s.chars() {
        escape(c, &mut full);
    }
    if len(&full) <= max {
        return full;
    }
    let Some(budget) = max.checked_sub(len(ELLIPSIS)) else {
        return String::new();
    };
    let mut out = String::new();
    let mut used = 0;
    let mut piece = String::new();
    for c in s.chars() {
        piece.clear();
        escape(c, &mut piece);
        let w = len(&piece);
        if used + w > budget {
            break;
        }
        used += w;
        out.push_str(&piece);
    }
    // Whitespace is never part of an escape, so trimming is safe here.
    out.truncate(out.trim_end().len());
    out.push_str(ELLIPSIS);
    out
}

/// Keeps the leading `items` that fit both `max_items` and `budget` (the
/// sum of `cost`). If any must go, the last kept slot is `marker(n)` for
/// the `n` left out, so readers know the list is incomplete. Order is
/// kept: a reader scanning fields expects them in the usual sequence.
pub(crate) fn fit<T>(
    items: Vec<T>,
    max_items: usize,
    budget: usize,
    cost: impl Fn(&T) -> usize,
    marker: impl Fn(usize) -> T,
) -> Vec<T> {
    let total: usize = items.iter().map(&cost).sum();
    if items.len() <= max_items && total <= budget {
        return items;
    }
    let n = items.len();
    // The marker for the largest possible count costs the most.
    let reserve = cost(&marker(n));
    if max_items == 0 || budget < reserve {
        return Vec::new();
    }
    let room = budget - reserve;
    let mut kept = Vec::new();
    let mut used = 0;
    for item in items {
        let c = cost(&item);
        if kept.len() + 1 >= max_items || used + c > room {
            break;
        }
        used += c;
        kept.push(item);
    }
    let omitted = n - kept.len();
    kept.push(marker(omitted));
    kept
}

/// A JSON scalar as display text: `None` for null, blank strings, arrays
/// and objects.
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Any JSON value as short display text: scalars as themselves, anything
/// else as compact JSON.
pub(crate) fn any(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Array(_) | Value::Object(_) => Some(v.to_string()),
        _ => scalar(v),
    }
}

/// A number (JSON number or numeric string) with thousands separators
/// and at least `min_frac` decimals: `100250.5` → `100,250.50` for
/// `min_frac = 2`. Works on the decimal text, not on `f64`, so quantities
/// and prices keep every digit the broker sent. Text that is not a plain
/// decimal is shown as it is.
pub(crate) fn decimal(v: &Value, min_frac: usize) -> Option<String> {
    let raw = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    if raw.is_empty() {
        return None;
    }
    Some(group_decimal(&raw, min_frac).unwrap_or(raw))
}

fn group_decimal(raw: &str, min_frac: usize) -> Option<String> {
    let (sign, digits) = match raw.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", raw),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let int = match int.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let frac = frac.trim_end_matches('0');

    let mut out = String::from(sign);
    for (i, d) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    if !frac.is_empty() || min_frac > 0 {
        out.push('.');
        out.push_str(frac);
        for _ in frac.len()..min_frac {
            out.push('0');
        }
    }
    Some(out)
}

/// A number (JSON number or numeric string) as `f64`, for arithmetic
/// that is only displayed, never stored.
pub(crate) fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// Unix milliseconds as `2026-11-23 01:16:22 UTC`; `None` if out of range.
pub(crate) fn utc_ms(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// A time field as `2026-11-23 01:16:22 UTC`. Accepts RFC 3339 strings
/// and Unix numbers; other text is shown as it is.
pub(crate) fn time(v: &Value) -> Option<String> {
    // Below 1e11 a Unix number is taken as seconds: as milliseconds it
    // would be 1973, as seconds it is the year 5138.
    const SECONDS_BELOW: i64 = 100_000_000_000;
    match v {
        Value::Number(n) => {
            let n = n.as_i64()?;
            let ms = if n.abs() < SECONDS_BELOW {
                n.checked_mul(1000)?
            } else {
                n
            };
            utc_ms(ms)
        }
        Value::String(s) => match DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => Some(
                t.with_timezone(&Utc)
                    .format("%Y-%m-%d %H:%M:%S UTC")
                    .to_string(),
            ),
            Err(_) => scalar(v),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn short_text_is_left_alone() {
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("", 0), "");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_an_ellipsis() {
        assert_eq!(truncate_chars("héllo wörld", 7), "héllo…");
        assert_eq!(truncate_chars("🚀🚀🚀🚀", 3), "🚀🚀…");
        assert_eq!(truncate_chars("abc", 1), "…");
        assert_eq!(truncate_chars("abc", 0), "");
        for max in 0..20 {
            assert!(
                truncate_chars("é🚀é🚀é🚀é🚀é🚀é🚀é🚀é🚀é🚀é🚀x", max)
                    .chars()
                    .count()
                    <= max
            );
        }
    }

    #[test]
    fn decimals_are_grouped_and_keep_every_digit() {
        let d = |v: Value, min| decimal(&v, min).unwrap();
        assert_eq!(d(json!(100250.0), 2), "100,250.00");
        assert_eq!(d(json!("100250.120000"), 2), "100,250.12");
        assert_eq!(d(json!("0.00001234"), 2), "0.00001234");
        assert_eq!(d(json!(0.5), 0), "0.5");
        assert_eq!(d(json!(1.0), 0), "1");
        assert_eq!(d(json!(-1234567), 0), "-1,234,567");
        assert_eq!(d(json!("12x"), 2), "12x");
        assert_eq!(decimal(&json!(null), 2), None);
    }

    #[test]
    fn times_accept_rfc3339_seconds_and_milliseconds() {
        let want = Some("2026-11-23 01:16:22 UTC".to_owned());
        assert_eq!(time(&json!("2026-11-23T01:16:22.788Z")), want);
        assert_eq!(time(&json!(1_795_396_582_788_i64)), want);
        assert_eq!(time(&json!(1_795_396_582_i64)), want);
        assert_eq!(time(&json!("yesterday")), Some("yesterday".to_owned()));
        assert_eq!(time(&json!(i64::MAX)), None);
    }

    #[test]
    fn fit_keeps_a_prefix_and_counts_what_it_left_out() {
        let items: Vec<String> = (0..10).map(|i| format!("{i}")).collect();
        let marker = |n: usize| format!("+{n}");
        let kept = fit(items.clone(), 4, usize::MAX, |_| 1, marker);
        assert_eq!(kept, ["0", "1", "2", "+7"]);
        let kept = fit(items.clone(), 100, 6, |s| s.len(), marker);
        assert_eq!(kept, ["0", "1", "2", "+7"]);
        assert_eq!(
            fit(items, 100, 1, |s| s.len(), marker),
            Vec::<String>::new()
        );
    }
}
