//! The dashboard's repository (sessions, overview counts, equity change),
//! on SQLite and on PostgreSQL.

use serde_json::json;
use tradehook_store::{ActivityCounts, DashboardSession, EquitySnapshot, backend_test};

fn session(id_hash: &str, expires_at: i64) -> DashboardSession {
    DashboardSession {
        id_hash: id_hash.to_string(),
        key_id: "key_1".to_string(),
        key_sealed: "sealed:v1:abc".to_string(),
        csrf_token: "csrf".to_string(),
        created_at: 1_000,
        expires_at,
    }
}

backend_test!(sessions_are_found_until_they_expire_or_are_deleted, |db| {
    let s = db.store.clone();
    s.insert_dashboard_session(&session("h1", 10_000))
        .await
        .unwrap();
    s.insert_dashboard_session(&session("h2", 5_000))
        .await
        .unwrap();
    assert_eq!(
        s.get_dashboard_session("h1", 9_999).await.unwrap(),
        Some(session("h1", 10_000))
    );
    assert_eq!(
        s.get_dashboard_session("h1", 10_000).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(s.get_dashboard_session("nope", 0).await.unwrap(), None);

    assert_eq!(s.prune_dashboard_sessions(6_000).await.unwrap(), 1);
    assert_eq!(s.get_dashboard_session("h2", 0).await.unwrap(), None);

    assert!(s.delete_dashboard_session("h1").await.unwrap());
    assert!(!s.delete_dashboard_session("h1").await.unwrap());
    assert_eq!(s.get_dashboard_session("h1", 0).await.unwrap(), None);
});

backend_test!(overview_queries_run_on_an_empty_database, |db| {
    assert_eq!(
        db.store.activity_counts(0).await.unwrap(),
        ActivityCounts::default()
    );
    assert!(db.store.failing_endpoints(10).await.unwrap().is_empty());
});

backend_test!(
    equity_change_measures_from_the_last_snapshot_before_the_day,
    |db| {
        let s = &db.store;
        assert_eq!(s.equity_change("bot_1", 1_000).await.unwrap(), None);
        let snap = |ts: i64, equity: &str| EquitySnapshot {
            bot_id: "bot_1".to_string(),
            ts,
            equity: equity.to_string(),
            cash: equity.to_string(),
            positions: json!([]),
        };
        s.insert_equity_snapshot(&snap(1_500, "110")).await.unwrap();
        assert_eq!(
            s.equity_change("bot_1", 1_000).await.unwrap(),
            Some(("110".to_string(), "110".to_string())),
            "no snapshot before the day: the first of the day"
        );
        s.insert_equity_snapshot(&snap(500, "100")).await.unwrap();
        s.insert_equity_snapshot(&snap(900, "105")).await.unwrap();
        s.insert_equity_snapshot(&snap(2_000, "120")).await.unwrap();
        assert_eq!(
            s.equity_change("bot_1", 1_000).await.unwrap(),
            Some(("105".to_string(), "120".to_string()))
        );
        assert_eq!(s.equity_change("bot_2", 1_000).await.unwrap(), None);
    }
);
