"""Streaming model: one bar at a time for live use, identical in results to the batch engine.

State: a dense view ``[side, bin]`` of the *unscaled* USD of the selected tiers and age buckets, and the
cohorts of each (bar, side) as one **group**: its levels sorted in the order price reaches them (longs
highest first, shorts lowest first), with a cursor. A heap per side holds each group keyed by its next
level, so a bar's sweep pops exactly the groups it touches and advances their cursors (two heap entries
per bar instead of one per cohort). The close rule, decay and turnover multiply every position alike,
so they only change one scalar ``scale`` (real USD = stored value * scale); stored values are
renormalised when ``scale`` falls below 1e-150 (rare).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liqmap.errors import BadSeriesError
from liqmap.model.book import age_boundaries_bars
from liqmap.model.brackets import BracketBook
from liqmap.model.config import ModelConfig
from liqmap.model.diffuse import diffuse_swept
from liqmap.model.engine import RESIDUE, select_ages, select_tiers
from liqmap.model.frame import MarketFrame
from liqmap.model.grid import check_edges
from liqmap.model.inputs import (
    FUNDING_SCALE,
    MIN_KEEP,
    SPREAD_RULES,
    bar_points,
    decay_log_factor,
    entry_prices,
    level_ratios,
)
from liqmap.model.intrabar import VOLUME_LOOKBACK, intrabar_swept
from liqmap.model.result import LiquidationMap
from liqmap.model.turnover import TAU_MAX
from liqmap.model.warmup import alive_cohorts
from liqmap.types import MINUTE_MS

RENORMALISE_BELOW = 1e-150
SMALL = 32
"""Up to this many view updates are applied in a Python loop rather than one ``np.add.at`` call."""


class _Group:
    """The cohorts one bar opened on one side, in the order price reaches them; ``cursor`` = first alive."""

    __slots__ = ("bins", "cursor", "in_view", "keys", "side", "values")

    # Tuples, not lists: tuples of numbers drop out of the cyclic garbage collector's sight, which keeps
    # its full passes over a book of ~10^5 groups short (they showed as 40-50 ms update spikes with lists).
    def __init__(
        self, side: int, keys: tuple[float, ...], bins: tuple[int, ...], values: tuple[float, ...], in_view: bool
    ) -> None:
        self.side = side
        self.keys = keys
        self.bins = bins
        self.values = values
        self.in_view = in_view
        self.cursor = 0


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
        n_bins = len(self.edges) - 1
        n_buckets = len(self.boundaries) + 1
        # Only the selected tiers are modelled; for ages a flag says whether a cohort is in the view now.
        self._age_sel = [m in self.ages for m in range(n_buckets)]
        self._age_switches = [m for m in range(n_buckets - 1) if self._age_sel[m] != self._age_sel[m + 1]]
        self.view = np.zeros((2, n_bins))
        """Unscaled USD per side and bin of the selected tiers and age buckets (real USD = view * scale)."""
        self._swept = [0.0, 0.0]
        self._weights = np.asarray(config.normalised_weights)[self.tiers]
        self._tier_share = float(self._weights.sum())
        self._weight_list = self._weights.tolist()
        self._ratio_lists = self.ratios[:, self.tiers].tolist()
        self._edge_list = self.edges.tolist()
        self._ratios = self.ratios[:, self.tiers]
        self._decay = math.exp(decay_log_factor(config, interval_ms))
        self._scale = 1.0
        self._heaps: tuple[list[tuple[float, int]], list[tuple[float, int]]] = ([], [])
        self._groups: dict[int, _Group] = {}
        self._by_birth: dict[int, list[int]] = defaultdict(list)
        self._next_id = 0
        self._t = -1
        self._last_ts: int | None = None
        self._oi_ref = math.nan
        self._volumes: deque[tuple[float, float]] = deque(maxlen=VOLUME_LOOKBACK)
        """(USD volume, 1 if known) of the last bars: the same-bar term's expected volume."""
        self._ranges: deque[float] = deque(maxlen=VOLUME_LOOKBACK)
        """Relative ranges (high - low) / open of the last bars: the same-bar term's range ratio."""

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
        self._add_same_bar(open, high, low)
        self._add_diffuse(open, high, low, self._oi_ref)
        self._remember_volume(open, high, low, close, volume, quote_volume)
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

    @classmethod
    def from_history(
        cls,
        config: ModelConfig,
        frame: MarketFrame,
        price_edges: np.ndarray | Sequence[float],
        brackets: BracketBook | None = None,
        *,
        leverage: Sequence[float] | None = None,
        ages: Sequence[str | int] | None = None,
    ) -> StreamingModel:
        """The model in the state ``replay(frame)`` leaves it in, computed vectorised (fast warm start)."""
        model = cls(
            config, frame.exchange, frame.symbol, price_edges, brackets,
            interval_ms=frame.interval_ms, leverage=leverage, ages=ages,
        )
        if len(frame):
            model._load_history(frame)
        return model

    def _load_history(self, frame: MarketFrame) -> None:
        last = len(frame) - 1
        boundaries = np.asarray(self.boundaries, dtype=np.int64)
        selected = np.asarray(self._age_sel)
        sides = alive_cohorts(self.config, frame, self._ratios, self._weights, self.edges, boundaries, selected)
        horizon = self.boundaries[self._age_switches[-1]] if self._age_switches else None
        for side, alive in enumerate(sides):
            self._swept[side] = alive.swept_last
            if not len(alive.birth):
                continue
            in_view = selected[np.searchsorted(boundaries, last - alive.birth, side="right")]
            shown = in_view & (alive.bin >= 0)
            np.add.at(self.view[side], alive.bin[shown], alive.value[shown])
            starts = np.flatnonzero(np.r_[True, alive.birth[1:] != alive.birth[:-1]])
            stops = np.r_[starts[1:], len(alive.birth)]
            keys, bins, values = alive.key.tolist(), alive.bin.tolist(), alive.value.tolist()
            heap = self._heaps[side]
            for i, j in zip(starts.tolist(), stops.tolist(), strict=True):
                birth = int(alive.birth[i])
                gid = self._next_id
                self._next_id += 1
                self._groups[gid] = _Group(
                    side, tuple(keys[i:j]), tuple(bins[i:j]), tuple(values[i:j]), bool(in_view[i])
                )
                heap.append((keys[i], gid))
                if horizon is not None and birth > last - horizon:
                    self._by_birth[birth].append(gid)
            heapq.heapify(heap)
        finite = np.flatnonzero(np.isfinite(frame.oi_usd))
        self._oi_ref = float(frame.oi_usd[finite[-1]]) if len(finite) else math.nan
        prior = np.flatnonzero(np.isfinite(frame.oi_usd[:last]))
        if self._age_sel[0] and len(prior):
            # the same-bar term of the last bar: its volume window and the last finite OI before it
            first = min(max(0, last - VOLUME_LOOKBACK), int(prior[-1]))
            same_bar = intrabar_swept(self.config, frame.slice(first, last + 1), self.ratios, self.tiers)
            self._swept = [self._swept[0] + float(same_bar[0][-1]), self._swept[1] + float(same_bar[1][-1])]
        if self._age_sel[-1] and len(prior):
            # the diffuse layer of the last bar; its OI is the last finite OI before that bar
            layer = diffuse_swept(self.config, frame.slice(int(prior[-1]), last + 1), self._tier_share)
            self._swept = [self._swept[0] + float(layer[0][-1]), self._swept[1] + float(layer[1][-1])]
        for i in range(max(0, last + 1 - VOLUME_LOOKBACK), last + 1):
            self._remember_volume(
                float(frame.open[i]), float(frame.high[i]), float(frame.low[i]), float(frame.close[i]), float(frame.volume[i]),
                float(frame.quote_volume[i]),
            )
        self._t = last
        self._last_ts = int(frame.ts[-1])

    @property
    def live_cohorts(self) -> int:
        """Positions (bar, side, tier, entry point) still in the book."""
        return sum(len(g.keys) - g.cursor for g in self._groups.values())

    def column(self, close: float = math.nan) -> LiveColumn:
        """The current state: the book at the end of the last bar and that bar's swept USD."""
        book = self.view * self._scale
        np.maximum(book, 0.0, out=book)
        book[book <= RESIDUE * book.max(initial=0.0)] = 0.0  # rounding residue of emptied bins (engine.RESIDUE)
        return LiveColumn(
            ts=self._last_ts if self._last_ts is not None else 0, close=float(close), price_edges=self.edges,
            long=book[0], short=book[1], swept_long=self._swept[0], swept_short=self._swept[1],
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
        self._swept = [0.0, 0.0]
        for side, heap in enumerate(self._heaps):
            if not heap:
                continue
            # keys: -level for longs (touched when level >= low), level for shorts (touched when level <= high)
            limit = -low if side == 0 else high
            groups = self._groups
            removed_bins: list[int] = []
            removed_values: list[float] = []
            swept = 0.0
            while heap and heap[0][0] <= limit:
                gid = heapq.heappop(heap)[1]
                group = groups[gid]
                keys, i = group.keys, group.cursor
                n = len(keys)
                stop = i
                while stop < n and keys[stop] <= limit:
                    stop += 1
                if group.in_view:
                    values = group.values[i:stop]
                    swept += sum(values)
                    removed_bins += group.bins[i:stop]
                    removed_values += values
                group.cursor = stop
                if stop < n:
                    heapq.heappush(heap, (keys[stop], gid))
                else:
                    del groups[gid]
            self._swept[side] = swept * self._scale
            if removed_bins:
                self._add_to_view(side, removed_bins, removed_values, -1.0)

    def _add_same_bar(self, open: float, high: float, low: float) -> None:
        """Add the expected same-bar liquidations of this bar's new positions (:mod:`liqmap.model.intrabar`)."""
        p = float(self.config.intrabar_path)
        k = float(self.config.turnover)
        if p <= 0.0 or k <= 0.0 or not self._age_sel[0] or not self._volumes:
            return
        oi_start = self._oi_ref  # the last known OI before this bar
        total = sum(v for v, _ in self._volumes)
        count = sum(c for _, c in self._volumes)
        if count <= 0 or not math.isfinite(oi_start) or oi_start <= 0:
            return  # (OI 0 at the start: nothing can turn over)
        expected = total / count
        gamma = float(self.config.intrabar_range_exponent)
        if gamma > 0.0:
            mean_range = sum(self._ranges) / len(self._ranges)
            if mean_range > 0:
                expected *= ((high - low) / open / mean_range) ** gamma
        tau = min(TAU_MAX, max(0.0, k * expected / oi_start))
        width = high - low
        if width <= 0 or not math.isfinite(tau):
            return
        new = tau * oi_start
        long_share = short_share = 0.0
        weights = self.config.normalised_weights
        for j in self.tiers:
            long_share += weights[j] * min(1.0, max(0.0, (high - low / self.ratios[0, j]) / width))
            short_share += weights[j] * min(1.0, max(0.0, (high / self.ratios[1, j] - low) / width))
        self._swept[0] += p * new * 0.5 * long_share
        self._swept[1] += p * new * 0.5 * short_share

    def _add_diffuse(self, open: float, high: float, low: float, oi_ref: float) -> None:
        """Add the diffuse layer's liquidations of this bar (:mod:`liqmap.model.diffuse`; oldest age bucket)."""
        phi = float(self.config.diffuse_share)
        if phi <= 0.0 or not self._age_sel[-1] or not math.isfinite(oi_ref):
            return
        band = self.config.diffuse_band * open
        half = phi * oi_ref * 0.5 * self._tier_share
        self._swept[0] += half * min(1.0, (open - low) / band)
        self._swept[1] += half * min(1.0, (high - open) / band)

    def _remember_volume(
        self, open: float, high: float, low: float, close: float, volume: float, quote: float
    ) -> None:
        self._ranges.append((high - low) / open)
        usd = quote if math.isfinite(quote) else volume * ((high + low + close) / 3.0)
        known = 1.0 if (math.isfinite(quote) or math.isfinite(volume)) else 0.0
        self._volumes.append((usd if math.isfinite(usd) else 0.0, known))

    def _add_to_view(
        self, side: int, bins: list[int] | tuple[int, ...], values: list[float] | tuple[float, ...], sign: float
    ) -> None:
        if len(bins) <= SMALL:  # the same sequential sums as np.add.at, without its per-call cost
            row = self.view[side]
            for b, v in zip(bins, values, strict=True):
                if b >= 0:
                    row[b] += sign * v
            return
        index = np.asarray(bins)
        ok = index >= 0
        np.add.at(self.view[side], index[ok], sign * np.asarray(values)[ok])

    def _turnover(self, oi: float, high: float, low: float, close: float, volume: float, quote: float) -> float:
        """Share of the book turned over in this bar (:mod:`liqmap.model.turnover`)."""
        k = float(self.config.turnover)
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
        self._move_ages(t)

    def _move_ages(self, t: int) -> None:
        """Groups born ``boundary_m`` bars ago enter bucket m + 1; only switches in/out of the view matter."""
        if not self._age_switches:
            return
        for m in self._age_switches:
            target = self._age_sel[m + 1]
            for gid in self._by_birth.get(t - self.boundaries[m], ()):
                group = self._groups.get(gid)
                if group is None or group.in_view == target:
                    continue
                group.in_view = target
                i = group.cursor
                self._add_to_view(group.side, group.bins[i:], group.values[i:], 1.0 if target else -1.0)
        self._by_birth.pop(t - self.boundaries[self._age_switches[-1]], None)

    def _renormalise(self) -> None:
        scale = self._scale
        for group in self._groups.values():
            group.values = tuple(v * scale for v in group.values)
        self.view *= scale
        self._scale = 1.0

    def _add(
        self, t: int, added: float, open: float, high: float, low: float, close: float, volume: float,
        taker_buy_volume: float, quote_volume: float, funding: float,
    ) -> None:
        # Plain Python on a handful of numbers (numpy's per-call cost dominates at this size); the same
        # arithmetic, in the same order, as the batch engine's arrays.
        share = self._long_share(open, close, volume, taker_buy_volume, funding)
        entries = self._entries(open, high, low, close, volume, quote_volume)
        base = added / len(entries) / self._scale
        in_view = self._age_sel[0]
        ids = self._by_birth[t] if self._age_switches else None
        edges, n_bins = self._edge_list, len(self._edge_list) - 1
        for side, side_share in ((0, share), (1, 1.0 - share)):
            items = []
            for ratio, weight in zip(self._ratio_lists[side], self._weight_list, strict=True):
                value = base * side_share * weight
                for entry in entries:
                    level = entry * ratio
                    b = bisect.bisect_right(edges, level) - 1
                    items.append((-level if side == 0 else level, b if 0 <= b < n_bins else -1, value))
            items.sort(key=lambda item: item[0])  # stable, as the batch engine's argsort
            group = _Group(
                side, tuple(i[0] for i in items), tuple(i[1] for i in items), tuple(i[2] for i in items), in_view
            )
            if in_view:
                self._add_to_view(side, group.bins, group.values, 1.0)
            gid = self._next_id
            self._next_id += 1
            self._groups[gid] = group
            heapq.heappush(self._heaps[side], (group.keys[0], gid))
            if ids is not None:
                ids.append(gid)

    def _entries(
        self, open: float, high: float, low: float, close: float, volume: float, quote_volume: float
    ) -> list[float]:
        """Entry prices of one bar: :func:`liqmap.model.inputs.range_entries` / ``triangular_entries`` written
        for one bar (same operations in the same order), or ``entry_prices`` for single-price rules."""
        config = self.config
        if config.entry not in SPREAD_RULES:
            single: list[float] = entry_prices(
                config, *(np.array([x], dtype=np.float64) for x in (open, high, low, close, volume, quote_volume))
            )[0].tolist()
            return single
        j = bar_points(config, high, low)
        if config.entry == "range":
            if j == 1:
                return [(high + low) / 2.0]
            return [low + (high - low) * (k / (j - 1)) for k in range(j)]
        width = high - low
        mode = min(max(close, low), high)
        mode_at = (mode - low) / width if width > 0 else 0.0
        out = []
        for k in range(j):
            u = (k + 0.5) / j
            if u < mode_at:
                out.append(low + math.sqrt(u * (width * (mode - low))))
            else:
                out.append(high - math.sqrt((1.0 - u) * (width * (high - mode))))
        return out

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
