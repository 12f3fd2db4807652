"""First-touch search (sparse table + binary lifting) against a brute-force scan."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from liqmap.model.sweep import FirstTouch


@given(
    values=st.lists(st.floats(-100, 100), min_size=1, max_size=80),
    queries=st.lists(st.tuples(st.integers(0, 90), st.floats(-120, 120)), min_size=1, max_size=40),
)
def test_first_touch_equals_a_linear_scan(values: list[float], queries: list[tuple[int, float]]) -> None:
    n = len(values)
    search = FirstTouch(np.array(values))
    starts = np.array([min(s, n) for s, _ in queries])
    levels = np.array([lv for _, lv in queries])
    expected = [next((t for t in range(s, n) if values[t] <= lv), n) for s, lv in zip(starts, levels, strict=True)]
    assert search.first_at_or_below(starts, levels).tolist() == expected
    # a known bound on the answer's distance allows a shorter search with the same answer
    span = int(max(e - s for e, s in zip(expected, starts, strict=True)))
    assert search.first_at_or_below(starts, levels, max_span=span).tolist() == expected


def test_touching_exactly_counts() -> None:
    search = FirstTouch(np.array([5.0, 4.0, 3.0, 3.0]))
    assert search.first_at_or_below(np.array([0, 0, 3, 4]), np.array([3.0, 2.9, 3.0, 100.0])).tolist() == [2, 4, 3, 4]


def test_grouped_sweeps_of_ordered_entry_points_equal_a_linear_scan() -> None:
    from liqmap.model.book import group_sweeps

    rng = np.random.default_rng(3)
    lows = 100 + np.cumsum(rng.normal(0, 0.3, 2000))
    search = FirstTouch(lows)
    births = np.sort(rng.integers(0, 2000, 300))
    base = lows[births][:, None, None] * np.array([0.97, 0.99, 0.995])[None, :, None]
    levels = base * (1 + np.linspace(0, 0.02, 7))[None, None, :]  # 7 ordered entry points per (bar, tier)
    got = group_sweeps(search, births, levels)
    for i, b in enumerate(births):
        for k in range(3):
            for j in range(7):
                want = next((t for t in range(b + 1, 2000) if lows[t] <= levels[i, k, j]), 2000)
                assert got[i, k, j] == want
    assert (np.abs(got[:, :, 0] - got[:, :, -1]) >= 64).any()  # the long-span path is exercised
