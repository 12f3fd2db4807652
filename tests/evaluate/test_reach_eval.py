"""The evaluation's reach block, its calibrated ratios, and a cluster horizon in hours (not bars)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from liqmap.analysis.reach import touch_probability
from liqmap.evaluate.clusters import cluster_stats
from liqmap.evaluate.harness import calibrated_scores
from liqmap.evaluate.reach import reach_block
from liqmap.model.result import Heatmap

from .conftest import T0, make_frame


def _known_path(n: int = 30):
    low = np.full(n, 99.5)
    low[10] = 95.5  # one dip into the long clusters
    frame = make_frame(np.full(n, 100.0), np.full(n, 100.5), low, np.full(n, 100.0), np.full(n, 1e6))
    edges = np.arange(90.0, 111.0)
    long = np.zeros((n, 20))
    long[:, 5], long[:, 6], long[:, 7], long[:, 2] = 3.0, 2.0, 1.0, 0.5  # top 3: [95,96) [96,97) [97,98)
    short = np.zeros((n, 20))
    short[:, 14] = 1.0  # [104, 105): never reached
    heatmap = Heatmap(symbol="BTC", exchanges=("binance",), times=frame.ts, price_edges=edges, long=long,
                      short=short, swept_long=np.zeros(n), swept_short=np.zeros(n), candles={"close": frame.close},
                      interval_ms=frame.interval_ms)
    return frame, heatmap


def test_cluster_horizon_is_24_hours_at_30_minute_bars() -> None:
    frame, heatmap = _known_path(80)
    half = dataclasses.replace(frame, interval_ms=1_800_000, ts=T0 + 1_800_000 * np.arange(80))
    half_hm = dataclasses.replace(heatmap, times=half.ts, interval_ms=half.interval_ms)
    scored = np.ones(80, dtype=bool)
    stats = cluster_stats(half_hm, half, scored, np.ones(80), np.ones(80))
    assert stats["horizon_bars"] == 48.0 and stats["horizon_hours"] == 24.0
    # starts 1..32 have a full 48-bar window; all of them contain the dip at bar 10 only if t <= 10
    assert stats["reach24h_long"] == pytest.approx(10 / 32)


def test_reach_block_by_hand() -> None:
    frame, heatmap = _known_path()
    n = len(frame)
    scored = np.zeros(n, dtype=bool)
    scored[5:] = True  # bars 0..4 are before the scored period
    sigma = np.full(n, 0.004)
    block, tables = reach_block(heatmap, frame, scored, hours=4.0, sigma=sigma)
    # 4 h = 4 bars; long levels = upper edges 96, 97, 98 of the top bins; price 100 (close of t - 1)
    ts, ys, ps = [], [], []
    for t in range(5, n - 3):
        window_low = frame.low[t : t + 4].min()
        for level in (96.0, 97.0, 98.0):
            ys.append(float(window_low <= level))
            ps.append(float(touch_probability(100.0, level, 0.004, 4.0)))
            ts.append(t)
    y, p = np.array(ys), np.array(ps)
    got = block["long"]
    assert got["level_bars"] == len(y)
    assert got["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert got["brier_base_rate"] == pytest.approx(y.mean() * (1 - y.mean()))
    # distance only, fitted on start 1 (bars 1..4 end before bar 5; start 0 has no previous close): no dip
    assert got["distance_only_fit_starts"] == 1
    assert got["brier_distance_only"] == pytest.approx(y.mean())
    assert sum(tables["long"]["counts"]) == len(y)


def test_calibrated_ratios_use_only_earlier_days() -> None:
    rng = np.random.default_rng(5)
    n = 24 * 12
    ts = T0 + 3_600_000 * np.arange(n)
    model = (rng.random(n) * 1e6 + 1, rng.random(n) * 1e6 + 1)
    realized = (model[0] * 0.05, model[1] * 0.02)
    mask = np.zeros(n, dtype=bool)
    mask[24 * 4 :] = True  # from day 4: three earlier days exist
    out = calibrated_scores(model, realized, ts, mask)
    for side in ("long", "short"):
        assert out[f"calibration_daily_q50_{side}"] == pytest.approx(1.0)
        assert out[f"calibration_{side}"] == pytest.approx(1.0)
    assert out["factor_long_range"] == pytest.approx([0.05, 0.05])
