//! Turning an [`Event`](tradehook_core::event::Event) into the request
//! body of a chat destination: Discord webhooks, Slack incoming webhooks
//! and Telegram `sendMessage`.
//!
//! The channels share one reading of each event ([`title`],
//! [`description`], [`summary_fields`], [`tone`]) so that they say the
//! same thing; each channel module only lays that out, escapes it and
//! keeps within its platform's limits. A body that breaks a limit is
//! rejected outright (Discord 400 / 50035, Telegram "can't parse
//! entities"), so every limit is enforced here rather than hoped for.
//!
//! Formatting is pure: no IO, no clock, and it must never panic,
//! whatever shape `data` has.

pub mod discord;
pub mod slack;
pub mod telegram;

mod summary;
mod text;

pub use summary::{Tone, description, event_ref, summary_fields, title, tone};
pub use text::{ELLIPSIS, truncate_chars};
