//! The endpoints repository: where events are delivered.
//!
//! Secrets arrive here already sealed (encrypted) by the caller; this
//! module stores and returns them as opaque text.

use std::collections::BTreeMap;

use tradehook_core::time::UnixMillis;

use crate::{Result, Store, StoreError, on_backend, on_write};

/// A stored endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    pub id: String,
    /// `webhook`, `discord`, `slack`, `telegram` or `log`.
    pub kind: String,
    pub url: String,
    pub description: String,
    /// Event type patterns (`alert.*`, `order.filled`, `*`).
    pub event_types: Vec<String>,
    pub filter_symbols: Option<Vec<String>>,
    pub filter_rule_ids: Option<Vec<String>>,
    pub filter_bot_ids: Option<Vec<String>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub rate_limit_per_minute: Option<i64>,
    pub max_concurrency: i64,
    pub headers: BTreeMap<String, String>,
    /// Sealed `whsec_…`.
    pub secret: String,
    /// Sealed previous secret, still signing until the expiry.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<UnixMillis>,
    /// `standard` or `hmac_sha256_hex`.
    pub signature_scheme: String,
    pub signature_header: Option<String>,
    pub telegram_chat_id: Option<String>,
    /// Sealed bot token.
    pub telegram_bot_token: Option<String>,
    pub retry_schedule: Option<Vec<String>>,
    pub failing_since: Option<UnixMillis>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// The rule this endpoint was created inline for; it is deleted with
    /// that rule. `None` for endpoints managed on their own.
    pub owner_rule_id: Option<String>,
    /// `envelope` (the `{"id","type","timestamp","data"}` body) or `data`
    /// (the event's `data` object alone, for receivers that expect a flat
    /// payload such as price alerts).
    pub body_format: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct EndpointRow {
    id: String,
    kind: String,
    url: String,
    description: String,
    event_types: String,
    filter_symbols: Option<String>,
    filter_rule_ids: Option<String>,
    filter_bot_ids: Option<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    rate_limit_per_minute: Option<i64>,
    max_concurrency: i64,
    headers: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<i64>,
    signature_scheme: String,
    signature_header: Option<String>,
    telegram_chat_id: Option<String>,
    telegram_bot_token: Option<String>,
    retry_schedule: Option<String>,
    failing_since: Option<i64>,
    created_at: i64,
    updated_at: i64,
    owner_rule_id: Option<String>,
    body_format: String,
}

/// Binds every column of an endpoint, in the order both the insert and
/// the update statements number them ($1 … $26).
macro_rules! bind_endpoint {
    ($query:expr, $e:expr) => {
        $query
            .bind(&$e.id)
            .bind(&$e.kind)
            .bind(&$e.url)
            .bind(&$e.description)
            .bind(to_json(&$e.event_types))
            .bind($e.filter_symbols.as_ref().map(to_json))
            .bind($e.filter_rule_ids.as_ref().map(to_json))
            .bind($e.filter_bot_ids.as_ref().map(to_json))
            .bind($e.enabled)
            .bind(&$e.disabled_reason)
            .bind($e.rate_limit_per_minute)
            .bind($e.max_concurrency)
            .bind(to_json(&$e.headers))
            .bind(&$e.secret)
            .bind(&$e.previous_secret)
            .bind($e.previous_secret_expires_at)
            .bind(&$e.signature_scheme)
            .bind(&$e.signature_header)
            .bind(&$e.telegram_chat_id)
            .bind(&$e.telegram_bot_token)
            .bind($e.retry_schedule.as_ref().map(to_json))
            .bind($e.failing_since)
            .bind($e.created_at)
            .bind($e.updated_at)
            .bind(&$e.owner_rule_id)
            .bind(&$e.body_format)
    };
}

const INSERT_ENDPOINT: &str = "INSERT INTO endpoints (id, kind, url, description, event_types, filter_symbols,
        filter_rule_ids, filter_bot_ids, enabled, disabled_reason, rate_limit_per_minute, max_concurrency, headers,
        secret, previous_secret, previous_secret_expires_at, signature_scheme, signature_header,
        telegram_chat_id, telegram_bot_token, retry_schedule, failing_since, created_at, updated_at,
        owner_rule_id, body_format)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24, $25, $26)";

pub(crate) const ENDPOINT_COLUMNS: &str = "id, kind, url, description, event_types, filter_symbols, \
    filter_rule_ids, filter_bot_ids, enabled, disabled_reason, rate_limit_per_minute, max_concurrency, \
    headers, secret, previous_secret, previous_secret_expires_at, signature_scheme, signature_header, \
    telegram_chat_id, telegram_bot_token, retry_schedule, failing_since, created_at, updated_at, \
    owner_rule_id, body_format";

fn json_list(text: Option<String>) -> Result<Option<Vec<String>>> {
    text.map(|t| serde_json::from_str(&t).map_err(corrupt))
        .transpose()
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("stored JSON does not parse: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("lists and maps of strings serialise")
}

impl TryFrom<EndpointRow> for EndpointRecord {
    type Error = StoreError;
    fn try_from(r: EndpointRow) -> Result<Self> {
        Ok(EndpointRecord {
            id: r.id,
            kind: r.kind,
            url: r.url,
            description: r.description,
            event_types: serde_json::from_str(&r.event_types).map_err(corrupt)?,
            filter_symbols: json_list(r.filter_symbols)?,
            filter_rule_ids: json_list(r.filter_rule_ids)?,
            filter_bot_ids: json_list(r.filter_bot_ids)?,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            rate_limit_per_minute: r.rate_limit_per_minute,
            max_concurrency: r.max_concurrency,
            headers: serde_json::from_str(&r.headers).map_err(corrupt)?,
            secret: r.secret,
            previous_secret: r.previous_secret,
            previous_secret_expires_at: r.previous_secret_expires_at,
            signature_scheme: r.signature_scheme,
            signature_header: r.signature_header,
            telegram_chat_id: r.telegram_chat_id,
            telegram_bot_token: r.telegram_bot_token,
            retry_schedule: json_list(r.retry_schedule)?,
            failing_since: r.failing_since,
            created_at: r.created_at,
            updated_at: r.updated_at,
            owner_rule_id: r.owner_rule_id,
            body_format: r.body_format,
        })
    }
}

pub(crate) fn rows_to_records(rows: Vec<EndpointRow>) -> Result<Vec<EndpointRecord>> {
    rows.into_iter().map(EndpointRecord::try_from).collect()
}

impl Store {
    pub async fn insert_endpoint(&self, e: &EndpointRecord) -> Result<()> {
        on_write!(self, pool => {
            bind_endpoint!(sqlx::query(INSERT_ENDPOINT), e).execute(pool).await?;
        });
        Ok(())
    }

    /// Writes every field of an existing endpoint (a PATCH is applied by
    /// the caller to the record first). `NotFound` if it is gone.
    pub async fn update_endpoint(&self, e: &EndpointRecord) -> Result<()> {
        let done = on_write!(self, pool => {
            bind_endpoint!(sqlx::query(
                "UPDATE endpoints SET kind = $2, url = $3, description = $4, event_types = $5,
                    filter_symbols = $6, filter_rule_ids = $7, filter_bot_ids = $8, enabled = $9,
                    disabled_reason = $10, rate_limit_per_minute = $11, max_concurrency = $12, headers = $13,
                    secret = $14, previous_secret = $15, previous_secret_expires_at = $16,
                    signature_scheme = $17, signature_header = $18, telegram_chat_id = $19,
                    telegram_bot_token = $20, retry_schedule = $21, failing_since = $22, created_at = $23,
                    updated_at = $24, owner_rule_id = $25, body_format = $26
                 WHERE id = $1",
            ), e)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn get_endpoint(&self, id: &str) -> Result<EndpointRecord> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, EndpointRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Endpoints in creation order, after the cursor id when given.
    pub async fn list_endpoints(
        &self,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EndpointRecord>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, EndpointRow>(sqlx::AssertSqlSafe(sql))
                .bind(after_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        rows_to_records(rows)
    }

    /// The endpoints a rule owns (its inline targets), in id order.
    pub async fn owned_endpoints(&self, rule_id: &str) -> Result<Vec<EndpointRecord>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE owner_rule_id = $1 ORDER BY id"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, EndpointRow>(sqlx::AssertSqlSafe(sql)).bind(rule_id).fetch_all(pool).await?
        });
        rows_to_records(rows)
    }

    /// Deletes an endpoint and (by cascade) its deliveries.
    pub async fn delete_endpoint(&self, id: &str) -> Result<()> {
        let done = on_write!(self, pool => {
            sqlx::query("DELETE FROM endpoints WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Disables an endpoint and fails its pending deliveries, in one
    /// transaction. Returns false if it was already disabled.
    pub async fn disable_endpoint(&self, id: &str, reason: &str, now: UnixMillis) -> Result<bool> {
        let mut tx = self.begin().await?;
        let changed = tx.disable_endpoint(id, reason, now).await?;
        tx.commit().await?;
        Ok(changed)
    }
}

impl crate::Tx {
    /// Inserts an endpoint inside a larger write, e.g. a rule and the
    /// inline target it owns, so neither exists without the other.
    pub async fn insert_endpoint(&mut self, e: &EndpointRecord) -> Result<()> {
        crate::tx::on_tx!(self, conn => {
            bind_endpoint!(sqlx::query(INSERT_ENDPOINT), e).execute(&mut *conn).await?;
        });
        Ok(())
    }

    /// See [`Store::disable_endpoint`].
    pub async fn disable_endpoint(
        &mut self,
        id: &str,
        reason: &str,
        now: UnixMillis,
    ) -> Result<bool> {
        let changed = crate::tx::on_tx!(self, conn => {
            let changed = sqlx::query(
                "UPDATE endpoints SET enabled = FALSE, disabled_reason = $2, updated_at = $3
                 WHERE id = $1 AND enabled",
            )
            .bind(id)
            .bind(reason)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            sqlx::query(
                "UPDATE deliveries SET status = 'failed', last_error = 'endpoint_disabled', updated_at = $2,
                    lease_token = lease_token + 1
                 WHERE endpoint_id = $1 AND status = 'pending'",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            changed
        });
        Ok(changed > 0)
    }
}
