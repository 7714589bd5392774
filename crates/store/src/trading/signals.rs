//! Signals: intake, deduplication and the signal log.
//!
//! Intake is one transaction ([`Store::accept_signal`]): claim the dedupe
//! key, store the signal, queue its job, publish its event with the
//! event's deliveries. Once the webhook is answered, the signal can
//! neither be lost nor executed twice; a crash before commit leaves
//! nothing, and the sender's retry is then not a duplicate. On SQLite the
//! intakes that arrive together share that transaction (a group commit,
//! [`IntakeQueue`]), each answered only once it has committed.
//!
//! The dedupe key is claimed with an upsert that takes over the
//! `(bot, key)` row only if it has expired. On PostgreSQL a second copy
//! racing the first waits on the first's row lock, then finds an unexpired
//! row and claims nothing; under SQLite's single writer the copies simply
//! take turns. So of two identical signals exactly one is accepted,
//! without a read before the write.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tradehook_core::event::Event;
use tradehook_core::ids::new_id;
use tradehook_core::time::{UnixMillis, now_ms};

use super::{Cursor, json_text, parse_json, trim_page};
use crate::events::{SUBSCRIBERS_SQL, Subscriber};
use crate::sql::Where;
use crate::tx::on_tx;
use crate::{BackendKind, Result, Store, StoreError, Tx, on_backend};

/// Where a signal is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalStatus {
    /// Valid and queued for execution.
    Accepted,
    /// Refused at intake (paused bot, symbol not allowed, bad body …).
    Rejected,
    Executing,
    Executed,
    Failed,
}

impl SignalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalStatus::Accepted => "accepted",
            SignalStatus::Rejected => "rejected",
            SignalStatus::Executing => "executing",
            SignalStatus::Executed => "executed",
            SignalStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(SignalStatus::Accepted),
            "rejected" => Some(SignalStatus::Rejected),
            "executing" => Some(SignalStatus::Executing),
            "executed" => Some(SignalStatus::Executed),
            "failed" => Some(SignalStatus::Failed),
            _ => None,
        }
    }
}

/// A stored signal.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    /// `sig_…`.
    pub id: String,
    pub bot_id: String,
    pub received_at: UnixMillis,
    /// How the body was read (`json`, `text`, …).
    pub format: String,
    pub symbol: String,
    pub action: String,
    /// See [`SignalStatus`].
    pub status: String,
    pub reason: Option<String>,
    pub dedupe_key: String,
    /// The raw body, secrets removed by the caller.
    pub body: String,
    /// The body as understood (JSON).
    pub parsed: Value,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// A signal to take in.
#[derive(Debug, Clone)]
pub struct NewSignal {
    pub bot_id: String,
    pub format: String,
    pub symbol: String,
    pub action: String,
    /// An id the sender gave, or one derived from the body.
    pub dedupe_key: String,
    /// Until when another signal with this key is a duplicate:
    /// `i64::MAX` for ids the sender gave explicitly (never reused).
    pub dedupe_expires_at: UnixMillis,
    pub body: String,
    pub parsed: Value,
    /// `Accepted` queues an `execute` job; any other status (intake uses
    /// `Rejected`) is stored without one.
    pub status: SignalStatus,
    pub reason: Option<String>,
    pub received_at: UnixMillis,
}

/// What intake did with a signal.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalOutcome {
    /// Stored, with its `execute` job and its event.
    Accepted {
        signal: SignalRecord,
        job_id: String,
        event_seq: i64,
    },
    /// Stored as refused, with its event and no job.
    Rejected {
        signal: SignalRecord,
        event_seq: i64,
    },
    /// Another signal holds the dedupe key; nothing was written.
    Duplicate { original_signal_id: String },
}

/// Which signals to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub bot_id: Option<String>,
    pub status: Option<SignalStatus>,
    /// `received_at` at or after.
    pub from: Option<UnixMillis>,
    /// `received_at` before.
    pub to: Option<UnixMillis>,
    /// The previous page's `next`.
    pub cursor: Option<String>,
    pub limit: i64,
}

/// One page of signals.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalPage {
    pub signals: Vec<SignalRecord>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SignalRow {
    id: String,
    bot_id: String,
    received_at: i64,
    format: String,
    symbol: String,
    action: String,
    status: String,
    reason: Option<String>,
    dedupe_key: String,
    body: String,
    parsed: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SignalRow> for SignalRecord {
    type Error = StoreError;
    fn try_from(r: SignalRow) -> Result<Self> {
        Ok(SignalRecord {
            parsed: parse_json("signal parsed", &r.parsed)?,
            id: r.id,
            bot_id: r.bot_id,
            received_at: r.received_at,
            format: r.format,
            symbol: r.symbol,
            action: r.action,
            status: r.status,
            reason: r.reason,
            dedupe_key: r.dedupe_key,
            body: r.body,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "id, bot_id, received_at, format, symbol, action, status, reason, dedupe_key, \
    body, parsed, created_at, updated_at";

/// Claims `(bot, key)` for a signal unless an unexpired claim exists.
/// Returns a row only when the claim was taken.
const CLAIM_KEY: &str = "INSERT INTO signal_dedupe (bot_id, dedupe_key, signal_id, expires_at)
     VALUES ($2, $9, $1, $13)
     ON CONFLICT (bot_id, dedupe_key) DO UPDATE SET signal_id = excluded.signal_id, expires_at = excluded.expires_at
     WHERE signal_dedupe.expires_at <= $3
     RETURNING signal_id";

const INSERT_SIGNAL: &str =
    "INSERT INTO signals (id, bot_id, received_at, format, symbol, action, status, reason,
        dedupe_key, body, parsed, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $3, $3)";

/// The job that executes an accepted signal, due at once.
const INSERT_JOB: &str = "INSERT INTO jobs (id, signal_id, bot_id, kind, status, next_attempt_at, created_at, updated_at)
     VALUES ($12, $1, $2, 'execute', 'pending', $3, $3, $3)";

/// All of intake's writes in one PostgreSQL statement (one round trip):
/// the claim, then the signal only if the claim was taken, then the job
/// only if the signal was inserted and is accepted ($14). The job's
/// foreign key is checked at the end of the statement, after the signal.
const INTAKE_POSTGRES: &str = "WITH claim AS (
        INSERT INTO signal_dedupe (bot_id, dedupe_key, signal_id, expires_at)
        VALUES ($2, $9, $1, $13)
        ON CONFLICT (bot_id, dedupe_key) DO UPDATE SET signal_id = excluded.signal_id, expires_at = excluded.expires_at
        WHERE signal_dedupe.expires_at <= $3
        RETURNING signal_id
     ), signal AS (
        INSERT INTO signals (id, bot_id, received_at, format, symbol, action, status, reason,
            dedupe_key, body, parsed, created_at, updated_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $3, $3 FROM claim
        RETURNING id
     ), job AS (
        INSERT INTO jobs (id, signal_id, bot_id, kind, status, next_attempt_at, created_at, updated_at)
        SELECT $12, id, $2, 'execute', 'pending', $3, $3, $3 FROM signal WHERE $14
     )
     SELECT COUNT(*) FROM claim";

/// The SQLite group commit's write ([`IntakeQueue`]): the whole batch in
/// one round trip to the connection's thread, each statement over the
/// batch as a JSON array (`$1`, in arrival order; `$2` the deliveries).
///
/// 1. The claims: the single-signal upsert applied row by row.
/// 2. The signals whose claim was taken, which are those the key's row
///    now names (signal ids are new, and a batch holds each key at most
///    once: a batch that repeats a key is written signal by signal).
/// 3. Their jobs (accepted signals), 4. their events, 5. the events'
///    deliveries.
/// 6. For each signal: the key's holder and, when it was stored, its
///    event's `seq`.
const BATCH_WRITE: &str = "INSERT INTO signal_dedupe (bot_id, dedupe_key, signal_id, expires_at)
     SELECT value->>'bot_id', value->>'key', value->>'id', value->>'expires_at'
     FROM json_each($1) WHERE TRUE ORDER BY key
     ON CONFLICT (bot_id, dedupe_key) DO UPDATE SET signal_id = excluded.signal_id, expires_at = excluded.expires_at
     WHERE signal_dedupe.expires_at <= (
        SELECT j.value->>'received_at' FROM json_each($1) AS j WHERE j.value->>'id' = excluded.signal_id);
INSERT INTO signals (id, bot_id, received_at, format, symbol, action, status, reason,
        dedupe_key, body, parsed, created_at, updated_at)
     SELECT j.value->>'id', j.value->>'bot_id', j.value->>'received_at', j.value->>'format',
        j.value->>'symbol', j.value->>'action', j.value->>'status', j.value->>'reason',
        j.value->>'key', j.value->>'body', j.value->>'parsed', j.value->>'received_at',
        j.value->>'received_at'
     FROM json_each($1) AS j
     WHERE EXISTS (SELECT 1 FROM signal_dedupe AS d WHERE d.bot_id = j.value->>'bot_id'
        AND d.dedupe_key = j.value->>'key' AND d.signal_id = j.value->>'id')
     ORDER BY j.key;
INSERT INTO jobs (id, signal_id, bot_id, kind, status, next_attempt_at, created_at, updated_at)
     SELECT j.value->>'job_id', j.value->>'id', j.value->>'bot_id', 'execute', 'pending',
        j.value->>'received_at', j.value->>'received_at', j.value->>'received_at'
     FROM json_each($1) AS j
     WHERE j.value->>'job_id' IS NOT NULL AND EXISTS (SELECT 1 FROM signals AS s WHERE s.id = j.value->>'id')
     ORDER BY j.key;
INSERT INTO events (id, event_type, created_at, data)
     SELECT j.value->>'event_id', j.value->>'event_type', j.value->>'event_at', j.value->>'event_data'
     FROM json_each($1) AS j
     WHERE EXISTS (SELECT 1 FROM signals AS s WHERE s.id = j.value->>'id')
     ORDER BY j.key;
INSERT INTO deliveries (id, event_id, endpoint_id, status, next_attempt_at, created_at, updated_at)
     SELECT j.value->>'id', j.value->>'event_id', j.value->>'endpoint_id', 'pending',
        j.value->>'at', j.value->>'at', j.value->>'at'
     FROM json_each($2) AS j
     WHERE EXISTS (SELECT 1 FROM events AS e WHERE e.id = j.value->>'event_id')
     ORDER BY j.key;
SELECT j.value->>'id', d.signal_id, e.seq
     FROM json_each($1) AS j
     LEFT JOIN signal_dedupe AS d ON d.bot_id = j.value->>'bot_id' AND d.dedupe_key = j.value->>'key'
     LEFT JOIN events AS e ON e.id = j.value->>'event_id'
     ORDER BY j.key";

fn json_array(rows: impl Iterator<Item = Value>) -> String {
    Value::Array(rows.collect()).to_string()
}

/// Binds intake's parameters, numbered as in the statements above.
macro_rules! bind_intake {
    ($query:expr, $s:expr, $record:expr, $parsed:expr, $job_id:expr) => {
        $query
            .bind(&$record.id)
            .bind(&$s.bot_id)
            .bind($s.received_at)
            .bind(&$s.format)
            .bind(&$s.symbol)
            .bind(&$s.action)
            .bind($s.status.as_str())
            .bind(&$s.reason)
            .bind(&$s.dedupe_key)
            .bind(&$s.body)
            .bind($parsed)
            .bind($job_id)
            .bind($s.dedupe_expires_at)
            .bind($s.status == SignalStatus::Accepted)
    };
}

/// The most intakes one SQLite transaction takes ([`IntakeQueue`]).
const MAX_BATCH: usize = 256;

/// Intakes waiting for the SQLite writer; a full queue makes callers wait.
const QUEUE_DEPTH: usize = 4096;

/// SQLite's group commit for [`Store::accept_signal`].
///
/// SQLite has one writer, and concurrent intakes each taking the write
/// lock (`BEGIN IMMEDIATE`) spend their time in the busy handler's sleeps.
/// Instead one task per store writes every intake that is waiting, in
/// arrival order, in one transaction, and answers each caller only after
/// that transaction has committed: an acknowledged signal is as durable as
/// before, and one that was not committed was not acknowledged.
/// Deduplication is unchanged, since each signal's claim is a statement of
/// its own that sees the claims made before it in the same transaction
/// (two copies in one batch: the second is the duplicate). If a batch
/// fails, it is rolled back and its signals are retried one transaction
/// each, so one bad signal cannot fail the others.
///
/// The task starts with the first intake and ends when the last clone of
/// the store is dropped. PostgreSQL keeps one transaction per intake: its
/// writers run in parallel and it groups their WAL flushes itself.
#[derive(Debug, Default)]
pub(crate) struct IntakeQueue {
    sender: OnceLock<mpsc::Sender<Pending>>,
}

/// One intake, ready to write.
struct Intake {
    signal: NewSignal,
    record: SignalRecord,
    job_id: String,
    event: Event,
}

struct Pending {
    intake: Intake,
    reply: oneshot::Sender<Result<SignalOutcome>>,
}

impl Intake {
    /// Claims the key and writes the signal and its job: `false` when the
    /// key is held (nothing written).
    async fn claim(&self, tx: &mut Tx) -> Result<bool> {
        let (s, record, job_id) = (&self.signal, &self.record, &self.job_id);
        let accepted = s.status == SignalStatus::Accepted;
        let parsed = json_text(&s.parsed);
        Ok(match &mut tx.inner {
            crate::tx::TxInner::Postgres(t) => {
                let n: i64 = bind_intake!(
                    sqlx::query_scalar(INTAKE_POSTGRES),
                    s,
                    record,
                    &parsed,
                    job_id
                )
                .fetch_one(&mut **t)
                .await?;
                n > 0
            }
            crate::tx::TxInner::Sqlite(t) => {
                let conn = &mut **t;
                let claim: Option<String> =
                    bind_intake!(sqlx::query_scalar(CLAIM_KEY), s, record, &parsed, job_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                if claim.is_some() {
                    bind_intake!(sqlx::query(INSERT_SIGNAL), s, record, &parsed, job_id)
                        .execute(&mut *conn)
                        .await?;
                    if accepted {
                        bind_intake!(sqlx::query(INSERT_JOB), s, record, &parsed, job_id)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                claim.is_some()
            }
        })
    }

    /// The signal holding this intake's key, as `tx` sees it.
    async fn holder(&self, tx: &mut Tx) -> Result<SignalOutcome> {
        let s = &self.signal;
        // On PostgreSQL the holder's claim is committed (the claim waited
        // for it), so this read, a new statement, sees it; on SQLite the
        // holder is committed or earlier in the same transaction.
        let original: Option<String> = on_tx!(tx, conn => {
            sqlx::query_scalar("SELECT signal_id FROM signal_dedupe WHERE bot_id = $1 AND dedupe_key = $2")
                .bind(&s.bot_id)
                .bind(&s.dedupe_key)
                .fetch_optional(&mut *conn)
                .await?
        });
        // Only a prune racing this call could remove the claim, and it
        // prunes only expired claims, which this call would have taken
        // over: report the key's holder as unknown rather than retrying.
        Ok(SignalOutcome::Duplicate {
            original_signal_id: original.unwrap_or_default(),
        })
    }

    fn outcome(&self, event_seq: i64) -> SignalOutcome {
        if self.signal.status == SignalStatus::Accepted {
            SignalOutcome::Accepted {
                signal: self.record.clone(),
                job_id: self.job_id.clone(),
                event_seq,
            }
        } else {
            SignalOutcome::Rejected {
                signal: self.record.clone(),
                event_seq,
            }
        }
    }
}

impl Store {
    /// Takes a signal in, in one transaction: claims its dedupe key,
    /// stores it, queues an `execute` job when it is accepted, and
    /// publishes the event `make_event` builds (`signal.received` or
    /// `signal.rejected`) with its deliveries. Returns once that
    /// transaction has committed (on SQLite it is shared with other
    /// intakes waiting at the same time; see [`IntakeQueue`]).
    ///
    /// A key already claimed by a signal whose claim has not expired
    /// (`expires_at` after this signal's `received_at`) makes this one a
    /// [`SignalOutcome::Duplicate`], and nothing is written. An expired
    /// claim is taken over, so the same key is accepted again after the
    /// window. Expired claims are removed by [`Store::prune_signal_dedupe`].
    ///
    /// Built for the intake path: no read before writing, and on
    /// PostgreSQL the claim, signal and job are one statement.
    /// `make_event` is called before the write, also for a duplicate.
    pub async fn accept_signal(
        &self,
        s: &NewSignal,
        make_event: impl FnOnce(&SignalRecord) -> Event,
    ) -> Result<SignalOutcome> {
        let record = SignalRecord {
            id: new_id("sig"),
            bot_id: s.bot_id.clone(),
            received_at: s.received_at,
            format: s.format.clone(),
            symbol: s.symbol.clone(),
            action: s.action.clone(),
            status: s.status.as_str().to_string(),
            reason: s.reason.clone(),
            dedupe_key: s.dedupe_key.clone(),
            body: s.body.clone(),
            parsed: s.parsed.clone(),
            created_at: s.received_at,
            updated_at: s.received_at,
        };
        let event = make_event(&record);
        let intake = Intake {
            signal: s.clone(),
            record,
            job_id: new_id("job"),
            event,
        };
        match self.kind() {
            BackendKind::Sqlite => self.accept_grouped(intake).await,
            BackendKind::Postgres => self.write_one(&intake).await,
        }
    }

    /// Queues `intake` for the SQLite writer and waits for its commit.
    async fn accept_grouped(&self, intake: Intake) -> Result<SignalOutcome> {
        let sender = self.intake.queue.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
            // The writer's store has a queue of its own, never used, so
            // the task does not keep this one's sender alive.
            let writer = Store {
                backend: self.backend.clone(),
                intake: Default::default(),
            };
            tokio::spawn(writer.intake_writer(rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(p)) = sender.send(Pending { intake, reply }).await {
            // The writer is gone (its runtime shut down): write directly.
            return self.write_one(&p.intake).await;
        }
        // No answer: the writer stopped (its runtime shut down) before
        // committing or just after; the sender's retry is deduplicated.
        answer
            .await
            .unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed)))
    }

    async fn intake_writer(self, mut rx: mpsc::Receiver<Pending>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let pending = std::mem::take(&mut batch);
            match self.write_batch(&pending).await {
                Ok(outcomes) => {
                    for (p, outcome) in pending.into_iter().zip(outcomes) {
                        let _ = p.reply.send(Ok(outcome));
                    }
                }
                Err(e) if pending.len() == 1 => {
                    let p = pending.into_iter().next().expect("one");
                    let _ = p.reply.send(Err(e));
                }
                Err(e) => {
                    tracing::warn!(error = %e, size = pending.len(), "intake batch failed; writing its signals one by one");
                    for p in pending {
                        let _ = p.reply.send(self.write_one(&p.intake).await);
                    }
                }
            }
        }
    }

    /// Writes a batch of intakes in one SQLite transaction, in arrival
    /// order: [`BATCH_WRITE`], one round trip whatever the batch's size
    /// (each statement sent is a round trip to the connection's thread).
    /// A batch holding a key twice is written signal by signal instead.
    async fn write_batch(&self, pending: &[Pending]) -> Result<Vec<SignalOutcome>> {
        let intakes: Vec<&Intake> = pending.iter().map(|p| &p.intake).collect();
        let mut keys = HashSet::new();
        if !intakes
            .iter()
            .all(|i| keys.insert((&i.signal.bot_id, &i.signal.dedupe_key)))
        {
            return self.write_batch_in_steps(&intakes).await;
        }
        let mut tx = self.begin().await?;
        let crate::tx::TxInner::Sqlite(t) = &mut tx.inner else {
            unreachable!("only SQLite batches intakes");
        };
        let conn = &mut **t;
        let subscribers: Vec<Subscriber> = sqlx::query_as(SUBSCRIBERS_SQL)
            .fetch_all(&mut *conn)
            .await?;
        let signals = json_array(intakes.iter().map(|i| {
            let (s, e) = (&i.signal, &i.event);
            json!({
                "id": i.record.id,
                "bot_id": s.bot_id,
                "key": s.dedupe_key,
                "expires_at": s.dedupe_expires_at,
                "received_at": s.received_at,
                "format": s.format,
                "symbol": s.symbol,
                "action": s.action,
                "status": s.status.as_str(),
                "reason": s.reason,
                "body": s.body,
                "parsed": json_text(&s.parsed),
                "job_id": (s.status == SignalStatus::Accepted).then_some(&i.job_id),
                "event_id": e.id,
                "event_type": e.event_type,
                "event_at": e.timestamp_ms,
                "event_data": serde_json::to_string(&e.data).expect("JSON values serialise"),
            })
        }));
        let deliveries = json_array(intakes.iter().flat_map(|i| {
            subscribers.iter().filter(|s| s.wants(&i.event)).map(|s| {
                json!({
                    "id": new_id("dlv"),
                    "event_id": i.event.id,
                    "endpoint_id": s.id,
                    "at": i.event.timestamp_ms,
                })
            })
        }));
        let rows: Vec<(String, Option<String>, Option<i64>)> = sqlx::query_as(BATCH_WRITE)
            .bind(&signals)
            .bind(&deliveries)
            .fetch_all(&mut *conn)
            .await?;
        tx.commit().await?;
        let mut found: HashMap<String, (Option<String>, Option<i64>)> = rows
            .into_iter()
            .map(|(id, holder, seq)| (id, (holder, seq)))
            .collect();
        Ok(intakes
            .iter()
            .map(|i| match found.remove(&i.record.id) {
                Some((_, Some(seq))) => i.outcome(seq),
                // See `Intake::holder`: a missing claim is unknown.
                other => SignalOutcome::Duplicate {
                    original_signal_id: other.and_then(|(h, _)| h).unwrap_or_default(),
                },
            })
            .collect())
    }

    /// A batch written one signal after the other in one transaction, so
    /// each signal's claim sees those before it.
    async fn write_batch_in_steps(&self, intakes: &[&Intake]) -> Result<Vec<SignalOutcome>> {
        let mut tx = self.begin().await?;
        let subscribers = tx.subscribers().await?;
        let mut out = Vec::with_capacity(intakes.len());
        for i in intakes {
            out.push(if i.claim(&mut tx).await? {
                let (seq, _) = tx
                    .publish_event_to_subscribers(&i.event, &subscribers)
                    .await?;
                i.outcome(seq)
            } else {
                i.holder(&mut tx).await?
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Writes one intake in a transaction of its own.
    async fn write_one(&self, i: &Intake) -> Result<SignalOutcome> {
        let mut tx = self.begin().await?;
        if !i.claim(&mut tx).await? {
            // Dropping the transaction rolls back, though nothing was
            // written.
            return i.holder(&mut tx).await;
        }
        let (seq, _) = tx.publish_event(&i.event).await?;
        tx.commit().await?;
        Ok(i.outcome(seq))
    }

    pub async fn get_signal(&self, id: &str) -> Result<SignalRecord> {
        let sql = format!("SELECT {COLUMNS} FROM signals WHERE id = $1");
        let row = on_backend!(self, pool => {
            sqlx::query_as::<_, SignalRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// A page of signals, newest first (by `received_at`, then id),
    /// filtered. A cursor this store did not produce is `InvalidCursor`.
    pub async fn list_signals(&self, f: &SignalFilter) -> Result<SignalPage> {
        let cursor = f.cursor.as_deref().map(Cursor::parse).transpose()?;
        let mut w = Where::new("TRUE");
        if f.bot_id.is_some() {
            let p = w.param();
            w.and(&format!("bot_id = ${p}"));
        }
        if f.status.is_some() {
            let p = w.param();
            w.and(&format!("status = ${p}"));
        }
        if f.from.is_some() {
            let p = w.param();
            w.and(&format!("received_at >= ${p}"));
        }
        if f.to.is_some() {
            let p = w.param();
            w.and(&format!("received_at < ${p}"));
        }
        if cursor.is_some() {
            let (at, id) = (w.param(), w.param());
            w.and(&format!("(received_at, id) < (${at}, ${id})"));
        }
        let limit = w.param();
        let sql = format!(
            "SELECT {COLUMNS} FROM signals{} ORDER BY received_at DESC, id DESC LIMIT ${limit}",
            w.as_str()
        );
        let rows = on_backend!(self, pool => {
            // Bound in the order the conditions were added above.
            let mut q = sqlx::query_as::<_, SignalRow>(sqlx::AssertSqlSafe(sql));
            if let Some(v) = &f.bot_id {
                q = q.bind(v);
            }
            if let Some(v) = f.status {
                q = q.bind(v.as_str());
            }
            if let Some(v) = f.from {
                q = q.bind(v);
            }
            if let Some(v) = f.to {
                q = q.bind(v);
            }
            if let Some(c) = &cursor {
                q = q.bind(c.at).bind(&c.id);
            }
            q.bind(f.limit + 1).fetch_all(pool).await?
        });
        let mut signals = rows
            .into_iter()
            .map(SignalRecord::try_from)
            .collect::<Result<Vec<_>>>()?;
        let more = trim_page(&mut signals, f.limit);
        let next = if more {
            signals.last().map(|s| Cursor::format(s.received_at, &s.id))
        } else {
            None
        };
        Ok(SignalPage { signals, next })
    }

    /// Sets a signal's status and reason (`None` clears it), stamping
    /// `updated_at` with the wall clock. `NotFound` if it is missing.
    pub async fn set_signal_status(
        &self,
        id: &str,
        status: SignalStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let done = on_backend!(self, pool => {
            sqlx::query(SET_STATUS).bind(id).bind(status.as_str()).bind(reason).bind(now_ms())
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes up to `batch` dedupe claims that expired at or before
    /// `now`. Returns how many; call again until 0 so no single statement
    /// holds locks for long. Claims that never expire stay.
    pub async fn prune_signal_dedupe(&self, now: UnixMillis, batch: i64) -> Result<u64> {
        Ok(on_backend!(self, pool => {
            sqlx::query(
                "DELETE FROM signal_dedupe WHERE (bot_id, dedupe_key) IN (
                    SELECT bot_id, dedupe_key FROM signal_dedupe WHERE expires_at <= $1
                    ORDER BY expires_at LIMIT $2)",
            )
            .bind(now)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}

const SET_STATUS: &str =
    "UPDATE signals SET status = $2, reason = $3, updated_at = $4 WHERE id = $1";

impl Tx {
    /// [`Store::set_signal_status`] inside a larger write (the job that
    /// executed it completing, the order event published).
    pub async fn set_signal_status(
        &mut self,
        id: &str,
        status: SignalStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let done = on_tx!(self, conn => {
            sqlx::query(SET_STATUS).bind(id).bind(status.as_str()).bind(reason).bind(now_ms())
                .execute(&mut *conn).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
