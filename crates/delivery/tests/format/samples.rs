//! One realistic event per type, with a fixed id and time so snapshots
//! are stable. The shapes follow what the other subsystems emit.

use serde_json::{Value, json};
use tradehook_core::event::Event;

/// 2026-11-23T01:16:22.788Z.
pub const TIMESTAMP_MS: i64 = 1_795_396_582_788;

pub fn event(event_type: &str, data: Value) -> Event {
    Event {
        id: "evt_0192f5c2a1b27c3d8e9f0a1b2c3d4e5f".into(),
        event_type: event_type.into(),
        timestamp_ms: TIMESTAMP_MS,
        data,
    }
}

/// The sample event for `event_type`, or `None` if there is none yet.
pub fn sample(event_type: &str) -> Option<Event> {
    sample_data(event_type).map(|data| event(event_type, data))
}

fn order(status: &str, extra: Value) -> Value {
    let mut data = json!({
        "order_id": "ord_0192f5c2b3c47d5e9f0a1b2c3d4e5f60",
        "client_order_id": "th-bot1-20261123-0001",
        "bot_id": "bot_0192f5c2c4d58e6fa01b2c3d4e5f6071",
        "bot_name": "BTC trend",
        "broker": "alpaca",
        "symbol": "BTCUSD",
        "side": "buy",
        "type": "limit",
        "qty": "0.5",
        "limit_price": "100300",
        "status": status,
    });
    let (Value::Object(base), Value::Object(extra)) = (&mut data, extra) else {
        unreachable!("both are objects");
    };
    base.extend(extra);
    data
}

fn signal(extra: Value) -> Value {
    let mut data = json!({
        "signal_id": "sig_0192f5c2d5e69f70b12c3d4e5f607182",
        "bot_id": "bot_0192f5c2c4d58e6fa01b2c3d4e5f6071",
        "bot_name": "BTC trend",
        "symbol": "BTCUSD",
        "action": "buy",
        "sentiment": "bullish",
        "quantity": 0.5,
        "price": 100250.0,
        "format": "strategy",
    });
    let (Value::Object(base), Value::Object(extra)) = (&mut data, extra) else {
        unreachable!("both are objects");
    };
    base.extend(extra);
    data
}

fn sample_data(event_type: &str) -> Option<Value> {
    let bot = json!({
        "bot_id": "bot_0192f5c2c4d58e6fa01b2c3d4e5f6071",
        "bot_name": "BTC trend",
    });
    Some(match event_type {
        "alert.triggered" => json!({
            "alert_id": "alr_0192f5c2e6f7a081c23d4e5f60718293",
            "rule_id": "rul_0192f5c2f708b192d34e5f6071829304",
            "rule_name": "BTC breakout",
            "symbol": "BTCUSD",
            "rule_type": "price_cross",
            "price": 100250.5,
            "condition": "Price crossed above 100,000 (close > level).",
            "direction": "up",
            "indicators": { "rsi_14": 71.3, "sma_50": 97420.25, "volume_ratio": "1.8" },
            "window_start": "2026-11-23T01:15:00Z",
            "window_end": "2026-11-23T01:16:00Z",
        }),
        "price_alert.triggered" => json!({
            "alert_id": "rul_0192f5c2f708b192d34e5f6071829304",
            "rule_id": "rul_0192f5c2f708b192d34e5f6071829304",
            "event": "price_alert_triggered",
            "symbol": "BTC",
            "condition": "above",
            "target_price": 100000.0,
            "current_price": 100012.5,
            "condition_met": true,
            "timestamp": "2026-11-23T01:16:22.788Z",
            "sources": ["hyperliquid"],
        }),
        "alert.expired" => json!({
            "rule_id": "rul_0192f5c2f708b192d34e5f6071829304",
            "rule_name": "ETH dip < 3k",
            "symbol": "ETHUSD",
            "expired_at": "2026-11-23T00:00:00Z",
        }),
        "signal.received" => signal(json!({})),
        "signal.rejected" => signal(json!({
            "action": "sell",
            "sentiment": null,
            "format": "traderspost",
            "reason": "Bot is paused (global stop-loss); signals are ignored until it is resumed.",
        })),
        "order.submitted" => order("accepted", json!({})),
        "order.filled" => order(
            "filled",
            json!({ "filled_qty": "0.5", "filled_avg_price": "100250.00" }),
        ),
        "order.partially_filled" => order(
            "partially_filled",
            json!({ "filled_qty": "0.2", "filled_avg_price": "100249.5" }),
        ),
        "order.rejected" => order(
            "rejected",
            json!({
                "side": "sell",
                "type": "market",
                "limit_price": null,
                "reason": "insufficient qty available for order (requested: 0.5, available: 0.1)",
            }),
        ),
        "order.canceled" => order("canceled", json!({ "broker": "paper" })),
        "risk.global_stop_loss" => json!({
            "bot_id": "bot_0192f5c2c4d58e6fa01b2c3d4e5f6071",
            "bot_name": "BTC trend",
            "equity": 9480.12,
            "base_equity": 10000,
            "threshold_pct": 5,
            "action": "liquidated_and_paused",
        }),
        "risk.global_take_profit" => json!({
            "bot_id": "bot_0192f5c2c4d58e6fa01b2c3d4e5f6071",
            "bot_name": "BTC trend",
            "equity": "12034.5",
            "base_equity": "10000",
            "threshold_pct": 20,
            "action": "notified",
        }),
        "bot.paused" => {
            let mut data = bot;
            data["reason"] = json!("Paused by an operator from the dashboard.");
            data
        }
        "bot.resumed" => bot,
        "cleanup.orders_canceled" => json!({
            "bot_id": "bot_0192f5c2c4d58e6fa01b2c3d4e5f6071",
            "bot_name": "BTC trend",
            "orders": [
                { "order_id": "ord_0192f5c2b3c47d5e9f0a1b2c3d4e5f61", "symbol": "BTCUSD", "client_order_id": "th-bot1-20261123-0002" },
                { "order_id": "ord_0192f5c2b3c47d5e9f0a1b2c3d4e5f62", "symbol": "ETHUSD", "client_order_id": "th-bot1-20261123-0003" },
            ],
            "count": 2,
        }),
        "endpoint.disabled" => json!({
            "endpoint_id": "ep_0192f5c2a9b8c7d6e5f4a3b2c1d0e9f8",
            "url": "https://hooks.example.com/tradehook/***",
            "reason": "The endpoint answered 410 Gone; it will not be retried.",
        }),
        "endpoint.test" => json!({
            "endpoint_id": "ep_0192f5c2a9b8c7d6e5f4a3b2c1d0e9f8",
            "message": "This is a test event from tradehook.",
        }),
        _ => return None,
    })
}
