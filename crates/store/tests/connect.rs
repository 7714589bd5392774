//! Opening databases: URL schemes and SQLite pragmas.

use tradehook_store::{BackendKind, Store, StoreOptions};

#[test]
fn the_url_scheme_selects_the_backend() {
    assert_eq!(
        BackendKind::from_url("sqlite://x.db").unwrap(),
        BackendKind::Sqlite
    );
    assert_eq!(
        BackendKind::from_url("sqlite::memory:").unwrap(),
        BackendKind::Sqlite
    );
    assert_eq!(
        BackendKind::from_url("postgres://h/db").unwrap(),
        BackendKind::Postgres
    );
    assert_eq!(
        BackendKind::from_url("postgresql://h/db").unwrap(),
        BackendKind::Postgres
    );
    let err = BackendKind::from_url("mysql://u:secret@h/db")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected sqlite:// or postgres://"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

#[tokio::test]
async fn sqlite_is_created_in_wal_mode_with_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let store = Store::connect(
        &format!("sqlite://{}", path.display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    assert!(path.exists(), "the file is created when missing");
    let pragmas = store.sqlite_pragmas().await.unwrap();
    assert_eq!(pragmas.journal_mode, "wal");
    assert!(pragmas.foreign_keys);
    assert_eq!(pragmas.busy_timeout_ms, 5000);
}
