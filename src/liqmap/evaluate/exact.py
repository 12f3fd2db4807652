"""Estimate vs exact: the model run on Hyperliquid's own candles and OI beside the tracked positions'
real liquidation levels (``liqmap evaluate --exact``; docs/model.md, "Exact positions (Hyperliquid)").

At ``points`` instants evenly spaced over the window (each with tracked positions), the model's latest
heatmap column (``heatmap_for`` with ``exchanges=("hyperliquid",)`` ending at that instant) is moved onto
the exact map's grid (:func:`liqmap.model.exact.rebin`) and compared per side with
:func:`liqmap.model.exact.compare`: Pearson correlation per bin, 1-D Wasserstein distance between the
normalised distributions, and the share of each within 2 % / 5 % of price. The means over instants are
reported beside the per-instant figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from liqmap import exactmap
from liqmap.errors import DataError
from liqmap.model.config import ModelConfig
from liqmap.model.exact import compare, mean_metrics, rebin
from liqmap.query import RANGES, HeatmapQuery, heatmap_for
from liqmap.store import Store
from liqmap.symbols import canonical


def estimate_vs_exact(store: Store, symbol: str = "BTC", *, end: int | None = None, range: str = "24h",
                      points: int = 6, n_bins: int = 200, config: ModelConfig | None = None,
                      model_range: str = "7d", max_age_ms: int = exactmap.DEFAULT_MAX_AGE_MS) -> dict[str, Any]:
    sym = canonical(symbol)
    stop = end if end is not None else exactmap.latest_ts(store, sym)
    if stop is None:
        raise DataError(f"no Hyperliquid position snapshots of {sym}: run `liqmap positions collect` first")
    times = np.linspace(stop - RANGES[range], stop, max(1, points)).astype(np.int64) if points > 1 else [stop]
    rows = []
    for t in times:
        try:
            ex = exactmap.exact_map(store, sym, at=int(t), n_bins=n_bins, max_age_ms=max_age_ms)
        except DataError:
            continue
        if ex["price"] is None or not (sum(ex["long_usd"]) + sum(ex["short_usd"])):
            continue
        heat = heatmap_for(store, HeatmapQuery(sym, exchanges=("hyperliquid",), range=model_range, end=int(t),
                                               n_bins=500, config=config))
        col = heat.column(-1)
        edges = np.asarray(ex["price_edges"])
        est_long = rebin(col.long, col.price_edges, edges)
        est_short = rebin(col.short, col.price_edges, edges)
        centers = 0.5 * (edges[:-1] + edges[1:])
        metrics = compare(est_long, est_short, np.asarray(ex["long_usd"]), np.asarray(ex["short_usd"]), centers,
                          float(ex["price"]))
        rows.append({"at": int(t), "price": ex["price"], "coverage": ex["coverage"], **metrics})
    if not rows:
        raise DataError(f"no instant of the window has both tracked {sym} positions and a Hyperliquid price")
    mean = mean_metrics(rows)
    return {"symbol": sym, "exchange": "hyperliquid", "points": rows, "mean": mean}
