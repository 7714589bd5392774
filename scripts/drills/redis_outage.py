#!/usr/bin/env python3
"""Drill: Redis outage with TRADEHOOK_REDIS_URL set.

One replica with Redis rate limits (redis://127.0.0.1:6379) and a key
limited to 60 requests a minute. Phases: Redis up (the limit holds: 429s
appear), Redis stopped (`redis-cli shutdown nosave`) for --outage-secs
(limiting fails open: no 429, no 5xx, the backend-error counter grows),
Redis restarted (`redis-server --daemonize yes --port 6379 --save ""
--appendonly no`; the limit holds again). Every answer must be non-5xx.
"""
import argparse, subprocess, time
import drill_lib as L

REDIS_START = ["redis-server", "--daemonize", "yes", "--port", "6379", "--save", "", "--appendonly", "no"]


def redis_up():
    return subprocess.run(["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True).stdout.strip() == "PONG"


def start_redis():
    if not redis_up():
        subprocess.run(REDIS_START, check=True)
        L.wait_until(redis_up, 10, 0.2)


def burst(base, key, secs, rate=20):
    res = {}
    lat = []
    end = time.time() + secs
    paths = ["/api/v1/me", "/api/v1/rules", "/health", "/ready"]
    i = 0
    while time.time() < end:
        t = time.time()
        st, _, _ = L.http("GET", base + paths[i % 4], headers={"X-API-Key": key})
        lat.append(time.time() - t)
        res[st] = res.get(st, 0) + 1
        i += 1
        time.sleep(max(0, 1 / rate - (time.time() - t)))
    lat.sort()
    return res, lat[int(len(lat) * 0.99) - 1]


def main(d, a):
    binp = L.binary()
    start_redis()
    d.on_exit(start_redis)
    db, url = L.create_database(d)
    wd = L.workdir(d, "redis")
    r = L.Replica("r0", binp, L.base_env(url, {"TRADEHOOK_REDIS_URL": "redis://127.0.0.1:6379"}), wd).start()
    d.on_exit(r.kill9)
    key = L.Api(r.url).post("/api/v1/keys", {"name": "drill-limited", "rate_limit_per_minute": 60})["secret"]
    five = lambda res: sum(v for k, v in res.items() if k >= 500 or k == 0)  # noqa: E731
    before, p99a = burst(r.url, key, a.phase_secs)
    d.count("Redis up: answers", before)
    d.check("Redis up: the limit holds (429s) and no 5xx", before.get(429, 0) > 0 and five(before) == 0, str(before))
    errs0 = L.metric_value(r.url, "tradehook_ratelimit_backend_errors_total") or 0
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True)
    L.wait_until(lambda: not redis_up(), 10, 0.2)
    L.log("Redis stopped")
    during, p99b = burst(r.url, key, a.outage_secs)
    errs1 = L.metric_value(r.url, "tradehook_ratelimit_backend_errors_total") or 0
    d.count("Redis down: answers", during)
    d.count("Redis down: p99 latency (s)", f"{p99b:.3f} (up: {p99a:.3f})")
    d.check("Redis down: the API stays up (no 5xx, no network errors)", five(during) == 0, str(during))
    d.check("Redis down: limiting fails open (no 429)", during.get(429, 0) == 0, str(during))
    d.check("Redis down: tradehook_ratelimit_backend_errors_total grows", errs1 > errs0, f"{errs0} -> {errs1}")
    subprocess.run(REDIS_START, check=True)
    L.wait_until(redis_up, 10, 0.2)
    L.log("Redis back")
    after, _ = burst(r.url, key, a.phase_secs)
    d.count("Redis back: answers", after)
    d.check("Redis back: the limit holds again (429s) and no 5xx", after.get(429, 0) > 0 and five(after) == 0, str(after))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ci", action="store_true")
    p.add_argument("--outage-secs", type=float)
    p.add_argument("--phase-secs", type=float, default=8)
    a = p.parse_args()
    if a.outage_secs is None:
        a.outage_secs = 10 if (a.ci or L.ci_mode()) else 60
    L.run_drill("redis_outage", lambda d: main(d, a))
