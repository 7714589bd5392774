//! The alerts repository: what rules fired.
//!
//! Firing is one transaction: the alert, the rule's new state and the
//! event with its deliveries commit together or not at all. Several
//! evaluators (replicas, or a restart replaying a window) may fire the
//! same rule for the same window; the unique key on (rule, window) lets
//! exactly one of them through and the others get `None`.

use serde_json::Value;
use tradehook_core::event::Event;
use tradehook_core::ids::new_id;
use tradehook_core::time::UnixMillis;

use crate::rules::RuleRecord;
use crate::sql::Where;
use crate::tx::on_tx;
use crate::{Result, Store, StoreError, on_backend, on_write};

/// A stored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// `alr_…`.
    pub id: String,
    pub rule_id: String,
    pub symbol: String,
    pub rule_type: String,
    pub window_start: UnixMillis,
    pub window_end: UnixMillis,
    pub price: f64,
    /// Indicator values at firing (JSON object).
    pub indicators: Value,
    /// The rule as it was when it fired; see [`RuleRecord::snapshot`].
    pub rule_snapshot: Value,
    /// Time of the market data that made the rule fire.
    pub feed_ts: UnixMillis,
    pub committed_at: UnixMillis,
    /// From `feed_ts` to `committed_at`, in microseconds, never negative.
    pub latency_us: i64,
    /// The event published for it.
    pub event_id: String,
}

/// An alert the rule engine wants to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub rule_id: String,
    pub window_start: UnixMillis,
    pub window_end: UnixMillis,
    pub price: f64,
    pub indicators: Value,
    pub feed_ts: UnixMillis,
}

/// A position in the newest-first listing: the last alert of a page.
/// Clients see it as an opaque `<committed_at>.<id>` string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    committed_at: UnixMillis,
    id: String,
}

impl Cursor {
    fn of(alert: &AlertRecord) -> String {
        format!("{}.{}", alert.committed_at, alert.id)
    }

    fn parse(text: &str) -> Result<Cursor> {
        let (at, id) = text.split_once('.').ok_or(StoreError::InvalidCursor)?;
        let committed_at = at.parse().map_err(|_| StoreError::InvalidCursor)?;
        if id.is_empty() {
            return Err(StoreError::InvalidCursor);
        }
        Ok(Cursor {
            committed_at,
            id: id.to_string(),
        })
    }
}

/// Which alerts to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub rule_id: Option<String>,
    pub symbol: Option<String>,
    /// `committed_at` at or after.
    pub from: Option<UnixMillis>,
    /// `committed_at` before.
    pub to: Option<UnixMillis>,
    /// The previous page's `next`: only alerts listed after it (older).
    pub cursor: Option<String>,
    pub limit: i64,
}

/// One page of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPage {
    pub alerts: Vec<AlertRecord>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: String,
    rule_id: String,
    symbol: String,
    rule_type: String,
    window_start: i64,
    window_end: i64,
    price: f64,
    indicators: String,
    rule_snapshot: String,
    feed_ts: i64,
    committed_at: i64,
    latency_us: i64,
    event_id: String,
}

impl TryFrom<AlertRow> for AlertRecord {
    type Error = StoreError;
    fn try_from(r: AlertRow) -> Result<Self> {
        let corrupt =
            |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("alert {what}: {e}"));
        Ok(AlertRecord {
            indicators: serde_json::from_str(&r.indicators)
                .map_err(|e| corrupt("indicators", e))?,
            rule_snapshot: serde_json::from_str(&r.rule_snapshot)
                .map_err(|e| corrupt("rule_snapshot", e))?,
            id: r.id,
            rule_id: r.rule_id,
            symbol: r.symbol,
            rule_type: r.rule_type,
            window_start: r.window_start,
            window_end: r.window_end,
            price: r.price,
            feed_ts: r.feed_ts,
            committed_at: r.committed_at,
            latency_us: r.latency_us,
            event_id: r.event_id,
        })
    }
}

const ALERT_COLUMNS: &str = "id, rule_id, symbol, rule_type, window_start, window_end, price, indicators, \
    rule_snapshot, feed_ts, committed_at, latency_us, event_id";

impl Store {
    /// Fires a rule for one window, in one transaction: stores the alert,
    /// records the firing on the rule (a `once` rule becomes `triggered`
    /// and disabled) and publishes the event `make_event` builds, with its
    /// deliveries. Returns the alert and the event's sequence number.
    ///
    /// `None`, with nothing written, when the rule is missing, not active
    /// or disabled, or when this window already has an alert (another
    /// evaluator fired it first). The rule's row is locked first on
    /// PostgreSQL, so racing evaluators take turns and the later one sees
    /// the earlier one's result; the alert insert does nothing on a
    /// duplicate window instead of failing, so the transaction stays
    /// usable. The event's id is always the alert's `event_id`, whatever
    /// `make_event` set, so the two cannot disagree.
    pub async fn fire_alert(
        &self,
        alert: &NewAlert,
        now: UnixMillis,
        make_event: impl FnOnce(&RuleRecord, &AlertRecord) -> Event,
    ) -> Result<Option<(AlertRecord, i64)>> {
        let mut tx = self.begin().await?;
        let Some(rule) = tx.lock_rule(&alert.rule_id).await? else {
            return Ok(None);
        };
        if !rule.is_live() {
            return Ok(None);
        }
        let record = AlertRecord {
            id: new_id("alr"),
            rule_id: rule.id.clone(),
            symbol: rule.symbol.clone(),
            rule_type: rule.rule_type.clone(),
            window_start: alert.window_start,
            window_end: alert.window_end,
            price: alert.price,
            indicators: alert.indicators.clone(),
            rule_snapshot: rule.snapshot(),
            feed_ts: alert.feed_ts,
            committed_at: now,
            latency_us: now
                .saturating_sub(alert.feed_ts)
                .max(0)
                .saturating_mul(1000),
            event_id: new_id("evt"),
        };
        let mut event = make_event(&rule, &record);
        event.id.clone_from(&record.event_id);
        let inserted = on_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO alerts (id, rule_id, symbol, rule_type, window_start, window_end, price, indicators,
                    rule_snapshot, feed_ts, committed_at, latency_us, event_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (rule_id, window_start, window_end) DO NOTHING",
            )
            .bind(&record.id)
            .bind(&record.rule_id)
            .bind(&record.symbol)
            .bind(&record.rule_type)
            .bind(record.window_start)
            .bind(record.window_end)
            .bind(record.price)
            .bind(serde_json::to_string(&record.indicators).expect("JSON values serialise"))
            .bind(serde_json::to_string(&record.rule_snapshot).expect("JSON values serialise"))
            .bind(record.feed_ts)
            .bind(record.committed_at)
            .bind(record.latency_us)
            .bind(&record.event_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if inserted == 0 {
            // Dropping the transaction rolls it back.
            return Ok(None);
        }
        tx.mark_rule_fired(&rule, alert.feed_ts, now).await?;
        let (seq, _) = tx.publish_event(&event).await?;
        tx.commit().await?;
        Ok(Some((record, seq)))
    }

    pub async fn get_alert(&self, id: &str) -> Result<AlertRecord> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, AlertRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// A page of alerts, newest first (by `committed_at`, then id),
    /// filtered. A cursor that this store did not produce is
    /// `InvalidCursor`.
    pub async fn list_alerts(&self, f: &AlertFilter) -> Result<AlertPage> {
        let cursor = f.cursor.as_deref().map(Cursor::parse).transpose()?;
        let mut w = Where::new("TRUE");
        if f.rule_id.is_some() {
            let p = w.param();
            w.and(&format!("rule_id = ${p}"));
        }
        if f.symbol.is_some() {
            let p = w.param();
            w.and(&format!("symbol = ${p}"));
        }
        if f.from.is_some() {
            let p = w.param();
            w.and(&format!("committed_at >= ${p}"));
        }
        if f.to.is_some() {
            let p = w.param();
            w.and(&format!("committed_at < ${p}"));
        }
        if cursor.is_some() {
            let (at, id) = (w.param(), w.param());
            w.and(&format!("(committed_at, id) < (${at}, ${id})"));
        }
        let limit = w.param();
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts{} ORDER BY committed_at DESC, id DESC LIMIT ${limit}",
            w.as_str()
        );
        let rows = on_backend!(self, pool => {
            // Bound in the order the conditions were added above.
            let mut q = sqlx::query_as::<_, AlertRow>(sqlx::AssertSqlSafe(sql));
            if let Some(v) = &f.rule_id {
                q = q.bind(v);
            }
            if let Some(v) = &f.symbol {
                q = q.bind(v);
            }
            if let Some(v) = f.from {
                q = q.bind(v);
            }
            if let Some(v) = f.to {
                q = q.bind(v);
            }
            if let Some(c) = &cursor {
                q = q.bind(c.committed_at).bind(&c.id);
            }
            // One more than asked tells whether there is a next page.
            q.bind(f.limit + 1).fetch_all(pool).await?
        });
        let mut alerts = rows
            .into_iter()
            .map(AlertRecord::try_from)
            .collect::<Result<Vec<_>>>()?;
        let more = alerts.len() as i64 > f.limit;
        alerts.truncate(usize::try_from(f.limit).unwrap_or(0));
        let next = if more {
            alerts.last().map(Cursor::of)
        } else {
            None
        };
        Ok(AlertPage { alerts, next })
    }

    /// Deletes up to `batch` alerts committed before `before`. Returns how
    /// many were deleted; call again until 0 so no single statement holds
    /// locks for long.
    pub async fn prune_alerts(&self, before: UnixMillis, batch: i64) -> Result<u64> {
        Ok(on_write!(self, pool => {
            sqlx::query(
                "DELETE FROM alerts WHERE id IN (
                    SELECT id FROM alerts WHERE committed_at < $1 ORDER BY committed_at LIMIT $2)",
            )
            .bind(before)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}
