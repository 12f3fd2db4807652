"""Property tests: the vectorised engine equals the per-position reference, and the model's invariants."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_frames import configs, random_frames

from liqmap.model import MarketFrame, ModelConfig, compute_heatmap
from liqmap.model.reference import reference_heatmap
from liqmap.types import HOUR_MS

TIERS = {"leverage": (5.0, 10.0, 25.0, 50.0, 100.0), "leverage_weights": (0.1, 0.2, 0.3, 0.25, 0.15)}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WIDE = np.geomspace(1.0, 10_000.0, 41)  # contains every level of the random frames (prices ~ 100)


def close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-9 * scale))


def scaled(frame: MarketFrame, c: float) -> MarketFrame:
    return MarketFrame(
        exchange=frame.exchange, symbol=frame.symbol, interval_ms=frame.interval_ms, ts=frame.ts,
        open=frame.open, high=frame.high, low=frame.low, close=frame.close, volume=frame.volume * c,
        oi_usd=frame.oi_usd * c, taker_buy_volume=frame.taker_buy_volume * c, funding=frame.funding,
        quote_volume=frame.quote_volume * c,
    )


@SETTINGS
@given(
    a=random_frames(max_bars=25),
    b=random_frames(max_bars=15, exchange="okx", start=3 * HOUR_MS),
    knobs=configs,
    turnover=st.sampled_from([0.0, 0.05]),
    two=st.booleans(),
    tier_filter=st.sampled_from([None, [10.0, 100.0]]),
    age_filter=st.sampled_from([None, [0], [1, 2]]),
    bins=st.integers(1, 30),
)
def test_engine_equals_the_per_position_reference(
    a: MarketFrame, b: MarketFrame, knobs: dict, turnover: float, two: bool, tier_filter, age_filter, bins: int
) -> None:
    config = ModelConfig(**TIERS, **knobs, turnover=turnover, above_max_leverage="cap")
    frames = [a, b] if two and len(b) + 3 <= len(a) else [a]
    edges = np.linspace(70.0, 130.0, bins + 1)
    labels = config.age_labels
    ages = None if age_filter is None else [labels[i] for i in age_filter if i < len(labels)] or None
    got = compute_heatmap(frames, config, price_edges=edges, leverage=tier_filter, ages=ages)
    want = reference_heatmap(frames, config, price_edges=edges, leverage=tier_filter, ages=ages)
    for name in ("long", "short", "swept_long", "swept_short"):
        assert close(getattr(got, name), getattr(want, name)), name
    assert got.times.tolist() == want.times.tolist()


@SETTINGS
@given(frame=random_frames(max_bars=40), knobs=configs)
def test_no_nan_or_negative_density_and_swept_never_exceeds_the_book(frame: MarketFrame, knobs: dict) -> None:
    # without the same-bar term and the diffuse layer (their positions are never in the book)
    config = ModelConfig(**TIERS, **knobs, turnover=0.05, intrabar_path=0.0, diffuse_share=0.0, above_max_leverage="cap")
    hm = compute_heatmap([frame], config, price_edges=WIDE)
    for arr in (hm.long, hm.short, hm.swept_long, hm.swept_short):
        assert np.isfinite(arr).all() and (arr >= 0).all()
    # what bar t sweeps was in the book at the end of bar t - 1 (the wide grid holds every level)
    assert hm.swept_long[0] == 0 and hm.swept_short[0] == 0
    book_long, book_short = hm.long.sum(axis=1), hm.short.sum(axis=1)
    assert (hm.swept_long[1:] <= book_long[:-1] * (1 + 1e-9) + 1e-6).all()
    assert (hm.swept_short[1:] <= book_short[:-1] * (1 + 1e-9) + 1e-6).all()


@SETTINGS
@given(frame=random_frames(max_bars=40), knobs=configs)
def test_notional_is_conserved(frame: MarketFrame, knobs: dict) -> None:
    # Without any shrinking rule: in the book + swept so far == OI added so far, bar by bar
    knobs = {**knobs, "close_rule": "none", "decay_half_life_hours": None}
    config = ModelConfig(**TIERS, **knobs, turnover=0.0, diffuse_share=0.0, above_max_leverage="cap")
    hm = compute_heatmap([frame], config, price_edges=WIDE)
    added, ref = [], np.nan
    for oi in frame.oi_usd:  # positive OI changes against the last known OI, computed here independently
        added.append(max(oi - ref, 0.0) if np.isfinite(oi) and np.isfinite(ref) else 0.0)
        ref = oi if np.isfinite(oi) else ref
    book = hm.long.sum(axis=1) + hm.short.sum(axis=1)
    swept = np.cumsum(hm.swept_long + hm.swept_short)
    np.testing.assert_allclose(book + swept, np.cumsum(added), rtol=1e-9, atol=1e-3)


@SETTINGS
@given(n=st.integers(2, 30), seed=st.integers(0, 2**32 - 1), knobs=configs)
def test_flat_prices_keep_the_whole_book_under_the_proportional_rule(n: int, seed: int, knobs: dict) -> None:
    # No sweeps when price never moves: the book total follows B_t = B_{t-1} min(1, oi_t / oi_ref) + gain_t
    rng = np.random.default_rng(seed)
    oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.1, n)))
    frame = MarketFrame("binance", "BTC", HOUR_MS, HOUR_MS * np.arange(n), *([np.full(n, 100.0)] * 4),
                        np.ones(n), oi)
    knobs = {**knobs, "close_rule": "proportional", "decay_half_life_hours": None}
    hm = compute_heatmap([frame], ModelConfig(**TIERS, **knobs, turnover=0.0, above_max_leverage="cap"),
                         price_edges=WIDE)
    expected, total = [0.0], 0.0
    for t in range(1, n):
        total = total * min(1.0, oi[t] / oi[t - 1]) + max(oi[t] - oi[t - 1], 0.0)
        expected.append(total)
    np.testing.assert_allclose(hm.long.sum(axis=1) + hm.short.sum(axis=1), expected, rtol=1e-9)
    assert hm.swept_long.sum() == 0 and hm.swept_short.sum() == 0


@SETTINGS
@given(frame=random_frames(max_bars=30), knobs=configs, c=st.sampled_from([1e-3, 7.5, 1e4]))
def test_scaling_oi_and_volume_scales_the_heatmap_linearly(frame: MarketFrame, knobs: dict, c: float) -> None:
    config = ModelConfig(**TIERS, **knobs, turnover=0.05, above_max_leverage="cap")
    edges = np.linspace(70.0, 130.0, 25)
    base = compute_heatmap([frame], config, price_edges=edges)
    big = compute_heatmap([scaled(frame, c)], config, price_edges=edges)
    for name in ("long", "short", "swept_long", "swept_short"):
        assert close(getattr(big, name), c * getattr(base, name)), name


@SETTINGS
@given(frame=random_frames(max_bars=30), knobs=configs)
def test_longs_sit_below_and_shorts_above_their_entries(frame: MarketFrame, knobs: dict) -> None:
    config = replace(ModelConfig(**TIERS, **knobs, turnover=0.05, above_max_leverage="cap"), entry="close")
    hm = compute_heatmap([frame], config, price_edges=WIDE)
    highest_entry = np.maximum.accumulate(frame.close)
    lowest_entry = np.minimum.accumulate(frame.close)
    edges = hm.price_edges
    for k in range(len(frame)):
        long_bins = np.flatnonzero(hm.long[k] > 0)
        short_bins = np.flatnonzero(hm.short[k] > 0)
        if len(long_bins):
            assert edges[long_bins.max()] < highest_entry[k]
        if len(short_bins):
            assert edges[short_bins.min() + 1] > lowest_entry[k]
