"""Calibrated USD: scale the model's dollars to what the exchanges report as liquidated (pure numpy).

The model's liquidated USD per bar (``Heatmap.swept_long/short``) ranks bars well but its level is not
that of realized liquidations (realized / predicted is 0.04-0.07 on the shipped data, docs/evaluation.md).
The calibration factor of a side is the **median of the daily ratios** realized / predicted over the
``WINDOW_DAYS`` complete UTC days before the moment it is applied to (trailing, causal):

    f_side = median_{days d in window, R_d > 0, P_d > 0} (R_d / P_d)

with ``R_d`` the realized and ``P_d`` the predicted liquidated USD of that side on day ``d``. Calibrated
USD = raw USD * f_side. A factor scales values only: it never changes a ranking.

Choices, made on the fit half of the shipped sample only (2026-01-15 .. 2026-03-20): the median of daily
ratios over 7 days, per side, put the calibrated daily-median ratio nearest 1 on fit (0.96 longs, 0.94
shorts) among 7 / 14 / 30 days x median / ratio of sums x per side / shared. With fewer than
``MIN_DAYS`` usable days a side falls back to :data:`FALLBACK`.

Realized sources, best first: the collector's per-event prints (``liquidations`` table) of the view's
venues, Coinglass aggregate bars (``liquidation_bars``), else the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from liqmap.errors import ConfigError
from liqmap.model.result import Heatmap

DAY_MS = 86_400_000
WINDOW_DAYS = 7
MIN_DAYS = 3


@dataclass(frozen=True)
class Calibration:
    """Which factor a number carries; ``source`` is ``prints``, ``coinglass``, ``fallback-sample`` or ``none``."""

    source: str
    factor_long: float
    factor_short: float
    fitted_on: tuple[int, int] | None = None
    """``[start, end)`` ms of the days the factors were fitted on."""
    days: int = 0

    def __post_init__(self) -> None:
        for name in ("factor_long", "factor_short"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"{name}: a calibration factor must be finite and > 0, got {value}")

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "factor_long": self.factor_long,
            "factor_short": self.factor_short,
            "fitted_on": list(self.fitted_on) if self.fitted_on else None,
            "days": self.days,
        }


NONE = Calibration("none", 1.0, 1.0)
"""Raw model USD (``calibration=none``)."""

MODES = ("auto", "none")
"""What a caller may ask for (API ``calibration=``, CLI ``--calibration``): ``auto`` = the view's fitted
calibration, ``none`` = :data:`NONE` (raw model USD)."""

FALLBACK = Calibration("fallback-sample", 0.0425, 0.0361, (1_768_435_200_000, 1_774_051_200_000), 65)
"""Median daily realized / predicted of the default model on the shipped sample's fit half
(2026-01-15 .. 2026-03-20, realized = Coinglass Binance+Bybit+OKX aggregate, model = Binance BTCUSDT):
the factor used when the store holds no realized liquidations before the view."""


def daily_sums(ts: np.ndarray, values: np.ndarray, day_ms: int = DAY_MS) -> tuple[np.ndarray, np.ndarray]:
    """``(day_start_ms, sum)`` per UTC day present in ``ts`` (NaN values count as 0)."""
    ts = np.asarray(ts, dtype=np.int64)
    days, index = np.unique(ts // day_ms, return_inverse=True)
    sums = np.bincount(index, weights=np.nan_to_num(np.asarray(values, dtype=np.float64)), minlength=days.size)
    return days * day_ms, sums


def median_ratio(predicted: np.ndarray, realized: np.ndarray, *, min_days: int = MIN_DAYS) -> tuple[float, int]:
    """``(median of realized / predicted over days where both > 0, number of such days)``; NaN if too few."""
    p, r = np.asarray(predicted, dtype=np.float64), np.asarray(realized, dtype=np.float64)
    ok = (p > 0) & (r > 0) & np.isfinite(p) & np.isfinite(r)
    n = int(ok.sum())
    if n < min_days:
        return float("nan"), n
    return float(np.median(r[ok] / p[ok])), n


def fit(
    days: np.ndarray, predicted_long: np.ndarray, predicted_short: np.ndarray, realized_long: np.ndarray,
    realized_short: np.ndarray, *, source: str, before: int, window_days: int = WINDOW_DAYS,
    min_days: int = MIN_DAYS, fallback: Calibration = FALLBACK,
) -> Calibration:
    """The calibration for the moment ``before`` (ms) from daily sums (``days`` = day starts, ms).

    Uses the ``window_days`` complete days ending at or before ``before``'s day start; a side with fewer
    than ``min_days`` usable days takes the fallback's factor (and the source says so)."""
    days = np.asarray(days, dtype=np.int64)
    last = before // DAY_MS * DAY_MS
    inside = (days < last) & (days >= last - window_days * DAY_MS)
    f_long, n_long = median_ratio(predicted_long[inside], realized_long[inside], min_days=min_days)
    f_short, n_short = median_ratio(predicted_short[inside], realized_short[inside], min_days=min_days)
    if not np.isfinite(f_long) and not np.isfinite(f_short):
        return fallback
    label = source if np.isfinite(f_long) and np.isfinite(f_short) else f"{source}+{fallback.source}"
    return Calibration(
        label,
        f_long if np.isfinite(f_long) else fallback.factor_long,
        f_short if np.isfinite(f_short) else fallback.factor_short,
        (int(days[inside][0]), int(days[inside][-1]) + DAY_MS) if inside.any() else None,
        min(n_long, n_short),
    )


def trailing_factors(
    ts: np.ndarray, predicted: tuple[np.ndarray, np.ndarray], realized: tuple[np.ndarray, np.ndarray],
    *, window_days: int = WINDOW_DAYS, min_days: int = MIN_DAYS, fallback: Calibration = FALLBACK,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar factors ``(f_long, f_short)``: each bar gets the factor fitted on the days before its own
    day (:func:`fit`), so no bar's factor sees its day or anything later."""
    ts = np.asarray(ts, dtype=np.int64)
    known = np.isfinite(realized[0]) & np.isfinite(realized[1])
    days, p_long = daily_sums(ts[known], predicted[0][known])
    _, p_short = daily_sums(ts[known], predicted[1][known])
    _, r_long = daily_sums(ts[known], realized[0][known])
    _, r_short = daily_sums(ts[known], realized[1][known])
    out_long, out_short = np.empty(ts.size), np.empty(ts.size)
    bar_days, index = np.unique(ts // DAY_MS * DAY_MS, return_inverse=True)
    for i, day in enumerate(bar_days):
        cal = fit(days, p_long, p_short, r_long, r_short, source="", before=int(day), window_days=window_days,
                  min_days=min_days, fallback=fallback)
        out_long[index == i] = cal.factor_long
        out_short[index == i] = cal.factor_short
    return out_long, out_short


def scale_heatmap(heatmap: Heatmap, calibration: Calibration) -> Heatmap:
    """The heatmap with every USD array multiplied by the side's factor (ranking unchanged)."""
    if calibration.factor_long == 1.0 and calibration.factor_short == 1.0:
        return heatmap
    fl, fs = calibration.factor_long, calibration.factor_short
    return replace(
        heatmap,
        long=heatmap.long * fl,
        short=heatmap.short * fs,
        swept_long=heatmap.swept_long * fl,
        swept_short=heatmap.swept_short * fs,
    )
