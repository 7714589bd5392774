//! Load generator for `POST /hooks/tradingview/{token}` (see
//! scripts/bench/intake.sh).
//!
//! One thread, keep-alive HTTP/1.1 over raw sockets, so the generator
//! costs little of the two cores it shares with the server. Every body is
//! unique (`signal_id` = `{prefix}-{connection}-{n}`), so no request is a
//! duplicate.
//!
//! * `--mode closed`: each connection sends its next request when the
//!   previous answer arrives (maximum throughput).
//! * `--mode rate`: a constant total rate spread over the connections,
//!   like wrk2: each request has a scheduled send time, and a request sent
//!   late because its connection was still busy counts its latency from
//!   the scheduled time (no coordinated omission). A request sent on time
//!   counts from the moment it is written.
//!
//! Only answers received during the measured window (after `--warmup`)
//! count. Prints one JSON object.

use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone)]
struct Args {
    addr: String,
    path: String,
    mode: String,
    connections: usize,
    duration: f64,
    warmup: f64,
    rate: f64,
    prefix: String,
    template: String,
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:8080".into(),
        path: String::new(),
        mode: "closed".into(),
        connections: 32,
        duration: 10.0,
        warmup: 2.0,
        rate: 1000.0,
        prefix: format!("bench{}", std::process::id()),
        template: r#"{"ticker":"BTCUSD","action":"add","sentiment":"bullish","quantity":"0.0001","signal_id":"{id}"}"#.into(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--addr" => a.addr = v,
            "--path" => a.path = v,
            "--mode" => a.mode = v,
            "--connections" => a.connections = v.parse().expect("--connections"),
            "--duration" => a.duration = v.parse().expect("--duration"),
            "--warmup" => a.warmup = v.parse().expect("--warmup"),
            "--rate" => a.rate = v.parse().expect("--rate"),
            "--prefix" => a.prefix = v,
            "--template" => a.template = v,
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    assert!(!a.path.is_empty(), "--path is required");
    assert!(a.template.contains("{id}"), "--template needs {{id}}");
    a
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its answer: (status, body).
    async fn exchange(&mut self, req: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.stream.write_all(req).await?;
        loop {
            if let Some((head_len, status, body_len)) = parse_head(&self.buf)? {
                let total = head_len + body_len;
                while self.buf.len() < total {
                    self.fill().await?;
                }
                let body = self.buf[head_len..total].to_vec();
                self.buf.drain(..total);
                return Ok((status, body));
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// (head length, status, content length) once the head is complete.
fn parse_head(buf: &[u8]) -> io::Result<Option<(usize, u16, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end])
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let mut len = 0;
    for l in lines {
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    Ok(Some((end + 4, status, len)))
}

fn request(a: &Args, id: &str) -> Vec<u8> {
    let body = a.template.replace("{id}", id);
    format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{}",
        a.path,
        a.addr,
        body.len(),
        body
    )
    .into_bytes()
}

#[derive(Clone, Copy)]
struct Sample {
    /// When the answer arrived (closed) or was scheduled (rate), seconds
    /// since the start.
    at: f64,
    latency_us: u64,
    /// 0 accepted (200, not a duplicate), 1 duplicate, 2 other status, 3 I/O error.
    kind: u8,
    status: u16,
}

fn classify(status: u16, body: &[u8]) -> u8 {
    if status != 200 {
        return 2;
    }
    let text = String::from_utf8_lossy(body);
    if text.contains("\"duplicate\":false") {
        0
    } else {
        1
    }
}

async fn closed_conn(a: Args, c: usize, start: Instant) -> Vec<Sample> {
    let end = start + Duration::from_secs_f64(a.warmup + a.duration);
    let mut out = Vec::new();
    let mut conn = match Conn::open(&a.addr).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connect: {e}");
            return out;
        }
    };
    let mut n = 0u64;
    while Instant::now() < end {
        let req = request(&a, &format!("{}-{c}-{n}", a.prefix));
        n += 1;
        let t0 = Instant::now();
        let r = conn.exchange(&req).await;
        let t1 = Instant::now();
        let (kind, status) = match &r {
            Ok((s, b)) => (classify(*s, b), *s),
            Err(_) => (3, 0),
        };
        out.push(Sample {
            at: (t1 - start).as_secs_f64(),
            latency_us: (t1 - t0).as_micros() as u64,
            kind,
            status,
        });
        if r.is_err() {
            match Conn::open(&a.addr).await {
                Ok(c) => conn = c,
                Err(_) => break,
            }
        }
    }
    out
}

async fn rate_conn(a: Args, c: usize, start: Instant) -> Vec<Sample> {
    let total = a.warmup + a.duration;
    let interval = a.connections as f64 / a.rate;
    let mut out = Vec::new();
    let mut conn = match Conn::open(&a.addr).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connect: {e}");
            return out;
        }
    };
    let mut n = 0u64;
    loop {
        let offset = c as f64 / a.rate + n as f64 * interval;
        if offset >= total {
            break;
        }
        let scheduled = start + Duration::from_secs_f64(offset);
        let now = Instant::now();
        // Late because the previous answer took too long: count from the
        // schedule. On time: wait, then count from the write (the timer's
        // own granularity is not the server's latency).
        let base = if now > scheduled {
            scheduled
        } else {
            tokio::time::sleep_until(scheduled.into()).await;
            Instant::now()
        };
        let req = request(&a, &format!("{}-{c}-{n}", a.prefix));
        n += 1;
        let r = conn.exchange(&req).await;
        let t1 = Instant::now();
        let (kind, status) = match &r {
            Ok((s, b)) => (classify(*s, b), *s),
            Err(_) => (3, 0),
        };
        out.push(Sample {
            at: offset,
            latency_us: (t1 - base).as_micros() as u64,
            kind,
            status,
        });
        if r.is_err() {
            match Conn::open(&a.addr).await {
                Ok(c) => conn = c,
                Err(_) => break,
            }
        }
    }
    out
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() {
    let a = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let samples: Vec<Sample> = rt.block_on(async {
        let start = Instant::now() + Duration::from_millis(50);
        let mut tasks = Vec::new();
        for c in 0..a.connections {
            let a = a.clone();
            tasks.push(tokio::spawn(async move {
                match a.mode.as_str() {
                    "closed" => closed_conn(a, c, start).await,
                    "rate" => rate_conn(a, c, start).await,
                    m => panic!("unknown mode {m}"),
                }
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        all
    });
    let window: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= a.warmup && s.at < a.warmup + a.duration)
        .collect();
    let count = |k: u8| window.iter().filter(|s| s.kind == k).count();
    let (ok, dup, bad, io) = (count(0), count(1), count(2), count(3));
    let mut lat: Vec<u64> = window
        .iter()
        .filter(|s| s.kind == 0)
        .map(|s| s.latency_us)
        .collect();
    lat.sort_unstable();
    let mut statuses: Vec<u16> = window
        .iter()
        .filter(|s| s.kind == 2)
        .map(|s| s.status)
        .collect();
    statuses.sort_unstable();
    statuses.dedup();
    let all_ok = samples.iter().filter(|s| s.kind == 0).count();
    println!(
        "{{\"mode\":\"{}\",\"connections\":{},\"target_rate\":{},\"duration_s\":{},\"sent_total\":{},\"accepted_total\":{},\"accepted\":{},\"duplicates\":{},\"http_errors\":{},\"error_statuses\":{:?},\"io_errors\":{},\"acks_per_s\":{:.1},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3}}}",
        a.mode,
        a.connections,
        if a.mode == "rate" { a.rate } else { 0.0 },
        a.duration,
        samples.len(),
        all_ok,
        ok,
        dup,
        bad,
        statuses,
        io,
        ok as f64 / a.duration,
        pct(&lat, 50.0),
        pct(&lat, 90.0),
        pct(&lat, 99.0),
        pct(&lat, 99.9),
        lat.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
}
