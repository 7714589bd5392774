//! Delivery load benchmark: the real `App` (dispatcher, SSRF-guarded
//! client, store) delivering to a local counting receiver in the same
//! process, on SQLite and PostgreSQL.
//!
//! Scenarios:
//!
//! * `throughput`: M endpoints, N events published *before* the app runs
//!   (so the queue is full), then `run()` and time until the receiver has
//!   all N×M deliveries, and until the database has none pending.
//! * `latency`: one endpoint, the app running, events published at a
//!   steady rate; latency = receiver arrival − the instant `publish`
//!   returned (the commit), on the same clock.
//! * `failures`: like `throughput`, but every path fails 30 % of requests
//!   with a 500 and endpoints retry quickly; checks that every delivery
//!   arrives exactly once with a 2xx and none is left pending or failed.
//!
//! Run with `scripts/bench/delivery.sh [args]`, or
//! `cargo bench -p tradehook-server --bench delivery_load -- [args]`:
//!
//! ```text
//! --events N            events per run (default 2000)
//! --endpoints M         endpoints (default 10)
//! --backends LIST       sqlite,postgres
//! --workers LIST        delivery workers per run, e.g. 1,4
//! --scenarios LIST      throughput,latency,failures
//! --rate R              latency scenario: events per second (default 1000)
//! --seconds S           latency scenario: duration (default 5)
//! --endpoint-concurrency K   per-endpoint max_concurrency (server default 8)
//! --quick               small numbers, for a smoke run
//! ```
//!
//! PostgreSQL comes from `TRADEHOOK_TEST_POSTGRES_URL`, else
//! postgres://postgres@127.0.0.1:5432/postgres; it is skipped with a notice
//! when unreachable. Each run gets a fresh SQLite file or schema.
//! Exits non-zero when a delivery is missing, duplicated or failed.
//! tradehook's warnings go to stderr (filter with `BENCH_LOG`, default
//! `warn`) and are counted per run in the report. The machine's other load
//! is measured from /proc and shown, since it skews every number here.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tradehook_delivery::Outbox;
use tradehook_server::config::Secret;
use tradehook_server::state::AppState;
use tradehook_server::{App, Config};
use tradehook_store::testing::{TestBackend, TestDb, postgres_base_url};
use tradehook_store::{DeliveryFilter, DeliveryStatus, Store};
use tradehook_testkit::receiver::{Behaviour, Receiver};

const ADMIN_KEY: &str = "bench-admin-key";
/// 32 zero bytes: a fixed sealing key, so two apps on one database agree.
const SEALING_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
/// Concurrent publishers when filling the queue.
const PUBLISHERS: usize = 8;
/// Latency scenario: events published (and discarded) before measuring.
const WARMUP_EVENTS: usize = 100;
const FAILURE_RATE: f64 = 0.3;
const PG_MAX_CONNECTIONS: u32 = 16;
const SQLITE_MAX_CONNECTIONS: u32 = 10;
const POLL_INTERVAL_MS: u64 = 50;

// ---------------------------------------------------------------- args

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Throughput,
    Latency,
    Failures,
}

#[derive(Debug, Clone)]
struct Args {
    events: usize,
    endpoints: usize,
    backends: Vec<Backend>,
    workers: Vec<u32>,
    scenarios: Vec<Scenario>,
    rate: u64,
    seconds: u64,
    endpoint_concurrency: Option<i64>,
    quick: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: delivery_load [--events N] [--endpoints M] [--backends sqlite,postgres] \
         [--workers 1,4] [--scenarios throughput,latency,failures] [--rate R] [--seconds S] \
         [--endpoint-concurrency K] [--quick]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let quick = raw.iter().any(|a| a == "--quick");
    let mut args = Args {
        events: if quick { 200 } else { 2000 },
        endpoints: if quick { 3 } else { 10 },
        backends: vec![Backend::Sqlite, Backend::Postgres],
        workers: vec![1, 4],
        scenarios: vec![Scenario::Throughput, Scenario::Latency, Scenario::Failures],
        rate: if quick { 200 } else { 1000 },
        seconds: if quick { 1 } else { 5 },
        endpoint_concurrency: None,
        quick,
    };
    let mut it = raw.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--quick" => {}
            // `cargo bench` passes `--bench` to harness-less targets.
            "--bench" => {}
            "--events" => args.events = value().parse().unwrap_or_else(|_| usage()),
            "--endpoints" => args.endpoints = value().parse().unwrap_or_else(|_| usage()),
            "--rate" => args.rate = value().parse().unwrap_or_else(|_| usage()),
            "--seconds" => args.seconds = value().parse().unwrap_or_else(|_| usage()),
            "--endpoint-concurrency" => {
                args.endpoint_concurrency = Some(value().parse().unwrap_or_else(|_| usage()))
            }
            "--backends" => {
                args.backends = value()
                    .split(',')
                    .map(|b| match b.trim() {
                        "sqlite" => Backend::Sqlite,
                        "postgres" | "pg" => Backend::Postgres,
                        _ => usage(),
                    })
                    .collect()
            }
            "--workers" => {
                args.workers = value()
                    .split(',')
                    .map(|w| w.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--scenarios" => {
                args.scenarios = value()
                    .split(',')
                    .map(|s| match s.trim() {
                        "throughput" => Scenario::Throughput,
                        "latency" => Scenario::Latency,
                        "failures" => Scenario::Failures,
                        _ => usage(),
                    })
                    .collect()
            }
            "-h" | "--help" => usage(),
            _ => {
                eprintln!("unknown argument {flag:?}");
                usage()
            }
        }
    }
    if args.events == 0 || args.endpoints == 0 || args.rate == 0 || args.seconds == 0 {
        usage();
    }
    args
}

// ---------------------------------------------------------------- machine

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU seconds (all cores) of this process, of the PostgreSQL server's
/// processes, and of the whole machine, from /proc (100 Hz clock ticks).
#[derive(Clone, Copy, Default)]
struct CpuSnap {
    process: f64,
    postgres: f64,
    machine_busy: f64,
}

const TICK: f64 = 100.0;

/// utime + stime of one /proc/PID/stat, and its command name.
fn proc_cpu(stat: &str) -> Option<(&str, f64)> {
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1;
    // After the ")": state is field 3, utime and stime fields 14 and 15.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((comm, (ut + st) / TICK))
}

fn cpu_snap() -> CpuSnap {
    let process = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| proc_cpu(&s).map(|(_, t)| t))
        .unwrap_or(0.0);
    let mut postgres = 0.0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat"))
                && let Some((comm, t)) = proc_cpu(&stat)
                && comm.starts_with("postgres")
            {
                postgres += t;
            }
        }
    }
    let machine_busy = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?;
            let v: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal ...
            let idle = v.get(3)? + v.get(4).unwrap_or(&0.0);
            let total: f64 = v.iter().take(8).sum();
            Some((total - idle) / TICK)
        })
        .unwrap_or(0.0);
    CpuSnap {
        process,
        postgres,
        machine_busy,
    }
}

/// Cores used on average over a run: by this process (app + receiver),
/// by PostgreSQL, and by everything else on the machine.
#[derive(Clone, Copy, Default)]
struct Cpu {
    app: f64,
    db: f64,
    other: f64,
}

impl Cpu {
    fn show(&self) -> String {
        format!("{:.2}/{:.2}/{:.2}", self.app, self.db, self.other)
    }
}

fn cpu_use(a: CpuSnap, b: CpuSnap, wall: Duration) -> Cpu {
    let w = wall.as_secs_f64().max(1e-9);
    let app = (b.process - a.process) / w;
    // Processes that exited during the run drop out of the sum; clamp.
    let db = ((b.postgres - a.postgres) / w).max(0.0);
    let machine = (b.machine_busy - a.machine_busy) / w;
    Cpu {
        app,
        db,
        other: (machine - app - db).max(0.0),
    }
}

// ---------------------------------------------------------------- rig

fn config_for(url: &str, backend: Backend, workers: u32) -> Config {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".to_string();
    config.database_url = url.to_string();
    config.admin_key = Some(Secret::new(ADMIN_KEY));
    config.secrets_key = Some(Secret::new(SEALING_KEY));
    // No outside market data: only delivery work on the machine.
    config.market.source = "none".to_string();
    config.delivery.allow_http = true;
    config.delivery.allow_networks = "127.0.0.1/32".to_string();
    config.delivery.workers = workers;
    config.delivery.poll_interval_ms = POLL_INTERVAL_MS;
    config.http.shutdown_timeout_secs = 10;
    config.database.max_connections = match backend {
        Backend::Sqlite => SQLITE_MAX_CONNECTIONS,
        Backend::Postgres => PG_MAX_CONNECTIONS,
    };
    config
}

async fn fresh_db(backend: Backend) -> anyhow::Result<TestDb> {
    match backend {
        Backend::Sqlite => Ok(TestDb::sqlite().await),
        Backend::Postgres => TestDb::new(TestBackend::Postgres, "delivery_load")
            .await
            .context("PostgreSQL became unavailable"),
    }
}

/// A running app.
struct Running {
    addr: SocketAddr,
    state: AppState,
    token: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    fn start(app: App) -> Running {
        let addr = app.local_addr();
        let state = app.state().clone();
        let token = app.shutdown_token();
        let handle = tokio::spawn(app.run());
        Running {
            addr,
            state,
            token,
            handle,
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .context("app did not stop within 30 s")?
            .context("app task panicked")?
    }
}

/// Creates endpoints through the HTTP API of a running app.
async fn create_endpoints(addr: SocketAddr, bodies: &[Value]) -> anyhow::Result<Vec<String>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut ids = Vec::new();
    for body in bodies {
        let response = client
            .post(format!("http://{addr}/api/v1/endpoints"))
            .header("x-api-key", ADMIN_KEY)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let json: Value = response.json().await?;
        if status != 201 {
            bail!("endpoint creation failed ({status}): {json}");
        }
        ids.push(json["id"].as_str().unwrap_or_default().to_string());
    }
    Ok(ids)
}

/// Endpoint bodies for `paths` on `receiver`.
fn endpoint_bodies(
    receiver: &Receiver,
    paths: &[String],
    args: &Args,
    retry_schedule: Option<&[&str]>,
) -> Vec<Value> {
    paths
        .iter()
        .map(|p| {
            let mut body = json!({
                "url": receiver.url(p),
                "event_types": ["*"],
                "description": format!("bench {p}"),
            });
            if let Some(k) = args.endpoint_concurrency {
                body["max_concurrency"] = k.into();
            }
            if let Some(s) = retry_schedule {
                body["retry_schedule"] = json!(s);
            }
            body
        })
        .collect()
}

/// Builds the app once to create the endpoints through the API (the only
/// public way to store a sealed secret), stops it, and builds it again
/// without running it, so the caller can fill the queue before `run()`.
async fn app_with_endpoints(config: &Config, bodies: &[Value]) -> anyhow::Result<App> {
    let setup = Running::start(App::build(config.clone()).await?);
    let created = create_endpoints(setup.addr, bodies).await;
    setup.stop().await?;
    created?;
    App::build(config.clone()).await
}

fn bench_event(i: usize) -> tradehook_core::event::Event {
    Outbox::event(
        "order.filled",
        json!({
            "symbol": "BTCUSDT",
            "side": "buy",
            "qty": "0.010",
            "price": "65000.50",
            "bot_id": "bot_bench",
            "n": i,
        }),
    )
}

/// Publishes `n` events with [`PUBLISHERS`] concurrent publishers.
/// Returns how long it took.
async fn fill_queue(outbox: &Outbox, n: usize, per_event: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut results = futures::stream::iter(0..n)
        .map(|i| {
            let outbox = outbox.clone();
            async move { outbox.publish(&bench_event(i)).await }
        })
        .buffer_unordered(PUBLISHERS);
    while let Some(r) = results.next().await {
        let (_, made) = r.context("publish failed")?;
        if made != per_event {
            bail!("an event made {made} deliveries, expected {per_event}");
        }
    }
    Ok(start.elapsed())
}

async fn pending_left(store: &Store) -> anyhow::Result<bool> {
    let rows = store
        .list_deliveries(&DeliveryFilter {
            status: Some(DeliveryStatus::Pending),
            limit: 1,
            ..DeliveryFilter::default()
        })
        .await?;
    Ok(!rows.is_empty())
}

async fn count_status(store: &Store, status: DeliveryStatus) -> anyhow::Result<usize> {
    // Paged by id (newest first), 1000 at a time.
    let mut total = 0;
    let mut before = None;
    loop {
        let rows = store
            .list_deliveries(&DeliveryFilter {
                status: Some(status),
                before_id: before.clone(),
                limit: 1000,
                ..DeliveryFilter::default()
            })
            .await?;
        total += rows.len();
        match rows.last() {
            Some(last) if rows.len() == 1000 => before = Some(last.id.clone()),
            _ => return Ok(total),
        }
    }
}

/// Waits until `done` or the deadline; returns the instant it became true.
async fn wait_until<F, Fut>(timeout: Duration, every: Duration, mut done: F) -> Option<Instant>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if done().await {
            return Some(Instant::now());
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

fn paths(m: usize) -> Vec<String> {
    (0..m).map(|i| format!("/hooks/{i}")).collect()
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

// ---------------------------------------------------------------- throughput

struct ThroughputRow {
    backend: Backend,
    workers: u32,
    events: usize,
    endpoints: usize,
    publish: Duration,
    first: Duration,
    received: Option<Duration>,
    settled: Option<Duration>,
    got: usize,
    cpu: Cpu,
}

async fn throughput(args: &Args, backend: Backend, workers: u32) -> anyhow::Result<ThroughputRow> {
    let db = fresh_db(backend).await?;
    let receiver = Receiver::start_counting_only().await;
    let paths = paths(args.endpoints);
    let config = config_for(&db.url, backend, workers);
    let app = app_with_endpoints(&config, &endpoint_bodies(&receiver, &paths, args, None)).await?;
    let expected = args.events * args.endpoints;

    let publish = fill_queue(&app.state().outbox, args.events, args.endpoints).await?;

    let cpu0 = cpu_snap();
    let t0 = Instant::now();
    let running = Running::start(app);
    let timeout = Duration::from_secs(60 + (expected / 200) as u64);
    let received = wait_until(timeout, Duration::from_millis(2), || async {
        receiver.count() >= expected
    })
    .await;
    let settled = match received {
        Some(_) => {
            wait_until(timeout, Duration::from_millis(10), || async {
                !pending_left(&db.store).await.unwrap_or(true)
            })
            .await
        }
        None => None,
    };
    let wall = t0.elapsed();
    let cpu1 = cpu_snap();
    running.stop().await?;

    let requests = receiver.requests();
    let first = requests
        .iter()
        .map(|r| r.received_at)
        .min()
        .map_or(Duration::ZERO, |t| t.duration_since(t0));
    let last = requests.iter().map(|r| r.received_at).max();
    let unique: HashSet<(&str, &str)> = requests
        .iter()
        .filter(|r| (200..300).contains(&r.answered_status))
        .map(|r| (r.path.as_str(), r.webhook_id().unwrap_or("")))
        .collect();
    let cpu = cpu_use(cpu0, cpu1, wall);
    receiver.shutdown().await;
    db.cleanup().await;
    Ok(ThroughputRow {
        backend,
        workers,
        events: args.events,
        endpoints: args.endpoints,
        publish,
        first,
        received: received.and(last.map(|l| l.duration_since(t0))),
        settled: settled.map(|s| s.duration_since(t0)),
        got: unique.len(),
        cpu,
    })
}

// ---------------------------------------------------------------- latency

struct LatencyRow {
    backend: Backend,
    workers: u32,
    published: usize,
    achieved_rate: f64,
    commit_p50: Duration,
    commit_p99: Duration,
    received: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    cpu: Cpu,
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Publishes `count` events at `rate`/s, each in its own task so a slow
/// commit does not hold back the schedule. Returns (event id, instant
/// publish returned, commit duration) per event.
async fn publish_at_rate(
    outbox: &Outbox,
    count: usize,
    rate: u64,
) -> anyhow::Result<Vec<(String, Instant, Duration)>> {
    let out = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..count {
        tick.tick().await;
        let outbox = outbox.clone();
        let out = out.clone();
        tasks.spawn(async move {
            let event = bench_event(i);
            let start = Instant::now();
            outbox.publish(&event).await?;
            let committed = Instant::now();
            out.lock()
                .expect("lock")
                .push((event.id, committed, committed - start));
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("publish task panicked")?
            .context("publish failed")?;
    }
    Ok(std::mem::take(&mut *out.lock().expect("lock")))
}

async fn latency(args: &Args, backend: Backend, workers: u32) -> anyhow::Result<LatencyRow> {
    let db = fresh_db(backend).await?;
    let receiver = Receiver::start_counting_only().await;
    let paths = paths(1);
    let config = config_for(&db.url, backend, workers);
    let app = app_with_endpoints(&config, &endpoint_bodies(&receiver, &paths, args, None)).await?;
    let running = Running::start(app);
    let outbox = running.state.outbox.clone();

    // Warm-up: connections, caches, the dispatcher's endpoint state.
    let warm = publish_at_rate(&outbox, WARMUP_EVENTS, args.rate).await?;
    if wait_until(
        Duration::from_secs(30),
        Duration::from_millis(5),
        || async { receiver.count() >= warm.len() },
    )
    .await
    .is_none()
    {
        bail!("warm-up deliveries did not arrive within 30 s");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    receiver.clear();

    let count = (args.rate * args.seconds) as usize;
    let cpu0 = cpu_snap();
    let t0 = Instant::now();
    let published = publish_at_rate(&outbox, count, args.rate).await?;
    let publish_wall = t0.elapsed();
    let _ = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(5),
        || async { receiver.count() >= published.len() },
    )
    .await;
    let wall = t0.elapsed();
    let cpu1 = cpu_snap();
    running.stop().await?;

    let arrivals: HashMap<String, Instant> = receiver
        .requests()
        .into_iter()
        .filter_map(|r| Some((r.webhook_id()?.to_string(), r.received_at)))
        .collect();
    let mut latencies: Vec<Duration> = published
        .iter()
        .filter_map(|(id, committed, _)| {
            arrivals
                .get(id)
                .map(|at| at.saturating_duration_since(*committed))
        })
        .collect();
    latencies.sort();
    let mut commits: Vec<Duration> = published.iter().map(|p| p.2).collect();
    commits.sort();
    let cpu = cpu_use(cpu0, cpu1, wall);
    receiver.shutdown().await;
    db.cleanup().await;
    Ok(LatencyRow {
        backend,
        workers,
        published: published.len(),
        achieved_rate: published.len() as f64 / publish_wall.as_secs_f64(),
        commit_p50: pct(&commits, 0.5),
        commit_p99: pct(&commits, 0.99),
        received: latencies.len(),
        p50: pct(&latencies, 0.5),
        p90: pct(&latencies, 0.9),
        p99: pct(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        cpu,
    })
}

// ---------------------------------------------------------------- failures

struct FailureRow {
    backend: Backend,
    workers: u32,
    expected: usize,
    unique_ok: usize,
    requests: usize,
    failed_requests: usize,
    /// Requests for a (path, webhook-id) that had already been answered 2xx.
    duplicates: usize,
    /// Distinct (path, webhook-id) pairs sent again after a 2xx.
    duplicate_pairs: usize,
    db_failed: usize,
    db_pending: bool,
    drain: Option<Duration>,
}

impl FailureRow {
    fn ok(&self) -> bool {
        self.unique_ok == self.expected
            && self.duplicates == 0
            && self.db_failed == 0
            && !self.db_pending
            && self.drain.is_some()
    }
}

async fn failures(args: &Args, backend: Backend, workers: u32) -> anyhow::Result<FailureRow> {
    let db = fresh_db(backend).await?;
    let receiver = Receiver::start_counting_only().await;
    let paths = paths(args.endpoints);
    for (i, p) in paths.iter().enumerate() {
        receiver.set(
            p,
            Behaviour::Random {
                failure_rate: FAILURE_RATE,
                fail_status: 500,
                seed: 1000 + i as u64,
            },
        );
    }
    // 20 attempts: 0.3^20 ≈ 3.5e-11 chance that one delivery runs out.
    let mut schedule = vec!["0s"];
    schedule.extend(std::iter::repeat_n("50ms", 19));
    let config = config_for(&db.url, backend, workers);
    let app = app_with_endpoints(
        &config,
        &endpoint_bodies(&receiver, &paths, args, Some(&schedule)),
    )
    .await?;
    let expected = args.events * args.endpoints;
    fill_queue(&app.state().outbox, args.events, args.endpoints).await?;

    let t0 = Instant::now();
    let running = Running::start(app);
    let timeout = Duration::from_secs(120 + (expected / 100) as u64);
    let drained = wait_until(timeout, Duration::from_millis(20), || async {
        !pending_left(&db.store).await.unwrap_or(true)
    })
    .await;
    running.stop().await?;

    let requests = receiver.requests();
    // Per (path, webhook-id): was a 2xx answered yet, and requests after it.
    let mut ok: HashSet<(String, String)> = HashSet::new();
    let mut duplicates = 0;
    let mut duplicated: HashSet<(String, String)> = HashSet::new();
    let mut failed_requests = 0;
    for r in &requests {
        let key = (r.path.clone(), r.webhook_id().unwrap_or("").to_string());
        if ok.contains(&key) {
            duplicates += 1;
            duplicated.insert(key);
        } else if (200..300).contains(&r.answered_status) {
            ok.insert(key);
        } else {
            failed_requests += 1;
        }
    }
    let db_failed = count_status(&db.store, DeliveryStatus::Failed).await?;
    let db_pending = pending_left(&db.store).await?;
    receiver.shutdown().await;
    db.cleanup().await;
    Ok(FailureRow {
        backend,
        workers,
        expected,
        unique_ok: ok.len(),
        requests: requests.len(),
        failed_requests,
        duplicates,
        duplicate_pairs: duplicated.len(),
        db_failed,
        db_pending,
        drain: drained.map(|d| d.duration_since(t0)),
    })
}

// ---------------------------------------------------------------- main

/// Warnings (and errors) logged by tradehook's own crates, counted per
/// run: "could not record delivery attempts", "delivery round failed".
static WARNINGS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct WarnCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarnCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target().starts_with("tradehook") {
            WARNINGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

fn take_warnings() -> usize {
    WARNINGS.swap(0, std::sync::atomic::Ordering::Relaxed)
}

fn main() -> std::process::ExitCode {
    let args = parse_args();
    // As typed: `cargo bench` adds `--bench` and runs the binary itself.
    let user_args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let command = format!(
        "cargo bench -p tradehook-server --bench delivery_load --{}{}",
        if user_args.is_empty() { "" } else { " " },
        user_args.join(" ")
    );
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        use tracing_subscriber::{EnvFilter, Layer as _, filter::LevelFilter};
        let filter = std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".to_string());
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(EnvFilter::new(filter)),
            )
            .with(WarnCounter.with_filter(LevelFilter::WARN))
            .try_init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(args, command))
}

async fn run(args: Args, command: String) -> std::process::ExitCode {
    let profile = if cfg!(debug_assertions) {
        "debug (unoptimised: numbers are not representative)"
    } else {
        "release"
    };
    eprintln!("delivery_load: {command}");

    let mut backends = Vec::new();
    let mut notices = Vec::new();
    for b in &args.backends {
        if *b == Backend::Postgres && postgres_base_url("delivery_load").await.is_none() {
            notices.push(
                "PostgreSQL skipped: not reachable (set TRADEHOOK_TEST_POSTGRES_URL)".to_string(),
            );
            continue;
        }
        backends.push(*b);
    }

    let mut tp = Vec::new();
    let mut lat = Vec::new();
    let mut fail = Vec::new();
    let mut errors = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for &backend in &backends {
        for &workers in &args.workers {
            for scenario in &args.scenarios {
                let label = format!("{scenario:?} {} workers={workers}", backend.name());
                eprintln!("running {label} ...");
                take_warnings();
                let result = match scenario {
                    Scenario::Throughput => throughput(&args, backend, workers).await.map(|r| {
                        eprintln!(
                            "  -> {} / {} delivered, {}",
                            r.got,
                            r.events * r.endpoints,
                            r.received
                                .map(|d| format!(
                                    "{:.0} deliveries/s",
                                    (r.events * r.endpoints) as f64 / d.as_secs_f64()
                                ))
                                .unwrap_or_else(|| "TIMED OUT".into())
                        );
                        tp.push(r)
                    }),
                    Scenario::Latency => latency(&args, backend, workers).await.map(|r| {
                        eprintln!(
                            "  -> p50 {} ms, p99 {} ms ({} / {} received)",
                            ms(r.p50),
                            ms(r.p99),
                            r.received,
                            r.published
                        );
                        lat.push(r)
                    }),
                    Scenario::Failures => failures(&args, backend, workers).await.map(|r| {
                        eprintln!(
                            "  -> {} / {} delivered, {} requests, {} duplicates",
                            r.unique_ok, r.expected, r.requests, r.duplicates
                        );
                        fail.push(r)
                    }),
                };
                if let Err(e) = result {
                    eprintln!("  -> ERROR: {e:#}");
                    errors.push(format!("{label}: {e:#}"));
                }
                let warned = take_warnings();
                if warned > 0 {
                    warnings.push(format!(
                        "{label}: {warned} WARN/ERROR lines from tradehook (see stderr)"
                    ));
                }
            }
        }
    }

    // ------------------------------------------------------------ report
    let mut out = String::new();
    let _ = writeln!(out, "\n===== tradehook delivery load =====");
    let _ = writeln!(out, "command:  {command}");
    let _ = writeln!(
        out,
        "machine:  {} cores ({}), {}",
        nproc(),
        cpu_model(),
        std::env::consts::ARCH
    );
    let _ = writeln!(
        out,
        "build:    {profile}{}",
        if args.quick {
            ", --quick (smoke run)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "settings: delivery.concurrency=256/worker, per-endpoint max_concurrency={}, poll_interval={POLL_INTERVAL_MS}ms, \
         pool={SQLITE_MAX_CONNECTIONS} (sqlite) / {PG_MAX_CONNECTIONS} (postgres), queue filled by {PUBLISHERS} concurrent publishers",
        args.endpoint_concurrency
            .map_or("8 (default)".to_string(), |k| k.to_string())
    );
    for n in &notices {
        let _ = writeln!(out, "NOTICE:   {n}");
    }

    if !tp.is_empty() {
        let _ = writeln!(
            out,
            "\n-- throughput: N events x M endpoints queued before run(), receiver included (target >= 5000/s on postgres)"
        );
        let _ = writeln!(
            out,
            "{:<9} {:>3} {:>6} {:>3} {:>7} | {:>9} {:>8} | {:>7} {:>8} {:>10} | {:>8} {:>10} | cpu app/db/other",
            "backend",
            "wrk",
            "events",
            "M",
            "deliv",
            "publish",
            "events/s",
            "first",
            "all recv",
            "deliv/s",
            "settled",
            "deliv/s(db)",
        );
        for r in &tp {
            let total = r.events * r.endpoints;
            let rate = |d: Option<Duration>| {
                d.map_or("TIMEOUT".to_string(), |d| {
                    format!("{:.0}", total as f64 / d.as_secs_f64())
                })
            };
            let _ = writeln!(
                out,
                "{:<9} {:>3} {:>6} {:>3} {:>7} | {:>9} {:>8.0} | {:>7} {:>8} {:>10} | {:>8} {:>10} | {}{}",
                r.backend.name(),
                r.workers,
                r.events,
                r.endpoints,
                total,
                secs(r.publish),
                r.events as f64 / r.publish.as_secs_f64(),
                secs(r.first),
                r.received.map_or("TIMEOUT".into(), secs),
                rate(r.received),
                r.settled.map_or("TIMEOUT".into(), secs),
                rate(r.settled),
                r.cpu.show(),
                if r.got == total {
                    ""
                } else {
                    "  MISSING DELIVERIES"
                }
            );
        }
        let _ = writeln!(
            out,
            "  first/all recv/settled: from run() to the first arrival, the last arrival, and no delivery pending in the db.\n  \
             cpu app/db/other: cores used during the run by this process (app + receiver) / PostgreSQL processes / anything else\n  \
             (\"other\" is load outside the benchmark, e.g. a compile: it makes the numbers worse than they are)."
        );
    }
    if !lat.is_empty() {
        let _ = writeln!(
            out,
            "\n-- latency: commit -> receiver, 1 endpoint, {} events/s for {} s (target p50 <= 2 ms, p99 <= 20 ms)",
            args.rate, args.seconds
        );
        let _ = writeln!(
            out,
            "{:<9} {:>3} {:>6} {:>8} {:>12} | {:>6} | {:>7} {:>7} {:>7} {:>7} | cpu app/db/other",
            "backend",
            "wrk",
            "events",
            "rate",
            "commit50/99",
            "recv",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
        );
        for r in &lat {
            let _ = writeln!(
                out,
                "{:<9} {:>3} {:>6} {:>8.0} {:>12} | {:>6} | {:>7} {:>7} {:>7} {:>7} | {}{}",
                r.backend.name(),
                r.workers,
                r.published,
                r.achieved_rate,
                format!("{}/{}", ms(r.commit_p50), ms(r.commit_p99)),
                r.received,
                ms(r.p50),
                ms(r.p90),
                ms(r.p99),
                ms(r.max),
                r.cpu.show(),
                if r.received == r.published {
                    ""
                } else {
                    "  MISSING"
                }
            );
        }
        let _ = writeln!(
            out,
            "  commit50/99: publish() duration in ms (the commit); rate: events/s actually published; cpu as above."
        );
    }
    if !fail.is_empty() {
        let _ = writeln!(
            out,
            "\n-- failures: receiver fails {:.0}% at random (500), retry_schedule 0s + 19 x 50ms",
            FAILURE_RATE * 100.0
        );
        let _ = writeln!(
            out,
            "{:<9} {:>3} {:>8} {:>9} {:>9} {:>8} {:>11} {:>9} {:>8} | verdict",
            "backend",
            "wrk",
            "expected",
            "unique2xx",
            "requests",
            "500s",
            "dups/pairs",
            "db failed",
            "drain",
        );
        for r in &fail {
            let _ = writeln!(
                out,
                "{:<9} {:>3} {:>8} {:>9} {:>9} {:>8} {:>11} {:>9} {:>8} | {}",
                r.backend.name(),
                r.workers,
                r.expected,
                r.unique_ok,
                r.requests,
                r.failed_requests,
                format!("{}/{}", r.duplicates, r.duplicate_pairs),
                r.db_failed,
                r.drain.map_or("TIMEOUT".into(), secs),
                if r.ok() {
                    "ok".to_string()
                } else {
                    format!(
                        "FAIL: {} missing, {} duplicate requests ({} deliveries), {} failed, pending left: {}",
                        r.expected.saturating_sub(r.unique_ok),
                        r.duplicates,
                        r.duplicate_pairs,
                        r.db_failed,
                        r.db_pending
                    )
                }
            );
        }
    }
    if !fail.is_empty() {
        let _ = writeln!(
            out,
            "  dups/pairs: requests for a (path, webhook-id) already answered 2xx / distinct such deliveries (both should be 0)."
        );
    }
    for w in &warnings {
        let _ = writeln!(out, "\nwarnings: {w}");
    }
    let mut failed = !errors.is_empty();
    for e in &errors {
        let _ = writeln!(out, "\nERROR {e}");
    }
    for r in &tp {
        if r.got != r.events * r.endpoints || r.received.is_none() || r.settled.is_none() {
            failed = true;
            let _ = writeln!(
                out,
                "\nFAIL throughput {} workers={}: {} of {} deliveries arrived",
                r.backend.name(),
                r.workers,
                r.got,
                r.events * r.endpoints
            );
        }
    }
    for r in &lat {
        if r.received != r.published {
            failed = true;
            let _ = writeln!(
                out,
                "\nFAIL latency {} workers={}: {} of {} events arrived within 30 s",
                r.backend.name(),
                r.workers,
                r.received,
                r.published
            );
        }
    }
    for r in &fail {
        if !r.ok() {
            failed = true;
            let _ = writeln!(
                out,
                "\nFAIL failures {} workers={}: {} of {} delivered with a 2xx, {} duplicates, {} failed in the db, pending left: {}",
                r.backend.name(),
                r.workers,
                r.unique_ok,
                r.expected,
                r.duplicates,
                r.db_failed,
                r.db_pending
            );
        }
    }
    let _ = writeln!(out, "\nresult: {}", if failed { "FAIL" } else { "ok" });
    println!("{out}");
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
