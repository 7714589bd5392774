//! Bots: a webhook token, a broker account and the settings that turn a
//! signal into orders.
//!
//! A bot is soft-deleted (`deleted_at`), so its signals and orders stay
//! readable; a deleted bot frees its name and its token stops working.
//! The webhook token itself is never stored: intake looks a bot up by the
//! token's SHA-256 ([`Store::find_bot_by_token_hash`]), and the sealed
//! token is kept only so the webhook URL can be shown again.
//!
//! Writes that are not given a time stamp `updated_at` with this
//! process's wall clock, as the rules repository does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tradehook_core::time::{UnixMillis, now_ms};

use super::{ACCOUNT_MISSING, json_text, map_err, parse_json};
use crate::{Result, Store, StoreError, on_backend, on_write};

/// How long [`Store::find_bot_by_token_hash_cached`] may answer from
/// memory. A change made through this process's store is seen at once; a
/// change made by another replica or process (a pause, a rotated token, a
/// deletion) within this long.
pub const BOT_CACHE_TTL: Duration = Duration::from_secs(1);

/// Cached lookups kept at most; the cache is emptied when full.
const BOT_CACHE_MAX: usize = 10_000;

/// Live bots by token hash, for the intake path. Every bot write through
/// this store bumps the generation, which voids every entry read before it.
#[derive(Debug, Default)]
pub(crate) struct BotCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, CachedBot>>,
}

#[derive(Debug)]
struct CachedBot {
    read_at: Instant,
    generation: u64,
    bot: BotRecord,
}

impl BotCache {
    fn get(&self, token_hash: &str, generation: u64) -> Option<BotRecord> {
        let entries = self.entries.lock().expect("lock");
        entries
            .get(token_hash)
            .filter(|c| c.generation == generation && c.read_at.elapsed() < BOT_CACHE_TTL)
            .map(|c| c.bot.clone())
    }

    fn put(&self, token_hash: &str, generation: u64, read_at: Instant, bot: BotRecord) {
        let mut entries = self.entries.lock().expect("lock");
        if entries.len() >= BOT_CACHE_MAX {
            entries.clear();
        }
        entries.insert(
            token_hash.to_string(),
            CachedBot {
                read_at,
                generation,
                bot,
            },
        );
    }

    /// Voids every entry (called after each bot write).
    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.lock().expect("lock").clear();
    }
}

/// A stored bot.
#[derive(Debug, Clone, PartialEq)]
pub struct BotRecord {
    /// `bot_…`.
    pub id: String,
    pub name: String,
    pub broker_account_id: String,
    /// Symbols the bot may trade; empty = any (the caller decides).
    pub allowed_symbols: Vec<String>,
    pub paused: bool,
    pub paused_reason: Option<String>,
    /// SHA-256 hex of the webhook token.
    pub token_hash: String,
    /// The webhook token, sealed.
    pub token_sealed: String,
    /// The secret a signal body must carry, sealed.
    pub body_secret_sealed: Option<String>,
    /// JSON object.
    pub settings: Value,
    /// Decimal: the equity the circuit breaker measures from.
    pub base_equity: Option<String>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    pub deleted_at: Option<UnixMillis>,
}

/// What is needed to store a new bot.
#[derive(Debug, Clone)]
pub struct NewBot {
    /// `new_id("bot")`.
    pub id: String,
    pub name: String,
    pub broker_account_id: String,
    pub allowed_symbols: Vec<String>,
    pub paused: bool,
    pub paused_reason: Option<String>,
    pub token_hash: String,
    pub token_sealed: String,
    pub body_secret_sealed: Option<String>,
    pub settings: Value,
    pub base_equity: Option<String>,
    pub created_at: UnixMillis,
}

/// Fields to change; `None` leaves a field as it is, `Some(None)` clears
/// a nullable one. `settings` replaces the whole object.
///
/// Changing settings does not reset `base_equity` by itself: whether the
/// circuit breaker starts over is the caller's decision, made by setting
/// `base_equity` (to `Some(None)` to reset) in the same patch. Pausing and
/// the token have their own calls ([`Store::set_bot_paused`],
/// [`Store::rotate_bot_token`]).
#[derive(Debug, Clone, Default)]
pub struct BotPatch {
    pub name: Option<String>,
    pub broker_account_id: Option<String>,
    pub allowed_symbols: Option<Vec<String>>,
    pub body_secret_sealed: Option<Option<String>>,
    pub settings: Option<Value>,
    pub base_equity: Option<Option<String>>,
}

/// Which bots to list, in id (creation) order.
#[derive(Debug, Clone, Default)]
pub struct BotFilter {
    pub broker_account_id: Option<String>,
    pub paused: Option<bool>,
    pub include_deleted: bool,
    /// Only bots with an id greater than this (the cursor).
    pub after: Option<String>,
    pub limit: i64,
}

#[derive(sqlx::FromRow)]
struct BotRow {
    id: String,
    name: String,
    broker_account_id: String,
    allowed_symbols: String,
    paused: bool,
    paused_reason: Option<String>,
    token_hash: String,
    token_sealed: String,
    body_secret_sealed: Option<String>,
    settings: String,
    base_equity: Option<String>,
    created_at: i64,
    updated_at: i64,
    deleted_at: Option<i64>,
}

impl TryFrom<BotRow> for BotRecord {
    type Error = StoreError;
    fn try_from(r: BotRow) -> Result<Self> {
        Ok(BotRecord {
            allowed_symbols: parse_json("bot allowed_symbols", &r.allowed_symbols)?,
            settings: parse_json("bot settings", &r.settings)?,
            id: r.id,
            name: r.name,
            broker_account_id: r.broker_account_id,
            paused: r.paused,
            paused_reason: r.paused_reason,
            token_hash: r.token_hash,
            token_sealed: r.token_sealed,
            body_secret_sealed: r.body_secret_sealed,
            base_equity: r.base_equity,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        })
    }
}

const COLUMNS: &str = "id, name, broker_account_id, allowed_symbols, paused, paused_reason, token_hash, \
    token_sealed, body_secret_sealed, settings, base_equity, created_at, updated_at, deleted_at";

impl Store {
    /// Stores a bot. A live bot with the same name is a
    /// `Conflict { constraint: "bot_name_taken" }`, a token hash already
    /// used `bot_token_taken`, an unknown account `broker_account_missing`.
    pub async fn insert_bot(&self, b: &NewBot) -> Result<BotRecord> {
        let sql = format!(
            "INSERT INTO bots (id, name, broker_account_id, allowed_symbols, paused, paused_reason, token_hash,
                token_sealed, body_secret_sealed, settings, base_equity, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
             RETURNING {COLUMNS}"
        );
        let row = on_write!(self, pool => {
            sqlx::query_as::<_, BotRow>(sqlx::AssertSqlSafe(sql))
                .bind(&b.id)
                .bind(&b.name)
                .bind(&b.broker_account_id)
                .bind(json_text(&b.allowed_symbols))
                .bind(b.paused)
                .bind(&b.paused_reason)
                .bind(&b.token_hash)
                .bind(&b.token_sealed)
                .bind(&b.body_secret_sealed)
                .bind(json_text(&b.settings))
                .bind(&b.base_equity)
                .bind(b.created_at)
                .fetch_one(pool)
                .await
                .map_err(map_err(ACCOUNT_MISSING))?
        });
        row.try_into()
    }

    /// A bot that is not deleted.
    pub async fn get_bot(&self, id: &str) -> Result<BotRecord> {
        let sql = format!("SELECT {COLUMNS} FROM bots WHERE id = $1 AND deleted_at IS NULL");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, BotRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// The live bot whose webhook token hashes to `token_hash`, if any.
    /// This is how intake authenticates a signal: one unique-index probe.
    pub async fn find_bot_by_token_hash(&self, token_hash: &str) -> Result<Option<BotRecord>> {
        let sql =
            format!("SELECT {COLUMNS} FROM bots WHERE token_hash = $1 AND deleted_at IS NULL");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, BotRow>(sqlx::AssertSqlSafe(sql)).bind(token_hash).fetch_optional(pool).await?
        });
        row.map(BotRecord::try_from).transpose()
    }

    /// [`Store::find_bot_by_token_hash`] answered from memory when this
    /// store read the bot less than [`BOT_CACHE_TTL`] ago and no bot was
    /// written through it since (the intake path: one lookup per signal).
    /// Unknown tokens are not cached.
    pub async fn find_bot_by_token_hash_cached(
        &self,
        token_hash: &str,
    ) -> Result<Option<BotRecord>> {
        let cache = &self.intake.bots;
        // Read before the database: a write that lands after this read
        // bumps the generation, so what is read below is not kept.
        let generation = cache.generation.load(Ordering::SeqCst);
        if let Some(bot) = cache.get(token_hash, generation) {
            return Ok(Some(bot));
        }
        let read_at = Instant::now();
        let found = self.find_bot_by_token_hash(token_hash).await?;
        if let Some(bot) = &found {
            cache.put(token_hash, generation, read_at, bot.clone());
        }
        Ok(found)
    }

    /// Bots in id (creation) order, filtered. Bots are few, so one fixed
    /// statement serves every filter.
    pub async fn list_bots(&self, f: &BotFilter) -> Result<Vec<BotRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM bots
             WHERE ($1 IS NULL OR broker_account_id = $1) AND ($2 IS NULL OR paused = $2)
               AND ($3 OR deleted_at IS NULL) AND ($4 IS NULL OR id > $4)
             ORDER BY id LIMIT $5"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, BotRow>(sqlx::AssertSqlSafe(sql))
                .bind(&f.broker_account_id)
                .bind(f.paused)
                .bind(f.include_deleted)
                .bind(&f.after)
                .bind(f.limit)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(BotRecord::try_from).collect()
    }

    /// Applies a patch to a live bot. Conflicts as for [`Store::insert_bot`].
    pub async fn update_bot(&self, id: &str, patch: &BotPatch) -> Result<BotRecord> {
        let sql = format!(
            "UPDATE bots SET
                name = COALESCE($2, name),
                broker_account_id = COALESCE($3, broker_account_id),
                allowed_symbols = COALESCE($4, allowed_symbols),
                body_secret_sealed = CASE WHEN $5 THEN $6 ELSE body_secret_sealed END,
                settings = COALESCE($7, settings),
                base_equity = CASE WHEN $8 THEN $9 ELSE base_equity END,
                updated_at = $10
             WHERE id = $1 AND deleted_at IS NULL
             RETURNING {COLUMNS}"
        );
        let row = on_write!(self, pool => {
            sqlx::query_as::<_, BotRow>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(&patch.name)
                .bind(&patch.broker_account_id)
                .bind(patch.allowed_symbols.as_ref().map(json_text))
                .bind(patch.body_secret_sealed.is_some())
                .bind(patch.body_secret_sealed.as_ref().and_then(Option::as_deref))
                .bind(patch.settings.as_ref().map(json_text))
                .bind(patch.base_equity.is_some())
                .bind(patch.base_equity.as_ref().and_then(Option::as_deref))
                .bind(now_ms())
                .fetch_optional(pool)
                .await
                .map_err(map_err(ACCOUNT_MISSING))?
        });
        self.intake.bots.invalidate();
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Replaces a live bot's webhook token: the old one stops working at
    /// once. `NotFound` if the bot is missing or deleted.
    pub async fn rotate_bot_token(
        &self,
        id: &str,
        token_hash: &str,
        token_sealed: &str,
    ) -> Result<()> {
        let done = on_write!(self, pool => {
            sqlx::query(
                "UPDATE bots SET token_hash = $2, token_sealed = $3, updated_at = $4
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(token_hash)
            .bind(token_sealed)
            .bind(now_ms())
            .execute(pool)
            .await
            .map_err(map_err(ACCOUNT_MISSING))?
            .rows_affected()
        });
        self.intake.bots.invalidate();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Pauses (with a reason) or resumes (clearing it) a live bot. Returns
    /// whether it changed, so that only the caller that actually paused a
    /// bot publishes `bot.paused` (a circuit breaker may trip on several
    /// replicas at once). `NotFound` if the bot is missing or deleted.
    pub async fn set_bot_paused(
        &self,
        id: &str,
        paused: bool,
        reason: Option<&str>,
    ) -> Result<bool> {
        let changed = on_write!(self, pool => {
            sqlx::query(
                "UPDATE bots SET paused = $2, paused_reason = CASE WHEN $2 THEN $3 ELSE NULL END, updated_at = $4
                 WHERE id = $1 AND deleted_at IS NULL AND paused <> $2",
            )
            .bind(id)
            .bind(paused)
            .bind(reason)
            .bind(now_ms())
            .execute(pool)
            .await?
            .rows_affected()
        });
        self.intake.bots.invalidate();
        if changed == 0 {
            // Unchanged or missing: only now is the extra read worth it.
            self.get_bot(id).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Soft-deletes a bot: it disappears from lookups and lists (unless
    /// asked for), its name is free again and its token stops working.
    /// `NotFound` if it is missing or already deleted.
    pub async fn delete_bot(&self, id: &str) -> Result<()> {
        let done = on_write!(self, pool => {
            sqlx::query("UPDATE bots SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .bind(now_ms())
                .execute(pool)
                .await?
                .rows_affected()
        });
        self.intake.bots.invalidate();
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
