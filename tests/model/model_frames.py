"""Frame builders and hypothesis strategies shared by the model tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from liqmap.model.frame import MarketFrame
from liqmap.types import HOUR_MS


def frame(
    close: list[float],
    oi: list[float],
    *,
    high: list[float] | None = None,
    low: list[float] | None = None,
    open_: list[float] | None = None,
    exchange: str = "binance",
    symbol: str = "BTC",
    interval_ms: int = HOUR_MS,
    start: int = 0,
    volume: list[float] | None = None,
    taker_buy: list[float] | None = None,
    funding: list[float] | None = None,
    quote_volume: list[float] | None = None,
) -> MarketFrame:
    """A frame from closes; open = previous close and high/low = max/min(open, close) unless given."""
    n = len(close)
    c = np.asarray(close, dtype=float)
    o = np.asarray(open_, dtype=float) if open_ is not None else np.concatenate(([c[0]], c[:-1]))
    h = np.asarray(high, dtype=float) if high is not None else np.maximum(o, c)
    lo = np.asarray(low, dtype=float) if low is not None else np.minimum(o, c)
    return MarketFrame(
        exchange=exchange,
        symbol=symbol,
        interval_ms=interval_ms,
        ts=start + interval_ms * np.arange(n),
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=np.asarray(volume if volume is not None else [1.0] * n, dtype=float),
        oi_usd=np.asarray(oi, dtype=float),
        taker_buy_volume=np.asarray(taker_buy if taker_buy is not None else [np.nan] * n, dtype=float),
        funding=np.asarray(funding if funding is not None else [np.nan] * n, dtype=float),
        quote_volume=np.asarray(quote_volume if quote_volume is not None else [np.nan] * n, dtype=float),
    )


@st.composite
def random_frames(draw: st.DrawFn, max_bars: int = 30, exchange: str = "binance", start: int = 0) -> MarketFrame:
    """Random but valid bar series: log random walk with wicks, OI random walk with NaN holes and drops."""
    n = draw(st.integers(2, max_bars))
    seed = draw(st.integers(0, 2**32 - 1))
    vol = draw(st.sampled_from([0.002, 0.01, 0.04]))
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, vol, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, vol, n)))
    oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.05, n)))
    oi[rng.random(n) < draw(st.sampled_from([0.0, 0.2]))] = np.nan
    if draw(st.booleans()):
        oi[rng.random(n) < 0.1] = 0.0
    if np.isfinite(oi).sum() == 0:
        oi[0] = 1e6
    volume = rng.uniform(0.0, 5.0, n)
    volume[rng.random(n) < 0.1] = 0.0
    return MarketFrame(
        exchange=exchange,
        symbol="BTC",
        interval_ms=HOUR_MS,
        ts=start + HOUR_MS * np.arange(n),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        oi_usd=oi,
        taker_buy_volume=volume * rng.uniform(0, 1, n),
        funding=rng.normal(0, 2e-4, n),
        quote_volume=volume * (low + (high - low) * rng.uniform(0, 1, n)),
    )


configs = st.fixed_dictionaries(
    {
        "entry": st.sampled_from(["close", "typical", "ohlc4", "vwap", "range", "triangular"]),
        "entry_points": st.integers(1, 4),
        "entry_spacing": st.sampled_from([0.0, 0.001, 0.02]),
        "side": st.sampled_from(["taker", "symmetric", "candle", "funding"]),
        "taker_weight": st.sampled_from([0.0, 0.5, 1.0]),
        "funding_tilt": st.sampled_from([0.0, 0.2]),
        "close_rule": st.sampled_from(["proportional", "none"]),
        "decay_half_life_hours": st.sampled_from([None, 3.0]),
        "age_buckets_hours": st.sampled_from([(2.0, 5.0), (1.0,), (4.0, 24.0, 168.0)]),
        "flat_mmr": st.sampled_from([None, 0.0, 0.004]),
        "intrabar_range_exponent": st.sampled_from([0.0, 1.0, 1.5]),
    }
)
