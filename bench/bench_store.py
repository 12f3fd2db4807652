"""Benchmark of the two store backends (embedded DuckDB vs PostgreSQL). Prints figures; never asserts.

    python bench/bench_store.py [--repeat 5] [--skip-e2e]

Starts its own PostgreSQL server on 127.0.0.1 (Debian's package, as the tests do; or LIQMAP_TEST_PG) with
fsync off (as in the tests: the figures then measure liqmap and the server, not this VM's disk flushes).

1. Write rows/s: 1-minute bars through ``store.write(records)`` in batches of 1,000 (the collector's
   writer path) and through ``write_columns`` in batches of 10,000 (the import path), 100k rows each.
2. A 30-day read of 1-minute bars (43,200 rows, one series): every column, and the model's numeric columns
   (on PostgreSQL the first is a text COPY, the second a binary COPY decoded by numpy): ms.
3. ``heatmap_for`` on a 7-day view over 60 days of synthetic 1-minute bars + 5-minute OI (a new `end` per
   run, no cache: the store read + the model), on both backends.
4. Store growth per day at a stated message rate, per venue × symbol series: 1,440 one-minute bars,
   1,440 OI snapshots, 86,400 mark prices (1/s), 3 funding rates, 2,000 liquidation prints; raw trades are
   off by default (`collect --store-trades`), so their cost is printed apart (per million trades).
5. End to end across processes (PostgreSQL): a writer process stores a new bar (as a collector does); a
   `liqmap serve` process hears it through LISTEN/NOTIFY and pushes it to a WebSocket client: the delay
   from the writer's commit to the client's receipt, over 40 bars.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from liqmap.ingest.frames import _BAR_COLUMNS
from liqmap.store import DuckDBStore, Store
from liqmap.store.postgres_store import PostgresStore
from liqmap.types import (
    DAY_MS,
    MINUTE_MS,
    Bar,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Record,
    Trade,
)
from support.pgserver import PgServer, free_port

T0 = 1_767_225_600_000  # 2026-01-01
MODEL_COLUMNS = _BAR_COLUMNS  # what load_frame reads from the bars table


def bars(n: int, start: int = T0, exchange: str = "binance", symbol: str = "BTC") -> list[Bar]:
    rng = np.random.default_rng(1)
    close = 60_000 * np.exp(np.cumsum(rng.normal(0, 8e-4, n)))
    return [Bar(exchange, symbol, MINUTE_MS, start + i * MINUTE_MS, float(c * 0.9995), float(c * 1.001),
                float(c * 0.999), float(c), 12.5, ts_recv=start + i * MINUTE_MS + 60_050,
                quote_volume=float(12.5 * c), taker_buy_volume=6.1, trades=412, venue_symbol="BTCUSDT")
            for i, c in enumerate(close)]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def span(values: list[float], scale: float = 1.0, fmt: str = ".1f") -> str:
    v = sorted(x * scale for x in values)
    return f"median {statistics.median(v):{fmt}} (range {v[0]:{fmt}}-{v[-1]:{fmt}})"


def backends(tmp: Path, server: PgServer, tag: str) -> list[tuple[str, Store]]:
    return [("duckdb", DuckDBStore(tmp / f"{tag}.duckdb")), ("postgresql", PostgresStore(server.database()))]


def write_rates(tmp: Path, server: PgServer, repeat: int) -> None:
    print("\n1. write rows/s (100k one-minute bars)")
    rows = bars(100_000)
    for name, store in backends(tmp, server, "w"):
        with store:
            rates_records, rates_columns = [], []
            for r in range(repeat):
                shifted = [Bar(b.exchange, f"R{r}", b.interval_ms, b.ts_event, b.open, b.high, b.low, b.close,
                               b.volume, b.ts_recv, b.quote_volume, b.taker_buy_volume, b.trades)
                           for b in rows]
                t = time.perf_counter()
                for i in range(0, len(shifted), 1000):
                    store.write(shifted[i:i + 1000])
                rates_records.append(len(shifted) / (time.perf_counter() - t))
                cols = {name_: np.array([getattr(b, name_) for b in shifted], dtype=object)
                        for name_ in ("exchange", "symbol", "interval_ms", "ts_event", "open", "high", "low", "close",
                                      "volume", "ts_recv", "quote_volume", "taker_buy_volume", "trades", "market",
                                      "venue_symbol")}
                cols["symbol"] = np.array([f"C{r}"] * len(shifted), dtype=object)
                t = time.perf_counter()
                for i in range(0, len(shifted), 10_000):
                    store.write_columns("bars", {k: v[i:i + 10_000] for k, v in cols.items()})
                rates_columns.append(len(shifted) / (time.perf_counter() - t))
        print(f"  {name:<11} write(records) x1000: {span(rates_records, fmt=',.0f')} rows/s;"
              f"  write_columns x10000: {span(rates_columns, fmt=',.0f')} rows/s")


def reads_and_heatmaps(tmp: Path, server: PgServer, repeat: int) -> None:
    from liqmap.query import HeatmapQuery, heatmap_for

    print("\n2. 30-day read of 1-minute bars (43,200 rows) and 3. heatmap_for / the API, 7d view "
          "(60 days of 1-minute bars + 5-minute OI; new end per run)")
    days = 60
    data = bars(days * 1440)
    oi = [OpenInterest("binance", "BTC", T0 + i * 5 * MINUTE_MS, T0 + i * 5 * MINUTE_MS, None,
                       8e9 * (1 + 0.05 * np.sin(i / 300))) for i in range(days * 288)]
    for name, store in backends(tmp, server, "r"):
        with store:
            for i in range(0, len(data), 20_000):
                store.write(data[i:i + 20_000])
            store.write(oi)
            end = T0 + days * DAY_MS
            read = timed(partial(store.read, "bars", start=end - 30 * DAY_MS, end=end, exchange="binance",
                                 symbol="BTC", interval_ms=MINUTE_MS), repeat)
            model_read = timed(partial(store.read, "bars", start=end - 30 * DAY_MS, end=end, columns=MODEL_COLUMNS,
                                       exchange="binance", symbol="BTC", interval_ms=MINUTE_MS), repeat)
            ends = iter(range(end - 60 * MINUTE_MS, 0, -37 * MINUTE_MS))

            def one(s: Store = store, e: Iterator[int] = ends) -> None:
                heatmap_for(s, HeatmapQuery("BTC", range="7d", end=next(e), max_columns=1000))

            one()  # first call: kernels compiled / caches of the process warm
            maps = timed(one, repeat)
            api = api_new_views(store, ends, repeat)
        print(f"  {name:<11} read: {span(read, 1000)} ms;  the model's numeric columns: {span(model_read, 1000)} ms")
        print(f"  {name:<11} heatmap_for 7d: {span(maps, 1000)} ms;  "
              f"GET /api/heatmap 7d new view (in process): {span(api, 1000)} ms")


def api_new_views(store: Store, ends: Iterator[int], repeat: int) -> list[float]:
    """``GET /api/heatmap`` of a 7-day view with a new ``end`` each time (the model runs; warm-up books kept),
    through the real app in process (httpx ASGI transport: routing, model, encoding, compression)."""
    import httpx

    from liqmap.service.app import create_app

    app = create_app(store, prewarm_views=False)

    async def run() -> list[float]:
        out = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            for i in range(repeat + 1):
                t = time.perf_counter()
                response = await client.get("/api/heatmap", params={"symbol": "BTC", "range": "7d",
                                                                    "end": str(next(ends))})
                assert response.status_code == 200, response.text[:200]
                if i:
                    out.append(time.perf_counter() - t)
        return out

    return asyncio.run(run())


def growth(tmp: Path, server: PgServer) -> None:
    print("\n4. store growth per day, per venue x symbol series (bars 1/min, OI 1/min, mark 1/s, 3 funding, "
          "2,000 prints; trades off)")
    day = T0 + 10 * DAY_MS
    rng = np.random.default_rng(3)
    day_records: list[Record] = list(bars(1440, start=day))
    day_records += [OpenInterest("binance", "BTC", day + i * MINUTE_MS, day + i * MINUTE_MS, 1.2e5, 8e9 + i)
                    for i in range(1440)]
    day_records += [MarkPrice("binance", "BTC", day + i * 1000, day + i * 1000 + 3, 60_000 + float(rng.normal()),
                              60_001.0, 1e-4, day + 8 * 3_600_000) for i in range(86_400)]
    day_records += [Funding("binance", "BTC", day + h * 3_600_000, day + h * 3_600_000, 1e-4, 8.0) for h in (0, 8, 16)]
    day_records += [Liquidation("binance", "BTC", day + i * 43_000, day + i * 43_000 + 5, "long" if i % 2 else "short",
                                60_000 + float(i), 0.25, 15_000.0 + i) for i in range(2000)]
    trades = [Trade("binance", "BTC", day + i * 80, day + i * 80 + 2, 60_000 + float(i % 97), 0.003, "buy",
                    f"{9_000_000_000 + i}", "BTCUSDT") for i in range(200_000)]
    for name, store in backends(tmp, server, "g"):
        with store:
            before = _size(store)
            for i in range(0, len(day_records), 20_000):
                store.write(day_records[i:i + 20_000])
            after = _size(store)
            for i in range(0, len(trades), 20_000):
                store.write(trades[i:i + 20_000])
            with_trades = _size(store)
        per_million = (with_trades - after) * 1_000_000 / len(trades)
        print(f"  {name:<11} {(after - before) / 1e6:.1f} MB per series-day "
              f"({len(day_records):,} rows); raw trades if stored: {per_million / 1e6:.0f} MB per million")


def _size(store: Store) -> int:
    if isinstance(store, DuckDBStore):
        store.execute("CHECKPOINT")
        return Path(store.path).stat().st_size
    assert isinstance(store, PostgresStore)
    return int(store.execute("SELECT pg_database_size(current_database())")[0][0])


WRITER = """
import sys, time, json
from liqmap.store import open_store
from liqmap.types import Bar
store = open_store(sys.argv[1]); start = int(sys.argv[2])
for i in range(int(sys.argv[3])):
    ts = start + i * 60000
    store.write([Bar("binance", "BTC", 60000, ts, 1.0, 2.0, 0.5, 1.5, 3.0, ts_recv=ts)])
    print(json.dumps([ts, time.time()]), flush=True)
    time.sleep(0.25)
store.close()
"""


async def end_to_end(server: PgServer, n: int = 40) -> None:
    import websockets

    print("\n5. end to end across processes (PostgreSQL): writer process commit -> liqmap serve (LISTEN/NOTIFY) "
          "-> WebSocket client")
    url = server.database()
    seed = PostgresStore(url).open()
    seed.write(bars(60))
    seed.close()
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "liqmap", "serve", "--db", url, "--port", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        received: dict[int, float] = {}
        for _ in range(200):
            try:
                ws = await websockets.connect(f"ws://127.0.0.1:{port}/api/stream")
                break
            except OSError:
                await asyncio.sleep(0.1)
        await ws.send(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "24h"}))
        start = T0 + 3600_000
        writer = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, url, str(start), str(n),
                                                      stdout=asyncio.subprocess.PIPE)
        committed: dict[int, float] = {}

        async def read_writer() -> None:
            assert writer.stdout is not None
            async for line in writer.stdout:
                ts, at = json.loads(line)
                committed[int(ts)] = float(at)

        async def read_ws() -> None:
            while len(received) < n:
                message = json.loads(await ws.recv())
                if message.get("type") == "update":
                    now = time.time()
                    for series in message["bars"]:
                        for row in series["bars"]:
                            received.setdefault(int(row[0]), now)

        await asyncio.wait_for(asyncio.gather(read_writer(), read_ws()), timeout=120)
        await ws.close()
        delays = [(received[ts] - committed[ts]) * 1000 for ts in committed if ts in received]
        delays.sort()
        print(f"  {len(delays)}/{n} bars delivered; delay p50 {statistics.median(delays):.1f} ms, "
              f"p90 {delays[int(0.9 * (len(delays) - 1))]:.1f} ms, max {delays[-1]:.1f} ms")
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        server = PgServer(tmp / "pg").start()
        try:
            write_rates(tmp, server, args.repeat)
            reads_and_heatmaps(tmp, server, args.repeat)
            growth(tmp, server)
            if not args.skip_e2e:
                asyncio.run(end_to_end(server))
        finally:
            server.remove()
    print(f"\nload {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
