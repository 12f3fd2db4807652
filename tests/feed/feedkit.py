"""Shared helpers for feed tests: a fake clock whose sleeps are instant, and polling waits."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from liqmap.feed.timing import Timing

FIXTURES = Path(__file__).parents[1] / "fixtures"


class FakeClock:
    """Exchange-time clock for tests. ``sleep(s)`` advances it by ``s`` (or by ``outage_ms`` for the
    reconnect backoff, to stand for an outage of that length) and yields to the loop for real."""

    def __init__(self, start_ms: int, outage_ms: int = 0) -> None:
        self.t = start_ms
        self.outage_ms = outage_ms
        self.sleeps: list[float] = []

    def now_ms(self) -> int:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(int(seconds * 1000), self.outage_ms)
        await asyncio.sleep(0.005)

    def timing(self) -> Timing:
        return Timing(now_ms=self.now_ms, sleep=self.sleep)



def vision_rows(n: int = 180) -> list[list[str]]:
    """Real data.binance.vision AVAXUSDT 1m rows (2026-06), header dropped."""
    with (FIXTURES / "binance" / "vision" / "AVAXUSDT-1m-2026-06-head180.csv").open() as handle:
        rows = list(csv.reader(handle))
    return rows[1 : n + 1]


def rest_rows(rows: list[list[str]]) -> list[list[object]]:
    """Archive CSV kline rows in the REST shape (ints for times and counts)."""
    return [[int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7], int(r[8]), r[9], r[10], r[11]] for r in rows]


class ThreadedMock:
    """A MockExchange on its own event loop in a thread, for synchronous callers (the CLI)."""

    def __init__(self, mock: object) -> None:
        import threading

        self.mock = mock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> object:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.mock.start(), self._loop).result(10)  # type: ignore[attr-defined]
        return self.mock

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.mock.close(), self._loop).result(10)  # type: ignore[attr-defined]
            asyncio.run_coroutine_threadsafe(self._loop.shutdown_asyncgens(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()  # its self-pipe sockets, else a ResourceWarning at garbage collection


def liquidation_print(k: int, ts: int) -> str:
    """A distinct AVAX ``forceOrder`` frame for print k (quantity 10 + k, price 9 + k/1000)."""
    from liqmap.testing.mock.binance import force_order_frame

    qty = str(10 + k)
    price = f"{9 + k / 1000:.3f}"
    return force_order_frame(["AVAX", "SELL" if k % 2 else "BUY", "LIMIT", "IOC", qty, price, price, "FILLED", qty,
                              qty, str(ts), "0"])
