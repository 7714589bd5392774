//! TradingView signals: the mapping tables from signal to trade intent.

use std::str::FromStr;

use rust_decimal::Decimal;
use tradehook_core::signals::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn p(body: &str) -> ParsedSignal {
    parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}\n→ {e:?}"))
}

fn intent_of(body: &str) -> Intent {
    intent(&p(body)).unwrap_or_else(|e| panic!("{body}\n→ {e:?}"))
}

// ---------------------------------------------------------------------
// the mapping tables

/// A table outcome in the words of the `intent` module's doc tables.
fn describe(o: Outcome) -> String {
    match o {
        Outcome::Reject(code) => format!("refused: `{code}`"),
        Outcome::Trade {
            kind,
            close_all,
            reverse,
        } => {
            let mut s = match kind {
                IntentKind::Add {
                    side: Some(Side::Long),
                } => "Add long".to_string(),
                IntentKind::Add {
                    side: Some(Side::Short),
                } => "Add short".to_string(),
                IntentKind::Add { side: None } => "Add, open side".to_string(),
                other => format!("{other:?}"),
            };
            if close_all {
                s.push_str(", close all");
            } else if matches!(kind, IntentKind::LongExit | IntentKind::ShortExit) {
                s.push_str(", partial");
            }
            if reverse {
                s.push_str(", reversal");
            }
            s
        }
    }
}

fn pos(p: Option<MarketPosition>) -> &'static str {
    match p {
        None => "–",
        Some(MarketPosition::Long) => "long",
        Some(MarketPosition::Flat) => "flat",
        Some(MarketPosition::Short) => "short",
    }
}

fn side_word(s: OrderSide) -> &'static str {
    match s {
        OrderSide::Buy => "buy",
        OrderSide::Sell => "sell",
    }
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Buy => "buy",
        Action::Sell => "sell",
        Action::Exit => "exit",
        Action::Cancel => "cancel",
        Action::Add => "add",
    }
}

fn sentiment_word(s: Option<Sentiment>) -> &'static str {
    match s {
        None => "–",
        Some(Sentiment::Bullish) => "bullish",
        Some(Sentiment::Bearish) => "bearish",
        Some(Sentiment::Flat) => "flat",
    }
}

const INTENT_DOC: &str = include_str!("../src/signals/intent/mod.rs");

fn assert_documented(row: String) {
    let line = format!("//! {row}\n");
    assert!(
        INTENT_DOC.contains(&line),
        "row missing from the doc table: {row}"
    );
}

/// Checks `intent` of `body` against a table outcome.
fn check_outcome(body: &str, outcome: Outcome, quantity: Option<Decimal>, reject_path: &str) {
    let parsed = p(body);
    match outcome {
        Outcome::Reject(code) => {
            let e = intent(&parsed).unwrap_err();
            assert_eq!(e.code(), code.as_str(), "{body}");
            assert_eq!(e.path(), Some(reject_path), "{body}");
        }
        Outcome::Trade {
            kind,
            close_all,
            reverse,
        } => {
            let i = intent(&parsed).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(i.kind, kind, "{body}");
            assert_eq!(i.close_all, close_all, "{body}");
            assert_eq!(i.reverse, reverse, "{body}");
            assert_eq!(i.side, kind.side(), "{body}");
            assert_eq!(i.order_side, kind.order_side(), "{body}");
            assert_eq!(i.symbol, "AAPL");
            let sized = !close_all
                && !matches!(
                    kind,
                    IntentKind::Exit | IntentKind::Cancel | IntentKind::Orders
                );
            assert_eq!(i.quantity, if sized { quantity } else { None }, "{body}");
        }
    }
}

#[test]
fn every_row_of_the_strategy_position_table() {
    let mut seen = std::collections::HashSet::new();
    for row in STRATEGY_POSITION_TABLE {
        assert!(
            seen.insert((row.action, row.prev, row.now)),
            "duplicate {row:?}"
        );
        assert_documented(format!(
            "| {} | {} | {} | {} |",
            side_word(row.action),
            pos(row.prev),
            pos(Some(row.now)),
            describe(row.outcome)
        ));
        let prev = row
            .prev
            .map(|p| format!(r#","strategy_prev_market_position":"{}""#, pos(Some(p))))
            .unwrap_or_default();
        // The order id says the opposite of the position fields, to show
        // that the market position wins.
        let body = format!(
            r#"{{"symbol":"AAPL","strategy_order_id":"TP1","strategy_order_action":"{}","strategy_order_contracts":"2","strategy_market_position":"{}"{prev}}}"#,
            side_word(row.action),
            pos(Some(row.now)),
        );
        check_outcome(&body, row.outcome, Some(d("2")), "strategy_market_position");
    }
    assert_eq!(seen.len(), 2 * 4 * 3, "every combination");
}

#[test]
fn every_row_of_the_strategy_order_id_table() {
    let mut seen = std::collections::HashSet::new();
    for row in STRATEGY_ORDER_ID_TABLE {
        assert!(seen.insert((row.order_id_side, row.action)));
        let side = match row.order_id_side {
            Side::Long => "long",
            Side::Short => "short",
        };
        assert_documented(format!(
            "| {side} | {} | {} |",
            side_word(row.action),
            describe(row.outcome)
        ));
        // The reference's own ids, then other spellings of the same side.
        let ids: &[&str] = match row.order_id_side {
            Side::Long => &["long", "Long", "Exit Long", "buy"],
            Side::Short => &["sell", "short", "Short Entry", "SELL"],
        };
        for id in ids {
            let body = format!(
                r#"{{"symbol":"AAPL","strategy_order_id":"{id}","strategy_order_action":"{}","strategy_order_contracts":3}}"#,
                side_word(row.action)
            );
            check_outcome(&body, row.outcome, Some(d("3")), "");
        }
    }
    assert_eq!(seen.len(), 4);
}

#[test]
fn the_reference_order_id_table_maps_as_documented() {
    let kind = |id: &str, action: &str| {
        intent_of(&format!(
            r#"{{"symbol":"BTCUSD","strategy_order_id":"{id}","strategy_order_action":"{action}"}}"#
        ))
        .kind
    };
    assert_eq!(kind("long", "buy"), IntentKind::LongEntry);
    assert_eq!(kind("long", "sell"), IntentKind::LongExit);
    assert_eq!(kind("sell", "sell"), IntentKind::ShortEntry);
    assert_eq!(kind("sell", "buy"), IntentKind::ShortExit);
}

#[test]
fn a_strategy_alert_without_position_or_clear_id_is_ambiguous() {
    let e = intent(&p(
        r#"{"symbol":"AAPL","strategy_order_id":"TP1","strategy_order_action":"sell"}"#,
    ))
    .unwrap_err();
    assert_eq!(e.code(), "ambiguous_trade");
    assert_eq!(e.path(), Some("strategy_order_id"));
    assert!(
        e.to_string().contains("{{strategy.market_position}}"),
        "{e}"
    );
    let e = intent(&p(r#"{"symbol":"AAPL","strategy_order_action":"sell"}"#)).unwrap_err();
    assert_eq!(e.code(), "ambiguous_trade");
    assert_eq!(e.path(), Some("strategy_market_position"));
}

#[test]
fn every_row_of_the_traderspost_table() {
    let mut seen = std::collections::HashSet::new();
    for row in TRADERSPOST_TABLE {
        assert!(
            seen.insert((row.action, row.sentiment)),
            "duplicate {row:?}"
        );
        assert_documented(format!(
            "| {} | {} | {} |",
            action_word(row.action),
            sentiment_word(row.sentiment),
            describe(row.outcome)
        ));
        let sentiments: Vec<Option<&str>> = match row.sentiment {
            None => vec![None],
            // Upper case, and the long/short aliases.
            Some(Sentiment::Bullish) => vec![Some("BULLISH"), Some("long")],
            Some(Sentiment::Bearish) => vec![Some("bearish"), Some("Short")],
            Some(Sentiment::Flat) => vec![Some("flat")],
        };
        for sentiment in sentiments {
            let sentiment = sentiment
                .map(|s| format!(r#","sentiment":"{s}""#))
                .unwrap_or_default();
            let body = format!(
                r#"{{"ticker":"AAPL","action":"{}","quantity":"5"{sentiment}}}"#,
                action_word(row.action).to_uppercase()
            );
            check_outcome(&body, row.outcome, Some(d("5")), "sentiment");
        }
    }
    assert_eq!(seen.len(), 5 * 4, "every combination");
}

#[test]
fn every_row_of_the_multi_leg_table() {
    for row in MULTI_LEG_TABLE {
        let name = match row.alert_type {
            AlertType::MultiLegOrder => "multi_leg_order",
            AlertType::SingleOrder => "single_order",
            AlertType::CancelOrder => "cancel_order",
        };
        assert_documented(format!("| {name} | {} |", describe(row.outcome)));
        let body = format!(
            r#"{{"alertType":"{name}","order_legs":[{{"transactionType":"B","orderType":"MKT","quantity":"1","symbol":"AAPL"}}]}}"#
        );
        check_outcome(&body, row.outcome, None, "");
    }
}

#[test]
fn an_exit_ignores_size_and_a_partial_exit_keeps_it() {
    let i = intent_of(r#"{"ticker":"AAPL","action":"exit","quantity":"7"}"#);
    assert_eq!(i.kind, IntentKind::Exit);
    assert_eq!(i.quantity, None);
    assert!(i.close_all);
    assert_eq!(i.side, None);
    assert_eq!(i.order_side, None);
    let i = intent_of(r#"{"ticker":"AAPL","action":"sell","sentiment":"flat","quantity":"7"}"#);
    assert_eq!(
        (i.kind, i.quantity, i.close_all),
        (IntentKind::LongExit, None, true)
    );
    let i = intent_of(r#"{"ticker":"AAPL","action":"sell","sentiment":"bullish","quantity":"7"}"#);
    assert_eq!(
        (i.kind, i.quantity, i.close_all),
        (IntentKind::LongExit, Some(d("7")), false)
    );
    // Partial exit without a size: the bot's default.
    let i = intent_of(r#"{"ticker":"AAPL","action":"sell","sentiment":"bullish"}"#);
    assert_eq!((i.quantity, i.close_all), (None, false));
}

#[test]
fn intent_defaults_and_carried_fields() {
    let i = intent_of(
        r#"{"ticker":"AAPL","action":"buy","quantity":"1000","quantityType":"dollar_amount","signalPrice":"190.5","cancel":"TRUE"}"#,
    );
    assert_eq!(i.quantity_type, QuantityType::DollarAmount);
    assert_eq!(i.order_type, OrderKind::Market);
    assert_eq!(
        i.price,
        Some(d("190.5")),
        "signalPrice when there is no price"
    );
    assert!(i.cancel_open_orders);
    let i = intent_of(r#"{"ticker":"AAPL","action":"buy"}"#);
    assert_eq!(i.quantity_type, QuantityType::FixedQuantity);
    assert_eq!(i.quantity, None);
    assert!(!i.cancel_open_orders);
    assert!(!i.reverse);
    let i = intent_of(r#"{"ticker":"AAPL","action":"add","quantity":"1"}"#);
    assert_eq!(i.kind, IntentKind::Add { side: None });
    assert_eq!(i.quantity, Some(d("1")));
    assert_eq!(i.order_side, None);
}

#[test]
fn a_reversal_buys_the_new_position_size() {
    let body = |extra: &str| {
        format!(
            r#"{{"symbol":"AAPL","strategy_order_action":"sell","strategy_order_contracts":"3",
            "strategy_market_position":"short","strategy_prev_market_position":"long"{extra}}}"#
        )
    };
    let q = |extra: &str| {
        let i = intent_of(&body(extra));
        assert_eq!(i.kind, IntentKind::ShortEntry);
        assert!(i.reverse);
        i.quantity
    };
    assert_eq!(q(r#","strategy_market_position_size":"2""#), Some(d("2")));
    assert_eq!(
        q(r#","strategy_prev_market_position_size":"1""#),
        Some(d("2"))
    );
    assert_eq!(q(""), Some(d("3")), "contracts alone");
}

#[test]
fn inconsistent_positions_say_what_happened() {
    let e = intent(&p(r#"{"symbol":"AAPL","strategy_order_action":"buy",
        "strategy_market_position":"short","strategy_prev_market_position":"flat"}"#))
    .unwrap_err();
    assert_eq!(e.code(), "inconsistent_position");
    assert!(
        e.to_string()
            .contains("a buy cannot take the position from flat to short"),
        "{e}"
    );
}
