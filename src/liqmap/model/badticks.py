"""Bad ticks: a kline whose wick is implausible is flagged and clipped before the model sees it (pure).

A single wrong print (a ×10 high, a zero-ish low) would otherwise sweep every level between price and the
wick and stretch the price axis. The test is **causal** (only the bar itself and the bars before it), so
cleaning never leaks the future into an evaluation:

* wick up   ``w_up   = ln(high / max(open, close))``
* wick down ``w_down = ln(min(open, close) / low)``
* trailing scale ``s_t = median(ln(high_j / low_j))`` over the ``WINDOW`` bars before ``t`` (bars with a
  positive range; the bar itself excluded)

A wick is implausible when ``w > max(MIN_LOG_WICK, K * s_t)``: beyond 25 % of price *and* beyond 25 times
the typical bar range of the recent past (a median-based robust scale: Rousseeuw & Croux 1993 discuss
median-type scales; the constants are ours). Both conditions must hold, so a real crash bar (BTC's worst
hourly wicks are a few % to ~15 %) is never flagged on any bar length, while a ×10 or ÷10 print always is.
A flagged wick is clipped to the bar's body (``max(open, close)`` / ``min(open, close)``): the model uses
that clipped high / low, and the flag records the raw value.

**Across venues** (:func:`cross_venue_clip`, when a view sums three or more venues): a wick that lies more
than ``CROSS_VENUE_LOG`` (10 %) beyond the most extreme wick of *every* other venue in the same bar, and
more than that beyond its own body, is clipped to the others' extreme (or its body, whichever is further).
Smaller divergences are left alone: venues do differ during cascades, and those liquidations happened.

Not covered: a bad open or close (the next bar opens there too, so it is not a wick).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from liqmap.model.frame import MarketFrame

WINDOW = 48
"""Bars in the trailing scale."""
K = 25.0
MIN_LOG_WICK = float(np.log(1.25))
CROSS_VENUE_LOG = float(np.log(1.10))
"""How far beyond every other venue's wick (and its own body) a wick must reach to be clipped."""
_SCREEN = 1.05
"""Ratio of a wick to its body below which :func:`cross_venue_extremes` skips the bar (``ln 1.05`` is half
of ``CROSS_VENUE_LOG``: far below it whatever log's rounding)."""


@dataclass(frozen=True)
class BadTick:
    """One clipped wick: ``field`` is ``high`` or ``low``; ``raw`` the stored value, ``clipped`` the one used."""

    exchange: str
    ts: int
    field: str
    raw: float
    clipped: float

    def to_dict(self) -> dict[str, object]:
        return {"exchange": self.exchange, "ts": self.ts, "field": self.field, "raw": self.raw,
                "clipped": self.clipped}


def changed(exchange: str, ts: np.ndarray, highs: tuple[np.ndarray, np.ndarray],
            lows: tuple[np.ndarray, np.ndarray]) -> list[BadTick]:
    """One :class:`BadTick` per high or low that differs between ``(raw, clipped)`` (NaN in both: unchanged),
    in bar order, high first."""
    moved = [(raw != new) & ~(np.isnan(raw) & np.isnan(new)) for raw, new in (highs, lows)]
    ticks = []
    for i in np.flatnonzero(moved[0] | moved[1]):
        for name, (raw, new), flags in (("high", highs, moved[0]), ("low", lows, moved[1])):
            if flags[i]:
                ticks.append(BadTick(exchange, int(ts[i]), name, float(raw[i]), float(new[i])))
    return ticks


def by_time(ticks: Iterable[BadTick]) -> list[BadTick]:
    """``ticks`` ordered by time, exchange, field (the order the API lists them in)."""
    return sorted(ticks, key=lambda t: (t.ts, t.exchange, t.field))


def _trailing_median(values: np.ndarray, window: int, at: np.ndarray) -> np.ndarray:
    """``median(values[t-window : t])`` ignoring NaN at the bars ``t`` in ``at`` (NaN when no earlier value).

    Only at the bars asked for: a wick is judged against the scale only when it exceeds ``MIN_LOG_WICK``
    (a handful of bars), so the median of every window is never formed."""
    out = np.full(len(at), np.nan)
    if values.size < 2 or not len(at):
        return out
    padded = np.concatenate((np.full(window, np.nan), values))
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)[at]  # windows[i] = values[t-window:t]
    has = np.isfinite(windows).any(axis=1)
    if has.any():
        out[has] = np.nanmedian(windows[has], axis=1)
    return out


def implausible_wicks(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int = WINDOW,
    k: float = K, min_log_wick: float = MIN_LOG_WICK,
) -> tuple[np.ndarray, np.ndarray]:
    """``(bad_high, bad_low)`` boolean masks (module docstring)."""
    o, h, lo, c = (np.asarray(a, dtype=np.float64) for a in (open_, high, low, close))
    body_hi, body_lo = np.maximum(o, c), np.minimum(o, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_up = np.log(h / body_hi)
        w_down = np.log(body_lo / lo)
        rng = np.log(h / lo)
    rng = np.where(np.isfinite(rng) & (rng > 0), rng, np.nan)
    up, down = np.nan_to_num(w_up, nan=0.0), np.nan_to_num(w_down, nan=0.0)
    # limit >= min_log_wick: only a wick beyond it needs the trailing scale
    candidates = np.flatnonzero((up > min_log_wick) | (down > min_log_wick))
    # The scale must not be inflated by the bad bars themselves: use ranges with the wicks clipped.
    scale = _trailing_median(np.minimum(rng, np.log(body_hi / body_lo) + 2 * min_log_wick), window, candidates)
    limit = np.full(len(up), min_log_wick)
    limit[candidates] = np.maximum(min_log_wick, k * np.nan_to_num(scale, nan=0.0))
    return up > limit, down > limit


def clip_bad_ticks(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(high, low, flagged)``: implausible wicks clipped to the body; ``flagged`` marks bars touched."""
    o, h, lo, c = (np.asarray(a, dtype=np.float64) for a in (open_, high, low, close))
    bad_high, bad_low = implausible_wicks(o, h, lo, c)
    high_out = np.where(bad_high, np.maximum(o, c), h)
    low_out = np.where(bad_low, np.minimum(o, c), lo)
    return high_out, low_out, bad_high | bad_low


def find_bad_ticks(
    exchange: str, ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[BadTick]]:
    """``(high, low, ticks)``: the clipped high / low and one :class:`BadTick` per clipped value."""
    raw_high, raw_low = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    new_high, new_low, _ = clip_bad_ticks(open_, raw_high, raw_low, close)
    return new_high, new_low, changed(exchange, ts, (raw_high, new_high), (raw_low, new_low))


def clean_frame(frame: MarketFrame) -> tuple[MarketFrame, list[BadTick]]:
    """The frame with implausible wicks clipped, and the clipped values."""
    high, low, ticks = find_bad_ticks(frame.exchange, frame.ts, frame.open, frame.high, frame.low, frame.close)
    if not ticks:
        return frame, []
    return replace(frame, high=high, low=low), ticks


def cross_venue_extremes(
    opens: list[np.ndarray], highs: list[np.ndarray], lows: list[np.ndarray], closes: list[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per venue ``(high, low)`` with wicks beyond every other venue's clipped (module docstring); the
    arrays are aligned bars of the same times, one per venue; fewer than three venues: unchanged. A venue
    with nothing clipped gets its own (float64) arrays back, not copies."""
    n = len(highs)
    hi = [np.asarray(h, dtype=np.float64) for h in highs]
    lo = [np.asarray(v, dtype=np.float64) for v in lows]
    if n < 3:
        return hi, lo
    out_hi, out_lo = [], []
    for i in range(n):
        body_hi = np.maximum(opens[i], closes[i])
        body_lo = np.minimum(opens[i], closes[i])
        with np.errstate(divide="ignore", invalid="ignore"):
            up, down = hi[i] / body_hi, body_lo / lo[i]
            # The rule needs log(ratio to its body) > CROSS_VENUE_LOG: only bars well past half of it are
            # compared with the other venues (a few per day); the rest cannot be clipped.
            at = np.flatnonzero((up > _SCREEN) | (down > _SCREEN))
        others = [j for j in range(n) if j != i]
        others_hi = np.max([hi[j][at] for j in others], axis=0)
        others_lo = np.min([lo[j][at] for j in others], axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            bad_hi = (np.log(hi[i][at] / others_hi) > CROSS_VENUE_LOG) & (np.log(up[at]) > CROSS_VENUE_LOG)
            bad_lo = (np.log(others_lo / lo[i][at]) > CROSS_VENUE_LOG) & (np.log(down[at]) > CROSS_VENUE_LOG)
        out_hi.append(_put(hi[i], at[bad_hi], np.maximum(body_hi[at], others_hi)[bad_hi]))
        out_lo.append(_put(lo[i], at[bad_lo], np.minimum(body_lo[at], others_lo)[bad_lo]))
    return out_hi, out_lo


def _put(values: np.ndarray, at: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``values`` with ``new`` at the indices ``at`` (a copy; ``values`` itself when ``at`` is empty)."""
    if not len(at):
        return values
    out = values.copy()
    out[at] = new
    return out


def cross_venue_clip(frames: list[MarketFrame]) -> tuple[list[MarketFrame], list[BadTick]]:
    """:func:`cross_venue_extremes` on frames of the same bar times (others returned unchanged)."""
    if len(frames) < 3 or any(len(f) != len(frames[0]) or not np.array_equal(f.ts, frames[0].ts) for f in frames):
        return frames, []
    highs, lows = cross_venue_extremes([f.open for f in frames], [f.high for f in frames],
                                       [f.low for f in frames], [f.close for f in frames])
    out, ticks = [], []
    for f, h, lo in zip(frames, highs, lows, strict=True):
        found = [] if h is f.high and lo is f.low else changed(f.exchange, f.ts, (f.high, h), (f.low, lo))
        ticks.extend(found)
        out.append(replace(f, high=h, low=lo) if found else f)
    return out, ticks
