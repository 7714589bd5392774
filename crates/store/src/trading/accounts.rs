//! Broker accounts: where a bot's orders go.
//!
//! Credentials arrive sealed by the caller and are stored as opaque text.
//! The paper broker's state is kept with its account but read and written
//! whole through its own calls, so listings never carry it.

use serde_json::Value;
use tradehook_core::time::{UnixMillis, now_ms};

use super::{ACCOUNT_IN_USE, json_text, map_err, parse_json};
use crate::tx::on_tx;
use crate::{Result, Store, StoreError, Tx, on_backend, on_write};

/// A stored broker account, without the paper broker's state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BrokerAccountRecord {
    /// `bac_…`.
    pub id: String,
    pub name: String,
    /// `paper` or `alpaca`.
    pub kind: String,
    /// `paper` or `live`.
    pub environment: String,
    /// Sealed.
    pub credentials: Option<String>,
    pub base_url: Option<String>,
    /// Decimal; the paper broker's opening cash.
    pub starting_cash: Option<String>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// What is needed to store a new broker account.
#[derive(Debug, Clone)]
pub struct NewBrokerAccount {
    /// `new_id("bac")`.
    pub id: String,
    pub name: String,
    pub kind: String,
    pub environment: String,
    pub credentials: Option<String>,
    pub base_url: Option<String>,
    pub starting_cash: Option<String>,
    pub created_at: UnixMillis,
}

/// Fields to change; `None` leaves a field as it is, `Some(None)` clears
/// a nullable one. Kind and environment are fixed at creation: a paper
/// account turned live would send the paper bots' orders to real money.
#[derive(Debug, Clone, Default)]
pub struct BrokerAccountPatch {
    pub name: Option<String>,
    pub credentials: Option<Option<String>>,
    pub base_url: Option<Option<String>>,
    pub starting_cash: Option<Option<String>>,
}

const COLUMNS: &str =
    "id, name, kind, environment, credentials, base_url, starting_cash, created_at, updated_at";

impl Store {
    /// Stores an account. A taken name is a
    /// `Conflict { constraint: "broker_account_name_taken" }`.
    pub async fn insert_broker_account(&self, a: &NewBrokerAccount) -> Result<BrokerAccountRecord> {
        on_write!(self, pool => {
            sqlx::query(
                "INSERT INTO broker_accounts (id, name, kind, environment, credentials, base_url, starting_cash,
                    created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(&a.id)
            .bind(&a.name)
            .bind(&a.kind)
            .bind(&a.environment)
            .bind(&a.credentials)
            .bind(&a.base_url)
            .bind(&a.starting_cash)
            .bind(a.created_at)
            .execute(pool)
            .await
            .map_err(map_err(ACCOUNT_IN_USE))?;
        });
        Ok(BrokerAccountRecord {
            id: a.id.clone(),
            name: a.name.clone(),
            kind: a.kind.clone(),
            environment: a.environment.clone(),
            credentials: a.credentials.clone(),
            base_url: a.base_url.clone(),
            starting_cash: a.starting_cash.clone(),
            created_at: a.created_at,
            updated_at: a.created_at,
        })
    }

    pub async fn get_broker_account(&self, id: &str) -> Result<BrokerAccountRecord> {
        let sql = format!("SELECT {COLUMNS} FROM broker_accounts WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, BrokerAccountRecord>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// Every account, in id (creation) order. There are few.
    pub async fn list_broker_accounts(&self) -> Result<Vec<BrokerAccountRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM broker_accounts ORDER BY id");
        Ok(on_backend!(self, pool => {
            sqlx::query_as::<_, BrokerAccountRecord>(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?
        }))
    }

    /// Applies a patch, stamping `updated_at` with the wall clock.
    pub async fn update_broker_account(
        &self,
        id: &str,
        patch: &BrokerAccountPatch,
    ) -> Result<BrokerAccountRecord> {
        let sql = format!(
            "UPDATE broker_accounts SET
                name = COALESCE($2, name),
                credentials = CASE WHEN $3 THEN $4 ELSE credentials END,
                base_url = CASE WHEN $5 THEN $6 ELSE base_url END,
                starting_cash = CASE WHEN $7 THEN $8 ELSE starting_cash END,
                updated_at = $9
             WHERE id = $1
             RETURNING {COLUMNS}"
        );
        let row = on_write!(self, pool => {
            sqlx::query_as::<_, BrokerAccountRecord>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(&patch.name)
                .bind(patch.credentials.is_some())
                .bind(patch.credentials.as_ref().and_then(Option::as_deref))
                .bind(patch.base_url.is_some())
                .bind(patch.base_url.as_ref().and_then(Option::as_deref))
                .bind(patch.starting_cash.is_some())
                .bind(patch.starting_cash.as_ref().and_then(Option::as_deref))
                .bind(now_ms())
                .fetch_optional(pool)
                .await
                .map_err(map_err(ACCOUNT_IN_USE))?
        });
        row.ok_or(StoreError::NotFound)
    }

    /// Deletes an account. An account that a bot names, even a deleted
    /// bot (its orders still point at the account), is a
    /// `Conflict { constraint: "broker_account_in_use" }`.
    pub async fn delete_broker_account(&self, id: &str) -> Result<()> {
        let done = on_write!(self, pool => {
            sqlx::query("DELETE FROM broker_accounts WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map_err(map_err(ACCOUNT_IN_USE))?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Replaces the paper broker's persisted state of an account.
    pub async fn save_paper_state(&self, id: &str, state: &Value) -> Result<()> {
        let done = on_write!(self, pool => {
            sqlx::query("UPDATE broker_accounts SET paper_state = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(json_text(state))
                .bind(now_ms())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The paper broker's persisted state; `None` before the first save.
    pub async fn load_paper_state(&self, id: &str) -> Result<Option<Value>> {
        let row: Option<(Option<String>,)> = on_backend!(self, pool => {
            sqlx::query_as("SELECT paper_state FROM broker_accounts WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        let (state,) = row.ok_or(StoreError::NotFound)?;
        state
            .map(|text| parse_json("paper state", &text))
            .transpose()
    }
}

impl Tx {
    /// [`Store::save_paper_state`] inside a larger write, so the paper
    /// broker's state commits with the order rows it explains.
    pub async fn save_paper_state(&mut self, id: &str, state: &Value) -> Result<()> {
        let done = on_tx!(self, conn => {
            sqlx::query("UPDATE broker_accounts SET paper_state = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(json_text(state))
                .bind(now_ms())
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
