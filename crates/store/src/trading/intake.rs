//! Intake's writes: [`Store::accept_signal`] and its group commit.
//!
//! Intake is one transaction: claim the dedupe key, store the signal,
//! queue its job, publish its event with the event's deliveries. Once the
//! webhook is answered, the signal can neither be lost nor executed twice;
//! a crash before commit leaves nothing, and the sender's retry is then
//! not a duplicate. The intakes that arrive together share that
//! transaction (a group commit, [`IntakeQueue`]), each answered only once
//! it has committed.
//!
//! The dedupe key is claimed with an upsert that takes over the
//! `(bot, key)` row only if it has expired. On PostgreSQL a second copy
//! racing the first (another replica's batch) waits on the first's row
//! lock, then finds an unexpired row and claims nothing; under SQLite's
//! single writer the copies simply take turns. So of two identical signals
//! exactly one is accepted, without a read before the write.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};
use tradehook_core::event::Event;
use tradehook_core::ids::new_id;

use super::json_text;
use super::signals::{NewSignal, SignalOutcome, SignalRecord, SignalStatus};
use crate::events::{SUBSCRIBERS_SQL, Subscriber};
use crate::tx::on_tx;
use crate::{BackendKind, Result, Store, StoreError, Tx};

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
///    once: copies within a batch are answered by the caller).
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

/// The PostgreSQL group commit's write: the whole batch in one statement
/// over `$1`, the batch as a JSON array (`$2` the deliveries), its data-
/// modifying parts seeing each other through their `RETURNING` lists:
/// the claims (in key order, so two replicas' batches lock keys in the
/// same order and cannot deadlock), the signals whose claim was taken,
/// their jobs, their events and the events' deliveries. Foreign keys are
/// checked at the end of the statement. Returns each stored signal's id
/// with its event's `seq`. A batch holds each key at most once (copies
/// within a batch are answered by the caller).
const BATCH_WRITE_POSTGRES: &str = "WITH input AS (
        SELECT * FROM json_to_recordset($1::json) AS t(id text, bot_id text, key text,
            expires_at bigint, received_at bigint, format text, symbol text, action text,
            status text, reason text, body text, parsed text, job_id text, event_id text,
            event_type text, event_at bigint, event_data text, ord bigint)
     ), claim AS (
        INSERT INTO signal_dedupe (bot_id, dedupe_key, signal_id, expires_at)
        SELECT bot_id, key, id, expires_at FROM input ORDER BY bot_id, key
        ON CONFLICT (bot_id, dedupe_key) DO UPDATE SET signal_id = excluded.signal_id, expires_at = excluded.expires_at
        WHERE signal_dedupe.expires_at <= (SELECT i.received_at FROM input AS i WHERE i.id = excluded.signal_id)
        RETURNING signal_id
     ), sig AS (
        INSERT INTO signals (id, bot_id, received_at, format, symbol, action, status, reason,
            dedupe_key, body, parsed, created_at, updated_at)
        SELECT id, bot_id, received_at, format, symbol, action, status, reason, key, body, parsed,
            received_at, received_at
        FROM input WHERE id IN (SELECT signal_id FROM claim) ORDER BY ord
        RETURNING id
     ), job AS (
        INSERT INTO jobs (id, signal_id, bot_id, kind, status, next_attempt_at, created_at, updated_at)
        SELECT job_id, id, bot_id, 'execute', 'pending', received_at, received_at, received_at
        FROM input WHERE job_id IS NOT NULL AND id IN (SELECT id FROM sig) ORDER BY ord
     ), ev AS (
        INSERT INTO events (id, event_type, created_at, data)
        SELECT event_id, event_type, event_at, event_data
        FROM input WHERE id IN (SELECT id FROM sig) ORDER BY ord
        RETURNING id, seq
     ), dlv AS (
        INSERT INTO deliveries (id, event_id, endpoint_id, status, next_attempt_at, created_at, updated_at)
        SELECT d.id, d.event_id, d.endpoint_id, 'pending', d.at, d.at, d.at
        FROM json_to_recordset($2::json) AS d(id text, event_id text, endpoint_id text, at bigint)
        WHERE d.event_id IN (SELECT id FROM ev)
     )
     SELECT i.id, ev.seq FROM input AS i JOIN ev ON ev.id = i.event_id";

/// The holders of keys, read after a PostgreSQL batch (a new statement,
/// so it sees claims that other transactions committed while the batch
/// waited for their locks).
const HOLDERS_POSTGRES: &str = "SELECT k.bot_id, k.key, d.signal_id
     FROM json_to_recordset($1::json) AS k(bot_id text, key text)
     JOIN signal_dedupe AS d ON d.bot_id = k.bot_id AND d.dedupe_key = k.key";

/// The most intakes one transaction takes ([`IntakeQueue`]).
const MAX_BATCH: usize = 256;

/// Intakes waiting for a writer; a full queue makes callers wait.
const QUEUE_DEPTH: usize = 4096;

/// Writer tasks per store: SQLite has one writer anyway; on PostgreSQL a
/// few batches in flight overlap one's commit (its WAL flush) with the
/// next one's statement, and the server flushes concurrent commits
/// together.
const WRITERS_SQLITE: usize = 1;
const WRITERS_POSTGRES: usize = 3;

/// The group commit for [`Store::accept_signal`].
///
/// A transaction per intake costs a commit per signal: on SQLite the
/// commits queue for its one writer, on PostgreSQL each waits for its WAL
/// flush. Instead writer tasks take every intake that is waiting, in
/// arrival order, and write the batch in one transaction with a fixed
/// number of statements, answering each caller only after that
/// transaction has committed: an acknowledged signal is as durable as
/// before, and one that was not committed was not acknowledged.
/// Deduplication stays exact: copies within one batch are resolved before
/// writing (the first is written, the others are its duplicates), and
/// claims against other transactions are the same upsert as one intake's.
/// If a batch fails, it is rolled back and its signals are retried one
/// transaction each, so one bad signal cannot fail the others.
///
/// The writers start with the first intake and end when the last clone of
/// the store is dropped.
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
    /// transaction has committed (shared with other intakes waiting at the
    /// same time; see [`IntakeQueue`]).
    ///
    /// A key already claimed by a signal whose claim has not expired
    /// (`expires_at` after this signal's `received_at`) makes this one a
    /// [`SignalOutcome::Duplicate`], and nothing is written. An expired
    /// claim is taken over, so the same key is accepted again after the
    /// window. Expired claims are removed by [`Store::prune_signal_dedupe`].
    ///
    /// Built for the intake path: no read before writing, and a fixed
    /// number of statements per batch.
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
        self.accept_grouped(intake).await
    }

    /// Queues `intake` for a writer and waits for its commit.
    async fn accept_grouped(&self, intake: Intake) -> Result<SignalOutcome> {
        let sender = self.intake.queue.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
            let rx = Arc::new(Mutex::new(rx));
            let writers = match self.kind() {
                BackendKind::Sqlite => WRITERS_SQLITE,
                BackendKind::Postgres => WRITERS_POSTGRES,
            };
            for _ in 0..writers {
                // A writer's store has a queue of its own, never used, so
                // the task does not keep this one's sender alive.
                let writer = Store {
                    backend: self.backend.clone(),
                    gate: self.gate.clone(),
                    intake: Default::default(),
                };
                tokio::spawn(writer.intake_writer(rx.clone()));
            }
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

    async fn intake_writer(self, rx: Arc<Mutex<mpsc::Receiver<Pending>>>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // The receiver is held only while waiting; the batch is written
        // while another writer waits for the next one.
        while rx.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
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

    /// Writes a batch of intakes in one transaction, in arrival order, with
    /// a fixed number of statements whatever the batch's size. A key that
    /// appears more than once is written for its first intake; the others
    /// are that one's duplicates.
    async fn write_batch(&self, pending: &[Pending]) -> Result<Vec<SignalOutcome>> {
        let all: Vec<&Intake> = pending.iter().map(|p| &p.intake).collect();
        let mut first: HashMap<(&str, &str), usize> = HashMap::new();
        // For each intake, the index of the first intake with its key.
        let firsts: Vec<usize> = all
            .iter()
            .enumerate()
            .map(|(n, i)| {
                *first
                    .entry((i.signal.bot_id.as_str(), i.signal.dedupe_key.as_str()))
                    .or_insert(n)
            })
            .collect();
        let unique: Vec<&Intake> = all
            .iter()
            .zip(&firsts)
            .enumerate()
            .filter(|(n, (_, f))| n == *f)
            .map(|(_, (i, _))| *i)
            .collect();
        let written = match self.kind() {
            BackendKind::Sqlite => self.write_unique_sqlite(&unique).await?,
            BackendKind::Postgres => self.write_unique_postgres(&unique).await?,
        };
        let mut by_index: HashMap<usize, SignalOutcome> = HashMap::new();
        let mut written = written.into_iter();
        for (n, f) in firsts.iter().enumerate() {
            if n == *f {
                by_index.insert(n, written.next().expect("one outcome per unique intake"));
            }
        }
        Ok(firsts
            .iter()
            .enumerate()
            .map(|(n, f)| {
                if n == *f {
                    return by_index[&n].clone();
                }
                SignalOutcome::Duplicate {
                    original_signal_id: match &by_index[f] {
                        SignalOutcome::Accepted { signal, .. }
                        | SignalOutcome::Rejected { signal, .. } => signal.id.clone(),
                        SignalOutcome::Duplicate { original_signal_id } => {
                            original_signal_id.clone()
                        }
                    },
                }
            })
            .collect())
    }

    /// The batch (keys unique) and its deliveries as the JSON arrays the
    /// batch statements read.
    fn batch_json(intakes: &[&Intake], subscribers: &[Subscriber]) -> (String, String) {
        let signals = json_array(intakes.iter().enumerate().map(|(n, i)| {
            let (s, e) = (&i.signal, &i.event);
            json!({
                "ord": n,
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
        (signals, deliveries)
    }

    /// [`BATCH_WRITE`]: one round trip to the connection's thread whatever
    /// the batch's size (each statement sent is one).
    async fn write_unique_sqlite(&self, intakes: &[&Intake]) -> Result<Vec<SignalOutcome>> {
        let mut tx = self.begin().await?;
        let crate::tx::TxInner::Sqlite(t) = &mut tx.inner else {
            unreachable!("a SQLite store's transaction");
        };
        let conn = &mut **t;
        let subscribers: Vec<Subscriber> = sqlx::query_as(SUBSCRIBERS_SQL)
            .fetch_all(&mut *conn)
            .await?;
        let (signals, deliveries) = Self::batch_json(intakes, &subscribers);
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

    /// [`BATCH_WRITE_POSTGRES`], then the holders of the keys it could not
    /// claim ([`HOLDERS_POSTGRES`]): four round trips and one WAL flush
    /// whatever the batch's size.
    async fn write_unique_postgres(&self, intakes: &[&Intake]) -> Result<Vec<SignalOutcome>> {
        let mut tx = self.begin().await?;
        let crate::tx::TxInner::Postgres(t) = &mut tx.inner else {
            unreachable!("a PostgreSQL store's transaction");
        };
        let conn = &mut **t;
        let subscribers: Vec<Subscriber> = sqlx::query_as(SUBSCRIBERS_SQL)
            .fetch_all(&mut *conn)
            .await?;
        let (signals, deliveries) = Self::batch_json(intakes, &subscribers);
        let stored: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(BATCH_WRITE_POSTGRES)
            .bind(&signals)
            .bind(&deliveries)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        let mut holders: HashMap<(String, String), String> = HashMap::new();
        if stored.len() < intakes.len() {
            let keys = json_array(
                intakes
                    .iter()
                    .filter(|i| !stored.contains_key(&i.record.id))
                    .map(|i| json!({"bot_id": i.signal.bot_id, "key": i.signal.dedupe_key})),
            );
            holders = sqlx::query_as::<_, (String, String, String)>(HOLDERS_POSTGRES)
                .bind(&keys)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(bot, key, holder)| ((bot, key), holder))
                .collect();
        }
        tx.commit().await?;
        Ok(intakes
            .iter()
            .map(|i| match stored.get(&i.record.id) {
                Some(seq) => i.outcome(*seq),
                None => SignalOutcome::Duplicate {
                    original_signal_id: holders
                        .remove(&(i.signal.bot_id.clone(), i.signal.dedupe_key.clone()))
                        .unwrap_or_default(),
                },
            })
            .collect())
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
}
