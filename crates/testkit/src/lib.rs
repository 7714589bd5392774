//! Fakes of outside services, speaking their real protocols over real
//! sockets, for tests and benchmarks.

pub mod alpaca;
pub mod hyperliquid;
pub mod receiver;
