//! HTTP routes. Each module documents its routes for OpenAPI.

pub mod alerts;
pub mod bot_actions;
pub mod bots;
pub mod broker_accounts;
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod keys;
pub mod market;
pub mod price_alerts;
pub mod rules;
pub mod system;
pub mod trading_views;

/// Cuts `rows`, fetched with `limit + 1`, to `limit` and answers the
/// cursor of the next page: the last id kept, when there was more.
pub(crate) fn split_page<T>(
    rows: &mut Vec<T>,
    limit: i64,
    id: impl Fn(&T) -> &str,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|r| id(r).to_string())
}
