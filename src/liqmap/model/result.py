"""The model's outputs: a heatmap over time and a liquidation map at one instant.

Both are plain arrays, so the analysis layer, the API and the renderers never need the engine.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from liqmap.model.badticks import BadTick


@dataclass(frozen=True, eq=False)
class Heatmap:
    """Outstanding estimated liquidation notional (USD) per time column and price bin.

    * ``times`` (K,) int64 ms: column ``k`` is the book's state at the **end** of the bar that opens at
      ``times[k]`` (columns may be coarser than bars: then it is the state after the column's last bar).
    * ``price_edges`` (B+1,) increasing bin edges; bin ``b`` is ``[edges[b], edges[b+1])``.
    * ``long`` / ``short`` (K, B) USD of longs / shorts whose liquidation price lies in the bin
      (after the tier / age / exchange filters the heatmap was computed with).
    * ``swept_long`` / ``swept_short`` (K,) modelled liquidated USD inside each column.
    * ``candles``: ``ts, open, high, low, close, volume`` arrays at column resolution.
    """

    symbol: str
    exchanges: tuple[str, ...]
    times: np.ndarray
    price_edges: np.ndarray
    long: np.ndarray
    short: np.ndarray
    swept_long: np.ndarray
    swept_short: np.ndarray
    candles: dict[str, np.ndarray]
    interval_ms: int
    leverage: tuple[float, ...] = ()
    ages: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Provenance per exchange: which margin brackets (or flat mmr) produced the levels."""
    bad_ticks: tuple[BadTick, ...] = ()
    """The wicks clipped before the model saw them (:mod:`liqmap.model.badticks`) in the bars of the
    columns, ordered by time, exchange, field (filled by :func:`liqmap.query.heatmap_for`)."""

    def columns_from(self, first: int) -> Heatmap:
        """The columns ``first`` onwards, as views of this heatmap's arrays (no copy of the grids), with the
        bad ticks of those columns' bars."""
        if first <= 0:
            return self
        times = self.times[first:]
        start = int(times[0]) if len(times) else None
        return dataclasses.replace(
            self,
            times=times,
            long=self.long[first:],
            short=self.short[first:],
            swept_long=self.swept_long[first:],
            swept_short=self.swept_short[first:],
            candles={name: np.asarray(values)[first:] for name, values in self.candles.items()},
            bad_ticks=tuple(t for t in self.bad_ticks if start is not None and t.ts >= start),
        )

    @property
    def price_centers(self) -> np.ndarray:
        result: np.ndarray = 0.5 * (self.price_edges[:-1] + self.price_edges[1:])
        return result

    @property
    def last_price(self) -> float:
        return float(self.candles["close"][-1])

    def column(self, k: int = -1) -> LiquidationMap:
        """The liquidation map at column ``k`` (default: the latest)."""
        return LiquidationMap.from_bins(
            price_edges=self.price_edges,
            long=self.long[k],
            short=self.short[k],
            price=float(self.candles["close"][k]),
            ts=int(self.times[k]),
            symbol=self.symbol,
        )


@dataclass(frozen=True, eq=False)
class LiquidationMap:
    """A snapshot: long and short notional per price bin, and cumulative curves outward from price.

    ``cum_long[b]`` is the USD of longs liquidated if price falls from ``price`` to ``price_centers[b]``
    (zero for bins above price); ``cum_short[b]`` the USD of shorts liquidated if price rises to it.
    """

    symbol: str
    ts: int
    price: float
    price_edges: np.ndarray
    long: np.ndarray
    short: np.ndarray
    cum_long: np.ndarray
    cum_short: np.ndarray

    @property
    def price_centers(self) -> np.ndarray:
        result: np.ndarray = 0.5 * (self.price_edges[:-1] + self.price_edges[1:])
        return result

    @classmethod
    def from_bins(
        cls, *, price_edges: np.ndarray, long: np.ndarray, short: np.ndarray, price: float, ts: int, symbol: str
    ) -> LiquidationMap:
        centers = 0.5 * (price_edges[:-1] + price_edges[1:])
        below = centers <= price
        # Longs below price liquidate as price falls: accumulate from price downward.
        long_below = np.where(below, long, 0.0)
        cum_long = np.where(below, np.cumsum(long_below[::-1])[::-1], 0.0)
        short_above = np.where(~below, short, 0.0)
        cum_short = np.where(~below, np.cumsum(short_above), 0.0)
        return cls(
            symbol=symbol,
            ts=ts,
            price=price,
            price_edges=np.asarray(price_edges, dtype=np.float64),
            long=np.asarray(long, dtype=np.float64),
            short=np.asarray(short, dtype=np.float64),
            cum_long=cum_long,
            cum_short=cum_short,
        )
