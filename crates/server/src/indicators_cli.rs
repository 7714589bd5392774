//! `tradehook indicators`: technical indicators over an OHLCV CSV file.
//!
//! Reads candles with the header `time,open,high,low,close,volume` (columns
//! found by name; `open` and `volume` are not used), runs each requested
//! indicator from [`tradehook_core::indicators`] over them in one pass, and
//! writes `time,close,` then one column per indicator output. A cell stays
//! empty while its indicator warms up. Needs neither configuration nor a
//! database.
//!
//! Indicator specs (`--indicator`, repeatable):
//!
//! | spec | columns |
//! |---|---|
//! | `sma:N`, `ema:N`, `rsi:N`, `atr:N` | `sma_N`, `ema_N`, `rsi_N`, `atr_N` |
//! | `macd:FAST,SLOW,SIGNAL` | `macd`, `macd_signal`, `macd_hist` |
//! | `bbands:N,DEV` or `bbands:N,UP,DOWN` | `bb_upper`, `bb_middle`, `bb_lower` |
//! | `stoch:FASTK,SLOWK,SLOWD` | `stoch_k`, `stoch_d` |
//!
//! When `macd`, `bbands` or `stoch` is given more than once, its columns get
//! the parameters as a suffix (`macd_5_35_5`, `bb_upper_20_2_2`, ...).

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use clap::Args;
use tradehook_core::indicators::{Atr, BollingerBands, Ema, Macd, Rsi, Sma, Stoch};

/// Arguments of `tradehook indicators`.
#[derive(Debug, Args)]
pub struct IndicatorsArgs {
    /// OHLCV CSV with the header time,open,high,low,close,volume
    /// (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// An indicator to compute; repeat for more. sma:N, ema:N, rsi:N,
    /// atr:N, macd:FAST,SLOW,SIGNAL, bbands:N,DEV (or N,UP,DOWN),
    /// stoch:FASTK,SLOWK,SLOWD.
    #[arg(long = "indicator", value_name = "SPEC", required = true)]
    pub indicators: Vec<IndicatorSpec>,
    /// Write the CSV here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// One parsed `--indicator` value.
#[derive(Debug, Clone, PartialEq)]
pub enum IndicatorSpec {
    Sma(usize),
    Ema(usize),
    Rsi(usize),
    Atr(usize),
    Macd(usize, usize, usize),
    Bbands(usize, f64, f64),
    Stoch(usize, usize, usize),
}

const SPEC_FORMS: &str = "sma:N, ema:N, rsi:N, atr:N, macd:FAST,SLOW,SIGNAL, \
    bbands:N,DEV (or N,UP,DOWN), stoch:FASTK,SLOWK,SLOWD";

impl FromStr for IndicatorSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (name, params) = s
            .split_once(':')
            .ok_or_else(|| format!("no parameters; expected one of {SPEC_FORMS}"))?;
        let name = name.trim().to_ascii_lowercase();
        let params: Vec<&str> = params.split(',').map(str::trim).collect();
        let int = |i: usize| -> Result<usize, String> {
            params[i].parse::<usize>().map_err(|_| {
                format!(
                    "parameter {} (`{}`) is not a whole number",
                    i + 1,
                    params[i]
                )
            })
        };
        let real = |i: usize| -> Result<f64, String> {
            params[i]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("parameter {} (`{}`) is not a number", i + 1, params[i]))
        };
        let count = |expected: &[usize], form: &str| -> Result<(), String> {
            if expected.contains(&params.len()) {
                Ok(())
            } else {
                Err(format!(
                    "{name} takes {form}, got {} parameter(s)",
                    params.len()
                ))
            }
        };
        let spec = match name.as_str() {
            "sma" | "ema" | "rsi" | "atr" => {
                count(&[1], "one period (e.g. rsi:14)")?;
                let n = int(0)?;
                match name.as_str() {
                    "sma" => Self::Sma(n),
                    "ema" => Self::Ema(n),
                    "rsi" => Self::Rsi(n),
                    _ => Self::Atr(n),
                }
            }
            "macd" => {
                count(&[3], "FAST,SLOW,SIGNAL (e.g. macd:12,26,9)")?;
                Self::Macd(int(0)?, int(1)?, int(2)?)
            }
            "bbands" => {
                count(&[2, 3], "N,DEV or N,UP,DOWN (e.g. bbands:20,2)")?;
                let up = real(1)?;
                let down = if params.len() == 3 { real(2)? } else { up };
                Self::Bbands(int(0)?, up, down)
            }
            "stoch" => {
                count(&[3], "FASTK,SLOWK,SLOWD (e.g. stoch:14,3,3)")?;
                Self::Stoch(int(0)?, int(1)?, int(2)?)
            }
            _ => {
                return Err(format!(
                    "unknown indicator `{name}`; expected one of {SPEC_FORMS}"
                ));
            }
        };
        // Build it once so that bad periods are reported here.
        spec.build().map_err(|e| e.to_string())?;
        Ok(spec)
    }
}

impl fmt::Display for IndicatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sma(n) => write!(f, "sma:{n}"),
            Self::Ema(n) => write!(f, "ema:{n}"),
            Self::Rsi(n) => write!(f, "rsi:{n}"),
            Self::Atr(n) => write!(f, "atr:{n}"),
            Self::Macd(a, b, c) => write!(f, "macd:{a},{b},{c}"),
            Self::Bbands(n, up, dn) => write!(f, "bbands:{n},{up},{dn}"),
            Self::Stoch(a, b, c) => write!(f, "stoch:{a},{b},{c}"),
        }
    }
}

impl IndicatorSpec {
    fn build(&self) -> Result<Running, tradehook_core::indicators::IndicatorError> {
        Ok(match *self {
            Self::Sma(n) => Running::Sma(Sma::new(n)?),
            Self::Ema(n) => Running::Ema(Ema::new(n)?),
            Self::Rsi(n) => Running::Rsi(Rsi::new(n)?),
            Self::Atr(n) => Running::Atr(Atr::new(n)?),
            Self::Macd(a, b, c) => Running::Macd(Macd::new(a, b, c)?),
            Self::Bbands(n, up, dn) => Running::Bbands(BollingerBands::new(n, up, dn)?),
            Self::Stoch(a, b, c) => Running::Stoch(Stoch::new(a, b, c)?),
        })
    }

    /// The column names, with `suffix` added to multi-output indicators.
    fn columns(&self, suffixed: bool) -> Vec<String> {
        let suffix = |params: String| {
            if suffixed {
                format!("_{params}")
            } else {
                String::new()
            }
        };
        match *self {
            Self::Sma(n) => vec![format!("sma_{n}")],
            Self::Ema(n) => vec![format!("ema_{n}")],
            Self::Rsi(n) => vec![format!("rsi_{n}")],
            Self::Atr(n) => vec![format!("atr_{n}")],
            Self::Macd(a, b, c) => {
                let s = suffix(format!("{a}_{b}_{c}"));
                vec![
                    format!("macd{s}"),
                    format!("macd_signal{s}"),
                    format!("macd_hist{s}"),
                ]
            }
            Self::Bbands(n, up, dn) => {
                let s = suffix(format!("{n}_{up}_{dn}"));
                vec![
                    format!("bb_upper{s}"),
                    format!("bb_middle{s}"),
                    format!("bb_lower{s}"),
                ]
            }
            Self::Stoch(a, b, c) => {
                let s = suffix(format!("{a}_{b}_{c}"));
                vec![format!("stoch_k{s}"), format!("stoch_d{s}")]
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Sma(_) => "sma",
            Self::Ema(_) => "ema",
            Self::Rsi(_) => "rsi",
            Self::Atr(_) => "atr",
            Self::Macd(..) => "macd",
            Self::Bbands(..) => "bbands",
            Self::Stoch(..) => "stoch",
        }
    }
}

/// An indicator being computed.
#[derive(Debug)]
enum Running {
    Sma(Sma),
    Ema(Ema),
    Rsi(Rsi),
    Atr(Atr),
    Macd(Macd),
    Bbands(BollingerBands),
    Stoch(Stoch),
}

impl Running {
    /// Feeds one candle and appends this indicator's cells to `row`.
    fn update(&mut self, high: f64, low: f64, close: f64, row: &mut String) {
        fn cell(row: &mut String, v: Option<f64>) {
            row.push(',');
            if let Some(v) = v {
                // Display prints the shortest text that reads back exactly.
                row.push_str(&v.to_string());
            }
        }
        match self {
            Self::Sma(i) => cell(row, i.update(close)),
            Self::Ema(i) => cell(row, i.update(close)),
            Self::Rsi(i) => cell(row, i.update(close)),
            Self::Atr(i) => cell(row, i.update(high, low, close)),
            Self::Macd(i) => {
                let v = i.update(close);
                cell(row, v.map(|v| v.macd));
                cell(row, v.map(|v| v.signal));
                cell(row, v.map(|v| v.hist));
            }
            Self::Bbands(i) => {
                let v = i.update(close);
                cell(row, v.map(|v| v.upper));
                cell(row, v.map(|v| v.middle));
                cell(row, v.map(|v| v.lower));
            }
            Self::Stoch(i) => {
                let v = i.update(high, low, close);
                cell(row, v.map(|v| v.k));
                cell(row, v.map(|v| v.d));
            }
        }
    }
}

/// Runs `tradehook indicators`.
pub fn run(args: &IndicatorsArgs) -> anyhow::Result<()> {
    let columns = output_columns(&args.indicators)?;
    let mut running = args
        .indicators
        .iter()
        .map(IndicatorSpec::build)
        .collect::<Result<Vec<_>, _>>()?;

    let input: Box<dyn BufRead> = if args.input == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        let file = File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        Box::new(BufReader::new(file))
    };
    match &args.output {
        None => {
            let stdout = io::stdout().lock();
            match process(input, BufWriter::new(stdout), &columns, &mut running) {
                // A closed pipe (`| head`) is not a failure.
                Err(Failure::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| e.into_anyhow(&args.input, "standard output")),
            }
        }
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let result = process(input, BufWriter::new(file), &columns, &mut running);
            if result.is_err() {
                // Leave no half-written file behind.
                let _ = std::fs::remove_file(path);
            }
            result.map_err(|e| e.into_anyhow(&args.input, &path.display().to_string()))
        }
    }
}

/// The output header after `time,close`; multi-output indicators given more
/// than once get their parameters as a suffix. Exact repeats are an error.
fn output_columns(specs: &[IndicatorSpec]) -> anyhow::Result<Vec<String>> {
    let mut columns: Vec<String> = Vec::new();
    for spec in specs {
        let repeated = specs.iter().filter(|s| s.kind() == spec.kind()).count() > 1;
        for column in spec.columns(repeated) {
            if columns.contains(&column) {
                anyhow::bail!("--indicator {spec} is given twice (column `{column}`)");
            }
            columns.push(column);
        }
    }
    Ok(columns)
}

enum Failure {
    Read(io::Error),
    Write(io::Error),
    /// A problem with the input, already with its line number.
    Input(String),
}

impl Failure {
    fn into_anyhow(self, input: &Path, output: &str) -> anyhow::Error {
        let input = if input == Path::new("-") {
            "standard input".to_string()
        } else {
            input.display().to_string()
        };
        match self {
            Self::Read(e) => anyhow::anyhow!("reading {input}: {e}"),
            Self::Write(e) => anyhow::anyhow!("writing {output}: {e}"),
            Self::Input(msg) => anyhow::anyhow!("{input}: {msg}"),
        }
    }
}

/// Column positions of the fields read from each row.
struct Layout {
    fields: usize,
    time: usize,
    high: usize,
    low: usize,
    close: usize,
}

fn parse_header(line: &str) -> Result<Layout, Failure> {
    let names: Vec<String> = line
        .split(',')
        .map(|f| unquote(f).to_ascii_lowercase())
        .collect();
    let find = |name: &str| {
        names.iter().position(|n| n == name).ok_or_else(|| {
            Failure::Input(format!(
                "line 1: the header has no `{name}` column; expected \
                 time,open,high,low,close,volume, found `{}`",
                line.trim()
            ))
        })
    };
    Ok(Layout {
        fields: names.len(),
        time: find("time")?,
        high: find("high")?,
        low: find("low")?,
        close: find("close")?,
    })
}

fn unquote(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(f)
}

fn process(
    input: impl BufRead,
    mut out: impl Write,
    columns: &[String],
    running: &mut [Running],
) -> Result<(), Failure> {
    let mut lines = input.lines();
    let header = match lines.next() {
        None => return Err(Failure::Input("empty input: no header line".into())),
        Some(line) => line.map_err(Failure::Read)?,
    };
    let header = header.trim_start_matches('\u{feff}');
    let layout = parse_header(header)?;
    writeln!(out, "time,close,{}", columns.join(",")).map_err(Failure::Write)?;

    let mut row = String::new();
    for (n, line) in lines.enumerate() {
        let number = n + 2;
        let line = line.map_err(Failure::Read)?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != layout.fields {
            return Err(Failure::Input(format!(
                "line {number}: expected {} fields as in the header, found {}",
                layout.fields,
                fields.len()
            )));
        }
        let number_at = |index: usize, name: &str| -> Result<f64, Failure> {
            let text = unquote(fields[index]);
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(Failure::Input(format!(
                    "line {number}, column `{name}`: `{text}` is not a finite number"
                ))),
            }
        };
        let high = number_at(layout.high, "high")?;
        let low = number_at(layout.low, "low")?;
        let close = number_at(layout.close, "close")?;
        let time = fields[layout.time].trim();
        if time.is_empty() {
            return Err(Failure::Input(format!(
                "line {number}, column `time`: empty"
            )));
        }

        row.clear();
        row.push_str(time);
        row.push(',');
        row.push_str(unquote(fields[layout.close]));
        for indicator in running.iter_mut() {
            indicator.update(high, low, close, &mut row);
        }
        row.push('\n');
        out.write_all(row.as_bytes()).map_err(Failure::Write)?;
    }
    out.flush().map_err(Failure::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        assert_eq!("rsi:14".parse(), Ok(IndicatorSpec::Rsi(14)));
        assert_eq!(
            " MACD:12, 26 ,9".parse(),
            Ok(IndicatorSpec::Macd(12, 26, 9))
        );
        assert_eq!(
            "bbands:20,2".parse(),
            Ok(IndicatorSpec::Bbands(20, 2.0, 2.0))
        );
        assert_eq!(
            "bbands:5,1.5,2.5".parse(),
            Ok(IndicatorSpec::Bbands(5, 1.5, 2.5))
        );
        assert_eq!("stoch:5,3,3".parse(), Ok(IndicatorSpec::Stoch(5, 3, 3)));
        let err = |s: &str| s.parse::<IndicatorSpec>().unwrap_err();
        assert!(err("rsi").contains("no parameters"), "{}", err("rsi"));
        assert!(err("foo:3").contains("unknown indicator `foo`"));
        assert!(err("rsi:x").contains("not a whole number"));
        assert!(err("rsi:14,2").contains("one period"));
        assert!(err("rsi:1").contains("period must be between 2"));
        assert!(err("macd:12,26").contains("FAST,SLOW,SIGNAL"));
        assert!(err("macd:12,26,0").contains("signal_period"));
        assert!(err("bbands:20,nan").contains("not a number"));
        assert!(err("bbands:20,-2").contains("nbdev_up"));
        assert!(err("stoch:0,3,3").contains("fastk_period"));
    }

    #[test]
    fn repeated_multi_output_indicators_get_suffixed_columns() {
        let specs: Vec<IndicatorSpec> = ["macd:12,26,9", "macd:5,35,5", "rsi:14", "bbands:20,2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let cols = output_columns(&specs).unwrap();
        assert_eq!(
            cols,
            [
                "macd_12_26_9",
                "macd_signal_12_26_9",
                "macd_hist_12_26_9",
                "macd_5_35_5",
                "macd_signal_5_35_5",
                "macd_hist_5_35_5",
                "rsi_14",
                "bb_upper",
                "bb_middle",
                "bb_lower"
            ]
        );
        let twice = [IndicatorSpec::Rsi(14), IndicatorSpec::Rsi(14)];
        assert!(
            output_columns(&twice)
                .unwrap_err()
                .to_string()
                .contains("given twice")
        );
    }
}
