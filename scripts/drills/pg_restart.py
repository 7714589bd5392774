#!/usr/bin/env python3
"""Drill: restart PostgreSQL under load.

One replica plays a replay feed (alerts) and takes TradingView signals while
the local PostgreSQL is restarted (`pg_ctlcluster --skip-systemctl-redirect
VERSION main restart`, VERSION from /etc/postgresql) --restarts times. The
service must recover without being restarted (same process, /ready 200 again)
and lose nothing: every expected alert exactly once, one order per accepted
signal, every delivery at the receiver, every replay candle stored.
Signals answered 503 during the outage are resent like TradingView does;
only 2xx answers count as accepted. --ci for a short run.
"""
import argparse, os, secrets, subprocess, time
import drill_lib as L


def pg_version():
    return sorted(os.listdir("/etc/postgresql"))[-1]


def restart_pg():
    v = pg_version()
    t = time.time()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", v, "main", "restart"], check=True)
    return time.time() - t


def main(d, a):
    binp = L.binary()
    db, url = L.create_database(d)
    d.on_exit(lambda: L.pg_ready() or subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", pg_version(), "main", "start"]))
    wd = L.workdir(d, "pg")
    n = a.candles
    _, expected, recv, ep, bot, env, _ = L.replay_scenario(d, binp, url, wd, n, a.replay_secs)
    r = L.Replica("r0", binp, env, wd).start()
    d.on_exit(r.kill9)
    pid = r.proc.pid
    sender = L.SignalSender(lambda: [r.url], bot["token"], secrets.token_hex(4), a.signal_rate)
    sender.start()
    gap = a.replay_secs / (a.restarts + 1)
    for i in range(a.restarts):
        time.sleep(gap)
        secs = restart_pg()
        L.log(f"PostgreSQL restarted ({secs:.1f} s); alerts so far {L.alerts_count(db)}")
    ready = L.wait_until(lambda: L.http("GET", r.url + "/ready")[0] == 200, 30)
    time.sleep(max(0, a.replay_secs - gap * a.restarts))
    sender.stop()

    def settled():
        return (L.alerts_count(db) >= len(expected) and L.pending_jobs(db) == 0 and
                int(L.psql_value(f"SELECT count(*) FROM deliveries WHERE endpoint_id='{ep['id']}' AND status='pending'", db)) == 0)
    L.wait_until(settled, a.settle_secs, every=2)
    d.count("PostgreSQL restarts", a.restarts)
    d.check("the service recovered without a restart (same process, /ready 200)",
            ready and r.alive() and r.proc.pid == pid, f"pid {pid}, alive {r.alive()}, ready {ready}")
    L.alert_check(d, db, expected)
    L.order_check(d, db, sender)
    L.delivery_check(d, db, ep["id"], recv, "receiver")
    stored = int(L.psql_value("SELECT count(*) FROM candles WHERE closed", db))
    d.check("every replay candle is stored", stored == 3 * n, f"{stored} of {3 * n} closed candles")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ci", action="store_true")
    p.add_argument("--restarts", type=int)
    p.add_argument("--candles", type=int)
    p.add_argument("--replay-secs", type=float)
    p.add_argument("--signal-rate", type=float, default=4)
    p.add_argument("--settle-secs", type=float, default=120)
    a = p.parse_args()
    ci = a.ci or L.ci_mode()
    for k, v in (dict(restarts=1, candles=400, replay_secs=30) if ci else
                 dict(restarts=3, candles=1200, replay_secs=120)).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    L.run_drill("pg_restart", lambda d: main(d, a))
