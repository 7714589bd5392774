//! The trading repositories, on SQLite and on PostgreSQL: broker
//! accounts, bots, signal intake and its dedupe window, jobs, orders, the
//! broker call log and equity snapshots.

mod support;

use serde_json::json;
use support::endpoint;
use tradehook_core::event::Event;
use tradehook_core::ids::new_id;
use tradehook_store::{
    BotFilter, BotPatch, BrokerAccountPatch, BrokerCallFilter, DeliveryFilter, EquitySnapshot,
    EventFilter, JobStatus, NewBot, NewBrokerAccount, NewBrokerCall, NewOrder, NewSignal,
    OrderFilter, OrderUpdate, SignalFilter, SignalOutcome, SignalRecord, SignalStatus, Store,
    StoreError, backend_test,
};

fn account(name: &str) -> NewBrokerAccount {
    NewBrokerAccount {
        id: new_id("bac"),
        name: name.into(),
        kind: "paper".into(),
        environment: "paper".into(),
        credentials: None,
        base_url: None,
        starting_cash: Some("100000.00".into()),
        created_at: 1_000,
    }
}

fn bot(name: &str, account_id: &str) -> NewBot {
    NewBot {
        id: new_id("bot"),
        name: name.into(),
        broker_account_id: account_id.into(),
        allowed_symbols: vec!["AAPL".into(), "MSFT".into()],
        paused: false,
        paused_reason: None,
        token_hash: format!("hash-{}", new_id("t")),
        token_sealed: "sealed:v1:token".into(),
        body_secret_sealed: None,
        settings: json!({"qty": "1", "stop_loss_pct": "2.5"}),
        base_equity: None,
        created_at: 2_000,
    }
}

/// An account and a bot on it; returns the bot's id.
async fn setup_bot(s: &Store) -> String {
    let a = s.insert_broker_account(&account("paper-1")).await.unwrap();
    s.insert_bot(&bot("bot-1", &a.id)).await.unwrap().id
}

fn new_signal(bot_id: &str, key: &str, received_at: i64) -> NewSignal {
    NewSignal {
        bot_id: bot_id.into(),
        format: "json".into(),
        symbol: "AAPL".into(),
        action: "buy".into(),
        dedupe_key: key.into(),
        dedupe_expires_at: received_at + 60_000,
        body: r#"{"ticker":"AAPL","action":"buy"}"#.into(),
        parsed: json!({"ticker": "AAPL", "action": "buy"}),
        status: SignalStatus::Accepted,
        reason: None,
        received_at,
    }
}

fn signal_event(s: &SignalRecord) -> Event {
    let event_type = if s.status == "rejected" {
        "signal.rejected"
    } else {
        "signal.received"
    };
    Event {
        id: new_id("evt"),
        event_type: event_type.into(),
        timestamp_ms: s.received_at,
        data: json!({"signal_id": s.id, "bot_id": s.bot_id, "symbol": s.symbol}),
    }
}

async fn accept(s: &Store, new: &NewSignal) -> SignalOutcome {
    s.accept_signal(new, signal_event).await.unwrap()
}

async fn event_count(s: &Store) -> usize {
    s.list_events(&EventFilter {
        limit: 10_000,
        ..Default::default()
    })
    .await
    .unwrap()
    .len()
}

async fn signal_count(s: &Store) -> usize {
    s.list_signals(&SignalFilter {
        limit: 10_000,
        ..Default::default()
    })
    .await
    .unwrap()
    .signals
    .len()
}

fn conflict(err: StoreError) -> String {
    match err {
        StoreError::Conflict { constraint } => constraint,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

backend_test!(broker_accounts_round_trip, |db| {
    let s = &db.store;
    let a = s.insert_broker_account(&account("paper-1")).await.unwrap();
    assert!(a.id.starts_with("bac_"));
    assert_eq!(a.starting_cash.as_deref(), Some("100000.00"));
    assert_eq!(s.get_broker_account(&a.id).await.unwrap(), a);
    let err = s
        .insert_broker_account(&account("paper-1"))
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "broker_account_name_taken");

    let mut live = account("alpaca-live");
    live.kind = "alpaca".into();
    live.environment = "live".into();
    live.credentials = Some("sealed:v1:creds".into());
    live.base_url = Some("https://api.alpaca.markets".into());
    let b = s.insert_broker_account(&live).await.unwrap();
    let all = s.list_broker_accounts().await.unwrap();
    assert_eq!(all, vec![a.clone(), b.clone()]);

    let changed = s
        .update_broker_account(
            &b.id,
            &BrokerAccountPatch {
                name: Some("alpaca-main".into()),
                credentials: Some(None),
                starting_cash: Some(Some("5000".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.name, "alpaca-main");
    assert_eq!(changed.credentials, None);
    assert_eq!(changed.base_url, b.base_url, "untouched fields stay");
    assert_eq!(changed.starting_cash.as_deref(), Some("5000"));
    assert!(changed.updated_at > b.updated_at);
    let err = s
        .update_broker_account(
            &b.id,
            &BrokerAccountPatch {
                name: Some("paper-1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(conflict(err), "broker_account_name_taken");
    assert!(matches!(
        s.update_broker_account("bac_missing", &BrokerAccountPatch::default())
            .await,
        Err(StoreError::NotFound)
    ));

    // The paper broker's state is kept apart from the record.
    assert_eq!(s.load_paper_state(&a.id).await.unwrap(), None);
    let state = json!({"cash": "99000.5", "positions": {"AAPL": {"qty": "3"}}});
    s.save_paper_state(&a.id, &state).await.unwrap();
    assert_eq!(s.load_paper_state(&a.id).await.unwrap(), Some(state));
    assert!(matches!(
        s.load_paper_state("bac_missing").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.save_paper_state("bac_missing", &json!({})).await,
        Err(StoreError::NotFound)
    ));

    // An account a bot names cannot go, even once the bot is deleted.
    let bot = s.insert_bot(&bot("bot-1", &a.id)).await.unwrap();
    let err = s.delete_broker_account(&a.id).await.unwrap_err();
    assert_eq!(conflict(err), "broker_account_in_use");
    s.delete_bot(&bot.id).await.unwrap();
    let err = s.delete_broker_account(&a.id).await.unwrap_err();
    assert_eq!(conflict(err), "broker_account_in_use");

    s.delete_broker_account(&b.id).await.unwrap();
    assert!(matches!(
        s.get_broker_account(&b.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_broker_account(&b.id).await,
        Err(StoreError::NotFound)
    ));
});

backend_test!(bots_round_trip, |db| {
    let s = &db.store;
    let a = s.insert_broker_account(&account("paper-1")).await.unwrap();
    let other = s.insert_broker_account(&account("paper-2")).await.unwrap();
    let new = bot("bot-1", &a.id);
    let b = s.insert_bot(&new).await.unwrap();
    assert_eq!(b.allowed_symbols, vec!["AAPL", "MSFT"]);
    assert_eq!(b.settings, new.settings);
    assert_eq!(
        (b.created_at, b.updated_at, b.deleted_at),
        (2_000, 2_000, None)
    );
    assert_eq!(s.get_bot(&b.id).await.unwrap(), b);
    assert_eq!(
        s.find_bot_by_token_hash(&new.token_hash).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(s.find_bot_by_token_hash("nope").await.unwrap(), None);

    let err = s.insert_bot(&bot("bot-1", &a.id)).await.unwrap_err();
    assert_eq!(conflict(err), "bot_name_taken");
    let mut same_token = bot("bot-2", &a.id);
    same_token.token_hash = new.token_hash.clone();
    assert_eq!(
        conflict(s.insert_bot(&same_token).await.unwrap_err()),
        "bot_token_taken"
    );
    assert_eq!(
        conflict(
            s.insert_bot(&bot("bot-2", "bac_missing"))
                .await
                .unwrap_err()
        ),
        "broker_account_missing"
    );

    let b2 = s.insert_bot(&bot("bot-2", &other.id)).await.unwrap();
    let list = |f: BotFilter| async move { s.list_bots(&f).await.unwrap() };
    let all = BotFilter {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(list(all.clone()).await, vec![b.clone(), b2.clone()]);
    let on_other = list(BotFilter {
        broker_account_id: Some(other.id.clone()),
        ..all.clone()
    })
    .await;
    assert_eq!(on_other, vec![b2.clone()]);
    let page = list(BotFilter {
        limit: 1,
        ..all.clone()
    })
    .await;
    assert_eq!(page, vec![b.clone()]);
    let rest = list(BotFilter {
        after: Some(b.id.clone()),
        ..all.clone()
    })
    .await;
    assert_eq!(rest, vec![b2.clone()]);

    // Settings replace; base equity changes only when the patch says so.
    let with_base = s
        .update_bot(
            &b.id,
            &BotPatch {
                base_equity: Some(Some("100000".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(with_base.base_equity.as_deref(), Some("100000"));
    let kept = s
        .update_bot(
            &b.id,
            &BotPatch {
                settings: Some(json!({"qty": "2"})),
                allowed_symbols: Some(vec!["TSLA".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(kept.settings, json!({"qty": "2"}));
    assert_eq!(kept.allowed_symbols, vec!["TSLA"]);
    assert_eq!(kept.base_equity.as_deref(), Some("100000"));
    let reset = s
        .update_bot(
            &b.id,
            &BotPatch {
                settings: Some(json!({"qty": "3"})),
                base_equity: Some(None),
                body_secret_sealed: Some(Some("sealed:v1:body".into())),
                broker_account_id: Some(other.id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(reset.base_equity, None);
    assert_eq!(reset.body_secret_sealed.as_deref(), Some("sealed:v1:body"));
    assert_eq!(reset.broker_account_id, other.id);
    assert_eq!(reset.name, "bot-1");
    assert_eq!(
        conflict(
            s.update_bot(
                &b.id,
                &BotPatch {
                    name: Some("bot-2".into()),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
        ),
        "bot_name_taken"
    );
    assert_eq!(
        conflict(
            s.update_bot(
                &b.id,
                &BotPatch {
                    broker_account_id: Some("bac_missing".into()),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
        ),
        "broker_account_missing"
    );

    // A rotated token replaces the old one at once.
    s.rotate_bot_token(&b.id, "new-hash", "sealed:v1:new")
        .await
        .unwrap();
    assert_eq!(
        s.find_bot_by_token_hash(&new.token_hash).await.unwrap(),
        None
    );
    let found = s.find_bot_by_token_hash("new-hash").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.token_sealed.as_str()),
        (b.id.as_str(), "sealed:v1:new")
    );

    // Pausing reports whether it changed anything.
    assert!(
        s.set_bot_paused(&b.id, true, Some("circuit breaker"))
            .await
            .unwrap()
    );
    assert!(!s.set_bot_paused(&b.id, true, Some("again")).await.unwrap());
    let paused = s.get_bot(&b.id).await.unwrap();
    assert!(paused.paused);
    assert_eq!(paused.paused_reason.as_deref(), Some("circuit breaker"));
    let only_paused = list(BotFilter {
        paused: Some(true),
        ..all.clone()
    })
    .await;
    assert_eq!(
        only_paused.iter().map(|b| &b.id).collect::<Vec<_>>(),
        vec![&b.id]
    );
    assert!(
        s.set_bot_paused(&b.id, false, Some("ignored"))
            .await
            .unwrap()
    );
    let resumed = s.get_bot(&b.id).await.unwrap();
    assert!(!resumed.paused);
    assert_eq!(resumed.paused_reason, None);
    assert!(matches!(
        s.set_bot_paused("bot_missing", true, None).await,
        Err(StoreError::NotFound)
    ));

    // Soft delete: gone from lookups, name free, still listed on request.
    s.delete_bot(&b.id).await.unwrap();
    assert!(matches!(s.get_bot(&b.id).await, Err(StoreError::NotFound)));
    assert_eq!(s.find_bot_by_token_hash("new-hash").await.unwrap(), None);
    assert!(matches!(
        s.delete_bot(&b.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.set_bot_paused(&b.id, true, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.update_bot(&b.id, &BotPatch::default()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.rotate_bot_token(&b.id, "h", "s").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(list(all.clone()).await, vec![b2.clone()]);
    let with_deleted = list(BotFilter {
        include_deleted: true,
        ..all.clone()
    })
    .await;
    assert_eq!(with_deleted.len(), 2);
    assert!(with_deleted[0].deleted_at.is_some());
    s.insert_bot(&bot("bot-1", &a.id)).await.unwrap();
});

backend_test!(
    an_accepted_signal_has_its_job_its_event_and_the_event_deliveries,
    |db| {
        let s = &db.store;
        let bot_id = setup_bot(s).await;
        let mut mine = endpoint("ep_mine", &["signal.*"]);
        mine.filter_bot_ids = Some(vec![bot_id.clone()]);
        s.insert_endpoint(&mine).await.unwrap();
        let mut theirs = endpoint("ep_theirs", &["signal.*"]);
        theirs.filter_bot_ids = Some(vec!["bot_other".into()]);
        s.insert_endpoint(&theirs).await.unwrap();

        let new = new_signal(&bot_id, "k1", 10_000);
        let SignalOutcome::Accepted {
            signal,
            job_id,
            event_seq,
        } = accept(s, &new).await
        else {
            panic!("accepted");
        };
        assert!(signal.id.starts_with("sig_"));
        assert_eq!(signal.status, "accepted");
        assert_eq!(signal.parsed, new.parsed);
        assert_eq!(
            (signal.received_at, signal.created_at, signal.updated_at),
            (10_000, 10_000, 10_000)
        );
        assert_eq!(s.get_signal(&signal.id).await.unwrap(), signal);

        let job = s.get_job(&job_id).await.unwrap();
        assert_eq!(
            (
                job.signal_id.as_str(),
                job.bot_id.as_str(),
                job.kind.as_str()
            ),
            (signal.id.as_str(), bot_id.as_str(), "execute")
        );
        assert_eq!(job.status, JobStatus::Pending.as_str());
        assert_eq!((job.next_attempt_at, job.attempts), (10_000, 0));
        assert_eq!(s.jobs_for_signal(&signal.id).await.unwrap(), vec![job]);

        let events = s
            .list_events(&EventFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].seq, event_seq);
        assert_eq!(events[0].event.event_type, "signal.received");
        assert_eq!(events[0].event.data["signal_id"], json!(signal.id));
        let deliveries = s
            .list_deliveries(&DeliveryFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 1, "only the endpoint for this bot");
        assert_eq!(deliveries[0].endpoint_id, "ep_mine");
        assert_eq!(deliveries[0].event_id, events[0].event.id);
    }
);

backend_test!(a_rejected_signal_has_its_event_and_no_job, |db| {
    let s = &db.store;
    let bot_id = setup_bot(s).await;
    s.insert_endpoint(&endpoint("ep_all", &["signal.rejected"]))
        .await
        .unwrap();
    let mut new = new_signal(&bot_id, "k1", 10_000);
    new.status = SignalStatus::Rejected;
    new.reason = Some("symbol_not_allowed".into());
    let SignalOutcome::Rejected { signal, event_seq } = accept(s, &new).await else {
        panic!("rejected");
    };
    assert_eq!(signal.status, "rejected");
    assert_eq!(signal.reason.as_deref(), Some("symbol_not_allowed"));
    assert_eq!(s.get_signal(&signal.id).await.unwrap(), signal);
    assert!(s.jobs_for_signal(&signal.id).await.unwrap().is_empty());
    assert_eq!(s.job_backlog(i64::MAX).await.unwrap().0, 0);
    let event = s
        .list_events(&EventFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        (event.seq, event.event.event_type.as_str()),
        (event_seq, "signal.rejected")
    );
    let deliveries = s
        .list_deliveries(&DeliveryFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);

    // A rejected signal holds its key too: a resend is a duplicate.
    let again = accept(s, &new_signal(&bot_id, "k1", 10_500)).await;
    assert_eq!(
        again,
        SignalOutcome::Duplicate {
            original_signal_id: signal.id
        }
    );
});

backend_test!(the_dedupe_window, |db| {
    let s = &db.store;
    let bot_id = setup_bot(s).await;
    let first = match accept(s, &new_signal(&bot_id, "k1", 10_000)).await {
        SignalOutcome::Accepted { signal, .. } => signal,
        other => panic!("{other:?}"),
    };
    let (signals, events) = (signal_count(s).await, event_count(s).await);

    // Within the window: a duplicate, and nothing written.
    let dup = accept(s, &new_signal(&bot_id, "k1", 69_999)).await;
    assert_eq!(
        dup,
        SignalOutcome::Duplicate {
            original_signal_id: first.id.clone()
        }
    );
    assert_eq!(signal_count(s).await, signals);
    assert_eq!(event_count(s).await, events);
    assert_eq!(s.job_backlog(i64::MAX).await.unwrap().0, 1);

    // Another bot, or another key, is not a duplicate.
    let a2 = s.insert_broker_account(&account("paper-2")).await.unwrap();
    let bot2 = s.insert_bot(&bot("bot-2", &a2.id)).await.unwrap().id;
    assert!(matches!(
        accept(s, &new_signal(&bot2, "k1", 10_000)).await,
        SignalOutcome::Accepted { .. }
    ));
    assert!(matches!(
        accept(s, &new_signal(&bot_id, "k2", 10_000)).await,
        SignalOutcome::Accepted { .. }
    ));

    // From the expiry on, the key is free again, and now names the new
    // signal for the next window.
    let second = match accept(s, &new_signal(&bot_id, "k1", 70_000)).await {
        SignalOutcome::Accepted { signal, .. } => signal,
        other => panic!("{other:?}"),
    };
    assert_ne!(second.id, first.id);
    assert_eq!(
        accept(s, &new_signal(&bot_id, "k1", 100_000)).await,
        SignalOutcome::Duplicate {
            original_signal_id: second.id.clone()
        }
    );

    // An explicit id never expires.
    let mut explicit = new_signal(&bot_id, "alert-42", 10_000);
    explicit.dedupe_expires_at = i64::MAX;
    let held = match accept(s, &explicit).await {
        SignalOutcome::Accepted { signal, .. } => signal,
        other => panic!("{other:?}"),
    };
    let mut much_later = explicit.clone();
    much_later.received_at = 10_000 + 400 * 24 * 3_600_000;
    assert_eq!(
        accept(s, &much_later).await,
        SignalOutcome::Duplicate {
            original_signal_id: held.id.clone()
        }
    );

    // Pruning removes only expired claims, in batches: three have
    // expired by 200_000 (bot 2's k1 and k2 at 70_000, k1 at 130_000).
    assert_eq!(s.prune_signal_dedupe(200_000, 1).await.unwrap(), 1);
    assert_eq!(s.prune_signal_dedupe(200_000, 100).await.unwrap(), 2);
    assert_eq!(s.prune_signal_dedupe(200_000, 100).await.unwrap(), 0);
    assert_eq!(
        accept(s, &much_later).await,
        SignalOutcome::Duplicate {
            original_signal_id: held.id
        }
    );
});

backend_test!(concurrent_copies_of_a_signal_are_accepted_once, |db| {
    let s = &db.store;
    let bot_id = setup_bot(s).await;
    // Several rounds, each a burst of identical signals racing each
    // other; on PostgreSQL they overlap on separate connections.
    for round in 0..5 {
        let key = format!("race-{round}");
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(6));
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let store = s.clone();
                let start = start.clone();
                let new = new_signal(&bot_id, &key, 10_000);
                tokio::spawn(async move {
                    start.wait().await;
                    store.accept_signal(&new, signal_event).await
                })
            })
            .collect();
        let mut accepted = Vec::new();
        let mut duplicates = Vec::new();
        for t in tasks {
            match t.await.unwrap().unwrap() {
                SignalOutcome::Accepted { signal, .. } => accepted.push(signal.id),
                SignalOutcome::Duplicate { original_signal_id } => {
                    duplicates.push(original_signal_id)
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(accepted.len(), 1, "round {round}: {accepted:?}");
        assert_eq!(duplicates.len(), 5);
        assert!(
            duplicates.iter().all(|d| *d == accepted[0]),
            "{duplicates:?}"
        );
    }
    assert_eq!(signal_count(s).await, 5);
    assert_eq!(event_count(s).await, 5);
    assert_eq!(s.job_backlog(i64::MAX).await.unwrap().0, 5);
});

backend_test!(listing_signals_and_their_status, |db| {
    let s = &db.store;
    let bot_id = setup_bot(s).await;
    let a2 = s.insert_broker_account(&account("paper-2")).await.unwrap();
    let bot2 = s.insert_bot(&bot("bot-2", &a2.id)).await.unwrap().id;
    let mut ids = Vec::new();
    for i in 0..5 {
        match accept(s, &new_signal(&bot_id, &format!("k{i}"), 1_000 * (i + 1))).await {
            SignalOutcome::Accepted { signal, .. } => ids.push(signal.id),
            other => panic!("{other:?}"),
        }
    }
    accept(s, &new_signal(&bot2, "k0", 2_500)).await;

    let page = |f: SignalFilter| async move { s.list_signals(&f).await.unwrap() };
    let mine = SignalFilter {
        bot_id: Some(bot_id.clone()),
        limit: 2,
        ..Default::default()
    };
    let p1 = page(mine.clone()).await;
    let got: Vec<_> = p1.signals.iter().map(|x| x.id.clone()).collect();
    assert_eq!(got, vec![ids[4].clone(), ids[3].clone()], "newest first");
    let p2 = page(SignalFilter {
        cursor: p1.next.clone(),
        ..mine.clone()
    })
    .await;
    let got: Vec<_> = p2.signals.iter().map(|x| x.id.clone()).collect();
    assert_eq!(got, vec![ids[2].clone(), ids[1].clone()]);
    let p3 = page(SignalFilter {
        cursor: p2.next.clone(),
        ..mine.clone()
    })
    .await;
    assert_eq!(p3.signals.len(), 1);
    assert_eq!(p3.next, None);

    let window = page(SignalFilter {
        from: Some(2_000),
        to: Some(4_000),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(window.signals.len(), 3, "two of bot 1 and one of bot 2");
    assert!(matches!(
        s.list_signals(&SignalFilter {
            cursor: Some("garbage".into()),
            limit: 10,
            ..Default::default()
        })
        .await,
        Err(StoreError::InvalidCursor)
    ));

    s.set_signal_status(&ids[0], SignalStatus::Executing, None)
        .await
        .unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.set_signal_status(&ids[1], SignalStatus::Failed, Some("broker_rejected"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let failed = page(SignalFilter {
        status: Some(SignalStatus::Failed),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(failed.signals.len(), 1);
    assert_eq!(failed.signals[0].id, ids[1]);
    assert_eq!(failed.signals[0].reason.as_deref(), Some("broker_rejected"));
    assert_eq!(s.get_signal(&ids[0]).await.unwrap().status, "executing");
    assert_eq!(
        SignalStatus::parse("executing"),
        Some(SignalStatus::Executing)
    );
    assert!(matches!(
        s.set_signal_status("sig_missing", SignalStatus::Executed, None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.get_signal("sig_missing").await,
        Err(StoreError::NotFound)
    ));
});

backend_test!(a_job_left_by_a_crashed_worker_is_leased_again, |db| {
    let s = &db.store;
    let bot_id = setup_bot(s).await;
    let SignalOutcome::Accepted { job_id, .. } =
        accept(s, &new_signal(&bot_id, "k1", 10_000)).await
    else {
        panic!("accepted");
    };
    assert!(
        s.lease_jobs("w1", 9_999, 30_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    assert_eq!(s.job_backlog(10_000).await.unwrap(), (1, Some(10_000)));

    // Worker 1 leases the job, then "crashes".
    let leased = s.lease_jobs("w1", 10_000, 30_000, 10).await.unwrap();
    assert_eq!(leased.len(), 1);
    let first = &leased[0];
    assert_eq!(first.id, job_id);
    assert_eq!((first.attempts, first.next_attempt_at), (1, 40_000));
    assert_eq!(first.lease_owner.as_deref(), Some("w1"));

    // Nobody gets it while the lease lasts.
    assert!(
        s.lease_jobs("w2", 39_999, 30_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // After it, worker 2 does, with a new token.
    let again = s.lease_jobs("w2", 40_000, 30_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    let second = &again[0];
    assert_eq!(second.id, job_id);
    assert_eq!(second.attempts, 2);
    assert_ne!(second.lease_token, first.lease_token);

    // Worker 1 comes back late: its result is refused.
    assert!(!s.complete_job(&job_id, first.lease_token).await.unwrap());
    assert!(
        !s.fail_job(&job_id, first.lease_token, "late")
            .await
            .unwrap()
    );
    assert!(
        !s.retry_job(&job_id, first.lease_token, 0, "late")
            .await
            .unwrap()
    );
    assert!(s.complete_job(&job_id, second.lease_token).await.unwrap());
    let done = s.get_job(&job_id).await.unwrap();
    assert_eq!(done.status, "done");
    assert_eq!(done.lease_owner, None);
    assert!(!s.complete_job(&job_id, second.lease_token).await.unwrap());
    assert!(
        s.lease_jobs("w3", i64::MAX - 1, 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
});

backend_test!(jobs_retry_fail_and_lease_in_batches, |db| {
    let s = &db.store;
    let bot_id = setup_bot(s).await;
    let mut jobs = Vec::new();
    for i in 0..3 {
        match accept(s, &new_signal(&bot_id, &format!("k{i}"), 1_000 + i)).await {
            SignalOutcome::Accepted { job_id, .. } => jobs.push(job_id),
            other => panic!("{other:?}"),
        }
    }
    let batch = s.lease_jobs("w1", 5_000, 10_000, 2).await.unwrap();
    assert_eq!(
        batch.iter().map(|j| &j.id).collect::<Vec<_>>(),
        vec![&jobs[0], &jobs[1]],
        "most overdue first, up to the limit"
    );
    let rest = s.lease_jobs("w2", 5_000, 10_000, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, jobs[2]);

    // Retry: due again at the given time, with the error kept.
    assert!(
        s.retry_job(&jobs[0], batch[0].lease_token, 7_000, "broker 503")
            .await
            .unwrap()
    );
    let retried = s.get_job(&jobs[0]).await.unwrap();
    assert_eq!(retried.status, "pending");
    assert_eq!(retried.next_attempt_at, 7_000);
    assert_eq!(retried.last_error.as_deref(), Some("broker 503"));
    assert!(
        s.lease_jobs("w1", 6_999, 10_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let re = s.lease_jobs("w1", 7_000, 10_000, 10).await.unwrap();
    assert_eq!(re.len(), 1);
    assert_eq!(re[0].attempts, 2);

    // Fail, in a transaction with the signal's status.
    let mut tx = s.begin().await.unwrap();
    assert!(
        tx.fail_job(&jobs[1], batch[1].lease_token, "insufficient buying power")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let failed = s.get_job(&jobs[1]).await.unwrap();
    assert_eq!(failed.status, "failed");
    assert_eq!(
        failed.last_error.as_deref(),
        Some("insufficient buying power")
    );

    // A completion rolled back leaves the job leased, not done.
    let mut tx = s.begin().await.unwrap();
    assert!(
        tx.complete_job(&jobs[2], rest[0].lease_token)
            .await
            .unwrap()
    );
    drop(tx);
    assert_eq!(s.get_job(&jobs[2]).await.unwrap().status, "pending");
    let mut tx = s.begin().await.unwrap();
    assert!(
        tx.retry_job(&jobs[2], rest[0].lease_token, 9_000, "x")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(s.get_job(&jobs[2]).await.unwrap().next_attempt_at, 9_000);
    assert!(matches!(
        s.get_job("job_missing").await,
        Err(StoreError::NotFound)
    ));
});

backend_test!(concurrent_leases_never_share_a_job, |db| {
    let s = &db.store;
    let bot_id = setup_bot(s).await;
    for i in 0..40 {
        accept(s, &new_signal(&bot_id, &format!("k{i}"), 1_000)).await;
    }
    let tasks: Vec<_> = (0..4)
        .map(|w| {
            let store = s.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store
                        .lease_jobs(&format!("w{w}"), 2_000, 60_000, 3)
                        .await
                        .unwrap();
                    if got.is_empty() {
                        break mine;
                    }
                    mine.extend(got.into_iter().map(|j| j.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a job was leased twice");
    assert_eq!(n, 40);
});

fn order(bot_id: &str, account_id: &str, leg: &str, created_at: i64) -> NewOrder {
    NewOrder {
        id: new_id("ord"),
        bot_id: bot_id.into(),
        signal_id: None,
        broker_account_id: account_id.into(),
        client_order_id: new_id("th"),
        broker_order_id: None,
        symbol: "AAPL".into(),
        side: "buy".into(),
        qty: "10".into(),
        order_type: "market".into(),
        time_in_force: "day".into(),
        limit_price: None,
        stop_price: None,
        status: "new".into(),
        leg: leg.into(),
        parent_order_id: None,
        reason: None,
        created_at,
    }
}

backend_test!(orders_round_trip, |db| {
    let s = &db.store;
    let a = s.insert_broker_account(&account("paper-1")).await.unwrap();
    let bot_id = s.insert_bot(&bot("bot-1", &a.id)).await.unwrap().id;
    let SignalOutcome::Accepted { signal, .. } = accept(s, &new_signal(&bot_id, "k1", 500)).await
    else {
        panic!("accepted");
    };

    let mut entry = order(&bot_id, &a.id, "entry", 1_000);
    entry.signal_id = Some(signal.id.clone());
    entry.order_type = "limit".into();
    entry.limit_price = Some("187.25".into());
    let e = s.insert_order(&entry).await.unwrap();
    assert_eq!(e.filled_qty, "0");
    assert_eq!(e.limit_price.as_deref(), Some("187.25"));
    assert_eq!((e.created_at, e.updated_at), (1_000, 1_000));
    assert_eq!(s.get_order(&e.id).await.unwrap(), e);
    assert_eq!(
        s.get_order_by_client_id(&entry.client_order_id)
            .await
            .unwrap(),
        e
    );
    assert!(matches!(
        s.get_order_by_client_id("th_missing").await,
        Err(StoreError::NotFound)
    ));
    let mut again = order(&bot_id, &a.id, "entry", 1_001);
    again.client_order_id = entry.client_order_id.clone();
    assert_eq!(
        conflict(s.insert_order(&again).await.unwrap_err()),
        "order_client_id_taken"
    );
    assert_eq!(
        conflict(
            s.insert_order(&order("bot_missing", &a.id, "entry", 1))
                .await
                .unwrap_err()
        ),
        "bot_missing"
    );

    let mut sl = order(&bot_id, &a.id, "sl", 2_000);
    sl.parent_order_id = Some(e.id.clone());
    sl.order_type = "stop".into();
    sl.stop_price = Some("180".into());
    sl.side = "sell".into();
    let sl = s.insert_order(&sl).await.unwrap();
    let mut tp = order(&bot_id, &a.id, "tp", 3_000);
    tp.parent_order_id = Some(e.id.clone());
    let tp = s.insert_order(&tp).await.unwrap();
    let exit = s
        .insert_order(&order(&bot_id, &a.id, "exit", 4_000))
        .await
        .unwrap();

    // Fills only ever add information.
    let filled = s
        .update_order(
            &e.id,
            &OrderUpdate {
                status: Some("filled".into()),
                broker_order_id: Some("alp-1".into()),
                filled_qty: Some("10".into()),
                filled_avg_price: Some("187.2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(filled.status, "filled");
    assert_eq!(filled.broker_order_id.as_deref(), Some("alp-1"));
    assert_eq!(filled.filled_avg_price.as_deref(), Some("187.2"));
    assert_eq!(filled.limit_price.as_deref(), Some("187.25"));
    let same = s
        .update_order(
            &e.id,
            &OrderUpdate {
                reason: Some("note".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(same.broker_order_id.as_deref(), Some("alp-1"));
    assert_eq!(same.reason.as_deref(), Some("note"));
    assert!(matches!(
        s.update_order("ord_missing", &OrderUpdate::default()).await,
        Err(StoreError::NotFound)
    ));

    // Protective legs until they are final.
    let open: Vec<_> = s
        .open_protective_orders(&bot_id)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(open, vec![sl.id.clone(), tp.id.clone()]);
    let mut tx = s.begin().await.unwrap();
    tx.update_order(
        &tp.id,
        &OrderUpdate {
            status: Some("canceled".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let open: Vec<_> = s
        .open_protective_orders(&bot_id)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(open, vec![sl.id.clone()]);
    let ids = |orders: Vec<tradehook_store::OrderRecord>| -> Vec<String> {
        orders.into_iter().map(|o| o.id).collect()
    };
    let expected = vec![sl.id.clone(), exit.id.clone()];
    assert_eq!(ids(s.open_orders(Some(&bot_id)).await.unwrap()), expected);
    assert_eq!(ids(s.open_orders(None).await.unwrap()), expected);
    assert!(s.open_orders(Some("bot_other")).await.unwrap().is_empty());

    // Listing: newest first, paged, filtered.
    let mine = OrderFilter {
        bot_id: Some(bot_id.clone()),
        limit: 3,
        ..Default::default()
    };
    let p1 = s.list_orders(&mine).await.unwrap();
    let ids: Vec<_> = p1.orders.iter().map(|o| o.id.clone()).collect();
    assert_eq!(ids, vec![exit.id.clone(), tp.id.clone(), sl.id.clone()]);
    let p2 = s
        .list_orders(&OrderFilter {
            cursor: p1.next.clone(),
            ..mine.clone()
        })
        .await
        .unwrap();
    assert_eq!(p2.orders.len(), 1);
    assert_eq!(p2.orders[0].id, e.id);
    assert_eq!(p2.next, None);
    let open_only = s
        .list_orders(&OrderFilter {
            open_only: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = open_only.orders.iter().map(|o| o.id.clone()).collect();
    assert_eq!(ids, vec![exit.id.clone(), sl.id.clone()]);
    let by_status = s
        .list_orders(&OrderFilter {
            status: Some("filled".into()),
            from: Some(1_000),
            to: Some(1_001),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_status.orders.len(), 1);

    // Inserted in a transaction that rolls back: not there.
    let mut tx = s.begin().await.unwrap();
    let gone = tx
        .insert_order(&order(&bot_id, &a.id, "liquidate", 5_000))
        .await
        .unwrap();
    drop(tx);
    assert!(matches!(
        s.get_order(&gone.id).await,
        Err(StoreError::NotFound)
    ));
});

fn call(bot_id: Option<&str>, created_at: i64) -> NewBrokerCall {
    NewBrokerCall {
        bot_id: bot_id.map(str::to_string),
        broker_account_id: "bac_1".into(),
        method: "POST".into(),
        path: "/v2/orders".into(),
        status: Some(200),
        latency_ms: 42,
        request: Some(r#"{"symbol":"AAPL"}"#.into()),
        response: Some(r#"{"id":"alp-1"}"#.into()),
        error: None,
        created_at,
    }
}

backend_test!(the_broker_call_log, |db| {
    let s = &db.store;
    let mut failed = call(Some("bot_a"), 1);
    failed.status = None;
    failed.response = None;
    failed.error = Some("connection reset".into());
    let id = s.insert_broker_call(&failed).await.unwrap();
    assert!(id.starts_with("bcl_"));
    let stored = s.get_broker_call(&id).await.unwrap();
    assert_eq!(stored.status, None);
    assert_eq!(stored.error.as_deref(), Some("connection reset"));

    // More than one statement's worth, in one call.
    let many: Vec<_> = (0..1_200)
        .map(|i| call(if i % 2 == 0 { Some("bot_a") } else { None }, 10 + i))
        .collect();
    let ids = s.insert_broker_calls(&many).await.unwrap();
    assert_eq!(ids.len(), 1_200);
    assert!(s.insert_broker_calls(&[]).await.unwrap().is_empty());
    let last = s.get_broker_call(&ids[1_199]).await.unwrap();
    assert_eq!((last.created_at, last.bot_id), (1_209, None));

    // Export order: oldest first, page by page, for one bot.
    let mut f = BrokerCallFilter {
        bot_id: Some("bot_a".into()),
        oldest_first: true,
        limit: 250,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = s.list_broker_calls(&f).await.unwrap();
        seen.extend(page.calls.iter().map(|c| c.created_at));
        match page.next {
            Some(next) => f.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 601);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seen[0], 1);

    let newest = s
        .list_broker_calls(&BrokerCallFilter {
            from: Some(100),
            to: Some(110),
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    let times: Vec<_> = newest.calls.iter().map(|c| c.created_at).collect();
    assert_eq!(times, vec![109, 108, 107]);
    assert!(newest.next.is_some());

    assert_eq!(s.prune_broker_calls(110, 50).await.unwrap(), 50);
    assert_eq!(s.prune_broker_calls(110, 1_000).await.unwrap(), 51);
    assert_eq!(s.prune_broker_calls(110, 1_000).await.unwrap(), 0);
    let left = s
        .list_broker_calls(&BrokerCallFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.calls.len(), 1_100);
});

fn snapshot(bot_id: &str, ts: i64, equity: &str) -> EquitySnapshot {
    EquitySnapshot {
        bot_id: bot_id.into(),
        ts,
        equity: equity.into(),
        cash: "1000".into(),
        positions: json!([{"symbol": "AAPL", "qty": "3"}]),
    }
}

backend_test!(equity_snapshots_and_thinning, |db| {
    let s = &db.store;
    const MIN: i64 = 60_000;
    // Every 10 seconds for 5 minutes, for two bots.
    for bot in ["bot_a", "bot_b"] {
        for i in 0..30 {
            s.insert_equity_snapshot(&snapshot(bot, i * 10_000, &format!("{}", 1000 + i)))
                .await
                .unwrap();
        }
    }
    // The same instant again replaces the reading.
    s.insert_equity_snapshot(&snapshot("bot_a", 0, "999.5"))
        .await
        .unwrap();
    let all = s.list_equity("bot_a", None, None).await.unwrap();
    assert_eq!(all.len(), 30);
    assert_eq!(all[0].equity, "999.5");
    assert_eq!(all[0].positions, json!([{"symbol": "AAPL", "qty": "3"}]));
    let window = s
        .list_equity("bot_a", Some(MIN), Some(2 * MIN))
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|e| e.ts).collect::<Vec<_>>(),
        vec![60_000, 70_000, 80_000, 90_000, 100_000, 110_000]
    );

    // Thin what is older than three minutes to one a minute.
    let deleted = s.thin_equity(3 * MIN, MIN).await.unwrap();
    assert_eq!(
        deleted,
        2 * 3 * 5,
        "five of six in each of three minutes, two bots"
    );
    assert_eq!(s.thin_equity(3 * MIN, MIN).await.unwrap(), 0);
    let left: Vec<_> = s
        .list_equity("bot_b", None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.ts)
        .collect();
    assert_eq!(
        left,
        vec![
            0, 60_000, 120_000, 180_000, 190_000, 200_000, 210_000, 220_000, 230_000, 240_000,
            250_000, 260_000, 270_000, 280_000, 290_000
        ]
    );
});

backend_test!(a_burst_of_signals_is_taken_in_with_exact_dedupe, |db| {
    // On SQLite concurrent intakes share transactions (the group commit);
    // each must still get exactly what it would get alone.
    let s = &db.store;
    let bot_id = setup_bot(s).await;
    s.insert_endpoint(&endpoint("ep_signals", &["signal.*"]))
        .await
        .unwrap();
    // A key held for good, and one whose window ended at 5,000.
    let SignalOutcome::Accepted { signal: held, .. } =
        accept(s, &new_signal(&bot_id, "held", 1_000)).await
    else {
        panic!("accepted");
    };
    let mut expiring = new_signal(&bot_id, "expired", 1_000);
    expiring.dedupe_expires_at = 5_000;
    accept(s, &expiring).await;

    let start = std::sync::Arc::new(tokio::sync::Barrier::new(42));
    let mut tasks = Vec::new();
    for i in 0..42 {
        let mut new = match i {
            0 => new_signal(&bot_id, "held", 10_000),
            1 => new_signal(&bot_id, "expired", 10_000),
            _ => new_signal(&bot_id, &format!("burst-{i}"), 10_000),
        };
        if i % 5 == 4 {
            new.status = SignalStatus::Rejected;
            new.reason = Some("symbol_not_allowed".into());
        }
        let (store, start) = (s.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            (i, store.accept_signal(&new, signal_event).await.unwrap())
        }));
    }
    let mut seqs = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for t in tasks {
        let (i, outcome) = t.await.unwrap();
        match (i, outcome) {
            (0, SignalOutcome::Duplicate { original_signal_id }) => {
                assert_eq!(original_signal_id, held.id)
            }
            (
                _,
                SignalOutcome::Accepted {
                    signal,
                    event_seq,
                    job_id,
                },
            ) if i % 5 != 4 => {
                assert_eq!(s.get_signal(&signal.id).await.unwrap(), signal);
                assert_eq!(s.get_job(&job_id).await.unwrap().signal_id, signal.id);
                seqs.push(event_seq);
                accepted += 1;
            }
            (_, SignalOutcome::Rejected { signal, event_seq }) if i % 5 == 4 => {
                assert_eq!(s.get_signal(&signal.id).await.unwrap(), signal);
                assert!(s.jobs_for_signal(&signal.id).await.unwrap().is_empty());
                seqs.push(event_seq);
                rejected += 1;
            }
            (i, other) => panic!("signal {i}: {other:?}"),
        }
    }
    // 41 stored (the expired key was taken over), 8 of them rejected.
    assert_eq!((accepted, rejected), (33, 8));
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 41, "one event each");
    assert_eq!(signal_count(s).await, 43);
    assert_eq!(event_count(s).await, 43);
    assert_eq!(s.job_backlog(i64::MAX).await.unwrap().0, 2 + 33);
    let deliveries = s
        .list_deliveries(&DeliveryFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 43, "one delivery per event");
});

backend_test!(cached_bot_lookups_see_writes_at_once, |db| {
    let s = &db.store;
    let a = s.insert_broker_account(&account("paper-1")).await.unwrap();
    let new = bot("bot-1", &a.id);
    let b = s.insert_bot(&new).await.unwrap();
    let cached = |h: String| async move { s.find_bot_by_token_hash_cached(&h).await.unwrap() };
    assert_eq!(cached(new.token_hash.clone()).await, Some(b.clone()));
    assert_eq!(cached(new.token_hash.clone()).await, Some(b.clone()));

    s.set_bot_paused(&b.id, true, Some("manual")).await.unwrap();
    assert!(cached(new.token_hash.clone()).await.unwrap().paused);
    s.set_bot_paused(&b.id, false, None).await.unwrap();
    assert!(!cached(new.token_hash.clone()).await.unwrap().paused);

    let patch = BotPatch {
        allowed_symbols: Some(vec!["TSLA".into()]),
        ..Default::default()
    };
    s.update_bot(&b.id, &patch).await.unwrap();
    assert_eq!(
        cached(new.token_hash.clone())
            .await
            .unwrap()
            .allowed_symbols,
        vec!["TSLA".to_string()]
    );

    s.rotate_bot_token(&b.id, "rotated", "sealed:v1:r")
        .await
        .unwrap();
    assert_eq!(cached(new.token_hash.clone()).await, None);
    assert_eq!(cached("rotated".into()).await.unwrap().id, b.id);

    s.delete_bot(&b.id).await.unwrap();
    assert_eq!(cached("rotated".into()).await, None);
});
