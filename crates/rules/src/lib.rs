//! Alert rules (placeholder docs, completed with the engine).

pub mod model;

pub use model::{FieldError, Frequency, Rule, RuleConfig, RuleType};
