use std::time::Duration;

use super::*;
use crate::webhook::outcome::RetryHint;

const NOW: i64 = 1_800_000_000_000;

fn retryable(hint: Option<RetryHint>) -> Outcome {
    Outcome::Retryable {
        reason: "HTTP 503".into(),
        hint,
    }
}

fn delay_of(d: Decision) -> i64 {
    match d {
        Decision::RetryAt { at_ms, delay_ms } => {
            assert_eq!(at_ms, NOW + delay_ms);
            delay_ms
        }
        other => panic!("expected RetryAt, got {other:?}"),
    }
}

#[test]
fn the_default_schedule_has_nine_attempts_and_the_first_is_immediate() {
    let s = RetrySchedule::default();
    assert_eq!(s.max_attempts(), 9);
    assert_eq!(s.delay_before(1), Some(Duration::ZERO));
    assert_eq!(s.delay_before(2), Some(Duration::from_secs(5)));
    assert_eq!(s.delay_before(9), Some(Duration::from_secs(6 * 3600)));
    assert_eq!(s.delay_before(10), None);
    assert_eq!(s.delay_before(0), None);
    assert_eq!(s.to_strings(), DEFAULT_SCHEDULE);
}

#[test]
fn durations_parse_in_every_unit() {
    let cases = [
        ("250ms", 250),
        ("0s", 0),
        ("30s", 30_000),
        ("2m", 120_000),
        ("1h", 3_600_000),
        ("3d", 259_200_000),
        (" 5 s ", 5_000),
    ];
    for (text, ms) in cases {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_millis(ms)),
            "{text}"
        );
    }
}

#[test]
fn bad_durations_are_refused_with_the_value_named() {
    assert_eq!(parse_duration(""), Err(DurationError::Empty));
    assert_eq!(parse_duration("5"), Err(DurationError::NoUnit("5".into())));
    assert_eq!(
        parse_duration("s"),
        Err(DurationError::NoNumber("s".into()))
    );
    assert_eq!(
        parse_duration("-5s"),
        Err(DurationError::NoNumber("-5s".into()))
    );
    let err = parse_duration("1.5h").unwrap_err();
    assert!(err.to_string().contains("\"1.5h\""), "{err}");
    let err = parse_duration("5min").unwrap_err();
    assert_eq!(
        err.to_string(),
        "duration \"5min\" has unknown unit \"min\": use ms, s, m, h or d"
    );
    assert!(matches!(
        parse_duration("99999999999999999999d"),
        Err(DurationError::TooLarge(_))
    ));
}

#[test]
fn durations_format_back_to_what_parses() {
    for text in ["0s", "250ms", "1500ms", "90s", "2m", "1h", "3d", "25h"] {
        assert_eq!(format_duration(parse_duration(text).unwrap()), text);
    }
}

#[test]
fn schedules_are_validated_with_the_bad_entry_named() {
    assert_eq!(RetrySchedule::new(vec![]), Err(ScheduleError::Empty));
    let empty: [&str; 0] = [];
    assert_eq!(RetrySchedule::parse(&empty), Err(ScheduleError::Empty));
    assert_eq!(
        RetrySchedule::new(vec![Duration::ZERO; 51]),
        Err(ScheduleError::TooMany(51))
    );
    assert!(RetrySchedule::new(vec![Duration::ZERO; 50]).is_ok());
    let err = RetrySchedule::parse(&["0s", "5s", "8d"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "retry delay #3 (8d) is longer than the 7-day maximum"
    );
    assert!(RetrySchedule::parse(&["0s", "7d"]).is_ok());
    let err = RetrySchedule::parse(&["0s", "5x"]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("retry delay #2: duration \"5x\""),
        "{err}"
    );
}

#[test]
fn schedules_read_and_write_as_lists_of_strings() {
    let s: RetrySchedule = serde_json::from_str(r#"["0s","10s","1h"]"#).unwrap();
    assert_eq!(s.max_attempts(), 3);
    assert_eq!(serde_json::to_string(&s).unwrap(), r#"["0s","10s","1h"]"#);
    assert!(serde_json::from_str::<RetrySchedule>(r#"["0s","9d"]"#).is_err());
}

#[test]
fn success_failure_and_disable_pass_straight_through() {
    let s = RetrySchedule::default();
    assert_eq!(
        decide(&s, 1, &Outcome::Success, NOW, 0.0),
        Decision::Delivered
    );
    let failed = Outcome::Failed {
        reason: "HTTP 400".into(),
    };
    assert_eq!(
        decide(&s, 1, &failed, NOW, 0.0),
        Decision::Failed {
            reason: "HTTP 400".into()
        }
    );
    let gone = Outcome::Disable {
        reason: "HTTP 410 Gone".into(),
    };
    assert_eq!(
        decide(&s, 3, &gone, NOW, 0.0),
        Decision::DisableEndpoint {
            reason: "HTTP 410 Gone".into()
        }
    );
}

#[test]
fn a_retry_waits_for_the_next_scheduled_delay() {
    let s = RetrySchedule::default();
    assert_eq!(delay_of(decide(&s, 1, &retryable(None), NOW, 0.0)), 5_000);
    assert_eq!(delay_of(decide(&s, 2, &retryable(None), NOW, 0.0)), 30_000);
    assert_eq!(
        delay_of(decide(&s, 8, &retryable(None), NOW, 0.0)),
        6 * 3_600_000
    );
}

#[test]
fn jitter_moves_the_delay_by_at_most_twenty_percent() {
    let s = RetrySchedule::default();
    let at = |j| delay_of(decide(&s, 1, &retryable(None), NOW, j));
    assert_eq!(at(1.0), 6_000);
    assert_eq!(at(-1.0), 4_000);
    assert_eq!(at(0.5), 5_500);
    // Out-of-range or non-finite jitter cannot push past the bounds.
    assert_eq!(at(7.0), 6_000);
    assert_eq!(at(-7.0), 4_000);
    assert_eq!(at(f64::NAN), 5_000);
    for i in 0..=100 {
        let d = at(-1.0 + f64::from(i) / 50.0);
        assert!((4_000..=6_000).contains(&d), "{d}");
    }
}

#[test]
fn the_last_attempt_turns_a_retryable_outcome_into_a_dead_letter() {
    let s = RetrySchedule::default();
    let Decision::Failed { reason } = decide(&s, 9, &retryable(None), NOW, 0.0) else {
        panic!("expected Failed after attempt 9");
    };
    assert_eq!(reason, "HTTP 503 (gave up after 9 attempts)");
    let once = RetrySchedule::parse(&["0s"]).unwrap();
    assert!(matches!(
        decide(&once, 1, &retryable(None), NOW, 0.0),
        Decision::Failed { .. }
    ));
}

#[test]
fn attempt_zero_is_treated_as_the_first() {
    let s = RetrySchedule::default();
    assert_eq!(delay_of(decide(&s, 0, &retryable(None), NOW, 0.0)), 5_000);
}

#[test]
fn a_retry_hint_longer_than_the_schedule_is_honoured() {
    let s = RetrySchedule::default();
    // Next scheduled delay is 5 s; the receiver asks for 60 s, well over
    // twice that: we still wait the full 60 s.
    let hint = Some(RetryHint::DelayMs(60_000));
    assert_eq!(delay_of(decide(&s, 1, &retryable(hint), NOW, 1.0)), 60_000);
}

#[test]
fn a_retry_hint_shorter_than_the_schedule_does_not_hurry_us() {
    let s = RetrySchedule::default();
    let hint = Some(RetryHint::DelayMs(1_000));
    assert_eq!(delay_of(decide(&s, 2, &retryable(hint), NOW, -1.0)), 24_000);
}

#[test]
fn a_retry_hint_date_is_measured_from_now() {
    let s = RetrySchedule::default();
    let hint = Some(RetryHint::AtMs(NOW + 90_000));
    assert_eq!(delay_of(decide(&s, 1, &retryable(hint), NOW, 0.0)), 90_000);
    let past = Some(RetryHint::AtMs(NOW - 90_000));
    assert_eq!(delay_of(decide(&s, 1, &retryable(past), NOW, 0.0)), 5_000);
}

#[test]
fn absurd_retry_hints_are_capped_at_a_day() {
    let s = RetrySchedule::default();
    let hint = Some(RetryHint::DelayMs(i64::MAX));
    assert_eq!(
        delay_of(decide(&s, 1, &retryable(hint), NOW, 0.0)),
        MAX_HINT_MS
    );
}

#[test]
fn endpoints_are_disabled_after_failing_for_the_whole_period() {
    let period = DEFAULT_DISABLE_AFTER.as_millis() as i64;
    assert_eq!(period, 3 * 24 * 3_600_000);
    assert!(!endpoint_should_be_disabled(None, NOW, period));
    assert!(!endpoint_should_be_disabled(
        Some(NOW - period + 1),
        NOW,
        period
    ));
    assert!(endpoint_should_be_disabled(Some(NOW - period), NOW, period));
    assert!(endpoint_should_be_disabled(Some(i64::MIN), NOW, period));
}
