//! The tradehook service: configuration, the HTTP API with its auth and
//! rate limits, metrics, and the wiring of background workers.
//!
//! `main.rs` only parses the command line; everything it runs lives here
//! so tests can start the real application.

pub mod api;
pub mod app;
pub mod backfill;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod error;
pub mod evaluator;
pub mod execution;
pub mod hooks;
pub mod hooks_ip;
pub mod http;
pub mod indicators_cli;
pub mod market;
pub mod openapi;
pub mod ratelimit;
pub mod risk;
pub mod rules_cli;
pub mod secrets;
pub mod state;
pub mod telemetry;

pub use app::App;
pub use config::Config;
