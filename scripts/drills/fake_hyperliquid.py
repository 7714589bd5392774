#!/usr/bin/env python3
"""A fake Hyperliquid market-data server (Python stdlib only): `POST /info`
and the `/ws` WebSocket on one port, speaking the real wire protocol
(shared/reference/hyperliquid.md), mirroring crates/testkit's Rust fake.

- REST `/info`: `meta` (with a delisted MATIC), `allMids` (bare map of
  decimal strings), `candleSnapshot` (every bucket overlapping
  [startTime, endTime], oldest first, capped at 5000, only the newest 5000
  exist), with Hyperliquid's weights and a per-minute budget (429 over it).
- WS: `subscribe`/`unsubscribe` acked with `subscriptionResponse` before
  data, `Already subscribed` error frames, parse-error frames, `ping` ->
  `{"channel":"pong"}`, an abrupt close (no close frame) on an unknown coin,
  `allMids` wrapped in `mids`, `candle` as one object with string prices,
  the final frame of a bucket before the next one's first.
- The market moves on the wall clock: a trade per coin every --trade-ms,
  a seeded random walk; --history minutes of 1m candles are seeded.
- Hostile habits for drills: `drop()` closes every socket abruptly,
  `outage(secs)` refuses WebSocket upgrades and answers REST with 503.

Run standalone: `python3 fake_hyperliquid.py --port 3001`; control with
`POST /_fake/drop`, `POST /_fake/outage?secs=N`, `GET /_fake/stats`,
`GET /_fake/candles?coin=BTC`.
"""

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import random
import struct
import threading
import time
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
INTERVALS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
             "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000,
             "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000}
UNIVERSE = [("BTC", 5, 40, 98000.0), ("ETH", 4, 25, 3500.0), ("SOL", 2, 20, 150.0)]
HISTORY_LIMIT = 5000


def dec(x):
    s = repr(round(float(x), 8))
    if "e" in s:
        s = f"{x:.8f}".rstrip("0")
    return s if "." in s else s + ".0"


def now_ms():
    return int(time.time() * 1000)


class Conn:
    def __init__(self, writer):
        self.writer = writer
        self.subs = []  # (key, raw)

    def send(self, obj):
        data = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
        head = bytearray([0x81])
        n = len(data)
        if n < 126:
            head.append(n)
        elif n < 65536:
            head.append(126)
            head += struct.pack(">H", n)
        else:
            head.append(127)
            head += struct.pack(">Q", n)
        try:
            self.writer.write(bytes(head) + data)
        except Exception:
            pass

    def abort(self):
        try:
            self.writer.transport.abort()
        except Exception:
            pass


class FakeHyperliquid:
    def __init__(self, port=0, trade_ms=250, history=600, seed=11, weight_per_minute=1200):
        self.port = port
        self.trade_ms = trade_ms
        self.rng = random.Random(seed)
        self.weight_per_minute = weight_per_minute
        self.coins = {c for c, *_ in UNIVERSE}
        self.mids = {c: px for c, _, _, px in UNIVERSE}
        self.candles = {c: collections.OrderedDict() for c in self.coins}  # 1m: t -> dict
        self.conns = set()
        self.accepted = 0
        self.accept_times = []
        self.rest_calls = collections.Counter()
        self.weights = collections.deque()
        self.outage_until = 0.0
        self.loop = None
        self.ready = threading.Event()
        cur = (now_ms() // 60_000) * 60_000
        for c in self.coins:
            px = self.mids[c]
            for i in range(history, 0, -1):
                t = cur - i * 60_000
                o = px
                cl = o * (1 + self.rng.gauss(0, 0.001))
                self.candles[c][t] = {"t": t, "o": o, "h": max(o, cl), "l": min(o, cl), "c": cl,
                                      "v": 1.0, "n": 1}
                px = cl
            self.mids[c] = px

    # ------------------------------------------------------------ market

    def bucket(self, coin, interval, t):
        """The candle of `interval` starting at t, aggregated from 1m."""
        step = INTERVALS[interval]
        if step == 60_000:
            c = self.candles[coin].get(t)
            return dict(c) if c else None
        parts = [self.candles[coin][x] for x in range(t, t + step, 60_000) if x in self.candles[coin]]
        if not parts:
            return None
        return {"t": t, "o": parts[0]["o"], "c": parts[-1]["c"], "h": max(p["h"] for p in parts),
                "l": min(p["l"] for p in parts), "v": sum(p["v"] for p in parts),
                "n": sum(p["n"] for p in parts)}

    def wire(self, coin, interval, c):
        step = INTERVALS[interval]
        return {"t": c["t"], "T": c["t"] + step - 1, "s": coin, "i": interval, "o": dec(c["o"]),
                "c": dec(c["c"]), "h": dec(c["h"]), "l": dec(c["l"]), "v": dec(c["v"]), "n": c["n"]}

    def trade(self, coin):
        ts = now_ms()
        px = round(self.mids[coin] * (1 + self.rng.gauss(0, 0.0005)), 4)
        sz = round(self.rng.uniform(0.001, 1.0), 4)
        self.mids[coin] = px
        t = (ts // 60_000) * 60_000
        series = self.candles[coin]
        last_t = next(reversed(series)) if series else None
        if t in series:
            c = series[t]
            c["h"], c["l"], c["c"] = max(c["h"], px), min(c["l"], px), px
            c["v"] = round(c["v"] + sz, 6)
            c["n"] += 1
        else:
            series[t] = {"t": t, "o": px, "h": px, "l": px, "c": px, "v": sz, "n": 1}
            while len(series) > HISTORY_LIMIT * 2:
                series.popitem(last=False)
        for conn in list(self.conns):
            for key, _ in conn.subs:
                if key[0] == "candle" and key[1] == coin:
                    iv = key[2]
                    step = INTERVALS[iv]
                    bt = (ts // step) * step
                    if last_t is not None and t != last_t:
                        prev = (last_t // step) * step
                        if prev != bt:  # the final frame of the closed bucket
                            pc = self.bucket(coin, iv, prev)
                            if pc:
                                conn.send({"channel": "candle", "data": self.wire(coin, iv, pc)})
                    conn.send({"channel": "candle", "data": self.wire(coin, iv, self.bucket(coin, iv, bt))})

    def all_mids(self):
        return {c: dec(p) for c, p in sorted(self.mids.items())}

    def snapshot(self, coin, interval, start, end):
        step = INTERVALS[interval]
        newest = next(reversed(self.candles[coin]))
        out = []
        first = max((start // step) * step, (newest // step) * step - (HISTORY_LIMIT - 1) * step)
        t = first
        while t <= min(end, newest) and len(out) < 5000:
            c = self.bucket(coin, interval, t)
            if c and c["t"] <= end and c["t"] + step - 1 >= start:
                out.append(self.wire(coin, interval, c))
            t += step
        return out

    # ------------------------------------------------------------ control

    def drop(self):
        """Closes every WebSocket abruptly (no close frame)."""
        if self.loop:
            self.loop.call_soon_threadsafe(self._drop)

    def _drop(self):
        conns, self.conns = self.conns, set()
        for c in conns:
            c.abort()

    def outage(self, secs):
        self.outage_until = time.time() + secs
        self.drop()

    def stats(self):
        return {"open": len(self.conns), "accepted": self.accepted,
                "subscriptions": sum(len(c.subs) for c in self.conns),
                "rest": dict(self.rest_calls)}

    def truth(self, coin):
        return [dict(c) for c in self.candles[coin].values()]

    # ------------------------------------------------------------ server

    def start_thread(self):
        threading.Thread(target=lambda: asyncio.run(self.serve()), daemon=True).start()
        self.ready.wait(10)
        return self

    async def serve(self):
        self.loop = asyncio.get_running_loop()
        server = await asyncio.start_server(self.handle, "127.0.0.1", self.port)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        asyncio.create_task(self.market_loop())
        async with server:
            await server.serve_forever()

    async def market_loop(self):
        while True:
            await asyncio.sleep(self.trade_ms / 1000)
            for coin in sorted(self.coins):
                self.trade(coin)
            if int(time.time()) % 5 == 0 and int(time.time() * 1000) % 1000 < self.trade_ms:
                for conn in list(self.conns):
                    if any(k[0] == "allMids" for k, _ in conn.subs):
                        conn.send({"channel": "allMids", "data": {"mids": self.all_mids()}})

    async def handle(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _ = line.decode().split(" ", 2)
                headers = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = b""
                if int(headers.get("content-length") or 0):
                    body = await reader.readexactly(int(headers["content-length"]))
                path = urllib.parse.urlparse(target)
                if path.path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                    if time.time() < self.outage_until:
                        writer.transport.abort()
                        return
                    await self.websocket(reader, writer, headers)
                    return
                status, obj = self.http(method, path, body)
                data = json.dumps(obj).encode()
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                             f"content-length: {len(data)}\r\n\r\n".encode() + data)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    def http(self, method, path, body):
        q = urllib.parse.parse_qs(path.query)
        if path.path == "/_fake/drop":
            self.drop()
            return 200, {"ok": True}
        if path.path == "/_fake/outage":
            self.outage(float(q.get("secs", ["10"])[0]))
            return 200, {"ok": True}
        if path.path == "/_fake/stats":
            return 200, self.stats()
        if path.path == "/_fake/candles":
            return 200, self.truth(q.get("coin", ["BTC"])[0])
        if path.path != "/info" or method != "POST":
            return 404, {"code": "not_found", "msg": path.path}
        if time.time() < self.outage_until:
            return 503, {"code": "unavailable", "msg": "drill outage"}
        try:
            req = json.loads(body)
        except Exception:
            return 400, {"code": "bad_request", "msg": "Failed to deserialize the JSON body"}
        kind = req.get("type")
        self.rest_calls[kind] += 1
        items = None
        if kind == "meta":
            uni = [{"name": n, "szDecimals": s, "maxLeverage": m, "marginTableId": m}
                   for n, s, m, _ in UNIVERSE]
            uni.append({"name": "MATIC", "szDecimals": 1, "maxLeverage": 20, "marginTableId": 20,
                        "isDelisted": True})
            answer = (200, {"universe": uni, "marginTables": [], "collateralToken": 0})
        elif kind == "allMids":
            answer = (200, self.all_mids())
        elif kind == "candleSnapshot":
            r = req.get("req") or {}
            coin, iv = r.get("coin"), r.get("interval")
            if iv not in INTERVALS or not isinstance(r.get("startTime"), int):
                return 400, {"code": "bad_request", "msg": "bad req"}
            if coin not in self.coins:
                return 422, {"code": "unknown_coin", "msg": f"unknown coin {coin!r}"}
            end = r.get("endTime")
            out = self.snapshot(coin, iv, r["startTime"], end if isinstance(end, int) else 2**62)
            items = len(out)
            answer = (200, out)
        else:
            return 400, {"code": "bad_request", "msg": f"unknown type {kind!r}"}
        weight = (2 if kind == "allMids" else 20) + (-(-items // 60) if items else 0)
        t = time.time()
        while self.weights and t - self.weights[0][0] >= 60:
            self.weights.popleft()
        used = sum(w for _, w in self.weights)
        if self.weight_per_minute and used + weight > self.weight_per_minute:
            self.rest_calls["429"] += 1
            return 429, {"code": "rate_limited", "msg": f"weight {weight} over the budget"}
        self.weights.append((t, weight))
        return answer

    async def websocket(self, reader, writer, headers):
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        conn = Conn(writer)
        self.conns.add(conn)
        self.accepted += 1
        self.accept_times.append(time.time())
        frags = b""
        try:
            while True:
                h = await reader.readexactly(2)
                fin, op = h[0] & 0x80, h[0] & 0x0F
                n = h[1] & 0x7F
                if n == 126:
                    n = struct.unpack(">H", await reader.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", await reader.readexactly(8))[0]
                mask = await reader.readexactly(4) if h[1] & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(n)))
                if op == 0x8:
                    writer.write(b"\x88\x00")
                    break
                if op == 0x9:
                    writer.write(bytes([0x8A, len(data)]) + data)
                    continue
                if op in (0x1, 0x0):
                    frags += data
                    if fin:
                        text, frags = frags.decode(errors="replace"), b""
                        if not self.on_text(conn, text):
                            await asyncio.sleep(0.1)
                            conn.abort()
                            break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.conns.discard(conn)

    def on_text(self, conn, text):
        """Handles one client frame; False means: close abruptly."""
        def parse_error():
            conn.send({"channel": "error",
                       "data": f"Error parsing JSON into valid websocket request: {text}"})
        try:
            req = json.loads(text)
        except Exception:
            parse_error()
            return True
        m = req.get("method") if isinstance(req, dict) else None
        if m == "ping":
            conn.send({"channel": "pong"})
            return True
        if m not in ("subscribe", "unsubscribe") or not isinstance(req.get("subscription"), dict):
            parse_error()
            return True
        raw = req["subscription"]
        typ = raw.get("type")
        if typ == "allMids":
            key = ("allMids",)
        elif typ == "candle" and isinstance(raw.get("coin"), str) and raw.get("interval") in INTERVALS:
            key = ("candle", raw["coin"], raw["interval"])
        elif typ in ("trades", "l2Book", "bbo") and isinstance(raw.get("coin"), str):
            key = (typ, raw["coin"])
        else:
            parse_error()
            return True
        if len(key) > 1 and key[1] not in self.coins:
            return False  # the real server drops the socket
        if m == "subscribe":
            if any(k == key for k, _ in conn.subs):
                conn.send({"channel": "error", "data": f"Already subscribed: {json.dumps(raw)}"})
                return True
            conn.send({"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": raw}})
            conn.subs.append((key, raw))
            if key[0] == "allMids":
                conn.send({"channel": "allMids", "data": {"mids": self.all_mids()}})
            elif key[0] == "candle":
                step = INTERVALS[key[2]]
                c = self.bucket(key[1], key[2], (now_ms() // step) * step)
                if c:
                    conn.send({"channel": "candle", "data": self.wire(key[1], key[2], c)})
        else:
            before = len(conn.subs)
            conn.subs = [(k, r) for k, r in conn.subs if k != key]
            if len(conn.subs) == before:
                conn.send({"channel": "error", "data": f"Already unsubscribed: {json.dumps(raw)}"})
            else:
                conn.send({"channel": "subscriptionResponse", "data": {"method": "unsubscribe", "subscription": raw}})
        return True


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=3001)
    p.add_argument("--trade-ms", type=int, default=250)
    a = p.parse_args()
    f = FakeHyperliquid(a.port, a.trade_ms)
    print(f"fake Hyperliquid on http://127.0.0.1:{a.port} (ws://127.0.0.1:{a.port}/ws)", flush=True)
    asyncio.run(f.serve())
