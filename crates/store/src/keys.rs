//! The API keys repository.

use tradehook_core::apikey::{KeyHash, Role};
use tradehook_core::time::UnixMillis;

use crate::{Result, Store, StoreError, on_backend, on_write};

/// A stored API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// Non-secret display prefix (`th_AbCdEfGh`).
    pub prefix: String,
    /// Per-minute request limit; `None` means the configured default.
    pub rate_limit_per_minute: Option<i64>,
    pub created_at: UnixMillis,
    pub last_used_at: Option<UnixMillis>,
    pub revoked_at: Option<UnixMillis>,
}

impl ApiKeyRecord {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// What is needed to store a new key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub hash: KeyHash,
    pub rate_limit_per_minute: Option<i64>,
    pub created_at: UnixMillis,
}

const COLUMNS: &str =
    "id, name, role, prefix, rate_limit_per_minute, created_at, last_used_at, revoked_at";

impl Store {
    /// Stores a key. A live key with the same name is a
    /// `Conflict { constraint: "api_key_name_taken" }`.
    pub async fn insert_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord> {
        on_write!(self, pool => {
            sqlx::query(
                "INSERT INTO api_keys (id, name, role, prefix, key_hash, rate_limit_per_minute, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&key.id)
            .bind(&key.name)
            .bind(key.role.as_str())
            .bind(&key.prefix)
            .bind(key.hash.as_str())
            .bind(key.rate_limit_per_minute)
            .bind(key.created_at)
            .execute(pool)
            .await?;
        });
        Ok(ApiKeyRecord {
            id: key.id.clone(),
            name: key.name.clone(),
            role: key.role,
            prefix: key.prefix.clone(),
            rate_limit_per_minute: key.rate_limit_per_minute,
            created_at: key.created_at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// Keys in creation order; revoked ones only when asked.
    pub async fn list_api_keys(&self, include_revoked: bool) -> Result<Vec<ApiKeyRecord>> {
        let sql = if include_revoked {
            format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id")
        } else {
            format!(
                "SELECT {COLUMNS} FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at, id"
            )
        };
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, ApiKeyRecord>(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?
        });
        Ok(rows)
    }

    pub async fn get_api_key(&self, id: &str) -> Result<ApiKeyRecord> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, ApiKeyRecord>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// The key with this hash, revoked or not.
    pub async fn find_api_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, ApiKeyRecord>(sqlx::AssertSqlSafe(sql))
                .bind(hash.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// Revokes a key. Revoking a revoked key keeps the first revocation
    /// time and succeeds; an unknown id is `NotFound`.
    pub async fn revoke_api_key(&self, id: &str, now: UnixMillis) -> Result<ApiKeyRecord> {
        on_write!(self, pool => {
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        self.get_api_key(id).await
    }

    /// Records that a key was used. Callers throttle this; it is not on
    /// every request.
    pub async fn touch_api_key(&self, id: &str, now: UnixMillis) -> Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
