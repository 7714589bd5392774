//! HTTP routes. Each module documents its routes for OpenAPI.

pub mod keys;
pub mod system;
