use super::{IndicatorError, check_period};

/// Average true range with Wilder smoothing (TA-Lib `ATR`).
///
/// The true range needs the previous close, so the first bar only records
/// it. The first ATR is the SMA of the first `period` true ranges (at input
/// `period`), then `atr = (atr × (period − 1) + tr) / period`.
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    prev_close: Option<f64>,
    /// True ranges seen, up to `period`.
    ranges: usize,
    /// The sum of true ranges while warming up, then the ATR.
    value: f64,
}

impl Atr {
    /// An ATR over `period` true ranges (1..=100 000).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        let period = check_period("period", period, 1)?;
        Ok(Self {
            period,
            prev_close: None,
            ranges: 0,
            value: 0.0,
        })
    }

    /// Adds one bar; returns the ATR once `period` true ranges were seen.
    /// A bar with a non-finite value is ignored (returns `None`, state
    /// unchanged).
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        if !(high.is_finite() && low.is_finite() && close.is_finite()) {
            return None;
        }
        let prev = self.prev_close.replace(close)?;
        // TA-Lib's TRANGE, in its order of comparisons.
        let mut tr = high - low;
        let up = (prev - high).abs();
        if up > tr {
            tr = up;
        }
        let down = (prev - low).abs();
        if down > tr {
            tr = down;
        }
        let n = self.period as f64;
        if self.ranges < self.period {
            self.value += tr;
            self.ranges += 1;
            if self.ranges < self.period {
                return None;
            }
            self.value /= n;
        } else {
            self.value *= n - 1.0;
            self.value += tr;
            self.value /= n;
        }
        Some(self.value)
    }

    /// The number of inputs before the first output: `period`.
    pub fn lookback(&self) -> usize {
        self.period
    }

    /// Whether an ATR has been produced.
    pub fn is_ready(&self) -> bool {
        self.ranges == self.period
    }
}
