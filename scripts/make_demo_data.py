#!/usr/bin/env python3
"""Generates the demo's bundled market data: crates/server/demo/market.csv.

A seeded random walk of 1-minute candles for BTC, ETH and SOL with a few
sharp moves (so demo rules have something to fire on). Deterministic: the
same seed gives the same file. Run: python3 scripts/make_demo_data.py
"""

import os
import random

SEED = 20261123
BARS = 720  # 12 hours of 1m candles
START = 1_795_392_000_000  # 2026-11-23T00:00:00Z, a minute boundary
SYMBOLS = {"BTC": 98_500.0, "ETH": 3_450.0, "SOL": 210.0}
# (bar index, relative move spread over 5 bars)
SHOCKS = {"BTC": [(120, 0.03), (300, -0.04), (510, 0.05)],
          "ETH": [(200, -0.05), (420, 0.06)],
          "SOL": [(90, 0.08), (360, -0.07), (600, 0.05)]}


def main():
    rng = random.Random(SEED)
    out = os.path.join(os.path.dirname(__file__), "..", "crates", "server", "demo", "market.csv")
    rows = ["symbol,interval,time,open,high,low,close,volume"]
    for symbol, price in SYMBOLS.items():
        shocks = {i + k: move / 5 for i, move in SHOCKS[symbol] for k in range(5)}
        for i in range(BARS):
            drift = shocks.get(i, 0.0)
            o = price
            c = o * (1 + drift + rng.gauss(0, 0.0015))
            h = max(o, c) * (1 + abs(rng.gauss(0, 0.0007)))
            lo = min(o, c) * (1 - abs(rng.gauss(0, 0.0007)))
            v = abs(rng.gauss(50, 15)) * (4 if drift else 1)
            rows.append(f"{symbol},1m,{START + i * 60_000},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v:.3f}")
            price = c
    with open(out, "w") as f:
        f.write("\n".join(rows) + "\n")
    print(f"wrote {len(rows) - 1} candles to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
