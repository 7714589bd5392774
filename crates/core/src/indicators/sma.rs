use super::{IndicatorError, check_period};

/// Simple moving average of the last `period` inputs (TA-Lib `SMA`).
///
/// Keeps a running sum like TA-Lib: add the new input, divide, then
/// subtract the input that leaves the window, so the rounding matches.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    /// The window; `head` is the oldest entry once it is full.
    window: Vec<f64>,
    head: usize,
    sum: f64,
    ready: bool,
}

impl Sma {
    /// An SMA over `period` inputs (1..=100 000).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        let period = check_period("period", period, 1)?;
        Ok(Self {
            period,
            window: Vec::with_capacity(period),
            head: 0,
            sum: 0.0,
            ready: false,
        })
    }

    /// Adds one input; returns the average once `period` inputs were seen.
    /// A non-finite input is ignored (returns `None`, state unchanged).
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        self.sum += x;
        if self.window.len() < self.period {
            self.window.push(x);
            if self.window.len() < self.period {
                return None;
            }
        } else {
            // The slot of the oldest input, already taken out of the sum.
            self.window[self.head] = x;
            self.head = (self.head + 1) % self.period;
        }
        let out = self.sum / self.period as f64;
        self.sum -= self.window[self.head];
        self.ready = true;
        Some(out)
    }

    /// The number of inputs before the first output: `period - 1`.
    pub fn lookback(&self) -> usize {
        self.period - 1
    }

    /// Whether an average has been produced.
    pub fn is_ready(&self) -> bool {
        self.ready
    }
}
