//! Every event type on every channel, as sent. A new event type fails
//! `every_event_type_has_a_sample` until it has a sample, and then gets
//! three new snapshots to review.

use tradehook_core::event::EVENT_TYPES;
use tradehook_delivery::format::{discord, slack, telegram};

use super::samples::sample;

#[test]
fn every_event_type_has_a_sample() {
    let missing: Vec<&str> = EVENT_TYPES
        .iter()
        .copied()
        .filter(|t| sample(t).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "no sample for {missing:?}; add one in tests/format/samples.rs"
    );
}

fn snapshot_name(channel: &str, event_type: &str) -> String {
    format!("{channel}__{}", event_type.replace('.', "_"))
}

#[test]
fn discord_messages_match_their_snapshots() {
    for t in EVENT_TYPES {
        let event = sample(t).expect("every type has a sample");
        insta::assert_json_snapshot!(snapshot_name("discord", t), discord::message(&event));
    }
}

#[test]
fn slack_messages_match_their_snapshots() {
    for t in EVENT_TYPES {
        let event = sample(t).expect("every type has a sample");
        insta::assert_json_snapshot!(snapshot_name("slack", t), slack::message(&event));
    }
}

#[test]
fn telegram_messages_match_their_snapshots() {
    for t in EVENT_TYPES {
        let event = sample(t).expect("every type has a sample");
        insta::assert_json_snapshot!(
            snapshot_name("telegram", t),
            telegram::message(&event, "-1001234567890")
        );
    }
}
