use super::{IndicatorError, check_period};

/// Exponential moving average (TA-Lib `EMA`): k = 2 / (period + 1), started
/// from the SMA of the first `period` inputs.
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    k: f64,
    /// Inputs summed so far while warming up.
    seen: usize,
    /// The seed sum while warming up, then the current average.
    value: f64,
}

impl Ema {
    /// An EMA over `period` inputs (1..=100 000).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        let period = check_period("period", period, 1)?;
        Ok(Self {
            period,
            // TA-Lib's PER_TO_K.
            k: 2.0 / (period + 1) as f64,
            seen: 0,
            value: 0.0,
        })
    }

    /// Adds one input; returns the average once `period` inputs were seen.
    /// A non-finite input is ignored (returns `None`, state unchanged).
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        if self.seen < self.period {
            self.value += x;
            self.seen += 1;
            if self.seen < self.period {
                return None;
            }
            self.value /= self.period as f64;
        } else {
            self.value += (x - self.value) * self.k;
        }
        Some(self.value)
    }

    /// The number of inputs before the first output: `period - 1`.
    pub fn lookback(&self) -> usize {
        self.period - 1
    }

    /// Whether an average has been produced.
    pub fn is_ready(&self) -> bool {
        self.seen == self.period
    }
}
