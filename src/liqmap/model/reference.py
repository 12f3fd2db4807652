"""Straightforward per-position implementation of the model, in plain Python (the test oracle).

It follows docs/model.md literally, one bar at a time, one position at a time, and shares nothing with
the vectorised engine except the liquidation-level ratios (tested separately against worked examples).
It is slow on purpose-free grounds: clarity first. The benchmark uses it as the baseline.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liqmap.model.brackets import BracketBook
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.inputs import level_ratios
from liqmap.model.result import Heatmap
from liqmap.model.turnover import TAU_MAX


def _long_share(config: ModelConfig, frame: MarketFrame, t: int) -> float:
    o, c = float(frame.open[t]), float(frame.close[t])
    if config.side == "symmetric":
        return 0.5
    if config.side == "candle":
        return 1.0 if c > o else (0.0 if c < o else 0.5)
    funding = float(frame.funding[t])
    tilt = config.funding_tilt * math.tanh(funding / 1e-4) if math.isfinite(funding) else 0.0
    if config.side == "funding":
        return min(1.0, max(0.0, 0.5 + tilt))
    vol, buy = float(frame.volume[t]), float(frame.taker_buy_volume[t])
    share = buy / vol if vol > 0 and math.isfinite(buy) and math.isfinite(vol) else 0.5
    share = min(1.0, max(0.0, share))
    return min(1.0, max(0.0, (1 - config.taker_weight) * 0.5 + config.taker_weight * share + tilt))


def _turnover(config: ModelConfig, frame: MarketFrame, t: int, oi_ref: float) -> float:
    """Share of the book turned over in bar t (liqmap.model.turnover): min(0.9, k * USD volume / OI_ref)."""
    k = float(config.turnover)
    oi = float(frame.oi_usd[t])
    if k <= 0 or not (math.isfinite(oi) and math.isfinite(oi_ref) and oi_ref > 0):
        return 0.0
    quote = float(frame.quote_volume[t])
    typical = (float(frame.high[t]) + float(frame.low[t]) + float(frame.close[t])) / 3
    usd = quote if math.isfinite(quote) else float(frame.volume[t]) * typical
    if not (math.isfinite(usd) and usd > 0):
        return 0.0
    return min(TAU_MAX, max(0.0, k * usd / oi_ref))


def _entries(config: ModelConfig, frame: MarketFrame, t: int) -> list[float]:
    o, h, lo, c = (float(x[t]) for x in (frame.open, frame.high, frame.low, frame.close))
    typical = (h + lo + c) / 3
    if config.entry == "close":
        return [c]
    if config.entry == "typical":
        return [typical]
    if config.entry == "ohlc4":
        return [(o + h + lo + c) / 4]
    if config.entry == "vwap":
        vol, quote = float(frame.volume[t]), float(frame.quote_volume[t])
        if vol > 0 and math.isfinite(quote) and lo <= quote / vol <= h:
            return [quote / vol]
        return [typical]
    j = config.entry_points
    spacing = config.entry_spacing
    if j > 1 and spacing > 0:  # points at least `spacing` x mid apart: 1 + floor(range / (spacing x mid)), <= j
        j = min(j, 1 + math.floor((h - lo) / (spacing * (h + lo) / 2)))
    if config.entry == "triangular":  # quantiles (k + 0.5) / j of the triangular law on [lo, h], mode at c
        mode = min(max(c, lo), h)
        width = h - lo
        mode_at = (mode - lo) / width if width > 0 else 0.0
        points = []
        for k in range(j):
            u = (k + 0.5) / j
            if u < mode_at:
                points.append(lo + math.sqrt(u * (width * (mode - lo))))
            else:
                points.append(h - math.sqrt((1.0 - u) * (width * (h - mode))))
        return points
    if j == 1:
        return [(h + lo) / 2]
    return [lo + (h - lo) * (k / (j - 1)) for k in range(j)]


def _same_bar(
    config: ModelConfig, frame: MarketFrame, t: int, ratios: np.ndarray, tiers: list[int]
) -> tuple[float, float]:
    """Expected USD opened and liquidated inside bar t (liqmap.model.intrabar), written out per bar."""
    p, k = config.intrabar_path, config.turnover
    if p <= 0 or k <= 0 or t == 0:
        return 0.0, 0.0
    known = [u for u in range(t) if math.isfinite(float(frame.oi_usd[u]))]
    oi_start = float(frame.oi_usd[known[-1]]) if known else math.nan  # the last known OI before t
    total, count = 0.0, 0
    for u in range(max(0, t - 24), t):  # mean USD volume of the 24 bars before t
        quote, vol = float(frame.quote_volume[u]), float(frame.volume[u])
        usd = quote if math.isfinite(quote) else vol * (float(frame.high[u]) + float(frame.low[u]) +
                                                         float(frame.close[u])) / 3
        total += usd if math.isfinite(usd) else 0.0
        count += 1 if (math.isfinite(quote) or math.isfinite(vol)) else 0
    if count == 0 or not math.isfinite(oi_start) or oi_start <= 0:
        return 0.0, 0.0
    high, low = float(frame.high[t]), float(frame.low[t])
    expected = total / count
    gamma = config.intrabar_range_exponent
    if gamma > 0:  # the volume-volatility rule: expected volume times (range / mean range of the same bars)^gamma
        ranges = [(float(frame.high[u]) - float(frame.low[u])) / float(frame.open[u]) for u in range(max(0, t - 24), t)]
        mean_range = sum(ranges) / len(ranges)
        if mean_range > 0:
            expected *= ((high - low) / float(frame.open[t]) / mean_range) ** gamma
    new = min(TAU_MAX, max(0.0, k * expected / oi_start)) * oi_start
    if high <= low:
        return 0.0, 0.0
    total_w = sum(config.leverage_weights)
    long_p = sum(config.leverage_weights[i] / total_w * min(1.0, max(0.0, (high - low / ratios[0, i]) / (high - low)))
                 for i in tiers)
    short_p = sum(config.leverage_weights[i] / total_w * min(1.0, max(0.0, (high / ratios[1, i] - low) / (high - low)))
                  for i in tiers)
    return p * new * 0.5 * long_p, p * new * 0.5 * short_p


@dataclass(frozen=True)
class _View:
    """What a reference run selects and bins: the grid, the tiers and age buckets kept, the decay."""

    edges: list[float]
    tiers: list[int]
    age_ok: list[bool]
    boundaries: list[int]  # age bucket boundaries in bars
    total_w: float  # sum of the leverage weights
    decay: float  # per-bar age decay factor 0.5 ** (interval_h / half_life_h), 1 without decay

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1

    def counts(self, tier: float, age_bars: int) -> bool:
        """Whether a position of this tier and age (in bars) is in the view."""
        return int(tier) in self.tiers and self.age_ok[bisect.bisect_right(self.boundaries, age_bars)]


def _view(config: ModelConfig, interval: int, price_edges: Sequence[float], leverage: Sequence[float] | None,
          ages: Sequence[str] | None) -> _View:
    decay = 1.0
    if config.decay_half_life_hours is not None:
        decay = 0.5 ** ((interval / 3_600_000) / config.decay_half_life_hours)
    return _View(
        edges=[float(e) for e in price_edges],
        tiers=[i for i, lev in enumerate(config.leverage) if leverage is None or lev in leverage],
        age_ok=[ages is None or label in ages for label in config.age_labels],
        boundaries=[math.ceil(h * 3_600_000 / interval) for h in config.age_buckets_hours],
        total_w=sum(config.leverage_weights),
        decay=decay,
    )


def _sweep(book: list[list[float]], t: int, low: float, high: float, view: _View, swept: list[list[float]],
           g: int) -> list[list[float]]:
    """Step 1: the book as of bar t's start swept by its low/high; the swept USD of the positions in the view
    is added to ``swept[side][g]`` (a position born at ``b`` is ``t - 1 - b`` bars old then). Returns the
    survivors."""
    survivors = []
    for pos in book:
        level, weight, birth, side, tier = pos
        if low <= level if side == 0 else high >= level:
            if view.counts(tier, t - 1 - int(birth)):
                swept[int(side)][g] += weight
        else:
            survivors.append(pos)
    return survivors


def _diffuse(config: ModelConfig, frame: MarketFrame, t: int, oi_ref: float, view: _View) -> tuple[float, float]:
    """The diffuse layer (liqmap.model.diffuse): levels spread evenly within the band ``diffuse_band * open``
    around the open, ``half = diffuse_share * OI_ref / 2 * tier share`` per side, swept in proportion
    ``min(1, (open - low) / band)`` (longs) and ``min(1, (high - open) / band)`` (shorts)."""
    if not (view.age_ok[-1] and config.diffuse_share > 0 and math.isfinite(oi_ref)):
        return 0.0, 0.0
    o, low, high = float(frame.open[t]), float(frame.low[t]), float(frame.high[t])
    band = config.diffuse_band * o
    share = sum(config.leverage_weights[i] / view.total_w for i in view.tiers)
    half = config.diffuse_share * oi_ref * 0.5 * share
    return half * min(1.0, (o - low) / band), half * min(1.0, (high - o) / band)


def _shrink(config: ModelConfig, frame: MarketFrame, t: int, oi_ref: float, book: list[list[float]],
            view: _View) -> float:
    """Step 2: every weight times ``decay * (OI_t / OI_ref if OI fell and close_rule is proportional) * (1 - tau)``;
    returns the USD that opens in bar t, ``max(OI_t - OI_ref, 0) + tau * OI_t``."""
    oi = float(frame.oi_usd[t])
    factor = view.decay
    added = 0.0
    if math.isfinite(oi) and math.isfinite(oi_ref):
        if oi < oi_ref and oi_ref > 0 and config.close_rule == "proportional":
            factor *= max(oi / oi_ref, 1e-300)
        added = max(oi - oi_ref, 0.0)
    tau = _turnover(config, frame, t, oi_ref)
    factor *= 1.0 - tau
    added += tau * (oi if math.isfinite(oi) else 0.0)
    for pos in book:
        pos[1] *= factor
    return added


def _open(config: ModelConfig, frame: MarketFrame, t: int, added: float, ratios: np.ndarray,
          book: list[list[float]], view: _View) -> None:
    """Step 3: ``added`` USD split by side share, tier weight and entry point; level = entry x ratio."""
    if added <= 0:
        return
    share = _long_share(config, frame, t)
    entries = _entries(config, frame, t)
    for side, side_share in ((0, share), (1, 1.0 - share)):
        for tier, lw in enumerate(config.leverage_weights):
            w = added * side_share * (lw / view.total_w) / len(entries)
            if w <= 0:
                continue
            for entry in entries:
                book.append([entry * float(ratios[side, tier]), w, t, side, tier])


def _column(book: list[list[float]], t: int, view: _View) -> tuple[list[float], list[float]]:
    """Step 4: the book at the end of bar t, binned (bin b holds levels in [edge_b, edge_b+1))."""
    longs, shorts = [0.0] * view.n_bins, [0.0] * view.n_bins
    for level, weight, birth, side, tier in book:
        if not view.counts(tier, t - int(birth)):
            continue
        b = bisect.bisect_right(view.edges, level) - 1
        if 0 <= b < view.n_bins:
            (longs if side == 0 else shorts)[b] += weight
    return longs, shorts


def _run_frame(config: ModelConfig, frame: MarketFrame, offset: int, view: _View, brackets: BracketBook | None,
               grids: tuple[list[list[float]], list[list[float]]], swept: list[list[float]]) -> None:
    """One frame bar by bar, adding its columns into ``grids`` and its swept USD into ``swept`` from
    global column ``offset`` on; after its last bar it holds its last state."""
    ratios, _ = level_ratios(config, frame.exchange, frame.symbol, brackets)
    book: list[list[float]] = []  # [level, weight, birth, side(0 long / 1 short), tier]
    oi_ref = math.nan
    snapshot = ([0.0] * view.n_bins, [0.0] * view.n_bins)
    for t in range(len(frame)):
        g = offset + t
        book = _sweep(book, t, float(frame.low[t]), float(frame.high[t]), view, swept, g)
        diffuse_long, diffuse_short = _diffuse(config, frame, t, oi_ref, view)
        swept[0][g] += diffuse_long
        swept[1][g] += diffuse_short
        if view.age_ok[0]:  # positions opened and liquidated inside this bar are age 0
            long_same, short_same = _same_bar(config, frame, t, ratios, view.tiers)
            swept[0][g] += long_same
            swept[1][g] += short_same
        added = _shrink(config, frame, t, oi_ref, book, view)
        if math.isfinite(float(frame.oi_usd[t])):
            oi_ref = float(frame.oi_usd[t])
        _open(config, frame, t, added, ratios, book, view)
        snapshot = _column(book, t, view)
        _add_column(grids, g, snapshot)
    for g in range(offset + len(frame), len(grids[0])):  # a frame that ended early holds its last state
        _add_column(grids, g, snapshot)


def _add_column(grids: tuple[list[list[float]], list[list[float]]], g: int,
                column: tuple[list[float], list[float]]) -> None:
    for b in range(len(column[0])):
        grids[0][g][b] += column[0][b]
        grids[1][g][b] += column[1][b]


def reference_heatmap(
    frames: Sequence[MarketFrame],
    config: ModelConfig,
    *,
    price_edges: Sequence[float],
    leverage: Sequence[float] | None = None,
    ages: Sequence[str] | None = None,
    brackets: BracketBook | None = None,
) -> Heatmap:
    """One column per bar; same semantics as :func:`liqmap.model.engine.compute_heatmap`.

    Per frame and bar t: (1) sweep the book with the bar's low/high, plus the diffuse layer and the
    same-bar term; (2) shrink every weight (OI decrease, turnover, age decay); (3) open the new USD;
    (4) bin the book as the column of bar t. Exchanges are summed.
    """
    interval = frames[0].interval_ms
    t0 = min(int(f.ts[0]) for f in frames)
    t1 = max(int(f.ts[-1]) for f in frames)
    n_global = (t1 - t0) // interval + 1
    view = _view(config, interval, price_edges, leverage, ages)
    grids = ([[0.0] * view.n_bins for _ in range(n_global)], [[0.0] * view.n_bins for _ in range(n_global)])
    swept = [[0.0] * n_global, [0.0] * n_global]
    for frame in frames:
        _run_frame(config, frame, (int(frame.ts[0]) - t0) // interval, view, brackets, grids, swept)

    ts = t0 + interval * np.arange(n_global, dtype=np.int64)
    close = np.full(n_global, np.nan)
    for frame in reversed(frames):
        offset = (int(frame.ts[0]) - t0) // interval
        close[offset : offset + len(frame)] = frame.close
    return Heatmap(
        symbol=frames[0].symbol,
        exchanges=tuple(f.exchange for f in frames),
        times=ts,
        price_edges=np.asarray(view.edges),
        long=np.asarray(grids[0]),
        short=np.asarray(grids[1]),
        swept_long=np.asarray(swept[0]),
        swept_short=np.asarray(swept[1]),
        candles={"ts": ts, "close": close},
        interval_ms=interval,
        leverage=tuple(config.leverage[i] for i in view.tiers),
        ages=tuple(label for label, ok in zip(config.age_labels, view.age_ok, strict=True) if ok),
    )
