"""Scoring the reach probability (``liqmap.analysis.reach``) on the levels the evaluation reports.

Levels: on every scored bar ``t >= 1``, the top clusters of each side (:mod:`liqmap.evaluate.clusters`:
the ``top`` bins with the most USD on the side's liquidation side of ``close[t-1]``, from heatmap column
``t-1``), the level being the bin's near edge. Outcome: price touches the level within the horizon (bars
``t .. t+h-1``, ``h`` = horizon / bar length; only starts with a full window). Predicted: the calibrated
touch probability with the volatility known at the end of bar ``t-1``.

Compared with two references on the same level-bars:

* ``brier_base_rate``: one constant, the scored levels' own touch rate (in hindsight: the best constant);
* ``brier_distance_only``: the touch frequency by distance alone, i.e. the share of the horizon-long
  adverse excursions at least that far, counted over the starts whose whole window ends before the first
  scored bar (fitted before the scored period).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from liqmap.analysis.reach import brier, distance_only, hourly_sigma, reliability, touch_probability
from liqmap.evaluate.clusters import horizon_bars, top_bins, window_extremes
from liqmap.model.frame import MarketFrame
from liqmap.model.result import Heatmap


def level_outcomes(
    heatmap: Heatmap, frame: MarketFrame, scored: np.ndarray, side: str, hours: float, *, top: int = 3
) -> dict[str, np.ndarray]:
    """Per level-bar: ``t``, price, level, log distance, touched (0/1), with a full horizon window."""
    h = horizon_bars(frame.interval_ms, hours)
    edges = heatmap.price_edges
    centers = 0.5 * (edges[:-1] + edges[1:])
    starts = np.flatnonzero(scored[1:]) + 1
    price = frame.close[starts - 1]
    below = centers[None, :] <= price[:, None]
    density = heatmap.long if side == "long" else heatmap.short
    picks = top_bins(density[starts - 1], below if side == "long" else ~below, top)
    rows, cols = np.nonzero(picks >= 0)
    bins = picks[rows, cols]
    t, p0 = starts[rows], price[rows]
    win_low, win_high = window_extremes(frame.low, frame.high, h)
    if side == "long":
        level = edges[bins + 1]
        touched = win_low[t] <= level
        full = np.isfinite(win_low[t])
    else:
        level = edges[bins]
        touched = win_high[t] >= level
        full = np.isfinite(win_high[t])
    return {
        "t": t[full], "price": p0[full], "level": level[full],
        "distance": np.abs(np.log(level[full] / p0[full])), "touched": touched[full].astype(np.float64),
    }


def excursions(frame: MarketFrame, side: str, hours: float) -> np.ndarray:
    """Log adverse excursion of the window starting at each bar ``t`` from ``close[t-1]`` (NaN if unknown)."""
    h = horizon_bars(frame.interval_ms, hours)
    win_low, win_high = window_extremes(frame.low, frame.high, h)
    out = np.full(len(frame), np.nan)
    ref = frame.close[:-1]
    out[1:] = np.log(ref / win_low[1:]) if side == "long" else np.log(win_high[1:] / ref)
    return out


def reach_block(
    heatmap: Heatmap, frame: MarketFrame, scored: np.ndarray, *, hours: float = 24.0, top: int = 3,
    sigma: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON ``reach`` block and the reliability tables (for the HTML report). ``sigma``: volatility
    per sqrt hour at the end of each bar (default: estimated from the frame's own bars)."""
    if sigma is None:
        sigma = hourly_sigma(frame.high, frame.low, frame.interval_ms)
    h = horizon_bars(frame.interval_ms, hours)
    first = int(np.flatnonzero(scored)[0]) if scored.any() else len(frame)
    block: dict[str, Any] = {"horizon_hours": hours, "horizon_bars": h,
                             "levels": f"top {top} clusters per side on every scored bar (near edge)"}
    tables: dict[str, Any] = {}
    for side in ("long", "short"):
        rows = level_outcomes(heatmap, frame, scored, side, hours, top=top)
        p = touch_probability(rows["price"], rows["level"], sigma[rows["t"] - 1], hours)
        ok = np.isfinite(p)
        p, y, d = p[ok], rows["touched"][ok], rows["distance"][ok]
        ex = excursions(frame, side, hours)
        before = np.arange(len(frame)) + h <= first  # the whole window ends before the first scored bar
        p_dist = distance_only(ex[before], d)
        rel = reliability(p, y)
        base = float(y.mean()) if y.size else float("nan")
        block[side] = {
            "level_bars": int(y.size),
            "touch_rate": base,
            "mean_probability": float(p.mean()) if p.size else float("nan"),
            "brier": brier(p, y),
            "brier_base_rate": brier(np.full(y.size, base), y),
            "brier_distance_only": brier(p_dist, y) if np.isfinite(p_dist).all() else float("nan"),
            "distance_only_fit_starts": int(np.isfinite(ex[before]).sum()),
            "ece": rel.ece,
        }
        tables[side] = rel.to_dict()
    return block, tables
