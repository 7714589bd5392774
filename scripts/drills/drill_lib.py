"""Shared pieces of the drills in scripts/drills/ (Python 3 stdlib only).

- `Drill`: collects checks and prints the pass/fail summary; `finish()`
  returns the exit code (0 only if every check passed).
- PostgreSQL through `psql` (a fresh `drill_<random>` database per drill).
- `Replica`: one `tradehook serve` process with its own port and log.
- `Api`: a small JSON client for the HTTP API.
- `Receiver`: an HTTP server that records every webhook it gets
  (`webhook-id`, the body's `id`, the arrival time, whether the Standard
  Webhooks signature verifies) and can be stopped and restarted on the
  same port, or made to answer 500.
- `write_replay`: a JSONL replay file of 1m candles (seeded random walk).
"""

import base64
import hashlib
import hmac
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PG_HOST = os.environ.get("DRILL_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("DRILL_PG_PORT", "5432")
PG_USER = os.environ.get("DRILL_PG_USER", "postgres")
ADMIN_KEY = "drill-admin-" + secrets.token_hex(8)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ci_mode():
    return os.environ.get("DRILL_CI", "") not in ("", "0", "false")


# ---------------------------------------------------------------- checks


class Drill:
    def __init__(self, name):
        self.name = name
        self.checks = []  # (name, ok, detail)
        self.counts = {}
        self.started = time.time()
        self.cleanups = []

    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))
        log(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        return ok

    def count(self, key, value):
        self.counts[key] = value

    def on_exit(self, fn):
        self.cleanups.append(fn)

    def cleanup(self):
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception as e:  # cleanup must go on
                log(f"cleanup step failed: {e!r}")

    def finish(self):
        self.cleanup()
        passed = sum(1 for _, ok, _ in self.checks if ok)
        failed = len(self.checks) - passed
        secs = time.time() - self.started
        print()
        print(f"==== drill {self.name}: {'PASS' if failed == 0 and self.checks else 'FAIL'}"
              f" ({passed} passed, {failed} failed, {secs:.0f} s)")
        for k, v in self.counts.items():
            print(f"  {k}: {v}")
        for name, ok, detail in self.checks:
            print(f"  [{'ok' if ok else 'FAIL'}] {name}{' — ' + detail if detail else ''}")
        print(flush=True)
        return 0 if failed == 0 and self.checks else 1


def run_drill(name, body):
    """Runs `body(drill)` and exits with the drill's code; an exception is
    a failed check, and cleanups always run."""
    d = Drill(name)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        body(d)
    except KeyboardInterrupt as e:
        d.check("drill ran to the end", False, f"interrupted ({e})")
    except Exception as e:
        import traceback
        traceback.print_exc()
        d.check("drill ran to the end", False, f"{type(e).__name__}: {e}")
    sys.exit(d.finish())


# ---------------------------------------------------------------- binary


def binary():
    b = os.environ.get("TRADEHOOK_BIN")
    if b:
        if not os.access(b, os.X_OK):
            raise RuntimeError(f"TRADEHOOK_BIN={b} is not executable")
        return b
    built = os.path.join(REPO, "target", "release", "tradehook")
    if not os.environ.get("DRILL_NO_BUILD"):
        log("building the release binary (cargo build --release -p tradehook-server)")
        subprocess.run(["cargo", "build", "--release", "-p", "tradehook-server"],
                       cwd=REPO, check=True)
    if not os.access(built, os.X_OK):
        raise RuntimeError(f"no binary at {built}; set TRADEHOOK_BIN")
    return built


# ---------------------------------------------------------------- PostgreSQL


def psql(sql, db="postgres", timeout=60):
    """Rows of a query as lists of strings (`psql -tA`, `|`-separated)."""
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", db,
         "-v", "ON_ERROR_STOP=1", "-X", "-q", "-tA", "-c", sql],
        capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()} (sql: {sql[:200]})")
    return [line.split("|") for line in out.stdout.splitlines() if line != ""]


def psql_value(sql, db):
    rows = psql(sql, db)
    return rows[0][0] if rows else None


def pg_ready():
    try:
        psql("SELECT 1")
        return True
    except Exception:
        return False


def create_database(d):
    name = "drill_" + secrets.token_hex(6)
    psql(f"CREATE DATABASE {name}")
    log(f"created database {name}")

    def drop():
        if os.environ.get("DRILL_KEEP_DB"):
            log(f"keeping database {name} (DRILL_KEEP_DB)")
            return
        for _ in range(30):
            if pg_ready():
                break
            time.sleep(1)
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        log(f"dropped database {name}")

    d.on_exit(drop)
    return name, f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


# ---------------------------------------------------------------- processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workdir(d, name):
    path = tempfile.mkdtemp(prefix=f"drill-{name}-")
    keep = os.environ.get("DRILL_KEEP_LOGS")

    def rm():
        if keep:
            log(f"logs kept in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)

    d.on_exit(rm)
    return path


SECRETS_KEY = base64.b64encode(os.urandom(32)).decode()


def base_env(db_url, extra=None):
    """The child's environment: ours without any TRADEHOOK_* variable (an
    unknown one stops the start, and TRADEHOOK_BIN is not a key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEHOOK_")}
    env.update({
        "TRADEHOOK_DATABASE_URL": db_url,
        "TRADEHOOK_ADMIN_KEY": ADMIN_KEY,
        "TRADEHOOK_SECRETS_KEY": SECRETS_KEY,
        "TRADEHOOK_LOG_FORMAT": "json",
        "TRADEHOOK_LOG": "info",
        "TRADEHOOK_DELIVERY_ALLOW_HTTP": "true",
        "TRADEHOOK_DELIVERY_ALLOW_NETWORKS": "127.0.0.1/32",
        "TRADEHOOK_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "0",
        "TRADEHOOK_RATE_LIMIT_ADMIN_PER_MINUTE": "100000",
        "TRADEHOOK_DELIVERY_LEASE_SECS": "10",
        "TRADEHOOK_DELIVERY_REQUEST_TIMEOUT_SECS": "5",
        "TRADEHOOK_DELIVERY_CONNECT_TIMEOUT_SECS": "2",
        "TRADEHOOK_DELIVERY_RETRY_SCHEDULE": "0s,1s,2s,4s,8s,10s,10s,10s,10s,10s,10s,10s,10s,10s,10s",
        "TRADEHOOK_MARKET_SOURCE": "none",
        "TRADEHOOK_MARKET_SYMBOLS": "BTC,ETH,SOL",
        "TRADEHOOK_MARKET_INTERVALS": "1m",
    })
    if extra:
        env.update(extra)
    return env


class Replica:
    """One `tradehook serve`; `start` again after `kill9` reuses the port."""

    def __init__(self, name, bin_path, env, logdir, args=None):
        self.name = name
        self.bin = bin_path
        self.port = free_port()
        self.env = dict(env, TRADEHOOK_LISTEN=f"127.0.0.1:{self.port}")
        self.logdir = logdir
        self.args = args or []
        self.proc = None
        self.starts = 0
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, wait=True, timeout=60):
        self.starts += 1
        logf = open(os.path.join(self.logdir, f"{self.name}.log"), "ab")
        logf.write(f"\n==== start {self.starts} at {time.time():.3f}\n".encode())
        logf.flush()
        self.proc = subprocess.Popen([self.bin, "serve", *self.args], env=self.env,
                                     stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; "
                                   f"see {self.logdir}/{self.name}.log")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout} s")

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log_text(self):
        try:
            with open(os.path.join(self.logdir, f"{self.name}.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


# ---------------------------------------------------------------- HTTP


def http(method, url, body=None, headers=None, timeout=10):
    """(status, parsed JSON or text, headers); status 0 on a network error."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("content-type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status, rh = r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        raw, status, rh = e.read(), e.code, dict(e.headers)
    except Exception as e:
        return 0, str(e), {}
    try:
        return status, json.loads(raw), rh
    except Exception:
        return status, raw.decode(errors="replace"), rh


class Api:
    def __init__(self, base, key=ADMIN_KEY):
        self.base = base
        self.key = key

    def call(self, method, path, body=None, ok=(200, 201)):
        status, data, _ = http(method, self.base + path, body, {"X-API-Key": self.key})
        if ok and status not in ok:
            raise RuntimeError(f"{method} {path} -> {status}: {data}")
        return data

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, body):
        return self.call("POST", path, body)


def setup_trading(api, symbols=("BTCUSD",), cash=1e9):
    """A paper account with plenty of cash and a bot trading fixed sizes."""
    acct = api.post("/api/v1/broker-accounts",
                    {"name": "drill-paper-" + secrets.token_hex(3), "kind": "paper",
                     "starting_cash": cash})
    bot = api.post("/api/v1/bots", {
        "name": "drill-bot-" + secrets.token_hex(3),
        "broker_account_id": acct["id"],
        "allowed_symbols": list(symbols),
        "settings": {"sizing_mode": "fixed_qty", "fixed_qty": 0.001},
    })
    return acct, bot


def signal_body(n, run_id):
    """A TradersPost `add`: always exactly one market entry order."""
    return {"ticker": "BTCUSD", "action": "add", "sentiment": "bullish",
            "quantity": 0.001, "quantityType": "fixed_quantity",
            "signal_id": f"drill-{run_id}-{n}"}


def metric_value(base, name):
    """Sum of a Prometheus metric's samples (0 when absent)."""
    status, text, _ = http("GET", base + "/metrics")
    if status != 200 or not isinstance(text, str):
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
            try:
                total += float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return total


# ---------------------------------------------------------------- receiver


def verify_standard_webhook(secret, msg_id, ts, body, sig_header):
    if not secret or not secret.startswith("whsec_"):
        return False
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    want = base64.b64encode(mac).decode()
    for part in (sig_header or "").split():
        version, _, sig = part.partition(",")
        if version == "v1" and hmac.compare_digest(sig, want):
            return True
    return False


class Receiver:
    """Records webhooks on 127.0.0.1:port. `mode` is 'ok' or 'fail' (500).
    `secret` (per path prefix `/ep/<name>`) verifies signatures."""

    def __init__(self, name, mode="ok", port=None):
        self.name = name
        self.mode = mode
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.requests = []  # dicts: wid, body_id, type, at, sig_ok, status
        self.secret = None
        self.server = None
        self.thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/ep/{self.name}"

    def start(self):
        recv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n)
                at = time.time()
                wid = self.headers.get("webhook-id")
                try:
                    parsed = json.loads(body)
                except Exception:
                    parsed = {}
                sig_ok = verify_standard_webhook(
                    recv.secret, wid, self.headers.get("webhook-timestamp"), body,
                    self.headers.get("webhook-signature"))
                status = 200 if recv.mode == "ok" else 500
                with recv.lock:
                    recv.requests.append({
                        "wid": wid, "body_id": parsed.get("id"), "type": parsed.get("type"),
                        "at": at, "sig_ok": sig_ok, "status": status})
                out = b'{"ok":true}' if status == 200 else b'{"error":"drill"}'
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        ThreadingHTTPServer.allow_reuse_address = True
        ThreadingHTTPServer.daemon_threads = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def ok_ids(self):
        return {r["wid"] for r in self.snapshot() if r["status"] == 200}


def webhook_dup_report(reqs):
    """(duplicates, mismatches): extra 200-answered copies of a webhook-id,
    and requests whose webhook-id is not the body's event id."""
    seen = {}
    mismatches = 0
    for r in reqs:
        if r["status"] != 200:
            continue
        if r["wid"] != r["body_id"]:
            mismatches += 1
        seen[r["wid"]] = seen.get(r["wid"], 0) + 1
    dups = sum(c - 1 for c in seen.values() if c > 1)
    return dups, mismatches


def create_endpoint(api, receiver, event_types=("*",), retry_schedule=None, **extra):
    body = {"url": receiver.url, "event_types": list(event_types),
            "description": f"drill {receiver.name}"}
    if retry_schedule:
        body["retry_schedule"] = retry_schedule
    body.update(extra)
    ep = api.post("/api/v1/endpoints", body)
    receiver.secret = ep["secret"]
    return ep


def delivery_check(d, db, endpoint_id, receiver, label):
    """Every delivery of the endpoint reached the receiver (200) at least
    once; duplicates carry the event's id as webhook-id."""
    rows = psql(f"SELECT event_id, status FROM deliveries WHERE endpoint_id = '{endpoint_id}'", db)
    event_ids = {r[0] for r in rows}
    statuses = {}
    for r in rows:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    got = receiver.ok_ids()
    missing = event_ids - got
    reqs = receiver.snapshot()
    dups, mism = webhook_dup_report(reqs)
    bad_sig = sum(1 for r in reqs if not r["sig_ok"])
    d.count(f"{label}: deliveries in DB", f"{len(rows)} {statuses}")
    d.count(f"{label}: requests received", len(reqs))
    d.count(f"{label}: duplicate deliveries (same webhook-id)", dups)
    d.check(f"{label}: every delivery reached the receiver", len(rows) > 0 and not missing,
            f"{len(event_ids) - len(missing)}/{len(event_ids)} event ids received"
            + (f", missing e.g. {sorted(missing)[:3]}" if missing else ""))
    d.check(f"{label}: duplicates carry the same webhook-id (= event id)", mism == 0,
            f"{dups} duplicates, {mism} with a different webhook-id")
    d.check(f"{label}: every request signed correctly", bad_sig == 0,
            f"{bad_sig} of {len(reqs)} bad signatures")
    return missing


# ---------------------------------------------------------------- replay


def write_replay(path, symbols, n, start_ms, seed=7):
    """n 1m candles per symbol from start_ms; returns {symbol: [(t, close)]}."""
    rng = random.Random(seed)
    base = {"BTC": 98000.0, "ETH": 3500.0, "SOL": 150.0}
    out = {}
    with open(path, "w") as f:
        for s in symbols:
            px = base.get(s, 100.0)
            rows = []
            for i in range(n):
                t = start_ms + i * 60_000
                o = px
                c = round(max(0.01, o * (1 + rng.gauss(0, 0.002))), 2)
                h = round(max(o, c) * (1 + abs(rng.gauss(0, 0.0005))), 2)
                low = round(min(o, c) * (1 - abs(rng.gauss(0, 0.0005))), 2)
                f.write(json.dumps({"type": "candle", "symbol": s, "interval": "1m", "t": t,
                                    "o": o, "h": h, "l": low, "c": c,
                                    "v": round(rng.uniform(1, 50), 3), "n": rng.randint(1, 99)})
                        + "\n")
                rows.append((t, c))
                px = c
            out[s] = rows
    return out


def replay_start_ms(n):
    """Candle times ending an hour ago (inside every retention window)."""
    now = int(time.time() * 1000)
    return (now // 60_000) * 60_000 - (n + 60) * 60_000


def create_close_rules(api, candles):
    """Per symbol: a rule firing on every closed 1m candle (close > 0) and
    one firing on those above the median close. Returns the expected
    alerts {(rule_id, window_start)}."""
    expected = set()
    rules = []
    for sym, rows in candles.items():
        closes = sorted(c for _, c in rows)
        median = closes[len(closes) // 2]
        for name, value in (("all", 0.001), ("above-median", median)):
            r = api.post("/api/v1/rules", {
                "name": f"drill {sym} {name}", "symbol": sym, "rule_type": "candle_close",
                "config": {"interval": "1m", "operator": ">", "value": value},
                "frequency": "once_per_bar", "cooldown_seconds": 0, "enabled": True})
            rules.append(r["id"])
            for t, c in rows:
                if c > value:
                    expected.add((r["id"], t))
    return rules, expected


def alert_check(d, db, expected):
    rows = psql("SELECT rule_id, window_start, count(*) FROM alerts "
                "GROUP BY rule_id, window_start", db)
    got = {}
    for rule, ws, n in rows:
        got[(rule, int(ws))] = int(n)
    missing = [k for k in expected if k not in got]
    dup = [k for k, n in got.items() if n > 1]
    unexpected = [k for k in got if k not in expected]
    total = int(psql_value("SELECT count(*) FROM alerts", db) or 0)
    d.count("expected alerts (from the replay file)", len(expected))
    d.count("alerts in DB", total)
    d.check("each expected alert exists exactly once",
            not missing and not dup and not unexpected,
            f"{len(missing)} missing, {len(dup)} duplicated, {len(unexpected)} unexpected")
    return len(missing)


def alerts_count(db):
    return int(psql_value("SELECT count(*) FROM alerts", db) or 0)


class SignalSender(threading.Thread):
    """Posts TradersPost signals at `rate` per second to the replicas'
    intake (round robin, skipping dead ones). A 503 or a network error is
    retried like TradingView does (up to 3 resends, 1 s apart) with the
    same body; only a 2xx counts as accepted."""

    def __init__(self, targets, token, run_id, rate, retries=3):
        super().__init__(daemon=True)
        self.targets = targets  # callable -> list of base URLs
        self.token = token
        self.run_id = run_id
        self.rate = rate
        self.retries = retries
        self.stop_flag = threading.Event()
        self.accepted = {}  # our signal_id -> tradehook sig id
        self.refused = []  # (n, status)
        self.statuses = {}
        self.sent = 0
        self.lock = threading.Lock()

    def run(self):
        n = 0
        next_at = time.time()
        while not self.stop_flag.is_set():
            n += 1
            body = signal_body(n, self.run_id)
            threading.Thread(target=self.send_one, args=(n, body), daemon=True).start()
            next_at += 1.0 / self.rate
            delay = next_at - time.time()
            if delay > 0:
                self.stop_flag.wait(delay)

    def send_one(self, n, body):
        status = 0
        for attempt in range(self.retries + 1):
            targets = self.targets()
            if not targets:
                time.sleep(1)
                continue
            base = targets[(n + attempt) % len(targets)]
            status, data, _ = http("POST", f"{base}/hooks/tradingview/{self.token}", body,
                                   timeout=10)
            with self.lock:
                self.sent += 1
                self.statuses[status] = self.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                with self.lock:
                    self.accepted[body["signal_id"]] = data.get("signal_id")
                return
            if status not in (0, 500, 502, 503):
                break
            time.sleep(1)
        with self.lock:
            self.refused.append((n, status))

    def stop(self):
        self.stop_flag.set()
        time.sleep(12)  # let in-flight sends and their resends finish


def order_check(d, db, sender):
    accepted = dict(sender.accepted)
    ids = set(accepted.values())
    rows = psql("SELECT signal_id, count(*) FROM orders WHERE signal_id IS NOT NULL "
                "GROUP BY signal_id", db)
    per_signal = {r[0]: int(r[1]) for r in rows}
    no_order = [s for s in ids if per_signal.get(s, 0) == 0]
    several = [s for s in ids if per_signal.get(s, 0) > 1]
    stored = psql("SELECT parsed FROM signals", db)
    d.count("signals sent (requests incl. resends)", sender.sent)
    d.count("intake answers by status", dict(sorted(sender.statuses.items())))
    d.count("signals accepted (2xx)", len(accepted))
    d.count("signals never accepted", len(sender.refused))
    d.count("signal rows in DB", len(stored))
    d.count("orders in DB", sum(per_signal.values()))
    d.check("each accepted signal has exactly one order",
            len(ids) > 0 and not no_order and not several,
            f"{len(ids)} accepted, {len(no_order)} without an order, {len(several)} with more")
    return len(no_order)


def pending_jobs(db):
    return int(psql_value("SELECT count(*) FROM jobs WHERE status = 'pending'", db) or 0)


def wait_until(pred, timeout, every=1.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return True
        except Exception:
            pass
        time.sleep(every)
    try:
        return bool(pred())
    except Exception:
        return False


def replay_scenario(d, binp, url, wd, n, replay_secs):
    """The replayed-feed set-up shared by drills: a replay file of n 1m
    candles for BTC, ETH and SOL lasting about replay_secs, candle-close
    rules, a receiver with an endpoint for every event, and a paper bot,
    all made through a feedless replica that is then stopped. Returns
    (rules, expected alerts, receiver, endpoint, bot, env for replicas
    that play the replay, speed)."""
    replay = os.path.join(wd, "replay.jsonl")
    candles = write_replay(replay, ["BTC", "ETH", "SOL"], n, replay_start_ms(n))
    speed = n * 60 / replay_secs
    setup = Replica("setup", binp, base_env(url), wd).start()
    api = Api(setup.url)
    rules, expected = create_close_rules(api, candles)
    recv = Receiver("main").start()
    d.on_exit(recv.stop)
    ep = create_endpoint(api, recv, ["*"])
    _, bot = setup_trading(api)
    setup.stop()
    env = base_env(url, {
        "TRADEHOOK_MARKET_SOURCE": "replay",
        "TRADEHOOK_MARKET_REPLAY_FILE": replay,
        "TRADEHOOK_MARKET_REPLAY_SPEED": f"{speed:.3f}",
    })
    return rules, expected, recv, ep, bot, env, speed
