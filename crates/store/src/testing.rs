//! Fresh databases for tests, on both backends.
//!
//! SQLite tests get a new file in a temporary folder. PostgreSQL tests get
//! a new schema in the database named by `TRADEHOOK_TEST_POSTGRES_URL`,
//! selected through the connection's `search_path`, so tests run in
//! parallel without seeing each other. When that variable is unset and no
//! server answers on the default local address, PostgreSQL tests skip with
//! a printed notice; when it is set, a failure to connect fails the test.

use std::time::Duration;

use crate::{Store, StoreOptions};

/// The variable that names the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "TRADEHOOK_TEST_POSTGRES_URL";
/// Tried when the variable is unset, so a developer with a local server
/// runs the PostgreSQL tests without configuring anything.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated database that lives as long as this value.
pub struct TestDb {
    pub store: Store,
    /// A URL that opens this same database (and schema), for code under
    /// test that connects by itself.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database on `backend`, or `None` (with a notice printed)
    /// when PostgreSQL is not available and not required.
    pub async fn new(backend: TestBackend, test_name: &str) -> Option<TestDb> {
        match backend {
            TestBackend::Sqlite => Some(Self::sqlite().await),
            TestBackend::Postgres => Self::postgres(test_name).await,
        }
    }

    /// A fresh SQLite file, migrated.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        TestDb {
            store,
            url,
            _dir: Some(dir),
            schema: None,
        }
    }

    /// A fresh PostgreSQL schema, migrated; `None` when skipped.
    pub async fn postgres(test_name: &str) -> Option<TestDb> {
        let base = postgres_base_url(test_name).await?;
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = Store::connect(&base, &small_pool())
            .await
            .expect("connect PostgreSQL");
        admin
            .execute_raw(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create test schema");
        admin.close().await;

        let url = with_search_path(&base, &schema);
        let store = Store::connect(&url, &small_pool())
            .await
            .expect("connect PostgreSQL schema");
        let current = store.current_schema().await.expect("current_schema()");
        assert_eq!(current, schema, "search_path from the URL was not applied");
        store.migrate().await.expect("migrate PostgreSQL");
        Some(TestDb {
            store,
            url,
            _dir: None,
            schema: Some((base, schema)),
        })
    }

    /// Drops the PostgreSQL schema (SQLite files go with the temp folder).
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some((base, schema)) = self.schema
            && let Ok(admin) = Store::connect(&base, &small_pool()).await
        {
            let _ = admin
                .execute_raw(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await;
            admin.close().await;
        }
    }
}

fn small_pool() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        ..StoreOptions::default()
    }
}

/// The PostgreSQL URL tests use, or `None` after printing why they skip.
pub async fn postgres_base_url(test_name: &str) -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let probe = tokio::time::timeout(
                Duration::from_secs(2),
                Store::connect(DEFAULT_POSTGRES_URL, &small_pool()),
            )
            .await;
            match probe {
                Ok(Ok(store)) => {
                    store.close().await;
                    Some(DEFAULT_POSTGRES_URL.to_string())
                }
                _ => {
                    eprintln!(
                        "SKIPPED {test_name}: PostgreSQL not available \
                         (set {POSTGRES_URL_VAR} or start a server on 127.0.0.1:5432)"
                    );
                    None
                }
            }
        }
    }
}

/// `url` with `options=-c search_path=<schema>` added.
fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Declares one async test per backend from one body. The body gets a
/// `TestDb` named by the first argument:
///
/// ```text
/// backend_test!(keys_round_trip, |db| { db.store.ping().await.unwrap(); });
/// ```
#[macro_export]
macro_rules! backend_test {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($db: &$crate::testing::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::testing::TestDb::sqlite().await;
                run(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) =
                    $crate::testing::TestDb::postgres(concat!(module_path!(), "::postgres")).await
                else {
                    return;
                };
                run(&db).await;
                db.cleanup().await;
            }
        }
    };
}
