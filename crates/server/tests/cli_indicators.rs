//! `tradehook indicators`: the binary on candles made from the TA-Lib golden
//! input, compared with TA-Lib's values, and its errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GOLDEN: &str = include_str!("../../core/tests/golden/random_walk.csv");

fn tradehook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tradehook"))
        .args(args)
        .env("TRADEHOOK_LOG", "warn")
        .env("TRADEHOOK_MARKET_SOURCE", "none")
        .output()
        .expect("run tradehook")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a failure and returns what it said on stderr.
fn stderr_of_failure(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "should fail: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A CSV's columns by header name, as text.
fn columns(csv: &str) -> HashMap<String, Vec<String>> {
    let mut lines = csv.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let mut cols: HashMap<String, Vec<String>> =
        header.iter().map(|h| (h.clone(), Vec::new())).collect();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), header.len(), "{line}");
        for (h, f) in header.iter().zip(fields) {
            cols.get_mut(h).unwrap().push(f.to_string());
        }
    }
    cols
}

/// The golden input as the OHLCV CSV the command reads.
fn candles_csv() -> String {
    let mut lines = GOLDEN.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let picks: Vec<usize> = ["time", "open", "high", "low", "close", "volume"]
        .iter()
        .map(|c| header.iter().position(|h| h == c).unwrap())
        .collect();
    let mut out = String::from("time,open,high,low,close,volume\n");
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let row: Vec<&str> = picks.iter().map(|&i| fields[i]).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn write_candles(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("candles.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// Our column (empty while warming up) against TA-Lib's (NaN while warming
/// up): the same warm-up and every value within 1e-9 relative.
fn assert_matches(ours: &[String], talib: &[String], what: &str) {
    assert_eq!(ours.len(), talib.len(), "{what}: rows");
    for (i, (o, t)) in ours.iter().zip(talib).enumerate() {
        let t: f64 = t.parse().unwrap();
        if t.is_nan() {
            assert!(o.is_empty(), "{what}[{i}]: {o:?} where TA-Lib has none");
            continue;
        }
        let o: f64 = o
            .parse()
            .unwrap_or_else(|_| panic!("{what}[{i}]: {o:?} where TA-Lib has {t}"));
        let diff = (o - t).abs();
        assert!(
            diff <= 1e-12 || diff <= 1e-9 * o.abs().max(t.abs()),
            "{what}[{i}]: ours {o}, TA-Lib {t}"
        );
    }
}

#[test]
fn indicators_match_talib_golden_values() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_candles(dir.path(), &candles_csv());
    let out = stdout(&tradehook(&[
        "indicators",
        "--input",
        input.to_str().unwrap(),
        "--indicator",
        "rsi:14",
        "--indicator",
        "macd:12,26,9",
        "--indicator",
        "bbands:20,2",
        "--indicator",
        "sma:20",
        "--indicator",
        "ema:20",
        "--indicator",
        "atr:14",
        "--indicator",
        "stoch:5,3,3",
    ]));
    assert_eq!(
        out.lines().next().unwrap(),
        "time,close,rsi_14,macd,macd_signal,macd_hist,bb_upper,bb_middle,bb_lower,\
         sma_20,ema_20,atr_14,stoch_k,stoch_d"
    );
    let ours = columns(&out);
    let golden = columns(GOLDEN);
    assert_eq!(ours["time"], golden["time"], "time passes through");
    assert_eq!(ours["close"], golden["close"]);
    for (our, talib) in [
        ("rsi_14", "rsi_14"),
        ("macd", "macd_12_26_9"),
        ("macd_signal", "macd_signal_12_26_9"),
        ("macd_hist", "macd_hist_12_26_9"),
        ("bb_upper", "bb_upper_20_2_2"),
        ("bb_middle", "bb_middle_20_2_2"),
        ("bb_lower", "bb_lower_20_2_2"),
        ("sma_20", "sma_20"),
        ("ema_20", "ema_20"),
        ("atr_14", "atr_14"),
        ("stoch_k", "stoch_k_5_3_3"),
        ("stoch_d", "stoch_d_5_3_3"),
    ] {
        assert_matches(&ours[our], &golden[talib], our);
    }
    // The warm-up is TA-Lib's: the first RSI on row 14, the first MACD on 33.
    assert!(ours["rsi_14"][13].is_empty() && !ours["rsi_14"][14].is_empty());
    assert!(ours["macd"][32].is_empty() && !ours["macd"][33].is_empty());
}

#[test]
fn output_file_and_repeated_indicators_with_other_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_candles(dir.path(), &candles_csv());
    let output = dir.path().join("out.csv");
    let out = tradehook(&[
        "indicators",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--indicator",
        "macd:12,26,9",
        "--indicator",
        "macd:5,35,5",
        "--indicator",
        "bbands:5,1.5,2.5",
        "--indicator",
        "rsi:2",
        "--indicator",
        "stoch:14,3,3",
    ]);
    assert!(stdout(&out).is_empty(), "the CSV goes to the file");
    let ours = columns(&std::fs::read_to_string(&output).unwrap());
    let golden = columns(GOLDEN);
    for suffix in ["12_26_9", "5_35_5"] {
        for col in ["macd", "macd_signal", "macd_hist"] {
            let name = format!("{col}_{suffix}");
            assert_matches(&ours[&name], &golden[&name], &name);
        }
    }
    for (our, talib) in [
        ("bb_upper", "bb_upper_5_1.5_2.5"),
        ("bb_middle", "bb_middle_5_1.5_2.5"),
        ("bb_lower", "bb_lower_5_1.5_2.5"),
        ("rsi_2", "rsi_2"),
        ("stoch_k", "stoch_k_14_3_3"),
        ("stoch_d", "stoch_d_14_3_3"),
    ] {
        assert_matches(&ours[our], &golden[talib], our);
    }
}

#[test]
fn bad_rows_name_the_line_and_column_and_leave_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.csv");
    let cases = [
        (
            "time,open,high,low,close,volume\n1,1,2,0.5,1.5,10\n2,1,2,0.5,abc,10\n",
            "line 3, column `close`: `abc` is not a finite number",
        ),
        (
            "time,open,high,low,close,volume\n1,1,2,0.5,1.5,10\n\n4,1,NaN,0.5,1.5,10\n",
            "line 4, column `high`",
        ),
        (
            "time,open,high,low,close,volume\n1,1,2,0.5,1.5\n",
            "line 2: expected 6 fields as in the header, found 5",
        ),
        (
            "time,open,high,low,volume\n1,1,2,0.5,10\n",
            "line 1: the header has no `close` column",
        ),
        ("", "empty input"),
    ];
    for (text, expected) in cases {
        let input = write_candles(dir.path(), text);
        let err = stderr_of_failure(&tradehook(&[
            "indicators",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--indicator",
            "sma:2",
        ]));
        assert!(err.contains(expected), "{expected:?} not in {err}");
        assert!(err.contains("candles.csv"), "names the file: {err}");
        assert!(!output.exists(), "no half-written output for {expected:?}");
    }

    let missing = dir.path().join("nope.csv");
    let err = stderr_of_failure(&tradehook(&[
        "indicators",
        "--input",
        missing.to_str().unwrap(),
        "--indicator",
        "rsi:14",
    ]));
    assert!(
        err.contains("cannot open") && err.contains("nope.csv"),
        "{err}"
    );
}

#[test]
fn bad_indicator_specs_are_rejected_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_candles(dir.path(), &candles_csv());
    let input = input.to_str().unwrap();
    for (spec, expected) in [
        ("rsi", "no parameters"),
        ("rsi:0", "period must be between 2 and 100000, got 0"),
        ("rsi:1", "period must be between 2"),
        ("sma:abc", "not a whole number"),
        ("macd:12,26", "FAST,SLOW,SIGNAL"),
        ("macd:12,26,0", "signal_period"),
        ("bbands:20,x", "not a number"),
        ("bbands:20,-1", "nbdev_up"),
        ("stoch:0,3,3", "fastk_period"),
        ("vwap:14", "unknown indicator `vwap`"),
    ] {
        let out = tradehook(&["indicators", "--input", input, "--indicator", spec]);
        let err = stderr_of_failure(&out);
        assert!(
            err.contains(expected) && err.contains(spec),
            "{spec}: {expected:?} not in {err}"
        );
        assert!(out.stdout.is_empty(), "{spec}: no output");
    }

    let err = stderr_of_failure(&tradehook(&[
        "indicators",
        "--input",
        input,
        "--indicator",
        "rsi:14",
        "--indicator",
        "rsi:14",
    ]));
    assert!(err.contains("given twice"), "{err}");

    let err = stderr_of_failure(&tradehook(&["indicators", "--input", input]));
    assert!(err.contains("--indicator"), "{err}");
}

#[test]
fn reads_standard_input_with_a_dash() {
    use std::io::Write;
    use std::process::Stdio;

    let run = |text: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tradehook"))
            .args(["indicators", "--input", "-", "--indicator", "sma:2"])
            .env("TRADEHOOK_LOG", "warn")
            .env("TRADEHOOK_MARKET_SOURCE", "none")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = stdout(&run("time,open,high,low,close,volume\r\n\
         2024-01-01T00:00Z,1,2,0.5,1.5,10\r\n\
         2024-01-01T00:01Z,1,2,0.5,2.5,10\r\n"));
    assert_eq!(
        out,
        "time,close,sma_2\n2024-01-01T00:00Z,1.5,\n2024-01-01T00:01Z,2.5,2\n"
    );
    let err = stderr_of_failure(&run("time,open,high,low,close,volume\n1,1,2,1,x,1\n"));
    assert!(
        err.contains("standard input: line 2, column `close`"),
        "{err}"
    );
}
