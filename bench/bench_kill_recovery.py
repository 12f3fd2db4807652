"""Loss bound of a kill -9: a real ``liqmap collect`` subprocess is killed N times while the mock exchange on
127.0.0.1 streams liquidation prints at a steady rate; after a final clean stop, the prints written to the
collector's socket are compared with the rows stored. Run with the journal (default) and without it.

A print counts as *delivered* when the mock wrote it to an open socket of the collector; prints sent while
no collector was connected are not counted (no exchange resends them; REST backfill covers bars, OI and
funding, not prints). Lost = delivered but never stored.

Run: ``python bench/bench_kill_recovery.py [--kills 10] [--rate 200] [--flush-ms 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def liquidation(k: int, ts: int) -> str:
    from liqmap.testing.mock.binance import force_order_frame

    qty = str(1 + k % 50)
    frame: str = force_order_frame(["BTC", "SELL" if k % 2 else "BUY", "LIMIT", "IOC", qty, "60000.0", "60000.0",
                                    "FILLED", qty, qty, str(ts), "0"])
    return frame


class Streamer:
    """The mock exchange on its own loop, pushing one print every 1/rate s to every open socket."""

    def __init__(self, rate: float) -> None:
        from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol
        from liqmap.testing.mock.server import MockExchange

        self.mock = MockExchange(BinanceDialect(symbols=[exchange_info_symbol("BTCUSDT")]))
        self.rate = rate
        self.delivered: list[int] = []
        self.connected_s = 0.0
        self.running = True
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.mock.start(), self.loop).result(10)
        asyncio.run_coroutine_threadsafe(self._pump(), self.loop)

    async def _pump(self) -> None:
        k = 0
        base = time.time_ns() // 1_000_000 - 3_600_000
        last = time.perf_counter()
        while self.running:
            await asyncio.sleep(1.0 / self.rate)
            now = time.perf_counter()
            sockets = [ws for ws in self.mock._sockets if not ws.closed]
            if not sockets:
                last = now
                continue
            self.connected_s += now - last
            last = now
            k += 1
            ts = base + k
            for ws in sockets:
                try:
                    await ws.send_str(liquidation(k, ts))
                except Exception:
                    break
            else:
                self.delivered.append(ts)

    def stop(self) -> None:
        self.running = False
        time.sleep(0.2)
        asyncio.run_coroutine_threadsafe(self.mock.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def run(kills: int, rate: float, flush_ms: int, journal: bool, seed: int) -> tuple[int, int, int, float]:
    from liqmap.store import DuckDBStore

    rng = random.Random(seed)
    streamer = Streamer(rate)
    streamer.start()
    url = f"binance={streamer.mock.http_url},{streamer.mock.ws_url}"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "k.duckdb"
        cmd = [sys.executable, "-c", "from liqmap.cli import main; main()", "collect", "--exchanges", "binance",
               "--symbols", "BTC", "--channels", "liquidations", "--venue-url", url, "--db", str(db),
               "--flush-ms", str(flush_ms), *([] if journal else ["--journal", "off"])]
        for i in range(kills + 1):
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            time.sleep(rng.uniform(2.0, 4.0))
            if i < kills:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            else:
                streamer.running = False
                time.sleep(0.5)
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        streamer.stop()
        with DuckDBStore(db, read_only=True) as store:
            stored = set(int(t) for t in store.read("liquidations")["ts_event"])
    delivered = set(streamer.delivered)
    return len(delivered), len(delivered - stored), len(stored - delivered), len(delivered) / streamer.connected_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--flush-ms", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"load: {args.rate:.0f} prints/s, {args.kills} kill -9s at 2-4 s intervals, writer flush "
          f"{args.flush_ms} ms, {os.cpu_count()} cores (shared)")
    for journal in (True, False):
        delivered, lost, extra, rate = run(args.kills, args.rate, args.flush_ms, journal, args.seed)
        per_kill = lost / max(args.kills, 1)
        print(f"journal {'on ' if journal else 'off'}: delivered {delivered} at {rate:.0f} prints/s while "
              f"connected, lost {lost} ({per_kill:.1f} per kill = {1000 * per_kill / rate:.0f} ms of stream), "
              f"stored but not delivered {extra}")


if __name__ == "__main__":
    main()
