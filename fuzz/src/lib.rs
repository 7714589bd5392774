//! The checks behind the fuzz targets in `fuzz_targets/`.
//!
//! Each check takes the raw fuzz input, calls the parser under test, and
//! asserts more than "no panic" on what it accepts: a parse of the
//! output it produced gives the same value again (round trip), and a few
//! invariants the parser documents hold.

pub mod signals {
    //! TradingView intake (`tradehook_core::signals::parse`).

    use serde_json::{Map, Value, json};
    use tradehook_core::signals::{
        AlertType, Format, ParsedSignal, SchemaCode, SignalError, canonical_body, dedupe_key,
        intent, multi_leg_response, parse,
    };

    /// The keys that tell the formats apart (see `parse::detect`).
    const STRATEGY_KEYS: &[&str] = &["strategy_order_action", "strategy_order_id"];
    const MULTI_LEG_KEYS: &[&str] = &["alertType", "order_legs"];

    /// Parses `data` as it is, then (when it is a JSON object) the same
    /// object coerced into `format`'s shape, so that the mutations of a
    /// seed keep reaching that format's parser.
    pub fn check(data: &[u8], format: Format) {
        if let Ok(signal) = parse(data) {
            check_accepted(data, &signal);
        }
        let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let coerced = serde_json::to_vec(&Value::Object(coerce(map, format))).expect("serialises");
        match parse(&coerced) {
            Ok(signal) => {
                assert_eq!(
                    signal.format, format,
                    "coerced body parsed as another format"
                );
                check_accepted(&coerced, &signal);
            }
            Err(SignalError::Schema { code, path, .. }) => {
                assert_ne!(
                    code,
                    SchemaCode::UnknownFormat,
                    "a body coerced into {format:?} must be recognised ({path})"
                );
            }
            Err(e) => panic!("a re-serialised object cannot be malformed JSON: {e}"),
        }
    }

    /// Keeps only `format`'s marker keys and adds one when none is there.
    fn coerce(mut map: Map<String, Value>, format: Format) -> Map<String, Value> {
        match format {
            Format::Strategy => {
                for k in MULTI_LEG_KEYS.iter().chain(&["action"]) {
                    map.remove(*k);
                }
                if !STRATEGY_KEYS.iter().any(|k| map.contains_key(*k)) {
                    map.insert("strategy_order_action".into(), json!("buy"));
                }
                map
            }
            Format::MultiLeg => {
                for k in STRATEGY_KEYS.iter().chain(&["action"]) {
                    map.remove(*k);
                }
                if MULTI_LEG_KEYS.iter().any(|k| map.contains_key(*k)) {
                    map
                } else {
                    // A flat object becomes the single leg of an order.
                    let mut outer = Map::new();
                    outer.insert("alertType".into(), json!("single_order"));
                    outer.insert("order_legs".into(), json!([Value::Object(map)]));
                    outer
                }
            }
            Format::TradersPost => {
                for k in STRATEGY_KEYS.iter().chain(MULTI_LEG_KEYS) {
                    map.remove(*k);
                }
                map.entry("ticker").or_insert_with(|| json!("BTCUSD"));
                map.entry("action").or_insert_with(|| json!("buy"));
                map
            }
        }
    }

    fn check_accepted(body: &[u8], s: &ParsedSignal) {
        // Documented invariants.
        for q in [
            s.quantity,
            s.price,
            s.signal_price,
            s.limit_price,
            s.stop_price,
        ]
        .into_iter()
        .flatten()
        {
            assert!(q > rust_decimal_zero(), "quantities and prices are > 0");
        }
        match s.format {
            Format::MultiLeg if s.alert_type != Some(AlertType::CancelOrder) => {
                assert!(!s.legs.is_empty(), "an order has legs");
                assert_eq!(s.symbol, s.legs[0].symbol);
                if s.alert_type == Some(AlertType::SingleOrder) {
                    assert_eq!(s.legs.len(), 1);
                }
                for (i, leg) in s.legs.iter().enumerate() {
                    assert_eq!(leg.index, i);
                    assert!(leg.quantity > rust_decimal_zero());
                }
            }
            Format::MultiLeg => assert!(s.legs.is_empty()),
            _ => assert!(s.legs.is_empty(), "only multi-leg bodies have legs"),
        }

        // Round trip: the stored (redacted) body parses to the same signal.
        let raw = serde_json::to_vec(&s.raw).expect("raw serialises");
        // serde_json (without its `float_roundtrip` feature) may read a
        // long float literal 1 ulp off, so a float's text does not always
        // parse back to the same f64 (found by this target: `1.71807777…e39`).
        // That is serde_json's property, not the intake's: compare only
        // when the JSON value itself survives the trip.
        if serde_json::from_slice::<serde_json::Value>(&raw)
            .ok()
            .as_ref()
            != Some(&s.raw)
        {
            return;
        }
        let again = parse(&raw).unwrap_or_else(|e| panic!("the stored body is refused: {e}"));
        assert_eq!(again.secret.is_some(), s.secret.is_some());
        let (mut a, mut b) = (s.clone(), again);
        a.secret = None;
        b.secret = None;
        assert_eq!(a, b, "the stored body parses to the same signal");
        if s.secret.is_none() {
            assert_eq!(canonical_body(body), canonical_body(&raw));
        }

        // Everything downstream of parse takes what parse accepts.
        serde_json::to_string(s).expect("a signal serialises");
        assert_eq!(dedupe_key("bot", s, body), dedupe_key("bot", s, body));
        let _ = intent(s);
        if s.format == Format::MultiLeg {
            let answer = multi_leg_response(s, &[], 0);
            assert_eq!(
                answer["results"].as_array().map(Vec::len),
                Some(s.legs.len())
            );
        }
    }

    fn rust_decimal_zero() -> rust_decimal::Decimal {
        rust_decimal::Decimal::ZERO
    }
}

pub mod frames {
    //! Hyperliquid WebSocket frames (`tradehook_feeds::hyperliquid::frame`).

    use tradehook_feeds::hyperliquid::frame::{Frame, parse_frame, parse_frame_keeping};

    /// A cheap, arbitrary coin filter for `parse_frame_keeping`.
    fn odd(coin: &str) -> bool {
        coin.len() % 2 == 1
    }

    pub fn check(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let full = parse_frame(text);
        // Keeping a subset of the mids is the same as filtering them all.
        let kept = parse_frame_keeping(text, odd);
        match (&full, &kept) {
            (Ok(Frame::AllMids(all)), Ok(Frame::AllMids(some))) => {
                let filtered: Vec<_> = all.iter().filter(|(c, _)| odd(c)).cloned().collect();
                assert_eq!(&filtered, some);
            }
            _ => assert_eq!(full, kept),
        }
        let Ok(frame) = full else { return };
        match &frame {
            Frame::Candle(c) => {
                for v in [c.open, c.high, c.low, c.close, c.volume] {
                    assert!(v.is_finite());
                }
                assert!(c.open_time >= 0);
                assert_eq!(c.interval.bucket_start(c.open_time), c.open_time);
                let wire = serde_json::json!({
                    "channel": "candle",
                    "data": {
                        "t": c.open_time, "T": c.close_time(), "s": c.symbol,
                        "i": c.interval.as_str(), "o": c.open.to_string(),
                        "c": c.close.to_string(), "h": c.high.to_string(),
                        "l": c.low.to_string(), "v": c.volume.to_string(), "n": c.trades,
                    }
                });
                round_trip(&wire.to_string(), &frame);
            }
            Frame::Trades(trades) => {
                let wire: Vec<_> = trades
                    .iter()
                    .map(|t| {
                        assert!(t.price.is_finite() && t.size.is_finite());
                        serde_json::json!({
                            "coin": t.coin, "side": if t.buy { "B" } else { "A" },
                            "px": t.price.to_string(), "sz": t.size.to_string(),
                            "time": t.time, "tid": t.tid,
                        })
                    })
                    .collect();
                let wire = serde_json::json!({"channel": "trades", "data": wire});
                round_trip(&wire.to_string(), &frame);
            }
            Frame::AllMids(mids) => {
                // Written by hand: duplicate coins and their order are kept.
                let pairs: Vec<String> = mids
                    .iter()
                    .map(|(coin, px)| {
                        assert!(px.is_finite());
                        format!("{}:\"{px}\"", serde_json::Value::from(coin.as_str()))
                    })
                    .collect();
                let mids = format!("{{\"mids\":{{{}}}}}", pairs.join(","));
                // The one-pass path (channel first) and the envelope path
                // (data first) agree.
                round_trip(
                    &format!("{{\"channel\":\"allMids\",\"data\":{mids}}}"),
                    &frame,
                );
                round_trip(
                    &format!("{{\"data\":{mids},\"channel\":\"allMids\"}}"),
                    &frame,
                );
            }
            Frame::Pong => round_trip(r#"{"channel":"pong"}"#, &frame),
            Frame::Error(_) | Frame::Other(_) | Frame::SubscriptionResponse(_) => {}
        }
    }

    fn round_trip(wire: &str, expected: &Frame) {
        match parse_frame(wire) {
            Ok(f) => assert_eq!(&f, expected, "re-encoded frame {wire}"),
            Err(e) => panic!("re-encoded frame {wire} is refused: {e}"),
        }
    }
}

pub mod rules {
    //! Rule configs as `POST /api/v1/rules` receives them
    //! (`tradehook_rules::RuleConfig::parse`, `Frequency::parse`).

    use serde_json::Value;
    use tradehook_rules::{Frequency, RuleConfig, RuleType};

    /// The input is a rule body: `{"rule_type": …, "config": …,
    /// "frequency": …}` (other fields ignored).
    pub fn check(data: &[u8]) {
        let Ok(body) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let rule_type = body.get("rule_type").and_then(Value::as_str).unwrap_or("");
        let config = body.get("config").unwrap_or(&Value::Null);
        if let Ok(parsed) = RuleConfig::parse(rule_type, config) {
            assert_eq!(parsed.rule_type().as_str(), rule_type);
            assert_eq!(RuleType::parse(rule_type).ok(), Some(parsed.rule_type()));
            parsed.validate().expect("a parsed config validates");
            // The canonical JSON is accepted again, as a value and as text,
            // and is a fixed point.
            let canonical = parsed.to_json();
            assert!(canonical.is_object());
            assert_eq!(RuleConfig::parse(rule_type, &canonical), Ok(parsed));
            let text = canonical.to_string();
            let reread: Value = serde_json::from_str(&text).expect("canonical JSON parses");
            let again = RuleConfig::parse(rule_type, &reread).expect("canonical text accepted");
            assert_eq!(again, parsed);
            assert_eq!(again.to_json(), canonical);
            let _ = parsed.bar();
        }
        if let Some(f) = body.get("frequency").and_then(Value::as_str)
            && let Ok(freq) = Frequency::parse(f)
        {
            assert_eq!(freq.as_str(), f);
            assert_eq!(Frequency::parse(freq.as_str()), Ok(freq));
        }
    }
}
