//! `tradehook backfill`: candle history from Hyperliquid REST into storage.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tradehook_core::time::now_ms;
use tradehook_feeds::Interval;
use tradehook_feeds::hyperliquid::rest::{HISTORY_LIMIT, RestClient};
use tradehook_store::CandleRow;

use crate::app::connect_and_migrate;
use crate::config::Config;

/// A date (`2026-01-01`), an RFC 3339 time, or Unix milliseconds.
pub fn parse_when(text: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis());
    }
    bail!("`{text}` is not a date (2026-01-01), an RFC 3339 time or Unix milliseconds")
}

pub async fn run(
    config: Config,
    symbol: &str,
    interval: &str,
    since: &str,
    until: Option<&str>,
) -> anyhow::Result<()> {
    let interval: Interval = interval.parse()?;
    let step = interval.millis();
    let end = match until {
        Some(u) => parse_when(u).context("--until")?,
        None => now_ms(),
    };
    let start = parse_when(since).context("--since")?;
    if start >= end {
        bail!("--since must be before --until");
    }
    let store = connect_and_migrate(&config).await?;
    let rest = RestClient::new(
        &config.hyperliquid.rest_url,
        config.hyperliquid.rest_weight_per_minute,
    );
    let universe = rest
        .universe()
        .await
        .context("cannot read the Hyperliquid universe")?;
    if !universe.iter().any(|s| s == symbol) {
        let hint = universe
            .iter()
            .find(|s| s.eq_ignore_ascii_case(symbol))
            .map(|s| format!(" (did you mean {s}?)"))
            .unwrap_or_default();
        bail!("unknown symbol `{symbol}`{hint}");
    }
    // Resume after the newest stored closed candle.
    let stored = store
        .last_closed_candle("hyperliquid", symbol, interval.as_str())
        .await?;
    let mut cursor = interval.bucket_start(start);
    if let Some(last) = stored
        && last + step > cursor
    {
        cursor = last + step;
        eprintln!(
            "resuming after the stored candle at {}",
            tradehook_core::event::rfc3339_ms(last)
        );
    }
    let oldest = interval.bucket_start(end) - (HISTORY_LIMIT - 1) * step;
    if cursor < oldest {
        eprintln!(
            "Hyperliquid keeps only the newest {HISTORY_LIMIT} {interval} candles; starting at {}",
            tradehook_core::event::rfc3339_ms(oldest)
        );
        cursor = oldest;
    }
    let last_bucket = interval.bucket_start(end);
    let total = ((last_bucket - cursor) / step).max(0) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} candles ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("{symbol} {interval}"));
    let first = cursor;
    let (mut fetched, mut pages) = (0u64, 0u64);
    let now = now_ms();
    while cursor < last_bucket {
        let page_end = (cursor + 5000 * step).min(last_bucket) - 1;
        let candles = rest
            .candles_between(symbol, interval, cursor, page_end)
            .await?;
        pages += 1;
        let rows: Vec<CandleRow> = candles
            .iter()
            .map(|c| CandleRow {
                symbol: c.symbol.clone(),
                interval: interval.as_str().into(),
                open_time: c.open_time,
                open: c.open,
                high: c.high,
                low: c.low,
                close: c.close,
                volume: c.volume,
                trades: c.trades as i64,
                closed: c.close_time() < now,
            })
            .collect();
        store.upsert_candles("hyperliquid", &rows, now).await?;
        fetched += rows.len() as u64;
        bar.set_position(((page_end + 1 - first) / step).clamp(0, total as i64) as u64);
        cursor = page_end + 1;
    }
    bar.finish_and_clear();
    println!(
        "backfilled {fetched} {symbol} {interval} candles in {pages} request(s) ({} missing buckets had no trades)",
        total.saturating_sub(fetched)
    );
    store.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_when;

    #[test]
    fn times_parse_as_dates_rfc3339_or_millis() {
        assert_eq!(parse_when("2026-01-01").unwrap(), 1_767_225_600_000);
        assert_eq!(
            parse_when("2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600_000
        );
        assert_eq!(parse_when("1767225600000").unwrap(), 1_767_225_600_000);
        assert!(parse_when("last tuesday").is_err());
    }
}
