"""Hand-built snapshots with answers worked out by hand (see test_analysis_clusters.py)."""

from __future__ import annotations

import numpy as np

from liqmap.model.result import LiquidationMap

EDGES = np.arange(80.0, 121.0)  # 40 bins of width 1; centres 80.5 .. 119.5
PRICE = 100.0  # on an edge: bins 80..99 are below, 100..119 above


def bins(values: dict[float, float], background: float = 1.0, *, side: str) -> np.ndarray:
    """Per-bin USD: ``background`` on the side's half of the grid, ``values`` keyed by bin centre."""
    centers = 0.5 * (EDGES[:-1] + EDGES[1:])
    out = np.where(centers <= PRICE, background, 0.0) if side == "long" else np.where(centers > PRICE, background, 0.0)
    for center, usd in values.items():
        out[int(np.flatnonzero(np.isclose(centers, center))[0])] = usd
    return out


def snapshot(long: np.ndarray, short: np.ndarray, *, price: float = PRICE, ts: int = 0) -> LiquidationMap:
    return LiquidationMap.from_bins(price_edges=EDGES, long=long, short=short, price=price, ts=ts, symbol="BTC")


# Longs: A = bins 97.5, 98.5 (10 each), B = 90.5 (8). Shorts: C = 103.5..105.5 (6, 9, 6), D = 107.5 (7), E = 115.5 (5).
LONG = {97.5: 10.0, 98.5: 10.0, 90.5: 8.0}
SHORT = {103.5: 6.0, 104.5: 9.0, 105.5: 6.0, 107.5: 7.0, 115.5: 5.0}


def reference() -> LiquidationMap:
    return snapshot(bins(LONG, side="long"), bins(SHORT, side="short"))
