"""StreamingModel: bar-by-bar results identical to the batch engine; bad live input is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from model_frames import configs, frame, random_frames

from liqmap.errors import BadSeriesError, ConfigError
from liqmap.model import MarketFrame, ModelConfig, StreamingModel, compute_heatmap
from liqmap.model import stream as stream_module
from liqmap.types import HOUR_MS

TIERS = {"leverage": (5.0, 10.0, 25.0, 50.0, 100.0), "leverage_weights": (0.1, 0.2, 0.3, 0.25, 0.15)}
EDGES = np.linspace(60.0, 140.0, 33)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    f=random_frames(max_bars=60),
    knobs=configs,
    turnover=st.sampled_from([0.0, 0.05]),
    tier_filter=st.sampled_from([None, [5.0, 50.0]]),
    age_filter=st.sampled_from([None, [0], [1]]),
)
def test_stream_equals_batch_bar_by_bar(f: MarketFrame, knobs: dict, turnover: float, tier_filter, age_filter) -> None:
    config = ModelConfig(**TIERS, **knobs, turnover=turnover, above_max_leverage="cap")
    batch = compute_heatmap([f], config, price_edges=EDGES, leverage=tier_filter, ages=age_filter)
    model = StreamingModel(
        config, f.exchange, f.symbol, EDGES, interval_ms=f.interval_ms, leverage=tier_filter, ages=age_filter
    )
    columns = model.replay(f)
    scale = max(1.0, float(batch.long.max(initial=0)), float(batch.short.max(initial=0)))
    for name, got in (
        ("long", np.array([c.long for c in columns])),
        ("short", np.array([c.short for c in columns])),
        ("swept_long", np.array([c.swept_long for c in columns])),
        ("swept_short", np.array([c.swept_short for c in columns])),
    ):
        np.testing.assert_allclose(got, getattr(batch, name), rtol=1e-9, atol=1e-9 * scale, err_msg=name)
    assert [c.ts for c in columns] == f.ts.tolist()


def test_renormalisation_keeps_results_when_the_book_scale_gets_tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    # force a renormalisation every time the scale drops below 0.99 (normally 1e-150)
    monkeypatch.setattr(stream_module, "RENORMALISE_BELOW", 0.99)
    f = frame([100, 100, 99, 98, 101, 100], [1000, 1600, 1500, 1400, 1500, 1300])
    config = ModelConfig(**TIERS, decay_half_life_hours=1.0, turnover=0.0, flat_mmr=0.0)
    batch = compute_heatmap([f], config, price_edges=EDGES)
    columns = StreamingModel(config, "binance", "BTC", EDGES, interval_ms=HOUR_MS).replay(f)
    np.testing.assert_allclose([c.long for c in columns], batch.long, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose([c.swept_long for c in columns], batch.swept_long, rtol=1e-12, atol=1e-9)


def test_live_column_is_a_liquidation_map() -> None:
    config = ModelConfig(leverage=(10.0,), leverage_weights=(1.0,), entry="close", side="symmetric", flat_mmr=0.0,
                         turnover=0.0)
    model = StreamingModel(config, "binance", "BTC", np.arange(80.0, 125.0, 5.0), interval_ms=HOUR_MS)
    model.update(0, 100, 100, 100, 100, 1.0, 1000.0)
    column = model.update(HOUR_MS, 100, 100, 100, 100, 1.0, 1600.0)
    snapshot = column.to_map()
    assert column.long.tolist() == [0, 0, 300, 0, 0, 0, 0, 0] and column.short.tolist() == [0, 0, 0, 0, 0, 0, 300, 0]
    assert snapshot.cum_long.max() == 300 and snapshot.cum_short.max() == 300 and snapshot.price == 100


def test_gaps_and_bad_bars_are_refused() -> None:
    config = ModelConfig(**TIERS, turnover=0.0, flat_mmr=0.0)
    model = StreamingModel(config, "binance", "BTC", EDGES, interval_ms=HOUR_MS)
    model.update(0, 100, 101, 99, 100, 1.0, 1000.0)
    with pytest.raises(BadSeriesError, match=f"expected ts={HOUR_MS}"):
        model.update(2 * HOUR_MS, 100, 101, 99, 100, 1.0, 1000.0)
    with pytest.raises(BadSeriesError, match="non-positive or missing price"):
        model.update(HOUR_MS, 100, 101, math.nan, 100, 1.0, 1000.0)
    with pytest.raises(BadSeriesError, match="do not bracket"):
        model.update(HOUR_MS, 100, 99, 98, 100, 1.0, 1000.0)
    with pytest.raises(BadSeriesError, match="negative open interest"):
        model.update(HOUR_MS, 100, 101, 99, 100, 1.0, -5.0)
    # nothing was applied by the refused bars: the next good bar is accepted
    assert model.update(HOUR_MS, 100, 101, 99, 100, 1.0, 1000.0).ts == HOUR_MS


def test_stream_rejects_impossible_settings() -> None:
    config = ModelConfig(**TIERS, turnover=0.0, flat_mmr=0.0)
    with pytest.raises(ConfigError, match="strictly increasing"):
        StreamingModel(config, "binance", "BTC", [100.0, 90.0])
    with pytest.raises(ConfigError, match="not a model tier"):
        StreamingModel(config, "binance", "BTC", EDGES, leverage=[7.0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    f=random_frames(max_bars=50),
    knobs=configs,
    turnover=st.sampled_from([0.0, 0.05]),
    split=st.floats(0.0, 1.0),
    age_filter=st.sampled_from([None, [0], [1]]),
)
def test_warm_start_from_history_equals_replaying_it(
    f: MarketFrame, knobs: dict, turnover: float, split: float, age_filter
) -> None:
    config = ModelConfig(**TIERS, **knobs, turnover=turnover, above_max_leverage="cap")
    k = max(1, int(split * len(f)))
    assume(np.isfinite(f.oi_usd[:k]).any())  # a frame needs some open interest
    replayed = StreamingModel(config, f.exchange, f.symbol, EDGES, interval_ms=f.interval_ms, ages=age_filter)
    full = replayed.replay(f)
    warm = StreamingModel.from_history(config, f.slice(0, k), EDGES, ages=age_filter)
    scale = max(1.0, max(float(c.long.max() + c.short.max()) for c in full))
    now = warm.column(float(f.close[k - 1]))
    columns = [now] + [
        warm.update(
            int(f.ts[i]), f.open[i], f.high[i], f.low[i], f.close[i], f.volume[i], f.oi_usd[i],
            taker_buy_volume=f.taker_buy_volume[i], quote_volume=f.quote_volume[i], funding=f.funding[i],
        )
        for i in range(k, len(f))
    ]
    for got, want in zip(columns, full[k - 1 :], strict=True):
        np.testing.assert_allclose(got.long, want.long, rtol=1e-9, atol=1e-9 * scale)
        np.testing.assert_allclose(got.short, want.short, rtol=1e-9, atol=1e-9 * scale)
        assert got.swept_long == pytest.approx(want.swept_long, rel=1e-9, abs=1e-9 * scale)
        assert got.swept_short == pytest.approx(want.swept_short, rel=1e-9, abs=1e-9 * scale)
        assert got.ts == want.ts
