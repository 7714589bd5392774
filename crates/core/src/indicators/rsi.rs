use super::{IndicatorError, check_period, ta_is_zero};

/// Relative strength index with Wilder smoothing (TA-Lib `RSI`).
///
/// The first value comes after `period + 1` closes (lookback `period`). A
/// flat series gives 0, as in TA-Lib (TradingView gives 100); see the
/// module documentation.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    prev_close: Option<f64>,
    /// Price changes seen, up to `period`.
    changes: usize,
    /// Sums of gains and losses while warming up, then Wilder averages.
    gain: f64,
    loss: f64,
}

impl Rsi {
    /// An RSI over `period` changes (2..=100 000).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        let period = check_period("period", period, 2)?;
        Ok(Self {
            period,
            prev_close: None,
            changes: 0,
            gain: 0.0,
            loss: 0.0,
        })
    }

    /// Adds one close; returns the RSI (0..=100) once `period` changes were
    /// seen. A non-finite close is ignored (returns `None`, state unchanged).
    pub fn update(&mut self, close: f64) -> Option<f64> {
        if !close.is_finite() {
            return None;
        }
        let prev = self.prev_close.replace(close)?;
        let change = close - prev;
        let n = self.period as f64;
        if self.changes < self.period {
            if change < 0.0 {
                self.loss -= change;
            } else {
                self.gain += change;
            }
            self.changes += 1;
            if self.changes < self.period {
                return None;
            }
            self.loss /= n;
            self.gain /= n;
        } else {
            self.loss *= n - 1.0;
            self.gain *= n - 1.0;
            if change < 0.0 {
                self.loss -= change;
            } else {
                self.gain += change;
            }
            self.loss /= n;
            self.gain /= n;
        }
        let total = self.gain + self.loss;
        Some(if ta_is_zero(total) {
            0.0
        } else {
            100.0 * (self.gain / total)
        })
    }

    /// The number of inputs before the first output: `period`.
    pub fn lookback(&self) -> usize {
        self.period
    }

    /// Whether an RSI has been produced.
    pub fn is_ready(&self) -> bool {
        self.changes == self.period
    }
}
