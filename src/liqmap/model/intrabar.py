"""Positions opened and liquidated inside the same bar (the book never holds them at a column end).

Part of the model's swept USD in both engines (batch ``book.py`` and the per-bar reference), so
the served heatmap's ``swept_long/short`` and the evaluation's prediction are the same numbers.

The engine's book is the state at bar ends, and a position born in bar ``t`` can be swept from bar
``t + 1`` on. With turnover (:mod:`liqmap.model.turnover`) positions also open *during* bar ``t`` at
prices across its range, and the high-leverage ones can be liquidated before the bar closes. Their
expected USD, given only what is known at the bar's start plus the bar's high and low:

* expected new notional ``N_t = min(TAU_MAX, k * Vbar_t * x_t**gamma / OI_{t-1}) * OI_{t-1}``, with
  ``k`` = ``ModelConfig.turnover`` and ``Vbar_t`` the mean USD volume of the ``VOLUME_LOOKBACK`` bars
  before ``t`` (the bar's own volume is not known at its start) and ``OI_{t-1}`` the OI the bar starts with
  (the last known value before ``t``, :meth:`MarketFrame.oi_before`; no term where none is known). ``x_t = rho_t / rhobar_t`` is the bar's
  relative range ``rho = (high - low) / open`` over the mean of the same ``VOLUME_LOOKBACK`` bars before
  it (1 when that mean is 0 or there is no earlier bar): volume rises with the bar's range (the
  volume-volatility relation), and the range is known when the bar is scored, its volume is not.
  ``gamma = ModelConfig.intrabar_range_exponent`` (0 = the recent mean volume alone);
* entries uniform over ``[low_t, high_t]``; a long of tier ``L`` (level ratio ``r_L < 1``) entered at
  ``e`` is liquidated inside the bar if ``e * r_L >= low_t`` and the low comes after the entry; the first
  happens with probability ``clip((high_t - low_t / r_L) / (high_t - low_t), 0, 1)``, the second with
  probability ``p = ModelConfig.intrabar_path`` (the bar's path is unknown; 0.5 = no information);
* ``long_t = p * N_t * share_long * sum_L w_L * P_L``; shorts alike with ``e * r_S <= high_t``.

``share_long`` is 0.5 (the bar's taker flow is not known at its start). The equations are ours; the
evidence and the fitted ``intrabar_path`` are in docs/model.md ("Defaults chosen by evidence").
"""

from __future__ import annotations

import numpy as np

from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.turnover import TAU_MAX

VOLUME_LOOKBACK = 24
"""Bars whose mean USD volume stands for the coming bar's volume."""


def trailing_sums(values: np.ndarray, lookback: int) -> np.ndarray:
    """``c[i] - c[max(0, i - lookback)]`` with ``c`` the cumulative sum of ``values`` after a leading 0:
    the sum of the ``lookback`` values before each one, as differences of one running sum (slices,
    not index arrays: the same subtractions, a third of the passes)."""
    n = len(values)
    csum = np.empty(n + 1)
    csum[0] = 0.0
    np.cumsum(values, out=csum[1:])
    out = csum[:n].copy()
    out[lookback:] -= csum[: max(n - lookback, 0)]
    out[:lookback] -= csum[0]
    return out


def expected_volume_usd(frame: MarketFrame, lookback: int = VOLUME_LOOKBACK) -> np.ndarray:
    """Mean USD volume of the ``lookback`` bars before each bar (NaN for the first bar)."""
    n = len(frame)
    quote = getattr(frame, "quote_volume", np.full(n, np.nan))
    typical = (frame.high + frame.low + frame.close) / 3.0
    usd = np.where(np.isfinite(quote), quote, frame.volume * typical)
    usd = np.where(np.isfinite(usd), usd, 0.0)
    counts = np.where(np.isfinite(quote) | np.isfinite(frame.volume), 1.0, 0.0)
    total = trailing_sums(usd, lookback)
    count = trailing_sums(counts, lookback)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


def range_ratio(frame: MarketFrame, lookback: int = VOLUME_LOOKBACK) -> np.ndarray:
    """``x_t``: the bar's relative range ``(high - low) / open`` over the mean of the ``lookback`` bars
    before it (1 for the first bar and when that mean is 0)."""
    n = len(frame)
    rho = (frame.high - frame.low) / frame.open
    count = np.minimum(np.arange(n), lookback)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, trailing_sums(rho, lookback) / np.maximum(count, 1), 0.0)
        return np.where(mean > 0, rho / np.where(mean > 0, mean, 1.0), 1.0)


def intrabar_swept(
    config: ModelConfig, frame: MarketFrame, ratios: np.ndarray, tiers: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Expected (long, short) USD liquidated inside each bar by positions opened in it.

    ``ratios`` (2, T): liquidation level / entry per side and leverage tier
    (:func:`liqmap.model.inputs.level_ratios`); ``tiers``: the tiers counted (default all; weights stay
    normalised over all tiers). Zero when ``intrabar_path`` or ``turnover`` is 0.
    """
    n = len(frame)
    p = float(config.intrabar_path)
    k = float(config.turnover)
    if p <= 0.0 or k <= 0.0 or n == 0:
        return np.zeros(n), np.zeros(n)
    oi_start = frame.oi_before()
    volume = expected_volume_usd(frame)
    gamma = float(config.intrabar_range_exponent)
    if gamma > 0.0:
        volume = volume * range_ratio(frame) ** gamma
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.clip(k * volume / oi_start, 0.0, TAU_MAX)
    new = np.where(np.isfinite(tau) & np.isfinite(oi_start), tau * oi_start, 0.0)
    width = frame.high - frame.low
    safe = np.where(width > 0, width, 1.0)
    weights = np.asarray(config.normalised_weights)
    long_share = np.zeros(n)
    short_share = np.zeros(n)
    for j in range(len(weights)) if tiers is None else tiers:
        w = weights[j]
        long_share += w * np.clip((frame.high - frame.low / ratios[0, j]) / safe, 0.0, 1.0)
        short_share += w * np.clip((frame.high / ratios[1, j] - frame.low) / safe, 0.0, 1.0)
    flat = width <= 0
    long_share[flat] = 0.0
    short_share[flat] = 0.0
    return p * new * 0.5 * long_share, p * new * 0.5 * short_share
