"""Analysis on a hand-built snapshot whose answers are worked out by hand (analysis_kit.py).

Longs (below 100): background 1 on 17 bins, A = 97.5/98.5 at 10 each, B = 90.5 at 8 -> total 45,
median of non-empty bins 1 -> threshold 2 (k = 2). Shorts: background 1 on 15 bins, C = 103.5..105.5
(6, 9, 6), D = 107.5 (7), E = 115.5 (5) -> total 48, threshold 2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from analysis_kit import EDGES, LONG, SHORT, bins, reference, snapshot

from liqmap.analysis.clusters import ClusterParams, find_clusters, with_age, with_growth
from liqmap.analysis.levels import (
    asymmetry,
    largest,
    nearest,
    round_confluence,
    round_step,
    session_plan,
    stacks,
)
from liqmap.analysis.sizing import plan_stop
from liqmap.errors import ConfigError


def _by_low(clusters):
    return {(c.side, c.price_low): c for c in clusters}


def test_clusters_of_the_reference_snapshot() -> None:
    found = _by_low(find_clusters(reference()))
    assert sorted(found) == [("long", 90.0), ("long", 97.0), ("short", 103.0), ("short", 107.0), ("short", 115.0)]
    a, b = found["long", 97.0], found["long", 90.0]
    assert (a.price_high, a.usd, a.distance_pct) == (99.0, 20.0, -1.0)
    assert a.share == pytest.approx(20 / 45)
    assert (b.price_high, b.usd, b.distance_pct, b.peak_price) == (91.0, 8.0, -9.0, 90.5)
    c = found["short", 103.0]
    assert (c.price_high, c.usd, c.peak_price, c.distance_pct) == (106.0, 21.0, 104.5, 3.0)
    assert c.share == pytest.approx(21 / 48)
    assert found["short", 115.0].distance_pct == pytest.approx(15.0)


def test_merge_gap_joins_runs_and_counts_the_bins_between() -> None:
    # C ends at 106, D starts at 107: a 1.0 gap = 1 % of price. Merged at 1 %, not at 0.3 %.
    merged = _by_low(find_clusters(reference(), ClusterParams(merge_gap_pct=1.0)))
    cd = merged["short", 103.0]
    assert (cd.price_high, cd.usd) == (108.0, 21.0 + 1.0 + 7.0)  # the background bin 106.5 is inside


def test_window_and_min_share_filters() -> None:
    far_cut = find_clusters(reference(), ClusterParams(window_pct=12.0))
    assert ("short", 115.0) not in _by_low(far_cut)
    big_only = find_clusters(reference(), ClusterParams(min_share=0.2))
    assert sorted(_by_low(big_only)) == [("long", 97.0), ("short", 103.0)]


def test_nearest_largest_and_stacks() -> None:
    snap = reference()
    clusters = find_clusters(snap)
    above, below = nearest(clusters)
    assert (above.price_low, below.price_low) == (103.0, 97.0)
    assert [c.price_low for c in largest(clusters, "short", within_pct=10.0)] == [103.0, 107.0]
    (stack,) = stacks(snap, clusters)
    assert stack.side == "short" and [c.price_low for c in stack.clusters] == [103.0, 107.0]
    assert stack.clusters_usd == 28.0
    # a move from 100 through 108 liquidates every short bin on the way: 4 background bins + C + D
    assert stack.sweep_usd == 32.0
    assert (stack.price_low, stack.price_high) == (103.0, 108.0)


def test_asymmetry_bias() -> None:
    a = asymmetry(reference(), within_pct=5.0)
    # shorts at centres 100.5..104.5: 1+1+1+6+9; longs at 95.5..99.5: 1+1+10+10+1
    assert (a.short_above, a.long_below) == (18.0, 23.0)
    assert a.bias == pytest.approx(-5 / 41)
    empty = snapshot(np.zeros(40), np.zeros(40))
    assert asymmetry(empty, within_pct=5.0).bias == 0.0


def test_round_numbers_by_magnitude() -> None:
    assert round_step(95_000.0) == (1000.0, 5000.0)
    assert round_step(3_500.0) == (100.0, 500.0)
    assert round_step(0.42) == pytest.approx((0.01, 0.05))
    (conf,) = round_confluence(find_clusters(reference()), 100.0)
    assert (conf.cluster.price_low, conf.round_price, conf.major, conf.distance_pct) == (90.0, 90.0, False, 0.0)


def test_round_confluence_prefers_major_levels() -> None:
    # a cluster over [94_800, 95_300] at 95k: 95,000 is both a minor and a major multiple
    edges = np.arange(90_000.0, 100_001.0, 100.0)
    centers = 0.5 * (edges[:-1] + edges[1:])
    short = np.where(centers > 93_000, 1.0, 0.0)
    short[(centers > 94_800) & (centers < 95_300)] = 20.0
    snap = snapshot_on(edges, np.zeros_like(short), short, 93_000.0)
    (conf,) = [c for c in round_confluence(find_clusters(snap), snap.price) if c.cluster.price_low == 94_800.0]
    assert (conf.round_price, conf.major) == (95_000.0, True)


def snapshot_on(edges, long, short, price):
    from liqmap.model.result import LiquidationMap

    return LiquidationMap.from_bins(price_edges=edges, long=long, short=short, price=price, ts=0, symbol="BTC")


def test_age_and_growth() -> None:
    snap = reference()
    clusters = find_clusters(snap)
    fresh = snapshot(bins({97.5: 8.0, 98.5: 8.0, 90.5: 0.0}, 0.0, side="long"),
                     bins({107.5: 2.1, 115.5: 5.0}, 0.0, side="short"))
    aged = _by_low(with_age(clusters, snap, fresh))
    assert aged["long", 97.0].fresh_share == pytest.approx(0.8) and aged["long", 97.0].age == "fresh"
    assert aged["long", 90.0].age == "stale" and aged["short", 103.0].age == "stale"
    assert aged["short", 107.0].fresh_share == pytest.approx(0.3) and aged["short", 107.0].age == "mixed"
    earlier = snapshot(bins({97.5: 5.0, 98.5: 5.0, 90.5: 0.0}, side="long"), bins(SHORT, side="short"))
    grown = _by_low(with_growth(clusters, earlier))
    assert grown["long", 97.0].growth_pct == pytest.approx(100.0)
    assert grown["long", 90.0].growth_pct is None and grown["long", 90.0].usd_before == 0.0
    assert grown["short", 103.0].growth_pct == 0.0


def test_age_refuses_another_grid() -> None:
    snap = reference()
    other = snapshot_on(EDGES + 0.5, np.zeros(40), np.zeros(40), 100.0)
    with pytest.raises(ConfigError, match="price grid"):
        with_age(find_clusters(snap), snap, other)


@pytest.mark.parametrize(
    ("entry", "stop", "placement", "depth", "between"),
    [
        (100.0, 96.0, "cold_side", 22.0, [97.0]),  # behind A (96.5 + 97.5 + 98.5 + 99.5 = 1 + 10 + 10 + 1)
        (100.0, 91.3, "in_front", 22.0 + 5.0, [97.0]),  # 0.3 % above B's top (91): the sweep to B takes it
        (100.0, 90.5, "inside", 22.0 + 5.0 + 8.0, [97.0]),
        (100.0, 102.0, "clear", 2.0, []),
        (100.0, 102.7, "in_front", 3.0, []),  # 0.3 % before C (103)
        (100.0, 106.2, "cold_side", 3.0 + 21.0, [103.0]),  # behind C, 0.8 % before D
        (100.0, 106.5, "in_front", 3.0 + 21.0 + 1.0, [103.0]),  # behind C but 0.5 % before D: D's sweep wins
    ],
)
def test_stop_placement(entry, stop, placement, depth, between) -> None:
    snap = reference()
    plan = plan_stop(snap, find_clusters(snap), entry=entry, stop=stop, risk_usd=100.0)
    assert plan.placement == placement
    assert plan.depth_usd == pytest.approx(depth)
    assert [c.price_low for c in plan.clusters_between] == between
    assert plan.quantity == pytest.approx(100.0 / abs(entry - stop))
    assert plan.notional_usd == pytest.approx(100.0 / abs(entry - stop) * entry)
    assert plan.position == ("long" if stop < entry else "short")


def test_stop_validation_names_the_field() -> None:
    snap = reference()
    with pytest.raises(ConfigError, match="risk_usd"):
        plan_stop(snap, [], entry=100.0, stop=95.0, risk_usd=-1.0)
    with pytest.raises(ConfigError, match="stop"):
        plan_stop(snap, [], entry=100.0, stop=100.0, risk_usd=10.0)


def test_session_plan_collects_everything() -> None:
    plan = session_plan(reference(), within_pct=10.0)
    assert [c.price_low for c in plan.clusters] == [97.0, 103.0, 107.0, 90.0]  # E (15 %) is out of range
    assert plan.nearest_above.price_low == 103.0 and plan.nearest_below.price_low == 97.0
    assert [c.price_low for c in plan.largest_below] == [97.0, 90.0]
    assert len(plan.stacks) == 1 and plan.asymmetry.within_pct == 10.0
    d = plan.to_dict()
    assert d["nearest_above"]["usd"] == 21.0 and d["stacks"][0]["sweep_usd"] == 32.0
    assert not any(isinstance(v, float) and math.isnan(v) for v in d["asymmetry"].values())


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ConfigError, match="k:"):
        ClusterParams(k=0)
    with pytest.raises(ConfigError, match="within_pct"):
        session_plan(reference(), within_pct=-1)
    assert LONG and SHORT
