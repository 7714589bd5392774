//! Hyperliquid: frame parsing, and (in submodules) the WebSocket and REST
//! clients.

pub mod frame;
