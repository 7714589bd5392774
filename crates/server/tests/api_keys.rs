//! Authentication, roles and key management over HTTP, on both backends.

mod common;

use common::{ADMIN_KEY, TestApp, error_code};
use serde_json::Value;
use tradehook_store::backend_test;

backend_test!(api_routes_refuse_missing_and_unknown_keys, |db| {
    let app = TestApp::start(db).await;
    let (status, body) = error_code(app.get("/api/v1/keys").send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "missing_api_key")
    );

    let (status, body) = error_code(
        app.get("/api/v1/me")
            .header("x-api-key", "th_not_a_real_key")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "invalid_api_key")
    );

    let (status, _) = error_code(
        app.get("/api/v1/me")
            .header("authorization", "Basic YWRtOg==")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    app.stop().await;
});

backend_test!(the_admin_key_works_in_either_header, |db| {
    let app = TestApp::start(db).await;
    for (name, value) in [
        ("x-api-key", ADMIN_KEY.to_string()),
        ("authorization", format!("Bearer {ADMIN_KEY}")),
    ] {
        let response = app
            .get("/api/v1/keys")
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let keys: Value = response.json().await.unwrap();
        assert_eq!(keys, serde_json::json!([]));
    }
    let me: Value = app
        .get("/api/v1/me")
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["id"], "admin");
    app.stop().await;
});

backend_test!(a_created_key_is_shown_once_and_authenticates, |db| {
    let app = TestApp::start(db).await;
    let (id, secret) = app.create_key("bot", "write", Some(77)).await;
    assert!(
        secret.starts_with("th_") && secret.len() >= 3 + 43,
        "{secret}"
    );

    let me: Value = app
        .get("/api/v1/me")
        .header("x-api-key", &secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me,
        serde_json::json!({"id": id, "name": "bot", "role": "write", "rate_limit_per_minute": 77})
    );

    // Listing and fetching never show the secret again.
    let listed = app
        .get("/api/v1/keys")
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains(&id) && !listed.contains(&secret),
        "{listed}"
    );
    let one: Value = app
        .get(&format!("/api/v1/keys/{id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["prefix"], &secret[..11]);
    assert!(one.get("secret").is_none());

    // Only the hash is stored.
    let stored = db.store.get_api_key(&id).await.unwrap();
    assert_eq!(stored.prefix, &secret[..11]);
    app.stop().await;
});

backend_test!(roles_are_enforced, |db| {
    let app = TestApp::start(db).await;
    let (_, writer) = app.create_key("writer", "write", None).await;
    let (_, reader) = app.create_key("reader", "read", None).await;

    // Non-admin keys may not manage keys.
    for key in [&writer, &reader] {
        let (status, body) = error_code(
            app.get("/api/v1/keys")
                .header("x-api-key", key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            (403, "forbidden")
        );
    }
    // A read key may GET but not change anything.
    assert_eq!(
        app.get("/api/v1/me")
            .header("x-api-key", &reader)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, _) = error_code(
        app.post("/api/v1/keys")
            .header("x-api-key", &reader)
            .json(&serde_json::json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    // A write key on an admin route with a write method: still 403.
    let (status, _) = error_code(
        app.post("/api/v1/keys")
            .header("x-api-key", &writer)
            .json(&serde_json::json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    // Nothing was created by the refused calls.
    assert_eq!(db.store.list_api_keys(true).await.unwrap().len(), 2);
    app.stop().await;
});

backend_test!(a_revoked_key_stops_working_at_once, |db| {
    let app = TestApp::start(db).await;
    let (id, secret) = app.create_key("temp", "read", None).await;
    assert_eq!(
        app.get("/api/v1/me")
            .header("x-api-key", &secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let revoked: Value = app
        .delete(&format!("/api/v1/keys/{id}"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    let (status, body) = error_code(
        app.get("/api/v1/me")
            .header("x-api-key", &secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "revoked_api_key")
    );

    // Revoked keys leave the default listing.
    let listed: Value = app
        .get("/api/v1/keys")
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, serde_json::json!([]));

    // Unknown or malformed ids are 404.
    for bad in ["key_00000000000000000000000000000000", "nonsense"] {
        let (status, _) = error_code(
            app.delete(&format!("/api/v1/keys/{bad}"))
                .header("x-api-key", ADMIN_KEY)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 404, "{bad}");
    }
    app.stop().await;
});

backend_test!(a_duplicate_live_name_is_a_conflict, |db| {
    let app = TestApp::start(db).await;
    app.create_key("bot", "write", None).await;
    let (status, body) = error_code(
        app.post("/api/v1/keys")
            .header("x-api-key", ADMIN_KEY)
            .json(&serde_json::json!({"name": "bot"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (409, "api_key_name_taken")
    );
    app.stop().await;
});
