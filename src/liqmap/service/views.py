"""Computing heatmap views from the store, with an LRU cache keyed by view + data version.

Concurrent requests for the same view wait for one computation instead of each running the model.
The compute function is injectable (tests, benchmarks); the default goes through :mod:`liqmap.query`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from liqmap.liveviews import LiveViews
from liqmap.lru import SingleFlightLRU
from liqmap.model.result import Heatmap
from liqmap.service.params import ViewKey
from liqmap.viewspec import VIEW
from liqmap.warmbooks import WarmBooks

ComputeFn = Callable[[Any, ViewKey], Heatmap]


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
        self.books = WarmBooks()
        self.live = LiveViews(self.books)
        self.compute_fn: ComputeFn = compute or (lambda s, k: query_compute(s, k, self.books, self.live))
        self._lru: SingleFlightLRU[Heatmap] = SingleFlightLRU(size, max_bytes, _nbytes)

    @property
    def hits(self) -> int:
        return self._lru.hits

    @property
    def misses(self) -> int:
        return self._lru.misses

    def get(self, key: ViewKey, version: int) -> Heatmap:
        return self._lru.get((key, version), lambda: self.compute_fn(self.store, key))

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
