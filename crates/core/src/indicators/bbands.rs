use super::{IndicatorError, check_period};

/// One Bollinger Bands output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandsValue {
    /// `middle + nbdev_up × σ`.
    pub upper: f64,
    /// The SMA.
    pub middle: f64,
    /// `middle − nbdev_dn × σ`.
    pub lower: f64,
}

/// Bollinger Bands with an SMA middle and the population standard
/// deviation (TA-Lib `BBANDS` with matype 0).
///
/// Keeps running sums of the inputs and of their squares, in TA-Lib's
/// order: variance = (sum of squares / n) − middle², and a variance below
/// 1e-8 gives σ = 0 (TA-Lib's `TA_IS_ZERO_OR_NEG`).
#[derive(Debug, Clone)]
pub struct BollingerBands {
    period: usize,
    nbdev_up: f64,
    nbdev_dn: f64,
    /// The window; `head` is the oldest entry once it is full.
    window: Vec<f64>,
    head: usize,
    sum: f64,
    sum_sq: f64,
    ready: bool,
}

impl BollingerBands {
    /// Bands over `period` closes (2..=100 000); the deviation multipliers
    /// must be finite and not negative.
    pub fn new(period: usize, nbdev_up: f64, nbdev_dn: f64) -> Result<Self, IndicatorError> {
        let period = check_period("period", period, 2)?;
        for (name, value) in [("nbdev_up", nbdev_up), ("nbdev_dn", nbdev_dn)] {
            if !value.is_finite() || value < 0.0 {
                return Err(IndicatorError::Deviation { name, value });
            }
        }
        Ok(Self {
            period,
            nbdev_up,
            nbdev_dn,
            window: Vec::with_capacity(period),
            head: 0,
            sum: 0.0,
            sum_sq: 0.0,
            ready: false,
        })
    }

    /// Adds one close; returns the bands once `period` closes were seen. A
    /// non-finite close is ignored (returns `None`, state unchanged).
    pub fn update(&mut self, close: f64) -> Option<BandsValue> {
        if !close.is_finite() {
            return None;
        }
        self.sum += close;
        self.sum_sq += close * close;
        if self.window.len() < self.period {
            self.window.push(close);
            if self.window.len() < self.period {
                return None;
            }
        } else {
            self.window[self.head] = close;
            self.head = (self.head + 1) % self.period;
        }
        let n = self.period as f64;
        let middle = self.sum / n;
        let oldest = self.window[self.head];
        self.sum -= oldest;
        let mut variance = self.sum_sq / n;
        self.sum_sq -= oldest * oldest;
        variance -= middle * middle;
        let sd = if variance < 0.000_000_01 {
            0.0
        } else {
            variance.sqrt()
        };
        self.ready = true;
        Some(BandsValue {
            upper: middle + sd * self.nbdev_up,
            middle,
            lower: middle - sd * self.nbdev_dn,
        })
    }

    /// The number of inputs before the first output: `period - 1`.
    pub fn lookback(&self) -> usize {
        self.period - 1
    }

    /// Whether bands have been produced.
    pub fn is_ready(&self) -> bool {
        self.ready
    }
}
