//! The `tradehook` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tradehook_core::apikey::Role;

use crate::app::{App, connect_and_migrate};
use crate::config::{Config, Overrides, Sources};
use crate::{api, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "tradehook",
    version,
    about = "Connects trading signals to the places that act on them.",
    long_about = "tradehook watches markets, evaluates alert rules, receives TradingView alerts, \
        places broker orders under risk controls, and delivers every event to webhooks and chat.\n\n\
        Configuration layers, lowest to highest: embedded defaults, a TOML file (--config or \
        TRADEHOOK_CONFIG), TRADEHOOK_* environment variables, flags. \
        `tradehook config defaults` prints every key with its documentation."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// A TOML configuration file (overrides the defaults; overridden by
    /// TRADEHOOK_* variables and flags).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Log filter, e.g. `info` or `tradehook_server=debug`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format: auto, pretty or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP API, docs, metrics and background workers.
    /// Stops gracefully on SIGINT or SIGTERM.
    Serve {
        /// Address and port to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Run the whole service on a temporary database with a bundled market
    /// replay: no account, no internet. Prints what to open and what
    /// happens.
    Demo {
        /// Address and port to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Replay speed factor (1 = real time; 0 = as fast as possible).
        #[arg(long, default_value_t = 120.0)]
        speed: f64,
    },
    /// Apply pending database migrations (serve also does this at start).
    Migrate {
        /// Only list the migrations and whether each is applied.
        #[arg(long)]
        status: bool,
    },
    /// Fill candle history from Hyperliquid REST, with a progress bar.
    /// Resumes after the newest stored candle; safe to run again.
    Backfill {
        /// Coin, e.g. BTC (case-sensitive).
        #[arg(long)]
        symbol: String,
        /// Interval: 1m 3m 5m 15m 30m 1h 2h 4h 8h 12h 1d 3d 1w.
        #[arg(long, default_value = "1m")]
        interval: String,
        /// Start: a date (2026-01-01), an RFC 3339 time, or Unix ms.
        #[arg(long)]
        since: String,
        /// End (default: now).
        #[arg(long)]
        until: Option<String>,
    },
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage alert rules (a running service applies changes within a second).
    #[command(subcommand)]
    Rules(crate::rules_cli::RulesCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Compute technical indicators (TA-Lib conventions) over an OHLCV CSV
    /// file, e.g. --indicator rsi:14 --indicator macd:12,26,9.
    Indicators(crate::indicators_cli::IndicatorsArgs),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once. Only its hash is stored.
    Create {
        /// A name to recognise the key by (unique among live keys).
        name: String,
        /// admin (everything), write (everything but keys) or read (GET only).
        #[arg(long, default_value = "write")]
        role: Role,
        /// Requests per minute for this key (default: rate_limit.default_per_minute).
        #[arg(long, value_name = "N")]
        rpm: Option<i64>,
    },
    /// List keys (never their secrets).
    List {
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke {
        /// The key's id, as `keys list` shows it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets redacted.
    Show,
    /// Check the configuration and exit 0 if it is valid.
    Check,
    /// Print the documented defaults (a starting point for a file).
    Defaults,
    /// List every environment variable and the key it sets.
    Env,
}

impl Cli {
    fn sources(&self) -> Sources {
        let listen = match &self.command {
            Command::Serve { listen } | Command::Demo { listen, .. } => listen.clone(),
            _ => None,
        };
        Sources::from_process(
            self.global.config.clone(),
            Overrides {
                listen,
                database_url: self.global.database_url.clone(),
                log: self.global.log.clone(),
                log_format: self.global.log_format.clone(),
            },
        )
    }
}

/// Runs the parsed command. Errors are printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Config(ConfigCommand::Defaults) = cli.command {
        print!("{}", crate::config::DEFAULTS_TOML);
        return Ok(());
    }
    if let Command::Indicators(args) = &cli.command {
        return crate::indicators_cli::run(args);
    }
    if let Command::Config(ConfigCommand::Env) = cli.command {
        for (var, key, _) in crate::config::ENV_VARS {
            println!("{var:<44} {key}");
        }
        return Ok(());
    }
    let config = Config::load(&cli.sources())?;
    telemetry::init(&config);
    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::Demo { speed, .. } => crate::demo::run(config, speed).await,
        Command::Migrate { status } => migrate(config, status).await,
        Command::Keys(cmd) => keys(config, cmd).await,
        Command::Rules(cmd) => crate::rules_cli::run(config, cmd).await,
        Command::Backfill {
            symbol,
            interval,
            since,
            until,
        } => crate::backfill::run(config, &symbol, &interval, &since, until.as_deref()).await,
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.to_redacted_toml());
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            println!("configuration is valid");
            Ok(())
        }
        Command::Config(ConfigCommand::Defaults | ConfigCommand::Env) | Command::Indicators(_) => {
            unreachable!("handled above")
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let token = app.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
        token.cancel();
    });
    app.run().await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

async fn migrate(config: Config, status_only: bool) -> anyhow::Result<()> {
    let store = if status_only {
        tradehook_store::Store::connect(&config.database_url, &config.store_options())
            .await
            .context("cannot open the database")?
    } else {
        connect_and_migrate(&config).await?
    };
    for (version, description, applied) in store.migration_status().await? {
        let mark = if applied { "applied" } else { "pending" };
        println!("{version:>4}  {mark:<8} {description}");
    }
    if !status_only {
        println!("database is up to date ({})", store.kind().as_str());
    }
    store.close().await;
    Ok(())
}

async fn keys(config: Config, cmd: KeysCommand) -> anyhow::Result<()> {
    let store = connect_and_migrate(&config).await?;
    let result = match cmd {
        KeysCommand::Create { name, role, rpm } => {
            let (key, record) = api::keys::create_key(&store, &name, role, rpm)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", key.expose());
            eprintln!(
                "created key {} ({}, role {}). This is the only time it is shown: store it now.",
                record.id, record.name, record.role
            );
            Ok(())
        }
        KeysCommand::List { all } => {
            let keys = store.list_api_keys(all).await?;
            println!(
                "{:<38} {:<20} {:<6} {:<12} {:>6}  {:<24} STATUS",
                "ID", "NAME", "ROLE", "PREFIX", "RPM", "CREATED"
            );
            for k in keys {
                let rpm = k
                    .rate_limit_per_minute
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into());
                let status = if k.is_revoked() { "revoked" } else { "active" };
                println!(
                    "{:<38} {:<20} {:<6} {:<12} {:>6}  {:<24} {status}",
                    k.id,
                    k.name,
                    k.role.as_str(),
                    k.prefix,
                    rpm,
                    api::keys::rfc3339(k.created_at)
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { id } => match store
            .revoke_api_key(&id, tradehook_core::time::now_ms())
            .await
        {
            Ok(k) => {
                println!("revoked {} ({})", k.id, k.name);
                Ok(())
            }
            Err(tradehook_store::StoreError::NotFound) => {
                Err(anyhow::anyhow!("no API key with id `{id}`"))
            }
            Err(e) => Err(e.into()),
        },
    };
    store.close().await;
    result
}
