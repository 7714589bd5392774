//! The events outbox and delivery leases, on SQLite and on PostgreSQL.

use std::collections::{BTreeMap, HashSet};

use tradehook_core::event::Event;
use tradehook_store::{
    AttemptResult, DeliveryFilter, DeliveryStatus, EndpointRecord, NextState, backend_test,
};

fn endpoint(id: &str, patterns: &[&str]) -> EndpointRecord {
    EndpointRecord {
        id: id.to_string(),
        kind: "webhook".into(),
        url: format!("https://example.com/{id}"),
        description: String::new(),
        event_types: patterns.iter().map(|s| s.to_string()).collect(),
        filter_symbols: None,
        filter_rule_ids: None,
        filter_bot_ids: None,
        enabled: true,
        disabled_reason: None,
        rate_limit_per_minute: None,
        max_concurrency: 8,
        headers: BTreeMap::new(),
        secret: "sealed:v1:x".into(),
        previous_secret: None,
        previous_secret_expires_at: None,
        signature_scheme: "standard".into(),
        signature_header: None,
        telegram_chat_id: None,
        telegram_bot_token: None,
        retry_schedule: None,
        failing_since: None,
        created_at: 1,
        updated_at: 1,
        owner_rule_id: None,
        body_format: "envelope".into(),
    }
}

fn event(id: &str, event_type: &str, data: serde_json::Value) -> Event {
    Event {
        id: id.into(),
        event_type: event_type.into(),
        timestamp_ms: 1_000,
        data,
    }
}

fn result(
    d: &tradehook_store::LeasedDelivery,
    next: NextState,
    status: Option<i64>,
) -> AttemptResult {
    AttemptResult {
        delivery_id: d.id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        lease_token: d.lease_token,
        attempt: d.attempts + 1,
        started_at: 2_000,
        latency_ms: 5,
        http_status: status,
        error_class: None,
        response_snippet: "ok".into(),
        next,
        worker: "w1".into(),
    }
}

backend_test!(
    publishing_creates_one_delivery_per_matching_enabled_endpoint,
    |db| {
        let s = &db.store;
        s.insert_endpoint(&endpoint("ep_alerts", &["alert.*"]))
            .await
            .unwrap();
        s.insert_endpoint(&endpoint("ep_all", &["*"]))
            .await
            .unwrap();
        s.insert_endpoint(&endpoint("ep_orders", &["order.filled"]))
            .await
            .unwrap();
        let mut btc_only = endpoint("ep_btc", &["*"]);
        btc_only.filter_symbols = Some(vec!["BTC".into()]);
        s.insert_endpoint(&btc_only).await.unwrap();
        let mut off = endpoint("ep_off", &["*"]);
        off.enabled = false;
        s.insert_endpoint(&off).await.unwrap();

        let (seq1, n1) = s
            .publish_event(&event(
                "evt_1",
                "alert.triggered",
                serde_json::json!({"symbol": "ETH"}),
            ))
            .await
            .unwrap();
        assert_eq!(n1, 2, "alerts + all; not btc-only, not disabled");
        let (seq2, n2) = s
            .publish_event(&event(
                "evt_2",
                "order.filled",
                serde_json::json!({"symbol": "btc"}),
            ))
            .await
            .unwrap();
        assert_eq!(n2, 3, "all + orders + btc (case-insensitive)");
        assert!(seq2 > seq1);

        let all = s
            .list_deliveries(&DeliveryFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        let pairs: HashSet<(String, String)> = all
            .iter()
            .map(|d| (d.event_id.clone(), d.endpoint_id.clone()))
            .collect();
        let expected: HashSet<(String, String)> = [
            ("evt_1", "ep_alerts"),
            ("evt_1", "ep_all"),
            ("evt_2", "ep_all"),
            ("evt_2", "ep_orders"),
            ("evt_2", "ep_btc"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(pairs, expected);
        assert!(all.iter().all(|d| d.status == "pending"));
    }
);

backend_test!(a_failed_publish_leaves_neither_event_nor_deliveries, |db| {
    let s = &db.store;
    s.insert_endpoint(&endpoint("ep_all", &["*"]))
        .await
        .unwrap();
    s.publish_event(&event("evt_1", "alert.triggered", serde_json::json!({})))
        .await
        .unwrap();
    // The same id again violates the unique key: the transaction rolls back.
    assert!(
        s.publish_event(&event("evt_1", "alert.triggered", serde_json::json!({})))
            .await
            .is_err()
    );
    let deliveries = s
        .list_deliveries(&DeliveryFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        s.last_event_seq().await.unwrap(),
        s.event_seq("evt_1").await.unwrap().unwrap()
    );
});

backend_test!(a_lease_hides_deliveries_until_it_expires, |db| {
    let s = &db.store;
    s.insert_endpoint(&endpoint("ep", &["*"])).await.unwrap();
    for i in 0..3 {
        s.publish_event(&event(
            &format!("evt_{i}"),
            "alert.triggered",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    }
    assert_eq!(
        s.due_endpoints(1_000, 10).await.unwrap(),
        vec!["ep".to_string()]
    );
    let first = s
        .lease_deliveries("ep", 1_000, 61_000, "w1", 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].event.event_type, "alert.triggered");
    let second = s
        .lease_deliveries("ep", 1_000, 61_000, "w2", 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "only the unleased one");
    assert!(
        s.lease_deliveries("ep", 1_000, 61_000, "w2", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.due_endpoints(60_999, 10).await.unwrap().is_empty());

    // The lease ends: due again, with a new token; the old holder's
    // result is refused.
    let again = s
        .lease_deliveries("ep", 61_000, 121_000, "w3", 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 3);
    let stale = result(&first[0], NextState::Delivered, Some(200));
    assert_eq!(s.record_attempts(&[stale]).await.unwrap(), vec![false]);
    let fresh: Vec<_> = again
        .iter()
        .map(|d| result(d, NextState::Delivered, Some(200)))
        .collect();
    assert_eq!(
        s.record_attempts(&fresh).await.unwrap(),
        vec![true, true, true]
    );
    let delivered = s
        .list_deliveries(&DeliveryFilter {
            status: Some(DeliveryStatus::Delivered),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(delivered.len(), 3);
});

backend_test!(attempts_are_recorded_and_retries_come_back_when_due, |db| {
    let s = &db.store;
    s.insert_endpoint(&endpoint("ep", &["*"])).await.unwrap();
    s.publish_event(&event("evt_1", "alert.triggered", serde_json::json!({})))
        .await
        .unwrap();
    let d = s
        .lease_deliveries("ep", 1_000, 61_000, "w1", 1)
        .await
        .unwrap()
        .remove(0);
    let mut r = result(&d, NextState::RetryAt(9_000), Some(503));
    r.response_snippet = "busy".into();
    assert_eq!(s.record_attempts(&[r]).await.unwrap(), vec![true]);
    assert_eq!(
        s.get_endpoint("ep").await.unwrap().failing_since,
        Some(2_000)
    );

    assert!(
        s.lease_deliveries("ep", 8_999, 70_000, "w1", 1)
            .await
            .unwrap()
            .is_empty()
    );
    let d2 = s
        .lease_deliveries("ep", 9_000, 70_000, "w1", 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d2.attempts, 1);
    s.record_attempts(&[result(&d2, NextState::Delivered, Some(200))])
        .await
        .unwrap();
    assert_eq!(
        s.get_endpoint("ep").await.unwrap().failing_since,
        None,
        "a success clears the failure clock"
    );

    let attempts = s.delivery_attempts(&d.id).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (
            attempts[0].attempt,
            attempts[0].http_status,
            attempts[0].next_retry_at
        ),
        (1, Some(503), Some(9_000))
    );
    assert_eq!(attempts[0].response_snippet, "busy");
    assert_eq!(
        (attempts[1].attempt, attempts[1].http_status),
        (2, Some(200))
    );
    let record = s.get_delivery(&d.id).await.unwrap();
    assert_eq!((record.status.as_str(), record.attempts), ("delivered", 2));
});

backend_test!(replay_and_recover_make_deliveries_due_again, |db| {
    let s = &db.store;
    s.insert_endpoint(&endpoint("ep", &["*"])).await.unwrap();
    for i in 0..2 {
        s.publish_event(&event(
            &format!("evt_{i}"),
            "alert.triggered",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    }
    let leased = s
        .lease_deliveries("ep", 1_000, 61_000, "w1", 10)
        .await
        .unwrap();
    let failed: Vec<_> = leased
        .iter()
        .map(|d| result(d, NextState::Failed, Some(400)))
        .collect();
    s.record_attempts(&failed).await.unwrap();
    assert!(s.due_endpoints(100_000, 10).await.unwrap().is_empty());

    s.replay_delivery(&leased[0].id, 5_000).await.unwrap();
    let replayed = s
        .lease_deliveries("ep", 5_000, 65_000, "w1", 10)
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(
        replayed[0].event.id, leased[0].event.id,
        "same event, same webhook-id"
    );

    assert_eq!(
        s.recover_endpoint("ep", 0, 6_000).await.unwrap(),
        1,
        "the other failed one"
    );
    assert!(matches!(
        s.replay_delivery("dlv_nope", 1).await,
        Err(tradehook_store::StoreError::NotFound)
    ));
});

backend_test!(disabling_an_endpoint_fails_its_pending_deliveries, |db| {
    let s = &db.store;
    s.insert_endpoint(&endpoint("ep", &["*"])).await.unwrap();
    s.publish_event(&event("evt_1", "alert.triggered", serde_json::json!({})))
        .await
        .unwrap();
    assert!(s.disable_endpoint("ep", "HTTP 410", 3_000).await.unwrap());
    assert!(!s.disable_endpoint("ep", "again", 3_001).await.unwrap());
    let e = s.get_endpoint("ep").await.unwrap();
    assert!(!e.enabled);
    assert_eq!(e.disabled_reason.as_deref(), Some("HTTP 410"));
    let d = s
        .list_deliveries(&DeliveryFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (d[0].status.as_str(), d[0].last_error.as_deref()),
        ("failed", Some("endpoint_disabled"))
    );
    // A disabled endpoint gets nothing new.
    let (_, n) = s
        .publish_event(&event("evt_2", "alert.triggered", serde_json::json!({})))
        .await
        .unwrap();
    assert_eq!(n, 0);
});

backend_test!(events_list_by_type_time_and_cursor, |db| {
    let s = &db.store;
    for (i, t) in [
        "alert.triggered",
        "order.filled",
        "alert.expired",
        "order.filled",
    ]
    .iter()
    .enumerate()
    {
        let mut e = event(&format!("evt_{i}"), t, serde_json::json!({"n": i}));
        e.timestamp_ms = 1_000 * (i as i64 + 1);
        s.publish_event(&e).await.unwrap();
    }
    let ids = |v: Vec<tradehook_store::StoredEvent>| {
        v.into_iter().map(|e| e.event.id).collect::<Vec<_>>()
    };
    let all = s
        .list_events(&tradehook_store::EventFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(all.clone()), ["evt_0", "evt_1", "evt_2", "evt_3"]);
    let orders = s
        .list_events(&tradehook_store::EventFilter {
            types: vec!["order.filled".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(orders), ["evt_1", "evt_3"]);
    let timed = s
        .list_events(&tradehook_store::EventFilter {
            from: Some(2_000),
            to: Some(4_000),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(timed), ["evt_1", "evt_2"]);
    let page = s
        .list_events(&tradehook_store::EventFilter {
            after_seq: Some(all[1].seq),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(page), ["evt_2"]);
    assert_eq!(all[3].event.data, serde_json::json!({"n": 3}));

    assert_eq!(s.prune_events(2_500, 1).await.unwrap(), 1);
    assert_eq!(s.prune_events(2_500, 1).await.unwrap(), 1);
    assert_eq!(s.prune_events(2_500, 1).await.unwrap(), 0);
});
