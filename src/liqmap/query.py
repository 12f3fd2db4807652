"""Store -> MarketFrames -> model -> Heatmap: the one entry point the CLI, the web API, the analysis
CLI and alerts use to ask "what does the heatmap look like for this view?".

>>> q = HeatmapQuery("BTC", range="7d")                      # doctest: +SKIP
>>> hm = heatmap_for(store, q)                               # doctest: +SKIP

Rules (docs/data.md, "Views"):

* The window is ``[end - RANGES[range], end)``; ``end=None`` means the end of the latest stored bar.
* The model runs from ``warmup_days`` before the window, moved back to a UTC midnight (positions opened
  then still matter), and the result is cropped to the window's columns. With a
  :class:`~liqmap.warmbooks.WarmBooks` the run continues from a cached book at the window's first
  midnight instead: the same numbers, less work. By default the warm-up is modelled at the window's own bar
  interval (exact). Opt-in, ``warmup_interval_ms`` (e.g. :data:`WARMUP_INTERVAL_MS`, 15m) models it at
  that coarser interval except its last :data:`FINE_WARMUP_MS` (3 days): faster, but approximate.
* The bar interval is chosen automatically (``interval_ms=None``): the finest interval the exchanges'
  bars provide (stored, or resampled from finer bars) that keeps warm-up + window within
  :data:`AUTO_MODEL_BARS` and the window within :data:`MAX_WINDOW_BARS`; the engine then groups bars
  into at most ``max_columns`` columns.
* Price bins span the window's candles plus a margin (:data:`PRICE_MARGIN`).
* Gaps: the latest contiguous run of bars is modelled; a gap inside the window raises
  :class:`~liqmap.errors.BadSeriesError`, a gap inside the warm-up only shortens the warm-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from liqmap.errors import BadSeriesError, ConfigError, DataError, LiqmapError
from liqmap.ingest.frames import (
    available_intervals,
    exchanges_with_bars,
    load_flagged_frame,
    load_frame,
    read_bars,
)
from liqmap.ingest.series import NOT_PRICED, Realized, candles_for, realized_for
from liqmap.model.badticks import BadTick, by_time, cross_venue_clip
from liqmap.model.book import WarmBook
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.grid import column_group
from liqmap.model.result import Heatmap
from liqmap.store import Store
from liqmap.symbols import canonical
from liqmap.types import DAY_MS, MINUTE_MS
from liqmap.venues.registry import check_exchange
from liqmap.viewspec import RANGES, STANDARD_INTERVALS, VIEW
from liqmap.warmbooks import WarmBooks, build_books, day_split

__all__ = [
    "RANGES",
    "HeatmapQuery",
    "Realized",
    "View",
    "candles_for",
    "heatmap_for",
    "load_flagged_frames",
    "load_frame",
    "load_frames",
    "parse_time",
    "realized_for",
    "resolve_view",
]

PRICE_MARGIN = 0.06
"""Price bins reach this fraction of the window's mid price beyond its lowest low and highest high."""
AUTO_MODEL_BARS = 60_000
"""Automatic intervals keep the modelled bars (warm-up included) within this."""
MAX_MODEL_BARS = 200_000
"""A forced ``interval_ms`` giving more modelled bars (warm-up included) is refused: 90 days of 1-minute
bars after a 30-day warm-up (174,240 bars per exchange) are allowed (~0.5-0.8 s CPU on 5 venues with the
compiled kernel, docs/model.md)."""
WARMUP_INTERVAL_MS = 15 * MINUTE_MS
"""Suggested opt-in ``HeatmapQuery.warmup_interval_ms``: the warm-up before the window is modelled at this
bar interval (when coarser than the window's) up to :data:`FINE_WARMUP_MS` before the window, the rest at
the window's. Not the default: it changes the book by up to ~13 % in a 7d view's first columns (docs/model.md,
section 8, "Warm start", gives the measured difference) for ~40 ms less model time."""
FINE_WARMUP_MS = 3 * DAY_MS
"""The last part of the warm-up, modelled at the window's interval after a coarse warm-up."""
CONTEXT_BARS = 64
"""Window-interval bars before the warm-up's end loaded as context (the inputs' OI reference and 24-bar
volume and range means of the first modelled bars)."""
MAX_WINDOW_BARS = 12_000
"""Automatic intervals also keep the window's bars within this (a first request's cost is linear in bars):
1m for 7 days (10,080), 5m for 30 days, 15m for 90, 30m for 180, 1h for a year (8,760; about nine bars per
column of a 1,000-column view, so sweeps still see sub-column lows and highs)."""


@dataclass(frozen=True)
class HeatmapQuery:
    """One heatmap view. Every field is validated on construction (ConfigError names the field), against
    the one view declaration :data:`liqmap.viewspec.VIEW` (ranges, sides, intervals, size limits).

    * ``symbol``: user vocabulary (``BTC``) or a venue name (``BTCUSDT``); stored canonical.
    * ``exchanges``: exchanges to sum; ``None`` = every exchange with bars of the symbol.
    * ``range``: a key of :data:`RANGES`; ``end``: window end in ms (``None`` = latest data).
    * ``side``: ``both`` (long and short), ``long`` or ``short`` only, or ``net`` (per bin, the
      larger side minus the smaller, kept on the larger side's array).
    * ``leverage`` / ``ages``: keep only these leverage tiers (x) / age buckets (labels of the config).
    * ``n_bins`` price bins, ``max_columns`` time columns at most, ``warmup_days`` of history modelled
      before the window, ``interval_ms`` bar size (``None`` = automatic), ``config`` model knobs.
    * ``warmup_interval_ms``: bar size of the warm-up when coarser than the window's (``None`` = the
      window's; an ``ages`` filter also models the warm-up at the window's interval).
    """

    symbol: str
    exchanges: tuple[str, ...] | None = None
    range: str = VIEW.default_range
    end: int | None = None
    side: str = VIEW.default_side
    leverage: tuple[float, ...] | None = None
    ages: tuple[str, ...] | None = None
    n_bins: int = VIEW.rows.default
    max_columns: int = VIEW.columns.default
    config: ModelConfig | None = None
    warmup_days: float = 30.0
    interval_ms: int | None = None
    warmup_interval_ms: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "symbol", canonical(self.symbol))
        if self.exchanges is not None:
            names = [self.exchanges] if isinstance(self.exchanges, str) else list(self.exchanges)
            if not names:
                raise ConfigError("exchanges: empty; pass None for all exchanges with data")
            set_(self, "exchanges", tuple(dict.fromkeys(check_exchange(e) for e in names)))
        VIEW.check_range(self.range)
        if self.end is not None and (not isinstance(self.end, int | np.integer) or self.end <= 0):
            raise ConfigError(f"end: expected a positive integer time in ms or None, got {self.end!r}")
        VIEW.check_side(self.side)
        config = self.model_config
        if self.leverage is not None:
            tiers = tuple(
                float(x)
                for x in ([self.leverage] if isinstance(self.leverage, int | float) else self.leverage)
            )
            unknown = [x for x in tiers if x not in config.leverage]
            if not tiers or unknown:
                raise ConfigError(
                    f"leverage: {unknown or 'empty'} not modelled; accepted tiers: "
                    f"{', '.join(f'{x:g}' for x in config.leverage)}"
                )
            set_(self, "leverage", tiers)
        if self.ages is not None:
            ages = (self.ages,) if isinstance(self.ages, str) else tuple(self.ages)
            unknown_ages = [a for a in ages if a not in config.age_labels]
            if not ages or unknown_ages:
                raise ConfigError(
                    f"ages: {unknown_ages or 'empty'} not known; accepted: {', '.join(config.age_labels)}"
                )
            set_(self, "ages", ages)
        VIEW.check_n_bins(self.n_bins)
        VIEW.check_max_columns(self.max_columns)
        VIEW.check_warmup_days(self.warmup_days)
        VIEW.check_interval("interval_ms", self.interval_ms, "None (automatic)")
        VIEW.check_interval("warmup_interval_ms", self.warmup_interval_ms, "None")

    @property
    def model_config(self) -> ModelConfig:
        return self.config if self.config is not None else ModelConfig()

    @property
    def range_ms(self) -> int:
        return RANGES[self.range]


@dataclass(frozen=True, eq=False)
class View:
    """The resolved window of a query: what :func:`heatmap_for` actually modelled."""

    symbol: str
    exchanges: tuple[str, ...]
    start: int
    end: int
    interval_ms: int
    warmup_start: int


def resolve_view(store: Store, query: HeatmapQuery) -> View:
    """Exchanges, window ``[start, end)`` and bar interval for ``query`` (no model run)."""
    coin = query.symbol
    exchanges = query.exchanges or tuple(e for e in exchanges_with_bars(store, coin) if e not in NOT_PRICED)
    if not exchanges:
        raise DataError(
            f"no bars stored for {coin}; import data first (liqmap import FILE..., or liqmap demo)"
        )
    intervals = _common_intervals(store, exchanges, coin)
    if not intervals:
        raise DataError(f"{', '.join(exchanges)} share no bar interval for {coin}")
    end = query.end
    if end is None:
        end = _latest_end(store, exchanges, coin)
    start = end - query.range_ms
    warmup = int(float(query.warmup_days) * DAY_MS)
    # + a day: the warm-up start moves back to a midnight (below)
    span = query.range_ms + warmup + (DAY_MS if warmup else 0)
    interval = query.interval_ms or _pick_interval(intervals, span, query.range_ms)
    if query.interval_ms is not None and query.interval_ms not in intervals:
        raise ConfigError(
            f"interval_ms: {query.interval_ms} not available for {coin} on {', '.join(exchanges)}; "
            f"available: {', '.join(str(i) for i in intervals)}"
        )
    start -= start % interval
    # A day-aligned warm-up start makes every view whose window starts on the same UTC day share the
    # book at that day's start (liqmap.warmbooks); every standard interval divides a day.
    warmup_start = start - warmup
    warmup_start -= warmup_start % (DAY_MS if warmup else interval)
    if (end - warmup_start) // interval > MAX_MODEL_BARS:
        raise ConfigError(
            f"range: {query.range} at {interval // MINUTE_MS}m bars with {query.warmup_days} warm-up days is "
            f"more than {MAX_MODEL_BARS} bars; choose a coarser interval_ms or a shorter range"
        )
    return View(coin, tuple(exchanges), start, end, interval, warmup_start)


def _latest_end(store: Store, exchanges: Sequence[str], coin: str) -> int:
    """End of the latest bar common to ``exchanges`` (perpetual bars; spot where an exchange has none)."""
    series = [row for row in store.series("bars") if row["symbol"] == coin]
    ends = []
    for exchange in exchanges:
        for market in ("perp", "spot"):
            found = [r["last"] + r["interval_ms"] for r in series if r["exchange"] == exchange and r["market"] == market]
            if found:
                ends.append(int(max(found)))
                break
    if not ends:
        raise DataError(f"no bars stored for {coin} on {', '.join(exchanges)}")
    return min(ends)


def _common_intervals(store: Store, exchanges: Sequence[str], coin: str) -> list[int]:
    common: set[int] | None = None
    for exchange in exchanges:
        stored = available_intervals(store, exchange, coin)
        native = set(stored.get("perp", [])) | set(stored.get("spot", []))
        derivable = native | {s for s in STANDARD_INTERVALS for n in native if s > n and s % n == 0}
        common = derivable if common is None else common & derivable
    return sorted(common or ())


def _pick_interval(intervals: Sequence[int], span_ms: int, window_ms: int) -> int:
    """The finest interval keeping the modelled bars (warm-up + window) within :data:`AUTO_MODEL_BARS`
    and the window's bars within :data:`MAX_WINDOW_BARS`.

    Finer bars make a better model (sweeps see each bar's low/high); the engine then groups bars into at
    most ``max_columns`` display columns."""
    for interval in intervals:  # finest first
        if span_ms // interval <= AUTO_MODEL_BARS and window_ms // interval <= MAX_WINDOW_BARS:
            return interval
    return intervals[-1]


LOAD_THREADS = 2
"""Exchanges whose frames are read at once (DuckDB and numpy release the GIL while they work)..."""
THREADED_LOAD_BARS = 2_000
"""... when a frame spans at least this many bars (a live step's few bars stay on the calling thread)."""


def load_frames(store: Store, view: View) -> list[MarketFrame]:
    """One frame per exchange over warm-up + window, on a common time grid (see module doc for gaps)."""
    return load_flagged_frames(store, view)[0]


def load_flagged_frames(store: Store, view: View) -> tuple[list[MarketFrame], list[BadTick]]:
    """:func:`load_frames` and the wicks their cleaning clipped in the frames' bars: each venue's implausible
    wicks, then (three or more venues) those beyond every other venue's (:mod:`liqmap.model.badticks`)."""
    frames: list[MarketFrame] = []
    ticks: list[BadTick] = []
    errors: list[str] = []
    bars = (view.end - view.warmup_start) // view.interval_ms
    workers = min(LOAD_THREADS, len(view.exchanges)) if bars >= THREADED_LOAD_BARS else 1
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        run = map if pool is None else pool.map
        for loaded in run(lambda exchange: _load_exchange(store, view, exchange), view.exchanges):
            if isinstance(loaded, str):
                errors.append(loaded)
            else:
                frames.append(loaded[0])
                ticks.extend(loaded[1])
    if not frames:
        raise DataError("; ".join(errors) or f"no usable data for {view.symbol}")
    first = max(int(f.ts[0]) for f in frames)
    last = min(int(f.ts[-1]) for f in frames)
    if first > last:
        raise DataError(f"{view.symbol}: the exchanges' bars do not overlap in time")
    out = []
    for f in frames:
        i, j = np.searchsorted(f.ts, [first, last + 1])
        out.append(f if (i, j) == (0, len(f)) else f.slice(int(i), int(j)))
    clipped, across = cross_venue_clip(out)  # a wick far beyond every other venue's (liqmap.model.badticks)
    return clipped, [t for t in ticks if first <= t.ts <= last] + across


def _load_exchange(store: Store, view: View, exchange: str) -> tuple[MarketFrame, list[BadTick]] | str:
    """The exchange's frame over the view (its latest contiguous run), or why it has none (a gap inside
    the window raises)."""
    stored = available_intervals(store, exchange, view.symbol)
    try:
        frame, ticks = load_flagged_frame(
            store, exchange, view.symbol, view.warmup_start, view.end, view.interval_ms, on_gap="latest", stored=stored,
        )
    except DataError as exc:
        return str(exc)
    if frame.ts[0] > view.start:
        earlier, _ = read_bars(
            store, exchange, view.symbol, view.warmup_start, int(frame.ts[0]), view.interval_ms, stored=stored
        )
        if len(earlier["ts_event"]) and earlier["ts_event"][-1] >= view.start:
            raise BadSeriesError(
                f"{exchange} {view.symbol}: gap in the bars inside the window, before ts={int(frame.ts[0])}; "
                "choose a shorter range or an end before the gap"
            )
    return frame, ticks


def price_edges_for(candles_low: np.ndarray, candles_high: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bins from ``min(low)`` to ``max(high)`` widened by :data:`PRICE_MARGIN` × mid price."""
    lo, hi = float(np.min(candles_low)), float(np.max(candles_high))
    pad = PRICE_MARGIN * 0.5 * (lo + hi)
    return np.linspace(max(lo - pad, 1e-12), hi + pad, n_bins + 1)


def heatmap_for(store: Store, query: HeatmapQuery, *, books: WarmBooks | None = None) -> Heatmap:
    """Run the model over warm-up + window for ``query`` and return the window's heatmap.

    ``books``: a :class:`~liqmap.warmbooks.WarmBooks` kept between calls (the web service keeps one);
    the run then continues from the cached book at the window's first UTC midnight, which gives the same
    heatmap (up to float rounding) in a fraction of the time."""
    from liqmap.model.engine import compute_heatmap

    view = resolve_view(store, query)
    warmed = _coarse_warmup(store, view, query)
    if warmed is None and books is not None:
        warmed = _cached_warmup(store, view, query, books)
    frames, ticks, warm = warmed if warmed is not None else (*load_flagged_frames(store, view), None)
    ts = frames[0].ts
    if len(ts) < 2:
        raise DataError(
            f"{view.symbol}: only {len(ts)} bar(s) in the view; choose a longer range or another end"
        )
    in_window = ts >= view.start
    if not in_window.any():
        raise DataError(f"{view.symbol}: no bars inside the window")
    lows = np.min([f.low[in_window] for f in frames], axis=0)
    highs = np.max([f.high[in_window] for f in frames], axis=0)
    edges = price_edges_for(lows, highs, query.n_bins)
    # Bars per column from the window alone, so the window has at most max_columns columns however
    # long the modelled warm-up part is (the plain run and the run from warm-up books group alike).
    group = column_group(ts[in_window], view.interval_ms, query.max_columns)
    heatmap = compute_heatmap(
        frames,
        query.model_config,
        price_edges=edges,
        n_bins=query.n_bins,
        column_group=group,
        leverage=query.leverage,
        ages=query.ages,
        warm=warm,
        lead_until=view.start,  # the warm-up's columns would be cropped: one column for all of them
    )
    spot = [f.exchange for f in frames if f.price_source == "spot"]
    if spot:
        note = f"prices: spot bars of {', '.join(spot)} (no perpetual bars in the view)"
        heatmap = dataclasses.replace(heatmap, notes=(*heatmap.notes, note))
    return _apply_side(_crop(heatmap, view.start, ticks), query.side)


Warmed = tuple[list[MarketFrame], list[BadTick], list[WarmBook | None]]
"""Frames from shortly before a split, the wicks their cleaning clipped, and each frame's book at the split."""


def _coarse_warmup(store: Store, view: View, query: HeatmapQuery) -> Warmed | None:
    """Frames from :data:`CONTEXT_BARS` before the split (``view.start - FINE_WARMUP_MS`` floored to the
    coarse interval) and each frame's book after a warm-up at ``query.warmup_interval_ms`` up to the
    split; None when the warm-up is at the window's interval (or cannot be coarse: no coarse bars, a gap
    at the split, a warm-up shorter than the fine part)."""
    coarse = query.warmup_interval_ms
    fine = view.interval_ms
    if coarse is None or coarse <= fine or coarse % fine or query.ages is not None:
        return None
    split = view.start - FINE_WARMUP_MS
    split -= split % coarse
    if split - view.warmup_start < coarse:
        return None
    frames, ticks = load_flagged_frames(store, dataclasses.replace(view, warmup_start=split - CONTEXT_BARS * fine))
    if any(int(frame.ts[0]) >= split for frame in frames):
        return None
    books = build_books(store, [f.exchange for f in frames], view.symbol, coarse, view.warmup_start, split,
                        query.model_config)
    return None if books is None else (frames, ticks, list(books))


def _cached_warmup(store: Store, view: View, query: HeatmapQuery, books: WarmBooks) -> Warmed | None:
    """Frames from :data:`CONTEXT_BARS` before the split (the window's first UTC midnight) and the
    books at the split from ``books``; None when that would not equal the run from the warm-up start
    (a gap near the split)."""
    if query.warmup_interval_ms is not None:
        return None
    split = day_split(view.start)
    context_start = split - CONTEXT_BARS * view.interval_ms
    if context_start <= view.warmup_start:
        return None
    # The book (a cache hit, or ~70 ms to build from 30 days of bars) and the window's frames are
    # independent reads and numpy work: a thread builds the book while this one loads the frames.
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            books.books, store, list(view.exchanges), view.symbol, view.interval_ms, view.warmup_start, split,
            query.model_config,
        )
        frames, ticks = load_flagged_frames(store, dataclasses.replace(view, warmup_start=context_start))
        try:
            warm = pending.result()
        except LiqmapError:  # the full run below meets the same problem and names it
            return None
    if [f.exchange for f in frames] != list(view.exchanges) or any(int(f.ts[0]) != context_start for f in frames):
        return None  # an exchange without bars near the split, or a gap: the full run decides
    if not all(np.isfinite(f.oi_usd[: CONTEXT_BARS]).any() for f in frames):
        # The model's OI reference is the last finite OI before a bar, however old: without one in the
        # context bars the continuation would not know it.
        return None
    return None if warm is None else (frames, ticks, list(warm))


def _crop(heatmap: Heatmap, start: int, ticks: Sequence[BadTick] = ()) -> Heatmap:
    """The columns from ``start`` on (:meth:`Heatmap.columns_from`: views, not copies of the grids), with
    the ``ticks`` in their bars (sorted)."""
    kept = heatmap.columns_from(int(np.searchsorted(heatmap.times, start)))
    times = kept.times
    first, end = (int(times[0]), int(times[-1]) + heatmap.interval_ms) if len(times) else (0, 0)
    return dataclasses.replace(kept, bad_ticks=tuple(by_time(t for t in ticks if first <= t.ts < end)))


def _apply_side(heatmap: Heatmap, side: str) -> Heatmap:
    if side == "both":
        return heatmap
    zeros = np.zeros_like(heatmap.long)
    if side == "long":
        return dataclasses.replace(heatmap, short=zeros, swept_short=np.zeros_like(heatmap.swept_short))
    if side == "short":
        return dataclasses.replace(heatmap, long=zeros, swept_long=np.zeros_like(heatmap.swept_long))
    net = heatmap.long - heatmap.short
    return dataclasses.replace(heatmap, long=np.clip(net, 0, None), short=np.clip(-net, 0, None))


def parse_time(text: str | int) -> int:
    """A time given by a user: epoch ms (``1779667200000``) or ISO-8601 (``2026-05-24``,
    ``2026-05-24T12:00``, ``...Z``; naive times are UTC). Raises ConfigError naming ``end``."""
    if isinstance(text, int):
        return text
    raw = str(text).strip()
    if raw.isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"end: {text!r} is not a time; expected ISO-8601 (2026-05-24T12:00) or epoch ms"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)
