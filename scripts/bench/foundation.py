#!/usr/bin/env python3
"""Foundation benchmarks against the release binary (issue: Foundation).

Measures, on SQLite:
  * cold start: process spawn to the first 200 from GET /ready, on a fresh
    database (migrations run) and on an existing one;
  * idle RSS a few seconds after start;
  * throughput with wrk on loopback: GET /health, GET /api/v1/me with the
    admin key (no database), and with a stored key (one SQLite lookup).

Usage: python3 scripts/bench/foundation.py [--runs N] [--duration S]
Needs: a release build (cargo build --release) and wrk (apt-get install wrk).
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "tradehook")
ADMIN = "bench-admin-key"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(db_path, port):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEHOOK_")}
    env.update(
        TRADEHOOK_DATABASE_URL=f"sqlite://{db_path}",
        TRADEHOOK_LISTEN=f"127.0.0.1:{port}",
        TRADEHOOK_ADMIN_KEY=ADMIN,
        TRADEHOOK_LOG="warn",
        TRADEHOOK_LOG_FORMAT="json",
        # Measure the service itself, not a live market connection.
        TRADEHOOK_MARKET_SOURCE="none",
        TRADEHOOK_SECRETS_KEY="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        # Load tests come from one IP; the per-IP limit would answer 429.
        TRADEHOOK_RATE_LIMIT_ANONYMOUS_PER_MINUTE="0",
        TRADEHOOK_RATE_LIMIT_ADMIN_PER_MINUTE="1000000000",
    )
    return env


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


def start(db_path):
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([BIN, "serve"], env=env_for(db_path, port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ready(port):
        if proc.poll() is not None:
            sys.exit(f"tradehook exited with {proc.returncode}")
        if time.perf_counter() - t0 > 30:
            sys.exit("not ready after 30 s")
        time.sleep(0.0005)
    return proc, port, (time.perf_counter() - t0) * 1000


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wrk(url, duration, headers=()):
    cmd = ["wrk", "-t2", "-c64", f"-d{duration}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, int(non2xx.group(1)) if non2xx else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--duration", type=int, default=10)
    args = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    work = tempfile.mkdtemp(prefix="tradehook-bench-")
    try:
        fresh, warm = [], []
        for i in range(args.runs):
            db = os.path.join(work, f"fresh-{i}.db")
            proc, _, ms = start(db)
            fresh.append(ms)
            stop(proc)
            proc, _, ms = start(db)
            warm.append(ms)
            stop(proc)
        print(f"cold start to /ready 200, fresh database (migrations): "
              f"median {statistics.median(fresh):.1f} ms, max {max(fresh):.1f} ms ({args.runs} runs)")
        print(f"cold start to /ready 200, existing database:            "
              f"median {statistics.median(warm):.1f} ms, max {max(warm):.1f} ms ({args.runs} runs)")

        db = os.path.join(work, "load.db")
        key = subprocess.run([BIN, "keys", "create", "bench", "--rpm", "1000000"],
                             env=env_for(db, 0), capture_output=True, text=True, check=True).stdout.strip()
        proc, port, _ = start(db)
        time.sleep(3)
        print(f"idle RSS after start: {rss_mb(proc.pid):.1f} MB")
        base = f"http://127.0.0.1:{port}"
        for label, url, headers in [
            ("GET /health", f"{base}/health", ()),
            ("GET /api/v1/me, admin key (no database)", f"{base}/api/v1/me", (f"X-API-Key: {ADMIN}",)),
            ("GET /api/v1/me, stored key (SQLite lookup)", f"{base}/api/v1/me", (f"X-API-Key: {key}",)),
        ]:
            rps, p50, p99, bad = wrk(url, args.duration, headers)
            print(f"{label}: {rps:,.0f} req/s, p50 {p50}, p99 {p99}, non-2xx {bad} "
                  f"(wrk -t2 -c64 -d{args.duration}s)")
        print(f"RSS after load: {rss_mb(proc.pid):.1f} MB")
        stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
