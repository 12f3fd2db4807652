"""Computing heatmap views from the store, with an LRU cache keyed by view + data version.

Concurrent requests for the same view wait for one computation instead of each running the model.
The compute function is injectable (tests, benchmarks); the default goes through :mod:`liqmap.query`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from liqmap.model.result import Heatmap
from liqmap.service.params import ViewKey

ComputeFn = Callable[[Any, ViewKey], Heatmap]
MIN_ROWS = 10


def query_compute(store: Any, key: ViewKey) -> Heatmap:
    """The default: :func:`liqmap.query.heatmap_for` on the store (side derived later, so ``both``)."""
    from liqmap.query import HeatmapQuery, heatmap_for

    query = HeatmapQuery(
        symbol=key.symbol,
        exchanges=key.exchanges,
        range=key.range,
        end=key.end,
        side="both",
        leverage=key.leverage,
        ages=key.ages,
        n_bins=key.n_bins,
        max_columns=key.max_columns,
    )
    return heatmap_for(store, query)


def _nbytes(heatmap: Heatmap) -> int:
    return int(sum(getattr(heatmap, name).nbytes for name in ("long", "short", "times", "price_edges")))


class HeatmapCache:
    """LRU of computed heatmaps; entries from an older data version are never served."""

    def __init__(self, store: Any, compute: ComputeFn | None = None, size: int = 64,
                 max_bytes: int = 768 << 20) -> None:
        self.store = store
        self.compute_fn: ComputeFn = compute or query_compute
        self.size = size
        self.max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[tuple[ViewKey, int], Heatmap] = OrderedDict()
        self._inflight: dict[tuple[ViewKey, int], threading.Event] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: ViewKey, version: int) -> Heatmap:
        slot = (key, version)
        while True:
            with self._lock:
                if slot in self._entries:
                    self._entries.move_to_end(slot)
                    self.hits += 1
                    return self._entries[slot]
                waiter = self._inflight.get(slot)
                if waiter is None:
                    waiter = threading.Event()
                    self._inflight[slot] = waiter
                    break
            waiter.wait(timeout=120)
        try:
            heatmap = self.compute_fn(self.store, key)
            with self._lock:
                self.misses += 1
                if slot not in self._entries:
                    self._bytes += _nbytes(heatmap)
                self._entries[slot] = heatmap
                self._entries.move_to_end(slot)
                # Bounded by count and by memory (a 2000 x 2000 view holds 64 MB of float64 grids).
                while len(self._entries) > 1 and (len(self._entries) > self.size or self._bytes > self.max_bytes):
                    _, dropped = self._entries.popitem(last=False)
                    self._bytes -= _nbytes(dropped)
            return heatmap
        finally:
            with self._lock:
                self._inflight.pop(slot, None)
            waiter.set()

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
        rows = int(min(max(math.ceil(span / bin_size), MIN_ROWS), 2000))
        if rows == key.n_bins:
            return probe
        return self.get(replace(key, n_bins=rows), version)

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._bytes = 0
            return count

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._entries), "size": self.size, "bytes": self._bytes, "hits": self.hits,
                    "misses": self.misses}


class ResponseCache:
    """LRU of encoded response bodies (JSON bytes, and their gzip once a client asked for it), so a
    repeated view costs a lookup instead of encoding and compressing megabytes again. Keys carry the
    data version, so entries of an older version are never served."""

    def __init__(self, size: int = 64, max_bytes: int = 256 << 20) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Any, dict[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> dict[str, bytes] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Any, name: str, body: bytes) -> None:
        with self._lock:
            entry = self._entries.setdefault(key, {})
            self._entries.move_to_end(key)
            self._bytes += len(body) - len(entry.get(name, b""))
            entry[name] = body
            while self._entries and (len(self._entries) > self.size or self._bytes > self.max_bytes):
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= sum(len(v) for v in dropped.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
