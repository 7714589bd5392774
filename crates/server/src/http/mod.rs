//! HTTP plumbing shared by the API: extractors, middleware, metrics.

pub mod auth;
pub mod json;
pub mod metrics;
