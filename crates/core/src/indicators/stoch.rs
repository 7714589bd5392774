use std::collections::VecDeque;

use super::{IndicatorError, Sma, check_period};

/// One stochastic oscillator output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochValue {
    /// Slow %K: the SMA of fast %K.
    pub k: f64,
    /// %D: the SMA of slow %K.
    pub d: f64,
}

/// Stochastic oscillator (TA-Lib `STOCH` with SMA for slow %K and %D).
///
/// Fast %K = (close − lowest low) / ((highest high − lowest low) / 100) over
/// the last `fastk_period` bars, 0 when the range is 0. The rolling high and
/// low use monotonic queues: amortised O(1) per bar.
#[derive(Debug, Clone)]
pub struct Stoch {
    fastk_period: usize,
    slowk_period: usize,
    slowd_period: usize,
    /// Bars seen.
    index: u64,
    /// (bar index, high), highs strictly decreasing from the front.
    highs: VecDeque<(u64, f64)>,
    /// (bar index, low), lows strictly increasing from the front.
    lows: VecDeque<(u64, f64)>,
    slow_k: Sma,
    slow_d: Sma,
}

impl Stoch {
    /// A stochastic with every period in 1..=100 000.
    pub fn new(
        fastk_period: usize,
        slowk_period: usize,
        slowd_period: usize,
    ) -> Result<Self, IndicatorError> {
        let fastk_period = check_period("fastk_period", fastk_period, 1)?;
        let slowk_period = check_period("slowk_period", slowk_period, 1)?;
        let slowd_period = check_period("slowd_period", slowd_period, 1)?;
        Ok(Self {
            fastk_period,
            slowk_period,
            slowd_period,
            index: 0,
            highs: VecDeque::with_capacity(fastk_period),
            lows: VecDeque::with_capacity(fastk_period),
            slow_k: Sma::new(slowk_period)?,
            slow_d: Sma::new(slowd_period)?,
        })
    }

    /// Adds one bar; returns slow %K and %D once both are ready. A bar with
    /// a non-finite value is ignored (returns `None`, state unchanged).
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<StochValue> {
        if !(high.is_finite() && low.is_finite() && close.is_finite()) {
            return None;
        }
        let i = self.index;
        self.index += 1;
        let window = self.fastk_period as u64;
        while self.highs.back().is_some_and(|&(_, h)| h <= high) {
            self.highs.pop_back();
        }
        self.highs.push_back((i, high));
        while self.highs.front().is_some_and(|&(j, _)| j + window <= i) {
            self.highs.pop_front();
        }
        while self.lows.back().is_some_and(|&(_, l)| l >= low) {
            self.lows.pop_back();
        }
        self.lows.push_back((i, low));
        while self.lows.front().is_some_and(|&(j, _)| j + window <= i) {
            self.lows.pop_front();
        }
        if i + 1 < window {
            return None;
        }
        let highest = self.highs.front().map_or(high, |&(_, h)| h);
        let lowest = self.lows.front().map_or(low, |&(_, l)| l);
        let diff = (highest - lowest) / 100.0;
        let fast_k = if diff != 0.0 {
            (close - lowest) / diff
        } else {
            0.0
        };
        let k = self.slow_k.update(fast_k)?;
        let d = self.slow_d.update(k)?;
        Some(StochValue { k, d })
    }

    /// The number of inputs before the first output:
    /// `fastk − 1 + slowk − 1 + slowd − 1`.
    pub fn lookback(&self) -> usize {
        self.fastk_period - 1 + self.slowk_period - 1 + self.slowd_period - 1
    }

    /// Whether a value has been produced.
    pub fn is_ready(&self) -> bool {
        self.slow_d.is_ready()
    }
}
