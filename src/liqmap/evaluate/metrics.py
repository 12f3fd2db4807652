"""Scores of a per-bar prediction against realized liquidations (pure numpy).

All functions take two equal-length arrays, ``predicted`` and ``realized`` (USD per bar, one side),
and ignore nothing silently: callers pass only the bars they mean to score (finite values).

Hand-written rather than imported from scipy: the two formulas are a few lines each, and scipy would be
a heavy dependency for them alone. Both are tested on hand-computed cases (tests/evaluate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liqmap.errors import ConfigError


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given the mean of the ranks they span (the "average" / fractional method).

    Example: ``[10, 20, 20, 5]`` -> ``[2, 3.5, 3.5, 1]``.
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n == 0:
        return np.empty(0)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Start index of each run of equal values in sorted order.
    new_run = np.empty(n, dtype=bool)
    new_run[0] = True
    new_run[1:] = sorted_x[1:] != sorted_x[:-1]
    run_id = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], n)  # exclusive
    # Ranks start..end-1 (0-based) average to (start + end - 1) / 2; +1 for 1-based ranks.
    run_rank = (starts + ends - 1) / 2.0 + 1.0
    ranks = np.empty(n)
    ranks[order] = run_rank[run_id]
    return ranks


def spearman(predicted: np.ndarray, realized: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's r of the average-tie ranks.

    rho = cov(R(x), R(y)) / (sd(R(x)) sd(R(y))). NaN when either series is constant or has < 2 values.
    """
    x, y = _pair(predicted, realized)
    if x.size < 2:
        return float("nan")
    rx = average_ranks(x) - (x.size + 1) / 2.0
    ry = average_ranks(y) - (y.size + 1) / 2.0
    denominator = float(np.sqrt((rx * rx).sum() * (ry * ry).sum()))
    if denominator == 0.0:
        return float("nan")
    return float((rx * ry).sum() / denominator)


def capture(predicted: np.ndarray, realized: np.ndarray, share: float = 0.30) -> float:
    """Share of realized USD that falls in the ``share`` of bars the prediction ranks highest.

    capture = sum(realized over the top k bars by predicted) / sum(realized), k = share * n (may be
    fractional). Bars tied with the k-th prediction enter with an equal fraction each (the expected value
    under random tie-breaking), so a constant prediction scores exactly ``share`` whatever the order.
    """
    if not 0.0 < share <= 1.0:
        raise ConfigError(f"capture share must be in (0, 1], got {share}")
    x, y = _pair(predicted, realized)
    total = float(y.sum())
    if x.size == 0 or total <= 0.0:
        return float("nan")
    k = share * x.size
    order = np.argsort(-x, kind="mergesort")
    threshold = x[order[min(int(np.ceil(k)) - 1, x.size - 1)]]
    above = x > threshold
    tied = x == threshold
    n_above = int(above.sum())
    fraction = (k - n_above) / int(tied.sum())
    return float((y[above].sum() + fraction * y[tied].sum()) / total)


@dataclass(frozen=True)
class Calibration:
    """realized / predicted over the whole period, and the spread of that ratio per day."""

    ratio: float
    """sum(realized) / sum(predicted)."""
    daily_q10: float
    daily_q50: float
    daily_q90: float
    days: int
    """Days with positive predicted and realized totals (the ratio's sample)."""


def calibration(predicted: np.ndarray, realized: np.ndarray, ts: np.ndarray, day_ms: int = 86_400_000) -> Calibration:
    """Totals ratio and per-UTC-day ratio quantiles (10 %, 50 %, 90 %)."""
    x, y = _pair(predicted, realized)
    ts = np.asarray(ts, dtype=np.int64)
    if ts.shape != x.shape:
        raise ConfigError("calibration: ts must have one entry per bar")
    total_predicted = float(x.sum())
    ratio = float(y.sum() / total_predicted) if total_predicted > 0 else float("nan")
    day = ts // day_ms
    days, index = np.unique(day, return_inverse=True)
    day_pred = np.bincount(index, weights=x, minlength=days.size)
    day_real = np.bincount(index, weights=y, minlength=days.size)
    ok = (day_pred > 0) & (day_real > 0)
    if not ok.any():
        return Calibration(ratio, float("nan"), float("nan"), float("nan"), 0)
    ratios = day_real[ok] / day_pred[ok]
    q10, q50, q90 = (float(v) for v in np.quantile(ratios, [0.1, 0.5, 0.9]))
    return Calibration(ratio, q10, q50, q90, int(ok.sum()))


def daily_totals(
    predicted: np.ndarray, realized: np.ndarray, ts: np.ndarray, day_ms: int = 86_400_000
) -> tuple[np.ndarray, np.ndarray]:
    """Per-UTC-day sums of both series (days with at least one scored bar)."""
    x, y = _pair(predicted, realized)
    _days, index = np.unique(np.asarray(ts, dtype=np.int64) // day_ms, return_inverse=True)
    return np.bincount(index, weights=x), np.bincount(index, weights=y)


def score_side(predicted: np.ndarray, realized: np.ndarray, ts: np.ndarray, suffix: str) -> dict[str, float]:
    """rho, capture@30 and calibration of one side, keys suffixed (``rho_long`` ...)."""
    cal = calibration(predicted, realized, ts)
    return {
        f"rho_{suffix}": spearman(predicted, realized),
        f"rho_daily_{suffix}": spearman(*daily_totals(predicted, realized, ts)),
        f"capture30_{suffix}": capture(predicted, realized, 0.30),
        f"calibration_{suffix}": cal.ratio,
        f"calibration_daily_q10_{suffix}": cal.daily_q10,
        f"calibration_daily_q50_{suffix}": cal.daily_q50,
        f"calibration_daily_q90_{suffix}": cal.daily_q90,
        f"predicted_usd_{suffix}": float(np.sum(predicted)),
        f"realized_usd_{suffix}": float(np.sum(realized)),
    }


def _pair(predicted: np.ndarray, realized: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(realized, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ConfigError(f"predicted and realized must be 1-d of equal length, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ConfigError("predicted and realized must be finite: select the scored bars first")
    return x, y
