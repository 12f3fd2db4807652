"""Streaming model: one bar at a time for live use, identical in results to the batch engine.

State: a dense book ``[side, tier, age bucket, bin]`` of *unscaled* notional plus, per side, a heap of
cohorts ordered by level so a bar's sweep pops exactly the touched cohorts (longs: highest levels first;
shorts: lowest first). The proportional close rule and age decay multiply every position alike, so they
only change one scalar ``scale``; real notional = stored value * scale. When ``scale`` gets tiny the
stored values are renormalised (rare: after a cumulative shrink of 1e-150).
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liqmap.errors import BadSeriesError
from liqmap.model.book import age_boundaries_bars
from liqmap.model.brackets import BracketBook
from liqmap.model.config import ModelConfig
from liqmap.model.engine import select_ages, select_tiers
from liqmap.model.frame import MarketFrame
from liqmap.model.grid import bin_index, check_edges
from liqmap.model.inputs import FUNDING_SCALE, MIN_KEEP, decay_log_factor, entry_prices, level_ratios
from liqmap.model.result import LiquidationMap
from liqmap.model.turnover import TAU_MAX
from liqmap.types import MINUTE_MS

RENORMALISE_BELOW = 1e-150


@dataclass(frozen=True, eq=False)
class LiveColumn:
    """The book at the end of bar ``ts`` (filtered as the model was built) and this bar's swept USD."""

    ts: int
    close: float
    price_edges: np.ndarray
    long: np.ndarray
    short: np.ndarray
    swept_long: float
    swept_short: float
    symbol: str = ""

    def to_map(self) -> LiquidationMap:
        return LiquidationMap.from_bins(
            price_edges=self.price_edges, long=self.long, short=self.short, price=self.close, ts=self.ts,
            symbol=self.symbol,
        )


class StreamingModel:
    """Incremental model for one exchange and symbol. ``update`` takes one closed bar, returns the column."""

    def __init__(
        self,
        config: ModelConfig,
        exchange: str,
        symbol: str,
        price_edges: np.ndarray | Sequence[float],
        brackets: BracketBook | None = None,
        *,
        interval_ms: int = MINUTE_MS,
        leverage: Sequence[float] | None = None,
        ages: Sequence[str | int] | None = None,
    ) -> None:
        self.config = config
        self.exchange = exchange
        self.symbol = symbol
        self.edges = check_edges(price_edges)
        self.interval_ms = interval_ms
        self.ratios, self.note = level_ratios(config, exchange, symbol, brackets)
        self.tiers = select_tiers(config, leverage)
        self.ages = select_ages(config, ages)
        self.boundaries = [int(b) for b in age_boundaries_bars(config, interval_ms)]
        n_tiers, n_buckets, n_bins = len(config.leverage), len(self.boundaries) + 1, len(self.edges) - 1
        self.book = np.zeros((2, n_tiers, n_buckets, n_bins))
        self.swept = np.zeros((2, n_tiers, n_buckets))
        self._weights = np.asarray(config.normalised_weights)
        self._decay = math.exp(decay_log_factor(config, interval_ms))
        self._scale = 1.0
        self._heaps: tuple[list[tuple[float, int]], list[tuple[float, int]]] = ([], [])
        # per cohort: [value, side, tier, bucket, bin, birth]
        self._cohorts: dict[int, list] = {}
        self._by_birth: dict[int, list[int]] = defaultdict(list)
        self._next_id = 0
        self._t = -1
        self._last_ts: int | None = None
        self._oi_ref = math.nan

    # -- one bar ---------------------------------------------------------------------------------------
    def update(
        self,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        oi_usd: float,
        *,
        taker_buy_volume: float = math.nan,
        quote_volume: float = math.nan,
        funding: float = math.nan,
    ) -> LiveColumn:
        self._check_bar(ts, open, high, low, close, oi_usd)
        self._t += 1
        t = self._t
        self._sweep(low, high)
        tau = self._turnover(oi_usd, high, low, close, volume, quote_volume)
        self._shrink_and_age(t, oi_usd, 1.0 - tau)
        added = tau * oi_usd if tau > 0 else 0.0
        if math.isfinite(oi_usd) and math.isfinite(self._oi_ref):
            added += max(oi_usd - self._oi_ref, 0.0)
        if math.isfinite(oi_usd):
            self._oi_ref = oi_usd
        if added > 0:
            self._add(t, added, open, high, low, close, volume, taker_buy_volume, quote_volume, funding)
        self._last_ts = int(ts)
        return self.column(close)

    def replay(self, frame: MarketFrame) -> list[LiveColumn]:
        """Feed every bar of ``frame`` (e.g. to warm up from history); returns the columns."""
        return [
            self.update(
                int(frame.ts[i]), frame.open[i], frame.high[i], frame.low[i], frame.close[i], frame.volume[i],
                frame.oi_usd[i], taker_buy_volume=frame.taker_buy_volume[i],
                quote_volume=frame.quote_volume[i], funding=frame.funding[i],
            )
            for i in range(len(frame))
        ]

    def column(self, close: float = math.nan) -> LiveColumn:
        sub = self.book[:, self.tiers][:, :, self.ages].sum(axis=(1, 2)) * self._scale
        np.maximum(sub, 0.0, out=sub)
        swept = self.swept[:, self.tiers][:, :, self.ages].sum(axis=(1, 2))
        return LiveColumn(
            ts=self._last_ts if self._last_ts is not None else 0, close=float(close), price_edges=self.edges,
            long=sub[0], short=sub[1], swept_long=float(swept[0]), swept_short=float(swept[1]),
            symbol=self.symbol,
        )

    # -- steps -----------------------------------------------------------------------------------------
    def _check_bar(self, ts: int, open: float, high: float, low: float, close: float, oi: float) -> None:
        label = f"{self.exchange} {self.symbol} bar ts={ts}"
        if self._last_ts is not None and int(ts) != self._last_ts + self.interval_ms:
            raise BadSeriesError(
                f"{label}: expected ts={self._last_ts + self.interval_ms} (one {self.interval_ms} ms step after "
                "the previous bar); backfill missing bars before updating"
            )
        prices = (open, high, low, close)
        if not all(math.isfinite(p) and p > 0 for p in prices):
            raise BadSeriesError(f"{label}: non-positive or missing price {prices}")
        if high < max(open, close) or low > min(open, close):
            raise BadSeriesError(f"{label}: high/low do not bracket open/close {prices}")
        if math.isfinite(oi) and oi < 0:
            raise BadSeriesError(f"{label}: negative open interest {oi}")

    def _sweep(self, low: float, high: float) -> None:
        self.swept[:] = 0.0
        longs, shorts = self._heaps
        while longs and -longs[0][0] >= low:
            self._remove(heapq.heappop(longs)[1])
        while shorts and shorts[0][0] <= high:
            self._remove(heapq.heappop(shorts)[1])

    def _remove(self, cid: int) -> None:
        value, side, tier, bucket, b, _birth = self._cohorts.pop(cid)
        self.swept[side, tier, bucket] += value * self._scale
        if b >= 0:
            self.book[side, tier, bucket, b] -= value

    def _turnover(self, oi: float, high: float, low: float, close: float, volume: float, quote: float) -> float:
        """Share of the book turned over in this bar (:mod:`liqmap.model.turnover`)."""
        k = float(getattr(self.config, "turnover", 0.0))
        ref = self._oi_ref
        if k <= 0 or not (math.isfinite(oi) and math.isfinite(ref) and ref > 0):
            return 0.0
        usd = quote if math.isfinite(quote) else volume * (high + low + close) / 3.0
        if not (math.isfinite(usd) and usd > 0):
            return 0.0
        return min(TAU_MAX, max(0.0, k * usd / ref))

    def _shrink_and_age(self, t: int, oi: float, turnover_keep: float) -> None:
        factor = self._decay * turnover_keep
        ref = self._oi_ref
        if (
            self.config.close_rule == "proportional"
            and math.isfinite(oi) and math.isfinite(ref) and ref > 0 and oi < ref
        ):
            factor *= max(oi / ref, MIN_KEEP)
        self._scale *= factor
        if self._scale < RENORMALISE_BELOW:
            self._renormalise()
        for m, boundary in enumerate(self.boundaries):
            born = t - boundary
            for cid in self._by_birth.get(born, ()):
                cohort = self._cohorts.get(cid)
                if cohort is None:
                    continue
                value, side, tier, _bucket, b, _birth = cohort
                cohort[3] = m + 1
                if b >= 0:
                    self.book[side, tier, m, b] -= value
                    self.book[side, tier, m + 1, b] += value
        self._by_birth.pop(t - self.boundaries[-1], None)

    def _renormalise(self) -> None:
        for cohort in self._cohorts.values():
            cohort[0] *= self._scale
        self.book *= self._scale
        self._scale = 1.0

    def _add(
        self, t: int, added: float, open: float, high: float, low: float, close: float, volume: float,
        taker_buy_volume: float, quote_volume: float, funding: float,
    ) -> None:
        share = self._long_share(open, close, volume, taker_buy_volume, funding)
        entries = entry_prices(
            self.config, *(np.array([x], dtype=np.float64) for x in (open, high, low, close, volume, quote_volume))
        )[0]
        n_entries = len(entries)
        levels = (entries[None, None, :] * self.ratios[:, :, None]).reshape(-1)
        bins = bin_index(levels, self.edges).reshape(2, len(self.config.leverage), n_entries)
        levels = levels.reshape(bins.shape)
        ids = self._by_birth[t]
        for side, side_share in ((0, share), (1, 1.0 - share)):
            heap = self._heaps[side]
            for tier, lw in enumerate(self._weights):
                w = added * side_share * lw / n_entries
                if w <= 0:
                    continue
                value = w / self._scale
                for j in range(n_entries):
                    level, b = float(levels[side, tier, j]), int(bins[side, tier, j])
                    cid = self._next_id
                    self._next_id += 1
                    self._cohorts[cid] = [value, side, tier, 0, b, t]
                    ids.append(cid)
                    heapq.heappush(heap, (-level if side == 0 else level, cid))
                    if b >= 0:
                        self.book[side, tier, 0, b] += value

    def _long_share(self, open: float, close: float, volume: float, buy: float, funding: float) -> float:
        config = self.config
        if config.side == "symmetric":
            return 0.5
        if config.side == "candle":
            return 1.0 if close > open else (0.0 if close < open else 0.5)
        tilt = config.funding_tilt * math.tanh(funding / FUNDING_SCALE) if math.isfinite(funding) else 0.0
        if config.side == "funding":
            return min(1.0, max(0.0, 0.5 + tilt))
        share = buy / volume if volume > 0 and math.isfinite(buy) and math.isfinite(volume) else 0.5
        share = min(1.0, max(0.0, share))
        return min(1.0, max(0.0, (1 - config.taker_weight) * 0.5 + config.taker_weight * share + tilt))
