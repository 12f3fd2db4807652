"""Price bins and time columns."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from liqmap.model.grid import bin_index, column_plan


@given(
    lo=st.floats(0.01, 1e5), width=st.floats(1e-3, 1e4), n=st.integers(1, 300), uniform=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_bin_index_equals_searchsorted_even_exactly_at_edges(
    lo: float, width: float, n: int, uniform: bool, seed: int
) -> None:
    edges = np.linspace(lo, lo + width, n + 1) if uniform else np.geomspace(lo, lo + width, n + 1)
    rng = np.random.default_rng(seed)
    levels = np.concatenate([
        rng.uniform(lo - width, lo + 2 * width, 8 * n + 10),
        edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
    ])
    expected = np.searchsorted(edges, levels, side="right") - 1
    expected[(expected < 0) | (expected >= n)] = -1
    assert bin_index(levels, edges).tolist() == expected.tolist()


def test_columns_group_bars_on_absolute_time_boundaries() -> None:
    ts = 60_000 * np.arange(5, 15)  # 10 one-minute bars starting at minute 5
    plan = column_plan(ts, 60_000, 4)
    # groups of 3 minutes aligned to multiples of 3 minutes: [5], [6-8], [9-11], [12-14]
    assert plan.group == 3
    assert plan.first_bar.tolist() == [0, 1, 4, 7] and plan.last_bar.tolist() == [0, 3, 6, 9]
    assert plan.col_of_bar.tolist() == [0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert column_plan(ts, 60_000, None).n_columns == 10


def test_bars_before_the_lead_boundary_share_one_leading_column() -> None:
    ts = 60_000 * np.arange(5, 15)
    # boundary at or after minute 10 for groups of 3: minute 12; minutes 5-11 form the leading column
    plan = column_plan(ts, 60_000, None, group=3, lead_until=10 * 60_000)
    assert plan.first_bar.tolist() == [0, 7] and plan.last_bar.tolist() == [6, 9]
    # one bar per column: the bars before minute 9 share the first
    single = column_plan(ts, 60_000, None, group=1, lead_until=9 * 60_000)
    assert single.first_bar.tolist() == [0, 4, 5, 6, 7, 8, 9] and single.last_bar.tolist()[0] == 3
    # a boundary before the first bar changes nothing
    assert column_plan(ts, 60_000, None, group=3, lead_until=0).first_bar.tolist() == [0, 1, 4, 7]
