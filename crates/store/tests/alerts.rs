//! Firing and listing alerts, on SQLite and on PostgreSQL.

mod support;

use serde_json::json;
use support::{alert, alert_event, endpoint, rule};
use tradehook_store::{
    AlertFilter, AlertRecord, DeliveryFilter, EventFilter, Store, StoreError, backend_test,
};

async fn event_count(s: &Store) -> usize {
    s.list_events(&EventFilter {
        limit: 1_000,
        ..Default::default()
    })
    .await
    .unwrap()
    .len()
}

async fn delivery_count(s: &Store) -> usize {
    s.list_deliveries(&DeliveryFilter {
        limit: 1_000,
        ..Default::default()
    })
    .await
    .unwrap()
    .len()
}

fn all_alerts() -> AlertFilter {
    AlertFilter {
        limit: 100,
        ..Default::default()
    }
}

backend_test!(
    firing_writes_the_alert_the_event_and_its_deliveries_together,
    |db| {
        let s = &db.store;
        let r = s
            .insert_rule(&rule("BTC", "rsi", "once_per_bar"), &[])
            .await
            .unwrap();
        let mut mine = endpoint("ep_mine", &["alert.*"]);
        mine.filter_rule_ids = Some(vec![r.id.clone()]);
        s.insert_endpoint(&mine).await.unwrap();
        let mut theirs = endpoint("ep_theirs", &["alert.*"]);
        theirs.filter_rule_ids = Some(vec!["rul_other".into()]);
        s.insert_endpoint(&theirs).await.unwrap();
        s.insert_endpoint(&endpoint("ep_orders", &["order.*"]))
            .await
            .unwrap();

        let (a, seq) = s
            .fire_alert(&alert(&r.id, 60_000), 120_250, alert_event)
            .await
            .unwrap()
            .expect("fires");
        assert!(a.id.starts_with("alr_"));
        assert_eq!((a.symbol.as_str(), a.rule_type.as_str()), ("BTC", "rsi"));
        assert_eq!(
            (a.window_start, a.window_end, a.feed_ts),
            (60_000, 120_000, 119_000)
        );
        assert_eq!(a.committed_at, 120_250);
        assert_eq!(a.latency_us, 1_250_000);
        assert_eq!(a.price, 101.5);
        assert_eq!(a.indicators, json!({"rsi": 71.2}));
        assert_eq!(a.rule_snapshot["id"], json!(r.id));
        assert_eq!(a.rule_snapshot["config"], r.config);
        assert!(
            a.rule_snapshot.get("discord_webhook_url").is_none(),
            "no credentials in snapshots"
        );
        assert_eq!(s.get_alert(&a.id).await.unwrap(), a);

        let event = s.get_event(&a.event_id).await.unwrap();
        assert_eq!(event.seq, seq);
        assert_eq!(event.event.event_type, "alert.triggered");
        assert_eq!(event.event.data_str("alert_id"), Some(a.id.as_str()));
        let deliveries = s
            .list_deliveries(&DeliveryFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].endpoint_id, "ep_mine");
        assert_eq!(deliveries[0].event_id, a.event_id);

        let fired = s.get_rule(&r.id).await.unwrap();
        assert_eq!(
            fired.last_fired_at,
            Some(119_000),
            "feed time, not the clock"
        );
        assert_eq!((fired.status.as_str(), fired.enabled), ("active", true));
        assert!(fired.revision > r.revision);

        // A feed time after the commit time (clock skew) is no negative latency.
        let mut skewed = alert(&r.id, 180_000);
        skewed.feed_ts = 500_000;
        let (b, _) = s
            .fire_alert(&skewed, 240_000, alert_event)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.latency_us, 0);
    }
);

backend_test!(a_window_fires_once, |db| {
    let s = &db.store;
    let r = s
        .insert_rule(&rule("BTC", "rsi", "once_per_bar"), &[])
        .await
        .unwrap();
    s.insert_endpoint(&endpoint("ep_all", &["*"]))
        .await
        .unwrap();
    let first = s
        .fire_alert(&alert(&r.id, 0), 61_000, alert_event)
        .await
        .unwrap();
    assert!(first.is_some());
    let fired = s.get_rule(&r.id).await.unwrap();

    let again = s
        .fire_alert(&alert(&r.id, 0), 62_000, alert_event)
        .await
        .unwrap();
    assert!(again.is_none());
    assert_eq!(event_count(s).await, 1);
    assert_eq!(delivery_count(s).await, 1);
    assert_eq!(
        s.get_rule(&r.id).await.unwrap(),
        fired,
        "the loser changes nothing"
    );

    // The store stays usable (no poisoned transaction or connection).
    assert!(
        s.fire_alert(&alert(&r.id, 60_000), 121_000, alert_event)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(event_count(s).await, 2);
});

backend_test!(only_live_rules_fire, |db| {
    let s = &db.store;
    assert!(
        s.fire_alert(&alert("rul_missing", 0), 1, alert_event)
            .await
            .unwrap()
            .is_none()
    );
    let mut off = rule("BTC", "rsi", "once_per_bar");
    off.enabled = false;
    let off = s.insert_rule(&off, &[]).await.unwrap();
    assert!(
        s.fire_alert(&alert(&off.id, 0), 1, alert_event)
            .await
            .unwrap()
            .is_none()
    );
    let gone = s
        .insert_rule(&rule("BTC", "rsi", "once_per_bar"), &[])
        .await
        .unwrap();
    s.delete_rule(&gone.id).await.unwrap();
    assert!(
        s.fire_alert(&alert(&gone.id, 0), 1, alert_event)
            .await
            .unwrap()
            .is_none()
    );
    let cancelled = s
        .insert_rule(&rule("BTC", "price_alert", "once"), &[])
        .await
        .unwrap();
    s.set_rule_status(&cancelled.id, "active", "cancelled")
        .await
        .unwrap();
    assert!(
        s.fire_alert(&alert(&cancelled.id, 0), 1, alert_event)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(event_count(s).await, 0);
    assert!(
        s.list_alerts(&all_alerts())
            .await
            .unwrap()
            .alerts
            .is_empty()
    );
});

backend_test!(a_once_rule_triggers_and_then_stays_quiet, |db| {
    let s = &db.store;
    let r = s
        .insert_rule(&rule("BTC", "price_alert", "once"), &[])
        .await
        .unwrap();
    assert!(
        s.fire_alert(&alert(&r.id, 0), 61_000, alert_event)
            .await
            .unwrap()
            .is_some()
    );
    let done = s.get_rule(&r.id).await.unwrap();
    assert_eq!((done.status.as_str(), done.enabled), ("triggered", false));
    assert_eq!(done.last_fired_at, Some(59_000));
    assert!(
        !s.load_active_rules()
            .await
            .unwrap()
            .iter()
            .any(|x| x.id == r.id)
    );

    assert!(
        s.fire_alert(&alert(&r.id, 60_000), 121_000, alert_event)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(event_count(s).await, 1);
});

backend_test!(racing_evaluators_fire_a_window_once, |db| {
    // Separate pools, as separate processes would have.
    let s = &db.store;
    let recurring = s
        .insert_rule(&rule("BTC", "rsi", "once_per_bar"), &[])
        .await
        .unwrap();
    let once = s
        .insert_rule(&rule("ETH", "price_alert", "once"), &[])
        .await
        .unwrap();
    s.insert_endpoint(&endpoint("ep_all", &["alert.*"]))
        .await
        .unwrap();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Store::connect(&db.url, &Default::default()).await.unwrap());
    }
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        for _ in 0..2 {
            let store = store.clone();
            let (recurring, once) = (recurring.id.clone(), once.id.clone());
            tasks.push(tokio::spawn(async move {
                let same_window = store
                    .fire_alert(&alert(&recurring, 0), 61_000, alert_event)
                    .await;
                // Different windows of a `once` rule: still one alert.
                let once = store
                    .fire_alert(&alert(&once, i as i64 * 60_000), 61_000, alert_event)
                    .await;
                (same_window.unwrap().is_some(), once.unwrap().is_some())
            }));
        }
    }
    let mut wins = (0, 0);
    for t in tasks {
        let (a, b) = t.await.unwrap();
        wins.0 += usize::from(a);
        wins.1 += usize::from(b);
    }
    assert_eq!(wins, (1, 1));
    assert_eq!(s.list_alerts(&all_alerts()).await.unwrap().alerts.len(), 2);
    assert_eq!(event_count(s).await, 2);
    assert_eq!(delivery_count(s).await, 2);
    for store in stores {
        store.close().await;
    }
});

backend_test!(alerts_list_newest_first_with_filters_and_a_cursor, |db| {
    let s = &db.store;
    let btc = s
        .insert_rule(&rule("BTC", "rsi", "once_per_bar"), &[])
        .await
        .unwrap();
    let eth = s
        .insert_rule(&rule("ETH", "rsi", "once_per_bar"), &[])
        .await
        .unwrap();
    let mut fired: Vec<AlertRecord> = Vec::new();
    // Pairs share a commit time, so the id must break the tie.
    for (i, committed_at) in [1_000, 1_000, 2_000, 3_000, 3_000, 4_000]
        .into_iter()
        .enumerate()
    {
        let r = if i % 2 == 0 { &btc } else { &eth };
        let (a, _) = s
            .fire_alert(&alert(&r.id, i as i64 * 60_000), committed_at, alert_event)
            .await
            .unwrap()
            .unwrap();
        fired.push(a);
    }
    let mut newest_first = fired.clone();
    newest_first.sort_by(|a, b| (b.committed_at, &b.id).cmp(&(a.committed_at, &a.id)));

    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list_alerts(&AlertFilter {
                limit: 2,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.alerts.len() <= 2);
        paged.extend(page.alerts);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, newest_first);

    let by_rule = s
        .list_alerts(&AlertFilter {
            rule_id: Some(eth.id.clone()),
            ..all_alerts()
        })
        .await
        .unwrap();
    assert!(by_rule.next.is_none());
    assert_eq!(by_rule.alerts.len(), 3);
    assert!(by_rule.alerts.iter().all(|a| a.rule_id == eth.id));
    let by_symbol = s
        .list_alerts(&AlertFilter {
            symbol: Some("BTC".into()),
            ..all_alerts()
        })
        .await
        .unwrap();
    assert!(by_symbol.alerts.iter().all(|a| a.symbol == "BTC"));
    assert_eq!(by_symbol.alerts.len(), 3);
    let window = s
        .list_alerts(&AlertFilter {
            from: Some(2_000),
            to: Some(4_000),
            ..all_alerts()
        })
        .await
        .unwrap();
    let times: Vec<i64> = window.alerts.iter().map(|a| a.committed_at).collect();
    assert_eq!(times, vec![3_000, 3_000, 2_000]);
    let combined = s
        .list_alerts(&AlertFilter {
            rule_id: Some(btc.id.clone()),
            from: Some(2_000),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(combined.alerts.len(), 1);
    assert_eq!(combined.alerts[0].committed_at, 3_000);
    assert!(combined.next.is_some());

    for bad in ["nonsense", "12", "x.alr_1", "5."] {
        assert!(matches!(
            s.list_alerts(&AlertFilter {
                cursor: Some(bad.into()),
                ..all_alerts()
            })
            .await,
            Err(StoreError::InvalidCursor)
        ));
    }
});

backend_test!(alerts_are_pruned_in_batches_and_outlive_their_rule, |db| {
    let s = &db.store;
    let r = s
        .insert_rule(&rule("BTC", "rsi", "once_per_bar"), &[])
        .await
        .unwrap();
    for i in 0..5 {
        s.fire_alert(&alert(&r.id, i * 60_000), 1_000 * (i + 1), alert_event)
            .await
            .unwrap()
            .unwrap();
    }
    s.delete_rule(&r.id).await.unwrap();
    assert_eq!(s.list_alerts(&all_alerts()).await.unwrap().alerts.len(), 5);
    assert_eq!(s.prune_alerts(4_000, 2).await.unwrap(), 2);
    assert_eq!(s.prune_alerts(4_000, 2).await.unwrap(), 1);
    assert_eq!(s.prune_alerts(4_000, 2).await.unwrap(), 0);
    let left: Vec<i64> = s
        .list_alerts(&all_alerts())
        .await
        .unwrap()
        .alerts
        .iter()
        .map(|a| a.committed_at)
        .collect();
    assert_eq!(left, vec![5_000, 4_000]);
});
