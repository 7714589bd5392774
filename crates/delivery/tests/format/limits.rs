//! Platform limits and escaping under hostile payloads: very long text,
//! many fields, multibyte characters, markup and mention syntax, and data
//! of the wrong shape. Nothing may panic and no limit may be broken.

use serde_json::{Map, Value, json};
use tradehook_core::event::{EVENT_TYPES, Event};
use tradehook_delivery::format::{discord, slack, telegram};

use super::samples::{event, sample};

/// Markup, mentions, entities and multibyte text in one string.
const NASTY: &str = "é🚀 @everyone <!channel> &amp; <https://x.test|click> *_[]()~`>#+-=|{}.!\\ ";

fn huge(len: usize) -> String {
    NASTY.chars().cycle().take(len).collect()
}

/// Every string in `v` made huge and every list or map made long.
fn inflate(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::String(huge(10_000)),
        Value::Array(items) => {
            let item = items
                .first()
                .map(inflate)
                .unwrap_or(Value::String(huge(500)));
            Value::Array(vec![item; 500])
        }
        Value::Object(map) => {
            let mut out: Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), inflate(v))).collect();
            if map.contains_key("rsi_14") {
                for i in 0..300 {
                    out.insert(format!("{i}{}", huge(300)), json!(i));
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Fields the formatters do not know: 100 of them, with long names.
fn many_fields() -> Value {
    let map: Map<String, Value> = (0..100)
        .map(|i| {
            (
                format!("field_{i:03}_{}", huge(400)),
                Value::String(huge(3_000)),
            )
        })
        .collect();
    Value::Object(map)
}

/// Each sample's keys given a value of the wrong type.
fn wrong_types(data: &Value, replacement: &Value) -> Value {
    match data {
        Value::Object(map) => map
            .keys()
            .map(|k| (k.clone(), replacement.clone()))
            .collect(),
        _ => replacement.clone(),
    }
}

/// Hostile variants of every event type, plus unknown and empty types.
fn hostile_events() -> Vec<Event> {
    let mut types: Vec<String> = EVENT_TYPES.iter().map(|t| t.to_string()).collect();
    types.push("something.new".into());
    types.push(String::new());
    let mut events = Vec::new();
    for t in &types {
        let base = sample(t)
            .map(|e| e.data)
            .unwrap_or_else(|| json!({"note": "hi"}));
        events.push(event(t, inflate(&base)));
        events.push(event(t, many_fields()));
        for weird in [
            json!(null),
            json!("just text"),
            json!(42),
            json!([1, 2]),
            json!({}),
        ] {
            events.push(event(t, weird.clone()));
            events.push(event(t, wrong_types(&base, &weird)));
        }
        events.push(event(
            t,
            wrong_types(&base, &json!({"nested": huge(5_000)})),
        ));
        events.push(event(t, wrong_types(&base, &json!(-1e300))));
    }
    let mut long_ids = event(&huge(10_000), many_fields());
    long_ids.id = huge(10_000);
    long_ids.timestamp_ms = i64::MAX;
    events.push(long_ids);
    events
}

fn chars(v: &Value) -> usize {
    v.as_str().expect("a string").chars().count()
}

#[test]
fn discord_embeds_stay_within_every_limit() {
    for e in hostile_events() {
        let msg = discord::message(&e);
        let ctx = format!("{} {:.80}", e.event_type, e.data.to_string());
        assert_eq!(msg["allowed_mentions"], json!({"parse": []}), "{ctx}");
        let embeds = msg["embeds"].as_array().expect("embeds");
        assert_eq!(embeds.len(), 1, "{ctx}");
        let embed = &embeds[0];

        let title = chars(&embed["title"]);
        assert!(
            (1..=discord::TITLE_MAX).contains(&title),
            "{ctx}: title {title}"
        );
        let description = embed.get("description").map_or(0, chars);
        assert!(
            description <= discord::DESCRIPTION_MAX,
            "{ctx}: description {description}"
        );
        let footer = chars(&embed["footer"]["text"]);
        assert!(footer <= discord::FOOTER_MAX, "{ctx}: footer {footer}");

        let fields = embed["fields"].as_array().expect("fields");
        assert!(
            fields.len() <= discord::FIELDS_MAX,
            "{ctx}: {} fields",
            fields.len()
        );
        let mut total = title + description + footer;
        for f in fields {
            let (name, value) = (chars(&f["name"]), chars(&f["value"]));
            assert!(
                (1..=discord::FIELD_NAME_MAX).contains(&name),
                "{ctx}: name {name}"
            );
            assert!(
                (1..=discord::FIELD_VALUE_MAX).contains(&value),
                "{ctx}: value {value}"
            );
            assert!(
                !f["value"].as_str().unwrap().trim().is_empty(),
                "{ctx}: blank value"
            );
            assert!(f["inline"].is_boolean(), "{ctx}");
            total += name + value;
        }
        assert!(total <= discord::TOTAL_MAX, "{ctx}: total {total}");
        assert!(embed["color"].is_u64(), "{ctx}");
    }
}

#[test]
fn discord_shows_that_fields_were_left_out() {
    let msg = discord::message(&event("something.new", many_fields()));
    let fields = msg["embeds"][0]["fields"].as_array().unwrap();
    let last = fields.last().unwrap();
    assert_eq!(last["name"], "…");
    assert!(
        last["value"].as_str().unwrap().ends_with("more not shown"),
        "{last}"
    );
}

/// Every `&` in `s` starts one of Slack's three entities, and no bare
/// `<` or `>` is left to be read as a mention or a link.
fn is_slack_escaped(s: &str) -> bool {
    !s.contains(['<', '>'])
        && s.match_indices('&').all(|(i, _)| {
            ["&amp;", "&lt;", "&gt;"]
                .iter()
                .any(|e| s[i..].starts_with(e))
        })
}

fn slack_mrkdwn_texts(msg: &Value) -> Vec<(&'static str, &str)> {
    let mut texts = vec![("text", msg["text"].as_str().unwrap())];
    for block in msg["blocks"].as_array().unwrap() {
        if let Some(t) = block["text"]["text"]
            .as_str()
            .filter(|_| block["text"]["type"] == "mrkdwn")
        {
            texts.push(("section", t));
        }
        for f in block["fields"].as_array().into_iter().flatten() {
            texts.push(("field", f["text"].as_str().unwrap()));
        }
        for el in block["elements"].as_array().into_iter().flatten() {
            texts.push(("context", el["text"].as_str().unwrap()));
        }
    }
    texts
}

#[test]
fn slack_blocks_stay_within_every_limit_and_are_escaped() {
    for e in hostile_events() {
        let msg = slack::message(&e);
        let ctx = format!("{} {:.80}", e.event_type, e.data.to_string());
        let blocks = msg["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= 50, "{ctx}");
        assert_eq!(blocks[0]["type"], "header", "{ctx}");
        assert_eq!(blocks[0]["text"]["type"], "plain_text", "{ctx}");
        let header = chars(&blocks[0]["text"]["text"]);
        assert!(
            (1..=slack::HEADER_MAX).contains(&header),
            "{ctx}: header {header}"
        );
        assert_eq!(blocks.last().unwrap()["type"], "context", "{ctx}");

        for block in blocks.iter().filter(|b| b["type"] == "section") {
            let fields = block["fields"].as_array().map_or(0, Vec::len);
            assert!(
                fields <= slack::SECTION_FIELDS_MAX,
                "{ctx}: {fields} fields"
            );
            assert!(
                fields > 0 || block.get("text").is_some(),
                "{ctx}: empty section"
            );
        }
        for (kind, text) in slack_mrkdwn_texts(&msg) {
            let n = text.chars().count();
            let max = match kind {
                "field" => slack::FIELD_TEXT_MAX,
                "text" => slack::FALLBACK_TEXT_MAX,
                _ => slack::SECTION_TEXT_MAX,
            };
            assert!((1..=max).contains(&n), "{ctx}: {kind} {n}");
            assert!(
                is_slack_escaped(text),
                "{ctx}: {kind} not escaped: {text:.200}"
            );
        }
    }
}

#[test]
fn slack_escapes_mentions_links_and_ampersands() {
    let e = event(
        "order.rejected",
        json!({"symbol": "A&B", "reason": "<!channel> see <https://x.test|here> & retry"}),
    );
    let msg = slack::message(&e);
    assert_eq!(
        msg["blocks"][1]["text"]["text"],
        "&lt;!channel&gt; see &lt;https://x.test|here&gt; &amp; retry"
    );
    assert_eq!(msg["blocks"][1]["fields"][0]["text"], "*Symbol*\nA&amp;B");
    assert!(msg["text"].as_str().unwrap().contains("A&amp;B"));
    // Plain text is shown literally by Slack, so the header keeps `&`.
    assert_eq!(msg["blocks"][0]["text"]["text"], "❌ Order rejected: A&B");
}

/// Checks MarkdownV2 as Telegram parses it, for the markup we produce:
/// escapes must escape a special character, the only bare specials are
/// `*` (bold) and `_` (italic), and both are closed by the end.
fn telegram_parse_error(s: &str) -> Option<String> {
    const SPECIAL: &str = "_*[]()~`>#+-=|{}.!\\";
    let (mut bold, mut italic) = (false, false);
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, n)) if SPECIAL.contains(n) => {}
                other => return Some(format!("bad escape at {i}: {other:?}")),
            },
            '*' => bold = !bold,
            '_' => italic = !italic,
            c if SPECIAL.contains(c) => return Some(format!("bare {c:?} at {i}")),
            _ => {}
        }
    }
    (bold || italic).then(|| format!("unclosed entity (bold {bold}, italic {italic})"))
}

#[test]
fn telegram_text_stays_within_the_limit_and_parses() {
    for e in hostile_events() {
        let msg = telegram::message(&e, "@tradehook_alerts");
        let ctx = format!("{} {:.80}", e.event_type, e.data.to_string());
        let text = msg["text"].as_str().expect("text");
        assert!(text.encode_utf16().count() <= telegram::TEXT_MAX, "{ctx}");
        assert!(text.chars().count() <= telegram::TEXT_MAX, "{ctx}");
        assert!(text.starts_with('*'), "{ctx}: the title is bold");
        if let Some(err) = telegram_parse_error(text) {
            panic!("{ctx}: {err}\n{text:.500}");
        }
        assert_eq!(msg["parse_mode"], "MarkdownV2");
        assert_eq!(msg["chat_id"], "@tradehook_alerts");
        assert_eq!(msg["link_preview_options"], json!({"is_disabled": true}));
    }
}

#[test]
fn telegram_chat_ids_that_are_numbers_are_sent_as_numbers() {
    let e = sample("endpoint.test").unwrap();
    assert_eq!(
        telegram::message(&e, "-1001234567890")["chat_id"],
        json!(-1001234567890_i64)
    );
    assert_eq!(
        telegram::message(&e, "@alerts")["chat_id"],
        json!("@alerts")
    );
}
