use super::{Ema, IndicatorError, check_period};

/// One MACD output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdValue {
    /// Fast EMA − slow EMA.
    pub macd: f64,
    /// EMA of the MACD line over the signal period.
    pub signal: f64,
    /// `macd − signal`.
    pub hist: f64,
}

/// Moving average convergence/divergence (TA-Lib `MACD`).
///
/// Fast and slow are swapped when fast > slow. Both EMAs start at input
/// `slow − 1`: the fast EMA is fed only from input `slow − fast` on, so it
/// starts from the SMA of the `fast` closes ending there, as TA-Lib does.
/// The first output is at input `slow − 1 + signal − 1`.
#[derive(Debug, Clone)]
pub struct Macd {
    fast_period: usize,
    slow_period: usize,
    signal_period: usize,
    fast: Ema,
    slow: Ema,
    signal: Ema,
    /// Inputs seen, counted up to `slow − fast` (when the fast EMA starts).
    seen: usize,
}

impl Macd {
    /// A MACD with fast and slow periods in 2..=100 000 and a signal period
    /// in 1..=100 000.
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, IndicatorError> {
        let fast = check_period("fast_period", fast, 2)?;
        let slow = check_period("slow_period", slow, 2)?;
        let signal = check_period("signal_period", signal, 1)?;
        let (fast, slow) = if fast > slow {
            (slow, fast)
        } else {
            (fast, slow)
        };
        Ok(Self {
            fast_period: fast,
            slow_period: slow,
            signal_period: signal,
            fast: Ema::new(fast)?,
            slow: Ema::new(slow)?,
            signal: Ema::new(signal)?,
            seen: 0,
        })
    }

    /// Adds one close; returns MACD, signal and histogram once the signal
    /// EMA is ready. A non-finite close is ignored (returns `None`, state
    /// unchanged).
    pub fn update(&mut self, close: f64) -> Option<MacdValue> {
        if !close.is_finite() {
            return None;
        }
        let slow = self.slow.update(close);
        if self.seen < self.slow_period - self.fast_period {
            self.seen += 1;
            return None;
        }
        let fast = self.fast.update(close);
        let macd = fast? - slow?;
        let signal = self.signal.update(macd)?;
        Some(MacdValue {
            macd,
            signal,
            hist: macd - signal,
        })
    }

    /// The number of inputs before the first output:
    /// `slow − 1 + signal − 1`.
    pub fn lookback(&self) -> usize {
        self.slow_period - 1 + self.signal_period - 1
    }

    /// Whether a value has been produced.
    pub fn is_ready(&self) -> bool {
        self.signal.is_ready()
    }
}
