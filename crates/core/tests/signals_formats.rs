//! TradingView signal bodies: the TradersPost-style and multi-leg formats.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::json;
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
// (c) TradersPost-style

#[test]
fn a_full_traderspost_body_parses() {
    let s = p(r#"{
        "ticker":"MNQU2025","action":"Buy","sentiment":"long","quantity":"2",
        "quantityType":"fixed_quantity","price":"19000.25","signalPrice":19000,
        "orderType":"LIMIT","limitPrice":"18990.5","timeInForce":"GTC",
        "takeProfit":{"percent":"10"},
        "stopLoss":{"type":"stop_limit","stopPrice":"18900","limitPrice":18890},
        "extendedHours":"true","cancel":false,"test":true,"time":"2024-06-10T06:13:20Z",
        "comment":"breakout","unknownField":{"ignored":true}
    }"#);
    assert_eq!(s.format, Format::TradersPost);
    assert_eq!(s.symbol, "MNQU2025");
    assert_eq!(s.action, Action::Buy);
    assert_eq!(s.sentiment, Some(Sentiment::Bullish));
    assert_eq!(s.quantity, Some(d("2")));
    assert_eq!(s.quantity_type, Some(QuantityType::FixedQuantity));
    assert_eq!(s.price, Some(d("19000.25")));
    assert_eq!(s.signal_price, Some(d("19000")));
    assert_eq!(s.order_type, Some(OrderKind::Limit));
    assert_eq!(s.limit_price, Some(d("18990.5")));
    assert_eq!(s.time_in_force.as_deref(), Some("gtc"));
    assert_eq!(
        s.take_profit,
        Some(TpSl {
            percent: Some(d("10")),
            ..TpSl::default()
        })
    );
    assert_eq!(
        s.stop_loss,
        Some(TpSl {
            kind: Some(OrderKind::StopLimit),
            price: Some(d("18900")),
            limit_price: Some(d("18890")),
            ..TpSl::default()
        })
    );
    assert_eq!(s.extended_hours, Some(true));
    assert_eq!(s.cancel_open_orders, Some(false));
    assert_eq!(s.test, Some(true));
    assert_eq!(s.time, Some(1_718_000_000_000));
    assert_eq!(s.comment.as_deref(), Some("breakout"));

    let i = intent(&s).unwrap();
    assert_eq!(i.kind, IntentKind::LongEntry);
    assert_eq!(i.order_type, OrderKind::Limit);
    assert_eq!(i.limit_price, Some(d("18990.5")));
    assert_eq!(i.price, Some(d("19000.25")));
    assert_eq!(i.take_profit, s.take_profit);
    assert_eq!(i.stop_loss, s.stop_loss);
}

#[test]
fn option_tickers_keep_their_spaces_inside() {
    assert_eq!(
        p(r#"{"ticker":" SQ 240510C68 ","action":"buy"}"#).symbol,
        "SQ 240510C68"
    );
}

#[test]
fn traderspost_field_errors_carry_their_path() {
    let b = |fields: &str| format!(r#"{{"ticker":"AAPL","action":"buy",{fields}}}"#);
    schema(
        r#"{"ticker":"AAPL","action":"hold"}"#,
        "invalid_action",
        "action",
    );
    schema(
        r#"{"ticker":"AAPL","action":""}"#,
        "missing_field",
        "action",
    );
    schema(r#"{"ticker":"","action":"buy"}"#, "missing_field", "ticker");
    schema(&b(r#""sentiment":"up""#), "invalid_sentiment", "sentiment");
    schema(&b(r#""quantity":0"#), "invalid_number", "quantity");
    schema(&b(r#""quantity":"two""#), "invalid_number", "quantity");
    schema(
        &b(r#""quantityType":"shares""#),
        "invalid_value",
        "quantityType",
    );
    schema(&b(r#""orderType":"iceberg""#), "invalid_value", "orderType");
    schema(
        &b(r#""timeInForce":"forever""#),
        "invalid_value",
        "timeInForce",
    );
    schema(
        &b(r#""extendedHours":"yes""#),
        "invalid_value",
        "extendedHours",
    );
    schema(&b(r#""extendedHours":1"#), "invalid_type", "extendedHours");
    schema(&b(r#""takeProfit":"10%""#), "invalid_type", "takeProfit");
    schema(
        &b(r#""takeProfit":{"percent":10,"amount":5}"#),
        "conflicting_fields",
        "takeProfit.amount",
    );
    schema(
        &b(r#""takeProfit":{}"#),
        "missing_field",
        "takeProfit.limitPrice",
    );
    schema(
        &b(r#""takeProfit":{"percent":"-5"}"#),
        "invalid_number",
        "takeProfit.percent",
    );
    schema(
        &b(r#""stopLoss":{"type":"trailing_stop"}"#),
        "missing_field",
        "stopLoss.trailAmount",
    );
    schema(
        &b(r#""stopLoss":{"type":"stop","percent":5,"trailPercent":1}"#),
        "conflicting_fields",
        "stopLoss.trailPercent",
    );
    schema(
        &b(r#""stopLoss":{"percent":5,"limitPrice":100}"#),
        "conflicting_fields",
        "stopLoss.limitPrice",
    );
    schema(
        &b(r#""stopLoss":{"type":"market","percent":5}"#),
        "invalid_value",
        "stopLoss.type",
    );
    schema(
        &b(r#""orderType":"trailing_stop""#),
        "missing_field",
        "trailAmount",
    );
    schema(
        &b(r#""trailAmount":1,"trailPercent":2"#),
        "conflicting_fields",
        "trailPercent",
    );
    schema(
        &b(r#""quantityType":"risk_dollar_amount","quantity":100"#),
        "missing_field",
        "stopLoss",
    );
}

#[test]
fn traderspost_stop_losses_and_trailing_stops_parse() {
    let s = p(
        r#"{"ticker":"AAPL","action":"sell","orderType":"trailing_stop","trailPercent":"1.5",
        "quantityType":"risk_dollar_amount","quantity":100,
        "stopLoss":{"type":"trailing_stop","trailAmount":"2"}}"#,
    );
    assert_eq!(s.order_type, Some(OrderKind::TrailingStop));
    assert_eq!(s.trail_percent, Some(d("1.5")));
    assert_eq!(s.quantity_type, Some(QuantityType::RiskDollarAmount));
    assert_eq!(
        s.stop_loss,
        Some(TpSl {
            kind: Some(OrderKind::TrailingStop),
            trail_amount: Some(d("2")),
            ..TpSl::default()
        })
    );
    let s = p(
        r#"{"ticker":"AAPL","action":"buy","stopLoss":{"amount":"3"},"takeProfit":{"limitPrice":"200"}}"#,
    );
    assert_eq!(s.stop_loss.unwrap().amount, Some(d("3")));
    assert_eq!(s.take_profit.unwrap().price, Some(d("200")));
}

// ---------------------------------------------------------------------
// (b) multi-leg

const MULTI_LEG: &str = r#"{"secret":"s3cret","alertType":"multi_leg_order","order_legs":[
 {"transactionType":"B","orderType":"LMT","quantity":"50","exchange":"NSE",
  "symbol":"NIFTY24JUNFUT","instrument":"FUT","productType":"M","sort_order":"1",
  "price":"101.5","meta":{"interval":"15","time":"2024-06-10T06:00:00Z","timenow":"2024-06-10T06:13:20Z"}},
 {"transactionType":"s","orderType":"SL-M","quantity":25,"exchange":"NSE",
  "symbol":"NIFTY24JUN23000CE","instrument":"ce","productType":"I","sort_order":2,"price":"0"}]}"#;

#[test]
fn the_reference_multi_leg_body_parses() {
    let s = p(MULTI_LEG);
    assert_eq!(s.format, Format::MultiLeg);
    assert_eq!(s.alert_type, Some(AlertType::MultiLegOrder));
    assert_eq!(s.symbol, "NIFTY24JUNFUT");
    assert_eq!(s.action, Action::Buy);
    assert!(s.secret.as_ref().unwrap().matches("s3cret"));
    assert_eq!(s.time, Some(1_718_000_000_000), "meta.timenow of leg 1");
    assert_eq!(s.legs.len(), 2);
    let a = &s.legs[0];
    assert_eq!(a.index, 0);
    assert_eq!(a.transaction, OrderSide::Buy);
    assert_eq!(a.order_type, OrderKind::Limit);
    assert_eq!(a.quantity, d("50"));
    assert_eq!(a.price, Some(d("101.5")));
    assert_eq!(a.exchange.as_deref(), Some("NSE"));
    assert_eq!(a.instrument, Some(Instrument::Fut));
    assert_eq!(a.product_type, Some(ProductType::Margin));
    assert_eq!(a.sort_order, Some(1));
    assert_eq!(a.meta.as_ref().unwrap()["interval"], json!("15"));
    let b = &s.legs[1];
    assert_eq!(b.transaction, OrderSide::Sell);
    assert_eq!(b.order_type, OrderKind::Stop);
    assert_eq!(b.quantity, d("25"));
    assert_eq!(b.price, None, "price \"0\" is absent");
    assert_eq!(b.instrument, Some(Instrument::Ce));
    assert_eq!(b.product_type, Some(ProductType::Intraday));
    assert_eq!(b.sort_order, Some(2));
    let i = intent(&s).unwrap();
    assert_eq!(i.kind, IntentKind::Orders);
    assert_eq!(i.quantity, None);
    assert_eq!(i.order_side, None);
}

#[test]
fn multi_leg_errors_point_at_the_leg() {
    let leg = r#"{"transactionType":"B","orderType":"MKT","quantity":"1","symbol":"A"}"#;
    let with_second = |second: &str| format!(r#"{{"order_legs":[{leg},{second}]}}"#);
    schema(
        &with_second(r#"{"transactionType":"B","orderType":"MKT","symbol":"B"}"#),
        "missing_field",
        "order_legs[1].quantity",
    );
    schema(
        &with_second(
            r#"{"transactionType":"B","orderType":"MKT","quantity":"{{strategy.order.contracts}}","symbol":"B"}"#,
        ),
        "unreplaced_placeholder",
        "order_legs[1].quantity",
    );
    schema(
        &with_second(r#"{"transactionType":"X","orderType":"MKT","quantity":"1","symbol":"B"}"#),
        "invalid_action",
        "order_legs[1].transactionType",
    );
    schema(
        &with_second(r#"{"transactionType":"B","orderType":"LMT","quantity":"1","symbol":"B"}"#),
        "missing_field",
        "order_legs[1].price",
    );
    schema(
        &with_second(r#"{"transactionType":"B","orderType":"GTT","quantity":"1","symbol":"B"}"#),
        "invalid_value",
        "order_legs[1].orderType",
    );
    schema(
        &with_second(
            r#"{"transactionType":"B","orderType":"MKT","quantity":"1","symbol":"B","instrument":"BOND"}"#,
        ),
        "invalid_value",
        "order_legs[1].instrument",
    );
    schema(
        &with_second(
            r#"{"transactionType":"B","orderType":"MKT","quantity":"1","symbol":"B","sort_order":"1.5"}"#,
        ),
        "invalid_number",
        "order_legs[1].sort_order",
    );
    schema(
        &with_second(r#"{"transactionType":"B","orderType":"MKT","quantity":"1","symbol":""}"#),
        "missing_field",
        "order_legs[1].symbol",
    );
    schema(&with_second("\"leg\""), "invalid_type", "order_legs[1]");
}

#[test]
fn multi_leg_shape_errors() {
    schema(r#"{"order_legs":{}}"#, "invalid_type", "order_legs");
    schema(r#"{"order_legs":[]}"#, "missing_field", "order_legs");
    schema(
        r#"{"alertType":"multi_leg_order"}"#,
        "missing_field",
        "order_legs",
    );
    schema(
        r#"{"alertType":"basket","order_legs":[]}"#,
        "invalid_value",
        "alertType",
    );
    let leg = r#"{"transactionType":"B","orderType":"MKT","quantity":"1","symbol":"A"}"#;
    schema(
        &format!(r#"{{"alertType":"single_order","order_legs":[{leg},{leg}]}}"#),
        "invalid_value",
        "order_legs",
    );
    schema(
        r#"{"order_legs":[{"transactionType":"B","orderType":"MKT","quantity":"1","symbol":"A","meta":{"timenow":"{{timenow}}"}}]}"#,
        "unreplaced_placeholder",
        "order_legs[0].meta.timenow",
    );
}

#[test]
fn single_orders_and_cancels_parse() {
    let leg = r#"{"transactionType":"SELL","orderType":"mkt","quantity":"1","symbol":"A"}"#;
    let s = p(&format!(
        r#"{{"alertType":"single_order","order_legs":[{leg}]}}"#
    ));
    assert_eq!(s.alert_type, Some(AlertType::SingleOrder));
    assert_eq!(s.action, Action::Sell);
    // Without alertType a body with legs is a multi-leg order.
    let s = p(&format!(r#"{{"order_legs":[{leg}]}}"#));
    assert_eq!(s.alert_type, Some(AlertType::MultiLegOrder));

    let s = p(r#"{"alertType":"cancel_order","order_legs":[{"symbol":"NIFTY"}]}"#);
    assert_eq!(s.action, Action::Cancel);
    assert_eq!(s.symbol, "NIFTY");
    assert!(s.legs.is_empty());
    assert_eq!(intent(&s).unwrap().kind, IntentKind::Cancel);
    let s = p(r#"{"alertType":"cancel_order","symbol":"NIFTY"}"#);
    assert_eq!(s.symbol, "NIFTY");
    schema(
        r#"{"alertType":"cancel_order"}"#,
        "missing_field",
        "order_legs",
    );
    schema(
        r#"{"alertType":"cancel_order","order_legs":[{}]}"#,
        "missing_field",
        "order_legs[0].symbol",
    );
}
