//! Outbound delivery: turning events into requests for each channel,
//! sending them through the SSRF-guarded client, and retrying them
//! durably from the outbox.
//!
//! Nothing here decides policy on its own: the retry schedule, outcome
//! classification, signing and the address policy are pure functions in
//! `tradehook_core::webhook`; this crate does the IO around them.

pub mod client;
pub mod dispatcher;
pub mod format;
pub mod outbox;
pub mod sender;
pub mod target;

pub use client::{ClientConfig, SafeClient};
pub use dispatcher::{Dispatcher, DispatcherConfig};
pub use outbox::Outbox;
pub use target::{LogEntry, LogSink, Target, TargetKind};
