use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn resp(status: u16, body: &str) -> ResponseFacts {
    ResponseFacts {
        status,
        retry_after_header: None,
        body_snippet: body.to_string(),
    }
}

fn with_header(status: u16, header: &str) -> ResponseFacts {
    ResponseFacts {
        retry_after_header: Some(header.to_string()),
        ..resp(status, "")
    }
}

fn is_retryable(o: &Outcome) -> bool {
    matches!(o, Outcome::Retryable { .. })
}

fn is_failed(o: &Outcome) -> bool {
    matches!(o, Outcome::Failed { .. })
}

fn is_disable(o: &Outcome) -> bool {
    matches!(o, Outcome::Disable { .. })
}

fn hint(o: &Outcome) -> Option<RetryHint> {
    match o {
        Outcome::Retryable { hint, .. } => *hint,
        other => panic!("expected Retryable, got {other:?}"),
    }
}

#[test]
fn only_2xx_is_success_on_every_channel() {
    for kind in ChannelKind::ALL {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(
                classify(kind, &resp(status, "")),
                Outcome::Success,
                "{kind:?} {status}"
            );
        }
        for status in [100, 199, 300, 400, 500, 600] {
            assert!(
                !classify(kind, &resp(status, "")).is_success(),
                "{kind:?} {status}"
            );
        }
    }
}

#[test]
fn redirects_fail_at_once_because_they_are_never_followed() {
    for status in [301, 302, 303, 307, 308] {
        let o = classify(ChannelKind::Webhook, &resp(status, ""));
        assert!(is_failed(&o), "{status}: {o:?}");
    }
}

#[test]
fn server_errors_timeouts_and_rate_limits_are_retried() {
    for status in [408, 429, 500, 502, 503, 504, 599] {
        let o = classify(ChannelKind::Webhook, &resp(status, "busy"));
        assert!(is_retryable(&o), "{status}: {o:?}");
    }
}

#[test]
fn other_client_errors_fail_at_once() {
    for status in [400, 401, 403, 404, 405, 413, 422] {
        let o = classify(ChannelKind::Webhook, &resp(status, ""));
        assert!(is_failed(&o), "{status}: {o:?}");
    }
}

#[test]
fn gone_disables_the_endpoint_on_every_channel() {
    for kind in ChannelKind::ALL {
        assert!(is_disable(&classify(kind, &resp(410, ""))), "{kind:?}");
    }
}

#[test]
fn failure_reasons_carry_a_bounded_one_line_body_excerpt() {
    let long = format!("line one\nline two {}", "x".repeat(500));
    let Outcome::Failed { reason } = classify(ChannelKind::Webhook, &resp(400, &long)) else {
        panic!("expected Failed");
    };
    assert!(reason.starts_with("HTTP 400: line one line two x"));
    assert!(reason.ends_with('…'));
    assert!(reason.chars().count() < 140);
    assert!(!reason.contains('\n'));
}

#[test]
fn transport_errors_are_retried_except_policy_url_and_size_errors() {
    for class in ErrorClass::ALL {
        let o = classify_error(class);
        let permanent = matches!(
            class,
            ErrorClass::SsrfBlocked | ErrorClass::InvalidUrl | ErrorClass::BodyTooLarge
        );
        assert_eq!(is_failed(&o), permanent, "{class:?}: {o:?}");
        assert_eq!(is_retryable(&o), !permanent, "{class:?}: {o:?}");
    }
}

#[test]
fn error_classes_have_stable_snake_case_names() {
    let names: Vec<&str> = ErrorClass::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "dns",
            "connect",
            "tls",
            "timeout",
            "ssrf_blocked",
            "invalid_url",
            "body_too_large",
            "other"
        ]
    );
    assert_eq!(
        serde_json::to_string(&ErrorClass::SsrfBlocked).unwrap(),
        "\"ssrf_blocked\""
    );
}

#[test]
fn discord_unknown_webhook_disables() {
    let body = r#"{"message": "Unknown Webhook", "code": 10015}"#;
    assert!(is_disable(&classify(
        ChannelKind::Discord,
        &resp(404, body)
    )));
    // A plain webhook's 404 is a mistake to fix, not a gone endpoint.
    assert!(is_failed(&classify(ChannelKind::Webhook, &resp(404, body))));
}

#[test]
fn discord_invalid_form_body_fails_without_disabling() {
    let body = r#"{"code": 50035, "message": "Invalid Form Body"}"#;
    assert!(is_failed(&classify(ChannelKind::Discord, &resp(400, body))));
}

#[test]
fn discord_rate_limit_uses_the_float_seconds_in_the_body() {
    let r = ResponseFacts {
        retry_after_header: Some("65".into()),
        ..resp(
            429,
            r#"{"message":"You are being rate limited.","retry_after":64.57,"global":false}"#,
        )
    };
    let o = classify(ChannelKind::Discord, &r);
    assert_eq!(hint(&o), Some(RetryHint::DelayMs(64_570)));
}

#[test]
fn discord_rate_limit_without_a_body_falls_back_to_the_header() {
    let o = classify(ChannelKind::Discord, &with_header(429, "3"));
    assert_eq!(hint(&o), Some(RetryHint::DelayMs(3_000)));
}

#[test]
fn slack_permanent_errors_disable() {
    for error in SLACK_DISABLE_ERRORS {
        for status in [403, 404, 410] {
            let o = classify(ChannelKind::Slack, &resp(status, error));
            assert!(is_disable(&o), "{error} {status}: {o:?}");
        }
    }
    let json = r#"{"ok":false,"error":"invalid_token"}"#;
    assert!(is_disable(&classify(ChannelKind::Slack, &resp(403, json))));
}

#[test]
fn slack_other_errors_follow_the_common_rules() {
    assert!(is_failed(&classify(
        ChannelKind::Slack,
        &resp(400, "invalid_payload")
    )));
    assert!(is_failed(&classify(
        ChannelKind::Slack,
        &resp(404, "channel_not_found")
    )));
    assert!(is_retryable(&classify(
        ChannelKind::Slack,
        &resp(500, "rollup_error")
    )));
    assert_eq!(
        classify(ChannelKind::Slack, &resp(200, "ok")),
        Outcome::Success
    );
    // The words only count as Slack's answer, not on a plain webhook.
    assert!(is_failed(&classify(
        ChannelKind::Webhook,
        &resp(403, "invalid_token")
    )));
}

#[test]
fn telegram_success_needs_ok_true_when_the_body_is_json() {
    let ok = r#"{"ok":true,"result":{"message_id":1}}"#;
    assert_eq!(
        classify(ChannelKind::Telegram, &resp(200, ok)),
        Outcome::Success
    );
    let not_ok = r#"{"ok":false,"error_code":400,"description":"odd"}"#;
    assert!(is_failed(&classify(
        ChannelKind::Telegram,
        &resp(200, not_ok)
    )));
    assert!(is_failed(&classify(
        ChannelKind::Telegram,
        &resp(200, "{}")
    )));
    // A body cut off by the worker's read limit is not JSON: trust 200.
    let cut = r#"{"ok":true,"result":{"message_id":1,"te"#;
    assert_eq!(
        classify(ChannelKind::Telegram, &resp(200, cut)),
        Outcome::Success
    );
    // A plain webhook's JSON body is not inspected.
    assert_eq!(
        classify(ChannelKind::Webhook, &resp(200, not_ok)),
        Outcome::Success
    );
}

#[test]
fn telegram_blocked_kicked_and_missing_chats_disable() {
    let cases = [
        (403, "Forbidden: bot was blocked by the user"),
        (403, "Forbidden: bot was kicked from the group chat"),
        (403, "Forbidden: bot was kicked from the supergroup chat"),
        (400, "Bad Request: chat not found"),
    ];
    for (status, description) in cases {
        let body = format!(r#"{{"ok":false,"error_code":{status},"description":"{description}"}}"#);
        let o = classify(ChannelKind::Telegram, &resp(status, &body));
        assert!(is_disable(&o), "{description}: {o:?}");
    }
}

#[test]
fn telegram_bad_markup_fails_without_disabling() {
    let body = r#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities"}"#;
    assert!(is_failed(&classify(
        ChannelKind::Telegram,
        &resp(400, body)
    )));
}

#[test]
fn telegram_rate_limit_uses_parameters_retry_after() {
    let body = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 15","parameters":{"retry_after":15}}"#;
    let o = classify(ChannelKind::Telegram, &resp(429, body));
    assert_eq!(hint(&o), Some(RetryHint::DelayMs(15_000)));
}

#[test]
fn retry_after_in_seconds_is_read_on_any_retryable_answer() {
    for status in [429, 503] {
        let o = classify(ChannelKind::Webhook, &with_header(status, " 120 "));
        assert_eq!(hint(&o), Some(RetryHint::DelayMs(120_000)));
    }
    let o = classify(ChannelKind::Webhook, &with_header(503, "soon"));
    assert_eq!(hint(&o), None);
    let o = classify(ChannelKind::Webhook, &with_header(503, "-5"));
    assert_eq!(hint(&o), None);
}

#[test]
fn retry_after_as_an_http_date_is_relative_to_now() {
    let header = "Wed, 21 Oct 2015 07:28:00 GMT";
    let at = 1_445_412_480_000;
    let o = classify(ChannelKind::Webhook, &with_header(503, header));
    assert_eq!(hint(&o), Some(RetryHint::AtMs(at)));
    assert_eq!(RetryHint::AtMs(at).delay_ms(at - 90_000), 90_000);
    assert_eq!(RetryHint::AtMs(at).delay_ms(at + 5_000), 0);

    let now = UNIX_EPOCH + Duration::from_millis(at as u64 - 30_000);
    assert_eq!(
        retry_after_delay(header, now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(retry_after_delay("7", now), Some(Duration::from_secs(7)));
    assert_eq!(retry_after_delay("tomorrow", now), None);
}

#[test]
fn permanent_answers_carry_no_hint() {
    let o = classify(ChannelKind::Webhook, &with_header(400, "30"));
    assert!(is_failed(&o));
}
