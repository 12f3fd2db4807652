from __future__ import annotations

import numpy as np

from liqmap.model.frame import MarketFrame
from liqmap.types import HOUR_MS

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def make_frame(
    open_: list[float] | np.ndarray,
    high: list[float] | np.ndarray,
    low: list[float] | np.ndarray,
    close: list[float] | np.ndarray,
    oi: list[float] | np.ndarray,
    volume: list[float] | np.ndarray | None = None,
) -> MarketFrame:
    n = len(open_)
    vol = np.full(n, 100.0) if volume is None else np.asarray(volume, dtype=float)
    return MarketFrame(
        exchange="binance",
        symbol="BTC",
        interval_ms=HOUR_MS,
        ts=T0 + HOUR_MS * np.arange(n),
        open=np.asarray(open_, dtype=float),
        high=np.asarray(high, dtype=float),
        low=np.asarray(low, dtype=float),
        close=np.asarray(close, dtype=float),
        volume=vol,
        oi_usd=np.asarray(oi, dtype=float),
        taker_buy_volume=vol * 0.5,
    )


def random_walk_frame(seed: int, n: int = 80) -> MarketFrame:
    """A plausible hourly series: log-normal walk, bars bracketing open/close, OI wandering around $8B."""
    rng = np.random.default_rng(seed)
    close = 90_000.0 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = np.concatenate(([close[0] / np.exp(rng.normal(0, 0.006))], close[:-1]))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, n)))
    oi = 8e9 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    volume = rng.uniform(2_000, 12_000, n)
    return make_frame(open_, high, low, close, oi, volume)
