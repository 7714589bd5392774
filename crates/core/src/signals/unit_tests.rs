use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::json;

use super::read::{Obj, has_placeholder, parse_decimal_text};
use super::*;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[test]
fn decimal_text_accepts_plain_and_scientific_numbers() {
    for (text, want) in [
        ("0.5", "0.5"),
        ("+2", "2"),
        ("-3.25", "-3.25"),
        (".5", "0.5"),
        ("5.", "5"),
        ("1e-3", "0.001"),
        ("1.5E2", "150"),
        ("64250.5", "64250.5"),
    ] {
        assert_eq!(parse_decimal_text(text), Some(dec(want)), "{text}");
    }
}

#[test]
fn decimal_text_refuses_separators_words_and_junk() {
    for text in [
        "", "1,234.5", "1 000", "1_000", "NaN", "inf", "-", ".", "1.2.3", "1e", "0x10", "1e+",
        "12abc",
    ] {
        assert_eq!(parse_decimal_text(text), None, "{text}");
    }
}

#[test]
fn placeholders_are_found_only_when_closed() {
    assert!(has_placeholder("{{strategy.order.contracts}}"));
    assert!(has_placeholder("x-{{ticker}}-y"));
    assert!(!has_placeholder("{{ not closed"));
    assert!(!has_placeholder("}} {{"));
    assert!(!has_placeholder("plain"));
}

#[test]
fn times_below_ten_to_the_eleven_are_seconds() {
    let v = json!({
        "s": 1_718_000_000,
        "ms": 1_718_000_000_000_i64,
        "s_str": "1718000000",
        "frac": 1_718_000_000.25,
        "iso": "2024-06-10T06:13:20Z",
        "offset": "2024-06-10T08:13:20+02:00",
        "neg": -5,
        "bad": "yesterday",
    });
    let o = Obj::root(v.as_object().unwrap());
    assert_eq!(o.time_opt("s").unwrap(), Some(1_718_000_000_000));
    assert_eq!(o.time_opt("ms").unwrap(), Some(1_718_000_000_000));
    assert_eq!(o.time_opt("s_str").unwrap(), Some(1_718_000_000_000));
    assert_eq!(o.time_opt("frac").unwrap(), Some(1_718_000_000_250));
    assert_eq!(o.time_opt("iso").unwrap(), Some(1_718_000_000_000));
    assert_eq!(o.time_opt("offset").unwrap(), Some(1_718_000_000_000));
    assert_eq!(o.time_opt("absent").unwrap(), None);
    assert_eq!(o.time_opt("neg").unwrap_err().code(), "invalid_time");
    assert_eq!(o.time_opt("bad").unwrap_err().code(), "invalid_time");
}

#[test]
fn nested_paths_join_with_dots() {
    let v = json!({"takeProfit": {"percent": "x"}});
    let o = Obj::root(v.as_object().unwrap());
    let tp = o.obj_opt("takeProfit").unwrap().unwrap();
    let err = tp
        .dec_opt("percent", super::read::Sign::Positive)
        .unwrap_err();
    assert_eq!(err.path(), Some("takeProfit.percent"));
    assert_eq!(err.code(), "invalid_number");
}

#[test]
fn canonical_body_sorts_keys_recursively_and_drops_whitespace() {
    let a = br#"{ "b": 1, "a": {"y": [1, {"q":2,"p":1}], "x": "s p"} }"#;
    assert_eq!(
        canonical_body(a),
        br#"{"a":{"x":"s p","y":[1,{"p":1,"q":2}]},"b":1}"#.to_vec()
    );
    assert_eq!(canonical_body(b"not json "), b"not json ".to_vec());
}

#[test]
fn order_id_side_reads_common_names() {
    for (id, want) in [
        ("long", Some(Side::Long)),
        ("Long", Some(Side::Long)),
        ("Exit Long", Some(Side::Long)),
        ("buy", Some(Side::Long)),
        ("sell", Some(Side::Short)),
        ("Short Entry", Some(Side::Short)),
        ("short_tp", Some(Side::Short)),
        ("long/short", None),
        ("TP1", None),
        ("buyback", None),
    ] {
        assert_eq!(order_id_side(id), want, "{id}");
    }
}

#[test]
fn body_secret_is_redacted_and_compared_in_full() {
    let s = BodySecret::new("hunter2");
    assert_eq!(format!("{s:?}"), "BodySecret(***)");
    assert!(s.matches("hunter2"));
    assert!(!s.matches("hunter"));
    assert!(!s.matches("hunter3"));
}
