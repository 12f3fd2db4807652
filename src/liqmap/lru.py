"""A bounded LRU that computes each missing key once, however many threads ask for it at the same time.

Used for computed heatmaps (:class:`liqmap.service.views.HeatmapCache`) and warm-up books
(:class:`liqmap.warmbooks.WarmBooks`). ``functools.lru_cache`` and ``cachetools`` bound entries by count
only and let concurrent misses of one key each run the (100 ms, GIL-releasing) computation; this class
bounds by count and bytes and makes the late callers wait for the first one's result.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

WAIT_SECONDS = 120.0
"""A caller waiting for another thread's computation gives up waiting after this and computes itself."""


class SingleFlightLRU(Generic[V]):
    """``get(key, compute)``: the cached value, or ``compute()`` run once per key while others wait.

    At most ``size`` entries and ``max_bytes`` by ``sizeof`` (the newest entry is always kept);
    exceptions of ``compute`` propagate to its caller and nothing is cached for the key."""

    def __init__(self, size: int, max_bytes: int, sizeof: Callable[[V], int]) -> None:
        if size < 1 or max_bytes < 1:
            raise ValueError(f"size and max_bytes must be >= 1, got {size}, {max_bytes}")
        self.size = size
        self.max_bytes = max_bytes
        self._sizeof = sizeof
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._inflight: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        while True:
            with self._lock:
                found = self._entries.get(key)
                if found is not None:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return found[0]
                waiter = self._inflight.get(key)
                if waiter is None:
                    waiter = threading.Event()
                    self._inflight[key] = waiter
                    break
            if not waiter.wait(timeout=WAIT_SECONDS):
                return compute()
        try:
            value = compute()
            self.put(key, value)
            with self._lock:
                self.misses += 1
            return value
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            waiter.set()

    def lookup(self, key: Hashable) -> V | None:
        """The cached value, marked as recently used, or None (nothing is computed)."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def peek(self, key: Hashable) -> V | None:
        """The cached value without computing (and without counting a hit)."""
        with self._lock:
            found = self._entries.get(key)
            return None if found is None else found[0]

    def put(self, key: Hashable, value: V) -> None:
        nbytes = self._sizeof(value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, nbytes)
            self._bytes += nbytes
            while len(self._entries) > 1 and (len(self._entries) > self.size or self._bytes > self.max_bytes):
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

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
