//! The shared reading of events that all channels render from.

use serde_json::json;
use tradehook_delivery::format::{Tone, discord, summary_fields, title, tone};

use super::samples::{event, sample};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn unknown_event_types_list_the_top_level_scalars() {
    let e = event(
        "bot.renamed",
        json!({"a_name": "New", "b_count": 3, "c_nested": {"x": 1}, "d_list": [1], "e_null": null, "f_ok": true}),
    );
    assert_eq!(title(&e), "📣 bot.renamed");
    assert_eq!(
        summary_fields(&e),
        pairs(&[("a_name", "New"), ("b_count", "3"), ("f_ok", "true")])
    );
}

#[test]
fn known_types_with_unreadable_data_fall_back_to_its_scalars() {
    let e = event("order.filled", json!({"a_unexpected": "x", "b_other": 2}));
    assert_eq!(title(&e), "✅ Order filled");
    assert_eq!(
        summary_fields(&e),
        pairs(&[("a_unexpected", "x"), ("b_other", "2")])
    );
    let e = event("order.filled", json!("not an object"));
    assert_eq!(summary_fields(&e), pairs(&[("Data", "not an object")]));
    assert_eq!(summary_fields(&event("order.filled", json!(null))), vec![]);
}

#[test]
fn missing_fields_are_left_out_of_titles() {
    let e = event("order.filled", json!({"symbol": "AAPL", "filled_qty": 3}));
    assert_eq!(title(&e), "✅ Order filled: 3 AAPL");
    let e = event(
        "alert.triggered",
        json!({"symbol": "ETHUSD", "price": "3000"}),
    );
    assert_eq!(title(&e), "🔔 Alert: ETHUSD @ 3,000.00");
    let e = event(
        "cleanup.orders_canceled",
        json!({"orders": [{"order_id": "o1"}]}),
    );
    assert_eq!(title(&e), "🧹 Canceled 1 open order");
}

#[test]
fn long_lists_are_cut_with_a_count() {
    let orders: Vec<_> = (0..25)
        .map(|i| json!({"order_id": format!("o{i}"), "symbol": "BTCUSD"}))
        .collect();
    let e = event(
        "cleanup.orders_canceled",
        json!({"orders": orders, "count": 25}),
    );
    let (_, value) = &summary_fields(&e)[0];
    assert_eq!(value.lines().count(), 10);
    assert_eq!(value.lines().last(), Some("… and 16 more"));
}

#[test]
fn colours_follow_direction_and_severity() {
    let tone_of = |t: &str, data| tone(&event(t, data));
    assert_eq!(
        tone_of("alert.triggered", json!({"direction": "up"})),
        Tone::Positive
    );
    assert_eq!(
        tone_of("alert.triggered", json!({"direction": "down"})),
        Tone::Negative
    );
    assert_eq!(
        tone_of("signal.received", json!({"action": "sell"})),
        Tone::Negative
    );
    assert_eq!(
        tone_of("order.submitted", json!({"side": "buy"})),
        Tone::Positive
    );
    assert_eq!(
        tone_of("order.filled", json!({"side": "sell"})),
        Tone::Positive
    );
    assert_eq!(tone_of("order.canceled", json!({})), Tone::Warning);
    for (t, want) in [
        ("order.rejected", Tone::Negative),
        ("risk.global_stop_loss", Tone::Negative),
        ("risk.global_take_profit", Tone::Positive),
        ("bot.paused", Tone::Warning),
        ("bot.resumed", Tone::Positive),
        ("cleanup.orders_canceled", Tone::Warning),
        ("alert.expired", Tone::Warning),
        ("price_alert.triggered", Tone::Positive),
        ("endpoint.disabled", Tone::Negative),
        ("endpoint.test", Tone::Info),
    ] {
        assert_eq!(tone(&sample(t).unwrap()), want, "{t}");
    }
    assert_eq!(discord::color(Tone::Info), 0x5865F2);
}
