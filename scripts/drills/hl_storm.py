#!/usr/bin/env python3
"""Drill: Hyperliquid feed outage and reconnect storm.

A fake Hyperliquid (fake_hyperliquid.py: WebSocket + REST /info with
candleSnapshot, on the wall clock) feeds one replica following BTC, ETH,
SOL on 1m. For --storm-secs the fake drops every connection abruptly every
1-5 s, with an outage of --outage-secs in the middle (WebSocket upgrades
refused, REST 503). Then it is left alone until the feed reconnects and the
current minute closes. Checks, per symbol: stored closed 1m candles have no
gaps (consecutive open times from the first to the last closed minute) and
equal the fake's ground truth (OHLC).
"""
import argparse, random, time
import drill_lib as L
from fake_hyperliquid import FakeHyperliquid


def main(d, a):
    binp = L.binary()
    db, url = L.create_database(d)
    wd = L.workdir(d, "hl")
    fake = FakeHyperliquid().start_thread()
    env = L.base_env(url, {"TRADEHOOK_MARKET_SOURCE": "hyperliquid",
                           "TRADEHOOK_HYPERLIQUID_WS_URL": f"ws://127.0.0.1:{fake.port}/ws",
                           "TRADEHOOK_HYPERLIQUID_REST_URL": f"http://127.0.0.1:{fake.port}"})
    r = L.Replica("r0", binp, env, wd).start()
    d.on_exit(r.kill9)
    L.wait_until(lambda: fake.stats()["subscriptions"] >= 4, 30, 0.5)
    drops = 0
    end = time.time() + a.storm_secs
    outage_at = time.time() + a.storm_secs / 2
    outage_done = False
    while time.time() < end:
        time.sleep(random.uniform(1, 5))
        if not outage_done and time.time() >= outage_at:
            L.log(f"feed outage {a.outage_secs} s")
            fake.outage(a.outage_secs)
            time.sleep(a.outage_secs)
            outage_done = True
        else:
            fake.drop()
        drops += 1
    storm_end = time.time()
    L.log(f"storm over after {drops} drops; waiting for the feed to come back")
    back = L.wait_until(lambda: fake.stats()["subscriptions"] >= 4, a.settle_secs, 0.5)
    reconnect_secs = time.time() - storm_end
    # Wait for the current minute to close (+ grace and store).
    time.sleep(60 - (time.time() % 60) + 6)
    last_closed = (int(time.time() * 1000) // 60_000) * 60_000 - 60_000
    d.count("drops", drops)
    d.count("WebSocket connections accepted", fake.stats()["accepted"])
    d.count("REST calls at the fake", fake.stats()["rest"])
    d.count("reconnect after the storm (s)", f"{reconnect_secs:.1f}")
    d.check("the feed reconnected after the storm", back, f"in {reconnect_secs:.1f} s")
    for coin in ("BTC", "ETH", "SOL"):
        rows = L.psql(f"SELECT open_time, open, high, low, close FROM candles WHERE source='hyperliquid' "
                      f"AND symbol='{coin}' AND interval='1m' AND closed AND open_time <= {last_closed} ORDER BY open_time", db)
        times = [int(x[0]) for x in rows]
        gaps = [(p, q) for p, q in zip(times, times[1:]) if q - p != 60_000]
        truth = {c["t"]: c for c in fake.truth(coin)}
        wrong = [t for t, o, h, lo, c in ((int(x[0]), *map(float, x[1:])) for x in rows)
                 if t in truth and any(abs(v - truth[t][k]) > 1e-6 * max(1, abs(v))
                                       for v, k in ((o, "o"), (h, "h"), (lo, "l"), (c, "c")))]
        d.check(f"{coin}: stored 1m candles have no gaps", rows and not gaps and times[-1] == last_closed,
                f"{len(rows)} closed candles, {len(gaps)} gaps, last {times[-1] if times else None} vs expected {last_closed}")
        d.check(f"{coin}: stored candles equal the fake's ground truth", not wrong,
                f"{len(wrong)} differ" + (f" e.g. open_time {wrong[:3]}" if wrong else ""))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ci", action="store_true")
    p.add_argument("--storm-secs", type=float)
    p.add_argument("--outage-secs", type=float)
    p.add_argument("--settle-secs", type=float, default=90)
    a = p.parse_args()
    ci = a.ci or L.ci_mode()
    if a.storm_secs is None:
        a.storm_secs = 40 if ci else 180
    if a.outage_secs is None:
        a.outage_secs = 10 if ci else 70
    L.run_drill("hl_storm", lambda d: main(d, a))
