"""Invariants of the cluster rule (hypothesis). Edges, prices and USD are integers so that float
arithmetic is exact and the properties can be asserted with equality."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from liqmap.analysis.clusters import ClusterParams, find_clusters
from liqmap.analysis.levels import asymmetry, stacks
from liqmap.model.result import LiquidationMap


@st.composite
def snapshots(draw):
    n = draw(st.integers(8, 60))
    width = draw(st.integers(1, 50))
    start = draw(st.integers(100, 5000))
    edges = start + width * np.arange(n + 1, dtype=np.float64)
    price = float(edges[draw(st.integers(1, n - 1))])
    usd = st.one_of(st.just(0), st.integers(0, 10), st.integers(0, 10**6))
    long = np.array(draw(st.lists(usd, min_size=n, max_size=n)), dtype=np.float64)
    short = np.array(draw(st.lists(usd, min_size=n, max_size=n)), dtype=np.float64)
    return LiquidationMap.from_bins(price_edges=edges, long=long, short=short, price=price, ts=0, symbol="BTC")


params_st = st.builds(
    ClusterParams,
    k=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    window_pct=st.sampled_from([5.0, 20.0, 100.0]),
    merge_gap_pct=st.sampled_from([0.0, 0.3, 2.0]),
    min_share=st.sampled_from([0.0, 0.02, 0.1]),
)


def _key(c):
    return (c.side, c.first_bin, c.last_bin)


@settings(max_examples=150, deadline=None)
@given(snapshots(), params_st, st.integers(-30, 30))
def test_scaling_usd_does_not_move_clusters(snap, params, power) -> None:
    scale = 2.0**power  # exact in binary floating point, so ties stay ties
    scaled = LiquidationMap.from_bins(price_edges=snap.price_edges, long=snap.long * scale, short=snap.short * scale,
                                      price=snap.price, ts=0, symbol="BTC")
    base, other = find_clusters(snap, params), find_clusters(scaled, params)
    assert [_key(c) for c in base] == [_key(c) for c in other]
    assert [c.share for c in base] == [c.share for c in other]
    assert [c.usd * scale for c in base] == [c.usd for c in other]


def _mirror(snap: LiquidationMap) -> LiquidationMap:
    p = snap.price
    return LiquidationMap.from_bins(price_edges=2 * p - snap.price_edges[::-1], long=snap.short[::-1].copy(),
                                    short=snap.long[::-1].copy(), price=p, ts=0, symbol="BTC")


@settings(max_examples=150, deadline=None)
@given(snapshots(), params_st)
def test_mirroring_prices_mirrors_sides(snap, params) -> None:
    p = snap.price
    other = {"long": "short", "short": "long"}
    mirrored = {(c.side, c.price_low, c.price_high): c for c in find_clusters(_mirror(snap), params)}
    base = find_clusters(snap, params)
    assert len(base) == len(mirrored)
    for c in base:
        m = mirrored[(other[c.side], 2 * p - c.price_high, 2 * p - c.price_low)]
        assert (m.usd, m.share, m.distance_pct) == (c.usd, c.share, -c.distance_pct)
        assert m.peak_usd == c.peak_usd
    a, b = asymmetry(snap, within_pct=10.0), asymmetry(_mirror(snap), within_pct=10.0)
    assert (b.short_above, b.long_below, b.bias) == (a.long_below, a.short_above, -a.bias)


@settings(max_examples=200, deadline=None)
@given(snapshots(), params_st)
def test_clusters_never_overlap_and_shares_sum_to_at_most_one(snap, params) -> None:
    clusters = find_clusters(snap, params)
    for side in ("long", "short"):
        mine = sorted((c for c in clusters if c.side == side), key=lambda c: c.price_low)
        for a, b in itertools.pairwise(mine):
            assert a.price_high <= b.price_low
        assert sum(c.share for c in mine) <= 1.0 + 1e-12
        for c in mine:
            assert c.price_low < c.price_high and c.usd > 0 and 0 < c.share <= 1.0 + 1e-12
            assert c.price_low <= c.peak_price <= c.price_high
            # longs lie below price, shorts above (price sits on a bin edge here)
            assert (c.price_high <= snap.price) if side == "long" else (c.price_low >= snap.price)
    for stack in stacks(snap, clusters):
        assert stack.sweep_usd >= stack.clusters_usd - 1e-9 * stack.clusters_usd
        assert len(stack.clusters) >= 2
    assert -1.0 <= asymmetry(snap, within_pct=10.0).bias <= 1.0
