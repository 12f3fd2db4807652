"""Warm-up books kept between heatmap requests, so a new view re-models days, not the whole warm-up.

A view's model run starts at its warm-up start, a UTC day boundary (:func:`liqmap.query.resolve_view`).
The book at the **split**, the UTC day boundary at or before the window's start, depends only on the bars,
open interest and funding stored between the two; every view whose window starts that day shares it. So
:class:`WarmBooks` computes it once (:func:`liqmap.model.engine.warm_book`), and the view's run then covers
the split to the end (8 days of a 7-day view instead of 38). The result equals the run from the
warm-up start up to float rounding (the model's warm start is exact at one bar interval; tested).

Entries are keyed by the view's exchanges, symbol, interval, warm-up start, split, model settings and a
fingerprint of the stored rows the book is built from (:meth:`DuckDBStore.fingerprint`), so new or
corrected data in that span builds a new book and new bars after the split cost nothing. The fingerprint
is one query per table over the symbol's rows of every exchange (a superset of the view's: a change on
another exchange only rebuilds a book), and it is taken again only when the store's data version of
those tables (:meth:`Store.version`, which grows on every committed change) moved since the last one.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from liqmap.errors import DataError
from liqmap.ingest.frames import FUNDING_MAX_AGE_MS, load_frame
from liqmap.lru import SingleFlightLRU
from liqmap.model.book import WarmBook
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.store import Store
from liqmap.types import DAY_MS

BUILD_THREADS = 2
"""Exchanges whose books are built at once."""
Books = tuple[WarmBook, ...] | None
"""One book per exchange (in the view's order), or None when the span cannot warm a view (a gap)."""
SOURCE_TABLES = ("bars", "open_interest", "funding")
"""The tables a book is built from (:func:`liqmap.ingest.frames.load_frame`)."""
Prints = tuple[tuple[int, str], ...]
"""A fingerprint per table of :data:`SOURCE_TABLES` (:func:`fingerprint`)."""
Version = tuple[tuple[str, int], ...]
"""The store's data version (:meth:`Store.version`)."""


def day_split(start: int) -> int:
    """The split of a window starting at ``start``: the UTC midnight at or before it."""
    return start - start % DAY_MS


def _nbytes(books: Books) -> int:
    if books is None:
        return 64
    arrays = (a for book in books for a in (*book.levels, *book.values, *(book.births or ()), *(book.tiers or ())))
    return sum(int(a.nbytes) for a in arrays) + 64


class WarmBooks:
    """Warm-up books per (exchanges, symbol, interval, model settings, split), LRU-bounded (a 30-day
    1-minute book of one exchange is ~0.4 MB)."""

    def __init__(self, size: int = 256, max_bytes: int = 256 << 20) -> None:
        self._lru: SingleFlightLRU[Books] = SingleFlightLRU(size, max_bytes, _nbytes)
        self._prints: SingleFlightLRU[tuple[weakref.ref[Store], Version, Prints]] = SingleFlightLRU(
            size, size, lambda _entry: 1)

    def books(
        self,
        store: Store,
        exchanges: Sequence[str],
        symbol: str,
        interval_ms: int,
        warmup_start: int,
        split: int,
        config: ModelConfig,
    ) -> Books:
        """The books after the bars opening in ``[warmup_start, split)``: each exchange's latest
        contiguous run of bars, all runs cut to start together (as :func:`liqmap.query.load_frames` cuts
        a whole view's frames); None when a run does not reach ``split`` (a gap just before it).

        The books hold every leverage tier and every cohort's birth, so views with ``leverage`` or
        ``ages`` filters share them (the engine leaves out the cohorts a filter excludes)."""
        prints = self._fingerprint(store, symbol, warmup_start, split, interval_ms)
        key = (tuple(exchanges), symbol, interval_ms, warmup_start, split, config, prints)
        return self._lru.get(key, lambda: build_books(store, exchanges, symbol, interval_ms, warmup_start, split, config))

    def _fingerprint(self, store: Store, symbol: str, start: int, split: int, interval_ms: int) -> Prints:
        """:func:`fingerprint`, reused while the store's data version of :data:`SOURCE_TABLES` stays the
        same (the version is read first, so a write during the fingerprint only makes the next call take
        it again)."""
        version = tuple(entry for entry in store.version() if entry[0] in SOURCE_TABLES)
        span = (id(store), symbol, start, split, interval_ms)
        known = self._prints.lookup(span)
        if known is not None and known[0]() is store and known[1] == version:
            return known[2]
        prints = fingerprint(store, symbol, start, split, interval_ms)
        try:
            ref = weakref.ref(store)
        except TypeError:  # a store without weak references: fingerprint every time
            return prints
        self._prints.put(span, (ref, version, prints))
        return prints

    def clear(self) -> int:
        return self._lru.clear()

    def stats(self) -> dict[str, int]:
        return self._lru.stats()


def fingerprint(store: Store, symbol: str, start: int, split: int, interval_ms: int) -> Prints:
    """Every stored row a book over ``[start, split)`` can read, of every exchange at once (one query per
    table): bars of all markets and intervals, the OI observed up to the last bar's end, and funding from
    a carry-forward age before. It changes whenever one exchange's rows do (a row count grows with every
    insert, the edit count with every change in place: :meth:`DuckDBStore.fingerprint`)."""
    return (
        store.fingerprint("bars", start=start, end=split, symbol=symbol),
        store.fingerprint("open_interest", start=start, end=split + interval_ms + 1, symbol=symbol),
        store.fingerprint("funding", start=start - FUNDING_MAX_AGE_MS, end=split + interval_ms + 1, symbol=symbol),
    )


def build_books(
    store: Store,
    exchanges: Sequence[str],
    symbol: str,
    interval_ms: int,
    start: int,
    split: int,
    config: ModelConfig,
) -> Books:
    """Uncached: the books of every tier after the bars of ``[start, split)`` at ``interval_ms`` (see
    :meth:`WarmBooks.books`; also the query's opt-in coarse warm-up, at a coarser interval)."""
    from liqmap.model.engine import warm_book

    def read(exchange: str) -> MarketFrame | None:
        try:
            frame = load_frame(store, exchange, symbol, start, split, interval_ms, on_gap="latest")
        except DataError:
            return None
        return frame if int(frame.ts[-1]) + interval_ms == split else None

    # the exchanges' reads and books are independent: two threads (DuckDB, numpy and the compiled
    # kernel release the GIL); the books come back in the exchanges' order
    with ThreadPoolExecutor(min(BUILD_THREADS, len(exchanges))) as pool:
        read_frames = list(pool.map(read, exchanges))
        frames = [f for f in read_frames if f is not None]
        if len(frames) != len(read_frames):
            return None
        first = max(int(f.ts[0]) for f in frames)
        cut = [f.slice(int(np.searchsorted(f.ts, first)), len(f)) for f in frames]
        return tuple(pool.map(lambda f: warm_book(f, config), cut))
