//! Storage errors.
//!
//! Unique violations are turned into [`StoreError::Conflict`] with a
//! stable identifier, the same on both backends, so the API can answer
//! 409 with a precise code without parsing database messages itself.

/// Named unique constraints: (PostgreSQL constraint or index name, the
/// `table.column` list SQLite reports, stable identifier).
const KNOWN_CONSTRAINTS: &[(&str, &str, &str)] = &[
    (
        "api_keys_active_name_key",
        "api_keys.name",
        "api_key_name_taken",
    ),
    (
        "api_keys_hash_key",
        "api_keys.key_hash",
        "api_key_hash_taken",
    ),
    // `fire_alert` inserts with ON CONFLICT DO NOTHING and never reports
    // this one; it is named for any other writer of alerts.
    (
        "alerts_window_key",
        "alerts.rule_id, alerts.window_start, alerts.window_end",
        "alert_window_taken",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` is a stable
    /// identifier such as `api_key_name_taken`.
    #[error("conflict: {constraint}")]
    Conflict { constraint: String },
    /// A pagination cursor this store did not hand out.
    #[error("invalid cursor")]
    InvalidCursor,
    /// Stored data that does not parse (a bug or a manual edit).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the error says the database could not be reached (as
    /// opposed to a query it refused).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::RowNotFound = err {
            return StoreError::NotFound;
        }
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            return StoreError::Conflict {
                constraint: constraint_id(db.constraint(), db.message()),
            };
        }
        StoreError::Database(err)
    }
}

/// Maps a backend's description of a violated constraint to its stable id.
fn constraint_id(pg_name: Option<&str>, message: &str) -> String {
    for (pg, sqlite_columns, id) in KNOWN_CONSTRAINTS {
        if pg_name == Some(*pg) {
            return (*id).to_string();
        }
        // SQLite: "UNIQUE constraint failed: api_keys.name"
        if pg_name.is_none()
            && message
                .strip_prefix("UNIQUE constraint failed: ")
                .is_some_and(|cols| cols == *sqlite_columns)
        {
            return (*id).to_string();
        }
    }
    pg_name.unwrap_or("unique_violation").to_string()
}

#[cfg(test)]
mod tests {
    use super::constraint_id;

    #[test]
    fn both_backends_map_to_the_same_identifier() {
        assert_eq!(
            constraint_id(Some("api_keys_active_name_key"), "duplicate key value"),
            "api_key_name_taken"
        );
        assert_eq!(
            constraint_id(None, "UNIQUE constraint failed: api_keys.name"),
            "api_key_name_taken"
        );
    }

    #[test]
    fn unknown_constraints_keep_their_name() {
        assert_eq!(constraint_id(Some("other_key"), ""), "other_key");
        assert_eq!(
            constraint_id(None, "UNIQUE constraint failed: x.y"),
            "unique_violation"
        );
    }
}
