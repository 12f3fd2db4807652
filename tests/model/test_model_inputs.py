"""Bad model input gets a clear error naming the problem, never a silently wrong heatmap."""

import numpy as np
import pytest

from liqmap.errors import BadSeriesError, ConfigError
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.types import HOUR_MS


def _frame(**overrides: object) -> MarketFrame:
    n = 4
    cols: dict[str, object] = dict(
        exchange="binance", symbol="BTC", interval_ms=HOUR_MS, ts=np.arange(n) * HOUR_MS,
        open=[100.0, 101, 102, 103], high=[102.0, 103, 104, 105], low=[99.0, 100, 101, 102],
        close=[101.0, 102, 103, 104], volume=[1.0] * n, oi_usd=[1e6, 1.1e6, 1.2e6, 1.1e6],
    )
    cols.update(overrides)
    return MarketFrame(**cols)  # type: ignore[arg-type]


def test_a_valid_frame_fills_optional_columns_with_nan() -> None:
    frame = _frame()
    assert len(frame) == 4
    assert np.isnan(frame.funding).all() and np.isnan(frame.taker_buy_volume).all()
    assert frame.slice(1, 3).close.tolist() == [102.0, 103.0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"close": [101.0, np.nan, 103, 104]}, "missing price at bar 1"),
        ({"low": [99.0, 0.0, 101, 102]}, "non-positive or missing price at bar 1"),
        ({"open": [100.0, 101, -5, 103]}, "at bar 2"),
        ({"ts": np.array([0, 2, 1, 3]) * HOUR_MS}, "not strictly increasing at bar 2"),
        ({"ts": np.array([0, 1, 3, 4]) * HOUR_MS}, "gap in bars at bar 2"),
        ({"high": [100.5, 103, 104, 105]}, "high/low do not bracket open/close at bar 0"),
        ({"oi_usd": [1e6, -1.0, 1e6, 1e6]}, "negative open interest at bar 1"),
        ({"oi_usd": [np.nan] * 4}, "no open interest"),
        ({"volume": [1.0, 2.0]}, "column volume has 2 rows"),
    ],
)
def test_bad_series_are_refused_naming_the_bar(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(BadSeriesError, match=message):
        _frame(**overrides)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"leverage": (1.0,), "leverage_weights": (1.0,)}, "1.0x is impossible"),
        ({"leverage": (500.0,), "leverage_weights": (1.0,)}, "500.0x is impossible"),
        ({"leverage": (10.0, 20.0), "leverage_weights": (1.0,)}, "1 weights for 2 tiers"),
        ({"leverage_weights": (0, 0, 0, 0, 0)}, "positive sum"),
        ({"taker_weight": 1.5}, "taker_weight"),
        ({"decay_half_life_hours": 0.0}, "decay_half_life_hours"),
        ({"flat_mmr": 0.7}, "flat_mmr"),
        ({"age_buckets_hours": (24.0, 4.0)}, "age_buckets_hours"),
    ],
)
def test_impossible_model_parameters_are_refused_by_name(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)  # type: ignore[arg-type]


def test_age_labels_follow_the_bucket_edges() -> None:
    assert ModelConfig(age_buckets_hours=(4.0, 24.0, 168.0)).age_labels == ("<4h", "4h-1d", "1d-7d", ">7d")
