"""Exact layer cost: building the exact map and its heatmap from stored Hyperliquid position snapshots.

Synthetic snapshot table (the shapes of ``position_snapshots``): ``--accounts`` accounts x 2 coins, each polled
every ``--poll-min`` minutes over 24 h (so rows = accounts x 2 x 24 h / poll), sizes and levels drawn from a
seeded generator; 10 % of rows flat (closed). Written to a DuckDB file, then times (median and range of
``--repeat`` runs, wall clock, on whatever else the machine runs — state the load when quoting):

* ``store.read`` of the last 6 h of snapshots;
* ``open_positions`` + ``exact_liqmap`` (one map, 200 bins);
* ``coverage`` at the end;
* ``exact_heatmap`` over 24 h at 96 columns.

    python bench/bench_exact.py [--accounts 20000] [--poll-min 60] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from liqmap.model import exact
from liqmap.store import DuckDBStore
from liqmap.types import HOUR_MS, PositionSnapshot

T0 = 1_790_000_000_000


def build(store: DuckDBStore, accounts: int, poll_min: int, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    polls = 24 * 60 // poll_min
    rows = []
    for a in range(accounts):
        offset = int(rng.integers(0, poll_min * 60_000))
        for coin, price in (("BTC", 90_000.0), ("ETH", 3_000.0)):
            lev = float(rng.choice([3, 5, 10, 20, 40]))
            size = float(rng.lognormal(0, 1.5)) * (1 if rng.random() < 0.55 else -1) * 10_000 / price
            liq = price * (1 - np.sign(size) / lev * 0.95)
            for p in range(polls):
                ts = T0 + offset + p * poll_min * 60_000
                s = 0.0 if rng.random() < 0.1 else size
                rows.append(PositionSnapshot("hyperliquid", coin, f"0x{a:040x}", ts, ts, s, price, price,
                                             liq if s else None, lev, "cross", 0.0, abs(s) * price, 1.0))
    store.write(rows)
    return len(rows)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out), min(out), max(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--poll-min", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, DuckDBStore(Path(tmp) / "b.duckdb") as store:
        t = time.perf_counter()
        n = build(store, args.accounts, args.poll_min)
        print(f"rows {n:,} written in {time.perf_counter() - t:.1f} s")
        end = T0 + 24 * HOUR_MS
        cols = store.read("position_snapshots", start=end - 6 * HOUR_MS, end=end + 1, exchange="hyperliquid",
                          symbol="BTC")
        day = store.read("position_snapshots", start=T0, end=end + 1, exchange="hyperliquid", symbol="BTC")
        edges = np.linspace(60_000.0, 120_000.0, 201)
        r = timed(lambda: store.read("position_snapshots", start=end - 6 * HOUR_MS, end=end + 1,
                                     exchange="hyperliquid", symbol="BTC"), args.repeat)
        print(f"read 6 h of BTC snapshots ({len(cols['ts_event']):,} rows): median {r[0]:.1f} ms (range {r[1]:.1f}-{r[2]:.1f})")
        r = timed(lambda: exact.exact_liqmap(exact.open_positions(cols, end, 6 * HOUR_MS), edges), args.repeat)
        print(f"one exact map: median {r[0]:.1f} ms (range {r[1]:.1f}-{r[2]:.1f})")
        r = timed(lambda: exact.coverage(cols, end, {"BTC": 1e5}, 6 * HOUR_MS), args.repeat)
        print(f"coverage: median {r[0]:.1f} ms (range {r[1]:.1f}-{r[2]:.1f})")
        times = np.linspace(T0, end, 96).astype(np.int64)
        r = timed(lambda: exact.exact_heatmap(day, times, edges, 6 * HOUR_MS), max(1, args.repeat // 2))
        print(f"exact heatmap 96 columns over 24 h ({len(day['ts_event']):,} rows): median {r[0]:.0f} ms "
              f"(range {r[1]:.0f}-{r[2]:.0f}); {r[0] / 96:.1f} ms per column")


if __name__ == "__main__":
    main()
