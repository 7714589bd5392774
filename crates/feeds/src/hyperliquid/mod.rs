//! Hyperliquid: frame parsing, the REST client, and the WebSocket feed.

pub mod feed;
pub mod frame;
pub mod poll;
pub mod rest;
