#!/usr/bin/env python3
"""TradingView intake benchmark (issue #6), run by scripts/bench/intake.sh.

For each backend (SQLite in a temp dir, then PostgreSQL in a fresh
database) it starts the release `tradehook serve` with a replay feed that
gives BTC a price, creates a paper account and one bot per phase through
the REST API (sizing_mode fixed_qty), and drives
POST /hooks/tradingview/{token} with scripts/bench/intake-load (every body
has its own signal_id, so none is a duplicate):

  light  constant 100 signals/s (ack latency and signal->fill at low load)
  rate   constant 1,000 signals/s, wrk2-style (ack p50/p99, signal->fill)
  max    closed loop, several connections (durable acks per second)

A durable ack is a 200 with "duplicate":false; the answer is sent only
after the signal, its job and its event are committed. After each run the
accepted count is checked against the signals stored (nothing answered 200
may be missing). Signal->fill is orders.updated_at (the row set to
`filled`) minus signals.received_at, read from the database after the
worker caught up (millisecond timestamps).

Usage: python3 scripts/bench/intake.py [--backends sqlite,postgres]
       [--max-duration 15] [--connections 32] [--rate-duration 20] [--quick]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("BENCH_TRADEHOOK_BIN") or os.path.join(ROOT, "target", "release", "tradehook")
LOAD = os.path.join(ROOT, "target", "intake-load", "release", "intake-load")
ADMIN = "bench-admin-key"
PG_BASE = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method,
        headers={"X-API-Key": ADMIN, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def start(db_url, workdir, extra_env):
    port = free_port()
    prices = os.path.join(workdir, "prices.jsonl")
    with open(prices, "w") as f:
        now = int(time.time() * 1000)
        f.write(json.dumps({"type": "tick", "symbol": "BTC", "ts": now, "price": "98500.5"}) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEHOOK_")}
    env.update(
        TRADEHOOK_DATABASE_URL=db_url,
        TRADEHOOK_LISTEN=f"127.0.0.1:{port}",
        TRADEHOOK_ADMIN_KEY=ADMIN,
        TRADEHOOK_LOG="warn",
        TRADEHOOK_LOG_FORMAT="json",
        TRADEHOOK_SECRETS_KEY="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        # One tick gives BTC a price; no live market connection.
        TRADEHOOK_MARKET_SOURCE="replay",
        TRADEHOOK_MARKET_REPLAY_FILE=prices,
        TRADEHOOK_MARKET_REPLAY_SPEED="0",
        TRADEHOOK_MARKET_SYMBOLS="BTC",
        # Every request comes from one address.
        TRADEHOOK_RATE_LIMIT_ANONYMOUS_PER_MINUTE="0",
        TRADEHOOK_RATE_LIMIT_ADMIN_PER_MINUTE="1000000000",
    )
    env.update(extra_env)
    log = open(os.path.join(workdir, "server.log"), "w")
    proc = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    t0 = time.time()
    while True:
        if proc.poll() is not None:
            sys.exit(f"tradehook exited with {proc.returncode}; see {workdir}/server.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except Exception:
            pass
        if time.time() - t0 > 60:
            sys.exit("not ready after 60 s")
        time.sleep(0.05)
    # Wait until the replayed tick is in the price cache.
    while True:
        status, body = api(port, "GET", "/api/v1/prices")
        if status == 200 and "BTC" in json.dumps(body):
            break
        if time.time() - t0 > 60:
            sys.exit(f"no BTC price after 60 s: {body}")
        time.sleep(0.05)
    return proc, port


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_bot(port, account_id, name):
    status, bot = api(port, "POST", "/api/v1/bots", {
        "name": name,
        "broker_account_id": account_id,
        "allowed_symbols": ["BTCUSD"],
        "settings": {"sizing_mode": "fixed_qty", "fixed_qty": 0.0001},
    })
    assert status == 201, bot
    return bot


def load(port, token, mode, duration, warmup, connections, rate, prefix):
    cmd = [LOAD, "--addr", f"127.0.0.1:{port}", "--path", f"/hooks/tradingview/{token}",
           "--mode", mode, "--duration", str(duration), "--warmup", str(warmup),
           "--connections", str(connections), "--rate", str(rate), "--prefix", prefix]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    if out.stderr.strip():
        print(out.stderr.strip(), file=sys.stderr)
    return json.loads(out.stdout)


class Db:
    """Reads the benchmark's database directly (sqlite3 / psql)."""

    def __init__(self, kind, target):
        self.kind, self.target = kind, target

    def query(self, sql):
        if self.kind == "sqlite":
            cmd = ["sqlite3", "-readonly", "-separator", "|", self.target, sql]
        else:
            cmd = ["psql", "-X", "-q", "-t", "-A", "-F", "|", self.target, "-c", sql]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return [line.split("|") for line in out.strip().splitlines() if line]

    def scalar(self, sql):
        rows = self.query(sql)
        return int(rows[0][0]) if rows else 0


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = max(1, min(len(sorted_values), -(-len(sorted_values) * p // 100)))
    return sorted_values[int(i) - 1]


def fills(db, bot_id, expected, timeout):
    """Waits until `expected` entry orders of the bot are filled (or the
    timeout), then returns signal->fill statistics in ms."""
    t0 = time.time()
    q_filled = (f"SELECT COUNT(*) FROM orders WHERE bot_id = '{bot_id}' "
                "AND leg = 'entry' AND status = 'filled'")
    filled = 0
    while time.time() - t0 < timeout:
        filled = db.scalar(q_filled)
        if filled >= expected:
            break
        time.sleep(0.5)
    waited = time.time() - t0
    rows = db.query(
        "SELECT o.updated_at - s.received_at FROM orders o JOIN signals s ON s.id = o.signal_id "
        f"WHERE o.bot_id = '{bot_id}' AND o.leg = 'entry' AND o.status = 'filled'")
    lat = sorted(int(r[0]) for r in rows)
    rejected = db.scalar(f"SELECT COUNT(*) FROM signals WHERE bot_id = '{bot_id}' "
                         "AND status NOT IN ('executed', 'accepted', 'executing')")
    return {
        "signals": expected, "filled": len(lat), "not_executed": rejected,
        "drain_wait_s": round(waited, 1),
        "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99),
        "max_ms": lat[-1] if lat else float("nan"),
    }


def stored(db, bot_id):
    return (db.scalar(f"SELECT COUNT(*) FROM signals WHERE bot_id = '{bot_id}'"),
            db.scalar(f"SELECT COUNT(*) FROM jobs WHERE bot_id = '{bot_id}'"))


def run_backend(kind, args):
    workdir = tempfile.mkdtemp(prefix=f"tradehook-intake-{kind}-")
    pg_db = None
    if kind == "sqlite":
        path = os.path.join(workdir, "bench.db")
        db_url, db = f"sqlite://{path}", Db("sqlite", path)
    else:
        pg_db = f"tradehook_intake_{os.getpid()}_{int(time.time())}"
        subprocess.run(["psql", "-X", "-q", f"{PG_BASE}/postgres", "-c",
                        f"CREATE DATABASE {pg_db}"], check=True)
        db_url, db = f"{PG_BASE}/{pg_db}", Db("postgres", f"{PG_BASE}/{pg_db}")
    results = {"backend": kind}
    proc, port = start(db_url, workdir, {})
    try:
        status, account = api(port, "POST", "/api/v1/broker-accounts", {
            "name": "bench", "kind": "paper", "starting_cash": 1_000_000_000_000})
        assert status == 201, account
        phases = [
            ("light", "rate", args.light_rate, args.light_duration, 1),
            ("rate", "rate", args.rate, args.rate_duration, 2),
            ("max", "closed", 0, args.max_duration, 2),
        ]
        for name, mode, rate, duration, warmup in phases:
            bot = make_bot(port, account["id"], f"bench-{name}")
            conns = args.connections if mode == "closed" else args.rate_connections
            r = load(port, bot["token"], mode, duration, warmup, conns, rate or 1,
                     f"{kind}-{name}-{os.getpid()}")
            n_signals, n_jobs = stored(db, bot["id"])
            r["stored_signals"], r["stored_jobs"] = n_signals, n_jobs
            r["lost"] = r["accepted_total"] - n_signals
            if name != "max":
                r["fill"] = fills(db, bot["id"], r["accepted_total"], args.drain_timeout)
            results[name] = r
            print(f"[{kind}] {name}: {json.dumps(r)}", file=sys.stderr)
    finally:
        stop(proc)
        if pg_db:
            subprocess.run(["psql", "-X", "-q", f"{PG_BASE}/postgres", "-c",
                            f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)"], check=False)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"[{kind}] kept {workdir}", file=sys.stderr)
    return results


def table(all_results):
    lines = ["| backend | what | figure | target |", "|---|---|---|---|"]
    for r in all_results:
        b = r["backend"]
        m, rt, lt = r["max"], r["rate"], r["light"]
        ok = "✅" if (b != "sqlite" or m["acks_per_s"] >= 10000) else "❌"
        tgt = "≥ 10,000/s " + ok if b == "sqlite" else "reported"
        lines.append(f"| {b} | durable acks/s, closed loop, {m['connections']} connections | "
                     f"{m['acks_per_s']:,.0f}/s (p50 {m['p50_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms; "
                     f"{m['lost']} lost) | {tgt} |")
        ok = "✅" if rt["p99_ms"] <= 10 else "❌"
        lines.append(f"| {b} | ack latency at {rt['target_rate']:,.0f}/s ({rt['accepted']:,} signals) | "
                     f"p50 {rt['p50_ms']:.2f} ms, p99 {rt['p99_ms']:.2f} ms, max {rt['max_ms']:.1f} ms "
                     f"| p99 ≤ 10 ms {ok} |")
        for label, ph in (("1,000/s", rt), ("100/s", lt)):
            f = ph["fill"]
            ok = "✅" if f["p99_ms"] <= 20 else "❌"
            lines.append(f"| {b} | signal → paper fill at {label} ({f['filled']:,} fills) | "
                         f"p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, max {f['max_ms']} ms "
                         f"| p99 ≤ 20 ms {ok} |")
        lines.append(f"| {b} | ack latency at 100/s | p50 {lt['p50_ms']:.2f} ms, "
                     f"p99 {lt['p99_ms']:.2f} ms | — |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--max-duration", type=float, default=15)
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--rate-duration", type=float, default=20)
    p.add_argument("--rate-connections", type=int, default=32)
    p.add_argument("--light-rate", type=float, default=100)
    p.add_argument("--light-duration", type=float, default=10)
    p.add_argument("--drain-timeout", type=float, default=180)
    p.add_argument("--keep", action="store_true", help="keep the temp dirs and logs")
    p.add_argument("--quick", action="store_true", help="short phases (smoke run)")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()
    if args.quick:
        args.max_duration, args.rate_duration, args.light_duration = 3, 3, 2
    for f in (BIN, LOAD):
        if not os.path.exists(f):
            sys.exit(f"missing {f}: run scripts/bench/intake.sh (it builds both)")
    results = []
    for kind in args.backends.split(","):
        if kind == "postgres":
            ok = subprocess.run(["psql", "-X", "-q", f"{PG_BASE}/postgres", "-c", "SELECT 1"],
                                capture_output=True).returncode == 0
            if not ok:
                print(f"PostgreSQL at {PG_BASE} unreachable: skipped", file=sys.stderr)
                continue
        results.append(run_backend(kind, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    print(table(results))
    lost = sum(r[ph]["lost"] for r in results for ph in ("light", "rate", "max"))
    if lost:
        sys.exit(f"{lost} acknowledged signals are missing from the database")


if __name__ == "__main__":
    main()
