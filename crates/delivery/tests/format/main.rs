//! Tests of the chat formatters through the public API: a snapshot of
//! every event type on every channel, and the platform limits under
//! hostile payloads.

mod limits;
mod samples;
mod snapshots;
mod summary;
