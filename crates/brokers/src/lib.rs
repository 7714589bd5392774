//! Brokers for tradehook.
pub mod adapter;
pub mod symbol;
pub mod types;
