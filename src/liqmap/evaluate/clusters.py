"""Do the heatmap's top clusters matter? Two checks on the per-bar book.

Definition (simple on purpose, so that it can be checked by hand): at the start of bar ``t`` the book is
heatmap column ``t - 1`` and the reference price is ``close[t - 1]``. The **top clusters** of a side are
the ``top`` price bins holding the most USD of that side on the side's liquidation side of price (longs:
bins whose centre is below price; shorts: above), among bins holding any USD.

* **Reach within the horizon**: a long cluster is reached when ``min(low[t : t + h])`` is at or below the
  bin's upper edge; a short cluster when ``max(high[t : t + h])`` is at or above the bin's lower edge.
  The baseline is the reach rate of *random* levels at the same distances: for each cluster at distance
  ``d`` (fraction of price) the share of all scored starts whose ``h``-bar adverse excursion is ``>= d``.
* **Sweep bars**: bar ``t`` sweeps a top long cluster when ``low[t]`` is at or below the upper edge of one
  of the start-of-bar top long bins (short: ``high[t]`` at or above a lower edge). Realized liquidations of
  that side are compared between sweep bars and the other scored bars (mean USD per bar).
"""

from __future__ import annotations

import numpy as np

from liqmap.model.frame import MarketFrame
from liqmap.model.result import Heatmap


def top_bins(density: np.ndarray, eligible: np.ndarray, top: int) -> np.ndarray:
    """Indices (K, top) of the ``top`` largest positive eligible bins per row; -1 where fewer exist."""
    values = np.where(eligible & (density > 0), density, -np.inf)
    top = min(top, values.shape[1])
    part = np.argpartition(-values, top - 1, axis=1)[:, :top]
    picked = np.take_along_axis(values, part, axis=1)
    return np.where(np.isfinite(picked), part, -1)


def horizon_bars(interval_ms: int, hours: float) -> int:
    """Bars in ``hours`` at bars of ``interval_ms`` (at least one)."""
    return max(1, round(hours * 3_600_000 / interval_ms))


def window_extremes(low: np.ndarray, high: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """``min(low[t:t+h])``, ``max(high[t:t+h])`` for every ``t`` with a full window (NaN otherwise)."""
    n = len(low)
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    if n >= horizon:
        windows_low = np.lib.stride_tricks.sliding_window_view(low, horizon)
        windows_high = np.lib.stride_tricks.sliding_window_view(high, horizon)
        lo[: n - horizon + 1] = windows_low.min(axis=1)
        hi[: n - horizon + 1] = windows_high.max(axis=1)
    return lo, hi


def cluster_stats(
    heatmap: Heatmap,
    frame: MarketFrame,
    scored: np.ndarray,
    realized_long: np.ndarray,
    realized_short: np.ndarray,
    *,
    top: int = 3,
    horizon_hours: float = 24.0,
) -> dict[str, float]:
    """Reach rates of the top clusters vs random levels at the same distance, and realized USD in sweep bars.

    The horizon is ``horizon_hours`` whatever the bar length (24 bars of 1 h, 48 bars of 30 min)."""
    n = len(frame)
    horizon = horizon_bars(frame.interval_ms, horizon_hours)
    if heatmap.long.shape[0] != n:
        raise ValueError("cluster_stats needs one heatmap column per bar")
    edges = heatmap.price_edges
    centers = 0.5 * (edges[:-1] + edges[1:])
    starts = np.flatnonzero(scored[1:]) + 1  # bars t >= 1: book = column t - 1
    price = frame.close[starts - 1]
    below = centers[None, :] <= price[:, None]
    long_top = top_bins(heatmap.long[starts - 1], below, top)
    short_top = top_bins(heatmap.short[starts - 1], ~below, top)
    win_low, win_high = window_extremes(frame.low, frame.high, horizon)
    out: dict[str, float] = {"top_bins_per_side": float(top), "horizon_bars": float(horizon),
                             "horizon_hours": float(horizon_hours)}
    for side, picks in (("long", long_top), ("short", short_top)):
        valid = picks >= 0
        rows = np.nonzero(valid)[0]
        bins = picks[valid]
        p = price[rows]
        t = starts[rows]
        if side == "long":
            edge = edges[bins + 1]  # upper edge: first price inside the bin on the way down
            distance = np.maximum(0.0, 1.0 - edge / p)
            excursion_all = 1.0 - win_low[starts] / price
            reached = win_low[t] <= edge
            swept_now = frame.low[t] <= edge
            realized = realized_long
        else:
            edge = edges[bins]
            distance = np.maximum(0.0, edge / p - 1.0)
            excursion_all = win_high[starts] / price - 1.0
            reached = win_high[t] >= edge
            swept_now = frame.high[t] >= edge
            realized = realized_short
        full = np.isfinite(win_low[t])
        excursions = np.sort(excursion_all[np.isfinite(excursion_all)])
        if full.any() and excursions.size:
            random_rate = 1.0 - np.searchsorted(excursions, distance[full], side="left") / excursions.size
            out[f"reach24h_{side}"] = float(reached[full].mean())
            out[f"reach24h_random_same_distance_{side}"] = float(random_rate.mean())
            out[f"median_distance_pct_{side}"] = float(100 * np.median(distance[full]))
        sweep_bar = np.zeros(n, dtype=bool)
        sweep_bar[t[swept_now]] = True
        in_scope = np.zeros(n, dtype=bool)
        in_scope[starts] = True
        hits = in_scope & sweep_bar
        others = in_scope & ~sweep_bar
        out[f"sweep_bars_{side}"] = float(hits.sum())
        out[f"realized_mean_sweep_bars_{side}"] = float(np.mean(realized[hits])) if hits.any() else float("nan")
        out[f"realized_mean_other_bars_{side}"] = float(np.mean(realized[others])) if others.any() else float("nan")
        out[f"realized_share_in_sweep_bars_{side}"] = (
            float(realized[hits].sum() / realized[in_scope].sum()) if realized[in_scope].sum() > 0 else float("nan")
        )
    return out
