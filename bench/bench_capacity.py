"""Per-process capacities for docs/deploy.md: one server replica, one collector.

1. HTTP requests/s of one ``liqmap serve`` process on the demo store (the shipped real sample), from a
   load generator in a second process on 127.0.0.1: ``wrk`` (Debian package) when installed, else an
   httpx/asyncio client. Routes: ``/api/heatmap`` 7d BTC (the cached view, as a page load after the first
   visitor; ``Accept-Encoding: zstd`` as browsers send) and ``/api/candles`` 7d BTC. Bounded by
   ``--seconds`` per run and ``--connections``; ``--repeat`` runs; prints each run, the range and median.
2. WebSocket clients per replica: N clients (N = 100, 500, 1000) subscribe to the 7d view of bench_api's
   live store (five venues x 38 days of 1-minute bars + OI); a 1-minute bar per venue is POSTed to
   ``/api/records`` (token) once a second; the time until each client receives the heatmap
   update gives p50/p99 (``bench_api.ws_clients``, whose clients run in this process: at large N their
   own JSON decoding adds to the figure).
3. Symbols per collector: a ``liqmap collect`` process (binance dialect, trades channel) reads the mock
   exchange (liqmap.testing.mock, in this process, 127.0.0.1), which pushes aggTrade frames stamped with
   the send time, round-robin over S symbols, at increasing rates R (msg/s) for ``--seconds`` each, and
   stores them (``--store-trades``: without it raw trades only feed the bars' taker volume). The
   collector's own ``/metrics`` (``--metrics-port``) gives its lag (recv - send of the latest record) and
   the records stored; a rate is kept up with when the store caught up within 2 s of the last frame and
   the worst lag seen stayed under 1 s. symbols × msg/s per symbol = R.

The machine is shared (2 cores, other engineers' jobs): every figure is a lower bound of a dedicated
core; run it several times and read the ranges. Run:
``python bench/bench_capacity.py [--only http|ws|collector] [--seconds 8] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT / "bench"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ms(text: str) -> float:
    """wrk's latency figure ("850.21us", "3.05ms", "1.20s") in ms."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(text)
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


def run_wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of one wrk run (one thread: the server has one process too)."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    rps = float(_field(r"Requests/sec:\s+([\d.]+)", out))
    return rps, _ms(_field(r"\s50%\s+(\S+)", out)), _ms(_field(r"\s99%\s+(\S+)", out))


def _field(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in ``text`` (wrk's report); ValueError when wrk printed no such line."""
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"{pattern!r} not in wrk's output: {text[:200]!r}")
    return match.group(1)


def run_httpx(url: str, seconds: int, connections: int, headers: dict[str, str]) -> tuple[float, float, float]:
    """The same measurement without wrk, from a child process (so the client does not share the GIL)."""
    code = f"""
import asyncio, json, time, httpx
async def main():
    lat = []
    async with httpx.AsyncClient(headers={headers!r}, timeout=30, limits=httpx.Limits(max_connections={connections})) as c:
        end = time.perf_counter() + {seconds}
        async def worker():
            while time.perf_counter() < end:
                t = time.perf_counter(); r = await c.get({url!r}); await r.aread(); lat.append(time.perf_counter() - t)
        t0 = time.perf_counter(); await asyncio.gather(*[worker() for _ in range({connections})])
        print(json.dumps([len(lat) / (time.perf_counter() - t0), sorted(lat)]))
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rps, lat = json.loads(out)
    return rps, lat[len(lat) // 2] * 1000, lat[int(0.99 * (len(lat) - 1))] * 1000


def wait_prewarmed(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while not httpx.get(f"{url}/api/meta", timeout=30).json()["prewarmed"] and time.monotonic() < deadline:
        time.sleep(0.2)


def bench_http(db: Path, seconds: int, repeat: int, connections: int) -> None:
    import httpx

    from conftest import Server

    generator = run_wrk if shutil.which("wrk") else run_httpx
    server = Server(db, token=None)
    try:
        wait_prewarmed(server.url)
        routes = {
            "/api/heatmap 7d (cached view, zstd)": ("/api/heatmap?symbol=BTC&range=7d", {"Accept-Encoding": "zstd"}),
            "/api/candles 7d": ("/api/candles?symbol=BTC&range=7d", {"Accept-Encoding": "gzip"}),
        }
        print(f"\n1. HTTP: one `liqmap serve` process ({server.url}), load from {generator.__name__[4:]} in a "
              f"second process, {connections} connections, {seconds} s per run, {repeat} runs")
        for name, (path, headers) in routes.items():
            size = len(httpx.get(server.url + path, headers=headers, timeout=60).content)  # also warms the view
            runs = [generator(server.url + path, seconds, connections, headers) for _ in range(repeat)]
            rps = [r[0] for r in runs]
            print(f"  {name}: body {size / 1024:.0f} KiB")
            for r in runs:
                print(f"    {r[0]:8.0f} req/s   p50 {r[1]:7.1f} ms   p99 {r[2]:7.1f} ms")
            print(f"    range {min(rps):.0f}-{max(rps):.0f} req/s, median {statistics.median(rps):.0f}")
    finally:
        server.stop()


def bench_ws(tmp: Path, sizes: list[int], updates: int) -> None:
    """bench_api's live store (five venues x 38 days of 1-minute bars + OI): each size continues the bars
    where the previous one stopped, from a freshly fetched view."""
    import httpx

    from bench_api import MINUTE, Params, write_live_store, ws_clients
    from conftest import Server

    next_bar, last_close, last_oi = write_live_store(tmp / "live.duckdb", 38)
    server = Server(tmp / "live.duckdb", token="bench")
    try:
        wait_prewarmed(server.url)
        params: Params = {"symbol": "BTC", "range": "7d", "rows": 500, "columns": 1000}
        for n in sizes:
            first = httpx.get(f"{server.url}/api/heatmap", params=params, timeout=60).json()
            view = {**params, "side": "both", "encoding": "u16", "last_time": first["times"][-1]}
            print(f"\n2. WebSocket: {n} clients on one `liqmap serve` process, {updates} bars POSTed 1 s apart")
            asyncio.run(ws_clients(server.url, n, updates, "bench", view, next_bar, last_close, last_oi, 1.0,
                                   server.proc.pid))
            next_bar += updates * MINUTE
    finally:
        server.stop()


async def _scrape(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = (await client.get(url)).text
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples}


async def collector_step(mock: object, client: httpx.AsyncClient, url: str, symbols: list[str], rate: int, seconds: float,
                         next_id: int, before: float) -> tuple[float, float, float | None, int, float]:
    """Push ``rate`` msg/s for ``seconds`` (a sampler task scrapes the collector's lag meanwhile); returns
    (achieved msg/s, worst lag s, catch-up s or None, next trade id, stored count after)."""
    from liqmap.testing.mock.server import MockExchange

    assert isinstance(mock, MockExchange)
    lags: list[float] = []

    async def sample() -> None:
        while True:
            lags.append((await _scrape(client, url)).get("liqmap_feed_lag_seconds", 0.0))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    sent = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        now_ms = int(time.time() * 1000)
        for _ in range(per_tick):
            symbol = symbols[next_id % len(symbols)]
            data = {"e": "aggTrade", "E": now_ms, "a": next_id, "s": symbol, "p": "100.5", "q": "0.25",
                    "f": next_id, "l": next_id, "T": now_ms, "m": next_id % 2 == 0}
            await mock.push(json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": data}, separators=(",", ":")))
            next_id += 1
            sent += 1
        await asyncio.sleep(max(0.0, start + (sent / per_tick) * tick - time.perf_counter()))
    elapsed = time.perf_counter() - start
    ended = time.perf_counter()
    caught_up = None
    stored = before
    while time.perf_counter() - ended < 15:
        stored = (await _scrape(client, url)).get("liqmap_store_write_records_total", 0.0)
        if stored >= before + sent:
            caught_up = time.perf_counter() - ended
            break
        await asyncio.sleep(0.05)
    sampler.cancel()
    return sent / elapsed, max(lags, default=float("nan")), caught_up, next_id, stored


async def bench_collector(tmp: Path, symbol_counts: list[int], rates: list[int], seconds: float) -> None:
    import httpx

    from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol
    from liqmap.testing.mock.server import MockExchange

    print(f"\n3. Collector: one `liqmap collect` process (binance trades), mock exchange pushing aggTrade "
          f"frames, {seconds:g} s per rate")
    print(f"  {'symbols':>7} {'target':>8} {'achieved':>9} {'worst lag':>10} {'caught up':>10}  kept up")
    for n_symbols in symbol_counts:
        symbols = [f"C{i:03d}USDT" for i in range(n_symbols)]
        dialect = BinanceDialect(symbols=[exchange_info_symbol(s) for s in symbols])
        async with MockExchange(dialect) as mock:
            port = free_port()
            url = f"http://127.0.0.1:{port}/metrics"
            args = [sys.executable, "-c", "from liqmap.cli import main; main()", "collect", "--exchanges", "binance",
                    "--symbols", ",".join(s[:-4] for s in symbols), "--channels", "trades", "--store-trades",
                    "--venue-url", f"binance={mock.http_url},{mock.ws_url}", "--db", str(tmp / f"c{n_symbols}.duckdb"),
                    "--metrics-port", str(port)]
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env={**os.environ, "LIQMAP_CONFIG": ""})
            try:
                deadline = time.monotonic() + 30
                while not mock._sockets and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                next_id, stored = 1, 0.0
                async with httpx.AsyncClient(timeout=10) as client:
                    while time.monotonic() < deadline:  # the metrics endpoint is up
                        with contextlib.suppress(httpx.HTTPError):
                            await _scrape(client, url)
                            break
                        await asyncio.sleep(0.1)
                    for rate in rates:
                        achieved, lag, caught, next_id, stored = await collector_step(
                            mock, client, url, symbols, rate, seconds, next_id, stored)
                        ok = caught is not None and caught <= 2.0 and lag < 1.0
                        shown = "never" if caught is None else f"{caught:.2f} s"
                        print(f"  {n_symbols:7d} {rate:8d} {achieved:9.0f} {lag:9.3f}s {shown:>10}  "
                              f"{'yes' if ok else 'NO'}")
                        if not ok:
                            break
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["http", "ws", "collector"], action="append")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--clients", default="100,500,1000")
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--symbols", default="10,100")
    parser.add_argument("--rates", default="1000,2000,5000,10000,20000")
    args = parser.parse_args()
    parts = args.only or ["http", "ws", "collector"]
    print(f"bench_capacity: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    tmp = Path(tempfile.mkdtemp(prefix="liqmap-capacity-"))
    try:
        if "http" in parts:
            from conftest import make_demo_db

            bench_http(make_demo_db(tmp / "demo.duckdb"), args.seconds, args.repeat, args.connections)
        if "ws" in parts:
            bench_ws(tmp, [int(n) for n in args.clients.split(",")], args.updates)
        if "collector" in parts:
            asyncio.run(bench_collector(tmp, [int(n) for n in args.symbols.split(",")],
                                        [int(r) for r in args.rates.split(",")], args.seconds))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
