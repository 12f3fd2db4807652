"""Aligning realized series to the bars."""

from __future__ import annotations

import numpy as np

from liqmap.evaluate.dataset import align, bin_prints

HOUR = 3_600_000


def test_prints_are_summed_into_their_bar_and_side() -> None:
    ts = np.array([0, HOUR, 2 * HOUR])
    print_ts = np.array([-1, 0, HOUR - 1, HOUR, 2 * HOUR + 5, 3 * HOUR])  # first and last fall outside
    sides = np.array(["long", "long", "short", "long", "short", "long"])
    usd = np.array([100.0, 1.0, 2.0, 4.0, 8.0, 16.0])
    long, short = bin_prints(ts, HOUR, print_ts, sides, usd)
    assert long.tolist() == [1.0, 4.0, 0.0]
    assert short.tolist() == [2.0, 0.0, 8.0]


def test_align_leaves_missing_bars_nan() -> None:
    out = align(np.array([0, HOUR, 2 * HOUR]), np.array([0, 2 * HOUR, 5 * HOUR]), np.array([1.0, 3.0, 9.0]))
    assert out[0] == 1.0 and np.isnan(out[1]) and out[2] == 3.0
