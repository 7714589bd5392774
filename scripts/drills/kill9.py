#!/usr/bin/env python3
"""Drill: kill -9 replicas under load.

Three replicas share one PostgreSQL database. Each is started with the same
replay file (1m candles of BTC, ETH, SOL) and the same rules (two
`candle_close` rules per symbol), so the alerts the database must hold are
known from the file alone: one per (rule, candle) whose close passes the
rule. Whether every replica plays the feed (today) or only the feed owner
does (advisory-lock ownership, with takeover), the database must hold each
expected alert exactly once.

Meanwhile TradingView signals (`add` signals: one order each) go to the
replicas' intake round robin, and one endpoint (`*`) delivers every event to
a receiver in this script. Every few seconds a random replica is killed with
SIGKILL and restarted. Then the killing stops, the drill waits for the
backlog to settle, and checks:

- each expected alert exists exactly once (counted in the `alerts` table);
- each accepted signal (2xx from the intake) has exactly one order;
- each delivery row reached the receiver at least once, duplicates carry the
  same webhook-id (the event id), and their count is reported;
- every replica is up at the end.

Options: --kill-secs, --kill-every MIN MAX, --candles, --replay-secs,
--signal-rate, --settle-secs; --ci for a short run (also DRILL_CI=1).
"""

import argparse
import random
import secrets
import threading
import time

import drill_lib as L


def main(d, a):
    binp = L.binary()
    db, url = L.create_database(d)
    wd = L.workdir(d, "kill9")
    run_id = secrets.token_hex(4)

    n = a.candles
    # Setup on a replica without a feed, so rules exist before any replay.
    rules, expected, recv, ep, bot, env, speed = L.replay_scenario(
        d, binp, url, wd, n, a.replay_secs)
    L.log(f"{len(rules)} rules, {len(expected)} expected alerts, replay {n} candles/symbol "
          f"at speed {speed:.0f} (~{a.replay_secs} s)")

    replicas = [L.Replica(f"r{i}", binp, env, wd) for i in range(a.replicas)]
    for r in replicas:
        r.start()
        d.on_exit(r.kill9)
    lock = threading.Lock()

    def live():
        with lock:
            return [r.url for r in replicas if r.alive()]

    sender = L.SignalSender(live, bot["token"], run_id, a.signal_rate)
    sender.start()

    kills = 0
    restart_fail = 0
    end = time.time() + a.kill_secs
    rng = random.Random()
    while time.time() < end:
        time.sleep(rng.uniform(*a.kill_every))
        victim = rng.choice(replicas)
        with lock:
            victim.kill9()
        kills += 1
        L.log(f"kill -9 {victim.name} (kill {kills}); alerts so far {L.alerts_count(db)}")
        time.sleep(rng.uniform(0.2, 1.0))
        try:
            victim.start(timeout=30)
        except Exception as e:
            restart_fail += 1
            L.log(f"restart of {victim.name} failed: {e}")
    L.log("killing stopped; stopping signals")
    sender.stop()

    recv_ids = lambda: recv.ok_ids()  # noqa: E731

    def settled():
        if L.alerts_count(db) < len(expected):
            return False
        if L.pending_jobs(db) > 0:
            return False
        pend = int(L.psql_value(f"SELECT count(*) FROM deliveries WHERE endpoint_id = '{ep['id']}' "
                                "AND status = 'pending'", db))
        if pend:
            return False
        ids = {r[0] for r in L.psql(f"SELECT event_id FROM deliveries WHERE endpoint_id = '{ep['id']}'", db)}
        return ids <= recv_ids()

    t0 = time.time()
    ok = L.wait_until(settled, a.settle_secs, every=2)
    L.log(f"settled={ok} after {time.time() - t0:.0f} s")

    # The cluster view, when the binary has it (GET /api/v1/cluster).
    status, cluster, _ = L.http("GET", replicas[0].url + "/api/v1/cluster",
                                headers={"X-API-Key": L.ADMIN_KEY})
    if status == 200:
        d.count("cluster", cluster)
    else:
        d.count("cluster", f"GET /api/v1/cluster -> {status} (not in this binary)")

    d.count("replicas", a.replicas)
    d.count("kill -9s", kills)
    d.count("restarts that failed", restart_fail)
    d.count("settle time (s)", f"{time.time() - t0:.0f}")
    L.alert_check(d, db, expected)
    L.order_check(d, db, sender)
    L.delivery_check(d, db, ep["id"], recv, "receiver")
    d.check("every replica is up at the end", all(r.alive() for r in replicas) and restart_fail == 0,
            ", ".join(f"{r.name}: {'up' if r.alive() else 'down'} ({r.starts} starts)" for r in replicas))
    panics = sum(r.log_text().count("panicked") for r in replicas)
    d.check("no panic in the replicas' logs", panics == 0, f"{panics} panics")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ci", action="store_true", help="short run")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--kill-secs", type=float)
    p.add_argument("--kill-every", type=float, nargs=2, metavar=("MIN", "MAX"))
    p.add_argument("--candles", type=int)
    p.add_argument("--replay-secs", type=float)
    p.add_argument("--signal-rate", type=float)
    p.add_argument("--settle-secs", type=float)
    a = p.parse_args()
    ci = a.ci or L.ci_mode()
    defaults = dict(kill_secs=30, kill_every=[3, 6], candles=500, replay_secs=30,
                    signal_rate=3, settle_secs=90) if ci else \
        dict(kill_secs=120, kill_every=[3, 8], candles=1500, replay_secs=120,
             signal_rate=5, settle_secs=240)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    L.run_drill("kill9", lambda d: main(d, a))
