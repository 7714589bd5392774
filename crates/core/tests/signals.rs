//! TradingView signals: dedupe keys, staleness, the multi-leg answer and
//! the alert templates.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradehook_core::signals::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn p(body: &str) -> ParsedSignal {
    parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}\n→ {e:?}"))
}

fn err(body: &str) -> SignalError {
    match parse(body.as_bytes()) {
        Ok(s) => panic!("{body}\nparsed, expected an error: {s:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------
// the multi-leg answer

const MULTI_LEG: &str = r#"{"secret":"s3cret","alertType":"multi_leg_order","order_legs":[
 {"transactionType":"B","orderType":"LMT","quantity":"50","exchange":"NSE",
  "symbol":"NIFTY24JUNFUT","instrument":"FUT","productType":"M","sort_order":"1",
  "price":"101.5","meta":{"interval":"15","time":"2024-06-10T06:00:00Z","timenow":"2024-06-10T06:13:20Z"}},
 {"transactionType":"s","orderType":"SL-M","quantity":25,"exchange":"NSE",
  "symbol":"NIFTY24JUN23000CE","instrument":"ce","productType":"I","sort_order":2,"price":"0"}]}"#;

#[test]
fn the_multi_leg_answer_has_one_result_per_leg() {
    let s = p(MULTI_LEG);
    let v = multi_leg_response(
        &s,
        &[
            LegResult {
                status: LegStatus::Accepted,
                message: "queued".into(),
                order_id: Some("ord_1".into()),
            },
            LegResult::error("broker refused: margin"),
        ],
        1_718_000_000_000,
    );
    assert_eq!(
        v,
        json!({
            "status": "partial",
            "message": "1 of 2 legs failed",
            "alertType": "multi_leg_order",
            "timestamp": "2024-06-10T06:13:20.000Z",
            "results": [
                {"leg_number": 1, "symbol": "NIFTY24JUNFUT", "transaction": "B", "quantity": "50",
                 "status": "accepted", "message": "queued", "order_id": "ord_1"},
                {"leg_number": 2, "symbol": "NIFTY24JUN23000CE", "transaction": "S", "quantity": "25",
                 "status": "error", "message": "broker refused: margin"},
            ]
        })
    );
}

#[test]
fn the_multi_leg_answer_status_sums_up_the_legs() {
    let s = p(MULTI_LEG);
    let ok = |status| LegResult {
        status,
        message: "ok".into(),
        order_id: None,
    };
    let v = multi_leg_response(&s, &[ok(LegStatus::Success), ok(LegStatus::Success)], 0);
    assert_eq!(v["status"], "success");
    assert_eq!(v["message"], "2 of 2 legs placed");
    assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000Z");
    let v = multi_leg_response(&s, &[ok(LegStatus::Accepted), ok(LegStatus::Success)], 0);
    assert_eq!(v["status"], "success");
    assert_eq!(v["message"], "2 of 2 legs accepted");
    // A leg without a result did not run.
    let v = multi_leg_response(&s, &[ok(LegStatus::Accepted)], 0);
    assert_eq!(v["status"], "partial");
    assert_eq!(v["results"][1]["status"], "error");
    assert_eq!(v["results"][1]["message"], "not executed");
    let v = multi_leg_response(&s, &[], 0);
    assert_eq!(v["status"], "error");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    // Extra results are ignored.
    let v = multi_leg_response(
        &s,
        &[
            ok(LegStatus::Success),
            ok(LegStatus::Success),
            LegResult::error("x"),
        ],
        0,
    );
    assert_eq!(v["status"], "success");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
}
// ---------------------------------------------------------------------
// dedupe

#[test]
fn formatting_and_key_order_do_not_change_the_body_key() {
    let a = br#"{"ticker":"AAPL","action":"buy","quantity":"1","extras":{"x":1,"y":[1,2]}}"#;
    let b = b"{\r\n  \"extras\" : { \"y\" : [ 1 , 2 ], \"x\" : 1 },\n  \"quantity\": \"1\",\n\t\"action\": \"buy\", \"ticker\": \"AAPL\"\n}\n";
    let ka = dedupe_key("bot_1", &parse(a).unwrap(), a);
    let kb = dedupe_key("bot_1", &parse(b).unwrap(), b);
    assert_eq!(ka, kb);
    assert!(!ka.explicit);
    assert!(ka.key.starts_with("body:"));
    assert_eq!(ka.key.len(), "body:".len() + 64);
    assert!(
        ka.key[5..]
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    // The same key every time.
    assert_eq!(dedupe_key("bot_1", &parse(a).unwrap(), a), ka);
}

#[test]
fn different_bots_values_and_spellings_give_different_body_keys() {
    let a = br#"{"ticker":"AAPL","action":"buy","quantity":"1"}"#;
    let s = parse(a).unwrap();
    let k = dedupe_key("bot_1", &s, a).key;
    assert_ne!(dedupe_key("bot_2", &s, a).key, k);
    for other in [
        &br#"{"ticker":"AAPL","action":"buy","quantity":"2"}"#[..],
        br#"{"ticker":"AAPL","action":"buy","quantity":1}"#,
        br#"{"ticker":"AAPL","action":"sell","quantity":"1"}"#,
    ] {
        assert_ne!(dedupe_key("bot_1", &parse(other).unwrap(), other).key, k);
    }
}

#[test]
fn an_explicit_id_wins_over_the_body() {
    let a =
        br#"{"ticker":"AAPL","action":"buy","signal_id":"AAPL-2024-06-10T06:13:20Z","price":"1"}"#;
    let b =
        br#"{"ticker":"AAPL","action":"buy","signal_id":"AAPL-2024-06-10T06:13:20Z","price":"2"}"#;
    let ka = dedupe_key("bot_1", &parse(a).unwrap(), a);
    let kb = dedupe_key("bot_1", &parse(b).unwrap(), b);
    assert_eq!(ka, kb);
    assert!(ka.explicit);
    assert!(ka.key.starts_with("id:"));
    assert_ne!(dedupe_key("bot_2", &parse(a).unwrap(), a).key, ka.key);
    // An id key never equals a body key.
    let mut no_id = parse(a).unwrap();
    no_id.signal_id = None;
    assert_ne!(dedupe_key("bot_1", &no_id, a).key, ka.key);
}

#[test]
fn a_strategy_alert_is_deduped_by_symbol_order_id_action_and_time() {
    let body = |price: &str, action: &str| {
        format!(
            r#"{{"symbol":"BTCUSD","strategy_order_id":"long","strategy_order_action":"{action}","strategy_order_price":"{price}","time":"2024-06-10T06:13:20Z"}}"#
        )
    };
    let key = |b: String| dedupe_key("bot", &parse(b.as_bytes()).unwrap(), b.as_bytes());
    let k1 = key(body("100", "buy"));
    assert!(k1.explicit);
    assert_eq!(k1, key(body("101", "buy")));
    assert_ne!(k1, key(body("100", "sell")));
}

// ---------------------------------------------------------------------
// staleness

#[test]
fn staleness_needs_a_time_and_a_max_lag() {
    let now = 1_718_000_300_000;
    assert_eq!(check_staleness(None, Some(60), now), Ok(()));
    assert_eq!(check_staleness(Some(0), None, now), Ok(()));
    assert_eq!(check_staleness(Some(now - 60_000), Some(60), now), Ok(()));
    assert_eq!(
        check_staleness(Some(now + 5_000), Some(0), now),
        Ok(()),
        "clock skew"
    );
    let e = check_staleness(Some(now - 60_001), Some(60), now).unwrap_err();
    assert_eq!(e.code(), "stale_signal");
    assert_eq!(
        e,
        SignalError::Stale {
            age_ms: 60_001,
            max_lag_secs: 60
        }
    );
    assert_eq!(check_staleness(Some(i64::MIN), Some(u64::MAX), now), Ok(()));
    assert!(check_staleness(Some(i64::MIN), Some(1), i64::MAX).is_err());
}

#[test]
fn a_parsed_signal_feeds_the_staleness_check() {
    let s = p(r#"{"ticker":"AAPL","action":"buy","time":"2024-06-10T06:13:20Z","max_lag":"300"}"#);
    assert_eq!(
        check_staleness(s.time, s.max_lag, 1_718_000_000_000 + 300_000),
        Ok(())
    );
    assert_eq!(
        check_staleness(s.time, s.max_lag, 1_718_000_000_000 + 300_001)
            .unwrap_err()
            .code(),
        "stale_signal"
    );
}

// ---------------------------------------------------------------------
// templates

/// What TradingView would render for a strategy that went from `prev` to
/// `now` with a `action` order.
fn strategy_values(
    action: &'static str,
    prev: &'static str,
    now: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("ticker", "BTCUSD"),
        ("exchange", "BINANCE"),
        ("close", "64250.5"),
        ("interval", "15"),
        ("time", "2024-06-10T06:00:00Z"),
        ("timenow", "2024-06-10T06:13:20Z"),
        ("strategy.order.id", "Long"),
        ("strategy.order.action", action),
        ("strategy.order.contracts", "0.5"),
        ("strategy.order.price", "64250.5"),
        ("strategy.order.comment", "Long"),
        ("strategy.market_position", now),
        (
            "strategy.market_position_size",
            if now == "flat" { "0" } else { "0.5" },
        ),
        ("strategy.prev_market_position", prev),
        (
            "strategy.prev_market_position_size",
            if prev == "flat" { "0" } else { "0.5" },
        ),
    ]
}

fn template<'a>(all: &'a [AlertTemplate], name: &str) -> &'a AlertTemplate {
    all.iter().find(|t| t.name == name).unwrap()
}

#[test]
fn there_is_a_template_for_every_format() {
    let all = alert_templates("https://hooks.example.com/hooks/tradingview/tok", None);
    let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "strategy",
            "traderspost_strategy",
            "traderspost_buy",
            "traderspost_sell",
            "traderspost_exit",
            "multi_leg"
        ]
    );
    for f in [Format::Strategy, Format::TradersPost, Format::MultiLeg] {
        assert!(all.iter().any(|t| t.format == f));
    }
    for t in &all {
        // Valid JSON as pasted, before TradingView fills it in...
        serde_json::from_str::<Value>(&t.message).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        // ...which must not be taken for a signal.
        assert_eq!(
            err(&t.message).code(),
            "unreplaced_placeholder",
            "{}",
            t.name
        );
        assert!(
            t.notes
                .contains("https://hooks.example.com/hooks/tradingview/tok")
        );
        assert_eq!(
            t.webhook_url,
            "https://hooks.example.com/hooks/tradingview/tok"
        );
        assert!(!t.message.contains("secret"));
    }
    let strategy = &template(&all, "strategy").message;
    for placeholder in [
        "{{ticker}}",
        "{{strategy.order.action}}",
        "{{strategy.order.contracts}}",
        "{{strategy.order.price}}",
        "{{strategy.order.id}}",
        "{{timenow}}",
        "{{strategy.market_position}}",
        "{{strategy.prev_market_position}}",
    ] {
        assert!(strategy.contains(placeholder), "{placeholder}");
    }
}

#[test]
fn strategy_templates_round_trip_to_the_expected_intent() {
    let all = alert_templates("https://x/hooks/tradingview/t", None);
    for name in ["strategy", "traderspost_strategy"] {
        let t = template(&all, name);
        for (action, prev, now, kind, close_all) in [
            ("buy", "flat", "long", IntentKind::LongEntry, false),
            ("sell", "long", "flat", IntentKind::LongExit, true),
            ("sell", "flat", "short", IntentKind::ShortEntry, false),
            ("buy", "short", "flat", IntentKind::ShortExit, true),
        ] {
            let body = substitute_placeholders(&t.message, &strategy_values(action, prev, now));
            let s = p(&body);
            assert_eq!(s.symbol, "BTCUSD");
            assert_eq!(s.time, Some(1_718_000_000_000));
            assert!(s.signal_id.is_some(), "{name}: templates carry a dedupe id");
            let i = intent(&s).unwrap();
            assert_eq!(
                (i.kind, i.close_all),
                (kind, close_all),
                "{name} {action} {prev}→{now}"
            );
            if !close_all {
                assert_eq!(i.quantity, Some(d("0.5")));
            }
        }
    }
}

#[test]
fn indicator_and_multi_leg_templates_round_trip() {
    let all = alert_templates("https://x/hooks/tradingview/t", None);
    let values = strategy_values("buy", "flat", "long");
    for (name, kind) in [
        ("traderspost_buy", IntentKind::LongEntry),
        ("traderspost_sell", IntentKind::ShortEntry),
        ("traderspost_exit", IntentKind::Exit),
        ("multi_leg", IntentKind::Orders),
    ] {
        let body = substitute_placeholders(&template(&all, name).message, &values);
        let s = p(&body);
        assert_eq!(s.symbol, "BTCUSD", "{name}");
        assert_eq!(s.time, Some(1_718_000_000_000), "{name}");
        assert_eq!(intent(&s).unwrap().kind, kind, "{name}");
    }
    let s = p(&substitute_placeholders(
        &template(&all, "multi_leg").message,
        &values,
    ));
    assert_eq!(s.legs.len(), 1);
    assert_eq!(s.legs[0].exchange.as_deref(), Some("BINANCE"));
    assert_eq!(s.legs[0].meta.as_ref().unwrap()["interval"], "15");
    let s = p(&substitute_placeholders(
        &template(&all, "traderspost_buy").message,
        &values,
    ));
    assert_eq!(s.price, Some(d("64250.5")));
}

#[test]
fn templates_carry_the_secret_escaped() {
    let secret = r#"pa"ss\word"#;
    let all = alert_templates("https://x/hooks/tradingview/t", Some(secret));
    let values = strategy_values("buy", "flat", "long");
    for t in &all {
        let s = p(&substitute_placeholders(&t.message, &values));
        assert!(s.secret.unwrap().matches(secret), "{}", t.name);
    }
}

#[test]
fn substitution_leaves_unknown_placeholders_like_tradingview() {
    assert_eq!(
        substitute_placeholders(
            "{{ticker}}-{{plot_0}}-{{ticker}} {{open",
            &[("ticker", "AAPL")]
        ),
        "AAPL-{{plot_0}}-AAPL {{open"
    );
}

// ---------------------------------------------------------------------
// the manual test kit's example bodies

#[test]
fn the_example_signals_map_as_their_readme_says() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/signals");
    let expected = [
        ("strategy-long-entry.json", IntentKind::LongEntry),
        ("strategy-long-exit.json", IntentKind::LongExit),
        ("strategy-short-entry.json", IntentKind::ShortEntry),
        ("strategy-short-exit.json", IntentKind::ShortExit),
        ("multi-leg-buy.json", IntentKind::Orders),
        ("multi-leg-two-legs.json", IntentKind::Orders),
        ("traderspost-buy.json", IntentKind::LongEntry),
        ("traderspost-buy-with-sl-tp.json", IntentKind::LongEntry),
        (
            "traderspost-add.json",
            IntentKind::Add {
                side: Some(Side::Long),
            },
        ),
        ("traderspost-sell-short.json", IntentKind::ShortEntry),
        ("traderspost-exit.json", IntentKind::Exit),
        ("traderspost-cancel.json", IntentKind::Cancel),
    ];
    for (file, kind) in expected {
        let Ok(body) = std::fs::read(dir.join(file)) else {
            continue; // the kit may be reorganised; the tables are tested above
        };
        let s = parse(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(intent(&s).unwrap().kind, kind, "{file}");
    }
    if let Ok(body) = std::fs::read(dir.join("traderspost-text-plain-placeholder.txt")) {
        assert_eq!(parse(&body).unwrap_err().code(), "malformed_json");
    }
}
