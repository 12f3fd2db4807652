"""Size and encoding time of the Coinglass-shaped heatmap body, on the shipped real sample.

For the 7d / 30d / 90d views of BTC (all exchanges), the model result is computed once, then the body
(:func:`liqmap.service.encode.coinglass_payload` + JSON) is built ``--repeat`` times: prints its size in
bytes (and gzip -6 size) and the encoding time (min / median / max). The model run is not included (the
server caches it per view and data version).

    .venv/bin/python bench/bench_coinglass.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from liqmap.data.sample import sample_files
    from liqmap.ingest import import_file
    from liqmap.query import HeatmapQuery, heatmap_for
    from liqmap.service.encode import coinglass_payload, json_bytes
    from liqmap.store import DuckDBStore

    with tempfile.TemporaryDirectory() as tmp, DuckDBStore(Path(tmp) / "bench.duckdb") as store:
        for path in sample_files():
            import_file(store, path)
        print(f"{'range':>6} {'cells':>8} {'bytes':>10} {'gzip':>9}  encode s (min / median / max, {args.repeat} runs)")
        for range_ in ("7d", "30d", "90d"):
            heatmap = heatmap_for(store, HeatmapQuery("BTC", range=range_))
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                payload = coinglass_payload(heatmap, side="both", update_time=0)
                body = json_bytes(payload)
                times.append(time.perf_counter() - start)
            cells = len(payload["data"]["liquidation_leverage_data"])
            print(f"{range_:>6} {cells:>8} {len(body):>10} {len(gzip.compress(body, 6)):>9}  "
                  f"{min(times):.3f} / {statistics.median(times):.3f} / {max(times):.3f}")


if __name__ == "__main__":
    main()
