//! The execution worker: turns accepted signals into orders.
//!
//! The intake stores each accepted signal with an `execute` job; this
//! worker leases due jobs (30 s leases, polled every 50 ms), places the
//! orders at the bot's broker and ends the job together with the signal's
//! status in one transaction.
//!
//! - **Brokers.** `paper` accounts get one in-memory [`PaperBroker`] each,
//!   restored from the stored paper state on first use and saved after
//!   every change; prices come from the market cache. `alpaca` accounts
//!   get an `AlpacaBroker` built per job from the sealed `{key_id,
//!   secret_key}`; their market orders are read back for up to 5 s until
//!   filled (Alpaca answers a POST with `accepted`). Resting Alpaca orders
//!   are not followed afterwards (no `trade_updates` stream yet).
//! - **Exactly once.** Client order ids are derived from the signal (bot,
//!   received time and the signal id's random tail), so a job run again
//!   after a crash finds the order row it wrote (`get_order_by_client_id`)
//!   and the broker is asked for that client order id before anything is
//!   sent again (the paper broker also answers the same order for it).
//! - **Rejections.** Refusals found before any order is placed (an entry
//!   in the direction of an open position, nothing to exit, no market
//!   price to size by, a size that rounds to zero, a paused bot) set the
//!   signal `rejected` and publish `signal.rejected` with the reason. An
//!   order the broker refuses publishes `order.rejected` and rejects the
//!   signal with the broker's reason.
//! - **Retries.** Retryable broker errors and database errors put the job
//!   back after 1 s, 2 s, 4 s, 8 s; after 5 attempts the job fails and
//!   the signal is `failed`.
//! - **Not yet.** `use_limit_orders`, `limit_offset_ticks`, the
//!   TradersPost `quantityType` (a signal's quantity is read as contracts
//!   under `signal_contracts`), trailing stops (placed as plain stops) and
//!   the global SL/TP circuit breaker are not applied here.
//! - **Ticks.** A second task feeds every tick to the loaded paper brokers
//!   so resting limit, stop, SL and TP orders fill; fills and OCO cancels
//!   update the order rows and publish `order.filled` / `order.canceled`.

mod worker;

pub use worker::{Executor, spawn};
pub(crate) use worker::{account_broker, save_paper};
