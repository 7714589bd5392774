//! Slack incoming-webhook bodies in Block Kit: a header, sections of
//! fields, and a context line naming the event.
//!
//! Slack parses `&`, `<` and `>` in mrkdwn (`<!channel>` pings, `<url|x>`
//! links), so dynamic text in mrkdwn is entity-escaped; cuts fall between
//! escaped characters so no entity is split. Plain-text objects are not
//! parsed and are sent as they are.

use serde_json::{Value, json};
use tradehook_core::event::Event;

use super::text::{ELLIPSIS, chars_len, escape_truncated, fit, utc_ms};
use super::{description, event_ref, summary_fields, title, truncate_chars};

pub const HEADER_MAX: usize = 150;
pub const SECTION_TEXT_MAX: usize = 3000;
pub const SECTION_FIELDS_MAX: usize = 10;
pub const FIELD_TEXT_MAX: usize = 2000;
/// Slack accepts up to 40,000 characters of `text` but shows far less in
/// a notification; a short fallback keeps the payload small.
pub const FALLBACK_TEXT_MAX: usize = 3000;

/// Field names are labels; a long one is a data problem, not content.
const FIELD_NAME_MAX: usize = 100;
/// At most this many sections of fields, well inside the 50-block limit.
const FIELD_SECTIONS_MAX: usize = 4;

/// Escapes text for mrkdwn: `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`.
pub fn escape_mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        escape_char(c, &mut out);
    }
    out
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Escaped mrkdwn of at most `max` characters after escaping.
fn mrkdwn(s: &str, max: usize) -> String {
    escape_truncated(s, max, escape_char, chars_len)
}

/// The body for `POST https://hooks.slack.com/services/…`.
pub fn message(event: &Event) -> Value {
    let title = title(event);
    let description = description(event).filter(|d| !d.trim().is_empty());

    let fallback = match &description {
        Some(d) => format!("{title}\n{d}"),
        None => title.clone(),
    };

    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": truncate_chars(&title, HEADER_MAX), "emoji": true },
    })];

    let fields: Vec<String> = summary_fields(event)
        .iter()
        .map(|(name, value)| field_text(name, value))
        .collect();
    let fields = fit(
        fields,
        SECTION_FIELDS_MAX * FIELD_SECTIONS_MAX,
        usize::MAX,
        |_| 1,
        |n| format!("{ELLIPSIS} {n} more not shown"),
    );
    let mut chunks = fields.chunks(SECTION_FIELDS_MAX);

    // The description shares the first section with the first fields;
    // a section needs text, fields or both.
    let first = chunks.next();
    if description.is_some() || first.is_some() {
        let mut section = json!({ "type": "section" });
        if let Some(d) = &description {
            section["text"] = json!({ "type": "mrkdwn", "text": mrkdwn(d, SECTION_TEXT_MAX) });
        }
        if let Some(chunk) = first {
            section["fields"] = fields_json(chunk);
        }
        blocks.push(section);
    }
    for chunk in chunks {
        blocks.push(json!({ "type": "section", "fields": fields_json(chunk) }));
    }

    let mut context = event_ref(event);
    if let Some(t) = utc_ms(event.timestamp_ms) {
        context = format!("{context} · {t}");
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": mrkdwn(&context, SECTION_TEXT_MAX) }],
    }));

    json!({
        "text": mrkdwn(&fallback, FALLBACK_TEXT_MAX),
        "blocks": blocks,
    })
}

/// `*Name*` over the value, escaped and within the field limit.
fn field_text(name: &str, value: &str) -> String {
    let name = mrkdwn(name, FIELD_NAME_MAX);
    // Two asterisks and a newline wrap the name.
    let room = FIELD_TEXT_MAX - chars_len(&name) - 3;
    format!("*{name}*\n{}", mrkdwn(value, room))
}

fn fields_json(chunk: &[String]) -> Value {
    chunk
        .iter()
        .map(|text| json!({ "type": "mrkdwn", "text": text }))
        .collect()
}
