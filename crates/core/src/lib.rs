//! Domain types and pure logic of tradehook.
//!
//! This crate holds what can be decided without touching the outside
//! world: parsing and validating values, hashing secrets, computing ids.
//! It must not do IO, spawn tasks or know about SQL or HTTP, so that it
//! stays fast to test and to benchmark.

pub mod apikey;
pub mod crypto;
pub mod event;
pub mod ids;
pub mod indicators;
pub mod signals;
pub mod time;
pub mod webhook;
