//! Storage for tradehook.
//!
//! [`Store`] is the only code in the project that writes SQL. It wraps a
//! connection pool for one of two backends, chosen from the URL scheme at
//! start: SQLite (the embedded default) or PostgreSQL (production and
//! scale-out). Queries are built at run time, so a build needs no live
//! database; the price is that SQL is checked by tests, which is why every
//! storage test runs against both backends.
//!
//! Instants are stored as Unix milliseconds (`BIGINT`), the same on both
//! backends. Each backend has its own migrations folder.

mod alerts;
mod candles;
mod dashboard;
mod dashboard_stats;
mod deliveries;
mod endpoints;
mod error;
mod events;
mod keys;
pub mod locks;
mod rules;
mod sql;
mod trading;
mod tx;
mod url;

#[cfg(feature = "testing")]
pub mod testing;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use alerts::{AlertFilter, AlertPage, AlertRecord, NewAlert};
pub use candles::{CandleQuery, CandleRow};
pub use dashboard::{ActivityCounts, DashboardSession, FailingEndpoint};
pub use dashboard_stats::AttemptStat;
pub use deliveries::{
    AttemptRecord, AttemptResult, DeliveryFilter, DeliveryRecord, DeliveryStatus, LeasedDelivery,
    NextState,
};
pub use endpoints::EndpointRecord;
pub use error::StoreError;
pub use events::{EventFilter, StoredEvent};
pub use keys::{ApiKeyRecord, NewApiKey};
pub use rules::{NewRule, RuleFilter, RulePatch, RuleRecord};
pub use trading::{
    BotFilter, BotPatch, BotRecord, BrokerAccountPatch, BrokerAccountRecord, BrokerCallFilter,
    BrokerCallPage, BrokerCallRecord, EquitySnapshot, FINAL_ORDER_STATUSES, JobRecord, JobStatus,
    NewBot, NewBrokerAccount, NewBrokerCall, NewOrder, NewSignal, OrderFilter, OrderPage,
    OrderRecord, OrderUpdate, SignalFilter, SignalOutcome, SignalPage, SignalRecord, SignalStatus,
};
pub use tx::Tx;
pub use url::redact_url;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Runs `$body` with `$pool` bound to the backend's pool. The body is
/// compiled once per backend, so the same query text and binds serve
/// both (both accept `$1`-style parameters).
macro_rules! on_backend {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Like [`on_backend!`], for a statement that writes outside a [`Tx`]: on
/// SQLite it first takes the store's write gate (see [`WriteGate`]), so
/// writers of this process queue in order instead of meeting in SQLite's
/// busy handler.
macro_rules! on_write {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => {
                let _gate = $store.gate.enter().await?;
                $body
            }
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_write;

/// SQLite has one writer at a time. Writers that collide there wait in
/// SQLite's busy handler, which sleeps 1, 2, 5, 10 … ms between tries: a
/// millisecond write can wait tens of milliseconds. So every write of a
/// store (its transactions and its single statements, [`on_write!`]) first
/// takes this gate, a fair async mutex shared by the store's clones, and
/// the process's writers take turns in arrival order. Reads never take
/// it (WAL readers do not block the writer). Another process writing the
/// same file (the CLI) still meets the busy handler.
///
/// Entering waits at most the busy timeout, then fails as SQLite's busy
/// handler would (a write issued while the same task holds a transaction
/// cannot deadlock forever).
#[derive(Debug)]
pub(crate) struct WriteGate {
    lock: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    timeout: Duration,
}

impl WriteGate {
    fn new(sqlite: bool, timeout: Duration) -> Self {
        WriteGate {
            lock: sqlite.then(|| std::sync::Arc::new(tokio::sync::Mutex::new(()))),
            timeout,
        }
    }

    /// The gate's guard; `None` on PostgreSQL.
    pub(crate) async fn enter(&self) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>> {
        let Some(lock) = &self.lock else {
            return Ok(None);
        };
        match tokio::time::timeout(self.timeout, lock.clone().lock_owned()).await {
            Ok(guard) => Ok(Some(guard)),
            Err(_) => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl BackendKind {
    /// The backend a database URL selects, from its scheme.
    pub fn from_url(url: &str) -> Result<Self> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(BackendKind::Sqlite),
            "postgres" | "postgresql" => Ok(BackendKind::Postgres),
            _ => Err(StoreError::InvalidUrl(format!(
                "unsupported scheme in `{}`: expected sqlite:// or postgres://",
                redact_url(url)
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// How often the WAL is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`]
/// (`PASSIVE`: it waits for no reader or writer), so that no commit pays
/// for a checkpoint (SQLite's automatic one runs inside the commit that
/// crosses its threshold, adding milliseconds to that one). Ends when the
/// last clone of its store is dropped (`alive`) or the pool is closed.
async fn checkpoints(pool: SqlitePool, alive: std::sync::Weak<WriteGate>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 || pool.is_closed() {
            break;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                break;
            }
            tracing::debug!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long SQLite waits on a locked database before failing.
    pub busy_timeout: Duration,
    /// How long to wait for a connection from the pool.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The database, behind a connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// SQLite's write gate, shared by clones.
    pub(crate) gate: std::sync::Arc<WriteGate>,
    /// The intake's group commit (SQLite) and bot cache, shared by clones.
    pub(crate) intake: std::sync::Arc<trading::IntakeState>,
}

impl Store {
    /// Connects to the database named by `url`. A SQLite file is created
    /// if missing and opened in WAL mode with foreign keys on and a busy
    /// timeout. Does not run migrations; see [`Store::migrate`].
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        let invalid = |e: sqlx::Error| StoreError::InvalidUrl(format!("{}: {e}", redact_url(url)));
        let kind = BackendKind::from_url(url)?;
        let backend = match kind {
            BackendKind::Sqlite => {
                let connect = SqliteConnectOptions::from_str(url)
                    .map_err(invalid)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // NORMAL is durable in WAL mode except for the last
                    // transactions before a power loss (not a process crash).
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(options.busy_timeout)
                    // Checkpoints run in the background (`checkpoints`),
                    // not inside whichever commit crosses 1000 pages.
                    .pragma("wal_autocheckpoint", "0");
                let pool = SqlitePoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await?;
                Backend::Sqlite(pool)
            }
            BackendKind::Postgres => {
                let connect = PgConnectOptions::from_str(url).map_err(invalid)?;
                let pool = PgPoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await?;
                Backend::Postgres(pool)
            }
        };
        let gate = std::sync::Arc::new(WriteGate::new(
            kind == BackendKind::Sqlite,
            options.busy_timeout,
        ));
        if let Backend::Sqlite(pool) = &backend {
            tokio::spawn(checkpoints(pool.clone(), std::sync::Arc::downgrade(&gate)));
        }
        Ok(Store {
            backend,
            gate,
            intake: Default::default(),
        })
    }

    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Versions of the migrations this build carries and whether each has
    /// been applied.
    pub async fn migration_status(&self) -> Result<Vec<(i64, String, bool)>> {
        let (migrator, table_exists_sql) = match self.kind() {
            BackendKind::Sqlite => (
                &SQLITE_MIGRATIONS,
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            ),
            BackendKind::Postgres => (
                &POSTGRES_MIGRATIONS,
                "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
            ),
        };
        let applied: Vec<i64> = on_backend!(self, pool => {
            let exists: bool = sqlx::query_scalar(table_exists_sql).fetch_one(pool).await?;
            if exists {
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                    .fetch_all(pool)
                    .await?
            } else {
                Vec::new()
            }
        });
        Ok(migrator
            .iter()
            .map(|m| {
                (
                    m.version,
                    m.description.to_string(),
                    applied.contains(&m.version),
                )
            })
            .collect())
    }

    /// Answers when the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every connection; waits for checked-out ones to return.
    pub async fn close(&self) {
        on_backend!(self, pool => pool.close().await)
    }
}

/// Helpers used by the test harness only.
#[cfg(feature = "testing")]
impl Store {
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<()> {
        on_backend!(self, pool => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(pool).await?;
        });
        Ok(())
    }

    pub(crate) async fn current_schema(&self) -> Result<String> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar::<_, String>("SELECT current_schema()").fetch_one(pool).await?
        }))
    }
}

/// SQLite settings as the connection reports them.
#[derive(Debug, Clone)]
pub struct SqlitePragmas {
    pub journal_mode: String,
    pub foreign_keys: bool,
    pub busy_timeout_ms: i64,
}

impl Store {
    /// The effective SQLite pragmas; `NotFound` on PostgreSQL.
    pub async fn sqlite_pragmas(&self) -> Result<SqlitePragmas> {
        let Backend::Sqlite(pool) = &self.backend else {
            return Err(StoreError::NotFound);
        };
        let mut conn = pool.acquire().await?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await?;
        Ok(SqlitePragmas {
            journal_mode,
            foreign_keys: foreign_keys == 1,
            busy_timeout_ms,
        })
    }
}
