//! Discord webhook bodies: one embed per event.
//!
//! Discord rejects a whole message (400, code 50035) when any embed limit
//! is broken, so every piece is cut to its limit and the embed as a whole
//! to the 6000-character total. Mentions are switched off: event text
//! comes from users and must never ping `@everyone`.

use serde_json::{Value, json};
use tradehook_core::event::{Event, rfc3339_ms};

use super::text::{chars_len, fit};
use super::{Tone, description, event_ref, summary_fields, title, tone, truncate_chars};

pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
/// Title, description, field names and values, footer and author summed.
pub const TOTAL_MAX: usize = 6000;

/// However many fields there are, the description keeps at least this
/// much of its text (a rejection reason matters more than the tenth field).
const DESCRIPTION_FLOOR: usize = 1500;

/// Values up to this long sit side by side; longer ones get a full row.
const INLINE_MAX: usize = 40;

/// Discord's own palette, so embeds look at home in the client.
pub fn color(tone: Tone) -> u32 {
    match tone {
        Tone::Positive => 0x57F287,
        Tone::Negative => 0xED4245,
        Tone::Warning => 0xF0B232,
        Tone::Info => 0x5865F2,
    }
}

/// The body for `POST /api/webhooks/{id}/{token}`.
pub fn message(event: &Event) -> Value {
    json!({
        "embeds": [embed(event)],
        "allowed_mentions": { "parse": [] },
    })
}

fn embed(event: &Event) -> Value {
    let title = truncate_chars(&title(event), TITLE_MAX);
    let footer = truncate_chars(&format!("tradehook · {}", event_ref(event)), FOOTER_MAX);
    let budget = TOTAL_MAX.saturating_sub(chars_len(&title) + chars_len(&footer));

    let fields: Vec<(String, String)> = summary_fields(event)
        .into_iter()
        .map(|(name, value)| {
            (
                non_empty(truncate_chars(&name, FIELD_NAME_MAX)),
                non_empty(truncate_chars(&value, FIELD_VALUE_MAX)),
            )
        })
        .collect();
    let fields_len: usize = fields.iter().map(field_len).sum();

    let description = description(event).map(|d| {
        let room = budget
            .saturating_sub(fields_len)
            .max(DESCRIPTION_FLOOR.min(budget));
        truncate_chars(&d, room.min(DESCRIPTION_MAX))
    });
    let description = description.filter(|d| !d.trim().is_empty());
    let fields_budget = budget.saturating_sub(description.as_deref().map_or(0, chars_len));
    let fields = fit(fields, FIELDS_MAX, fields_budget, field_len, |n| {
        ("…".to_owned(), format!("{n} more not shown"))
    });

    let mut embed = json!({
        "title": title,
        "color": color(tone(event)),
        "fields": fields.iter().map(|(name, value)| json!({
            "name": name,
            "value": value,
            "inline": !value.contains('\n') && chars_len(value) <= INLINE_MAX,
        })).collect::<Vec<_>>(),
        "footer": { "text": footer },
    });
    if let Some(d) = description {
        embed["description"] = Value::String(d);
    }
    // An out-of-range time formats as "", which Discord would reject.
    let timestamp = rfc3339_ms(event.timestamp_ms);
    if !timestamp.is_empty() {
        embed["timestamp"] = Value::String(timestamp);
    }
    embed
}

fn field_len((name, value): &(String, String)) -> usize {
    chars_len(name) + chars_len(value)
}

/// Discord refuses empty (or blank) field names and values.
fn non_empty(s: String) -> String {
    if s.trim().is_empty() {
        "—".to_owned()
    } else {
        s
    }
}
