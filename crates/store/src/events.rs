//! The events outbox.
//!
//! Publishing an event inserts it and one delivery per matching enabled
//! endpoint in the same transaction, so a committed event is always
//! delivered: there is no window where the event exists without its
//! deliveries (the failure svix-server has by queueing after commit).

use tradehook_core::event::Event;
use tradehook_core::ids::new_id;
use tradehook_core::time::UnixMillis;
use tradehook_core::webhook::pattern::EventPattern;

use crate::tx::on_tx;
use crate::{Result, Store, StoreError, Tx, on_backend, on_write};

/// An event with its position in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: Event,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    id: String,
    event_type: String,
    created_at: i64,
    data: String,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self> {
        Ok(StoredEvent {
            seq: r.seq,
            event: Event {
                id: r.id,
                event_type: r.event_type,
                timestamp_ms: r.created_at,
                data: serde_json::from_str(&r.data)
                    .map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?,
            },
        })
    }
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Exact event types; empty = all.
    pub types: Vec<String>,
    pub from: Option<UnixMillis>,
    pub to: Option<UnixMillis>,
    /// Only events with `seq` greater than this (the cursor).
    pub after_seq: Option<i64>,
    pub limit: i64,
}

/// An enabled endpoint's subscription, as [`Tx::publish_event`] matches it.
#[derive(sqlx::FromRow)]
pub(crate) struct Subscriber {
    pub(crate) id: String,
    event_types: String,
    filter_symbols: Option<String>,
    filter_rule_ids: Option<String>,
    filter_bot_ids: Option<String>,
}

impl Subscriber {
    pub(crate) fn wants(&self, event: &Event) -> bool {
        let patterns: Vec<String> = serde_json::from_str(&self.event_types).unwrap_or_default();
        let type_ok = patterns
            .iter()
            .filter_map(|p| EventPattern::parse(p).ok())
            .any(|p| p.matches(&event.event_type));
        type_ok
            && filter_ok(&self.filter_symbols, event.data_str("symbol"))
            && filter_ok(&self.filter_rule_ids, event.data_str("rule_id"))
            && filter_ok(&self.filter_bot_ids, event.data_str("bot_id"))
    }
}

/// A filter list passes an event whose field is in it; an event without
/// the field does not pass a set filter.
fn filter_ok(filter: &Option<String>, value: Option<&str>) -> bool {
    let Some(filter) = filter else { return true };
    let allowed: Vec<String> = serde_json::from_str(filter).unwrap_or_default();
    value.is_some_and(|v| allowed.iter().any(|a| a.eq_ignore_ascii_case(v)))
}

impl Tx {
    /// Inserts the event and a due delivery for each matching enabled
    /// endpoint. Returns the event's sequence number and the number of
    /// deliveries created.
    pub async fn publish_event(&mut self, event: &Event) -> Result<(i64, usize)> {
        if let Some(kept) = self.subscribers.take() {
            let out = self.publish_event_to_subscribers(event, &kept).await;
            self.subscribers = Some(kept);
            return out;
        }
        let subscribers = self.subscribers().await?;
        self.publish_event_to_subscribers(event, &subscribers).await
    }

    /// Reads the enabled endpoints' subscriptions once for the rest of
    /// this transaction, so a transaction publishing many events (a batch
    /// of executed signals) does not read them per event. Only for a
    /// transaction that does not itself change endpoints afterwards.
    pub async fn keep_subscribers(&mut self) -> Result<()> {
        let subscribers = self.subscribers().await?;
        self.subscribers = Some(subscribers);
        Ok(())
    }

    /// The enabled endpoints' subscriptions as this transaction sees them,
    /// for publishing several events with
    /// [`Tx::publish_event_to_subscribers`] (the intake's group commit):
    /// read once per transaction instead of once per event.
    pub(crate) async fn subscribers(&mut self) -> Result<Vec<Subscriber>> {
        Ok(on_tx!(self, conn => {
            sqlx::query_as(SUBSCRIBERS_SQL).fetch_all(&mut *conn).await?
        }))
    }

    /// [`Tx::publish_event`] with the subscriptions already read in this
    /// transaction by [`Tx::subscribers`] (nothing else in the
    /// transaction may change endpoints in between).
    pub(crate) async fn publish_event_to_subscribers(
        &mut self,
        event: &Event,
        subscribers: &[Subscriber],
    ) -> Result<(i64, usize)> {
        let data = serde_json::to_string(&event.data).expect("JSON values serialise");
        let seq: i64 = on_tx!(self, conn => {
            sqlx::query_scalar(
                "INSERT INTO events (id, event_type, created_at, data) VALUES ($1, $2, $3, $4) RETURNING seq",
            )
            .bind(&event.id)
            .bind(&event.event_type)
            .bind(event.timestamp_ms)
            .bind(&data)
            .fetch_one(&mut *conn)
            .await?
        });
        let targets: Vec<&str> = subscribers
            .iter()
            .filter(|s| s.wants(event))
            .map(|s| s.id.as_str())
            .collect();
        self.insert_deliveries(&event.id, &targets, event.timestamp_ms)
            .await?;
        Ok((seq, targets.len()))
    }

    /// Inserts due deliveries of one event to the given endpoints.
    pub async fn insert_deliveries(
        &mut self,
        event_id: &str,
        endpoint_ids: &[&str],
        now: UnixMillis,
    ) -> Result<()> {
        for endpoint_id in endpoint_ids {
            on_tx!(self, conn => {
                sqlx::query(
                    "INSERT INTO deliveries (id, event_id, endpoint_id, status, next_attempt_at, created_at, updated_at)
                     VALUES ($1, $2, $3, 'pending', $4, $4, $4)",
                )
                .bind(new_id("dlv"))
                .bind(event_id)
                .bind(endpoint_id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            });
        }
        Ok(())
    }
}

pub(crate) const SUBSCRIBERS_SQL: &str =
    "SELECT id, event_types, filter_symbols, filter_rule_ids, filter_bot_ids
     FROM endpoints WHERE enabled";

const EVENT_COLUMNS: &str = "seq, id, event_type, created_at, data";

impl Store {
    /// Publishes one event in its own transaction. See [`Tx::publish_event`].
    pub async fn publish_event(&self, event: &Event) -> Result<(i64, usize)> {
        let mut tx = self.begin().await?;
        let out = tx.publish_event(event).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Events in stream order, filtered.
    pub async fn list_events(&self, f: &EventFilter) -> Result<Vec<StoredEvent>> {
        // The type list is passed as JSON text and expanded by each
        // backend's JSON functions, so the statement text stays fixed.
        let types = serde_json::to_string(&f.types).expect("strings serialise");
        let type_clause = match self.kind() {
            crate::BackendKind::Sqlite => "event_type IN (SELECT value FROM json_each($1))",
            crate::BackendKind::Postgres => {
                "event_type IN (SELECT jsonb_array_elements_text($1::jsonb))"
            }
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE ($2 = 0 OR {type_clause})
               AND ($3 IS NULL OR created_at >= $3) AND ($4 IS NULL OR created_at < $4)
               AND ($5 IS NULL OR seq > $5)
             ORDER BY seq LIMIT $6"
        );
        let rows = on_backend!(self, pool => {
            sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql))
                .bind(&types)
                .bind(f.types.len() as i64)
                .bind(f.from)
                .bind(f.to)
                .bind(f.after_seq)
                .bind(f.limit)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(StoredEvent::try_from).collect()
    }

    pub async fn get_event(&self, id: &str) -> Result<StoredEvent> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// The sequence number of the event with this id (for `Last-Event-ID`).
    pub async fn event_seq(&self, id: &str) -> Result<Option<i64>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar("SELECT seq FROM events WHERE id = $1").bind(id).fetch_optional(pool).await?
        }))
    }

    /// The newest sequence number, 0 when there are no events.
    pub async fn last_event_seq(&self) -> Result<i64> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM events").fetch_one(pool).await?.unwrap_or(0)
        }))
    }

    /// Deletes up to `batch` events older than `before` (their deliveries
    /// and attempts go by cascade). Returns how many were deleted; call
    /// again until 0 so no single statement holds locks for long.
    pub async fn prune_events(&self, before: UnixMillis, batch: i64) -> Result<u64> {
        Ok(on_write!(self, pool => {
            sqlx::query(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE created_at < $1 ORDER BY seq LIMIT $2)",
            )
            .bind(before)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}

impl Store {
    /// Publishes an event to the given endpoints only (a test send),
    /// whatever their subscriptions. Returns the event's sequence number.
    pub async fn publish_event_to(&self, event: &Event, endpoint_ids: &[&str]) -> Result<i64> {
        let data = serde_json::to_string(&event.data).expect("JSON values serialise");
        let mut tx = self.begin().await?;
        let seq: i64 = on_tx!(tx, conn => {
            sqlx::query_scalar(
                "INSERT INTO events (id, event_type, created_at, data) VALUES ($1, $2, $3, $4) RETURNING seq",
            )
            .bind(&event.id)
            .bind(&event.event_type)
            .bind(event.timestamp_ms)
            .bind(&data)
            .fetch_one(&mut *conn)
            .await?
        });
        tx.insert_deliveries(&event.id, endpoint_ids, event.timestamp_ms)
            .await?;
        tx.commit().await?;
        Ok(seq)
    }
}
