//! API key repository behaviour, on SQLite and on PostgreSQL.

use tradehook_core::apikey::{KeyHash, NewKey, Role};
use tradehook_core::ids::new_id;
use tradehook_store::{NewApiKey, StoreError, backend_test};

fn new_key(name: &str, role: Role) -> (NewKey, NewApiKey) {
    let key = NewKey::generate();
    let row = NewApiKey {
        id: new_id("key"),
        name: name.to_string(),
        role,
        prefix: key.display_prefix.clone(),
        hash: key.hash.clone(),
        rate_limit_per_minute: Some(30),
        created_at: 1_700_000_000_000,
    };
    (key, row)
}

backend_test!(a_stored_key_is_found_by_its_hash_only, |db| {
    let (key, row) = new_key("bot", Role::Write);
    let stored = db.store.insert_api_key(&row).await.unwrap();
    assert_eq!(stored.role, Role::Write);

    let found = db
        .store
        .find_api_key_by_hash(&KeyHash::of(key.expose()))
        .await
        .unwrap();
    assert_eq!(found, Some(stored.clone()));
    assert_eq!(found.unwrap().rate_limit_per_minute, Some(30));

    let other = db
        .store
        .find_api_key_by_hash(&KeyHash::of("th_nope"))
        .await
        .unwrap();
    assert_eq!(other, None);
});

backend_test!(two_live_keys_cannot_share_a_name, |db| {
    let (_, first) = new_key("bot", Role::Read);
    db.store.insert_api_key(&first).await.unwrap();
    let (_, second) = new_key("bot", Role::Write);
    match db.store.insert_api_key(&second).await {
        Err(StoreError::Conflict { constraint }) => assert_eq!(constraint, "api_key_name_taken"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Revoking the first frees the name.
    db.store
        .revoke_api_key(&first.id, 1_700_000_000_500)
        .await
        .unwrap();
    db.store.insert_api_key(&second).await.unwrap();
});

backend_test!(revocation_is_recorded_once_and_listed_on_request, |db| {
    let (key, row) = new_key("viewer", Role::Read);
    db.store.insert_api_key(&row).await.unwrap();

    let revoked = db
        .store
        .revoke_api_key(&row.id, 1_700_000_001_000)
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(1_700_000_001_000));
    // A second revocation keeps the first time.
    let again = db
        .store
        .revoke_api_key(&row.id, 1_700_000_009_000)
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(1_700_000_001_000));

    let found = db
        .store
        .find_api_key_by_hash(&KeyHash::of(key.expose()))
        .await
        .unwrap()
        .unwrap();
    assert!(found.is_revoked());

    assert!(db.store.list_api_keys(false).await.unwrap().is_empty());
    let all = db.store.list_api_keys(true).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, row.id);
});

backend_test!(unknown_ids_are_not_found, |db| {
    assert!(matches!(
        db.store.get_api_key("key_nope").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.store.revoke_api_key("key_nope", 1).await,
        Err(StoreError::NotFound)
    ));
});

backend_test!(listing_is_in_creation_order_and_touch_records_use, |db| {
    let mut ids = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let (_, mut row) = new_key(name, Role::Read);
        row.created_at += i as i64;
        ids.push(row.id.clone());
        db.store.insert_api_key(&row).await.unwrap();
    }
    let listed: Vec<String> = db
        .store
        .list_api_keys(false)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, ids);

    db.store.touch_api_key(&ids[1], 42).await.unwrap();
    assert_eq!(
        db.store.get_api_key(&ids[1]).await.unwrap().last_used_at,
        Some(42)
    );
});

backend_test!(migrations_are_reported_applied_and_rerun_safely, |db| {
    db.store.migrate().await.unwrap();
    let status = db.store.migration_status().await.unwrap();
    assert!(!status.is_empty());
    assert!(status.iter().all(|(_, _, applied)| *applied), "{status:?}");
    db.store.ping().await.unwrap();
});
