//! The rules repository: what the rule engine evaluates.
//!
//! Every replica keeps the active rules in memory. It loads them once
//! ([`Store::load_active_rules`]) and then polls [`Store::rules_changed_since`]
//! for changes, which is why a rule is never deleted outright: deleting
//! sets its status to `deleted`, and the poll returns it like any other
//! change so replicas drop it. Every write bumps `revision` (a sequence on
//! PostgreSQL, `MAX(revision) + 1` under SQLite's single write lock), so a
//! replica can tell a newer copy of a rule from one it already applied.
//!
//! Writes that are not given a time (update, delete, status changes) stamp
//! `updated_at` with this process's wall clock: pollers compare it across
//! replicas, so the clocks are assumed to be synchronised (NTP).

use serde_json::{Value, json};
use tradehook_core::event::Event;
use tradehook_core::time::{UnixMillis, now_ms};

use crate::endpoints::EndpointRecord;
use crate::sql::Where;
use crate::tx::on_tx;
use crate::{BackendKind, Result, Store, StoreError, Tx, on_backend};

/// A stored rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRecord {
    /// `rul_…`.
    pub id: String,
    pub name: String,
    pub symbol: String,
    pub rule_type: String,
    /// Type-specific settings (JSON object).
    pub config: Value,
    /// How often it may fire; `once` rules become `triggered` on firing.
    pub frequency: String,
    pub cooldown_seconds: i64,
    pub enabled: bool,
    /// `active`, `triggered`, `expired`, `cancelled` or `deleted`.
    pub status: String,
    pub expires_at: Option<UnixMillis>,
    pub discord_webhook_url: Option<String>,
    pub generic_webhook_url: Option<String>,
    pub last_fired_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// Grows on every change of the rule.
    pub revision: i64,
}

impl RuleRecord {
    /// Whether evaluators should run it.
    pub fn is_live(&self) -> bool {
        self.status == "active" && self.enabled
    }

    /// The rule as stored with an alert it fired: what the user set and
    /// its state at that moment. The webhook URLs are left out: they are
    /// delivery targets, not part of the rule's meaning, and a Discord
    /// webhook URL is a credential that must not travel in event payloads.
    pub fn snapshot(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "symbol": self.symbol,
            "rule_type": self.rule_type,
            "config": self.config,
            "frequency": self.frequency,
            "cooldown_seconds": self.cooldown_seconds,
            "enabled": self.enabled,
            "status": self.status,
            "expires_at": self.expires_at,
            "last_fired_at": self.last_fired_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "revision": self.revision,
        })
    }
}

/// What is needed to store a new rule. It starts `active`.
#[derive(Debug, Clone)]
pub struct NewRule {
    /// `new_id("rul")`.
    pub id: String,
    pub name: String,
    pub symbol: String,
    pub rule_type: String,
    pub config: Value,
    pub frequency: String,
    pub cooldown_seconds: i64,
    pub enabled: bool,
    pub expires_at: Option<UnixMillis>,
    pub discord_webhook_url: Option<String>,
    pub generic_webhook_url: Option<String>,
    pub created_at: UnixMillis,
}

/// Fields to change; `None` leaves a field as it is. For the nullable
/// ones, `Some(None)` clears the field.
///
/// Status and `last_fired_at` are not here: they move only through the
/// transitions that own them ([`Store::set_rule_status`],
/// [`Store::delete_rule`], [`Store::fire_alert`], [`Store::expire_rules`]),
/// so a patch can neither resurrect a deleted rule nor delete one without
/// its owned endpoints.
#[derive(Debug, Clone, Default)]
pub struct RulePatch {
    pub name: Option<String>,
    pub symbol: Option<String>,
    pub rule_type: Option<String>,
    pub config: Option<Value>,
    pub frequency: Option<String>,
    pub cooldown_seconds: Option<i64>,
    pub enabled: Option<bool>,
    pub expires_at: Option<Option<UnixMillis>>,
    pub discord_webhook_url: Option<Option<String>>,
    pub generic_webhook_url: Option<Option<String>>,
}

/// Which rules to list. Deleted rules are never listed.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    pub symbol: Option<String>,
    pub rule_type: Option<String>,
    pub enabled: Option<bool>,
    pub status: Option<String>,
    /// Only rules with an id greater than this (the cursor).
    pub after: Option<String>,
    pub limit: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct RuleRow {
    id: String,
    name: String,
    symbol: String,
    rule_type: String,
    config: String,
    frequency: String,
    cooldown_seconds: i64,
    enabled: bool,
    status: String,
    expires_at: Option<i64>,
    discord_webhook_url: Option<String>,
    generic_webhook_url: Option<String>,
    last_fired_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    revision: i64,
}

impl TryFrom<RuleRow> for RuleRecord {
    type Error = StoreError;
    fn try_from(r: RuleRow) -> Result<Self> {
        Ok(RuleRecord {
            config: serde_json::from_str(&r.config)
                .map_err(|e| StoreError::Corrupt(format!("rule config: {e}")))?,
            id: r.id,
            name: r.name,
            symbol: r.symbol,
            rule_type: r.rule_type,
            frequency: r.frequency,
            cooldown_seconds: r.cooldown_seconds,
            enabled: r.enabled,
            status: r.status,
            expires_at: r.expires_at,
            discord_webhook_url: r.discord_webhook_url,
            generic_webhook_url: r.generic_webhook_url,
            last_fired_at: r.last_fired_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            revision: r.revision,
        })
    }
}

fn to_records(rows: Vec<RuleRow>) -> Result<Vec<RuleRecord>> {
    rows.into_iter().map(RuleRecord::try_from).collect()
}

pub(crate) const RULE_COLUMNS: &str = "id, name, symbol, rule_type, config, frequency, cooldown_seconds, \
    enabled, status, expires_at, discord_webhook_url, generic_webhook_url, last_fired_at, created_at, \
    updated_at, revision";

/// The expression that gives a write its new revision. On SQLite the
/// subquery runs once per statement, so rules changed by one statement
/// share a revision; on PostgreSQL each row draws its own.
pub(crate) fn next_revision(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Postgres => "nextval('rules_revision_seq')",
        BackendKind::Sqlite => "(SELECT COALESCE(MAX(revision), 0) + 1 FROM rules)",
    }
}

/// Rules read per statement by [`Store::load_active_rules`]: big enough
/// that a million rules take 20 round trips, small enough that no single
/// result holds much memory beyond the records themselves.
const LOAD_CHUNK: i64 = 50_000;

/// Rules expired per transaction by [`Store::expire_rules`].
const EXPIRE_BATCH: i64 = 500;

fn json_text(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON values serialise")
}

impl Store {
    /// Stores a new, `active` rule with the endpoints it owns (its inline
    /// targets, `owner_rule_id` set to the rule), in one transaction.
    pub async fn insert_rule(
        &self,
        rule: &NewRule,
        owned: &[EndpointRecord],
    ) -> Result<RuleRecord> {
        let mut tx = self.begin().await?;
        let record = tx.insert_rule(rule).await?;
        for endpoint in owned {
            tx.insert_endpoint(endpoint).await?;
        }
        tx.commit().await?;
        Ok(record)
    }

    /// A rule that is not deleted.
    pub async fn get_rule(&self, id: &str) -> Result<RuleRecord> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM rules WHERE id = $1 AND status <> 'deleted'");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Rules in id (creation) order, filtered, deleted ones left out.
    pub async fn list_rules(&self, f: &RuleFilter) -> Result<Vec<RuleRecord>> {
        let mut w = Where::new("status <> 'deleted'");
        if f.symbol.is_some() {
            let p = w.param();
            w.and(&format!("symbol = ${p}"));
        }
        if f.rule_type.is_some() {
            let p = w.param();
            w.and(&format!("rule_type = ${p}"));
        }
        if f.enabled.is_some() {
            let p = w.param();
            w.and(&format!("enabled = ${p}"));
        }
        if f.status.is_some() {
            let p = w.param();
            w.and(&format!("status = ${p}"));
        }
        if f.after.is_some() {
            let p = w.param();
            w.and(&format!("id > ${p}"));
        }
        let limit = w.param();
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM rules{} ORDER BY id LIMIT ${limit}",
            w.as_str()
        );
        let rows = on_backend!(self, pool => {
            // Bound in the order the conditions were added above.
            let mut q = sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(sql));
            if let Some(v) = &f.symbol {
                q = q.bind(v);
            }
            if let Some(v) = &f.rule_type {
                q = q.bind(v);
            }
            if let Some(v) = f.enabled {
                q = q.bind(v);
            }
            if let Some(v) = &f.status {
                q = q.bind(v);
            }
            if let Some(v) = &f.after {
                q = q.bind(v);
            }
            q.bind(f.limit).fetch_all(pool).await?
        });
        to_records(rows)
    }

    /// Applies a patch to a rule that is not deleted, bumping its revision
    /// and stamping `updated_at` with the wall clock.
    pub async fn update_rule(&self, id: &str, patch: &RulePatch) -> Result<RuleRecord> {
        self.update_rule_with_targets(id, patch, &[], &[], now_ms())
            .await
    }

    /// Applies a patch and swaps inline targets in one transaction: the
    /// rule's owned endpoints of the kinds in `drop_kinds` are deleted
    /// (with their deliveries), then `replace` is inserted, so a changed
    /// Discord or webhook URL never leaves the rule with no target or two.
    /// `NotFound`, with nothing written, if the rule is missing or deleted.
    pub async fn update_rule_with_targets(
        &self,
        id: &str,
        patch: &RulePatch,
        drop_kinds: &[&str],
        replace: &[EndpointRecord],
        now: UnixMillis,
    ) -> Result<RuleRecord> {
        let mut tx = self.begin().await?;
        let record = tx.update_rule(id, patch, now).await?;
        for kind in drop_kinds {
            on_tx!(tx, conn => {
                sqlx::query("DELETE FROM endpoints WHERE owner_rule_id = $1 AND kind = $2")
                    .bind(id)
                    .bind(kind)
                    .execute(&mut *conn)
                    .await?;
            });
        }
        for endpoint in replace {
            tx.insert_endpoint(endpoint).await?;
        }
        tx.commit().await?;
        Ok(record)
    }

    /// Soft-deletes a rule (status `deleted`, disabled, revision bumped)
    /// and deletes the endpoints it owns, with their deliveries, in one
    /// transaction. Returns how many endpoints went with it; `NotFound` if
    /// the rule is missing or already deleted.
    pub async fn delete_rule(&self, id: &str) -> Result<u64> {
        let mut tx = self.begin().await?;
        let Some(endpoints) = tx.transition_rule(id, None, "deleted", now_ms()).await? else {
            return Err(StoreError::NotFound);
        };
        tx.commit().await?;
        Ok(endpoints)
    }

    /// Moves a rule from status `from` to `to` if it is in `from` (e.g.
    /// cancelling a price alert only while it is still active). Any status
    /// but `active` also disables it; `deleted` also deletes its owned
    /// endpoints, as [`Store::delete_rule`] does. A deleted rule never
    /// moves. Returns whether it moved.
    pub async fn set_rule_status(&self, id: &str, from: &str, to: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let moved = tx
            .transition_rule(id, Some(from), to, now_ms())
            .await?
            .is_some();
        tx.commit().await?;
        Ok(moved)
    }

    /// Rules written after `updated_after_ms`, deleted and finished ones
    /// included so pollers can drop them, oldest change first.
    ///
    /// A write commits some time after it took its `updated_at`, so a poll
    /// can miss a change stamped just before it ran. Pollers should ask
    /// again from a little before their last poll and apply a rule only if
    /// its `revision` is newer than the copy they hold.
    pub async fn rules_changed_since(
        &self,
        updated_after_ms: UnixMillis,
    ) -> Result<Vec<RuleRecord>> {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM rules WHERE updated_at > $1 ORDER BY updated_at, id"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(sql))
                .bind(updated_after_ms)
                .fetch_all(pool)
                .await?
        });
        to_records(rows)
    }

    /// Every active, enabled rule, in id order.
    ///
    /// Read in id-ordered chunks, so a million rules never sit in memory
    /// twice (raw rows and records) and no read holds a SQLite snapshot,
    /// which keeps the WAL from being checkpointed, for the whole load.
    /// The chunks are not one snapshot: start polling
    /// [`Store::rules_changed_since`] from a time taken before the load.
    pub async fn load_active_rules(&self) -> Result<Vec<RuleRecord>> {
        let pool = match &self.backend {
            crate::Backend::Sqlite(pool) => return load_active_sqlite(pool).await,
            crate::Backend::Postgres(pool) => pool,
        };
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM rules WHERE status = 'active' AND enabled AND id > $1
             ORDER BY id LIMIT $2"
        );
        let mut out: Vec<RuleRecord> = Vec::new();
        let mut after = String::new();
        loop {
            let rows: Vec<RuleRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&after)
                .bind(LOAD_CHUNK)
                .fetch_all(pool)
                .await?;
            let n = rows.len();
            out.reserve(n);
            for row in rows {
                out.push(row.try_into()?);
            }
            match out.last() {
                Some(last) if n as i64 == LOAD_CHUNK => after.clone_from(&last.id),
                _ => break,
            }
        }
        Ok(out)
    }

    /// How many active, enabled rules there are of each type, by type.
    pub async fn rule_count_by_type(&self) -> Result<Vec<(String, i64)>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT rule_type, COUNT(*) FROM rules WHERE status = 'active' AND enabled
                 GROUP BY rule_type ORDER BY rule_type",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Expires every active rule whose `expires_at` has passed: status
    /// `expired`, disabled, revision bumped, and the event `make_event`
    /// builds published with its deliveries, in the same transaction.
    /// Returns the expired rules (as they are now) with their events'
    /// sequence numbers.
    ///
    /// Works in batches of a few hundred, one transaction each, so a mass
    /// expiry never holds locks for long. Replicas may run it at once: on
    /// PostgreSQL each batch skips rules another replica has locked, and
    /// the status check means a rule expires (and emits) exactly once.
    pub async fn expire_rules(
        &self,
        now: UnixMillis,
        make_event: impl Fn(&RuleRecord) -> Event,
    ) -> Result<Vec<(RuleRecord, i64)>> {
        let pick = match self.kind() {
            BackendKind::Postgres => {
                "SELECT id FROM rules WHERE status = 'active' AND expires_at <= $1
                 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED"
            }
            BackendKind::Sqlite => {
                "SELECT id FROM rules WHERE status = 'active' AND expires_at <= $1
                 ORDER BY expires_at LIMIT $2"
            }
        };
        let next = next_revision(self.kind());
        let sql = format!(
            "UPDATE rules SET status = 'expired', enabled = FALSE, updated_at = $1, revision = {next}
             WHERE id IN ({pick}) AND status = 'active'
             RETURNING {RULE_COLUMNS}"
        );
        let mut expired = Vec::new();
        loop {
            let mut tx = self.begin().await?;
            let rows: Vec<RuleRow> = on_tx!(tx, conn => {
                sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(now)
                    .bind(EXPIRE_BATCH)
                    .fetch_all(&mut *conn)
                    .await?
            });
            let n = rows.len();
            let mut batch = to_records(rows)?;
            batch.sort_by(|a, b| a.id.cmp(&b.id));
            let mut published = Vec::with_capacity(n);
            for rule in batch {
                let (seq, _) = tx.publish_event(&make_event(&rule)).await?;
                published.push((rule, seq));
            }
            tx.commit().await?;
            expired.extend(published);
            if (n as i64) < EXPIRE_BATCH {
                break;
            }
        }
        Ok(expired)
    }
}

/// One rule as a JSON array, in [`RULE_COLUMNS`] order, with the config
/// inline as JSON.
#[derive(serde::Deserialize)]
struct PackedRule(
    String,
    String,
    String,
    String,
    Value,
    String,
    i64,
    i64,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    i64,
);

/// One chunk of live rules as SQLite hands it over: a JSON array of
/// [`PackedRule`]s, the last id and the count.
struct PackedChunk {
    json: String,
    last_id: Option<String>,
    count: i64,
}

/// [`Store::load_active_rules`] on SQLite. Each chunk comes over as one
/// JSON array built in the database: sqlx's SQLite driver copies every
/// column of every row and passes rows one at a time from its worker
/// thread, which made a million rules take six seconds; one value per
/// chunk and one `serde_json` pass take a fraction of that. The next
/// chunk is read while this one is decoded.
async fn load_active_sqlite(pool: &sqlx::SqlitePool) -> Result<Vec<RuleRecord>> {
    let mut out: Vec<RuleRecord> = Vec::new();
    let mut chunk = fetch_packed(pool.clone(), String::new()).await?;
    loop {
        let next = match (&chunk.last_id, chunk.count == LOAD_CHUNK) {
            (Some(last), true) => Some(tokio::spawn(fetch_packed(pool.clone(), last.clone()))),
            _ => None,
        };
        decode_packed(&chunk.json, &mut out)?;
        let Some(next) = next else { break };
        chunk = next
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    }
    Ok(out)
}

async fn fetch_packed(pool: sqlx::SqlitePool, after: String) -> Result<PackedChunk> {
    let (json, last_id, count): (Option<String>, Option<String>, i64) = sqlx::query_as(
        "SELECT json_group_array(json_array(id, name, symbol, rule_type, json(config), frequency,
                cooldown_seconds, enabled, status, expires_at, discord_webhook_url, generic_webhook_url,
                last_fired_at, created_at, updated_at, revision)), MAX(id), COUNT(*)
         FROM (SELECT * FROM rules WHERE status = 'active' AND enabled AND id > $1 ORDER BY id LIMIT $2)",
    )
    .bind(after)
    .bind(LOAD_CHUNK)
    .fetch_one(&pool)
    .await?;
    Ok(PackedChunk {
        json: json.unwrap_or_else(|| "[]".to_string()),
        last_id,
        count,
    })
}

/// Appends a chunk's rules to `out`, in id order.
fn decode_packed(json: &str, out: &mut Vec<RuleRecord>) -> Result<()> {
    let rows: Vec<PackedRule> =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("rules chunk: {e}")))?;
    let start = out.len();
    out.reserve(rows.len());
    out.extend(rows.into_iter().map(|r| RuleRecord {
        id: r.0,
        name: r.1,
        symbol: r.2,
        rule_type: r.3,
        config: r.4,
        frequency: r.5,
        cooldown_seconds: r.6,
        enabled: r.7 != 0,
        status: r.8,
        expires_at: r.9,
        discord_webhook_url: r.10,
        generic_webhook_url: r.11,
        last_fired_at: r.12,
        created_at: r.13,
        updated_at: r.14,
        revision: r.15,
    }));
    // SQLite aggregates the ordered subquery in order, but SQL does not
    // promise it; checking is cheap, sorting only a safety net.
    let chunk = &mut out[start..];
    if !chunk.is_sorted_by(|a, b| a.id < b.id) {
        chunk.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(())
}

impl Tx {
    /// See [`Store::insert_rule`]; here so a rule and the endpoints it
    /// owns can be created together.
    pub async fn insert_rule(&mut self, rule: &NewRule) -> Result<RuleRecord> {
        let next = next_revision(self.kind());
        let sql = format!(
            "INSERT INTO rules (id, name, symbol, rule_type, config, frequency, cooldown_seconds, enabled,
                status, expires_at, discord_webhook_url, generic_webhook_url, last_fired_at, created_at,
                updated_at, revision)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10, $11, NULL, $12, $12, {next})
             RETURNING {RULE_COLUMNS}"
        );
        let row = on_tx!(self, conn => {
            sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(sql))
                .bind(&rule.id)
                .bind(&rule.name)
                .bind(&rule.symbol)
                .bind(&rule.rule_type)
                .bind(json_text(&rule.config))
                .bind(&rule.frequency)
                .bind(rule.cooldown_seconds)
                .bind(rule.enabled)
                .bind(rule.expires_at)
                .bind(&rule.discord_webhook_url)
                .bind(&rule.generic_webhook_url)
                .bind(rule.created_at)
                .fetch_one(&mut *conn)
                .await?
        });
        row.try_into()
    }

    /// See [`Store::update_rule_with_targets`].
    async fn update_rule(
        &mut self,
        id: &str,
        patch: &RulePatch,
        now: UnixMillis,
    ) -> Result<RuleRecord> {
        let next = next_revision(self.kind());
        let sql = format!(
            "UPDATE rules SET name = COALESCE($2, name), symbol = COALESCE($3, symbol),
                rule_type = COALESCE($4, rule_type), config = COALESCE($5, config),
                frequency = COALESCE($6, frequency), cooldown_seconds = COALESCE($7, cooldown_seconds),
                enabled = COALESCE($8, enabled),
                expires_at = CASE WHEN $9 THEN $10 ELSE expires_at END,
                discord_webhook_url = CASE WHEN $11 THEN $12 ELSE discord_webhook_url END,
                generic_webhook_url = CASE WHEN $13 THEN $14 ELSE generic_webhook_url END,
                updated_at = $15, revision = {next}
             WHERE id = $1 AND status <> 'deleted'
             RETURNING {RULE_COLUMNS}"
        );
        let row = on_tx!(self, conn => {
            sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(&patch.name)
                .bind(&patch.symbol)
                .bind(&patch.rule_type)
                .bind(patch.config.as_ref().map(json_text))
                .bind(&patch.frequency)
                .bind(patch.cooldown_seconds)
                .bind(patch.enabled)
                .bind(patch.expires_at.is_some())
                .bind(patch.expires_at.flatten())
                .bind(patch.discord_webhook_url.is_some())
                .bind(patch.discord_webhook_url.as_ref().and_then(Option::as_deref))
                .bind(patch.generic_webhook_url.is_some())
                .bind(patch.generic_webhook_url.as_ref().and_then(Option::as_deref))
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Reads a rule, deleted or not, and on PostgreSQL locks its row until
    /// the transaction ends, so concurrent writers of the same rule (two
    /// evaluators firing it) take turns.
    pub(crate) async fn lock_rule(&mut self, id: &str) -> Result<Option<RuleRecord>> {
        let sql = match self.kind() {
            BackendKind::Postgres => {
                format!("SELECT {RULE_COLUMNS} FROM rules WHERE id = $1 FOR UPDATE")
            }
            // The transaction already holds SQLite's write lock.
            BackendKind::Sqlite => format!("SELECT {RULE_COLUMNS} FROM rules WHERE id = $1"),
        };
        let row = on_tx!(self, conn => {
            sqlx::query_as::<_, RuleRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?
        });
        row.map(RuleRecord::try_from).transpose()
    }

    /// Records that a rule fired at feed time `fired_at`; a `once` rule is
    /// done and becomes `triggered`. Bumps the revision either way, so
    /// other replicas learn `last_fired_at` (their cooldowns) from their
    /// next poll. `last_fired_at` is the feed's time, not the clock's: the
    /// evaluator's windows and cooldowns are in feed time.
    pub(crate) async fn mark_rule_fired(
        &mut self,
        rule: &RuleRecord,
        fired_at: UnixMillis,
        now: UnixMillis,
    ) -> Result<()> {
        let next = next_revision(self.kind());
        let sql = format!(
            "UPDATE rules SET last_fired_at = $3, updated_at = $2, revision = {next},
                status = CASE WHEN frequency = 'once' THEN 'triggered' ELSE status END,
                enabled = CASE WHEN frequency = 'once' THEN FALSE ELSE enabled END
             WHERE id = $1"
        );
        on_tx!(self, conn => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&rule.id).bind(now).bind(fired_at).execute(&mut *conn).await?;
        });
        Ok(())
    }

    /// Moves a rule to status `to` from `from` (any status but `deleted`
    /// when `None`). Returns `None` if it did not move, else how many owned
    /// endpoints were deleted (only when moving to `deleted`).
    async fn transition_rule(
        &mut self,
        id: &str,
        from: Option<&str>,
        to: &str,
        now: UnixMillis,
    ) -> Result<Option<u64>> {
        let next = next_revision(self.kind());
        let sql = format!(
            "UPDATE rules SET status = $2, updated_at = $3, revision = {next},
                enabled = CASE WHEN $2 = 'active' THEN enabled ELSE FALSE END
             WHERE id = $1 AND status <> 'deleted' AND ($4 IS NULL OR status = $4)"
        );
        let moved = on_tx!(self, conn => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(to)
                .bind(now)
                .bind(from)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if moved == 0 {
            return Ok(None);
        }
        if to != "deleted" {
            return Ok(Some(0));
        }
        let endpoints = on_tx!(self, conn => {
            sqlx::query("DELETE FROM endpoints WHERE owner_rule_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        Ok(Some(endpoints))
    }
}
