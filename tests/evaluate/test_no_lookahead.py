"""Property: changing anything after bar t never changes a prediction for bars <= t."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liqmap.evaluate.harness import CANDLE_COLOUR, baseline_predictions, model_predictions
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame

from .conftest import make_frame, random_walk_frame

N = 80


def perturbed_after(frame: MarketFrame, t: int, seed: int) -> MarketFrame:
    """Same bars up to t; bars after t replaced by another random walk starting elsewhere."""
    other = random_walk_frame(seed + 1000, N)
    scale = 0.7 + 0.6 * np.random.default_rng(seed).random()
    cut = slice(t + 1, None)

    def mix(a: np.ndarray, b: np.ndarray, factor: float = 1.0) -> np.ndarray:
        out = a.copy()
        out[cut] = b[cut] * factor
        return out

    return make_frame(
        mix(frame.open, other.open, scale),
        mix(frame.high, other.high, scale),
        mix(frame.low, other.low, scale),
        mix(frame.close, other.close, scale),
        mix(frame.oi_usd, other.oi_usd, 1 / scale),
        mix(frame.volume, other.volume, scale),
    )


CONFIGS = (ModelConfig(), CANDLE_COLOUR, ModelConfig(decay_half_life_hours=6.0, side="candle", turnover=0.5))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(2, N - 2), which=st.integers(0, len(CONFIGS) - 1))
def test_predictions_up_to_t_ignore_everything_after_t(seed: int, t: int, which: int) -> None:
    frame = random_walk_frame(seed, N)
    changed = perturbed_after(frame, t, seed)
    assert not np.allclose(frame.high[t + 1 :], changed.high[t + 1 :])
    config = CONFIGS[which]
    before = model_predictions(frame, config)
    after = model_predictions(changed, config)
    for side in (0, 1):
        np.testing.assert_allclose(before[side][: t + 1], after[side][: t + 1], rtol=1e-9, atol=1e-6)
    base_before = baseline_predictions(frame)
    base_after = baseline_predictions(changed)
    for name, pair in base_before.items():
        for side in (0, 1):
            np.testing.assert_allclose(
                pair[side][: t + 1], base_after[name][side][: t + 1], rtol=1e-9, atol=1e-6, err_msg=name
            )
