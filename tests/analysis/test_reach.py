"""Reach probability (liqmap.analysis.reach): hand values, a Monte Carlo check of the barrier formula,
monotonicity properties, the scoring helpers on hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqmap.analysis.reach import (
    RECALIBRATION,
    barrier_probability,
    brier,
    distance_only,
    fit_logistic,
    hourly_sigma,
    parkinson_variance,
    recalibrate,
    reliability,
    touch_probability,
)
from liqmap.errors import ConfigError

HOUR = 3_600_000


def test_barrier_hand_values() -> None:
    # d = 1.959964 sigma sqrt(T): 2 (1 - Phi(1.959964)) = 2 * 0.025 = 0.05 (normal table)
    sigma, hours = 0.01, 4.0
    d = 1.959964 * sigma * 2.0
    assert barrier_probability(np.array([d]), np.array([sigma]), hours)[0] == pytest.approx(0.05, abs=1e-6)
    assert barrier_probability(np.array([0.0]), np.array([sigma]), hours)[0] == 1.0
    # d = sigma sqrt(T): 2 (1 - 0.841345) = 0.317311
    assert barrier_probability(np.array([0.02]), np.array([0.01]), 4.0)[0] == pytest.approx(0.317311, abs=1e-6)
    with pytest.raises(ConfigError):
        barrier_probability(np.array([0.01]), np.array([0.01]), 0.0)


def test_barrier_matches_a_simulated_brownian_path() -> None:
    """Independent check: the share of simulated driftless paths whose running maximum reaches d."""
    rng = np.random.default_rng(7)
    sigma, hours, steps, paths = 0.01, 24.0, 2_000, 4_000
    increments = rng.normal(0.0, sigma * math.sqrt(hours / steps), size=(paths, steps))
    running_max = np.cumsum(increments, axis=1).max(axis=1)
    d = 0.05
    simulated = float((running_max >= d).mean())
    exact = barrier_probability(np.array([d]), np.array([sigma]), hours)[0]
    # discrete monitoring misses a few crossings (Broadie-Glasserman shift ~0.58 sigma sqrt(dt)): allow it
    assert simulated == pytest.approx(exact, abs=0.03)
    assert simulated <= exact + 0.01


@settings(max_examples=60, deadline=None)
@given(d1=st.floats(0, 0.2), d2=st.floats(0, 0.2), sigma=st.floats(1e-4, 0.05), hours=st.sampled_from([4.0, 24.0]))
def test_probability_falls_with_distance_and_is_symmetric(d1: float, d2: float, sigma: float, hours: float) -> None:
    near, far = sorted((d1, d2))
    p = touch_probability(100.0, np.array([100.0 * math.exp(near), 100.0 * math.exp(far)]), sigma, hours)
    # 1e-9: exp/log round-trips move a level by ~1 ulp, which a steep curve (sigma 1e-4) turns into ~1e-11
    assert p[0] >= p[1] - 1e-9
    below = touch_probability(100.0, 100.0 * math.exp(-far), sigma, hours)
    assert float(below) == pytest.approx(float(p[1]), abs=1e-9)
    assert p.min() >= 0.0 and p.max() <= 1.0
    longer = touch_probability(100.0, 100.0 * math.exp(far), sigma, 24.0)
    shorter = touch_probability(100.0, 100.0 * math.exp(far), sigma, 4.0)
    assert float(longer) >= float(shorter) - 1e-12 or far == 0


def test_unknown_sigma_gives_nan_and_bad_prices_raise() -> None:
    assert np.isnan(touch_probability(100.0, 101.0, float("nan"), 24.0))
    with pytest.raises(ConfigError):
        touch_probability(0.0, 101.0, 0.01, 24.0)
    with pytest.raises(ConfigError):
        touch_probability(100.0, 101.0, 0.01, 7.0)


def test_recalibration_is_the_logistic_of_the_log_odds() -> None:
    a, b = RECALIBRATION[24.0]
    raw = 0.3
    expected = 1 / (1 + math.exp(-(a + b * math.log(raw / (1 - raw)))))
    assert recalibrate(np.array([raw]), (a, b))[0] == pytest.approx(expected)


def test_parkinson_and_hourly_sigma_by_hand() -> None:
    assert parkinson_variance(np.array([math.e ** 0.1]), np.array([1.0]))[0] == pytest.approx(0.01 / (4 * math.log(2)))
    n = 200
    low = np.full(n, 100.0)
    high = low * math.exp(0.004)
    # 30-minute bars: each bar's variance 0.004^2 / (4 ln 2) over half an hour
    sigma = hourly_sigma(high, low, HOUR // 2)
    expected = math.sqrt(0.004**2 / (4 * math.log(2)) / 0.5)
    assert np.isnan(sigma[:47]).all()  # fewer than 24 hours of bars
    np.testing.assert_allclose(sigma[47:], expected)
    # the window is trailing: doubling the range of later bars leaves earlier estimates alone
    high2 = high.copy()
    high2[100:] = low[100:] * math.exp(0.008)
    np.testing.assert_array_equal(hourly_sigma(high2, low, HOUR // 2)[:100], sigma[:100])


def test_scores_on_hand_cases() -> None:
    p = np.array([0.05, 0.05, 0.95, 0.95])
    y = np.array([0.0, 1.0, 1.0, 1.0])
    assert brier(p, y) == pytest.approx((0.05**2 + 0.95**2 + 0.05**2 + 0.05**2) / 4)
    rel = reliability(p, y)
    # bin 0: mean p 0.05, observed 0.5, 2 of 4; bin 9: 0.95 vs 1.0, 2 of 4
    assert rel.ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)
    assert rel.counts[0] == 2 and rel.counts[9] == 2 and sum(rel.counts) == 4
    assert rel.observed[0] == pytest.approx(0.5)
    assert distance_only(np.array([0.01, 0.02, 0.03, 0.04, np.nan]), np.array([0.025, 0.0, 0.05])).tolist() == [
        0.5, 1.0, 0.0]


def test_fit_logistic_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2, 40_000)
    y = (rng.random(x.size) < 1 / (1 + np.exp(-(-0.4 + 0.8 * x)))).astype(float)
    a, b = fit_logistic(x, y)
    assert a == pytest.approx(-0.4, abs=0.05) and b == pytest.approx(0.8, abs=0.05)
