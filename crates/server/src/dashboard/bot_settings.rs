//! A bot's page: the settings form with every `BotSettings` field, each
//! with its tooltip and help, and the pause and cleanup buttons.
//!
//! The form renders from a [`FormData`] in both cases: built from the bot
//! when the page opens, or the submitted one when the API refused it, so
//! the user's input survives a 422. Settings are sent only when they
//! changed, because new settings restart the circuit breaker from the
//! current equity.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::Done;
use super::bots::{account_field, accounts, pause_button, unprocessable};
use super::layout::{self, Nav, PageError, action_button, see_other};
use super::setup::join;
use super::{FormData, FormErrors, Posted, Session};

/// (JSON field, label, help) of the numeric settings.
const NUMBERS: &[(&str, &str, &str)] = &[
    (
        "base_order_pct",
        "Base order (share of equity)",
        "pct_equity sizing: share of equity per entry, 0.02 = 2 %",
    ),
    (
        "notional",
        "Notional ($ per entry)",
        "notional sizing: dollars per entry",
    ),
    (
        "fixed_qty",
        "Fixed quantity",
        "fixed_qty sizing: quantity per entry; fractions allowed",
    ),
    (
        "limit_offset_ticks",
        "Limit offset (ticks)",
        "Limit orders: how many ticks past the price to place the limit (0–10000)",
    ),
    (
        "sl_pct",
        "Stop loss (fraction)",
        "Stop loss distance from the entry, 0.01 = 1 % (between 0 and 1)",
    ),
    (
        "tp_pct",
        "Take profit (fraction)",
        "Take profit distance from the entry, 0.02 = 2 % (up to 10)",
    ),
    (
        "global_sl_pct",
        "Global stop (share of base equity)",
        "Circuit breaker: stop the bot when equity falls to this share of its base, 0.80 = 80 %",
    ),
    (
        "global_tp_pct",
        "Global take profit (multiple of base equity)",
        "Circuit breaker: act when equity reaches this multiple of its base, 1.20 = 120 %",
    ),
    (
        "max_lag_secs",
        "Max signal lag (s)",
        "Drop signals whose time is older than this many seconds; empty = no limit",
    ),
];

/// (JSON field, label, help) of the on/off settings.
const TOGGLES: &[(&str, &str, &str)] = &[
    (
        "use_limit_orders",
        "Use limit orders",
        "Enter with limit orders instead of market orders",
    ),
    (
        "use_strategy_order_price",
        "Use the strategy's order price",
        "Limit orders: price from the signal (strategy.order.price) rather than the feed's last price",
    ),
    (
        "attach_sl_tp",
        "Attach SL/TP",
        "Place a stop loss and take profit (one cancels the other) after each entry",
    ),
    (
        "use_avg_fill_for_sl_tp",
        "SL/TP from the average fill",
        "Wait up to 5 s for the average fill price and measure SL/TP from it",
    ),
    (
        "enable_global_sl_tp",
        "Global SL/TP (circuit breaker)",
        "Pause the bot and close its positions when equity crosses the global levels",
    ),
    (
        "global_tp_liquidate",
        "Liquidate at global TP",
        "Also close positions when the global take profit is reached (otherwise only pause)",
    ),
];

const SIZING: &[(&str, &str)] = &[
    ("pct_equity", "share of equity"),
    ("signal_contracts", "the signal's contracts"),
    ("notional", "fixed dollars"),
    ("fixed_qty", "fixed quantity"),
];

/// The form's values from a bot as the API shows it.
fn form_from_bot(bot: &Value) -> FormData {
    let mut f = FormData::default();
    let mut put = |k: &str, v: String| {
        f.0.insert(k.to_string(), v);
    };
    put("name", bot["name"].as_str().unwrap_or("").into());
    put(
        "broker_account_id",
        bot["broker_account_id"].as_str().unwrap_or("").into(),
    );
    put("allowed_symbols", join(&bot["allowed_symbols"]));
    let s = &bot["settings"];
    put(
        "settings.sizing_mode",
        s["sizing_mode"].as_str().unwrap_or("").into(),
    );
    for (k, _, _) in NUMBERS {
        if !s[k].is_null() {
            put(&format!("settings.{k}"), s[k].to_string());
        }
    }
    for (k, _, _) in TOGGLES {
        if s[k].as_bool() == Some(true) {
            put(&format!("settings.{k}"), "on".into());
        }
    }
    f
}

/// The settings object from the form, over the bot's current settings:
/// a setting this form does not know yet (added to the API later) keeps
/// its value instead of falling back to its default. A blank number is
/// left out, so the API applies its default.
fn settings_from_form(f: &FormData, current: &Value) -> Value {
    let mut s: Map<String, Value> = current.as_object().cloned().unwrap_or_default();
    s.insert(
        "sizing_mode".into(),
        f.text("settings.sizing_mode").unwrap_or_default().into(),
    );
    for (k, _, _) in NUMBERS {
        let v = f.number(&format!("settings.{k}"));
        if v.is_null() {
            s.remove(*k);
        } else {
            s.insert((*k).into(), v);
        }
    }
    for (k, _, _) in TOGGLES {
        s.insert((*k).into(), f.checked(&format!("settings.{k}")).into());
    }
    Value::Object(s)
}

/// Whether two settings objects mean the same (numbers compared as
/// numbers, so `1` equals `1.0`).
fn same_settings(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().all(|k| {
        let (x, y) = (
            a.get(k).unwrap_or(&Value::Null),
            b.get(k).unwrap_or(&Value::Null),
        );
        match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        }
    })
}

async fn render_edit(
    session: &Session,
    bot: &Value,
    f: &FormData,
    errors: &FormErrors,
    done: Option<&str>,
) -> Result<Markup, PageError> {
    let id = bot["id"].as_str().unwrap_or("");
    let name = bot["name"].as_str().unwrap_or("");
    let paused = bot["paused"].as_bool() == Some(true);
    let accounts = accounts(session).await?;
    let v = |n: &str| f.text(n).unwrap_or_default();
    let num = |k: &str, label: &str, help: &str| {
        let name = format!("settings.{k}");
        layout::number_field(errors, &name, label, help, &v(&name))
    };
    let toggle = |k: &str, label: &str, help: &str| {
        let name = format!("settings.{k}");
        layout::check_field(errors, &name, label, help, f.checked(&name))
    };
    let help_of = |k: &str, list: &[(&str, &str, &'static str)]| -> (String, String) {
        list.iter()
            .find(|(key, _, _)| *key == k)
            .map(|(_, l, h)| (l.to_string(), h.to_string()))
            .unwrap_or_default()
    };
    let n = |k: &str| {
        let (l, h) = help_of(k, NUMBERS);
        num(k, &l, &h)
    };
    let t = |k: &str| {
        let (l, h) = help_of(k, TOGGLES);
        toggle(k, &l, &h)
    };
    let body = html! {
        (layout::flash(done))
        div.actions {
            @if paused {
                span.badge.warn title=(bot["paused_reason"].as_str().unwrap_or("paused")) { "paused" }
            } @else { span.badge.good { "active" } }
            (pause_button(session, id, paused))
            (action_button(session, &format!("/ui/bots/{id}/cleanup"), "Clean up SL/TP",
                "Cancel this bot's stop-loss and take-profit orders whose position is gone (the 30 s cleanup, now)", None))
            a href={ "/ui/setup/" (id) } title="Webhook URL and alert messages" { "Webhook setup" }
        }
        form.stack method="post" action={ "/ui/bots/" (id) } novalidate {
            (layout::csrf(session))
            (layout::form_errors(errors))
            fieldset {
                legend { "Bot" }
                div.cols {
                    (layout::text_field(errors, "name", "Name", "A unique name", &v("name"), "required"))
                    (account_field(errors, &accounts, &v("broker_account_id")))
                    (layout::text_field(errors, "allowed_symbols", "Allowed symbols",
                        "Symbols as TradingView's {{ticker}} sends them, comma separated", &v("allowed_symbols"), "required"))
                    (layout::text_field(errors, "body_secret", "Body secret (write-only)",
                        if bot["has_body_secret"].as_bool() == Some(true) { "Set. Leave empty to keep it; type a new one (8–200 characters) to replace it." }
                        else { "Not set. A secret the signal body must carry in \"secret\" (8–200 characters)." },
                        "", "password"))
                }
                @if bot["has_body_secret"].as_bool() == Some(true) {
                    (layout::check_field(errors, "remove_body_secret", "Remove the body secret", "Accept signals without a secret again", false))
                }
            }
            fieldset {
                legend { "Sizing" }
                div.cols {
                    (layout::select_field(errors, "settings.sizing_mode", "Sizing mode",
                        "How big each entry is: a share of equity, the signal's contracts, fixed dollars or a fixed quantity",
                        SIZING, &v("settings.sizing_mode")))
                    (n("base_order_pct")) (n("notional")) (n("fixed_qty"))
                }
            }
            fieldset {
                legend { "Orders" }
                (t("use_limit_orders"))
                div.cols { (t("use_strategy_order_price")) (n("limit_offset_ticks")) (n("max_lag_secs")) }
            }
            fieldset {
                legend { "Stop loss and take profit" }
                (t("attach_sl_tp"))
                div.cols { (n("sl_pct")) (n("tp_pct")) }
                (t("use_avg_fill_for_sl_tp"))
            }
            fieldset {
                legend { "Global SL/TP (circuit breaker)" }
                (t("enable_global_sl_tp"))
                div.cols { (n("global_sl_pct")) (n("global_tp_pct")) }
                (t("global_tp_liquidate"))
                p.help { "Saving changed settings restarts the circuit breaker from the current equity." }
            }
            div { button type="submit" title="Save through the API; errors show next to their fields" { "Save" } }
        }
    };
    Ok(layout::page(
        session,
        Nav::Bots,
        &format!("Bot: {name}"),
        body,
    ))
}

pub async fn edit(
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Markup, PageError> {
    let bot = session
        .api()
        .get(&format!("/api/v1/bots/{id}"))
        .await
        .json()?;
    let f = form_from_bot(&bot);
    render_edit(&session, &bot, &f, &FormErrors::none(), q.done.as_deref()).await
}

pub async fn save(Path(id): Path<String>, posted: Posted) -> Result<Response, PageError> {
    let session = &posted.session;
    let f = &posted.form;
    let path = format!("/api/v1/bots/{id}");
    let bot = session.api().get(&path).await.json()?;
    let mut body = json!({
        "name": f.text("name").unwrap_or_default(),
        "broker_account_id": f.text("broker_account_id").unwrap_or_default(),
        "allowed_symbols": f.list("allowed_symbols"),
    });
    let settings = settings_from_form(f, &bot["settings"]);
    if !same_settings(&settings, &bot["settings"]) {
        body["settings"] = settings;
    }
    if let Some(secret) = f.0.get("body_secret").filter(|s| !s.is_empty()) {
        body["body_secret"] = secret.clone().into();
    } else if f.checked("remove_body_secret") {
        body["body_secret"] = Value::Null;
    }
    let reply = session.api().patch(&path, &body).await;
    if reply.ok() {
        return Ok(see_other(&format!("/ui/bots/{id}?done=saved")));
    }
    let page = render_edit(session, &bot, f, &reply.form_errors(), None).await?;
    Ok((unprocessable(reply.status), page).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_the_round_trip_through_the_form() {
        let bot = json!({"name": "b", "broker_account_id": "bac_x", "allowed_symbols": ["BTCUSD", "ETHUSD"],
            "settings": serde_json::to_value(crate::api::bots::BotSettings::default()).unwrap()});
        let f = form_from_bot(&bot);
        assert_eq!(f.text("allowed_symbols").as_deref(), Some("BTCUSD, ETHUSD"));
        assert!(same_settings(
            &settings_from_form(&f, &bot["settings"]),
            &bot["settings"]
        ));
        let mut changed = f.clone();
        changed.0.insert("settings.sl_pct".into(), "0.05".into());
        assert!(!same_settings(
            &settings_from_form(&changed, &bot["settings"]),
            &bot["settings"]
        ));
    }

    #[test]
    fn settings_the_form_does_not_know_are_kept() {
        let mut current = serde_json::to_value(crate::api::bots::BotSettings::default()).unwrap();
        current["future_setting"] = json!(7);
        let bot = json!({"settings": current});
        let mut f = form_from_bot(&bot);
        f.0.remove("settings.base_order_pct");
        let sent = settings_from_form(&f, &bot["settings"]);
        assert_eq!(sent["future_setting"], 7);
        assert!(
            sent.get("base_order_pct").is_none(),
            "blank: the API's default"
        );
    }
}
