"""Streaming import: peak memory and speed of ``import_file`` on a large kline CSV.

Generates a data.binance.vision-style 1-minute kline CSV of about ``--size-mb`` MB (default 1024) in a
temporary directory (synthetic random-walk prices; every row valid), then imports it ``--repeat`` times,
each into a fresh DuckDB file in a child process, and prints per run:

* RSS growth: the child's peak RSS (VmHWM) minus its RSS after the imports were loaded, i.e. what the
  import itself needed (target: <= 300 MB for a 1 GB CSV);
* rows/s and seconds (two passes over a streamed file: validate, then write); the chunk count.

    python bench/bench_import.py [--size-mb 1024] [--repeat 2] [--chunk-mb 4] [--gzip] [--duckdb-memory 256MB]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
          "taker_buy_quote_volume,ignore\n")
MINUTE = 60_000
START = 1_420_070_400_000  # 2015-01-01


def generate(path: Path, size_mb: float, compress: bool) -> int:
    """Write the CSV; returns the number of data rows."""
    rng = np.random.default_rng(7)
    target = int(size_mb * (1 << 20))
    written = rows = 0
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        price = 30_000.0
        while written < target:
            n = 100_000
            steps = rng.normal(0, 8.0, n)
            close = np.maximum(price + np.cumsum(steps), 1000.0)
            open_ = np.concatenate([[price], close[:-1]])
            high = np.maximum(open_, close) + rng.uniform(0, 5, n)
            low = np.minimum(open_, close) - rng.uniform(0, 5, n)
            volume = rng.uniform(1, 200, n)
            t = START + (rows + np.arange(n)) * MINUTE
            block = "".join(
                f"{t[i]},{open_[i]:.1f},{high[i]:.1f},{low[i]:.1f},{close[i]:.1f},{volume[i]:.3f},"
                f"{t[i] + MINUTE - 1},{volume[i] * close[i]:.2f},{100 + i % 900},{volume[i] / 2:.3f},"
                f"{volume[i] * close[i] / 2:.2f},0\n"
                for i in range(n)
            )
            out.write(block)
            written += len(block)
            rows += n
            price = float(close[-1])
    return rows


CHILD = """
import json, sys, time
import duckdb, pyarrow, pyarrow.compute, pyarrow.csv  # library code, loaded before the baseline
from liqmap.ingest import import_file
from liqmap.store import DuckDBStore

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
base = status("VmRSS:")
started = time.perf_counter()
with DuckDBStore(sys.argv[2]) as store:
    if sys.argv[4]:
        store.connection.execute(f"SET memory_limit = '{sys.argv[4]}'")
    result = import_file(store, sys.argv[1], symbol="BTCUSDT", chunk_bytes=int(sys.argv[3]))
seconds = time.perf_counter() - started
print(json.dumps({"base": base, "peak": status("VmHWM:"), "rows": result.rows_read,
                  "new": result.new_rows, "notes": result.notes, "seconds": seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--chunk-mb", type=float, default=4)
    parser.add_argument("--gzip", action="store_true", help="gzip the generated CSV")
    parser.add_argument("--csv", default=None, help="import this kline CSV instead of generating one")
    parser.add_argument("--duckdb-memory", default="", help="DuckDB memory_limit for the import (e.g. 256MB); "
                        "default: DuckDB's own (80%% of RAM)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liqmap-bench-import-") as tmp:
        path = Path(args.csv or Path(tmp) / ("BTCUSDT-1m-bench.csv" + (".gz" if args.gzip else "")))
        if args.csv is None:
            t0 = time.perf_counter()
            rows = generate(path, args.size_mb, args.gzip)
            print(f"generated {rows:,} rows in {time.perf_counter() - t0:.0f} s")
        size = path.stat().st_size
        print(f"{path.name}: {size / (1 << 20):.0f} MB on disk; DuckDB memory_limit {args.duckdb_memory or 'default'}")
        for run in range(1, args.repeat + 1):
            db = Path(tmp) / f"run{run}.duckdb"
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(db), str(int(args.chunk_mb * (1 << 20))),
                                  args.duckdb_memory],
                                 check=True, capture_output=True, text=True)
            report = json.loads(out.stdout.strip().splitlines()[-1])
            growth = (report["peak"] - report["base"]) / (1 << 20)
            print(f"run {run}: RSS growth {growth:.0f} MB (peak {report['peak'] / (1 << 20):.0f} MB, base "
                  f"{report['base'] / (1 << 20):.0f} MB), {report['rows'] / report['seconds']:,.0f} rows/s, "
                  f"{report['seconds']:.1f} s, {report['rows']:,} rows, new {report['new']}, notes {report['notes']}, "
                  f"growth/file = {growth / (size / (1 << 20)):.2f}")
            db.unlink()


if __name__ == "__main__":
    main()
