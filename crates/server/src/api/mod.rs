//! HTTP routes. Each module documents its routes for OpenAPI.

pub mod alerts;
pub mod bot_actions;
pub mod bots;
pub mod broker_accounts;
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod keys;
pub mod market;
pub mod price_alerts;
pub mod rules;
pub mod system;
pub mod trading_views;
