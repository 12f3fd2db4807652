"""compute_heatmap(..., warm=warm_book(history)): continuing a heatmap from the book a warm-up left.

At the same bar interval the continuation is the one long run (up to rounding); the query's coarse
warm-up (tests/test_query_warmup.py) relies on this entry point."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqmap.errors import ConfigError
from liqmap.model import ModelConfig, compute_heatmap
from liqmap.model.engine import warm_book
from liqmap.model.frame import MarketFrame
from liqmap.model.result import Heatmap
from liqmap.types import HOUR_MS, MINUTE_MS

AGE_SELECTIONS = [list(sel) for k in (1, 2, 3) for sel in itertools.combinations(range(4), k)]
"""Every selection of the 4 default age buckets but all of them: single buckets, runs and gaps."""


def walk(n: int, seed: int, oi_every: int = 1, interval_ms: int = HOUR_MS) -> MarketFrame:
    """Log random walk with wicks, volumes and taker flow; OI a random walk known every ``oi_every`` bars."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.004))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0, 0.003, (2, n)))
    volume = rng.lognormal(3.0, 0.8, n)
    oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    oi[np.arange(n) % oi_every != oi_every - 1] = np.nan
    return MarketFrame(
        exchange="binance", symbol="BTC", interval_ms=interval_ms, ts=np.arange(n, dtype=np.int64) * interval_ms,
        open=open_, high=np.maximum(open_, close) * (1 + wick[0]), low=np.minimum(open_, close) * (1 - wick[1]),
        close=close, volume=volume, oi_usd=oi, taker_buy_volume=volume * rng.uniform(0.3, 0.7, n),
        quote_volume=volume * close,
    )


@pytest.mark.parametrize("leverage", [None, (50.0, 125.0)])
@pytest.mark.parametrize("oi_every", [1, 5])
def test_warm_start_at_the_same_interval_equals_one_run(leverage: tuple[float, ...] | None, oi_every: int) -> None:
    config = ModelConfig()  # every term: triangular entries, turnover, same-bar term, diffuse layer
    f = walk(500, seed=oi_every, oi_every=oi_every)
    split, context = 350, 30  # context >= 24-bar volume/range means + 1, with a finite OI in it
    edges = np.linspace(float(f.low.min()) * 0.8, float(f.high.max()) * 1.2, 301)
    want = compute_heatmap([f], config, price_edges=edges, leverage=leverage)
    book = warm_book(f.slice(0, split), config, leverage=leverage)
    assert book.at == int(f.ts[split])
    got = compute_heatmap(
        [f.slice(split - context, len(f))], config, price_edges=edges, leverage=leverage, warm=[book]
    )
    scale = float(max(want.long.max(), want.short.max()))
    assert scale > 0 and want.long[split:].sum() > 0 and want.short[split:].sum() > 0
    np.testing.assert_array_equal(got.times[context:], want.times[split:])
    for name in ("long", "short", "swept_long", "swept_short"):
        np.testing.assert_allclose(
            getattr(got, name)[context:], getattr(want, name)[split:], rtol=1e-9, atol=1e-9 * scale, err_msg=name
        )


def assert_window_equal(got: Heatmap, want: Heatmap, got_from: int, want_from: int) -> None:
    """``got``'s columns from ``got_from`` equal ``want``'s from ``want_from`` (rtol 1e-9)."""
    scale = float(max(want.long.max(), want.short.max(), 1.0))
    np.testing.assert_array_equal(got.times[got_from:], want.times[want_from:])
    for name in ("long", "short", "swept_long", "swept_short"):
        np.testing.assert_allclose(
            getattr(got, name)[got_from:], getattr(want, name)[want_from:], rtol=1e-9, atol=1e-9 * scale,
            err_msg=name,
        )


@pytest.mark.parametrize("group", [1, 4])
@pytest.mark.parametrize("ages", AGE_SELECTIONS, ids=str)
def test_warm_start_with_an_age_filter_equals_one_run(ages: list[int], group: int) -> None:
    """The warm cohorts age from their real birth: in and out of the selected buckets, swept USD in the
    bucket they are in when swept, as in the one long run. ``group`` 4: columns of 4 bars (aligned in time
    alike in both runs; the split is a column boundary)."""
    config = ModelConfig()
    f = walk(500, seed=12, oi_every=3)
    split, context = 352, 32
    edges = np.linspace(float(f.low.min()) * 0.8, float(f.high.max()) * 1.2, 301)
    want = compute_heatmap([f], config, price_edges=edges, ages=ages, max_columns=500 // group)
    book = warm_book(f.slice(0, split), config)
    assert book.births is not None
    for side in (0, 1):
        births = book.births[side]
        assert len(births) == len(book.levels[side]) > 0
        assert births.min() >= f.ts[0] and births.max() < book.at and births.max() >= f.ts[split - 4]
        assert births.min() < f.ts[split - 168]  # some warm cohorts are in the oldest bucket
    window = f.slice(split - context, len(f))
    got = compute_heatmap(
        [window], config, price_edges=edges, ages=ages, warm=[book], max_columns=len(window) // group + 1
    )
    assert want.long[split // group :].sum() > 0 and want.short[split // group :].sum() > 0
    assert want.swept_long[split // group :].sum() > 0 and want.swept_short[split // group :].sum() > 0
    assert_window_equal(got, want, context // group, split // group)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(80, 220),
    seed=st.integers(0, 2**32 - 1),
    oi_every=st.sampled_from([1, 4]),
    interval=st.sampled_from([HOUR_MS, 15 * MINUTE_MS]),
    buckets=st.sampled_from([(4.0, 24.0, 168.0), (1.0, 3.0, 10.0), (0.5, 2.0, 6.0, 30.0), (0.75, 5.5)]),
    data=st.data(),
)
def test_warm_start_with_ages_property(
    n: int, seed: int, oi_every: int, interval: int, buckets: tuple[float, ...], data: st.DataObject
) -> None:
    """Random walks, split points, bar intervals, age buckets, tier and age selections: continuing from the
    warm book (built for the same tiers, or for every tier) equals the one long run on the window's
    columns."""
    config = ModelConfig(age_buckets_hours=buckets)
    n_buckets = len(buckets) + 1
    ages = data.draw(
        st.sets(st.integers(0, n_buckets - 1), min_size=1, max_size=n_buckets).map(sorted), label="ages"
    )
    leverage = data.draw(st.sampled_from([None, (25.0,), (50.0, 125.0)]), label="leverage")
    context = 30
    split = data.draw(st.integers(context + 1, n - 2), label="split")
    f = walk(n, seed=seed, oi_every=oi_every, interval_ms=interval)
    edges = np.linspace(float(f.low.min()) * 0.9, float(f.high.max()) * 1.1, 81)
    want = compute_heatmap([f], config, price_edges=edges, ages=ages, leverage=leverage)
    book_tiers = data.draw(st.sampled_from([leverage, None]), label="book tiers")
    book = warm_book(f.slice(0, split), config, leverage=book_tiers)
    got = compute_heatmap(
        [f.slice(split - context, n)], config, price_edges=edges, ages=ages, leverage=leverage, warm=[book]
    )
    assert_window_equal(got, want, context, split)


def test_a_book_of_every_tier_serves_a_tier_filter() -> None:
    f = walk(200, seed=5)
    config = ModelConfig()
    edges = np.linspace(float(f.low.min()) * 0.9, float(f.high.max()) * 1.1, 81)
    book = warm_book(f.slice(0, 120), config)
    assert sorted(set(book.tiers[0].tolist())) == list(range(len(config.leverage)))
    for leverage in ((25.0,), (75.0, 125.0)):
        want = compute_heatmap([f], config, price_edges=edges, leverage=leverage)
        got = compute_heatmap([f.slice(90, 200)], config, price_edges=edges, leverage=leverage, warm=[book])
        assert_window_equal(got, want, 30, 120)
        everything = compute_heatmap([f.slice(90, 200)], config, price_edges=edges, warm=[book])
        assert got.long[30:].sum() < 0.9 * everything.long[30:].sum()  # the other tiers were left out


def test_warm_book_is_checked() -> None:
    config = ModelConfig()
    f = walk(200, seed=4)
    book = warm_book(f.slice(0, 100), config)
    with pytest.raises(ConfigError, match="no bar ending at the warm book's time"):
        compute_heatmap([f.slice(100, 200)], config, warm=[book])  # no context bar before the warm time
    compute_heatmap([f.slice(60, 200)], config, ages=["<4h"], warm=[book])  # the book has births: fine
    no_births = dataclasses.replace(book, births=None)  # a book from before births were kept
    compute_heatmap([f.slice(60, 200)], config, warm=[no_births])  # every age bucket: fine
    with pytest.raises(ConfigError, match="keeps no cohort births"):
        compute_heatmap([f.slice(60, 200)], config, ages=["<4h"], warm=[no_births])
    with pytest.raises(ConfigError, match="one per frame"):
        compute_heatmap([f.slice(60, 200)], config, warm=[book, None])
