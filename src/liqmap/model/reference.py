"""Straightforward per-position implementation of the model, in plain Python (the test oracle).

It follows docs/model.md literally, one bar at a time, one position at a time, and shares nothing with
the vectorised engine except the liquidation-level ratios (tested separately against worked examples).
It is slow on purpose-free grounds: clarity first. The benchmark uses it as the baseline.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

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


def reference_heatmap(
    frames: Sequence[MarketFrame],
    config: ModelConfig,
    *,
    price_edges: Sequence[float],
    leverage: Sequence[float] | None = None,
    ages: Sequence[str] | None = None,
    brackets: BracketBook | None = None,
) -> Heatmap:
    """One column per bar; same semantics as :func:`liqmap.model.engine.compute_heatmap`."""
    edges = [float(e) for e in price_edges]
    n_bins = len(edges) - 1
    interval = frames[0].interval_ms
    t0 = min(int(f.ts[0]) for f in frames)
    t1 = max(int(f.ts[-1]) for f in frames)
    n_global = (t1 - t0) // interval + 1
    tiers = [i for i, lev in enumerate(config.leverage) if leverage is None or lev in leverage]
    labels = config.age_labels
    age_ok = [ages is None or label in ages for label in labels]
    boundaries = [math.ceil(h * 3_600_000 / interval) for h in config.age_buckets_hours]
    total_w = sum(config.leverage_weights)
    decay = 1.0
    if config.decay_half_life_hours is not None:
        decay = 0.5 ** ((interval / 3_600_000) / config.decay_half_life_hours)

    long_grid = [[0.0] * n_bins for _ in range(n_global)]
    short_grid = [[0.0] * n_bins for _ in range(n_global)]
    swept = [[0.0] * n_global, [0.0] * n_global]
    for frame in frames:
        ratios, _ = level_ratios(config, frame.exchange, frame.symbol, brackets)
        offset = (int(frame.ts[0]) - t0) // interval
        book: list[list[float]] = []  # [level, weight, birth, side(0 long / 1 short), tier]
        oi_ref = math.nan
        snapshot = ([0.0] * n_bins, [0.0] * n_bins)
        for t in range(len(frame)):
            g = offset + t
            low, high = float(frame.low[t]), float(frame.high[t])
            # 1. sweep the book as of the bar's start with this bar's low/high
            survivors = []
            for pos in book:
                level, weight, birth, side, tier = pos
                touched = low <= level if side == 0 else high >= level
                if touched:
                    bucket = bisect.bisect_right(boundaries, t - 1 - int(birth))
                    if int(tier) in tiers and age_ok[bucket]:
                        swept[int(side)][g] += weight
                else:
                    survivors.append(pos)
            book = survivors
            if age_ok[-1] and config.diffuse_share > 0 and math.isfinite(oi_ref):
                # the diffuse layer (liqmap.model.diffuse): levels spread evenly within the band around open
                o = float(frame.open[t])
                band = config.diffuse_band * o
                share = sum(config.leverage_weights[i] / total_w for i in tiers)
                half = config.diffuse_share * oi_ref * 0.5 * share
                swept[0][g] += half * min(1.0, (o - low) / band)
                swept[1][g] += half * min(1.0, (high - o) / band)
            if age_ok[0]:  # positions opened and liquidated inside this bar are age 0
                long_same, short_same = _same_bar(config, frame, t, ratios, tiers)
                swept[0][g] += long_same
                swept[1][g] += short_same
            # 2. OI decrease (proportional) and age decay
            oi = float(frame.oi_usd[t])
            factor = decay
            added = 0.0
            if math.isfinite(oi) and math.isfinite(oi_ref):
                if oi < oi_ref and oi_ref > 0 and config.close_rule == "proportional":
                    factor *= max(oi / oi_ref, 1e-300)
                added = max(oi - oi_ref, 0.0)
            tau = _turnover(config, frame, t, oi_ref)
            factor *= 1.0 - tau
            added += tau * (oi if math.isfinite(oi) else 0.0)
            if math.isfinite(oi):
                oi_ref = oi
            for pos in book:
                pos[1] *= factor
            # 3. new positions
            if added > 0:
                share = _long_share(config, frame, t)
                entries = _entries(config, frame, t)
                for side, side_share in ((0, share), (1, 1.0 - share)):
                    for tier, lw in enumerate(config.leverage_weights):
                        w = added * side_share * (lw / total_w) / len(entries)
                        if w <= 0:
                            continue
                        for entry in entries:
                            book.append([entry * float(ratios[side, tier]), w, t, side, tier])
            # 4. the column: the book at the end of bar t, binned
            longs, shorts = [0.0] * n_bins, [0.0] * n_bins
            for level, weight, birth, side, tier in book:
                bucket = bisect.bisect_right(boundaries, t - int(birth))
                if int(tier) not in tiers or not age_ok[bucket]:
                    continue
                b = bisect.bisect_right(edges, level) - 1
                if 0 <= b < n_bins:
                    (longs if side == 0 else shorts)[b] += weight
            snapshot = (longs, shorts)
            for b in range(n_bins):
                long_grid[g][b] += longs[b]
                short_grid[g][b] += shorts[b]
        for g in range(offset + len(frame), n_global):  # a frame that ended early holds its last state
            for b in range(n_bins):
                long_grid[g][b] += snapshot[0][b]
                short_grid[g][b] += snapshot[1][b]

    ts = t0 + interval * np.arange(n_global, dtype=np.int64)
    close = np.full(n_global, np.nan)
    for frame in reversed(frames):
        offset = (int(frame.ts[0]) - t0) // interval
        close[offset : offset + len(frame)] = frame.close
    return Heatmap(
        symbol=frames[0].symbol,
        exchanges=tuple(f.exchange for f in frames),
        times=ts,
        price_edges=np.asarray(edges),
        long=np.asarray(long_grid),
        short=np.asarray(short_grid),
        swept_long=np.asarray(swept[0]),
        swept_short=np.asarray(swept[1]),
        candles={"ts": ts, "close": close},
        interval_ms=interval,
        leverage=tuple(config.leverage[i] for i in tiers),
        ages=tuple(label for label, ok in zip(labels, age_ok, strict=True) if ok),
    )
