"""SingleFlightLRU: one computation per key under concurrency, bounds, failures not cached."""

from __future__ import annotations

import threading
import time

import pytest

from liqmap.lru import SingleFlightLRU


def test_concurrent_misses_compute_once() -> None:
    cache: SingleFlightLRU[int] = SingleFlightLRU(8, 1 << 20, lambda v: 8)
    calls: list[int] = []
    gate = threading.Event()

    def compute() -> int:
        calls.append(1)
        gate.wait(5)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", compute))) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(5)
    assert results == [42] * 6
    assert len(calls) == 1
    assert (cache.misses, cache.hits) == (1, 5)


def test_bounded_by_count_and_bytes_oldest_first() -> None:
    cache: SingleFlightLRU[str] = SingleFlightLRU(3, 10, len)
    for key in "abc":
        cache.get(key, lambda k=key: k * 3)  # 3 bytes each: 9 <= 10
    cache.get("a", lambda: "never")  # a becomes the newest
    cache.get("d", lambda: "dddd")  # 13 bytes > 10: b (the oldest) goes, then c would be next
    assert cache.peek("b") is None and cache.peek("a") == "aaa" and cache.peek("d") == "dddd"
    assert cache.stats()["bytes"] <= 10
    cache.get("e", lambda: "e" * 50)  # larger than the bound alone: kept, as the newest
    assert cache.peek("e") == "e" * 50 and cache.stats()["entries"] == 1


def test_failures_are_not_cached() -> None:
    cache: SingleFlightLRU[int] = SingleFlightLRU(4, 100, lambda v: 1)

    def boom() -> int:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        cache.get("k", boom)
    assert cache.get("k", lambda: 7) == 7
    with pytest.raises(ValueError):
        SingleFlightLRU(0, 1, lambda v: 1)


def test_lookup_marks_recent_use_and_peek_does_not() -> None:
    cache: SingleFlightLRU[str] = SingleFlightLRU(2, 100, len)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.lookup("a") == "1" and cache.lookup("x") is None
    cache.put("c", "3")  # b is now the least recently used
    assert cache.peek("b") is None and cache.peek("a") == "1"
    cache.peek("a")  # does not refresh a
    cache.put("d", "4")
    assert cache.peek("a") is None and cache.peek("c") == "3"
