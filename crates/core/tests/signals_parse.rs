//! TradingView signal bodies: parsing each format, and the errors.

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

/// Asserts a schema error's code and path.
fn schema(body: &str, code: &str, path: &str) -> String {
    let e = err(body);
    assert_eq!(e.code(), code, "{body}\n→ {e}");
    assert_eq!(e.path(), Some(path), "{body}\n→ {e}");
    e.to_string()
}

// ---------------------------------------------------------------------
// (a) strategy alerts

const REFERENCE_STRATEGY: &str = r#"{"symbol":"BTCUSD","strategy_order_id":"long","strategy_order_action":"buy",
 "strategy_order_contracts":0.5,"strategy_order_price":64250.5,
 "strategy_order_comment":"long","time":1718000000000}"#;

#[test]
fn the_reference_strategy_alert_parses() {
    let s = p(REFERENCE_STRATEGY);
    assert_eq!(s.format, Format::Strategy);
    assert_eq!(s.symbol, "BTCUSD");
    assert_eq!(s.action, Action::Buy);
    assert_eq!(s.order_id.as_deref(), Some("long"));
    assert_eq!(s.quantity, Some(d("0.5")));
    assert_eq!(s.price, Some(d("64250.5")));
    assert_eq!(s.comment.as_deref(), Some("long"));
    assert_eq!(s.time, Some(1_718_000_000_000));
    assert_eq!(
        s.signal_id.as_deref(),
        Some("BTCUSD|long|buy|1718000000000")
    );
    assert!(s.legs.is_empty());
    assert!(s.secret.is_none());
    assert_eq!(s.raw["strategy_order_price"], json!(64250.5));
    let i = intent(&s).unwrap();
    assert_eq!(i.kind, IntentKind::LongEntry);
    assert_eq!(i.quantity, Some(d("0.5")));
    assert_eq!(i.order_type, OrderKind::Market);
    assert_eq!(i.order_side, Some(OrderSide::Buy));
}

/// Everything but `raw`, to compare bodies that differ only in spelling.
fn without_raw(mut s: ParsedSignal) -> ParsedSignal {
    s.raw = Value::Null;
    s
}

#[test]
fn quoted_numbers_and_padded_strings_read_like_numbers() {
    let quoted = p(
        r#"{"symbol":"BTCUSD","strategy_order_id":"long","strategy_order_action":"buy",
        "strategy_order_contracts":"0.5","strategy_order_price":" 64250.5 ",
        "strategy_order_comment":"long","time":"1718000000000"}"#,
    );
    assert_eq!(without_raw(quoted), without_raw(p(REFERENCE_STRATEGY)));
}

#[test]
fn scientific_numbers_are_read_exactly() {
    let s = p(
        r#"{"symbol":"SHIBUSD","strategy_order_action":"buy","strategy_order_id":"long",
        "strategy_order_contracts":1e6,"strategy_order_price":"1.2e-5"}"#,
    );
    assert_eq!(s.quantity, Some(d("1000000")));
    assert_eq!(s.price, Some(d("0.000012")));
}

#[test]
fn thousands_separators_are_refused_with_a_reason() {
    let msg = schema(
        r#"{"symbol":"X","strategy_order_action":"buy","strategy_order_contracts":"1,234.5"}"#,
        "invalid_number",
        "strategy_order_contracts",
    );
    assert!(msg.contains("thousands separator"), "{msg}");
    schema(
        r#"{"symbol":"X","strategy_order_action":"buy","strategy_order_price":"NaN"}"#,
        "invalid_number",
        "strategy_order_price",
    );
    schema(
        r#"{"symbol":"X","strategy_order_action":"buy","strategy_order_price":true}"#,
        "invalid_number",
        "strategy_order_price",
    );
}

#[test]
fn unreplaced_placeholders_name_the_field() {
    let msg = schema(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","strategy_order_contracts":"{{strategy.order.contracts}}"}"#,
        "unreplaced_placeholder",
        "strategy_order_contracts",
    );
    assert!(msg.contains("{{strategy.order.contracts}}"), "{msg}");
    schema(
        r#"{"symbol":"{{ticker}}","strategy_order_action":"buy"}"#,
        "unreplaced_placeholder",
        "symbol",
    );
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"{{strategy.order.action}}"}"#,
        "unreplaced_placeholder",
        "strategy_order_action",
    );
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","time":"{{timenow}}"}"#,
        "unreplaced_placeholder",
        "time",
    );
    // Free text is checked too: the comment placeholder falls back to the
    // order id in a strategy, so a literal one means a misconfiguration.
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","strategy_order_comment":"{{strategy.order.comment}}"}"#,
        "unreplaced_placeholder",
        "strategy_order_comment",
    );
}

#[test]
fn placeholders_in_fields_not_read_are_passed_through() {
    let s = p(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","strategy_order_id":"long",
        "note":"{{plot_0}}","extras":{"bar":"{{interval}}"}}"#,
    );
    assert_eq!(s.extras, Some(json!({"bar":"{{interval}}"})));
    assert_eq!(s.raw["note"], json!("{{plot_0}}"));
}

#[test]
fn empty_strings_and_nulls_are_absent() {
    let s = p(
        r#"{"symbol":"AAPL","strategy_order_action":"sell","strategy_order_id":"long",
        "strategy_order_contracts":"","strategy_order_price":null,"strategy_order_comment":"  ",
        "strategy_market_position":"","time":"","max_lag":"","signal_id":""}"#,
    );
    assert_eq!(s.quantity, None);
    assert_eq!(s.price, None);
    assert_eq!(s.comment, None);
    assert_eq!(s.market_position, None);
    assert_eq!(s.time, None);
    assert_eq!(s.max_lag, None);
    assert_eq!(s.signal_id, None);
}

#[test]
fn actions_and_positions_are_case_insensitive() {
    let s = p(
        r#"{"symbol":"AAPL","strategy_order_action":"BUY","strategy_market_position":"Long",
        "strategy_prev_market_position":"FLAT"}"#,
    );
    assert_eq!(s.action, Action::Buy);
    assert_eq!(s.market_position, Some(MarketPosition::Long));
    assert_eq!(s.prev_market_position, Some(MarketPosition::Flat));
}

#[test]
fn strategy_field_errors_carry_their_path() {
    schema(
        r#"{"symbol":"AAPL","strategy_order_id":"long"}"#,
        "missing_field",
        "strategy_order_action",
    );
    schema(
        r#"{"strategy_order_action":"buy"}"#,
        "missing_field",
        "symbol",
    );
    schema(
        r#"{"symbol":"","strategy_order_action":"buy"}"#,
        "missing_field",
        "symbol",
    );
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"hold"}"#,
        "invalid_action",
        "strategy_order_action",
    );
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"exit"}"#,
        "invalid_action",
        "strategy_order_action",
    );
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","strategy_market_position":"up"}"#,
        "invalid_value",
        "strategy_market_position",
    );
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","strategy_order_contracts":0}"#,
        "invalid_number",
        "strategy_order_contracts",
    );
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","strategy_order_contracts":"-1"}"#,
        "invalid_number",
        "strategy_order_contracts",
    );
    schema(
        r#"{"symbol":["AAPL"],"strategy_order_action":"buy"}"#,
        "invalid_type",
        "symbol",
    );
}

#[test]
fn a_strategy_alert_may_name_its_symbol_ticker_or_send_it_unquoted() {
    assert_eq!(
        p(r#"{"ticker":"AAPL","strategy_order_action":"buy"}"#).symbol,
        "AAPL"
    );
    assert_eq!(
        p(r#"{"symbol":7203,"strategy_order_action":"buy"}"#).symbol,
        "7203"
    );
}

#[test]
fn times_may_be_rfc3339_seconds_or_millis() {
    for time in [
        r#""2024-06-10T06:13:20Z""#,
        r#""2024-06-10T06:13:20.000+00:00""#,
        "1718000000",
        "1718000000000",
        r#""1718000000""#,
    ] {
        let s = p(&format!(
            r#"{{"symbol":"AAPL","strategy_order_action":"buy","time":{time}}}"#
        ));
        assert_eq!(s.time, Some(1_718_000_000_000), "{time}");
    }
    // `timestamp` (3Commas) when there is no `time`.
    let s =
        p(r#"{"symbol":"AAPL","strategy_order_action":"buy","timestamp":"2024-06-10T06:13:20Z"}"#);
    assert_eq!(s.time, Some(1_718_000_000_000));
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","time":"10 June 2024"}"#,
        "invalid_time",
        "time",
    );
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","time":-1}"#,
        "invalid_time",
        "time",
    );
    schema(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","timestamp":{}}"#,
        "invalid_time",
        "timestamp",
    );
}

#[test]
fn max_lag_is_whole_seconds() {
    let s = p(r#"{"symbol":"AAPL","strategy_order_action":"buy","max_lag":"300"}"#);
    assert_eq!(s.max_lag, Some(300));
    assert_eq!(
        p(r#"{"symbol":"AAPL","strategy_order_action":"buy","max_lag":60}"#).max_lag,
        Some(60)
    );
    for bad in [r#""1.5""#, "-1", r#""soon""#] {
        schema(
            &format!(r#"{{"symbol":"AAPL","strategy_order_action":"buy","max_lag":{bad}}}"#),
            "invalid_number",
            "max_lag",
        );
    }
}

#[test]
fn the_secret_is_read_but_never_shown() {
    let s = p(r#"{"secret":"hunter2","symbol":"AAPL","strategy_order_action":"buy"}"#);
    let secret = s.secret.as_ref().unwrap();
    assert!(secret.matches("hunter2"));
    assert_eq!(secret.expose(), "hunter2");
    assert_eq!(s.raw["secret"], json!(REDACTED));
    let shown = format!("{s:?} {}", serde_json::to_string(&s).unwrap());
    assert!(!shown.contains("hunter2"), "{shown}");
    schema(
        r#"{"secret":123,"symbol":"AAPL","strategy_order_action":"buy"}"#,
        "invalid_type",
        "secret",
    );
}

#[test]
fn extras_are_passed_through_and_must_be_an_object() {
    let s = p(r#"{"ticker":"AAPL","action":"buy","extras":{"a":[1,2],"b":{"c":null}}}"#);
    assert_eq!(s.extras, Some(json!({"a":[1,2],"b":{"c":null}})));
    schema(
        r#"{"ticker":"AAPL","action":"buy","extras":"x"}"#,
        "invalid_type",
        "extras",
    );
}

#[test]
fn an_explicit_id_is_taken_from_signal_id_id_or_alert_timestamp_in_that_order() {
    let base = r#""ticker":"AAPL","action":"buy""#;
    let id = |fields: &str| p(&format!("{{{base},{fields}}}")).signal_id;
    assert_eq!(
        id(r#""alertTimestamp":"AAPL-2024""#).as_deref(),
        Some("AAPL-2024")
    );
    assert_eq!(id(r#""alertTimestamp":"a","id":"b""#).as_deref(), Some("b"));
    assert_eq!(
        id(r#""alertTimestamp":"a","id":"b","signal_id":"c""#).as_deref(),
        Some("c")
    );
    assert_eq!(id(r#""note":"x""#), None);
    // An explicit id also wins over the strategy's derived one.
    let s = p(
        r#"{"symbol":"AAPL","strategy_order_action":"buy","strategy_order_id":"long","time":1718000000,"id":"mine"}"#,
    );
    assert_eq!(s.signal_id.as_deref(), Some("mine"));
    // Without a time there is no derived id.
    let s = p(r#"{"symbol":"AAPL","strategy_order_action":"buy","strategy_order_id":"long"}"#);
    assert_eq!(s.signal_id, None);
}

// ---------------------------------------------------------------------
// bodies as TradingView sends them

#[test]
fn text_plain_bodies_are_just_bytes() {
    // CRLF line ends, a trailing newline, a byte-order mark, tabs.
    let body = "\u{feff}{\r\n\t\"ticker\": \"AAPL\",\r\n\t\"action\": \"buy\"\r\n}\r\n";
    let s = parse(body.as_bytes()).unwrap();
    assert_eq!(s.symbol, "AAPL");
    assert_eq!(s.action, Action::Buy);
}

#[test]
fn an_unquoted_placeholder_that_rendered_empty_is_malformed_json() {
    let body = "{\"ticker\":\"AAPL\",\n\"action\":\"buy\",\n\"price\": ,\"time\":1}";
    match parse(body.as_bytes()).unwrap_err() {
        SignalError::MalformedJson {
            line,
            column,
            message,
        } => {
            assert_eq!(line, 3);
            assert!(column >= 10, "{column}");
            assert!(!message.contains("line"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err("").code(), "malformed_json");
    assert_eq!(err("buy AAPL").code(), "malformed_json");
    assert_eq!(err("{\"ticker\":\"AAPL\"").code(), "malformed_json");
}

#[test]
fn a_body_that_is_not_an_object_is_a_schema_error() {
    for body in ["[1,2]", "\"buy\"", "42", "null"] {
        schema(body, "not_an_object", "$");
    }
}

#[test]
fn unknown_and_ambiguous_formats_say_what_was_expected() {
    let msg = schema("{}", "unknown_format", "$");
    assert!(msg.contains("strategy_order_action"), "{msg}");
    assert!(msg.contains("order_legs"), "{msg}");
    assert!(msg.contains("`ticker` and `action`"), "{msg}");
    let msg = schema(r#"{"ticker":"AAPL"}"#, "unknown_format", "$");
    assert!(msg.contains("no `action`"), "{msg}");
    let msg = schema(r#"{"action":"buy"}"#, "unknown_format", "$");
    assert!(msg.contains("no `ticker`"), "{msg}");
    let msg = schema(
        r#"{"ticker":"AAPL","action":"buy","strategy_order_action":"buy"}"#,
        "unknown_format",
        "$",
    );
    assert!(msg.contains("ambiguous"), "{msg}");
    schema(
        r#"{"order_legs":[],"strategy_order_id":"x"}"#,
        "unknown_format",
        "$",
    );
}
