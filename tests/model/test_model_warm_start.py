"""compute_heatmap(..., warm=warm_book(history)): continuing a heatmap from the book a warm-up left.

At the same bar interval the continuation is the one long run (up to rounding); the query's coarse
warm-up (tests/test_query_warmup.py) relies on this entry point."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.errors import ConfigError
from liqmap.model import ModelConfig, compute_heatmap
from liqmap.model.engine import warm_book
from liqmap.model.frame import MarketFrame
from liqmap.types import HOUR_MS


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


def test_warm_book_is_checked() -> None:
    config = ModelConfig()
    f = walk(200, seed=4)
    book = warm_book(f.slice(0, 100), config)
    with pytest.raises(ConfigError, match="no bar ending at the warm book's time"):
        compute_heatmap([f.slice(100, 200)], config, warm=[book])  # no context bar before the warm time
    with pytest.raises(ConfigError, match="every age bucket"):
        compute_heatmap([f.slice(60, 200)], config, ages=["<4h"], warm=[book])
    with pytest.raises(ConfigError, match="one per frame"):
        compute_heatmap([f.slice(60, 200)], config, warm=[book, None])
