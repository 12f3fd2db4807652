"""Computing heatmap views from the store, with an LRU cache keyed by view + data version.

Concurrent requests for the same view wait for one computation instead of each running the model.
The compute function is injectable (tests, benchmarks); the default goes through :mod:`liqmap.query`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

from liqmap.liveviews import LiveViews, complete_bars
from liqmap.lru import SingleFlightLRU
from liqmap.model.result import Heatmap
from liqmap.query import CONTEXT_BARS, resolve_view
from liqmap.service.params import ViewKey
from liqmap.types import DAY_MS
from liqmap.viewspec import VIEW
from liqmap.warmbooks import WarmBooks, day_split

log = logging.getLogger(__name__)

ComputeFn = Callable[[Any, ViewKey], Heatmap]
PREFETCH_LEAD_MS = 3_600_000
"""How long (at least one bar) before a live view's window starts on a new UTC day its state and warm-up
books for that day are built ahead (:meth:`HeatmapCache.prefetch_books`)."""


class Prefetch:
    """Work for the next UTC day done ahead in the background (:meth:`HeatmapCache.prefetch_books`,
    :func:`liqmap.service.calibration.prefetch_next_fit`): once per key, each in its own daemon thread;
    a failure is logged (whoever needs the result computes it and meets the same problem)."""

    def __init__(self, size: int = 256) -> None:
        self._started: SingleFlightLRU[bool] = SingleFlightLRU(size, size, lambda _: 1)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def started(self) -> int:
        return self._started.misses

    def start(self, key: Hashable, run: Callable[[], object]) -> None:
        def body() -> None:
            try:
                run()
            except Exception:
                log.warning("prefetch of %s failed", key, exc_info=True)

        def launch() -> bool:
            thread = threading.Thread(target=body, name="liqmap-prefetch", daemon=True)
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
            return True

        self._started.get(key, launch)

    def wait(self, timeout: float | None = None) -> None:
        """Until the prefetches started so far are done (tests, benchmarks)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)


def query_compute(store: Any, key: ViewKey, books: WarmBooks | None = None, live: LiveViews | None = None) -> Heatmap:
    """The default: :func:`liqmap.query.heatmap_for` on the store (side derived later, so ``both``),
    continuing from cached warm-up books when ``books`` is given (same result, less model time); a live
    view (``end`` None) through ``live``, which extends its state over the new bars (same result)."""
    from liqmap.query import heatmap_for

    query = key.query()
    if live is not None and key.end is None:
        return live.heatmap(store, query)
    return heatmap_for(store, query, books=books)


def _nbytes(heatmap: Heatmap) -> int:
    return int(sum(getattr(heatmap, name).nbytes for name in ("long", "short", "times", "price_edges")))


class HeatmapCache:
    """LRU of computed heatmaps; entries from an older data version are never served. Bounded by count
    and by memory (a 2000 x 2000 view holds 64 MB of float64 grids). The default compute keeps its own
    :class:`~liqmap.warmbooks.WarmBooks`, so a new view (or new data) re-models only the days since the
    warm-up's split instead of the whole 30-day warm-up."""

    def __init__(self, store: Any, compute: ComputeFn | None = None, size: int = 64,
                 max_bytes: int = 768 << 20) -> None:
        self.store = store
        self.live = LiveViews(WarmBooks())
        self.compute_fn: ComputeFn = compute or (lambda s, k: query_compute(s, k, self.books, self.live))
        self._lru: SingleFlightLRU[Heatmap] = SingleFlightLRU(size, max_bytes, _nbytes)
        self.prefetch = Prefetch()
        self.gate: Any = None
        """The service's :class:`~liqmap.service.limits.ComputeGate` (set with the limits): prefetched
        books are built through it."""
        self._models = compute is None  # an injected compute (tests, benchmarks) reads no books

    @property
    def books(self) -> WarmBooks:
        """The warm-up books of every view (the live views' too)."""
        return self.live.books

    @books.setter
    def books(self, books: WarmBooks) -> None:
        self.live.books = books

    @property
    def hits(self) -> int:
        return self._lru.hits

    @property
    def misses(self) -> int:
        return self._lru.misses

    def get(self, key: ViewKey, version: int) -> Heatmap:
        return self._lru.get((key, version), lambda: self._compute(key))

    def _compute(self, key: ViewKey) -> Heatmap:
        heatmap = self.compute_fn(self.store, key)
        if key.end is None and self._models:
            try:
                self.prefetch_books(key)
            except Exception:  # the view is computed; the next day's request builds its books itself
                log.warning("prefetch of the next day's books of %s failed", key, exc_info=True)
        return heatmap

    def prefetch_books(self, key: ViewKey) -> None:
        """For a view of the latest data (``key.end`` None) that is less than :data:`PREFETCH_LEAD_MS`
        before its window starts on the next UTC midnight, build in a thread, through the compute gate, the
        view's live state with the warm-up start it will have then (:meth:`LiveViews.prepare`) and the
        warm-up books at that midnight (the split of the view from then on: :func:`liqmap.query.heatmap_for`,
        :mod:`liqmap.warmbooks`): the bar (or request) that moves the window then extends that state (or,
        when the price ladder moved, runs from those books) instead of building 30 days of books per venue
        and running the whole window on its way to the clients."""
        query = key.query()
        if query.warmup_interval_ms is not None:
            return  # a coarse warm-up builds its own books
        view = complete_bars(resolve_view(self.store, query))
        split = day_split(view.start) + DAY_MS
        due = split + query.range_ms  # the view's end when its window starts at ``split``
        if view.end < max(split, due - max(PREFETCH_LEAD_MS, view.interval_ms)):
            return
        ahead = resolve_view(self.store, replace(query, end=due))
        if day_split(ahead.start) != split or split - CONTEXT_BARS * ahead.interval_ms <= ahead.warmup_start:
            return  # no books at that split (no warm-up before it)
        args = (tuple(ahead.exchanges), ahead.symbol, ahead.interval_ms, ahead.warmup_start, split,
                query.model_config)

        def build() -> None:
            self.live.prepare(self.store, query, ahead.warmup_start)
            self.books.books(self.store, *args)

        self.prefetch.start(("next day", key, split), build if self.gate is None else self.gate.wrap(build))

    def get_with_bin(self, key: ViewKey, version: int, bin_size: float | None) -> Heatmap:
        """With ``bin_size`` (USD), pick the row count that gives bins of about that width over the
        price span the model chose for this view (the span comes from the default-rows computation)."""
        if bin_size is None:
            return self.get(key, version)
        probe = self.get(key, version)
        edges = probe.price_edges
        span = float(edges[-1] - edges[0]) if len(edges) > 1 else 0.0
        if span <= 0:
            return probe
        rows = int(min(max(math.ceil(span / bin_size), VIEW.rows.api_lo), VIEW.rows.api_hi))
        if rows == key.n_bins:
            return probe
        return self.get(replace(key, n_bins=rows), version)

    def clear(self) -> int:
        """Drop the computed heatmaps and the live views' states (the warm-up books stay: they are checked
        against the data)."""
        self.live.clear()
        return self._lru.clear()

    def stats(self) -> dict[str, int]:
        return self._lru.stats()


class ResponseCache:
    """LRU of encoded response bodies (JSON bytes, and each compressed coding once a client asked for it), so a
    repeated view costs a lookup instead of encoding and compressing megabytes again. Keys carry the
    data version, so entries of an older version are never served."""

    def __init__(self, size: int = 64, max_bytes: int = 256 << 20) -> None:
        self._lru: SingleFlightLRU[dict[str, bytes]] = SingleFlightLRU(
            size, max_bytes, lambda entry: sum(len(body) for body in entry.values())
        )

    def get(self, key: Any) -> dict[str, bytes] | None:
        return self._lru.lookup(key)

    def put(self, key: Any, name: str, body: bytes) -> None:
        # A new dict, not an update in place: the LRU accounts an entry's bytes when it is put.
        self._lru.put(key, {**(self._lru.peek(key) or {}), name: body})

    def clear(self) -> None:
        self._lru.clear()
