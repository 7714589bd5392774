#!/usr/bin/env python3
"""Drill: a receiver outage, a failing endpoint and a healthy one.

One replica plays a replay at about one 1m candle per second per symbol
(3 alerts/s) into three endpoints subscribed to `alert.*`:
A goes down for --outage-secs (60; 15 with --ci) and comes back; B always
answers 500; C is healthy. Checks: after A returns, every A delivery arrives;
C's deliveries keep arriving promptly during the outage (max and p99 lag from
the event's commit to the receiver under --max-lag-secs), so a failing
endpoint makes no backlog for a healthy one.
"""
import argparse, os, time
import drill_lib as L


def main(d, a):
    binp = L.binary()
    db, url = L.create_database(d)
    wd = L.workdir(d, "recv")
    total = a.outage_secs + 2 * a.lead_secs
    n = int(total) + 5
    replay = os.path.join(wd, "replay.jsonl")
    candles = L.write_replay(replay, ["BTC", "ETH", "SOL"], n, L.replay_start_ms(n))
    setup = L.Replica("setup", binp, L.base_env(url), wd).start()
    api = L.Api(setup.url)
    for sym in candles:
        api.post("/api/v1/rules", {"name": f"drill {sym}", "symbol": sym, "rule_type": "candle_close",
                                   "config": {"interval": "1m", "operator": ">", "value": 0.001},
                                   "frequency": "once_per_bar", "enabled": True})
    ra, rb, rc = L.Receiver("A").start(), L.Receiver("B", mode="fail").start(), L.Receiver("C").start()
    for x in (ra, rb, rc):
        d.on_exit(x.stop)
    epa = L.create_endpoint(api, ra, ["alert.*"])
    epb = L.create_endpoint(api, rb, ["alert.*"])
    epc = L.create_endpoint(api, rc, ["alert.*"])
    setup.stop()
    env = L.base_env(url, {"TRADEHOOK_MARKET_SOURCE": "replay", "TRADEHOOK_MARKET_REPLAY_FILE": replay,
                           "TRADEHOOK_MARKET_REPLAY_SPEED": "60"})
    r = L.Replica("r0", binp, env, wd).start()
    d.on_exit(r.kill9)
    time.sleep(a.lead_secs)
    ra.stop()
    down_at = time.time()
    L.log(f"receiver A down for {a.outage_secs} s")
    time.sleep(a.outage_secs)
    ra.start()
    up_at = time.time()
    L.log("receiver A back")
    time.sleep(a.lead_secs)

    def a_done():
        ids = {x[0] for x in L.psql(f"SELECT event_id FROM deliveries WHERE endpoint_id='{epa['id']}'", db)}
        return ids and ids <= ra.ok_ids()
    L.wait_until(a_done, a.settle_secs, every=1)
    caught_up = time.time() - up_at
    L.delivery_check(d, db, epa["id"], ra, "A (outage)")
    L.delivery_check(d, db, epc["id"], rc, "C (healthy)")
    created = {x[0]: int(x[1]) / 1000 for x in L.psql("SELECT id, created_at FROM events", db)}
    lags = sorted(q["at"] - created[q["wid"]] for q in rc.snapshot()
                  if q["wid"] in created and down_at <= q["at"] <= up_at)
    p99 = lags[int(len(lags) * 0.99) - 1] if lags else None
    d.count("C deliveries during A's outage", len(lags))
    d.count("C lag during the outage p50/p99/max (s)",
            f"{lags[len(lags)//2]:.3f}/{p99:.3f}/{lags[-1]:.3f}" if lags else "none")
    d.check("C's deliveries keep arriving promptly during A's outage",
            len(lags) >= a.outage_secs and lags[-1] <= a.max_lag_secs,
            f"{len(lags)} deliveries, max lag {lags[-1] if lags else 0:.2f} s (bound {a.max_lag_secs} s)")
    b_att = int(L.psql_value(f"SELECT count(*) FROM delivery_attempts da JOIN deliveries dl ON dl.id = da.delivery_id WHERE dl.endpoint_id='{epb['id']}'", db))
    d.count("B (always 500) attempts", b_att)
    d.count("A caught up after return (s)", f"{caught_up:.1f}")
    d.check("B's failures were retried (attempts > deliveries)",
            b_att > len(created) / 3, f"{b_att} attempts, {len(rb.snapshot())} requests at B")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ci", action="store_true")
    p.add_argument("--outage-secs", type=float)
    p.add_argument("--lead-secs", type=float, default=8)
    p.add_argument("--max-lag-secs", type=float, default=2.0)
    p.add_argument("--settle-secs", type=float, default=60)
    a = p.parse_args()
    if a.outage_secs is None:
        a.outage_secs = 15 if (a.ci or L.ci_mode()) else 60
    L.run_drill("receiver_outage", lambda d: main(d, a))
