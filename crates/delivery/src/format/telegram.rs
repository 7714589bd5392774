//! Telegram `sendMessage` bodies in MarkdownV2: a bold title, an optional
//! sentence, `*Name:* value` lines and an italic line naming the event.
//!
//! Telegram refuses the whole message on one unescaped special character
//! ("can't parse entities"), so all dynamic text goes through
//! [`escape_markdown_v2`], and cuts fall between escaped characters so no
//! backslash is left dangling. Lengths are counted in UTF-16 code units,
//! Telegram's own unit, which also keeps the text within 4096 characters.

use serde_json::{Value, json};
use tradehook_core::event::Event;

use super::text::{ELLIPSIS, escape_truncated, fit, utc_ms, utf16_len};
use super::{description, event_ref, summary_fields, title};

/// The most text `sendMessage` accepts.
pub const TEXT_MAX: usize = 4096;

const TITLE_MAX: usize = 256;
const FIELD_NAME_MAX: usize = 100;
const FIELD_VALUE_MAX: usize = 1024;
const FOOTER_MAX: usize = 256;
/// However many fields there are, the description keeps at least this
/// much (a rejection reason matters more than the tenth field).
const DESCRIPTION_FLOOR: usize = 1500;
/// Blank lines between title, description, fields and footer.
const SEPARATORS: usize = 3 * 2;

/// Characters MarkdownV2 treats as markup outside code entities.
const SPECIAL: &[char] = &[
    '_', '*', '[', ']', '(', ')', '~', '`', '>', '#', '+', '-', '=', '|', '{', '}', '.', '!', '\\',
];

/// Escapes every MarkdownV2 special character (and the backslash) with a
/// backslash, so the text shows exactly as given.
pub fn escape_markdown_v2(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        escape_char(c, &mut out);
    }
    out
}

fn escape_char(c: char, out: &mut String) {
    if SPECIAL.contains(&c) {
        out.push('\\');
    }
    out.push(c);
}

/// Escaped text measuring at most `max` UTF-16 units.
fn md(s: &str, max: usize) -> String {
    escape_truncated(s, max, escape_char, utf16_len)
}

/// `chat_id` as Telegram expects it: a number for numeric ids (including
/// negative group ids), otherwise the string, e.g. `@channel`.
pub fn chat_id_value(chat_id: &str) -> Value {
    let trimmed = chat_id.trim();
    match trimmed.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(trimmed),
    }
}

/// The body for `POST https://api.telegram.org/bot<token>/sendMessage`.
pub fn message(event: &Event, chat_id: &str) -> Value {
    json!({
        "chat_id": chat_id_value(chat_id),
        "text": text(event),
        "parse_mode": "MarkdownV2",
        "link_preview_options": { "is_disabled": true },
    })
}

/// The MarkdownV2 text, at most [`TEXT_MAX`] UTF-16 units.
pub fn text(event: &Event) -> String {
    let title = format!("*{}*", md(&title(event), TITLE_MAX));
    let mut footer = event_ref(event);
    if let Some(t) = utc_ms(event.timestamp_ms) {
        footer = if footer.is_empty() {
            t
        } else {
            format!("{footer} · {t}")
        };
    }
    let footer = md(&footer, FOOTER_MAX);
    // `__` would open underline, so an empty footer gets no italics.
    let footer = (!footer.is_empty()).then(|| format!("_{footer}_"));

    let budget = TEXT_MAX - utf16_len(&title) - footer.as_deref().map_or(0, utf16_len) - SEPARATORS;

    // Each line costs its length plus the newline before the next.
    let line_len = |l: &String| utf16_len(l) + 1;
    let lines: Vec<String> = summary_fields(event)
        .iter()
        .map(|(name, value)| field_line(name, value))
        .collect();
    let lines_len: usize = lines.iter().map(line_len).sum();

    let description = description(event)
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let room = budget
                .saturating_sub(lines_len)
                .max(DESCRIPTION_FLOOR.min(budget));
            md(&d, room)
        });
    let lines_budget = budget.saturating_sub(description.as_deref().map_or(0, utf16_len));
    let lines = fit(lines, usize::MAX, lines_budget, line_len, |n| {
        format!("{ELLIPSIS} {n} more not shown")
    });

    let mut blocks = vec![title];
    blocks.extend(description);
    if !lines.is_empty() {
        blocks.push(lines.join("\n"));
    }
    blocks.extend(footer);
    blocks.join("\n\n")
}

/// `*Name:* value`, with a multi-line value starting on its own line.
fn field_line(name: &str, value: &str) -> String {
    let name = md(name, FIELD_NAME_MAX);
    let value = md(value, FIELD_VALUE_MAX);
    let gap = if value.contains('\n') { "\n" } else { " " };
    format!("*{name}:*{gap}{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_character_is_escaped() {
        let all = r"_*[]()~`>#+-=|{}.!\";
        assert_eq!(
            escape_markdown_v2(all),
            r"\_\*\[\]\(\)\~\`\>\#\+\-\=\|\{\}\.\!\\"
        );
        assert_eq!(escape_markdown_v2("héllo 🚀 world"), "héllo 🚀 world");
    }

    /// True if every backslash escapes a special character and no special
    /// character is left bare.
    fn is_fully_escaped(s: &str) -> bool {
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some(next) if SPECIAL.contains(&next) => {}
                    _ => return false,
                }
            } else if SPECIAL.contains(&c) {
                return false;
            }
        }
        true
    }

    #[test]
    fn truncation_never_leaves_a_lone_backslash() {
        let s = r"a\b.c_d*e\\f!!..--é🚀\\\\".repeat(20);
        for max in 0..120 {
            let cut = md(&s, max);
            assert!(utf16_len(&cut) <= max, "{max}: {cut}");
            let body = cut.strip_suffix(ELLIPSIS).unwrap_or(&cut);
            assert!(is_fully_escaped(body), "{max}: {cut}");
            assert!(
                !body.ends_with('\\') || body.ends_with(r"\\"),
                "{max}: {cut}"
            );
        }
    }

    #[test]
    fn numeric_chat_ids_are_numbers_and_channel_names_are_strings() {
        assert_eq!(chat_id_value("-1001234567890"), json!(-1001234567890_i64));
        assert_eq!(chat_id_value("42"), json!(42));
        assert_eq!(
            chat_id_value("@tradehook_alerts"),
            json!("@tradehook_alerts")
        );
    }
}
