//! `tradehook demo`: the bundled replay drives the example rules, and
//! their alerts are printed as they fire.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn the_demo_replays_the_market_and_its_example_rules_fire() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradehook"))
        .args(["demo", "--speed", "0", "--listen", "127.0.0.1:0"])
        .env("TRADEHOOK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tradehook demo");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    let wanted = [
        "BTC crosses 100k",
        "BTC above 104k (once)",
        "ETH RSI(14) 5m overbought",
        "ETH MACD 5m bullish cross",
    ];
    let fired = |lines: &[String], name: &str| {
        lines
            .iter()
            .any(|l| l.starts_with("ALERT ") && l.contains(name))
    };
    while Instant::now() < deadline && !wanted.iter().all(|w| fired(&lines, w)) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = lines.join("\n");
    assert!(text.contains("Example rules"), "{text}");
    for w in wanted {
        assert!(fired(&lines, w), "no alert of `{w}`:\n{text}");
    }
    let once = lines
        .iter()
        .filter(|l| l.starts_with("ALERT ") && l.contains("BTC above 104k (once)"))
        .count();
    assert_eq!(once, 1, "a `once` rule fires once:\n{text}");
}
