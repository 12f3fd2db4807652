"""Benchmark of the web API. Prints figures; never asserts.

    .venv/bin/python bench/bench_api.py [--repeat 15] [--clients 200] [--updates 10] [--skip-ws] [--skip-heatmap]
        [--realized] [--live-step BARS]

1. GET /api/heatmap, in process (httpx ASGI transport, so "server time" = routing + model or cache +
   encoding + JSON + compression, no socket; the body is read raw, so the client's decoding is not
   counted), on five venues of 1-minute bars + 5-minute open interest stored in DuckDB
   (bench/minute_data.py: real data.binance.vision 1-minute klines, chained, deterministic venue variants):
   * 7-day view, columns=1000 rows=500 (the query picks 1-minute bars, grouped 11 per column, after a
     30-day warm-up at 1-minute bars);
   each timed as:
   * cold, new view: a distinct view per request (`end` moves back one hour each time) with the heatmap
     and response caches cleared, so every request runs the model; the warm-up book at the window's
     first midnight is kept (liqmap.warmbooks: shared by every view starting that day, checked against
     the stored rows), as in a running server;
   * cold, nothing cached: the same with the warm-up books cleared too (a server's first request for a
     view settings + day, e.g. right after it starts);
   * warm: the repeated view (cache hit);
   with the Accept-Encoding header Chromium sends (zstd chosen), and the cold new view also gzip-only;
   then the cold views again with hourly realized liquidations stored (a Coinglass-like aggregate), so the
   calibration is fitted on the day's fit view (liqmap.calibrate.fit_query: kept for the new views of the
   day, cleared with the books for "nothing cached", a new UTC day);
   then a new UTC day in a running server (:func:`bench_new_day`): the latest 7-day view asked for after
   the day's last bar (its window starts at the next midnight) and after the next day's first bar (its
   fit view), runs alternating with and without the next day's books and fit view built ahead;
   For each view the parts of a cold request are also timed alone: `heatmap_for` (store read + model,
   with and without the warm-up book) and the encoding (payload + JSON + zstd, and + gzip).
2. 200 concurrent WebSocket clients on one `liqmap serve` process (uvicorn, 127.0.0.1), all subscribed to
   the 7-day view of the same five venues of 1-minute bars (38 days stored); N new 1-minute bars (one per
   venue, with OI) are POSTed one by one; for every update the delay until each client has its ``update``
   frame with the heatmap columns (p50 / p99 / max), frames lost, resyncs. The server extends the view from its live state
   (liqmap.liveviews) instead of recomputing it. ``--realized``: hourly realized liquidations stored too, so
   the updates carry a fitted calibration (the first bar opens a new UTC day: that day's fit view).
3. ``--live-step BARS``: in process, CPU per new bar of the live step (the 7-day view extended + its
   calibration) with realized liquidations stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from liqmap.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from minute_data import VENUES

MINUTE = 60_000
DAY = 86_400_000

Params = dict[str, str | int | float]  # query parameters of a view (httpx's primitive values)


BROWSER_ENCODINGS = "gzip, deflate, br, zstd"  # what Chromium sends


async def time_requests(
    app: FastAPI, params: Params, repeat: int, mode: str, end: int, accept: str = BROWSER_ENCODINGS
) -> tuple[list[float], dict[str, Any]]:
    """Server time per request (the compressed body read raw, not decoded). ``mode``: "new view"
    (distinct `end`, heatmap + response caches cleared), "nothing cached" (the warm-up books cleared
    too) or "warm" (the same view again)."""
    import httpx

    from liqmap.service.calibration import context_cache

    ctx = app.state.liqmap
    times: list[float] = []
    headers = {"Accept-Encoding": accept}
    cold = mode != "warm"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        await client.get("/api/heatmap", params={**params, "end": end}, headers=headers)  # books of the day
        for i in range(repeat):
            view: Params = {**params, "end": end - (i + 1) * 3_600_000 if cold else end}
            if cold:
                ctx.cache.clear()
                ctx.responses.clear()
            if mode == "nothing cached":  # a new UTC day: its warm-up books and calibration fit view too
                ctx.cache.books.clear()
                context_cache(ctx.cache, "fit").clear()
            t0 = time.perf_counter()
            async with client.stream("GET", "/api/heatmap", params=view, headers=headers) as r:
                async for _ in r.aiter_raw():
                    pass
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.status_code
        body = (await client.get("/api/heatmap", params={**params, "end": end})).json()
    return times, body


def time_parts(store: Store, params: Params, end: int, repeat: int) -> None:
    """heatmap_for with and without the warm-up book, and the encoding, each on distinct views."""
    from liqmap.query import HeatmapQuery, heatmap_for
    from liqmap.service import compress, encode
    from liqmap.warmbooks import WarmBooks

    books = WarmBooks()
    model: dict[str, list[float]] = {"book": [], "plain": []}
    encoding: dict[str, list[float]] = {"zstd": [], "gzip": []}
    for i in range(repeat):
        query = HeatmapQuery("BTC", range=str(params["range"]), end=end - (i + 1) * 3_600_000, n_bins=500,
                             max_columns=1000)
        if i == 0:
            heatmap_for(store, query, books=books)  # the day's book
        for mode, cache in (("book", books), ("plain", None)):
            t0 = time.perf_counter()
            heatmap = heatmap_for(store, query, books=cache)
            model[mode].append((time.perf_counter() - t0) * 1000)
        for coding in encoding:
            t0 = time.perf_counter()
            payload = encode.heatmap_payload(heatmap, side="both", encoding="f32", sides=False, update_time=0,
                                             data_version=0, view={})
            raw = encode.json_bytes(payload)
            compress.compress(raw, coding)
            encoding[coding].append((time.perf_counter() - t0) * 1000)
        sizes = (len(raw), len(compress.compress(raw, "zstd")), len(compress.compress(raw, "gzip")))
    med = {k: statistics.median(v) for k, v in (*model.items(), *encoding.items())}
    print(f"  {params['range']:3} parts of a cold request, medians: heatmap_for (store read + model) "
          f"{med['book']:6.1f} ms from the day's warm-up book, {med['plain']:6.1f} ms without; "
          f"payload + JSON + zstd {med['zstd']:5.1f} ms (gzip instead, ISA-L: {med['gzip']:5.1f} ms); "
          f"body {sizes[0] / 1e6:.2f} MB, zstd {sizes[1] / 1e6:.2f} MB, gzip {sizes[2] / 1e6:.2f} MB")


def write_realized(store: Store, start: int, end: int) -> None:
    """Hourly realized liquidations of every venue summed (``exchange="aggregate"``, as Coinglass exports),
    deterministic: ~$2M long and ~$1.5M short an hour."""
    from liqmap.types import LiquidationBar

    hours = range(start, end, 3_600_000)
    store.write([LiquidationBar("aggregate", "BTC", 3_600_000, t, t + 3_600_000,
                                2e6 * (1 + 0.5 * ((t // 3_600_000) % 7 == 0)), 1.5e6, "bench")
                 for t in hours])


def bench_heatmap(repeat: int) -> None:
    from liqmap.service.app import create_app
    from liqmap.store import DuckDBStore
    from minute_data import write_store

    days = 40  # the 7-day view, its 30-day warm-up from a midnight, the cold views' moving end
    end = 1_780_272_000_000 + days * DAY
    tmp = Path(tempfile.mkdtemp(prefix="liqmap-bench-api-"))
    try:
        t0 = time.perf_counter()
        with DuckDBStore(tmp / "synthetic.duckdb") as store:
            write_store(store, days, end)
        print(f"store: 5 venues x {days * 1440:,} 1-minute bars (bench/minute_data.py, from real klines) + "
              f"5-minute OI in {time.perf_counter() - t0:.1f} s")
        store = DuckDBStore(tmp / "synthetic.duckdb").open()
        app = create_app(store)
        print("\n1. GET /api/heatmap (in process), median / p90 of", repeat)
        views: list[tuple[str, Params]] = [("7d ", {"symbol": "BTC", "range": "7d", "columns": 1000, "rows": 500})]
        for label, params in views:
            time_parts(store, params, end, max(3, repeat // 2))
            for mode, accept in (("new view", BROWSER_ENCODINGS), ("new view", "gzip"),
                                 ("nothing cached", BROWSER_ENCODINGS), ("warm", BROWSER_ENCODINGS)):
                times, body = asyncio.run(time_requests(app, params, repeat, mode, end, accept))
                shape = body["grid"]["shape"]
                med = statistics.median(times)
                p90 = sorted(times)[int(0.9 * (len(times) - 1))]
                target = {"new view": 100, "nothing cached": 300}.get(mode, 100)  # nothing cached = a new UTC day
                print(f"  {label} {mode:14} Accept-Encoding {accept!r:27}: grid {shape[0]}x{shape[1]} "
                      f"@ {body['interval_ms'] // MINUTE} min columns, median {med:6.1f} ms, p90 {p90:6.1f} ms "
                      f"(target <= {target} ms: {'ok' if med <= target else 'MISSED'})")
            # With realized liquidations stored (as Coinglass exports give), the calibration is fitted on
            # the view's fit view (the 30-day full book ending at the midnight starting the view's last
            # day): shared by the new views of one day, computed again on a new day ("nothing cached").
            write_realized(store, end - days * DAY, end + (repeat + 2) * DAY)
            for mode in ("new view", "nothing cached"):
                times, body = asyncio.run(time_requests(app, params, repeat, mode, end))
                fit = "the day's fit view computed too" if mode == "nothing cached" else "the day's fit view cached"
                print(f"  {label} {mode:14} with realized liquidations (calibration {body['calibration']['source']}, "
                      f"{fit}): median {statistics.median(times):6.1f} ms, "
                      f"p90 {sorted(times)[int(0.9 * (len(times) - 1))]:6.1f} ms")
            bench_new_day(app, store, end, days, repeat)
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_new_day(app: FastAPI, store: Store, end: int, days: int, repeat: int) -> None:
    """The first requests of a new UTC day in a running server, for the 7-day view of the latest data
    (realized liquidations stored): the store grows by a day of 1-minute bars per run, the view is asked
    for at the day's last bars (as the page or the live loop does); timed: the request after the day's last
    bar (the window starts at the next midnight: its warm-up books) and after the next day's first bar (its
    calibration's fit view). Runs alternate: "prefetched" (the books and the fit view built ahead in
    threads, waited for, as a minute between two bars allows) and "no prefetch" (nothing ahead)."""
    import httpx

    from liqmap.service.records import RecordsIn, to_records
    from minute_data import venue_series

    ctx = app.state.liqmap
    last = venue_series(days * 1440)
    close, oi = float(last[0][1]["close"][-1]), [float(s["oi"][-1]) for _, s in last]
    params: Params = {"symbol": "BTC", "range": "7d", "columns": 1000, "rows": 500}
    start = ctx.cache.prefetch.start
    figures: dict[str, list[tuple[float, float, float, float]]] = {"prefetched": [], "no prefetch": []}

    def write(day: int, first: int, stop: int) -> None:
        records: dict[str, list[dict[str, object]]] = {"bars": [], "open_interest": []}
        for u in range(first, stop):
            for kind, rows in bar_records(u, day, close, oi).items():
                records[kind] += rows
        store.write(to_records(RecordsIn.model_validate(records)))
        ctx.live.version += 1  # what the live loop does on new data

    async def get(client: httpx.AsyncClient) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        r = await client.get("/api/heatmap", params=params)
        assert r.status_code == 200, r.status_code
        return (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            for k in range(2 * max(2, repeat // 2)):
                mode = ("prefetched", "no prefetch")[k % 2]
                ctx.cache.prefetch.start = start if mode == "prefetched" else (lambda key, run: None)
                day = end + k * DAY  # this run's day: bars of [day, day + DAY), then the next day's first
                write(day, 0, 1438)
                await get(client)
                write(day, 1438, 1439)
                await get(client)  # an hour or less before the window moves: its books start ahead
                ctx.cache.prefetch.wait()
                write(day, 1439, 1440)
                window = await get(client)  # the day's last bar: the window starts at the next midnight
                ctx.cache.prefetch.wait()
                write(day + DAY, 0, 1)
                fit = await get(client)  # the next day's first bar: its calibration's fit view
                ctx.cache.prefetch.wait()
                figures[mode].append((*window, *fit))
        ctx.cache.prefetch.start = start

    asyncio.run(run())
    print(f"  7d  new UTC day (latest view, realized liquidations; {len(figures['prefetched'])} runs of each, "
          "alternating), wall ms / CPU ms (all threads) per request, min-max:")
    for mode, rows in figures.items():
        cols = list(zip(*rows, strict=True))
        span = [f"{min(c):.0f}-{max(c):.0f}" for c in cols]
        print(f"    {mode:11}: after the day's last bar (new window day: warm-up books) {span[0]} / {span[1]}; "
              f"after the next day's first bar (new fit view) {span[2]} / {span[3]}")


def process_cpu_s(pid: int, thread: int | None = None) -> float:
    """CPU seconds (user + system) the process (all threads), or its ``thread``, has used so far (Linux /proc;
    NaN elsewhere). The main thread's id is the process id: the server's event loop."""
    stat = Path(f"/proc/{pid}/stat") if thread is None else Path(f"/proc/{pid}/task/{thread}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ws_clients(
    url: str, clients: int, updates: int, token: str, view: dict[str, object], next_bar: int, last_close: float,
    last_oi: list[float], pause: float, server_pid: int,
) -> None:
    """``clients`` WebSocket clients subscribe to ``view``; ``updates`` POSTs of one new 1-minute bar (and OI)
    on every venue, ``pause`` s apart; the delay from each POST to the ``update`` frame carrying the heatmap
    columns at each client."""
    import httpx
    import websockets

    received: list[dict[int, float]] = [{} for _ in range(clients)]
    kinds: list[dict[str, int]] = [{} for _ in range(clients)]
    ready = asyncio.Event()
    subscribed = 0

    async def client(i: int) -> None:
        nonlocal subscribed
        async with websockets.connect(url.replace("http", "ws") + "/api/stream", max_size=1 << 24) as ws:
            await ws.send(json.dumps({"type": "subscribe", **view}))
            async for raw in ws:
                msg = json.loads(raw)
                kind = msg["type"]
                kinds[i][kind] = kinds[i].get(kind, 0) + 1
                if kind == "subscribed":
                    subscribed += 1
                    if subscribed == clients:
                        ready.set()
                elif kind == "update" and ("heatmap" in msg or "reload" in msg):
                    received[i][msg["data_version"]] = time.perf_counter()
                    if "reload" in msg:
                        kinds[i]["reload"] = kinds[i].get("reload", 0) + 1

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await asyncio.wait_for(ready.wait(), 60)
    print(f"  {clients} clients connected and subscribed")
    delays: list[float] = []
    sent: dict[int, float] = {}
    answered: list[float] = []  # POST round trips: the store write, the live step, every frame queued
    cpu0, loop0 = process_cpu_s(server_pid), process_cpu_s(server_pid, server_pid)
    async with httpx.AsyncClient(base_url=url, headers={"X-Liqmap-Token": token}, timeout=30) as http:
        for u in range(updates):
            records = bar_records(u, next_bar, last_close, last_oi)  # one new bar on every venue, in one POST
            t0 = time.perf_counter()
            r = await http.post("/api/records", json=records)
            answered.append((time.perf_counter() - t0) * 1000)
            version = r.json()["data_version"]
            sent[version] = t0
            await asyncio.sleep(pause)
    cpu, loop = process_cpu_s(server_pid) - cpu0, process_cpu_s(server_pid, server_pid) - loop0
    await asyncio.sleep(2.0)
    lost = 0
    for per_client in received:
        for version, t0 in sent.items():
            if version in per_client:
                delays.append((per_client[version] - t0) * 1000)
            else:
                lost += 1
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    delays.sort()
    resyncs = sum(k.get("resync", 0) for k in kinds)
    reloads = sum(k.get("reload", 0) for k in kinds)
    totals: dict[str, int] = {}
    for k in kinds:
        for name, count in k.items():
            totals[name] = totals.get(name, 0) + count
    print(f"  {updates} updates x {clients} clients: delivered {len(delays)}, lost {lost}, resyncs {resyncs}, "
          f"reload notices {reloads}; frames received by kind: {totals}")
    if delays:
        print(f"  POST answered (store write + live step + frames queued for every client): median "
              f"{statistics.median(answered):.0f} ms, max {max(answered):.0f} ms; server CPU per update "
              f"{cpu * 1000 / updates:.0f} ms (its process time over the updates, all threads; of it the event "
              f"loop's thread {loop * 1000 / updates:.0f} ms: the POST, the frames sent, health)")
        print(f"  POST -> update frame with the heatmap columns at every client: p50 {statistics.median(delays):.0f} ms, "
              f"p99 {delays[int(0.99 * (len(delays) - 1))]:.0f} ms, max {delays[-1]:.0f} ms")
        per_update = [sorted((c[v] - t0) * 1000 for c in received if v in c) for v, t0 in sent.items()]
        print("  per update (bar open time: p50/p99 ms): " + ", ".join(
            f"{(next_bar + u * MINUTE) % DAY // MINUTE:04d}m {d[len(d) // 2]:.0f}/{d[int(0.99 * (len(d) - 1))]:.0f}"
            for u, d in enumerate(per_update) if d))


def bar_records(u: int, next_bar: int, last_close: float, last_oi: list[float]) -> dict[str, list[dict[str, object]]]:
    """The ``u``-th new 1-minute bar (from ``next_bar``) of every venue and its OI, as ``POST /api/records``
    takes them."""
    ts = next_bar + u * MINUTE
    price = last_close * (1 + 1e-4 * ((u % 5) - 2))
    records: dict[str, list[dict[str, object]]] = {"bars": [], "open_interest": []}
    for v, exchange in enumerate(VENUES):
        p = price * (1 + 2e-4 * (v - 2))
        records["bars"].append({"exchange": exchange, "symbol": "BTC", "interval_ms": MINUTE, "ts_event": ts,
                                "open": p, "high": p * 1.0004, "low": p * 0.9997, "close": p * 1.0001,
                                "volume": 50.0, "taker_buy_volume": 26.0, "quote_volume": 50.0 * p})
        records["open_interest"].append({"exchange": exchange, "symbol": "BTC", "ts_event": ts + MINUTE,
                                         "oi_usd": last_oi[v] * (1 + 1e-4 * (u + 1))})
    return records


def bench_live_step(bars: int) -> None:
    """In process, the live loop's model work per new bar (``Live._view_frame`` before encoding): the 7-day
    live view of five venues extended (liqmap.liveviews) and its calibration, with hourly realized
    liquidations stored; CPU ms per bar (all threads), the first bar opening a new UTC day."""
    from types import SimpleNamespace

    from liqmap.service.calibration import calibration_with
    from liqmap.service.params import ViewKey
    from liqmap.service.records import RecordsIn, to_records
    from liqmap.service.views import HeatmapCache
    from liqmap.store import DuckDBStore

    tmp = Path(tempfile.mkdtemp(prefix="liqmap-bench-step-"))
    try:
        days = 38
        end, last_close, last_oi = write_live_store(tmp / "live.duckdb", days)
        with DuckDBStore(tmp / "live.duckdb") as store:
            write_realized(store, end - days * DAY, end)
            cache, owner = HeatmapCache(store), SimpleNamespace()
            key = ViewKey(symbol="BTC", exchanges=None, range="7d", end=None, leverage=None, ages=None, n_bins=500,
                          max_columns=1000)

            def step(version: int) -> str:
                return str(calibration_with(owner, store, cache, cache.get(key, version), latest=True).source)

            step(1)
            cache.prefetch.wait()  # the next day's fit view, started by the step (once)
            cpu = []
            for u in range(bars):
                store.write(to_records(RecordsIn.model_validate(bar_records(u, end, last_close, last_oi))))
                c0 = time.process_time()
                source = step(u + 2)
                cpu.append((time.process_time() - c0) * 1000)
        ordered = sorted(cpu)
        print(f"\n3. Live step in process, 7d view of 5 venues x {days} days of 1-minute bars, {bars} new bars "
              f"(calibration {source}): CPU per bar median {statistics.median(cpu):.0f} ms, "
              f"p90 {ordered[int(0.9 * (bars - 1))]:.0f} ms, max {ordered[-1]:.0f} ms; per bar "
              f"{' '.join(f'{c:.0f}' for c in cpu)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_live_store(path: Path, days: int, before: int = 0) -> tuple[int, float, list[float]]:
    """Five venues x ``days`` of 1-minute bars + 5-minute OI (bench/minute_data.py) in a DuckDB file at
    ``path``, ending ``before`` minutes before 1_780_272_000_000 + days * DAY (a UTC midnight); returns what
    :func:`ws_clients` continues from: the next bar's open time, the first venue's last close and every
    venue's last OI (USD)."""
    from liqmap.store import DuckDBStore
    from minute_data import venue_series, write_store

    end = 1_780_272_000_000 + days * DAY - before * MINUTE
    with DuckDBStore(path) as store:
        write_store(store, days, end)
    last = venue_series(days * 1440)
    return end, float(last[0][1]["close"][-1]), [float(s["oi"][-1]) for _, s in last]


def bench_ws(clients: int, updates: int, pause: float, realized: bool = False, before: int = 0) -> None:
    """The real server (``liqmap serve``) on a DuckDB file of five venues x 38 days of 1-minute bars (and,
    with ``realized``, hourly realized liquidations: the updates carry calibrated USD), ending ``before``
    minutes before a UTC midnight (the ``before``-th update's bar closes the day)."""
    import httpx

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
    from conftest import Server

    tmp = Path(tempfile.mkdtemp(prefix="liqmap-bench-ws-"))
    server = None
    try:
        days = 38
        end, last_close, last_oi = write_live_store(tmp / "live.duckdb", days, before)
        if realized:
            from liqmap.store import DuckDBStore

            with DuckDBStore(tmp / "live.duckdb") as store:
                write_realized(store, end - days * DAY, end)
        t0 = time.perf_counter()
        server = Server(tmp / "live.duckdb", token="bench")
        print(f"\n2. WebSocket fan-out on one server process ({server.url}), 5 venues x {days} days of 1-minute "
              f"bars{' + hourly realized liquidations' if realized else ''}; /api/meta answered "
              f"{time.perf_counter() - t0:.1f} s after the process started")
        deadline = time.monotonic() + 120  # steady state: the views computed at start are done
        while not httpx.get(f"{server.url}/api/meta", timeout=30).json()["prewarmed"] and time.monotonic() < deadline:
            time.sleep(0.2)
        params: Params = {"symbol": "BTC", "range": "7d", "rows": 500, "columns": 1000}
        first = httpx.get(f"{server.url}/api/heatmap", params=params, timeout=60).json()
        view = {**params, "side": "both", "encoding": "u16", "last_time": first["times"][-1]}
        asyncio.run(ws_clients(server.url, clients, updates, "bench", view, end, last_close, last_oi, pause,
                               server.proc.pid))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between two POSTed bars")
    parser.add_argument("--skip-ws", action="store_true")
    parser.add_argument("--skip-heatmap", action="store_true")
    parser.add_argument("--realized", action="store_true",
                        help="WebSocket part: store hourly realized liquidations (calibrated updates)")
    parser.add_argument("--before-midnight", type=int, default=0, metavar="MIN",
                        help="WebSocket part: the stored bars end MIN minutes before a UTC midnight")
    parser.add_argument("--live-step", type=int, default=0, metavar="BARS",
                        help="also time the live step in process over BARS new bars")
    args = parser.parse_args()
    if not args.skip_heatmap:
        bench_heatmap(args.repeat)
    if not args.skip_ws:
        bench_ws(args.clients, args.updates, args.pause, args.realized, args.before_midnight)
    if args.live_step:
        bench_live_step(args.live_step)


if __name__ == "__main__":
    main()
