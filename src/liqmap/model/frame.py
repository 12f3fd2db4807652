"""The model's input: one exchange's bars and open interest, aligned, validated.

A :class:`MarketFrame` is plain numpy arrays of equal length N, one row per bar, oldest first:

* ``ts`` bar open times (ms, strictly increasing, constant step ``interval_ms``);
* ``open, high, low, close`` prices of the *perpetual* (or the closest proxy; provenance in ``price_source``);
* ``volume`` base-coin volume, ``taker_buy_volume`` base-coin taker-buy volume (NaN where unknown);
* ``oi_usd`` open interest in USD at the **end** of each bar (NaN where unknown: the model then adds
  and removes nothing for that bar; documented in docs/model.md);
* ``funding`` funding rate (fraction) in force during the bar (NaN where unknown);
* ``quote_volume`` quote (USD) volume (NaN where unknown).

Validation is eager and names the problem (bad prices, time order, absurd OI): the model never
silently turns bad input into a wrong heatmap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liqmap.errors import BadSeriesError

FloatArray = np.ndarray
IntArray = np.ndarray


@dataclass(frozen=True, eq=False)
class MarketFrame:
    exchange: str
    symbol: str
    interval_ms: int
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    oi_usd: FloatArray
    taker_buy_volume: FloatArray = field(default_factory=lambda: np.empty(0))
    funding: FloatArray = field(default_factory=lambda: np.empty(0))
    price_source: str = "perp"
    oi_source: str = ""
    quote_volume: FloatArray = field(default_factory=lambda: np.empty(0))
    """Quote (USD) volume per bar, NaN where unknown; used by ``entry="vwap"`` (quote / base volume)."""

    def __post_init__(self) -> None:
        n = len(self.ts)
        nan = np.full(n, np.nan)
        object.__setattr__(self, "ts", np.asarray(self.ts, dtype=np.int64))
        for name in (
            "open", "high", "low", "close", "volume", "oi_usd", "taker_buy_volume", "funding", "quote_volume"
        ):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.size == 0 and name in ("taker_buy_volume", "funding", "quote_volume"):
                value = nan.copy()
            if value.shape != (n,):
                raise BadSeriesError(f"{self.exchange} {self.symbol}: column {name} has {value.size} rows, ts has {n}")
            object.__setattr__(self, name, value)
        self.validate()

    def __len__(self) -> int:
        return len(self.ts)

    def validate(self) -> None:
        """Raise :class:`BadSeriesError` naming the first offending bar."""
        label = f"{self.exchange} {self.symbol}"
        if self.interval_ms <= 0:
            raise BadSeriesError(f"{label}: interval_ms must be positive, got {self.interval_ms}")
        if len(self.ts) == 0:
            return
        steps = np.diff(self.ts)
        if (steps <= 0).any():
            i = int(np.argmax(steps <= 0)) + 1
            raise BadSeriesError(f"{label}: timestamps not strictly increasing at bar {i} (ts={self.ts[i]})")
        if (steps != self.interval_ms).any():
            i = int(np.argmax(steps != self.interval_ms)) + 1
            raise BadSeriesError(
                f"{label}: gap in bars at bar {i} (ts={self.ts[i]}): step {steps[i - 1]} ms, expected "
                f"{self.interval_ms}; fill or split the series before modelling"
            )
        prices = np.stack([self.open, self.high, self.low, self.close])
        bad = ~np.isfinite(prices) | (prices <= 0)
        if bad.any():
            i = int(np.argmax(bad.any(axis=0)))
            raise BadSeriesError(
                f"{label}: non-positive or missing price at bar {i} (ts={self.ts[i]}): "
                f"open={self.open[i]} high={self.high[i]} low={self.low[i]} close={self.close[i]}"
            )
        inconsistent = (self.high < np.maximum(self.open, self.close)) | (self.low > np.minimum(self.open, self.close))
        if inconsistent.any():
            i = int(np.argmax(inconsistent))
            raise BadSeriesError(f"{label}: high/low do not bracket open/close at bar {i} (ts={self.ts[i]})")
        oi = self.oi_usd[np.isfinite(self.oi_usd)]
        if (oi < 0).any():
            i = int(np.argmax(np.nan_to_num(self.oi_usd, nan=0.0) < 0))
            raise BadSeriesError(f"{label}: negative open interest at bar {i} (ts={self.ts[i]})")
        if np.isfinite(self.oi_usd).sum() == 0:
            raise BadSeriesError(f"{label}: no open interest at all; the model needs an OI series")

    def last_oi_index_before(self) -> np.ndarray:
        """For each bar ``t``, the index of the last bar before it with a finite OI (-1 where none)."""
        n = len(self.ts)
        known = np.where(np.isfinite(self.oi_usd), np.arange(n), -1)
        last = np.maximum.accumulate(known) if n else known
        return np.concatenate(([-1], last[:-1]))[:n]

    def oi_before(self) -> np.ndarray:
        """The OI each bar starts with: the last finite ``oi_usd`` of an earlier bar (NaN where none).

        Equal to the previous bar's value when it is known; across a hole in the OI series (or on bars finer
        than the OI series, e.g. 30-minute bars with hourly OI) the latest known value. Computed once per
        frame (the inputs, the turnover, the same-bar term and the diffuse layer all start from it) and
        returned read-only."""
        known: np.ndarray | None = self.__dict__.get("_oi_before")
        if known is None:
            prev = self.last_oi_index_before()
            known = np.where(prev >= 0, self.oi_usd[np.maximum(prev, 0)], np.nan)
            known.flags.writeable = False
            object.__setattr__(self, "_oi_before", known)
        return known

    def slice(self, start: int, stop: int) -> MarketFrame:
        """Bars ``start:stop`` as a new frame (no copy of the metadata)."""
        return MarketFrame(
            exchange=self.exchange,
            symbol=self.symbol,
            interval_ms=self.interval_ms,
            ts=self.ts[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
            oi_usd=self.oi_usd[start:stop],
            taker_buy_volume=self.taker_buy_volume[start:stop],
            funding=self.funding[start:stop],
            price_source=self.price_source,
            oi_source=self.oi_source,
            quote_volume=self.quote_volume[start:stop],
        )
