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
//!   filled (Alpaca answers a POST with `accepted`).
//! - **Following remote orders.** Every 2 s the open rows of each Alpaca
//!   account (whose job has finished) are compared with Alpaca (one list,
//!   then one read per order no longer open), under an advisory lock per
//!   account: changes are recorded with their events, a filled entry gets
//!   its SL/TP, a filled exit cancels its sibling.
//! - **SL/TP pairs.** Both exits go through
//!   `BrokerAdapter::submit_exit_pair`: two linked orders at the paper
//!   broker, one `oco` order at Alpaca for equities (two sells would hold
//!   the same shares twice). Alpaca crypto takes neither stops nor order
//!   classes, so the take profit rests at Alpaca and the stop's row is
//!   `held`: the follower sends a market order when the feed price
//!   crosses it (within its 2 s period), or cancels it when the position
//!   is gone.
//! - **Broker call log.** Every Alpaca HTTP exchange (secrets removed) and
//!   every paper submit/cancel/close is stored in `broker_calls` for the
//!   bot ([`calls`]).
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
//!   back after 1 s, 2 s, 4 s, 8 s; after 5 attempts the job fails, the
//!   signal is `failed` and `signal.rejected` is published with
//!   `status: failed`.
//! - **Sizing and prices** ([`plan`]): a TradersPost `quantityType` sizes
//!   the entry (fixed, dollar amount, percent of equity or of the
//!   position, risk dollars to the stop), else the bot's `sizing_mode`;
//!   `use_limit_orders` sends entries as limits at the strategy or last
//!   price, `limit_offset_ticks` ticks towards the market; the signal's
//!   `timeInForce`, `cancel`, `stopLoss` and `takeProfit` are honoured;
//!   SL/TP are based on the average fill (`use_avg_fill_for_sl_tp`) or the
//!   alert price. Trailing stops are refused with a reason.
//! - **Risk actions.** Cleanup and the circuit breaker's liquidation go
//!   through [`cancel_orders`] and [`liquidate`], so their orders get
//!   rows, events and the paper account's lock like the worker's own.
//! - **Ticks.** A second task feeds every tick to the loaded paper brokers
//!   so resting limit, stop, SL and TP orders fill; fills and OCO cancels
//!   update the order rows and publish `order.filled` / `order.canceled`.

mod calls;
mod journal;
mod plan;
mod worker;

pub use worker::{Executor, spawn};
pub(crate) use worker::{account_broker, cancel_orders, liquidate};
