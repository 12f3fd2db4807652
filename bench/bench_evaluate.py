"""Benchmark of ``liqmap evaluate``: one evaluation with every baseline, and the ~150-variant grid search.

Usage: ``python bench/bench_evaluate.py [FILE ...]`` (default: the shipped sample in src/liqmap/data/sample,
~5 months of hourly BTC data). Pass the full files for 6 months, e.g. the Binance 1h klines plus the
Coinglass regime export. Budgets: evaluation <= 10 s, grid search "in minutes".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from liqmap.evaluate.runner import evaluate_store, import_into, load_for_evaluation
from liqmap.evaluate.search import default_grid, run_search
from liqmap.store import DuckDBStore

SAMPLE = Path(__file__).resolve().parent.parent / "src" / "liqmap" / "data" / "sample"
SAMPLE_FILES = ("BTCUSDT-1h-futures.csv.gz", "BTC_regime_1h.csv.gz", "BTCUSDT-funding.csv.gz")
EVALUATE_BUDGET_S = 10.0


def main(argv: list[str]) -> None:
    files = argv or [str(SAMPLE / name) for name in SAMPLE_FILES]
    with DuckDBStore(":memory:") as store:
        t0 = time.perf_counter()
        import_into(store, files)
        t_import = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluation = evaluate_store(store)
        t_eval = time.perf_counter() - t0
        data, _ = load_for_evaluation(store)
    bars = len(evaluation.data)
    print(f"data: {bars} bars ({bars / 24 / 30.4:.1f} months), {evaluation.metrics['bars']} scored")
    print(f"import into an in-memory store: {t_import:.2f} s")
    print(
        f"evaluate (model + 3 baselines + clusters): {t_eval:.2f} s  "
        f"budget {EVALUATE_BUDGET_S:.0f} s  ratio {t_eval / EVALUATE_BUDGET_S:.2f}"
    )
    grid = default_grid()
    t0 = time.perf_counter()
    result = run_search(data, grid)
    t_grid = time.perf_counter() - t0
    print(
        f"grid search: {len(result.variants)} variants in {t_grid:.1f} s "
        f"({t_grid / max(1, len(result.variants)):.3f} s per variant; projected 100 variants: "
        f"{100 * t_grid / max(1, len(result.variants)):.1f} s)"
    )
    print(f"best on fit: {result.best.name}")


if __name__ == "__main__":
    main(sys.argv[1:])
