"""Metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqmap.errors import ConfigError
from liqmap.evaluate.metrics import average_ranks, calibration, capture, daily_totals, spearman


def test_average_ranks_give_ties_the_mean_rank() -> None:
    assert average_ranks(np.array([10.0, 20.0, 20.0, 5.0])).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert average_ranks(np.array([7.0, 7.0, 7.0])).tolist() == [2.0, 2.0, 2.0]


def test_spearman_without_ties_matches_the_textbook_formula() -> None:
    # ranks of y: 1 3 2 5 4 -> d = 0 -1 1 -1 1, sum d^2 = 4 -> rho = 1 - 6*4 / (5*24) = 0.8
    x = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert spearman(x, y) == pytest.approx(0.8)


def test_spearman_with_ties_is_pearson_of_average_ranks() -> None:
    # R(x) = 1 2.5 2.5 4, R(y) = 1 3 2 4; centred: (-1.5 0 0 1.5), (-1.5 .5 -.5 1.5)
    # sum products 4.5, sums of squares 4.5 and 5 -> rho = 4.5 / sqrt(22.5) = sqrt(0.9)
    assert spearman(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(math.sqrt(0.9))


def test_spearman_is_one_for_any_increasing_map_and_minus_one_reversed() -> None:
    x = np.array([0.1, 5.0, 7.0, 1e6, 3.0])
    assert spearman(x, np.log(x)) == pytest.approx(1.0)
    assert spearman(x, -(x**3)) == pytest.approx(-1.0)


def test_spearman_of_a_constant_is_undefined() -> None:
    assert math.isnan(spearman(np.ones(5), np.arange(5.0)))


def test_capture_sums_the_top_share_of_bars() -> None:
    predicted = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    realized = np.array([10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 90.0])
    assert capture(predicted, realized, 0.3) == pytest.approx(0.10)
    # reversed: the top 3 lie among the five bars tied at 0, each counting 3/5; they hold 90
    assert capture(-predicted, realized, 0.3) == pytest.approx(0.6 * 90 / 100)


def test_capture_splits_ties_at_the_cut_evenly() -> None:
    # top 3 of 10, four bars tied at the cut: each tied bar counts 3/4
    predicted = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    realized = np.array([4.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert capture(predicted, realized, 0.3) == pytest.approx(0.75 * 4 / 10)


def test_capture_of_a_constant_prediction_is_the_share() -> None:
    realized = np.random.default_rng(3).exponential(size=97)
    assert capture(np.zeros(97), realized, 0.3) == pytest.approx(0.3)


def test_calibration_totals_and_daily_ratios() -> None:
    day = 86_400_000
    ts = np.array([0, 3_600_000, day, day + 3_600_000])
    cal = calibration(np.array([1.0, 1.0, 2.0, 2.0]), np.array([2.0, 2.0, 1.0, 1.0]), ts)
    assert cal.ratio == pytest.approx(1.0)
    assert cal.days == 2
    # day 1: 4 realized / 2 predicted = 2; day 2: 2 / 4 = 0.5 (linear interpolation between them)
    assert cal.daily_q50 == pytest.approx((2.0 + 0.5) / 2)
    assert cal.daily_q10 == pytest.approx(0.5 + 0.1 * (2.0 - 0.5))


def test_metrics_refuse_unscored_bars() -> None:
    with pytest.raises(ConfigError):
        spearman(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    with pytest.raises(ConfigError):
        capture(np.ones(3), np.ones(4))


def test_daily_totals_sum_bars_per_utc_day() -> None:
    day = 86_400_000
    ts = np.array([0, 3_600_000, day + 5, 3 * day])
    predicted, realized = daily_totals(np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 6.0, 7.0, 8.0]), ts)
    assert predicted.tolist() == [3.0, 3.0, 4.0]
    assert realized.tolist() == [11.0, 7.0, 8.0]
