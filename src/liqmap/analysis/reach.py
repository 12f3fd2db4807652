"""Reach probability: the chance that price touches a level within a horizon (pure numpy).

Model (driftless Brownian motion in log price, reflection principle): for a level at log distance
``d = |ln(L / P0)|`` from the price ``P0`` and volatility ``sigma`` (per square-root hour), the probability
that the path touches the level within ``T`` hours is

    p_raw = 2 * (1 - Phi(d / (sigma * sqrt(T))))                      (capped at 1)

(the first-passage law of Brownian motion; e.g. Karatzas & Shreve, *Brownian Motion and Stochastic
Calculus*, 2.6.A, or Shreve, *Stochastic Calculus for Finance II*, 3.7.3). ``sigma`` is the Parkinson
high-low estimator over the trailing ``VOL_WINDOW_HOURS`` (Parkinson 1980, "The extreme value method for
estimating the variance of the rate of return", J. Business 53(1)):

    sigma^2 = sum_k ln(H_k / L_k)^2 / (4 ln 2)  /  (hours covered by the bars k)

The raw probability is then recalibrated with a logistic map on its log-odds (Platt scaling; Platt 1999),
one pair of coefficients per horizon shared by both sides:

    p = 1 / (1 + exp(-(a + b * logit(p_raw))))

(for 24 h, the larger of this and the 4 h value, so that P never falls as the horizon grows)

Choices made on the fit half of the shipped sample only (levels: the top-3 clusters per side on every
scored bar, 2026-01-15 .. 2026-03-20 23:00): the 30-day Parkinson window had the lowest in-sample
calibration error at 24 h among 24 h / 3 d / 7 d / 14 d / 30 d close-to-close and Parkinson windows; one
pair shared by both sides because per-side pairs learned the fit period's trend (longs touched more than
shorts), which does not carry over. No map feature (cluster size, age) was added: none is needed for the
targets and each would tie the probability to the model's settings. docs/evaluation.md has the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liqmap.errors import ConfigError

HOUR_MS = 3_600_000
HORIZONS_HOURS: tuple[float, ...] = (4.0, 24.0)
VOL_WINDOW_HOURS = 720.0
"""Trailing window of the volatility estimate (30 days)."""
MIN_VOL_HOURS = 24.0
"""Fewer hours of history than this: no estimate (NaN)."""

RECALIBRATION: dict[float, tuple[float, float]] = {4.0: (-0.48, 0.81), 24.0: (-0.27, 0.94)}
"""Logistic recalibration ``(a, b)`` per horizon in hours, fitted on the shipped sample's fit half
(:func:`fit_logistic` on the pooled long and short top-cluster levels)."""

_LOGIT_CLIP = 1e-4


def _phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2 (numpy has no erf; scipy is not a dependency)."""
    erf = np.frompyfunc(math.erf, 1, 1)
    return 0.5 * (1.0 + np.asarray(erf(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)), dtype=np.float64))


def parkinson_variance(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Per-bar Parkinson variance of log price: ln(H/L)^2 / (4 ln 2)."""
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.log(h / lo) ** 2 / (4.0 * math.log(2.0))
    return out


def hourly_sigma(
    high: np.ndarray, low: np.ndarray, interval_ms: int, *, window_hours: float = VOL_WINDOW_HOURS,
    min_hours: float = MIN_VOL_HOURS,
) -> np.ndarray:
    """Volatility per square-root hour known at the END of each bar (bars up to and including it).

    The trailing mean of the Parkinson variance over ``window_hours`` (expanding until that much history
    exists, NaN before ``min_hours``), divided by the bar length in hours."""
    if interval_ms <= 0:
        raise ConfigError(f"interval_ms must be > 0, got {interval_ms}")
    var = np.nan_to_num(parkinson_variance(high, low), nan=0.0, posinf=0.0)
    n = var.size
    w = max(1, round(window_hours * HOUR_MS / interval_ms))
    cum = np.concatenate(([0.0], np.cumsum(var)))
    idx = np.arange(n)
    lo = np.maximum(0, idx + 1 - w)
    count = idx + 1 - lo
    mean = (cum[idx + 1] - cum[lo]) / count
    sigma: np.ndarray = np.sqrt(mean / (interval_ms / HOUR_MS))
    sigma[count * interval_ms < min_hours * HOUR_MS] = np.nan
    return sigma


def barrier_probability(distance: np.ndarray, sigma: np.ndarray, hours: float) -> np.ndarray:
    """``p_raw = min(1, 2 (1 - Phi(d / (sigma sqrt T))))`` for log distances ``d >= 0`` (module docstring)."""
    if hours <= 0:
        raise ConfigError(f"hours must be > 0, got {hours}")
    d = np.abs(np.asarray(distance, dtype=np.float64))
    s = np.asarray(sigma, dtype=np.float64) * math.sqrt(hours)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, d / s, np.where(d > 0, np.inf, 0.0))
    return np.minimum(1.0, 2.0 * (1.0 - _phi(z)))


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
    out: np.ndarray = np.log(q / (1.0 - q))
    return out


def recalibrate(raw: np.ndarray, coefficients: tuple[float, float]) -> np.ndarray:
    """``1 / (1 + exp(-(a + b logit(raw))))``."""
    a, b = coefficients
    out: np.ndarray = 1.0 / (1.0 + np.exp(-(a + b * logit(raw))))
    return out


def touch_probability(
    price: float | np.ndarray, level: float | np.ndarray, sigma: float | np.ndarray, hours: float,
    *, calibrated: bool = True,
) -> np.ndarray:
    """P(price touches ``level`` within ``hours``) (module docstring); NaN where sigma is unknown.

    A level at the price itself is touched (1)."""
    p0 = np.asarray(price, dtype=np.float64)
    lv = np.asarray(level, dtype=np.float64)
    if np.any(p0 <= 0) or np.any(lv <= 0):
        raise ConfigError("price and level must be > 0")
    d = np.abs(np.log(lv / p0))
    s = np.asarray(sigma, dtype=np.float64)
    raw = barrier_probability(d, s, hours)
    if calibrated:
        if float(hours) not in RECALIBRATION:
            raise ConfigError(f"no recalibration for {hours} h (known: {sorted(RECALIBRATION)})")
        # A touch within a shorter horizon is a touch within this one: keep P non-decreasing in the
        # horizon (two separately fitted maps could otherwise cross in the far tail, p < 0.001).
        raw = np.max([recalibrate(barrier_probability(d, s, h), RECALIBRATION[h])
                      for h in RECALIBRATION if h <= hours], axis=0)
        raw = np.where(d == 0, 1.0, raw)
    return np.where(np.isfinite(s), raw, np.nan)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, iterations: int = 100) -> tuple[float, float]:
    """Maximum-likelihood ``(a, b)`` of ``P(y=1) = 1 / (1 + exp(-(a + b x)))`` by Newton's method.

    Hand-written (a dozen lines) because scikit-learn is only a research extra."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    a, b = 0.0, 1.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(a + b * x)))
        w = p * (1.0 - p)
        grad = np.array([np.sum(p - y), np.sum((p - y) * x)])
        hess = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        a, b = a - float(step[0]), b - float(step[1])
        if np.abs(step).max() < 1e-10:
            break
    return a, b


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Brier score, mean((p - y)^2) (Brier 1950)."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.mean((p - y) ** 2)) if p.size else float("nan")


@dataclass(frozen=True)
class Reliability:
    """Reliability diagram over equal-width probability bins."""

    edges: tuple[float, ...]
    mean_predicted: tuple[float, ...]
    observed: tuple[float, ...]
    counts: tuple[int, ...]
    ece: float
    """Expected calibration error: sum_b n_b / N * |mean(p in b) - mean(y in b)| (Naeini et al. 2015)."""

    def to_dict(self) -> dict[str, object]:
        return {"edges": list(self.edges), "mean_predicted": list(self.mean_predicted),
                "observed": list(self.observed), "counts": list(self.counts), "ece": self.ece}


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> Reliability:
    """Reliability table and ECE of probabilities ``p`` against outcomes ``y`` (0/1)."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    sum_p = np.bincount(which, weights=p, minlength=bins)
    sum_y = np.bincount(which, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = sum_p / counts
        obs = sum_y / counts
    ece = float(np.sum(np.abs(sum_p - sum_y)) / p.size) if p.size else float("nan")
    return Reliability(tuple(edges.tolist()), tuple(mean_p.tolist()), tuple(obs.tolist()),
                       tuple(int(c) for c in counts), ece)


def distance_only(excursions: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Touch frequency by distance alone: the share of ``excursions`` (past horizon-long adverse moves,
    log) at least as far as each ``distance`` (the empirical survival function)."""
    ex = np.sort(np.asarray(excursions, dtype=np.float64)[np.isfinite(excursions)])
    if ex.size == 0:
        return np.full(np.shape(distance), np.nan)
    out: np.ndarray = 1.0 - np.searchsorted(ex, np.asarray(distance, dtype=np.float64), side="left") / ex.size
    return out
