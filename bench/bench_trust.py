"""Benchmark of the trust numbers: what the reach block, the calibrated ratios, a view's calibration and
``GET /api/accuracy`` cost on the shipped sample (~5 months of hourly BTC).

Usage: ``python bench/bench_trust.py [REPEATS]`` (default 5). Prints min / median / max per step; the
machine is shared, so read ranges, not single figures.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from liqmap.data.sample import sample_files
from liqmap.ingest import import_file
from liqmap.store import DuckDBStore


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    out, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t0)
    return out, result


def show(label: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    print(f"{label:58s} min {ms[0]:8.1f} ms  median {statistics.median(ms):8.1f} ms  max {ms[-1]:8.1f} ms")


def main(argv: list[str]) -> None:
    repeats = int(argv[0]) if argv else 5
    from fastapi.testclient import TestClient

    from liqmap.calibrate import calibration_for, fit_query, sigma_columns
    from liqmap.commands.render import render_heatmap_png
    from liqmap.evaluate.harness import calibrated_scores, heatmap_predictions, run_model
    from liqmap.evaluate.reach import reach_block
    from liqmap.evaluate.runner import evaluate_store, load_for_evaluation
    from liqmap.model.config import ModelConfig
    from liqmap.query import HeatmapQuery, heatmap_for
    from liqmap.service.app import create_app

    with DuckDBStore(":memory:") as store:
        for path in sample_files():
            import_file(store, path)
        data, _ = load_for_evaluation(store)
        heatmap = run_model(data.frame, ModelConfig())
        mask = ~(data.realized_long != data.realized_long)
        mask[:336] = False
        model = heatmap_predictions(heatmap)
        show("evaluate_store (model, baselines, clusters, reach, calib.)", timed(lambda: evaluate_store(store), repeats)[0])
        show("  of which reach_block (24 h, top-3 levels per side)",
             timed(lambda: reach_block(heatmap, data.frame, mask, sigma=data.sigma), repeats)[0])
        show("  of which calibrated_scores (trailing 7-day factors)",
             timed(lambda: calibrated_scores(model, (data.realized_long, data.realized_short), data.ts, mask),
                   repeats)[0])
        view = heatmap_for(store, HeatmapQuery("BTC", range="7d"))
        fit = heatmap_for(store, fit_query(view))
        show("calibration_for (7d view; its fit view given)", timed(lambda: calibration_for(store, view, fit), repeats)[0])
        show("sigma_columns (7d view, every column)", timed(lambda: sigma_columns(store, view), repeats)[0])
        show("heatmap_for of the fit view (computed once per day by the service)",
             timed(lambda: heatmap_for(store, fit_query(view)), repeats)[0])
        with tempfile.TemporaryDirectory() as tmp:
            png = Path(tmp) / "hm.png"
            for mode in ("none", "auto"):  # `liqmap heatmap --png`: auto adds the 30d fit heatmap and the fit
                show(f"heatmap PNG 7d, --calibration {mode}",
                     timed(partial(render_heatmap_png, store, HeatmapQuery("BTC", range="7d"), png, mode), repeats)[0])
        first, cached = [], []
        for _ in range(repeats):
            with TestClient(create_app(store, prewarm_views=False)) as client:
                t0 = time.perf_counter()
                client.get("/api/accuracy", params={"symbol": "BTC"})
                first.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                client.get("/api/accuracy", params={"symbol": "BTC"})
                cached.append(time.perf_counter() - t0)
                raw_t, cal_t = [], []
                for rng in ("24h", "3d", "7d"):
                    t0 = time.perf_counter()
                    client.get("/api/heatmap", params={"symbol": "BTC", "range": rng, "calibration": "none"})
                    raw_t.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    client.get("/api/heatmap", params={"symbol": "BTC", "range": rng})
                    cal_t.append(time.perf_counter() - t0)
        show("GET /api/accuracy, first call (new app)", first)
        show("GET /api/accuracy, cached (same data version)", cached)
        show("GET /api/heatmap calibration=none, first call per range", raw_t)
        show("GET /api/heatmap calibration=auto after it (adds the fit)", cal_t)


if __name__ == "__main__":
    main(sys.argv[1:])
