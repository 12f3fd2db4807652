"""Baselines the model must beat, each a causal per-bar prediction of liquidated USD per side.

A prediction for bar t may use the bar's own open/high/low (the move being scored) and anything known at
the bar's start; never the bar's OI change, close or volume, nor anything later.

* ``move_size_oi`` (B0): OI at the bar's start times the adverse move,
  ``long_t = OI_{t-1} * max(0, (open_t - low_t) / open_t)``,
  ``short_t = OI_{t-1} * max(0, (high_t - open_t) / open_t)``.
  ``OI_{t-1}`` is the OI at bar t's start: ``frame.oi_usd[t-1]`` (OI at the end of the previous bar), or
  on bars finer than the OI series the last known value if it is less than an hour old (see
  :func:`oi_at_start`).
* ``fixed_tier``: the "plain OI-delta tier" heatmap of most open-source tools, without maintenance margin
  and without path: every bar with rising OI adds ``dOI`` split equally to longs and shorts, entering at the
  close, spread over the leverage tiers; the levels sit at ``close * (1 -/+ 1/L)`` and are never removed.
  ``long_t`` = notional of long levels created before bar t with level in ``[low_t, open_t]``; ``short_t``
  the same for short levels in ``[open_t, high_t]``.
* ``candle_colour`` runs through the engine (see :mod:`liqmap.evaluate.harness`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from liqmap.model.frame import MarketFrame

FIXED_TIER_LEVERAGE: tuple[float, ...] = (5.0, 10.0, 25.0, 50.0, 100.0)
FIXED_TIER_WEIGHTS: tuple[float, ...] = (0.10, 0.20, 0.30, 0.25, 0.15)


OI_MAX_AGE_MS = 3_600_000
"""How old the last known OI may be at a bar's start and still stand for the OI there. OI series are hourly
at their coarsest (Coinglass, Binance ``openInterestHist`` from 5 min), so bars finer than the OI series are
scored with the value of the hour; a longer hole leaves the bar unscored."""


def oi_at_start(frame: MarketFrame) -> np.ndarray:
    """OI (USD) at each bar's start, NaN where unknown.

    The last known OI before the bar (:meth:`MarketFrame.oi_before`), taken when it is younger than
    ``max(bar length, OI_MAX_AGE_MS)`` at the bar's start. On bars of an hour or more that is exactly the
    previous bar's end value; on 30-minute bars with hourly OI it is the value of the last full hour."""
    prev = frame.last_oi_index_before()
    age_ms = (np.arange(len(frame)) - 1 - prev) * frame.interval_ms  # the value at the end of bar u, at t's start
    fresh = (prev >= 0) & (age_ms < max(frame.interval_ms, OI_MAX_AGE_MS))
    return np.where(fresh, frame.oi_before(), np.nan)


def move_size_oi(frame: MarketFrame) -> tuple[np.ndarray, np.ndarray]:
    """B0 (long, short) per bar. NaN where OI at the bar's start is unknown."""
    oi = oi_at_start(frame)
    down = np.maximum(0.0, (frame.open - frame.low) / frame.open)
    up = np.maximum(0.0, (frame.high - frame.open) / frame.open)
    return oi * down, oi * up


def fixed_tier_levels(
    close: float, leverage: Sequence[float] = FIXED_TIER_LEVERAGE
) -> tuple[np.ndarray, np.ndarray]:
    """Long and short liquidation levels of the fixed-tier model: ``close * (1 - 1/L)``, ``close * (1 + 1/L)``."""
    lev = np.asarray(leverage, dtype=np.float64)
    return close * (1.0 - 1.0 / lev), close * (1.0 + 1.0 / lev)


def fixed_tier(
    frame: MarketFrame,
    leverage: Sequence[float] = FIXED_TIER_LEVERAGE,
    weights: Sequence[float] = FIXED_TIER_WEIGHTS,
    chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-tier baseline (long, short) per bar; see the module docstring for the rule."""
    n = len(frame)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    delta = np.diff(frame.oi_usd, prepend=np.nan)  # dOI of bar t (known at its end)
    added = np.where(np.isfinite(delta) & (delta > 0), delta, 0.0)
    long_levels, short_levels = fixed_tier_levels(1.0, leverage)
    # Level j of bar i: price close_i * factor_j, notional added_i / 2 * w_j. Created at the end of bar i,
    # so it can be swept from bar i + 1 on.
    long_price = (frame.close[:, None] * long_levels[None, :]).ravel()
    short_price = (frame.close[:, None] * short_levels[None, :]).ravel()
    notional = (added[:, None] * 0.5 * w[None, :]).ravel()
    created = np.repeat(np.arange(n), len(w))
    keep = notional > 0
    long_price, short_price, notional, created = long_price[keep], short_price[keep], notional[keep], created[keep]
    out_long = np.zeros(n)
    out_short = np.zeros(n)
    # Exact sums by broadcasting bars against levels, in chunks of bars to bound memory.
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        bars = np.arange(lo, hi)
        # Only levels created before the chunk's last bar matter.
        m = int(np.searchsorted(created, hi - 1, side="left"))
        if m == 0:
            continue
        before = created[None, :m] < bars[:, None]
        in_long = (long_price[None, :m] >= frame.low[lo:hi, None]) & (long_price[None, :m] <= frame.open[lo:hi, None])
        in_short = (short_price[None, :m] <= frame.high[lo:hi, None]) & (
            short_price[None, :m] >= frame.open[lo:hi, None]
        )
        out_long[lo:hi] = (before & in_long).astype(np.float64) @ notional[:m]
        out_short[lo:hi] = (before & in_short).astype(np.float64) @ notional[:m]
    return out_long, out_short
