//! Equity snapshots: a bot's account value over time, for its chart and
//! the circuit breaker. Recent history is kept as taken; older history is
//! thinned to one snapshot per interval ([`Store::thin_equity`]), which is
//! all a chart over weeks needs.

use serde_json::Value;
use tradehook_core::time::UnixMillis;

use super::{json_text, parse_json};
use crate::{Result, Store, StoreError, on_backend, on_write};

/// A bot's equity at one instant. Money is decimal text.
#[derive(Debug, Clone, PartialEq)]
pub struct EquitySnapshot {
    pub bot_id: String,
    pub ts: UnixMillis,
    pub equity: String,
    pub cash: String,
    /// The open positions (JSON).
    pub positions: Value,
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    bot_id: String,
    ts: i64,
    equity: String,
    cash: String,
    positions: String,
}

impl TryFrom<SnapshotRow> for EquitySnapshot {
    type Error = StoreError;
    fn try_from(r: SnapshotRow) -> Result<Self> {
        Ok(EquitySnapshot {
            positions: parse_json("equity positions", &r.positions)?,
            bot_id: r.bot_id,
            ts: r.ts,
            equity: r.equity,
            cash: r.cash,
        })
    }
}

impl Store {
    /// Stores a snapshot. A second one for the same bot and instant
    /// replaces the first: the later reading is the better one.
    pub async fn insert_equity_snapshot(&self, s: &EquitySnapshot) -> Result<()> {
        on_write!(self, pool => {
            sqlx::query(
                "INSERT INTO equity_snapshots (bot_id, ts, equity, cash, positions) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (bot_id, ts) DO UPDATE
                 SET equity = excluded.equity, cash = excluded.cash, positions = excluded.positions",
            )
            .bind(&s.bot_id)
            .bind(s.ts)
            .bind(&s.equity)
            .bind(&s.cash)
            .bind(json_text(&s.positions))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A bot's snapshots from `from` (inclusive) to `to` (exclusive),
    /// oldest first; an open end when `None`.
    pub async fn list_equity(
        &self,
        bot_id: &str,
        from: Option<UnixMillis>,
        to: Option<UnixMillis>,
    ) -> Result<Vec<EquitySnapshot>> {
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, SnapshotRow>(
                "SELECT bot_id, ts, equity, cash, positions FROM equity_snapshots
                 WHERE bot_id = $1 AND ts >= $2 AND ts < $3
                 ORDER BY ts",
            )
            .bind(bot_id)
            // Open ends as the extreme instants keep the range on the key.
            .bind(from.unwrap_or(i64::MIN))
            .bind(to.unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(EquitySnapshot::try_from).collect()
    }

    /// Thins snapshots taken before `older_than` to the first of each bot
    /// in each `keep_every_ms` interval (aligned to the Unix epoch), e.g.
    /// one a minute for anything older than a day. Returns how many were
    /// deleted. Running it again deletes nothing more.
    pub async fn thin_equity(&self, older_than: UnixMillis, keep_every_ms: i64) -> Result<u64> {
        let every = keep_every_ms.max(1);
        Ok(on_write!(self, pool => {
            sqlx::query(
                "DELETE FROM equity_snapshots
                 WHERE ts < $1 AND EXISTS (
                    SELECT 1 FROM equity_snapshots e
                    WHERE e.bot_id = equity_snapshots.bot_id
                      AND e.ts < equity_snapshots.ts
                      AND e.ts >= equity_snapshots.ts - (equity_snapshots.ts % $2))",
            )
            .bind(older_than)
            .bind(every)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}
