//! `tradehook rules`: manage alert rules from the command line, against
//! the configured database. A running service applies the changes within
//! `rules.poll_interval_ms`, as it does for another replica's changes.

use anyhow::{Context, bail};
use clap::Subcommand;
use tradehook_core::event::rfc3339_ms;
use tradehook_core::ids::new_id;
use tradehook_core::time::now_ms;
use tradehook_rules::{Frequency, RuleConfig};
use tradehook_store::{NewRule, RuleFilter, RulePatch, Store, StoreError};

use crate::app::connect_and_migrate;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Create a rule; prints its id.
    Create {
        /// A name shown in alerts.
        #[arg(long)]
        name: String,
        /// A followed symbol (market.symbols), e.g. BTC.
        #[arg(long)]
        symbol: String,
        /// price_threshold, percent_move, candle_close, macd_cross, rsi,
        /// bollinger_bands, channel or price_alert.
        #[arg(long = "type", value_name = "RULE_TYPE")]
        rule_type: String,
        /// The type's `config` as JSON, e.g. '{"operator":"crossing_up","threshold":100000}'.
        #[arg(long, value_name = "JSON")]
        settings: String,
        /// once, once_per_bar, once_per_bar_close, once_per_minute or every_time.
        #[arg(long, default_value = "once_per_bar")]
        frequency: String,
        /// Minimum seconds between two alerts.
        #[arg(long, default_value_t = 0)]
        cooldown: u64,
    },
    /// List rules (id, state, symbol, type, condition).
    List {
        #[arg(long)]
        symbol: Option<String>,
        #[arg(long = "type", value_name = "RULE_TYPE")]
        rule_type: Option<String>,
    },
    /// Stop evaluating a rule until it is enabled again.
    Disable { id: String },
    /// Evaluate a disabled rule again.
    Enable { id: String },
    /// Delete a rule (its alerts stay).
    Delete { id: String },
}

pub async fn run(config: Config, cmd: RulesCommand) -> anyhow::Result<()> {
    let store = connect_and_migrate(&config).await?;
    let result = execute(&config, &store, cmd).await;
    store.close().await;
    result
}

async fn execute(config: &Config, store: &Store, cmd: RulesCommand) -> anyhow::Result<()> {
    match cmd {
        RulesCommand::Create {
            name,
            symbol,
            rule_type,
            settings: json,
            frequency,
            cooldown,
        } => {
            let value: serde_json::Value =
                serde_json::from_str(&json).context("--settings is not valid JSON")?;
            let parsed = RuleConfig::parse(&rule_type, &value).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {}",
                    e.path.replacen("config", "--settings", 1),
                    e.message
                )
            })?;
            let frequency = Frequency::parse(&frequency)
                .map_err(|e| anyhow::anyhow!("--frequency: {}", e.message))?;
            if name.trim().is_empty() || name.chars().count() > 200 {
                bail!("--name: 1 to 200 characters");
            }
            let followed = config.market.symbol_list();
            if !followed.iter().any(|s| s == &symbol) {
                bail!(
                    "--symbol: `{symbol}` is not followed (market.symbols is {})",
                    followed.join(",")
                );
            }
            if let Some(interval) = parsed.interval() {
                let kept = config.market.interval_list().map_err(anyhow::Error::msg)?;
                if !kept.contains(&interval) {
                    bail!(
                        "--settings interval: {interval} candles are not kept (market.intervals)"
                    );
                }
            }
            let record = store
                .insert_rule(
                    &NewRule {
                        id: new_id("rul"),
                        name: name.trim().to_string(),
                        symbol,
                        rule_type: parsed.rule_type().as_str().to_string(),
                        config: parsed.to_json(),
                        frequency: frequency.as_str().to_string(),
                        cooldown_seconds: cooldown.min(30 * 86_400) as i64,
                        enabled: true,
                        expires_at: None,
                        discord_webhook_url: None,
                        generic_webhook_url: None,
                        created_at: now_ms(),
                    },
                    &[],
                )
                .await?;
            println!("{}", record.id);
        }
        RulesCommand::List { symbol, rule_type } => {
            let mut after = None;
            loop {
                let page = store
                    .list_rules(&RuleFilter {
                        symbol: symbol.clone(),
                        rule_type: rule_type.clone(),
                        after: after.clone(),
                        limit: 500,
                        ..Default::default()
                    })
                    .await?;
                for r in &page {
                    let state = if r.status == "active" && !r.enabled {
                        "disabled"
                    } else {
                        r.status.as_str()
                    };
                    println!(
                        "{}  {:<9} {:<6} {:<16} {:<40} {}  last fired {}",
                        r.id,
                        state,
                        r.symbol,
                        r.rule_type,
                        crate::evaluator::describe(&r.rule_type, &r.config),
                        r.frequency,
                        r.last_fired_at
                            .map(rfc3339_ms)
                            .unwrap_or_else(|| "never".into())
                    );
                }
                if page.len() < 500 {
                    break;
                }
                after = page.last().map(|r| r.id.clone());
            }
        }
        RulesCommand::Disable { id } => {
            set_enabled(store, &id, false)
                .await
                .map_err(not_found(&id))?;
            println!("disabled {id}");
        }
        RulesCommand::Enable { id } => {
            set_enabled(store, &id, true)
                .await
                .map_err(not_found(&id))?;
            println!("enabled {id}");
        }
        RulesCommand::Delete { id } => {
            store.delete_rule(&id).await.map_err(not_found(&id))?;
            println!("deleted {id}");
        }
    }
    Ok(())
}

fn not_found(id: &str) -> impl Fn(StoreError) -> anyhow::Error + '_ {
    move |e| match e {
        StoreError::NotFound => anyhow::anyhow!("no rule with id `{id}`"),
        e => e.into(),
    }
}

async fn set_enabled(store: &Store, id: &str, enabled: bool) -> Result<(), StoreError> {
    store
        .update_rule(
            id,
            &RulePatch {
                enabled: Some(enabled),
                ..Default::default()
            },
        )
        .await
        .map(|_| ())
}
