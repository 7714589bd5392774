//! Trading: TradingView signals turned into broker orders.
//!
//! The store knows nothing of brokers. Decimals (quantities, prices,
//! money) are `String`s the caller parses, so nothing is rounded through
//! a float on the way; JSON is `serde_json::Value`; secrets arrive sealed.
//!
//! The path a signal takes: [`Store::accept_signal`] records it, claims
//! its dedupe key and queues an `execute` job in one transaction; a worker
//! leases the job ([`Store::lease_jobs`]), places orders
//! ([`Store::insert_order`]) while logging every broker call
//! ([`Store::insert_broker_calls`]), and completes the job.

mod accounts;
mod bots;
mod calls;
mod equity;
mod intake;
mod jobs;
mod orders;
mod signals;

pub use accounts::{BrokerAccountPatch, BrokerAccountRecord, NewBrokerAccount};
pub use bots::{BotFilter, BotPatch, BotRecord, NewBot};
pub use calls::{BrokerCallFilter, BrokerCallPage, BrokerCallRecord, NewBrokerCall};
pub use equity::EquitySnapshot;
pub use jobs::{JobRecord, JobStatus};
pub use orders::{
    FINAL_ORDER_STATUSES, NewOrder, OrderFilter, OrderPage, OrderRecord, OrderUpdate,
};

/// The intake's state in this process, shared by a store's clones:
/// SQLite's group commit and the bot-by-token cache.
#[derive(Debug, Default)]
pub(crate) struct IntakeState {
    pub(crate) queue: intake::IntakeQueue,
    pub(crate) bots: bots::BotCache,
}
pub use signals::{NewSignal, SignalFilter, SignalOutcome, SignalPage, SignalRecord, SignalStatus};

use tradehook_core::time::UnixMillis;

use crate::{Result, StoreError};

/// Unique constraints of the trading tables: (PostgreSQL constraint or
/// index name, the `table.column` list SQLite reports, stable id). Kept
/// here rather than in `error.rs` so the trading tables stay in one
/// place; mapped by [`map_err`] on the statements that can hit them.
const CONSTRAINTS: &[(&str, &str, &str)] = &[
    (
        "broker_accounts_name_key",
        "broker_accounts.name",
        "broker_account_name_taken",
    ),
    ("bots_live_name_key", "bots.name", "bot_name_taken"),
    ("bots_token_hash_key", "bots.token_hash", "bot_token_taken"),
    (
        "orders_client_order_id_key",
        "orders.client_order_id",
        "order_client_id_taken",
    ),
];

/// A write of a bot that names a broker account that does not exist.
pub(crate) const ACCOUNT_MISSING: &str = "broker_account_missing";
/// Deleting a broker account that a bot (deleted or not) still names.
pub(crate) const ACCOUNT_IN_USE: &str = "broker_account_in_use";

/// Converts a database error, naming the trading tables' unique
/// constraints; a foreign key violation becomes a conflict named `fk`.
pub(crate) fn map_err(fk: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| {
        if let sqlx::Error::Database(db) = &err {
            // SQLite reports an `ON DELETE RESTRICT` refusal with the
            // trigger constraint code, which sqlx does not classify.
            if db.is_foreign_key_violation() || db.message() == "FOREIGN KEY constraint failed" {
                return StoreError::Conflict {
                    constraint: fk.to_string(),
                };
            }
            if db.is_unique_violation() {
                // SQLite: "UNIQUE constraint failed: bots.name"
                let columns = db.message().strip_prefix("UNIQUE constraint failed: ");
                for (pg, sqlite_columns, id) in CONSTRAINTS {
                    if db.constraint() == Some(*pg)
                        || (db.constraint().is_none() && columns == Some(*sqlite_columns))
                    {
                        return StoreError::Conflict {
                            constraint: (*id).to_string(),
                        };
                    }
                }
            }
        }
        StoreError::from(err)
    }
}

pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON values serialise")
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A position in a time-ordered listing: the last row of a page. Clients
/// see it as an opaque `<time>.<id>` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) at: UnixMillis,
    pub(crate) id: String,
}

impl Cursor {
    pub(crate) fn format(at: UnixMillis, id: &str) -> String {
        format!("{at}.{id}")
    }

    pub(crate) fn parse(text: &str) -> Result<Cursor> {
        let (at, id) = text.split_once('.').ok_or(StoreError::InvalidCursor)?;
        let at = at.parse().map_err(|_| StoreError::InvalidCursor)?;
        if id.is_empty() {
            return Err(StoreError::InvalidCursor);
        }
        Ok(Cursor {
            at,
            id: id.to_string(),
        })
    }
}

/// Fetching one more row than asked tells whether there is a next page;
/// this cuts the extra row off and says whether it was there.
pub(crate) fn trim_page<T>(rows: &mut Vec<T>, limit: i64) -> bool {
    let keep = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > keep;
    rows.truncate(keep);
    more
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let text = Cursor::format(1_700_000_000_000, "sig_01");
        let c = Cursor::parse(&text).unwrap();
        assert_eq!((c.at, c.id.as_str()), (1_700_000_000_000, "sig_01"));
        assert!(Cursor::parse("nope").is_err());
        assert!(Cursor::parse("12.").is_err());
        assert!(Cursor::parse("x.sig_01").is_err());
    }
}
