"""Baselines on hand-computed bars."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqmap.evaluate.baselines import fixed_tier, fixed_tier_levels, move_size_oi

from .conftest import make_frame


def test_b0_uses_oi_at_the_bar_start_and_the_adverse_move() -> None:
    frame = make_frame(
        open_=[100.0, 100.0, 200.0],
        high=[101.0, 101.0, 200.0],
        low=[99.0, 98.0, 190.0],
        close=[100.0, 99.0, 195.0],
        oi=[1e6, 3e6, 5e6],
    )
    long, short = move_size_oi(frame)
    assert math.isnan(long[0]) and math.isnan(short[0])  # OI at the first bar's start is unknown
    assert long[1] == pytest.approx(1e6 * 0.02)  # OI at bar 1's start = end of bar 0
    assert short[1] == pytest.approx(1e6 * 0.01)
    assert long[2] == pytest.approx(3e6 * 10 / 200)
    assert short[2] == 0.0


def test_fixed_tier_levels_are_entry_times_one_minus_and_plus_one_over_leverage() -> None:
    long, short = fixed_tier_levels(100.0, (5.0, 10.0, 25.0, 50.0, 100.0))
    assert long.tolist() == pytest.approx([80.0, 90.0, 96.0, 98.0, 99.0])
    assert short.tolist() == pytest.approx([120.0, 110.0, 104.0, 102.0, 101.0])


def test_fixed_tier_counts_levels_between_open_and_extreme_and_never_removes_them() -> None:
    # bar 1 adds 1e6 of OI at close 100: half long (level 90 at 10x), half short (level 110)
    frame = make_frame(
        open_=[100.0, 100.0, 100.0, 100.0, 100.0],
        high=[100.0, 100.0, 105.0, 111.0, 100.0],
        low=[100.0, 100.0, 89.0, 100.0, 85.0],
        close=[100.0, 100.0, 100.0, 100.0, 100.0],
        oi=[1e6, 2e6, 2e6, 2e6, 1e6],
    )
    long, short = fixed_tier(frame, leverage=(10.0,), weights=(1.0,))
    assert long.tolist() == pytest.approx([0.0, 0.0, 5e5, 0.0, 5e5])  # swept twice: nothing is removed
    assert short.tolist() == pytest.approx([0.0, 0.0, 0.0, 5e5, 0.0])


def test_fixed_tier_ignores_levels_born_in_the_same_bar() -> None:
    frame = make_frame(
        open_=[100.0, 100.0], high=[100.0, 120.0], low=[100.0, 80.0], close=[100.0, 100.0], oi=[1e6, 2e6]
    )
    long, short = fixed_tier(frame, leverage=(10.0,), weights=(1.0,))
    assert np.all(long == 0.0) and np.all(short == 0.0)
