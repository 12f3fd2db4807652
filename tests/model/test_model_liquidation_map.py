"""Heatmap.column(k): the liquidation-map snapshot with cumulative curves outward from price."""

from __future__ import annotations

import numpy as np
from model_frames import frame

from liqmap.model import Heatmap, ModelConfig, compute_heatmap

EDGES = np.arange(80.0, 125.0, 5.0)  # centres 82.5, 87.5, ..., 117.5


def _heatmap(long: list[float], short: list[float], close: float) -> Heatmap:
    return Heatmap(
        symbol="BTC", exchanges=("binance",), times=np.array([0, 1]), price_edges=EDGES,
        long=np.array([np.zeros(8), long]), short=np.array([np.zeros(8), short]),
        swept_long=np.zeros(2), swept_short=np.zeros(2),
        candles={"close": np.array([1.0, close])}, interval_ms=1,
    )


def test_cumulative_curves_accumulate_outward_from_price() -> None:
    hm = _heatmap([1, 2, 3, 4, 0, 9, 0, 0], [0, 0, 0, 0, 5, 6, 7, 8], close=100.0)
    snap = hm.column(-1)
    assert snap.price == 100.0 and snap.ts == 1
    # longs below 100 liquidate as price falls: 4, 4+3, 4+3+2, 4+3+2+1; the stale long above price is ignored
    assert snap.cum_long.tolist() == [10, 9, 7, 4, 0, 0, 0, 0]
    # shorts above 100 liquidate as price rises: 5, 5+6, 5+6+7, 5+6+7+8
    assert snap.cum_short.tolist() == [0, 0, 0, 0, 5, 11, 18, 26]
    assert snap.long.tolist() == [1, 2, 3, 4, 0, 9, 0, 0]
    np.testing.assert_allclose(snap.price_centers, EDGES[:-1] + 2.5)


def test_column_of_a_computed_heatmap() -> None:
    config = ModelConfig(leverage=(10.0, 20.0), leverage_weights=(1.0, 1.0), entry="close", side="symmetric",
                         flat_mmr=0.0, turnover=0.0)
    hm = compute_heatmap([frame([100, 100, 100], [1000, 1400, 1400])], config, price_edges=EDGES)
    snap = hm.column()  # the latest column
    # 400 new: 100 long at 90 (10x) and 100 at 95 (20x); shorts at 110 and 105
    assert snap.cum_long.tolist() == [200, 200, 200, 100, 0, 0, 0, 0]
    assert snap.cum_short.tolist() == [0, 0, 0, 0, 0, 100, 200, 200]
    assert hm.column(0).cum_long.sum() == 0


def test_columns_from_is_a_view_of_the_later_columns_with_their_bad_ticks() -> None:
    from dataclasses import replace

    from liqmap.model.badticks import BadTick

    ticks = (BadTick("binance", 0, "high", 9.0, 1.0), BadTick("binance", 1, "low", 0.1, 0.9))
    hm = replace(_heatmap([1, 2, 3, 4, 0, 9, 0, 0], [0, 0, 0, 0, 5, 6, 7, 8], close=100.0), bad_ticks=ticks)
    tail = hm.columns_from(1)
    assert tail.times.tolist() == [1]
    assert tail.long.tolist() == [[1, 2, 3, 4, 0, 9, 0, 0]] and tail.short.tolist() == [[0, 0, 0, 0, 5, 6, 7, 8]]
    assert tail.candles["close"].tolist() == [100.0] and tail.swept_long.tolist() == [0.0]
    assert tail.bad_ticks == ticks[1:]
    assert np.shares_memory(tail.long, hm.long) and tail.price_edges is hm.price_edges
    assert hm.columns_from(0) is hm
    assert hm.columns_from(2).times.size == 0 and hm.columns_from(2).bad_ticks == ()
