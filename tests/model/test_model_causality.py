"""The evaluation's premise: a bar's modelled liquidations use only earlier bars plus its own open, high, low.

``liqmap.evaluate`` scores every bar from one engine run over the whole series, which is only honest if
``swept_long/short[t]`` ignores everything the bar's start does not know: its close, volume, taker flow,
funding, its closing OI, and every later bar. These tests change exactly those inputs and require the
predictions up to the bar to stay equal, bit for bit.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_frames import configs, random_frames

from liqmap.model import MarketFrame, ModelConfig, compute_heatmap

NAN_ = float("nan")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def future_changed(frame: MarketFrame, k: int, seed: int) -> MarketFrame:
    """``frame`` with every input bar ``k``'s start does not know replaced by other valid values."""
    rng = np.random.default_rng(seed)
    n = len(frame)

    def scramble(x: np.ndarray, first: int) -> np.ndarray:
        y = x.copy()
        y[first:] = np.abs(y[first:]) * rng.uniform(0.3, 3.0, n - first)
        return y

    open_ = scramble(frame.open, k + 1)
    high, low = frame.high.copy(), frame.low.copy()
    high[k + 1 :] = open_[k + 1 :] * rng.uniform(1.0, 1.1, n - k - 1)
    low[k + 1 :] = open_[k + 1 :] * rng.uniform(0.9, 1.0, n - k - 1)
    close = frame.close.copy()
    close[k:] = low[k:] + (high[k:] - low[k:]) * rng.uniform(0.0, 1.0, n - k)
    oi = scramble(frame.oi_usd, k)
    oi[k:][rng.random(n - k) < 0.2] = np.nan
    if not np.isfinite(oi).any():  # a frame needs some OI; the last bar is in the changed part
        oi[-1] = 1e6
    volume = scramble(frame.volume, k)
    taker_buy, quote_volume, funding = (
        frame.taker_buy_volume.copy(),
        frame.quote_volume.copy(),
        frame.funding.copy(),
    )
    taker_buy[k:] = volume[k:] * rng.uniform(0.0, 1.0, n - k)
    quote_volume[k:] = volume[k:] * (low[k:] + (high[k:] - low[k:]) * rng.uniform(0.0, 1.0, n - k))
    funding[k:] = rng.normal(0.0, 5e-4, n - k)
    return replace(
        frame,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        oi_usd=oi,
        taker_buy_volume=taker_buy,
        funding=funding,
        quote_volume=quote_volume,
    )


@SETTINGS
@given(
    frame=random_frames(max_bars=40),
    knobs=configs,
    cut=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
    intrabar=st.sampled_from([0.0, 0.75]),
    diffuse=st.sampled_from([0.0, 0.005]),
    turnover=st.sampled_from([0.0, 0.05]),
)
def test_a_bars_prediction_ignores_what_its_start_does_not_know(
    frame: MarketFrame, knobs: dict, cut: float, seed: int, intrabar: float, diffuse: float, turnover: float
) -> None:
    k = min(len(frame) - 1, int(cut * len(frame)))
    config = ModelConfig(
        leverage=(5.0, 25.0, 100.0),
        leverage_weights=(0.3, 0.4, 0.3),
        intrabar_path=intrabar,
        diffuse_share=diffuse,
        turnover=turnover,
        **knobs,
    )
    changed = future_changed(frame, k, seed)
    base = compute_heatmap([frame], config, n_bins=20, max_columns=None)
    other = compute_heatmap([changed], config, n_bins=20, max_columns=None)
    np.testing.assert_array_equal(other.swept_long[: k + 1], base.swept_long[: k + 1])
    np.testing.assert_array_equal(other.swept_short[: k + 1], base.swept_short[: k + 1])


def test_the_check_catches_a_prediction_that_reads_the_close() -> None:
    """The perturbation reaches the bar's own close: a predictor using it would fail the test above."""
    from model_frames import frame as make_frame

    f = make_frame([100.0, 101.0, 99.0, 102.0, 98.0], [1e6, 1.1e6, 1.2e6, 1.1e6, 1.3e6])
    changed = future_changed(f, 2, seed=1)
    assert np.array_equal(changed.close[:2], f.close[:2])
    assert not np.array_equal(changed.close[2:], f.close[2:])
    assert np.array_equal(changed.high[:3], f.high[:3]) and np.array_equal(changed.low[:3], f.low[:3])
    assert not np.array_equal(changed.oi_usd[2:], f.oi_usd[2:])
    for name in ("volume", "taker_buy_volume", "funding", "quote_volume", "oi_usd"):
        a, b = getattr(changed, name)[:2], getattr(f, name)[:2]
        assert np.array_equal(a, b, equal_nan=True), name


def test_the_same_bar_term_starts_from_the_last_known_oi() -> None:
    """A missing OI value before a bar: the same-bar term uses the latest earlier OI, as if it had been repeated
    (and so do the streaming model and the reference, which the other property tests hold equal)."""
    from model_frames import frame as make_frame

    from liqmap.model.inputs import level_ratios
    from liqmap.model.intrabar import intrabar_swept

    closes = [100.0, 101.0, 99.0, 102.0, 98.0, 100.0]
    high = [c * 1.02 for c in closes]
    low = [c * 0.97 for c in closes]
    hole = make_frame(closes, [1e6, 1.1e6, NAN_, 1.2e6, NAN_, 1.3e6], open_=closes, high=high, low=low, volume=[5.0] * 6)
    repeated = make_frame(closes, [1e6, 1.1e6, 1.1e6, 1.2e6, 1.2e6, 1.3e6], open_=closes, high=high, low=low, volume=[5.0] * 6)
    config = ModelConfig(intrabar_path=0.75, turnover=0.05)
    ratios, _ = level_ratios(config, "binance", "BTC")
    with_hole = intrabar_swept(config, hole, ratios)
    with_repeat = intrabar_swept(config, repeated, ratios)
    for side in (0, 1):
        np.testing.assert_allclose(with_hole[side], with_repeat[side], rtol=1e-15)
        assert (with_hole[side][1:] > 0).all()
