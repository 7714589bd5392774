//! Time as stored and exchanged by tradehook.
//!
//! Storage keeps instants as integer Unix milliseconds: the same type on
//! SQLite and PostgreSQL, cheap to compare and index. Reads of the wall
//! clock go through [`Clock`] so that logic depending on time can be
//! tested with a fixed clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub type UnixMillis = i64;

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> UnixMillis;
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMillis {
        now_ms()
    }
}

/// The current wall-clock time in Unix milliseconds.
pub fn now_ms() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
