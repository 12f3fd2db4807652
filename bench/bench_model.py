"""Benchmark of the liquidation model engine. Prints figures and ratios; never asserts.

    python bench/bench_model.py [--days 90] [--exchanges 5] [--bins 2000] [--columns 2000] [--repeat 3]

Headline figures use the default model, ``ModelConfig()`` (printed).

1. Compile: the server's import (``liqmap.service.app``, without numba) and the numba kernel's first call
   in a fresh process with an empty cache (compile) and with the on-disk cache filled (load), each in a
   subprocess.
2. Full recompute on real 1-minute data: five venues (bench/minute_data.py: the real data.binance.vision
   1-minute klines, chained and varied per venue) x D days into a B-bin grid, compiled kernel and numpy
   path (same numbers: the largest difference is printed), wall and CPU per run, repeated.
3. The same through the public query API (``heatmap_for`` + ``HeatmapQuery``, forced 1-minute bars) on a
   DuckDB store holding those bars, with the 30-day warm-up and without, in parts (each venue's
   load_frame, load_frames, the whole call); then the web API's 7-day view of the five venues on a
   new UTC day and as a new view with the day's warm-up books cached.
4. Synthetic 1-minute bars (the series the issue's baseline was measured on), both kernels.
5. Baseline: the per-position reference implementation on a small slice.
Every figure is printed with the load average: the machine is shared, so wall times vary with it.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from liqmap.model import MarketFrame, ModelConfig, compute_heatmap
from liqmap.model.kernel import kernel
from liqmap.model.reference import reference_heatmap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from minute_data import minute_frames, write_store

T = TypeVar("T")
MINUTE = 60_000
EXCHANGES = ("binance", "bybit", "okx", "bitget", "gate")


def synthetic_frame(rng: np.random.Generator, exchange: str, n: int, start_ms: int = 1_735_689_600_000) -> MarketFrame:
    """1-minute bars: ~0.05 %/min price volatility with fat-ish tails, OI ~ $5-10bn random walk."""
    returns = rng.standard_t(4, n) * 0.0004
    close = 90_000.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate(([90_000.0], close[:-1]))
    wick = np.abs(rng.normal(0, 0.0003, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = rng.lognormal(3.0, 0.8, n)
    oi = 6e9 * np.exp(np.cumsum(rng.normal(0, 0.0006, n)))
    return MarketFrame(
        exchange=exchange,
        symbol="BTC",
        interval_ms=MINUTE,
        ts=start_ms + MINUTE * np.arange(n),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        oi_usd=oi,
        taker_buy_volume=volume * rng.beta(5, 5, n),
        funding=np.repeat(rng.normal(1e-4, 5e-5, n // 480 + 1), 480)[:n],
    )


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(fn: Callable[..., T], *args: Any, repeat: int = 3, **kwargs: Any) -> tuple[T, list[float], list[float]]:
    """(last result, wall seconds per run, process CPU seconds per run)."""
    walls, cpus = [], []
    out = None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn(*args, **kwargs)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    assert out is not None
    return out, walls, cpus


def span(values: list[float], unit: float = 1.0, fmt: str = ".2f") -> str:
    lo, hi = min(values) * unit, max(values) * unit
    return f"{lo:{fmt}}-{hi:{fmt}}"


COMPILE_PROBE = """
import time, numpy as np
t0 = time.perf_counter()
from liqmap.model import ModelConfig, compute_heatmap
from liqmap.model.frame import MarketFrame
n = 50
c = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, n)))
f = MarketFrame("binance", "BTC", 3_600_000, 3_600_000 * np.arange(n), c, c * 1.01, c * 0.99, c, np.ones(n),
                1e6 * np.exp(np.linspace(0, 1, n)))
t1 = time.perf_counter()
compute_heatmap(f, ModelConfig())
t2 = time.perf_counter()
compute_heatmap(f, ModelConfig())
t3 = time.perf_counter()
print(f"{t2 - t1:.3f} {t3 - t2:.4f}")
"""


IMPORT_PROBE = """
import sys, time
t0 = time.perf_counter()
import liqmap.service.app
print(f"{time.perf_counter() - t0:.3f} {'numba' in sys.modules}")
"""


def server_import() -> None:
    """What a server start pays before it can answer: ``import liqmap.service.app`` in a fresh process
    (numba is imported at the first kernel use, not here)."""
    runs = [subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True)
            .stdout.split() for _ in range(3)]
    print(f"server start: import liqmap.service.app {span([float(r[0]) for r in runs], 1e3, '.0f')} ms over "
          f"{len(runs)} processes, numba imported by it: {runs[0][1]} ({load()})")


def compile_cost() -> None:
    """The first compute_heatmap of a process (numba's import included): with an empty numba cache
    (compiles) and a filled one."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "LIQMAP_KERNEL": "numba"}
        runs = [subprocess.run([sys.executable, "-c", COMPILE_PROBE], env=env, capture_output=True, text=True,
                               check=True).stdout.split() for _ in range(3)]
    first = float(runs[0][0])
    cached = [float(r[0]) for r in runs[1:]]
    print(f"numba kernel: first call {first:.2f} s with an empty cache (compiles; {load()}); "
          f"{span(cached, 1e3, '.0f')} ms in later processes (loads the on-disk cache, cache=True); "
          f"a second call in the same process {float(runs[1][1]) * 1e3:.1f} ms (tiny 50-bar frame)")


def describe(config: ModelConfig) -> str:
    return (f"entry={config.entry} x{config.entry_points} (spacing {config.entry_spacing:g}), "
            f"turnover={config.turnover:g}, intrabar_path={config.intrabar_path:g} "
            f"(range exponent {config.intrabar_range_exponent:g}), "
            f"diffuse={config.diffuse_share:g}/{config.diffuse_band:g}, tiers={config.leverage} "
            f"at {config.leverage_weights}, side={config.side}, close={config.close_rule}, "
            f"bracket ${config.position_notional_usd:,.0f}")


def full_recompute(label: str, frames: list[MarketFrame], config: ModelConfig, args: argparse.Namespace) -> None:
    """Both kernels on ``frames``: wall and CPU ranges, ratio, and the largest difference of the heatmaps."""
    updates = sum(len(f) for f in frames)
    results = {}
    compute_heatmap(frames[:1], config, n_bins=args.bins, max_columns=args.columns)  # the kernel's cache loaded
    for name in ("numba", "numpy"):
        with kernel(name):
            hm, walls, cpus = timed(compute_heatmap, frames, config, n_bins=args.bins, max_columns=args.columns,
                                    repeat=args.repeat if name == "numba" else max(1, args.repeat - 1))
        results[name] = (hm, walls)
        print(f"  {label} {name:5}: {span(walls)} s wall, {span(cpus)} s CPU per run over {len(walls)} runs "
              f"({min(walls) / updates * 1e9:.0f} ns per bar-update at best; {load()}); "
              f"grid {hm.long.shape[0]} x {hm.long.shape[1]}; RSS max "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    a, b = results["numba"][0], results["numpy"][0]
    diff = max(float(np.abs(getattr(a, k) - getattr(b, k)).max()) / max(1.0, float(np.abs(getattr(b, k)).max()))
               for k in ("long", "short", "swept_long", "swept_short"))
    print(f"  {label}: numpy / numba best wall {min(results['numpy'][1]) / min(results['numba'][1]):.1f}x; "
          f"largest difference {diff:.1e} of the array's largest value")


def query_parts(store: Any, end: int, warmup: float, name: str, args: argparse.Namespace, repeat: int) -> None:
    """One 90-day query: each venue's load_frame alone, load_frames (all venues, two threads, the
    cross-venue clip), the whole heatmap_for (wall and CPU, minor page faults and system time per call);
    model = whole - load_frames."""
    from liqmap.ingest.frames import load_frame
    from liqmap.query import HeatmapQuery, heatmap_for, load_frames, resolve_view

    query = HeatmapQuery("BTC", range=f"{args.days}d", end=end, interval_ms=60_000, n_bins=args.bins,
                         max_columns=args.columns, warmup_days=warmup)
    view = resolve_view(store, query)
    first = timed(heatmap_for, store, query, repeat=1)[1][0]  # loads the compiled kernel's cache once
    per_venue = {ex: timed(load_frame, store, ex, "BTC", view.warmup_start, view.end, view.interval_ms,
                           on_gap="latest", repeat=repeat)[1] for ex in view.exchanges}
    _, load_walls, load_cpus = timed(load_frames, store, view, repeat=repeat)
    before = resource.getrusage(resource.RUSAGE_SELF)
    with compute_timer() as model:
        hm, walls, cpus = timed(heatmap_for, store, query, repeat=repeat)
    after = resource.getrusage(resource.RUSAGE_SELF)
    faults, system = (after.ru_minflt - before.ru_minflt) / repeat, (after.ru_stime - before.ru_stime) / repeat
    venues = ", ".join(f"{ex} {span(w, 1e3, '.0f')}" for ex, w in per_venue.items())
    print(f"  heatmap_for {args.days}d x 1m x {len(hm.exchanges)} venues, warm-up {warmup:g} d, {name:5}: "
          f"{span(walls)} s wall, {span(cpus)} s CPU per run over {len(walls)} runs ({load()}); grid "
          f"{hm.long.shape[0]} x {hm.long.shape[1]}; the process's first call {first:.2f} s; per call "
          f"{faults:,.0f} minor page faults, {system * 1e3:.0f} ms system time\n"
          f"      parts: load_frame per venue (one at a time) {venues} ms; load_frames (all, 2 threads) "
          f"{span(load_walls, 1e3, '.0f')} ms wall, {span(load_cpus, 1e3, '.0f')} ms CPU; compute_heatmap "
          f"{span(model[0], 1e3, '.0f')} ms wall, {span(model[1], 1e3, '.0f')} ms CPU")


@contextmanager
def compute_timer() -> Iterator[tuple[list[float], list[float]]]:
    """Within the block, the wall and process CPU of every compute_heatmap call (heatmap_for's model)."""
    from liqmap.model import engine

    walls: list[float] = []
    cpus: list[float] = []
    inner = engine.compute_heatmap

    def measured(*args: Any, **kwargs: Any) -> Any:
        c0, t0 = time.process_time(), time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)

    engine.compute_heatmap = measured
    try:
        yield walls, cpus
    finally:
        engine.compute_heatmap = inner


def api_views(store: Any, end: int, args: argparse.Namespace, days: int = 4) -> None:
    """The /api/heatmap model path: a 7-day 1-minute view of every venue through heatmap_for with the
    server's WarmBooks, on a new UTC day (the day's warm-up books built) and as a new view of a day
    whose books are cached (the HTTP encoding is not included)."""
    from liqmap.query import HeatmapQuery, heatmap_for
    from liqmap.warmbooks import WarmBooks

    day = 86_400_000
    fresh: tuple[list[float], list[float]] = ([], [])
    cached: tuple[list[float], list[float]] = ([], [])
    for d in range(days):
        books = WarmBooks()
        view_end = end - d * day - 5 * 3_600_000
        for out, at in ((fresh, view_end), (cached, view_end - 7 * 60_000)):
            query = HeatmapQuery("BTC", range="7d", end=at, interval_ms=60_000)
            c0, t0 = time.process_time(), time.perf_counter()
            heatmap_for(store, query, books=books)
            out[0].append(time.perf_counter() - t0)
            out[1].append(time.process_time() - c0)
    print(f"  /api/heatmap model path, 7d x 1m x {args.exchanges} venues (heatmap_for + WarmBooks), {days} days: "
          f"new UTC day {span(fresh[0], 1e3, '.0f')} ms wall ({span(fresh[1], 1e3, '.0f')} ms CPU); "
          f"new view, books cached {span(cached[0], 1e3, '.0f')} ms wall ({span(cached[1], 1e3, '.0f')} ms CPU) "
          f"({load()})")


def through_query(args: argparse.Namespace) -> None:
    """heatmap_for(HeatmapQuery(range=90d, interval_ms=1m)) on a DuckDB store of the five venues, in parts;
    then the web API's 7-day view (heatmap_for with the server's warm-up books)."""
    from liqmap.store import DuckDBStore

    end = 1_780_272_000_000 + 122 * 86_400_000
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "bench.duckdb").open()
        t0 = time.perf_counter()
        write_store(store, 122, end, venues=args.exchanges)
        print(f"  store: {args.exchanges} venues x 122 days of 1-minute bars + 5-minute OI written in "
              f"{time.perf_counter() - t0:.1f} s")
        for warmup in (30.0, 0.0):
            for name in ("numba", "numpy"):
                with kernel(name):
                    query_parts(store, end, warmup, name, args, repeat=args.repeat if name == "numba" else 1)
        api_views(store, end, args)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--exchanges", type=int, default=5)
    parser.add_argument("--bins", type=int, default=2000)
    parser.add_argument("--columns", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-bars", type=int, default=300)
    parser.add_argument("--skip", default="", help="comma list of parts to skip: compile,real,query,synthetic,"
                        "reference")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    config = ModelConfig()
    print(f"machine: {os.cpu_count()} cores, {load()} (other developers' jobs share the cores: wall times vary "
          "with it; CPU times less)")
    print(f"default config ModelConfig(): {describe(config)}")
    if "compile" not in skip:
        server_import()
        compile_cost()
    frames = minute_frames(args.days, args.exchanges)
    updates = sum(len(f) for f in frames)
    if "real" not in skip:
        print(f"\nreal 1-minute data: {len(frames)} venues x {args.days} d = {updates:,} bar-updates; "
              f"{args.bins} bins, max_columns={args.columns}")
        full_recompute("real 1m", frames, config, args)
    if "query" not in skip:
        print("\npublic query API:")
        through_query(args)
    if "synthetic" not in skip:
        rng = np.random.default_rng(7)
        synthetic = [synthetic_frame(rng, ex, args.days * 1440) for ex in EXCHANGES[: args.exchanges]]
        print(f"\nsynthetic 1-minute bars (the issue's baseline series): {len(synthetic)} venues x {args.days} d")
        full_recompute("synthetic", synthetic, config, args)
    f0 = frames[0]
    if "reference" not in skip:
        m = args.reference_bars
        small = f0.slice(0, m)
        t0 = time.perf_counter()
        edges = np.linspace(float(small.low.min()) * 0.9, float(small.high.max()) * 1.1, 201).tolist()
        want = reference_heatmap([small], config, price_edges=edges)
        ref_s = time.perf_counter() - t0
        compute_heatmap([small], config, price_edges=want.price_edges)  # the compiled kernel's cache loaded
        got, walls, _ = timed(compute_heatmap, [small], config, price_edges=want.price_edges, repeat=3)
        print(f"\nreference (pure Python, per position): {ref_s:.2f} s for {m} bars x 1 venue; engine on the "
              f"same slice {span(walls, 1e3)} ms ({ref_s / min(walls):,.0f}x); same numbers: "
              f"{np.allclose(got.long, want.long, rtol=1e-9, atol=1e-9 * max(1.0, float(want.long.max())))}")


if __name__ == "__main__":
    main()
