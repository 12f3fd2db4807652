"""Live views extended bar by bar: one incremental state per distinct live view (``end=None``).

A live view's heatmap after new bars equals :func:`liqmap.query.heatmap_for` on the same store (tested
to float rounding), but costs the new bars instead of the whole window: the state keeps each exchange's
book (:class:`~liqmap.model.book.WarmBook`) at a recent bar end, continues the batch engine from it over
the bars since (``compute_heatmap(..., warm=...)``, one column per bar), folds the new bars into the
view's time-aligned columns (the last column may grow, new columns are appended, columns before the
window's start drop off), and carries the books forward every :data:`ADVANCE_BARS` bars
(:func:`~liqmap.model.engine.advance_book`).

A view whose bars are resampled from finer stored bars (a 30-day view at 5 minutes over 1-minute bars)
holds complete buckets only (:func:`liqmap.ingest.frames.read_bars`): its end is taken down to a multiple
of its interval (as bars of every venue open at multiples of their interval), so a new 1-minute bar that
completes no bucket leaves the view as it is, and one that completes a bucket extends it by that bar.

The columns are recomputed in full (from the day's warm-up book, :class:`~liqmap.warmbooks.WarmBooks`)
when the price ladder (the window's lowest low or highest high moved) or the column grouping changed; the
state's books carry on. The state itself is rebuilt when the warm-up start (a new UTC day of the
window's start), the bar interval or the exchanges changed, or on a gap / missing OI near its books; a state
with the next warm-up start built ahead (:meth:`LiveViews.prepare`) is extended instead.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from liqmap.errors import DataError, LiqmapError
from liqmap.ingest.frames import FUNDING_MAX_AGE_MS
from liqmap.model.badticks import by_time
from liqmap.model.book import WarmBook
from liqmap.model.engine import advance_book, compute_heatmap
from liqmap.model.grid import column_group
from liqmap.model.result import Heatmap
from liqmap.query import (
    CONTEXT_BARS,
    HeatmapQuery,
    View,
    heatmap_for,
    load_flagged_frames,
    load_frames,
    price_edges_for,
    resolve_view,
)
from liqmap.types import DAY_MS
from liqmap.warmbooks import WarmBooks, day_split

ADVANCE_BARS = 32
"""The books are carried forward (:func:`~liqmap.model.engine.advance_book`) once they are this many bars
behind the view's end; until then each step continues the engine from them over the bars since (as cheap
for a few dozen bars as for one)."""
MAX_STATES = 32
"""Live views kept (least recently used dropped); a 7-day 5-venue 1-minute state holds ~10-40 MB."""


@dataclass
class _State:
    view: View
    heatmap: Heatmap
    books: tuple[WarmBook, ...]
    bar_ts: np.ndarray
    """Open time of every bar in the window (with ``lows`` / ``highs``: the lowest low and highest high
    over the exchanges), from which the price ladder is derived."""
    lows: np.ndarray
    highs: np.ndarray
    group: int


class LiveViews:
    """Incremental states of live views, keyed by the query (shared by every client watching it)."""

    def __init__(self, books: WarmBooks | None = None, size: int = MAX_STATES) -> None:
        self.books = books or WarmBooks()
        self.size = size
        self._states: OrderedDict[HeatmapQuery, _State] = OrderedDict()
        self._next: OrderedDict[HeatmapQuery, _State] = OrderedDict()
        """Per query, a state with the warm-up start of the view's next UTC day (:meth:`prepare`)."""
        self._locks: dict[HeatmapQuery, threading.Lock] = {}
        self._guard = threading.Lock()
        self.extended = 0
        self.rebuilt = 0
        self.rebased = 0
        """Counts: steps extended from the state (``rebased`` of them re-binned by a full run on a new
        price ladder) and views built from scratch."""

    def heatmap(self, store: object, query: HeatmapQuery) -> Heatmap:
        """The view's heatmap at the store's latest data (``query.end`` must be None; side ``both``)."""
        if query.end is not None:
            return heatmap_for(store, query, books=self.books)  # type: ignore[arg-type]
        with self._guard:
            lock = self._locks.setdefault(query, threading.Lock())
        with lock:
            view = complete_bars(resolve_view(store, query))  # type: ignore[arg-type]
            with self._guard:
                state = self._states.get(query)
                if state is None or state.view.warmup_start != view.warmup_start:
                    ahead = self._next.pop(query, None)
                    if ahead is not None and self._compatible(ahead.view, view):
                        state = self._states[query] = ahead
            heatmap = None
            if state is not None and view.end == state.view.end and _same(state.view, view):
                heatmap = state.heatmap
            elif state is not None and self._compatible(state.view, view):
                try:
                    heatmap = self._extend(store, query, state, view)
                except LiqmapError:  # whatever the step meets, the full run below decides (and names it)
                    heatmap = None
                if heatmap is not None:
                    self.extended += 1
            if heatmap is None:
                heatmap = self._build(store, query, view)
                self.rebuilt += 1
            with self._guard:
                if query in self._states:
                    self._states.move_to_end(query)
                while len(self._states) > self.size:
                    old, _ = self._states.popitem(last=False)
                    self._locks.pop(old, None)
            return heatmap

    def clear(self) -> None:
        with self._guard:
            self._states.clear()
            self._next.clear()

    def prepare(self, store: object, query: HeatmapQuery, warmup_start: int) -> None:
        """Build ahead the state the live view ``query`` continues from once its warm-up start moves to
        ``warmup_start`` (the next UTC day of its window's start): the view at the latest data modelled from
        ``warmup_start`` (a warm-up ending at its window's start, ``warmup_days`` short of a whole day), which
        :meth:`heatmap` extends over the bars since when the view's warm-up start gets there, instead of a
        full run from the new day's warm-up book (the same heatmap: the model's warm start is exact)."""
        now = complete_bars(resolve_view(store, query))  # type: ignore[arg-type]
        if now.warmup_start >= warmup_start:
            return
        early = dataclasses.replace(query, warmup_days=(now.start - warmup_start - 1) / DAY_MS)
        view = complete_bars(resolve_view(store, early))  # type: ignore[arg-type]
        if (view.warmup_start, view.interval_ms, view.end) != (warmup_start, now.interval_ms, now.end):
            return
        heatmap = heatmap_for(store, dataclasses.replace(early, end=view.end), books=self.books)  # type: ignore[arg-type]
        state = self._state_at_end(store, early, view, heatmap)
        if state is not None:
            with self._guard:
                self._next[query] = state
                while len(self._next) > self.size:
                    self._next.popitem(last=False)

    @staticmethod
    def _compatible(old: View, new: View) -> bool:
        return (
            new.end > old.end and new.warmup_start == old.warmup_start and new.interval_ms == old.interval_ms
            and new.exchanges == old.exchanges and (new.end - old.end) % new.interval_ms == 0
        )

    def _build(self, store: object, query: HeatmapQuery, view: View) -> Heatmap:
        """The full run (from the day's warm-up book) and the state at its end."""
        fixed = dataclasses.replace(query, end=view.end)
        heatmap = heatmap_for(store, fixed, books=self.books)  # type: ignore[arg-type]
        with self._guard:
            self._states.pop(query, None)
        try:
            state = self._state_at_end(store, query, view, heatmap)
        except LiqmapError:
            state = None  # a gap near the split or the end: no incremental state, full runs each time
        if state is not None:
            with self._guard:
                self._states[query] = state
        return heatmap

    def _state_at_end(self, store: object, query: HeatmapQuery, view: View, heatmap: Heatmap) -> _State | None:
        split = day_split(view.start)
        if split - CONTEXT_BARS * view.interval_ms <= view.warmup_start:
            return None
        books = self.books.books(store, list(view.exchanges), view.symbol, view.interval_ms,  # type: ignore[arg-type]
                                 view.warmup_start, split, query.model_config)
        if books is None:
            return None
        frames = load_frames(store, dataclasses.replace(view, warmup_start=split - CONTEXT_BARS * view.interval_ms))  # type: ignore[arg-type]
        if [f.exchange for f in frames] != list(view.exchanges) or any(int(f.ts[-1]) + view.interval_ms != view.end
                                                                       for f in frames):
            return None
        ends = tuple(advance_book(b, f, query.model_config) for b, f in zip(books, frames, strict=True))
        ts = frames[0].ts
        inside = ts >= view.start
        if any(len(f) != len(frames[0]) for f in frames):
            return None
        lows = np.min([f.low[inside] for f in frames], axis=0)
        highs = np.max([f.high[inside] for f in frames], axis=0)
        group = column_group(ts[inside], view.interval_ms, query.max_columns)
        if not np.array_equal(price_edges_for(lows, highs, query.n_bins), heatmap.price_edges):
            return None
        return _State(view, heatmap, ends, ts[inside].copy(), lows, highs, group)

    def _extend(self, store: object, query: HeatmapQuery, state: _State, view: View) -> Heatmap | None:
        """The state's heatmap extended over the bars in ``[state.view.end, view.end)``; None when the
        view must be recomputed in full (see the module doc)."""
        interval = view.interval_ms
        books_at = state.books[0].at
        context_start = books_at - CONTEXT_BARS * interval
        try:
            reads = StepReads(store, view.symbol, context_start, view.end)
            frames, ticks = load_flagged_frames(reads, dataclasses.replace(view, warmup_start=context_start))
        except DataError:
            return None
        if [f.exchange for f in frames] != list(view.exchanges) or any(
            int(f.ts[0]) != context_start or int(f.ts[-1]) + interval != view.end for f in frames
        ):
            return None
        if not all(np.isfinite(f.oi_usd[:CONTEXT_BARS]).any() for f in frames):
            return None
        first = (state.view.end - context_start) // interval  # the first bar after the state's end
        new = slice(first, None)
        ts_new = frames[0].ts[new]
        bar_ts = np.concatenate((state.bar_ts, ts_new))
        lows = np.concatenate((state.lows, np.min([f.low[new] for f in frames], axis=0)))
        highs = np.concatenate((state.highs, np.max([f.high[new] for f in frames], axis=0)))
        keep = bar_ts >= view.start
        bar_ts, lows, highs = bar_ts[keep], lows[keep], highs[keep]
        edges = price_edges_for(lows, highs, query.n_bins)
        group = column_group(bar_ts, interval, query.max_columns)
        old = state.heatmap
        if group != state.group or not np.array_equal(edges, old.price_edges):
            # a new price ladder (or grouping) re-bins every column: the full run from the day's book; the
            # state's books do not depend on the ladder and carry on
            heatmap = heatmap_for(store, dataclasses.replace(query, end=view.end), books=self.books)  # type: ignore[arg-type]
            if not np.array_equal(heatmap.price_edges, edges):
                return None
            self.rebased += 1
            state.group = group
        else:
            step = compute_heatmap(
                frames, query.model_config, price_edges=edges, column_group=1, leverage=query.leverage,
                ages=query.ages, warm=list(state.books),
            )
            heatmap = _fold(old, step, first, group * interval, view.start)
            # the new bars' clipped wicks (their frames hold the detector's trailing bars: CONTEXT_BARS)
            new_ticks = by_time(t for t in ticks if t.ts >= state.view.end)  # the crop kept the old ones in the window
            heatmap = dataclasses.replace(heatmap, bad_ticks=(*heatmap.bad_ticks, *new_ticks))
        if view.end - books_at >= ADVANCE_BARS * interval:
            state.books = tuple(advance_book(b, f, query.model_config) for b, f in zip(state.books, frames, strict=True))
        state.view, state.heatmap = view, heatmap
        state.bar_ts, state.lows, state.highs = bar_ts, lows, highs
        return heatmap


class StepReads:
    """The store as one live step reads it: the bars, open interest and funding of **every** exchange of
    the symbol over the step's span come from one read per table (made at the first read of that table),
    instead of one read per exchange and table (:func:`liqmap.query.load_frames` asks for each exchange's
    rows: ~20 reads of a few rows each on five venues, each costing a query's fixed overhead).

    A ``read`` inside the span (``start``/``end`` within it, no limit, ascending, columns among
    :data:`_STEP_COLUMNS`) is answered by filtering the table's rows: the same rows in the same order as
    the store's own answer (its order is time, then the key columns the filters leave free). Every other
    call goes to the store."""

    def __init__(self, store: Any, symbol: str, start: int, end: int) -> None:
        self.store = store
        self.symbol = symbol
        self.spans = {"bars": (start, end), "open_interest": (start, end + 1),
                      "funding": (start - FUNDING_MAX_AGE_MS, end + 1)}
        self._rows: dict[str, dict[str, np.ndarray]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def read(self, table: str, *, start: int | None = None, end: int | None = None,
             columns: Sequence[str] | None = None, descending: bool = False, limit: int | None = None,
             **equals: Any) -> dict[str, np.ndarray]:
        span = self.spans.get(table)
        wanted = _STEP_COLUMNS.get(table, ())
        if (span is None or start is None or end is None or not span[0] <= start <= end <= span[1] or descending
                or limit is not None or columns is None or equals.get("symbol") != self.symbol
                or not set(columns) <= set(wanted) or not set(equals) <= set(wanted) | {"symbol"}):
            return self.store.read(table, start=start, end=end, columns=columns, descending=descending,  # type: ignore[no-any-return]
                                   limit=limit, **equals)
        if table not in self._rows:
            self._rows[table] = self.store.read(table, start=span[0], end=span[1], columns=list(wanted),
                                                symbol=self.symbol)
        rows = self._rows[table]
        ts = rows["ts_event"]
        keep = (ts >= start) & (ts < end)
        for name, value in equals.items():
            if name != "symbol":
                keep &= rows[name] == value
        return {name: rows[name][keep] for name in columns}

    def resample_bars(self, *, start: int, end: int, interval_ms: int, source_interval_ms: int,
                      **equals: Any) -> dict[str, np.ndarray]:
        """The store's, except for an empty span: no buckets, no query (the frame loader's check for bars
        before a step's first bar asks for one per exchange)."""
        if start >= end:
            prices = ("open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume")
            return {**{name: np.empty(0) for name in prices}, "ts_event": np.empty(0, np.int64)}
        return self.store.resample_bars(start=start, end=end, interval_ms=interval_ms,  # type: ignore[no-any-return]
                                        source_interval_ms=source_interval_ms, **equals)


_STEP_COLUMNS: dict[str, tuple[str, ...]] = {
    "bars": ("exchange", "market", "interval_ms", "ts_event", "open", "high", "low", "close", "volume",
             "quote_volume", "taker_buy_volume"),
    "open_interest": ("exchange", "ts_event", "oi_usd", "oi_base"),
    "funding": ("exchange", "ts_event", "rate"),
}
"""The columns :class:`StepReads` reads per table: the frame loader's columns and the filters it uses (the
keys among them are never NULL, so the one read types every column as each exchange's own read would)."""


def complete_bars(view: View) -> View:
    """``view`` ending at its last complete bar: ``end`` taken down to a multiple of the interval (the
    same frames, hence the same heatmap: a resampled bucket still filling is not a bar yet)."""
    return dataclasses.replace(view, end=view.end - view.end % view.interval_ms)


def _same(a: View, b: View) -> bool:
    return (a.symbol, a.exchanges, a.start, a.end, a.interval_ms, a.warmup_start) == (
        b.symbol, b.exchanges, b.start, b.end, b.interval_ms, b.warmup_start)


def _fold(old: Heatmap, step: Heatmap, first: int, width_ms: int, start: int) -> Heatmap:
    """``old``'s columns with ``step``'s per-bar columns from ``first`` folded in: a bar in the time span
    (``width_ms``, aligned to multiples of it) of ``old``'s last column replaces that column's state and
    adds to its swept USD and candle; later bars open new columns. Columns before ``start`` are dropped."""
    times = list(np.asarray(old.times).tolist())
    swept_long, swept_short = list(old.swept_long), list(old.swept_short)
    candles = {name: list(np.asarray(values).tolist()) for name, values in old.candles.items()}
    long_rows: list[np.ndarray] = []
    short_rows: list[np.ndarray] = []
    replace_last = False
    for i in range(first, len(step.times)):
        t = int(step.times[i])
        c = {name: float(step.candles[name][i]) for name in ("open", "high", "low", "close", "volume")}
        if times and t // width_ms == times[-1] // width_ms:
            if long_rows:
                long_rows[-1], short_rows[-1] = step.long[i], step.short[i]
            else:
                replace_last = True
                long_rows.append(step.long[i])
                short_rows.append(step.short[i])
            swept_long[-1] += float(step.swept_long[i])
            swept_short[-1] += float(step.swept_short[i])
            candles["high"][-1] = max(candles["high"][-1], c["high"])
            candles["low"][-1] = min(candles["low"][-1], c["low"])
            candles["close"][-1] = c["close"]
            candles["volume"][-1] += c["volume"]
        else:
            times.append(t)
            long_rows.append(step.long[i])
            short_rows.append(step.short[i])
            swept_long.append(float(step.swept_long[i]))
            swept_short.append(float(step.swept_short[i]))
            candles["ts"].append(t)
            for name in ("open", "high", "low", "close", "volume"):
                candles[name].append(c[name])
    head_long = old.long[:-1] if replace_last else old.long
    head_short = old.short[:-1] if replace_last else old.short
    long_all = np.concatenate((head_long, np.asarray(long_rows).reshape(-1, old.long.shape[1])))
    short_all = np.concatenate((head_short, np.asarray(short_rows).reshape(-1, old.short.shape[1])))
    time_arr = np.asarray(times, dtype=np.int64)
    drop = int(np.searchsorted(time_arr, start))  # columns are in time order: the kept ones are a suffix
    # the grids (MBs) are copied once, by the concatenation; the crop takes views
    return dataclasses.replace(
        old,
        times=time_arr,
        long=long_all,
        short=short_all,
        swept_long=np.asarray(swept_long),
        swept_short=np.asarray(swept_short),
        candles={name: np.asarray(values) for name, values in candles.items()},
    ).columns_from(drop)
