//! Candle storage on SQLite and PostgreSQL.

use tradehook_store::{CandleQuery, CandleRow, backend_test};

fn bar(t: i64, close: f64, closed: bool) -> CandleRow {
    CandleRow {
        symbol: "BTC".into(),
        interval: "1m".into(),
        open_time: t,
        open: close,
        high: close + 1.0,
        low: close - 1.0,
        close,
        volume: 2.5,
        trades: 3,
        closed,
    }
}

fn query(limit: i64) -> CandleQuery {
    CandleQuery {
        source: "hyperliquid".into(),
        symbol: "BTC".into(),
        interval: "1m".into(),
        from: None,
        to: None,
        after: None,
        limit,
    }
}

backend_test!(candles_upsert_by_key_and_stay_closed, |db| {
    let s = &db.store;
    s.upsert_candles(
        "hyperliquid",
        &[bar(0, 1.0, false), bar(60_000, 2.0, false)],
        1,
    )
    .await
    .unwrap();
    s.upsert_candles("hyperliquid", &[bar(0, 1.5, true)], 2)
        .await
        .unwrap();
    // A late "open" update does not reopen a closed candle.
    s.upsert_candles("hyperliquid", &[bar(0, 1.6, false)], 3)
        .await
        .unwrap();
    let rows = s.list_candles(&query(10)).await.unwrap();
    assert_eq!(rows.len(), 2, "no duplicates");
    assert_eq!((rows[0].close, rows[0].closed), (1.6, true));
    assert_eq!(rows[1].open_time, 60_000);
    assert_eq!(
        s.last_closed_candle("hyperliquid", "BTC", "1m")
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        s.last_closed_candle("replay", "BTC", "1m").await.unwrap(),
        None,
        "sources are separate"
    );
});

backend_test!(candles_list_in_time_order_with_range_and_cursor, |db| {
    let s = &db.store;
    let rows: Vec<CandleRow> = (0..10)
        .rev()
        .map(|i| bar(i * 60_000, i as f64, true))
        .collect();
    s.upsert_candles("hyperliquid", &rows, 1).await.unwrap();
    let page = s
        .list_candles(&CandleQuery {
            from: Some(120_000),
            to: Some(420_000),
            ..query(3)
        })
        .await
        .unwrap();
    let times: Vec<i64> = page.iter().map(|c| c.open_time).collect();
    assert_eq!(times, [120_000, 180_000, 240_000]);
    let next = s
        .list_candles(&CandleQuery {
            from: Some(120_000),
            to: Some(420_000),
            after: Some(240_000),
            ..query(3)
        })
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|c| c.open_time).collect::<Vec<_>>(),
        [300_000, 360_000]
    );

    assert_eq!(s.prune_candles("1m", 300_000, 2).await.unwrap(), 2);
    assert_eq!(s.prune_candles("1m", 300_000, 10).await.unwrap(), 3);
    assert_eq!(s.prune_candles("1m", 300_000, 10).await.unwrap(), 0);
    assert_eq!(s.list_candles(&query(100)).await.unwrap().len(), 5);
});

backend_test!(latest_candles_are_the_newest_in_time_order, |db| {
    let s = &db.store;
    let bars: Vec<CandleRow> = (0..5).map(|i| bar(i * 60_000, i as f64, true)).collect();
    s.upsert_candles("hyperliquid", &bars, 1).await.unwrap();
    let latest = s.latest_candles(&query(2)).await.unwrap();
    let times: Vec<i64> = latest.iter().map(|c| c.open_time).collect();
    assert_eq!(times, vec![180_000, 240_000]);
    let mut before = query(2);
    before.to = Some(180_000);
    let times: Vec<i64> = s
        .latest_candles(&before)
        .await
        .unwrap()
        .iter()
        .map(|c| c.open_time)
        .collect();
    assert_eq!(times, vec![60_000, 120_000]);
});
