//! Event type patterns that say which events an endpoint subscribes to.
//!
//! A pattern is an event type (`order.filled`), a type with `*` segments
//! (`alert.*`, `*.filled`), or `*` alone for everything. A `*` segment
//! stands for exactly one segment. A pattern that matches none of
//! [`EVENT_TYPES`] is refused, so that a typo (`order.filed`) is caught
//! when the subscription is made rather than silently delivering nothing.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::EVENT_TYPES;

/// A validated event type pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventPattern {
    text: String,
}

/// Why a pattern was refused; each message names the pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("event pattern is empty: use an event type, `prefix.*`, or `*`")]
    Empty,
    #[error(
        "event pattern \"{0}\" is malformed: use dot-separated segments of a-z, 0-9 and _, or `*` segments"
    )]
    Malformed(String),
    #[error("event pattern \"{0}\" matches no event type")]
    MatchesNothing(String),
}

impl EventPattern {
    /// Reads and checks a pattern.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        let well_formed = text.split('.').all(|segment| {
            segment == "*"
                || (!segment.is_empty()
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        });
        if !well_formed {
            return Err(PatternError::Malformed(text.chars().take(64).collect()));
        }
        let pattern = Self {
            text: text.to_string(),
        };
        if !EVENT_TYPES.iter().any(|t| pattern.matches(t)) {
            return Err(PatternError::MatchesNothing(text.to_string()));
        }
        Ok(pattern)
    }

    /// The pattern that matches every event.
    pub fn all() -> Self {
        Self {
            text: "*".to_string(),
        }
    }

    /// Whether `event_type` is one this pattern subscribes to.
    pub fn matches(&self, event_type: &str) -> bool {
        if self.text == "*" {
            return true;
        }
        let mut wanted = self.text.split('.');
        let mut actual = event_type.split('.');
        loop {
            match (wanted.next(), actual.next()) {
                (None, None) => return true,
                (Some(w), Some(a)) if w == "*" || w == a => {}
                _ => return false,
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Whether any of `patterns` matches `event_type`.
pub fn matches_any(patterns: &[EventPattern], event_type: &str) -> bool {
    patterns.iter().any(|p| p.matches(event_type))
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for EventPattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EventPattern {
    type Error = PatternError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EventPattern> for String {
    fn from(p: EventPattern) -> Self {
        p.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> EventPattern {
        EventPattern::parse(s).unwrap()
    }

    #[test]
    fn a_star_alone_matches_every_event_type() {
        let all = p("*");
        assert!(EVENT_TYPES.iter().all(|t| all.matches(t)));
        assert_eq!(all, EventPattern::all());
    }

    #[test]
    fn an_exact_type_matches_only_itself() {
        let filled = p("order.filled");
        assert!(filled.matches("order.filled"));
        assert!(!filled.matches("order.partially_filled"));
        assert!(!filled.matches("order"));
        assert!(!filled.matches("order.filled.extra"));
    }

    #[test]
    fn a_prefix_star_matches_one_segment_after_the_exact_prefix() {
        let alerts = p("alert.*");
        assert!(alerts.matches("alert.triggered"));
        assert!(alerts.matches("alert.expired"));
        assert!(!alerts.matches("alertx.y"));
        assert!(!alerts.matches("alert"));
        assert!(!alerts.matches("alert.a.b"));
        assert!(!alerts.matches("order.filled"));
    }

    #[test]
    fn a_leading_star_matches_any_first_segment() {
        let filled = p("*.filled");
        assert!(filled.matches("order.filled"));
        assert!(!filled.matches("order.partially_filled"));
        let rejected = p("*.rejected");
        assert!(rejected.matches("order.rejected"));
        assert!(rejected.matches("signal.rejected"));
        assert!(p("*.*").matches("bot.paused"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert_eq!(EventPattern::parse(""), Err(PatternError::Empty));
        for bad in [
            "Alert.*",
            "alert.",
            ".alert",
            "alert..triggered",
            "alert.trig*",
            "**",
            "alert.**",
            "alert triggered",
            "alert-triggered",
            "alert.*\n",
        ] {
            assert!(
                matches!(EventPattern::parse(bad), Err(PatternError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn typos_are_caught_because_they_match_no_event_type() {
        let err = EventPattern::parse("order.filed").unwrap_err();
        assert_eq!(err, PatternError::MatchesNothing("order.filed".into()));
        assert_eq!(
            err.to_string(),
            "event pattern \"order.filed\" matches no event type"
        );
        for nothing in ["alertx.*", "*.triggerd", "alert.*.*", "*.*.*", "alert"] {
            assert!(
                matches!(
                    EventPattern::parse(nothing),
                    Err(PatternError::MatchesNothing(_))
                ),
                "{nothing}"
            );
        }
    }

    #[test]
    fn every_known_event_type_is_a_valid_pattern_of_itself() {
        for t in EVENT_TYPES {
            let pattern = p(t);
            assert!(pattern.matches(t));
            assert_eq!(pattern.as_str(), *t);
            assert_eq!(pattern.to_string(), *t);
        }
    }

    #[test]
    fn patterns_read_and_write_as_strings() {
        let list: Vec<EventPattern> =
            serde_json::from_str(r#"["alert.*","order.filled"]"#).unwrap();
        assert_eq!(list, [p("alert.*"), p("order.filled")]);
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"["alert.*","order.filled"]"#
        );
        let err = serde_json::from_str::<EventPattern>(r#""order.filed""#).unwrap_err();
        assert!(err.to_string().contains("matches no event type"), "{err}");
        assert_eq!("bot.*".parse::<EventPattern>(), Ok(p("bot.*")));
    }

    #[test]
    fn any_of_several_patterns_may_match() {
        let patterns = [p("alert.*"), p("order.filled")];
        assert!(matches_any(&patterns, "alert.expired"));
        assert!(matches_any(&patterns, "order.filled"));
        assert!(!matches_any(&patterns, "bot.paused"));
        assert!(!matches_any(&[], "bot.paused"));
    }
}
