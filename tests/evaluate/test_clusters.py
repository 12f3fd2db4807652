"""Cluster checks on a constructed heatmap with a known price path."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.evaluate.clusters import cluster_stats, top_bins
from liqmap.model.result import Heatmap

from .conftest import make_frame


def test_top_bins_pick_the_largest_eligible_positive_bins() -> None:
    density = np.array([[5.0, 1.0, 3.0, 9.0, 0.0]])
    eligible = np.array([[True, True, True, False, True]])
    assert sorted(top_bins(density, eligible, 2)[0].tolist()) == [0, 2]
    assert sorted(top_bins(density, eligible, 4)[0].tolist()) == [-1, 0, 1, 2]  # only 3 positive eligible bins


def test_reach_and_sweep_on_a_known_path() -> None:
    n = 30
    low = np.full(n, 99.5)
    low[10] = 95.5  # one dip into the long clusters
    frame = make_frame(np.full(n, 100.0), np.full(n, 100.5), low, np.full(n, 100.0), np.full(n, 1e6))
    edges = np.arange(90.0, 111.0)  # 20 bins of $1
    long = np.zeros((n, 20))
    long[:, 5], long[:, 6], long[:, 7], long[:, 2] = 3.0, 2.0, 1.0, 0.5  # top 3: [95,96) [96,97) [97,98)
    short = np.zeros((n, 20))
    short[:, 14] = 1.0  # [104, 105): never reached
    heatmap = Heatmap(
        symbol="BTC", exchanges=("binance",), times=frame.ts, price_edges=edges, long=long, short=short,
        swept_long=np.zeros(n), swept_short=np.zeros(n), candles={"close": frame.close}, interval_ms=frame.interval_ms,
    )
    realized_long = np.ones(n)
    realized_long[10] = 100.0
    scored = np.ones(n, dtype=bool)
    stats = cluster_stats(heatmap, frame, scored, realized_long, np.ones(n), top=3,
                          horizon_hours=5 * frame.interval_ms / 3_600_000)
    # starts 1..25 have a full 5-bar window; those from 6 to 10 contain the dip -> 5 / 25
    assert stats["reach24h_long"] == pytest.approx(0.2)
    assert stats["reach24h_random_same_distance_long"] == pytest.approx(0.2)
    assert stats["reach24h_short"] == 0.0
    assert stats["sweep_bars_long"] == 1.0
    assert stats["realized_mean_sweep_bars_long"] == 100.0
    assert stats["realized_mean_other_bars_long"] == 1.0
    assert stats["realized_share_in_sweep_bars_long"] == pytest.approx(100.0 / (100.0 + 28.0))
