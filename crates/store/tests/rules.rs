//! The rules repository, on SQLite and on PostgreSQL.

mod support;

use std::collections::HashSet;

use serde_json::json;
use support::{alert, alert_event, endpoint, expired_event, owned_endpoint, rule};
use tradehook_core::event::Event;
use tradehook_store::{
    DeliveryFilter, EventFilter, RuleFilter, RulePatch, RuleRecord, StoreError, backend_test,
};

fn filter() -> RuleFilter {
    RuleFilter {
        limit: 100,
        ..Default::default()
    }
}

fn ids(rules: &[RuleRecord]) -> Vec<String> {
    rules.iter().map(|r| r.id.clone()).collect()
}

backend_test!(rules_round_trip_and_filter, |db| {
    let s = &db.store;
    let a = s
        .insert_rule(&rule("BTC", "price_cross", "once_per_bar"), &[])
        .await
        .unwrap();
    let b = s
        .insert_rule(&rule("ETH", "rsi", "once_per_bar"), &[])
        .await
        .unwrap();
    let mut off = rule("BTC", "rsi", "once");
    off.enabled = false;
    off.expires_at = Some(9_000);
    let c = s.insert_rule(&off, &[]).await.unwrap();

    assert_eq!(a.status, "active");
    assert_eq!(a.config, json!({"threshold": 70, "period": 14}));
    assert_eq!(
        (a.created_at, a.updated_at, a.last_fired_at),
        (1_000, 1_000, None)
    );
    assert_eq!(c.expires_at, Some(9_000));
    assert!(!c.enabled);
    assert!(a.revision < b.revision && b.revision < c.revision);
    assert_eq!(s.get_rule(&a.id).await.unwrap(), a);
    assert!(matches!(
        s.get_rule("rul_missing").await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        ids(&s.list_rules(&filter()).await.unwrap()),
        vec![a.id.clone(), b.id.clone(), c.id.clone()]
    );
    let btc = s
        .list_rules(&RuleFilter {
            symbol: Some("BTC".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&btc), vec![a.id.clone(), c.id.clone()]);
    let rsi_on = s
        .list_rules(&RuleFilter {
            rule_type: Some("rsi".into()),
            enabled: Some(true),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&rsi_on), vec![b.id.clone()]);
    let disabled = s
        .list_rules(&RuleFilter {
            enabled: Some(false),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&disabled), vec![c.id.clone()]);
    let page1 = s
        .list_rules(&RuleFilter {
            limit: 2,
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&page1), vec![a.id.clone(), b.id.clone()]);
    let page2 = s
        .list_rules(&RuleFilter {
            limit: 2,
            after: Some(b.id.clone()),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(ids(&page2), vec![c.id.clone()]);
    let triggered = s
        .list_rules(&RuleFilter {
            status: Some("triggered".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert!(triggered.is_empty());
});

backend_test!(
    an_update_changes_only_the_patched_fields_and_bumps_the_revision,
    |db| {
        let s = &db.store;
        let mut new = rule("BTC", "rsi", "once_per_bar");
        new.expires_at = Some(5_000);
        let before = s.insert_rule(&new, &[]).await.unwrap();
        let other = s
            .insert_rule(&rule("ETH", "rsi", "once_per_bar"), &[])
            .await
            .unwrap();

        let after = s
            .update_rule(
                &before.id,
                &RulePatch {
                    name: Some("renamed".into()),
                    config: Some(json!({"threshold": 80})),
                    enabled: Some(false),
                    expires_at: Some(None),
                    discord_webhook_url: Some(None),
                    generic_webhook_url: Some(Some("https://example.com/hook".into())),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(after.name, "renamed");
        assert_eq!(after.config, json!({"threshold": 80}));
        assert!(!after.enabled);
        assert_eq!(after.expires_at, None);
        assert_eq!(after.discord_webhook_url, None);
        assert_eq!(
            after.generic_webhook_url.as_deref(),
            Some("https://example.com/hook")
        );
        assert_eq!(
            (after.symbol.as_str(), after.rule_type.as_str()),
            ("BTC", "rsi")
        );
        assert_eq!(after.frequency, before.frequency);
        assert_eq!(after.created_at, before.created_at);
        assert!(after.updated_at > before.updated_at);
        assert!(
            after.revision > other.revision,
            "revisions grow across rules"
        );
        assert_eq!(s.get_rule(&before.id).await.unwrap(), after);

        // An empty patch still counts as a change.
        let again = s
            .update_rule(&before.id, &RulePatch::default())
            .await
            .unwrap();
        assert!(again.revision > after.revision);
        assert_eq!(again.name, "renamed");

        assert!(matches!(
            s.update_rule("rul_missing", &RulePatch::default()).await,
            Err(StoreError::NotFound)
        ));
    }
);

backend_test!(
    deleting_a_rule_is_soft_and_takes_its_owned_endpoints,
    |db| {
        let s = &db.store;
        let new = rule("BTC", "rsi", "once_per_bar");
        let owned = [
            owned_endpoint("ep_discord", &new.id, "discord"),
            owned_endpoint("ep_hook", &new.id, "webhook"),
        ];
        let r = s.insert_rule(&new, &owned).await.unwrap();
        let keep = s
            .insert_rule(&rule("ETH", "rsi", "once_per_bar"), &[])
            .await
            .unwrap();
        s.insert_endpoint(&endpoint("ep_all", &["*"]))
            .await
            .unwrap();
        let stored = s.owned_endpoints(&r.id).await.unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].owner_rule_id.as_deref(), Some(r.id.as_str()));
        // A pending delivery to an owned endpoint goes with it.
        s.publish_event(&Event {
            id: "evt_1".into(),
            event_type: "alert.triggered".into(),
            timestamp_ms: 1,
            data: json!({"rule_id": r.id}),
        })
        .await
        .unwrap();
        let deliveries = |f: DeliveryFilter| async move { s.list_deliveries(&f).await.unwrap() };
        assert_eq!(
            deliveries(DeliveryFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .len(),
            3
        );

        assert_eq!(s.delete_rule(&r.id).await.unwrap(), 2);

        assert!(matches!(s.get_rule(&r.id).await, Err(StoreError::NotFound)));
        assert_eq!(
            ids(&s.list_rules(&filter()).await.unwrap()),
            vec![keep.id.clone()]
        );
        let deleted = s
            .list_rules(&RuleFilter {
                status: Some("deleted".into()),
                ..filter()
            })
            .await
            .unwrap();
        assert!(deleted.is_empty(), "deleted rules are never listed");
        assert!(s.owned_endpoints(&r.id).await.unwrap().is_empty());
        s.get_endpoint("ep_all").await.unwrap();
        let left = deliveries(DeliveryFilter {
            limit: 100,
            ..Default::default()
        })
        .await;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].endpoint_id, "ep_all");

        // Pollers still see it, as deleted and disabled, with a new revision.
        let changed = s.rules_changed_since(0).await.unwrap();
        let seen = changed
            .iter()
            .find(|c| c.id == r.id)
            .expect("deleted rule polled");
        assert_eq!(seen.status, "deleted");
        assert!(!seen.enabled);
        assert!(seen.revision > keep.revision);

        assert!(matches!(
            s.delete_rule(&r.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.update_rule(
                &r.id,
                &RulePatch {
                    enabled: Some(true),
                    ..Default::default()
                }
            )
            .await,
            Err(StoreError::NotFound)
        ));
        assert!(!s.set_rule_status(&r.id, "deleted", "active").await.unwrap());
    }
);

backend_test!(
    a_status_change_happens_only_from_the_expected_status,
    |db| {
        let s = &db.store;
        let r = s
            .insert_rule(&rule("BTC", "price_alert", "once"), &[])
            .await
            .unwrap();
        assert!(
            s.set_rule_status(&r.id, "active", "cancelled")
                .await
                .unwrap()
        );
        let cancelled = s.get_rule(&r.id).await.unwrap();
        assert_eq!(cancelled.status, "cancelled");
        assert!(!cancelled.enabled, "a finished rule is disabled");
        assert!(cancelled.revision > r.revision);
        assert!(
            !s.set_rule_status(&r.id, "active", "cancelled")
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_rule(&r.id).await.unwrap().revision,
            cancelled.revision
        );
        assert!(
            !s.set_rule_status("rul_missing", "active", "cancelled")
                .await
                .unwrap()
        );
    }
);

backend_test!(an_update_can_swap_a_rules_inline_targets_atomically, |db| {
    let s = &db.store;
    let new = rule("BTC", "rsi", "once_per_bar");
    let owned = [
        owned_endpoint("ep_discord", &new.id, "discord"),
        owned_endpoint("ep_hook", &new.id, "webhook"),
    ];
    let r = s.insert_rule(&new, &owned).await.unwrap();
    let patch = RulePatch {
        generic_webhook_url: Some(Some("https://example.com/new".into())),
        ..Default::default()
    };
    s.update_rule_with_targets(
        &r.id,
        &patch,
        &["webhook"],
        &[owned_endpoint("ep_hook2", &r.id, "webhook")],
        5_000,
    )
    .await
    .unwrap();
    let now: Vec<String> = s
        .owned_endpoints(&r.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(now, vec!["ep_discord".to_string(), "ep_hook2".to_string()]);
    assert_eq!(s.get_rule(&r.id).await.unwrap().updated_at, 5_000);

    // A missing rule writes nothing, not even the replacement endpoints.
    assert!(matches!(
        s.update_rule_with_targets(
            "rul_missing",
            &patch,
            &["webhook"],
            &[owned_endpoint("ep_orphan", "rul_missing", "webhook")],
            6_000,
        )
        .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.get_endpoint("ep_orphan").await,
        Err(StoreError::NotFound)
    ));
});

backend_test!(endpoints_keep_their_owner_and_body_format, |db| {
    let s = &db.store;
    let mut e = owned_endpoint("ep_1", "rul_1", "webhook");
    e.body_format = "data".into();
    s.insert_endpoint(&e).await.unwrap();
    assert_eq!(s.get_endpoint("ep_1").await.unwrap(), e);
    e.body_format = "envelope".into();
    e.owner_rule_id = None;
    s.update_endpoint(&e).await.unwrap();
    assert_eq!(s.get_endpoint("ep_1").await.unwrap(), e);
    let mut bad = endpoint("ep_2", &["*"]);
    bad.body_format = "xml".into();
    assert!(
        s.insert_endpoint(&bad).await.is_err(),
        "the CHECK refuses unknown formats"
    );
});

backend_test!(changes_are_polled_by_update_time_including_removals, |db| {
    let s = &db.store;
    let a = s
        .insert_rule(&rule("BTC", "rsi", "once_per_bar"), &[])
        .await
        .unwrap();
    let mut old = rule("ETH", "rsi", "once_per_bar");
    old.created_at = 500;
    let b = s.insert_rule(&old, &[]).await.unwrap();
    let changed = s.rules_changed_since(600).await.unwrap();
    assert_eq!(ids(&changed), vec![a.id.clone()]);
    assert_eq!(
        ids(&s.rules_changed_since(0).await.unwrap()),
        vec![b.id.clone(), a.id.clone()]
    );

    s.set_rule_status(&b.id, "active", "cancelled")
        .await
        .unwrap();
    let changed = s.rules_changed_since(1_000).await.unwrap();
    assert_eq!(ids(&changed), vec![b.id.clone()]);
    assert_eq!(changed[0].status, "cancelled");
});

backend_test!(
    active_rules_load_without_disabled_finished_or_deleted_ones,
    |db| {
        let s = &db.store;
        let live1 = s
            .insert_rule(&rule("BTC", "rsi", "once_per_bar"), &[])
            .await
            .unwrap();
        let live2 = s
            .insert_rule(&rule("ETH", "price_cross", "once_per_bar"), &[])
            .await
            .unwrap();
        // Every field set, and text that needs escaping in JSON.
        let mut full = rule("SOL", "rsi", "once_per_bar");
        full.name = "quote \" backslash \\ newline \n émoji 🚀".into();
        full.config = json!({"nested": {"list": [1, 2.5, null, "x"]}, "flag": true});
        full.cooldown_seconds = 300;
        full.expires_at = Some(i64::MAX);
        full.generic_webhook_url = Some("https://example.com/h?a=1&b=2".into());
        let full = s.insert_rule(&full, &[]).await.unwrap();
        s.fire_alert(&alert(&full.id, 0), 5_000, alert_event)
            .await
            .unwrap()
            .unwrap();
        let full = s.get_rule(&full.id).await.unwrap();
        assert_eq!(
            full.last_fired_at,
            Some(59_000),
            "the feed time of the firing"
        );
        let mut off = rule("BTC", "rsi", "once_per_bar");
        off.enabled = false;
        s.insert_rule(&off, &[]).await.unwrap();
        let gone = s
            .insert_rule(&rule("BTC", "rsi", "once_per_bar"), &[])
            .await
            .unwrap();
        s.delete_rule(&gone.id).await.unwrap();
        let done = s
            .insert_rule(&rule("BTC", "rsi", "once"), &[])
            .await
            .unwrap();
        s.set_rule_status(&done.id, "active", "triggered")
            .await
            .unwrap();

        let loaded = s.load_active_rules().await.unwrap();
        assert_eq!(loaded, vec![live1, live2, full]);
        assert_eq!(
            s.rule_count_by_type().await.unwrap(),
            vec![("price_cross".to_string(), 1), ("rsi".to_string(), 2)]
        );
    }
);

backend_test!(rules_expire_once_and_emit_their_events, |db| {
    let s = &db.store;
    s.insert_endpoint(&endpoint("ep_expired", &["alert.expired"]))
        .await
        .unwrap();
    let mut due = rule("BTC", "price_alert", "once");
    due.expires_at = Some(10_000);
    let due = s.insert_rule(&due, &[]).await.unwrap();
    let mut later = rule("ETH", "price_alert", "once");
    later.expires_at = Some(20_000);
    let later = s.insert_rule(&later, &[]).await.unwrap();
    let never = s
        .insert_rule(&rule("SOL", "rsi", "once_per_bar"), &[])
        .await
        .unwrap();
    let mut cancelled = rule("SOL", "price_alert", "once");
    cancelled.expires_at = Some(10_000);
    let cancelled = s.insert_rule(&cancelled, &[]).await.unwrap();
    s.set_rule_status(&cancelled.id, "active", "cancelled")
        .await
        .unwrap();

    let expired = s.expire_rules(15_000, expired_event).await.unwrap();
    assert_eq!(expired.len(), 1);
    let (r, seq) = &expired[0];
    assert_eq!(r.id, due.id);
    assert_eq!(
        (r.status.as_str(), r.enabled, r.updated_at),
        ("expired", false, 15_000)
    );
    assert!(r.revision > cancelled.revision);
    let events = s
        .list_events(&EventFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, *seq);
    assert_eq!(events[0].event.data_str("rule_id"), Some(due.id.as_str()));
    let deliveries = s
        .list_deliveries(&DeliveryFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event_id, events[0].event.id);

    assert!(
        s.expire_rules(15_000, expired_event)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.get_rule(&later.id).await.unwrap().status, "active");
    assert_eq!(s.get_rule(&never.id).await.unwrap().status, "active");
    assert_eq!(s.get_rule(&cancelled.id).await.unwrap().status, "cancelled");
});

backend_test!(racing_expiry_sweeps_expire_each_rule_once, |db| {
    // More than one batch, swept by two connections at once.
    const RULES: usize = 1_100;
    let s = &db.store;
    let mut tx = s.begin().await.unwrap();
    for _ in 0..RULES {
        let mut r = rule("BTC", "price_alert", "once");
        r.expires_at = Some(10_000);
        tx.insert_rule(&r).await.unwrap();
    }
    tx.commit().await.unwrap();

    let other = tradehook_store::Store::connect(&db.url, &Default::default())
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        s.expire_rules(15_000, expired_event),
        other.expire_rules(15_000, expired_event)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let all: Vec<&String> = a.iter().chain(&b).map(|(r, _)| &r.id).collect();
    assert_eq!(all.len(), RULES);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), RULES);
    let events = s
        .list_events(&EventFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), RULES);
    assert!(s.load_active_rules().await.unwrap().is_empty());
    other.close().await;
});

/// SQLite loads live rules in chunks of 50,000 (one JSON array each):
/// every rule comes back once, in id order, across chunk boundaries, and
/// disabled ones stay out. The time for a million is measured by
/// `cargo bench -p tradehook-server --bench rules` (README, Performance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_rules_load_across_chunk_boundaries() {
    const RULES: usize = 100_007;
    let db = tradehook_store::testing::TestDb::sqlite().await;
    let s = &db.store;
    let mut tx = s.begin().await.unwrap();
    for i in 0..RULES {
        let mut r = rule(["BTC", "ETH", "SOL"][i % 3], "rsi", "once_per_bar");
        r.id = format!("rul_{i:032}");
        r.enabled = i % 1000 != 999;
        tx.insert_rule(&r).await.unwrap();
    }
    tx.commit().await.unwrap();
    let loaded = s.load_active_rules().await.unwrap();
    assert_eq!(loaded.len(), RULES - RULES / 1000);
    assert!(loaded.windows(2).all(|w| w[0].id < w[1].id));
    assert!(loaded.iter().all(|r| r.enabled));
    assert_eq!(loaded[0].id, format!("rul_{:032}", 0));
    assert_eq!(loaded.last().unwrap().id, format!("rul_{:032}", RULES - 1));
    db.cleanup().await;
}
