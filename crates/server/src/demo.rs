//! `tradehook demo`: the whole service on a temporary database, fed by a
//! bundled replay, so a newcomer sees it work with no account and no
//! internet.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tradehook_core::crypto::SecretBox;
use tradehook_core::ids::new_id;
use tradehook_core::time::now_ms;
use tradehook_core::webhook::signing::WebhookSecret;
use tradehook_feeds::FeedEvent;
use tradehook_store::{EndpointRecord, NewRule};

use crate::app::App;
use crate::config::{Config, Secret};

/// 12 hours of 1-minute candles for BTC, ETH and SOL with a few sharp
/// moves (made by scripts/make_demo_data.py).
const DATASET: &str = include_str!("../demo/market.csv");

/// Rules the demo starts with: one of each family, set to fire on the
/// bundled data.
fn demo_rules() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    Value,
    &'static str,
)> {
    vec![
        (
            "BTC crosses 100k",
            "BTC",
            "price_threshold",
            json!({"operator": "crossing", "threshold": 100000}),
            "once_per_bar",
        ),
        (
            "BTC above 104k (once)",
            "BTC",
            "price_threshold",
            json!({"operator": ">=", "threshold": 104000}),
            "once",
        ),
        (
            "SOL moves 1.5% in 15 min",
            "SOL",
            "percent_move",
            json!({"percent": 1.5, "window_seconds": 900, "direction": "either"}),
            "once_per_bar",
        ),
        (
            "ETH RSI(14) 5m overbought",
            "ETH",
            "rsi",
            json!({"period": 14, "interval": "5m", "threshold": 70, "direction": "overbought"}),
            "once_per_bar",
        ),
        (
            "ETH MACD 5m bullish cross",
            "ETH",
            "macd_cross",
            json!({"fast": 12, "slow": 26, "signal": 9, "interval": "5m", "direction": "bullish"}),
            "once_per_bar",
        ),
        (
            "BTC breaks upper Bollinger 5m",
            "BTC",
            "bollinger_bands",
            json!({"period": 20, "std_dev": 2, "interval": "5m", "band": "upper", "event": "touch"}),
            "once_per_bar",
        ),
    ]
}

pub async fn run(mut config: Config, speed: f64) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("tradehook-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("market.csv");
    std::fs::write(&data, DATASET)?;
    let admin = format!("demo-{}", &new_id("k")[2..18]);
    config.database_url = format!("sqlite://{}", dir.join("demo.db").display());
    config.admin_key = Some(Secret::new(admin.clone()));
    config.secrets_key = Some(Secret::new(SecretBox::generate_key()));
    config.market.source = "replay".into();
    config.market.replay_file = data.display().to_string();
    config.market.replay_speed = speed;
    config.market.symbols = "BTC,ETH,SOL".into();
    config.market.intervals = "1m,5m".into();
    config.validate()?;

    let app = App::build(config).await?;
    let state = app.state().clone();
    // A `log` endpoint that records every event in process.
    let now = now_ms();
    state
        .store
        .insert_endpoint(&EndpointRecord {
            id: new_id("ep"),
            kind: "log".into(),
            url: "log://demo".into(),
            description: "demo: records every event".into(),
            event_types: vec!["*".into()],
            filter_symbols: None,
            filter_rule_ids: None,
            filter_bot_ids: None,
            enabled: true,
            disabled_reason: None,
            rate_limit_per_minute: None,
            max_concurrency: 8,
            headers: BTreeMap::new(),
            secret: state.sealer.seal(&WebhookSecret::generate().expose()),
            previous_secret: None,
            previous_secret_expires_at: None,
            signature_scheme: "standard".into(),
            signature_header: None,
            telegram_chat_id: None,
            telegram_bot_token: None,
            retry_schedule: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
            owner_rule_id: None,
            body_format: "envelope".into(),
        })
        .await?;
    for (name, symbol, rule_type, config, frequency) in demo_rules() {
        state
            .store
            .insert_rule(
                &NewRule {
                    id: new_id("rul"),
                    name: name.into(),
                    symbol: symbol.into(),
                    rule_type: rule_type.into(),
                    config,
                    frequency: frequency.into(),
                    cooldown_seconds: 0,
                    enabled: true,
                    expires_at: None,
                    discord_webhook_url: None,
                    generic_webhook_url: None,
                    created_at: now,
                },
                &[],
            )
            .await?;
    }
    let addr = app.local_addr();
    println!("tradehook demo is running (data in {}).", dir.display());
    println!();
    println!("  API docs:   http://{addr}/docs");
    println!("  Metrics:    http://{addr}/metrics");
    println!("  Admin key:  {admin}");
    println!("  Try:        curl -s -H 'X-API-Key: {admin}' 'http://{addr}/api/v1/prices'");
    println!(
        "              curl -s -H 'X-API-Key: {admin}' 'http://{addr}/api/v1/candles?symbol=BTC&interval=1m&limit=5'"
    );
    println!(
        "              curl -s -N -H 'X-API-Key: {admin}' 'http://{addr}/api/v1/events/stream'"
    );
    println!("              curl -s -H 'X-API-Key: {admin}' 'http://{addr}/api/v1/rules'");
    println!("              curl -s -H 'X-API-Key: {admin}' 'http://{addr}/api/v1/alerts'");
    println!();
    println!("Example rules (alerts print below as they fire):");
    for (name, symbol, rule_type, config, frequency) in demo_rules() {
        println!("  {name:<28} {symbol:<4} {rule_type:<16} {config} ({frequency})");
    }
    println!();
    println!("Replaying 12 hours of BTC, ETH and SOL at {speed}x. Press Ctrl-C to stop.");

    let token = app.shutdown_token();
    let mut feed = state.market.subscribe();
    let log = state.log_sink.clone();
    let printer = tokio::spawn(async move {
        let mut seen = 0;
        loop {
            tokio::select! {
                event = feed.recv() => match event {
                    Ok(FeedEvent::CandleClosed(c)) if c.interval.as_str() == "5m" => {
                        let change = (c.close - c.open) / c.open * 100.0;
                        println!("{} {:<4} 5m candle closed  O {:>10.2}  C {:>10.2}  {:+.2}%",
                            tradehook_core::event::rfc3339_ms(c.open_time), c.symbol, c.open, c.close, change);
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                },
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    let entries = log.entries();
                    for e in entries.iter().skip(seen) {
                        let d = &e.event.data;
                        if e.event.event_type == "alert.triggered" {
                            println!("ALERT {} {:<4} {} — {} @ {} (window {})",
                                d["feed_time"].as_str().unwrap_or(""),
                                d["symbol"].as_str().unwrap_or(""),
                                d["rule_name"].as_str().unwrap_or(""),
                                d["condition"].as_str().unwrap_or(""),
                                d["price"], d["window_start"].as_str().unwrap_or(""));
                        } else {
                            println!("event delivered to the log endpoint: {} {}", e.event.event_type, d);
                        }
                    }
                    seen = entries.len();
                }
            }
        }
    });
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        token.cancel();
    });
    let result = app.run().await;
    printer.abort();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
