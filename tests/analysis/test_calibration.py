"""Calibrated USD (liqmap.analysis.calibration): the trailing median factor by hand, causality, fallback,
and that scaling never changes a ranking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqmap.analysis.calibration import (
    DAY_MS,
    FALLBACK,
    Calibration,
    fit,
    median_ratio,
    scale_heatmap,
    trailing_factors,
)
from liqmap.errors import ConfigError
from liqmap.model.result import Heatmap

T0 = 1_767_225_600_000  # 2026-01-01


def test_median_ratio_skips_empty_days() -> None:
    ratio, days = median_ratio(np.array([10.0, 20.0, 0.0, 40.0, 5.0]), np.array([1.0, 4.0, 3.0, 2.0, 0.0]))
    assert days == 3 and ratio == pytest.approx(0.1)  # ratios 0.1, 0.2, 0.05
    assert np.isnan(median_ratio(np.array([1.0, 1.0]), np.array([1.0, 1.0]))[0])  # fewer than 3 days


def test_fit_uses_the_complete_days_before_and_falls_back_per_side() -> None:
    days = T0 + DAY_MS * np.arange(10)
    pred = np.full(10, 100.0)
    real_long = np.arange(1.0, 11.0)  # ratio of day i = (i + 1) / 100
    real_short = np.zeros(10)  # no short prints
    cal = fit(days, pred, pred, real_long, real_short, source="prints", before=int(days[9]) + 5 * 3_600_000)
    # the 7 days before day 9: days 2..8, ratios 0.03 .. 0.09, median 0.06
    assert cal.factor_long == pytest.approx(0.06)
    assert cal.factor_short == FALLBACK.factor_short
    assert cal.source == "prints+fallback-sample"
    assert cal.fitted_on == (int(days[2]), int(days[8]) + DAY_MS)
    nothing = fit(days, pred, pred, real_short, real_short, source="prints", before=int(days[9]))
    assert nothing is FALLBACK


def test_trailing_factors_are_causal() -> None:
    rng = np.random.default_rng(1)
    n = 24 * 20
    ts = T0 + 3_600_000 * np.arange(n)
    pred = (rng.random(n) * 100, rng.random(n) * 100)
    real = (pred[0] * 0.05 * rng.lognormal(0, 0.3, n), pred[1] * 0.04 * rng.lognormal(0, 0.3, n))
    f_long, f_short = trailing_factors(ts, pred, real)
    assert (f_long[: 24 * 3] == FALLBACK.factor_long).all()  # fewer than 3 earlier days
    cut = 24 * 12 + 5  # change everything from the middle of day 12 on
    changed = (real[0].copy(), real[1].copy())
    changed[0][cut:] *= 10
    changed[1][cut:] = 0
    g_long, g_short = trailing_factors(ts, pred, changed)
    np.testing.assert_array_equal(g_long[: 24 * 13], f_long[: 24 * 13])  # days <= 12 only see days < 12
    np.testing.assert_array_equal(g_short[: 24 * 13], f_short[: 24 * 13])
    assert f_long[-1] == pytest.approx(0.05, rel=0.2)


def _heatmap(long: np.ndarray, short: np.ndarray) -> Heatmap:
    k = long.shape[0]
    return Heatmap(symbol="BTC", exchanges=("binance",), times=T0 + 3_600_000 * np.arange(k),
                   price_edges=np.linspace(90, 110, long.shape[1] + 1), long=long, short=short,
                   swept_long=long.sum(axis=1), swept_short=short.sum(axis=1),
                   candles={"close": np.full(k, 100.0)}, interval_ms=3_600_000)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), fl=st.floats(1e-3, 10), fs=st.floats(1e-3, 10))
def test_scaling_never_changes_a_ranking(seed: int, fl: float, fs: float) -> None:
    rng = np.random.default_rng(seed)
    hm = _heatmap(rng.random((3, 20)) * 1e6, rng.random((3, 20)) * 1e6)
    scaled = scale_heatmap(hm, Calibration("prints", fl, fs))
    for raw, new, f in ((hm.long, scaled.long, fl), (hm.short, scaled.short, fs)):
        np.testing.assert_allclose(new, raw * f)
        np.testing.assert_array_equal(np.argsort(new, axis=None, kind="stable"), np.argsort(raw, axis=None, kind="stable"))
    np.testing.assert_allclose(scaled.swept_long, hm.swept_long * fl)


def test_factor_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        Calibration("prints", 0.0, 1.0)
