//! Technical indicators, computed incrementally and matching TA-Lib.
//!
//! Every indicator is a small state machine: construct it once, then feed
//! it one bar at a time with `update`. Each update costs O(1) (amortised
//! O(1) for [`Stoch`], whose rolling high and low use monotonic queues),
//! keeps at most one window of inputs, and never recomputes from history.
//! `update` returns `None` while the indicator warms up and `Some(value)`
//! from then on.
//!
//! # TA-Lib conventions
//!
//! The values follow TA-Lib (C library 0.8, default settings: unstable
//! period 0, default compatibility) bit for bit where the arithmetic allows;
//! the golden tests in `crates/core/tests/indicators_golden.rs` check every
//! output against vectors written by `scripts/make_indicator_goldens.py`.
//! The operations are done in the order of TA-Lib's C source (running sums
//! for SMA and the Bollinger variance, the same Wilder and EMA formulas), so
//! the rounding is the same too. TA-Lib's binaries themselves differ in the
//! last bits from build to build: the PyPI wheel picks fused multiply-add
//! code paths at run time on CPUs that have them, and its compiler rewrites
//! some divisions. Against the committed goldens SMA, EMA and most values
//! are bit-equal; the largest difference is about 2e-12 relative, in the
//! Bollinger bands, whose variance (a difference of running sums) magnifies
//! last-bit differences. The tests allow 1e-9 relative.
//!
//! | indicator | first output (0-based input index) = `lookback()` |
//! |---|---|
//! | [`Sma`]`(n)`, [`Ema`]`(n)`, [`BollingerBands`]`(n, ..)` | `n - 1` |
//! | [`Rsi`]`(n)`, [`Atr`]`(n)` | `n` |
//! | [`Macd`]`(fast, slow, signal)` | `slow - 1 + signal - 1` |
//! | [`Stoch`]`(fastk, slowk, slowd)` | `fastk - 1 + slowk - 1 + slowd - 1` |
//!
//! - **EMA** uses k = 2 / (n + 1) and starts from the SMA of the first n
//!   inputs.
//! - **RSI** starts from the simple means of the first n gains and losses
//!   (n + 1 closes), then uses Wilder smoothing,
//!   `avg = (avg × (n − 1) + x) / n`; RSI = 100 × gain / (gain + loss).
//!   **A flat series gives 0**, as in TA-Lib: when gain + loss is zero
//!   (below 1e-8, TA-Lib's zero test) the RSI is 0. TradingView's built-in
//!   `ta.rsi` gives **100** for a flat series instead; tradehook follows
//!   TA-Lib. A strictly rising series gives 100 in both.
//! - **MACD** swaps fast and slow when fast > slow. Both EMAs start at the
//!   slow EMA's first index: the slow one from the SMA of the first `slow`
//!   closes, the **fast one from the SMA of the `fast` closes ending there**
//!   (indices 14–25 for 12/26), not from the first `fast` closes. The signal
//!   is an EMA of the MACD line started from the SMA of its first `signal`
//!   values; histogram = MACD − signal.
//! - **Bollinger Bands**: middle = SMA; bands = middle ± nbdev × the
//!   **population** standard deviation (divided by n), computed like TA-Lib
//!   from running sums: variance = mean of squares − middle², and a
//!   variance below 1e-8 counts as 0.
//! - **ATR**: true range needs the previous close, so the first bar only
//!   records its close; the first ATR is the SMA of the first n true ranges,
//!   then Wilder smoothing.
//! - **STOCH** (TA-Lib STOCH with SMA for both smoothings): fast %K =
//!   (close − lowest low) / ((highest high − lowest low) / 100) over
//!   `fastk` bars (0 when the range is 0); slow %K = SMA(`slowk`) of fast %K;
//!   %D = SMA(`slowd`) of slow %K.
//!
//! # Parameters
//!
//! Constructors check their parameters against TA-Lib's ranges and return
//! an [`IndicatorError`] that names the offending parameter: periods are
//! 1..=100 000, except the RSI period, the MACD fast and slow periods and
//! the Bollinger period, which need at least 2. Bollinger deviations must be
//! finite and not negative (TA-Lib also accepts negative ones).
//!
//! # Non-finite inputs
//!
//! An input that is NaN or infinite (any of high, low, close for the
//! three-input indicators) is **rejected**: `update` returns `None` and the
//! state is left exactly as it was, as if the bar had not been seen. A
//! `None` from a ready indicator therefore always means a rejected input.

mod atr;
mod bbands;
mod ema;
mod macd;
mod rsi;
mod sma;
mod stoch;

pub use atr::Atr;
pub use bbands::{BandsValue, BollingerBands};
pub use ema::Ema;
pub use macd::{Macd, MacdValue};
pub use rsi::Rsi;
pub use sma::Sma;
pub use stoch::{Stoch, StochValue};

/// The largest period TA-Lib accepts.
pub const MAX_PERIOD: usize = 100_000;

/// A parameter outside the range the indicator accepts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndicatorError {
    /// A period below its minimum or above [`MAX_PERIOD`].
    #[error("{name} must be between {min} and {max}, got {value}")]
    Period {
        /// The parameter, e.g. `period` or `slow_period`.
        name: &'static str,
        /// The smallest accepted value.
        min: usize,
        /// The largest accepted value.
        max: usize,
        /// The value given.
        value: usize,
    },
    /// A Bollinger deviation multiplier that is negative or not finite.
    #[error("{name} must be a finite number >= 0, got {value}")]
    Deviation {
        /// `nbdev_up` or `nbdev_dn`.
        name: &'static str,
        /// The value given.
        value: f64,
    },
}

/// Checks `value` against `min..=MAX_PERIOD`.
pub(crate) fn check_period(
    name: &'static str,
    value: usize,
    min: usize,
) -> Result<usize, IndicatorError> {
    if (min..=MAX_PERIOD).contains(&value) {
        Ok(value)
    } else {
        Err(IndicatorError::Period {
            name,
            min,
            max: MAX_PERIOD,
            value,
        })
    }
}

/// TA-Lib's `TA_IS_ZERO`: |v| < 1e-8.
pub(crate) fn ta_is_zero(v: f64) -> bool {
    -0.000_000_01 < v && v < 0.000_000_01
}

#[cfg(test)]
mod tests;
