//! The page shell (header, navigation, sign-out), error pages and the
//! form helpers every page uses, so labels, tooltips, help text and
//! inline errors look and behave the same everywhere.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::api::FormErrors;
use super::auth::Session;

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Setup,
    Brokers,
    Bots,
    Rules,
    Alerts,
    Deliveries,
    Logs,
    Analytics,
}

impl Nav {
    pub const ALL: [Nav; 9] = [
        Nav::Overview,
        Nav::Setup,
        Nav::Brokers,
        Nav::Bots,
        Nav::Rules,
        Nav::Alerts,
        Nav::Deliveries,
        Nav::Logs,
        Nav::Analytics,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Nav::Overview => "Overview",
            Nav::Setup => "Setup",
            Nav::Brokers => "Brokers",
            Nav::Bots => "Bots",
            Nav::Rules => "Rules",
            Nav::Alerts => "Alerts",
            Nav::Deliveries => "Deliveries",
            Nav::Logs => "Logs",
            Nav::Analytics => "Analytics",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Nav::Overview => "",
            Nav::Setup => "setup",
            Nav::Brokers => "brokers",
            Nav::Bots => "bots",
            Nav::Rules => "rules",
            Nav::Alerts => "alerts",
            Nav::Deliveries => "deliveries",
            Nav::Logs => "logs",
            Nav::Analytics => "analytics",
        }
    }

    fn href(self) -> String {
        match self {
            Nav::Overview => "/ui".to_string(),
            n => format!("/ui/{}", n.slug()),
        }
    }

    fn tooltip(self) -> &'static str {
        match self {
            Nav::Overview => "Prices, feed health, today's counts and live events",
            Nav::Setup => "TradingView webhook URL and alert messages per bot",
            Nav::Brokers => "Broker accounts: connection, equity, positions",
            Nav::Bots => "Bots: status, today's P&L, settings",
            Nav::Rules => "Alert rules: create, edit, enable, last fire time",
            Nav::Alerts => "Fired alerts and candle charts with their markers",
            Nav::Deliveries => "Endpoints: health, tests, secrets; deliveries and their attempts",
            Nav::Logs => "Signal and broker-call logs, searchable, with JSONL downloads",
            Nav::Analytics => "Equity curves, latency histograms and delivery success rates",
        }
    }
}

fn head(title: &str) -> Markup {
    let v = super::asset_version();
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · tradehook" }
            link rel="stylesheet" href={ "/ui/assets/app.css?v=" (v) };
            script src={ "/ui/assets/app.js?v=" (v) } defer {}
        }
    }
}

/// A page for a signed-in user.
pub fn page(session: &Session, active: Nav, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui" title="Overview" { "tradehook" }
                    nav aria-label="Sections" {
                        ul {
                            @for n in Nav::ALL {
                                li { a href=(n.href()) title=(n.tooltip())
                                    aria-current=[(n == active).then_some("page")] { (n.label()) } }
                            }
                        }
                    }
                    form.signout method="post" action="/ui/sign-out" {
                        (csrf(session))
                        span.who title={ "Signed in with key " (session.key_id) } { (session.key_name) " · " (session.role) }
                        button type="submit" title="End this session on the server" { "Sign out" }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without navigation (sign-in, errors before sign-in).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { (body) }
        }
    }
}

/// The hidden CSRF field every state-changing form carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="_csrf" value=(session.csrf_token()); }
}

/// 303 See Other: the answer to a successful form post.
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The message for a `?done=` code after a redirect. Only fixed texts,
/// so a link cannot put words in the dashboard's mouth.
pub fn done_message(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "paused" => "Paused.",
        "resumed" => "Resumed.",
        "cleaned" => "Cleanup ran.",
        "enabled" => "Enabled.",
        "disabled" => "Disabled.",
        "sent" => "Test event sent.",
        "replayed" => "Replay queued.",
        _ => return None,
    })
}

pub fn flash(code: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = done_message(code) {
            p.ok role="status" { (m) }
        }
    }
}

/// The API's message above a form that failed.
pub fn form_errors(errors: &FormErrors) -> Markup {
    html! {
        @if let Some(m) = &errors.message {
            p.error role="alert" { (m) }
        }
    }
}

fn id_for(name: &str) -> String {
    format!("f-{}", name.replace(['.', '[', ']'], "-"))
}

/// One labelled field: label, input, visible help, inline error.
fn field(errors: &FormErrors, name: &str, label: &str, help: &str, input: Markup) -> Markup {
    let id = id_for(name);
    html! {
        div.field.invalid[errors.field(name).is_some()] {
            label for=(id) title=(help) { (label) }
            (input)
            @if !help.is_empty() { small id={ (id) "-help" } { (help) } }
            @if let Some(e) = errors.field(name) {
                p.field-error id={ (id) "-err" } { (e) }
            }
        }
    }
}

pub fn text_field(
    errors: &FormErrors,
    name: &str,
    label: &str,
    help: &str,
    value: &str,
    attrs: &str,
) -> Markup {
    let id = id_for(name);
    let input = html! {
        input id=(id) name=(name) type=(if attrs.contains("password") { "password" } else { "text" })
            value=(value) title=(help) aria-describedby={ (id) "-help " (id) "-err" }
            aria-invalid=[errors.field(name).map(|_| "true")]
            required[attrs.contains("required")] autocomplete="off";
    };
    field(errors, name, label, help, input)
}

pub fn number_field(
    errors: &FormErrors,
    name: &str,
    label: &str,
    help: &str,
    value: &str,
) -> Markup {
    let id = id_for(name);
    let input = html! {
        input id=(id) name=(name) type="text" inputmode="decimal"
            value=(value) title=(help) aria-describedby={ (id) "-help " (id) "-err" }
            aria-invalid=[errors.field(name).map(|_| "true")];
    };
    field(errors, name, label, help, input)
}

pub fn check_field(errors: &FormErrors, name: &str, label: &str, help: &str, on: bool) -> Markup {
    let id = id_for(name);
    html! {
        div.field.check.invalid[errors.field(name).is_some()] {
            input id=(id) name=(name) type="checkbox" value="on" checked[on] title=(help)
                aria-describedby={ (id) "-help" };
            label for=(id) title=(help) { (label) }
            small id={ (id) "-help" } { (help) }
            @if let Some(e) = errors.field(name) {
                p.field-error { (e) }
            }
        }
    }
}

pub fn select_field(
    errors: &FormErrors,
    name: &str,
    label: &str,
    help: &str,
    options: &[(&str, &str)],
    selected: &str,
) -> Markup {
    let id = id_for(name);
    let input = html! {
        select id=(id) name=(name) title=(help) aria-describedby={ (id) "-help " (id) "-err" } {
            @for (value, text) in options {
                option value=(value) selected[*value == selected] { (text) }
            }
        }
    };
    field(errors, name, label, help, input)
}

/// A one-button form (pause, cleanup, delete, rotate): CSRF included.
pub fn action_button(
    session: &Session,
    action: &str,
    label: &str,
    tooltip: &str,
    confirm: Option<&str>,
) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            (csrf(session))
            button.plain type="submit" title=(tooltip) { (label) }
        }
    }
}

/// A copy-to-clipboard button for the element with `target` as its id.
pub fn copy_button(target: &str, what: &str) -> Markup {
    html! {
        button.copy type="button" data-copy=(target) title={ "Copy the " (what) " to the clipboard" } { "Copy" }
    }
}

/// "3 s", "4 min", "2 h" from milliseconds.
pub fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if ms < 1000 {
        format!("{} ms", ms.max(0))
    } else if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else if s < 172_800 {
        format!("{} h", s / 3600)
    } else {
        format!("{} d", s / 86_400)
    }
}

/// A page that failed: the status and a sentence.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PageError {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Logged; the page says nothing internal.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "dashboard: internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an internal error occurred; it has been logged",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string();
        let body = html! {
            main.signin {
                h1 { (self.status.as_u16()) " " (title) }
                p.error role="alert" { (self.message) }
                p { a href="/ui" { "Back to the overview" } }
            }
        };
        (self.status, bare(&title, body)).into_response()
    }
}

/// Embeds JSON for the page's script without letting it close the tag.
pub fn json_script(id: &str, value: &serde_json::Value) -> Markup {
    let text = value.to_string().replace("</", "<\\/");
    html! { script type="application/json" id=(id) { (PreEscaped(text)) } }
}

/// A number input the browser validates before submit (`type=number`
/// with `min`, `max`, `step`, and `required` unless `optional`).
#[allow(clippy::too_many_arguments)]
pub fn bounded_number_field(
    errors: &FormErrors,
    name: &str,
    label: &str,
    help: &str,
    value: &str,
    min: Option<&str>,
    max: Option<&str>,
    step: &str,
    optional: bool,
) -> Markup {
    let id = id_for(name);
    let input = html! {
        input id=(id) name=(name) type="number" inputmode="decimal" min=[min] max=[max] step=(step)
            value=(value) title=(help) aria-describedby={ (id) "-help " (id) "-err" }
            aria-invalid=[errors.field(name).map(|_| "true")] required[!optional];
    };
    field(errors, name, label, help, input)
}
