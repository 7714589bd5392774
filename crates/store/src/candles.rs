//! The candles repository.

use tradehook_core::time::UnixMillis;

use crate::tx::on_tx;
use crate::{Result, Store, on_backend, on_write};

/// A stored candle.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CandleRow {
    pub symbol: String,
    pub interval: String,
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub trades: i64,
    pub closed: bool,
}

/// Which candles to list.
#[derive(Debug, Clone)]
pub struct CandleQuery {
    pub source: String,
    pub symbol: String,
    pub interval: String,
    /// Open time at or after.
    pub from: Option<UnixMillis>,
    /// Open time before.
    pub to: Option<UnixMillis>,
    /// Only candles opening after this (the cursor).
    pub after: Option<UnixMillis>,
    pub limit: i64,
}

impl Store {
    /// Inserts or updates candles in one transaction. A closed candle
    /// stays closed.
    pub async fn upsert_candles(
        &self,
        source: &str,
        candles: &[CandleRow],
        now: UnixMillis,
    ) -> Result<()> {
        if candles.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for c in candles {
            on_tx!(tx, conn => {
                sqlx::query(
                    "INSERT INTO candles (source, symbol, interval, open_time, open, high, low, close, volume, trades, closed, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (source, symbol, interval, open_time) DO UPDATE SET
                        open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
                        volume = excluded.volume, trades = excluded.trades,
                        closed = candles.closed OR excluded.closed, updated_at = excluded.updated_at",
                )
                .bind(source)
                .bind(&c.symbol)
                .bind(&c.interval)
                .bind(c.open_time)
                .bind(c.open)
                .bind(c.high)
                .bind(c.low)
                .bind(c.close)
                .bind(c.volume)
                .bind(c.trades)
                .bind(c.closed)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// The open time of the newest closed candle of a series.
    pub async fn last_closed_candle(
        &self,
        source: &str,
        symbol: &str,
        interval: &str,
    ) -> Result<Option<i64>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MAX(open_time) FROM candles WHERE source = $1 AND symbol = $2 AND interval = $3 AND closed",
            )
            .bind(source)
            .bind(symbol)
            .bind(interval)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Candles in time order.
    pub async fn list_candles(&self, q: &CandleQuery) -> Result<Vec<CandleRow>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as::<_, CandleRow>(
                "SELECT symbol, interval, open_time, open, high, low, close, volume, trades, closed FROM candles
                 WHERE source = $1 AND symbol = $2 AND interval = $3
                   AND ($4 IS NULL OR open_time >= $4) AND ($5 IS NULL OR open_time < $5) AND ($6 IS NULL OR open_time > $6)
                 ORDER BY open_time LIMIT $7",
            )
            .bind(&q.source)
            .bind(&q.symbol)
            .bind(&q.interval)
            .bind(q.from)
            .bind(q.to)
            .bind(q.after)
            .bind(q.limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The newest `limit` candles of a series within the query's bounds,
    /// in time order: what indicators need to warm up, read from the end
    /// of the series rather than paged from its start.
    pub async fn latest_candles(&self, q: &CandleQuery) -> Result<Vec<CandleRow>> {
        let mut rows: Vec<CandleRow> = on_backend!(self, pool => {
            sqlx::query_as::<_, CandleRow>(
                "SELECT symbol, interval, open_time, open, high, low, close, volume, trades, closed FROM candles
                 WHERE source = $1 AND symbol = $2 AND interval = $3
                   AND ($4 IS NULL OR open_time >= $4) AND ($5 IS NULL OR open_time < $5) AND ($6 IS NULL OR open_time > $6)
                 ORDER BY open_time DESC LIMIT $7",
            )
            .bind(&q.source)
            .bind(&q.symbol)
            .bind(&q.interval)
            .bind(q.from)
            .bind(q.to)
            .bind(q.after)
            .bind(q.limit)
            .fetch_all(pool)
            .await?
        });
        rows.reverse();
        Ok(rows)
    }

    /// Deletes up to `batch` candles of an interval opened before `before`;
    /// call until it returns 0 (short statements never block ingest).
    pub async fn prune_candles(
        &self,
        interval: &str,
        before: UnixMillis,
        batch: i64,
    ) -> Result<u64> {
        Ok(on_write!(self, pool => {
            sqlx::query(
                "DELETE FROM candles WHERE (source, symbol, interval, open_time) IN (
                    SELECT source, symbol, interval, open_time FROM candles
                    WHERE interval = $1 AND open_time < $2 LIMIT $3)",
            )
            .bind(interval)
            .bind(before)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}
