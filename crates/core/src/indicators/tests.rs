use super::*;

/// A deterministic wiggly OHLC series (no RNG dependency).
fn bars(n: usize) -> Vec<(f64, f64, f64)> {
    (0..n)
        .map(|i| {
            let t = i as f64;
            let close = 100.0 + 5.0 * (t * 0.37).sin() + 2.0 * (t * 1.3).cos() + 0.01 * t;
            let high = close + 0.5 + (t * 0.7).sin().abs();
            let low = close - 0.5 - (t * 0.9).cos().abs();
            (high, low, close)
        })
        .collect()
}

fn closes(n: usize) -> Vec<f64> {
    bars(n).into_iter().map(|(_, _, c)| c).collect()
}

/// Index of the first `Some`.
fn first_some<T>(outs: &[Option<T>]) -> Option<usize> {
    outs.iter().position(Option::is_some)
}

#[test]
fn rsi_of_a_flat_series_is_zero_like_talib() {
    // TA-Lib gives 0 when there is neither gain nor loss; TradingView would
    // give 100. tradehook follows TA-Lib.
    let mut rsi = Rsi::new(14).unwrap();
    let outs: Vec<_> = (0..50).map(|_| rsi.update(42.0)).collect();
    assert_eq!(first_some(&outs), Some(14));
    assert!(outs[14..].iter().all(|v| *v == Some(0.0)), "{outs:?}");
}

#[test]
fn rsi_of_a_rising_series_is_100_and_of_a_falling_one_is_0() {
    let mut up = Rsi::new(14).unwrap();
    let mut down = Rsi::new(2).unwrap();
    for i in 0..40 {
        let x = 10.0 + i as f64 * 0.25;
        let u = up.update(x);
        let d = down.update(100.0 - x);
        if i >= 14 {
            assert_eq!(u, Some(100.0));
        }
        if i >= 2 {
            assert_eq!(d, Some(0.0));
        }
    }
}

#[test]
fn invalid_parameters_are_rejected_and_named() {
    let msg = |e: IndicatorError| e.to_string();
    assert!(msg(Sma::new(0).unwrap_err()).contains("period"));
    assert!(msg(Ema::new(0).unwrap_err()).contains("period"));
    assert!(msg(Rsi::new(0).unwrap_err()).contains("period"));
    assert!(msg(Rsi::new(1).unwrap_err()).contains("between 2 and"));
    assert!(msg(Atr::new(0).unwrap_err()).contains("period"));
    assert!(msg(Sma::new(MAX_PERIOD + 1).unwrap_err()).contains("100000"));
    assert!(msg(Macd::new(1, 26, 9).unwrap_err()).contains("fast_period"));
    assert!(msg(Macd::new(12, 1, 9).unwrap_err()).contains("slow_period"));
    assert!(msg(Macd::new(12, 26, 0).unwrap_err()).contains("signal_period"));
    assert!(msg(BollingerBands::new(1, 2.0, 2.0).unwrap_err()).contains("period"));
    assert!(msg(BollingerBands::new(20, f64::NAN, 2.0).unwrap_err()).contains("nbdev_up"));
    assert!(msg(BollingerBands::new(20, 2.0, -1.0).unwrap_err()).contains("nbdev_dn"));
    assert!(msg(BollingerBands::new(20, 2.0, f64::INFINITY).unwrap_err()).contains("nbdev_dn"));
    assert!(msg(Stoch::new(0, 3, 3).unwrap_err()).contains("fastk_period"));
    assert!(msg(Stoch::new(5, 0, 3).unwrap_err()).contains("slowk_period"));
    assert!(msg(Stoch::new(5, 3, 0).unwrap_err()).contains("slowd_period"));
    assert_eq!(
        Rsi::new(1).unwrap_err(),
        IndicatorError::Period {
            name: "period",
            min: 2,
            max: MAX_PERIOD,
            value: 1
        }
    );
}

#[test]
fn the_smallest_periods_talib_accepts_are_accepted() {
    assert!(Sma::new(1).is_ok());
    assert!(Ema::new(1).is_ok());
    assert!(Rsi::new(2).is_ok());
    assert!(Atr::new(1).is_ok());
    assert!(Macd::new(2, 2, 1).is_ok());
    assert!(BollingerBands::new(2, 0.0, 0.0).is_ok());
    assert!(Stoch::new(1, 1, 1).is_ok());
    assert!(Sma::new(MAX_PERIOD).is_ok());
}

#[test]
fn period_one_averages_are_the_input() {
    let mut sma = Sma::new(1).unwrap();
    let mut ema = Ema::new(1).unwrap();
    for x in closes(30) {
        assert_eq!(sma.update(x), Some(x));
        assert_eq!(ema.update(x), Some(x));
    }
}

#[test]
fn first_output_index_equals_lookback_and_is_ready_follows() {
    let data = bars(200);
    macro_rules! check {
        ($ind:expr, $feed:expr) => {{
            let mut ind = $ind;
            let lookback = ind.lookback();
            for (i, &(h, l, c)) in data.iter().enumerate() {
                assert_eq!(ind.is_ready(), i > lookback, "{ind:?} before input {i}");
                let out = $feed(&mut ind, h, l, c);
                assert_eq!(out.is_some(), i >= lookback, "{ind:?} at {i}");
            }
            lookback
        }};
    }
    assert_eq!(
        check!(Sma::new(20).unwrap(), |s: &mut Sma, _, _, c| s.update(c)),
        19
    );
    assert_eq!(
        check!(Ema::new(20).unwrap(), |s: &mut Ema, _, _, c| s.update(c)),
        19
    );
    assert_eq!(
        check!(Rsi::new(14).unwrap(), |s: &mut Rsi, _, _, c| s.update(c)),
        14
    );
    assert_eq!(
        check!(Macd::new(12, 26, 9).unwrap(), |s: &mut Macd, _, _, c| s
            .update(c)),
        33
    );
    assert_eq!(
        check!(Macd::new(5, 35, 5).unwrap(), |s: &mut Macd, _, _, c| s
            .update(c)),
        38
    );
    assert_eq!(
        check!(
            BollingerBands::new(20, 2.0, 2.0).unwrap(),
            |s: &mut BollingerBands, _, _, c| s.update(c)
        ),
        19
    );
    assert_eq!(
        check!(Atr::new(14).unwrap(), |s: &mut Atr, h, l, c| s
            .update(h, l, c)),
        14
    );
    assert_eq!(
        check!(Atr::new(1).unwrap(), |s: &mut Atr, h, l, c| s
            .update(h, l, c)),
        1
    );
    assert_eq!(
        check!(Stoch::new(5, 3, 3).unwrap(), |s: &mut Stoch, h, l, c| s
            .update(h, l, c)),
        8
    );
    assert_eq!(
        check!(Stoch::new(1, 1, 1).unwrap(), |s: &mut Stoch, h, l, c| s
            .update(h, l, c)),
        0
    );
}

#[test]
fn macd_swaps_fast_and_slow_like_talib() {
    let mut a = Macd::new(12, 26, 9).unwrap();
    let mut b = Macd::new(26, 12, 9).unwrap();
    assert_eq!(b.lookback(), 33);
    for x in closes(120) {
        assert_eq!(a.update(x), b.update(x));
    }
}

#[test]
fn non_finite_inputs_are_ignored_without_changing_state() {
    let data = bars(150);
    let bad = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    let mut clean = (
        Sma::new(10).unwrap(),
        Ema::new(10).unwrap(),
        Rsi::new(14).unwrap(),
        Macd::new(12, 26, 9).unwrap(),
        BollingerBands::new(20, 2.0, 2.0).unwrap(),
        Atr::new(14).unwrap(),
        Stoch::new(5, 3, 3).unwrap(),
    );
    let mut dirty = clean.clone();
    for (i, &(h, l, c)) in data.iter().enumerate() {
        if i % 7 == 3 {
            let x = bad[i % 3];
            assert_eq!(dirty.0.update(x), None);
            assert_eq!(dirty.1.update(x), None);
            assert_eq!(dirty.2.update(x), None);
            assert_eq!(dirty.3.update(x), None);
            assert_eq!(dirty.4.update(x), None);
            assert_eq!(dirty.5.update(x, l, c), None);
            assert_eq!(dirty.5.update(h, x, c), None);
            assert_eq!(dirty.5.update(h, l, x), None);
            assert_eq!(dirty.6.update(x, l, c), None);
            assert_eq!(dirty.6.update(h, x, c), None);
            assert_eq!(dirty.6.update(h, l, x), None);
        }
        assert_eq!(clean.0.update(c), dirty.0.update(c));
        assert_eq!(clean.1.update(c), dirty.1.update(c));
        assert_eq!(clean.2.update(c), dirty.2.update(c));
        assert_eq!(clean.3.update(c), dirty.3.update(c));
        assert_eq!(clean.4.update(c), dirty.4.update(c));
        assert_eq!(clean.5.update(h, l, c), dirty.5.update(h, l, c));
        assert_eq!(clean.6.update(h, l, c), dirty.6.update(h, l, c));
    }
    assert!(dirty.6.is_ready() && dirty.3.is_ready());
}

#[test]
fn sma_and_bands_follow_a_brute_force_window() {
    let xs = closes(300);
    let n = 20;
    let mut sma = Sma::new(n).unwrap();
    let mut bb = BollingerBands::new(n, 2.0, 1.5).unwrap();
    for (i, &x) in xs.iter().enumerate() {
        let s = sma.update(x);
        let b = bb.update(x);
        if i + 1 < n {
            continue;
        }
        let w = &xs[i + 1 - n..=i];
        let mean = w.iter().sum::<f64>() / n as f64;
        let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        let (s, b) = (s.unwrap(), b.unwrap());
        assert!((s - mean).abs() < 1e-10, "{i}: {s} vs {mean}");
        assert_eq!(b.middle, s);
        assert!((b.upper - (mean + 2.0 * var.sqrt())).abs() < 1e-8, "{i}");
        assert!((b.lower - (mean - 1.5 * var.sqrt())).abs() < 1e-8, "{i}");
    }
}

#[test]
fn bands_of_a_flat_series_have_zero_width() {
    let mut bb = BollingerBands::new(5, 2.0, 2.0).unwrap();
    for _ in 0..4 {
        assert_eq!(bb.update(1234.5), None);
    }
    for _ in 0..20 {
        let v = bb.update(1234.5).unwrap();
        assert_eq!((v.upper, v.middle, v.lower), (1234.5, 1234.5, 1234.5));
    }
}

#[test]
fn ema_starts_from_the_sma_of_the_first_inputs() {
    let xs = [2.0, 4.0, 6.0, 8.0, 10.0];
    let mut ema = Ema::new(3).unwrap();
    assert_eq!(ema.update(xs[0]), None);
    assert_eq!(ema.update(xs[1]), None);
    assert_eq!(ema.update(xs[2]), Some(4.0));
    // k = 0.5
    assert_eq!(ema.update(xs[3]), Some(6.0));
    assert_eq!(ema.update(xs[4]), Some(8.0));
}

#[test]
fn atr_starts_from_the_mean_true_range_then_smooths_like_wilder() {
    let mut atr = Atr::new(2).unwrap();
    assert_eq!(atr.update(11.0, 9.0, 10.0), None); // only the close counts
    assert_eq!(atr.update(12.0, 10.0, 11.0), None); // TR 2
    assert_eq!(atr.update(15.0, 14.0, 14.5), Some(3.0)); // TR 4 (gap up from 11)
    assert_eq!(atr.update(14.0, 13.0, 13.5), Some(2.25)); // TR 1.5: (3 + 1.5) / 2
}

#[test]
fn stoch_rolling_extremes_match_a_brute_force_window() {
    let data = bars(300);
    let (fk, sk, sd) = (14, 3, 3);
    let mut stoch = Stoch::new(fk, sk, sd).unwrap();
    let mut fast = Vec::new();
    for (i, &(h, l, c)) in data.iter().enumerate() {
        let out = stoch.update(h, l, c);
        if i + 1 < fk {
            continue;
        }
        let w = &data[i + 1 - fk..=i];
        let hh = w.iter().map(|b| b.0).fold(f64::MIN, f64::max);
        let ll = w.iter().map(|b| b.1).fold(f64::MAX, f64::min);
        fast.push((c - ll) / ((hh - ll) / 100.0));
        if let Some(v) = out {
            let m = fast.len();
            let slow: Vec<f64> = (m - sd..m)
                .map(|j| fast[j + 1 - sk..=j].iter().sum::<f64>() / sk as f64)
                .collect();
            let d = slow.iter().sum::<f64>() / sd as f64;
            assert!(
                (v.k - slow[sd - 1]).abs() < 1e-9,
                "{i}: {} vs {}",
                v.k,
                slow[sd - 1]
            );
            assert!((v.d - d).abs() < 1e-9, "{i}");
        }
    }
}

#[test]
fn stoch_of_a_flat_series_is_zero() {
    let mut stoch = Stoch::new(5, 3, 3).unwrap();
    let outs: Vec<_> = (0..20).map(|_| stoch.update(7.0, 7.0, 7.0)).collect();
    assert_eq!(first_some(&outs), Some(8));
    assert!(
        outs[8..]
            .iter()
            .all(|v| *v == Some(StochValue { k: 0.0, d: 0.0 }))
    );
}
