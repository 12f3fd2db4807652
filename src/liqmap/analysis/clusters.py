"""Liquidation clusters: contiguous price zones where one side's estimated liquidations are dense.

Pure functions over a :class:`~liqmap.model.result.LiquidationMap` snapshot (no I/O, no clock).
The rule (docs/analysis.md, "Clusters") is **scale-free**: it compares bins with each other, never
with an absolute USD figure, so it reads a $50M book and a $50B book the same way.

For a snapshot at price ``P`` and a side (longs: bins whose centre is ``<= P``; shorts: ``> P``):

1. *Domain* ``D``: the side's bins whose centre lies within ``window_pct`` of ``P``.
2. *Threshold* ``T = k * median{u_b : b in D, u_b > 0}`` (median of the side's non-empty local bins).
3. *Hot bins*: ``u_b >= T`` (and ``u_b > 0``).
4. *Merge*: runs of hot bins whose gap is ``<= merge_gap_pct`` of ``P`` become one zone; the zone's
   USD is every bin of its range (what a move through it would liquidate), hot or not.
5. *Keep* zones with ``share = usd / sum_{b in D} u_b >= min_share``.

Multiplying every bin by ``c > 0`` multiplies ``T`` by ``c`` and leaves shares unchanged, so the zones
do not move; percentages of ``P`` make the rule independent of the price scale too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from liqmap.errors import ConfigError
from liqmap.model.result import Heatmap, LiquidationMap
from liqmap.types import HOUR_MS, Side

AgeLabel = Literal["fresh", "mixed", "stale"]

FRESH_SHARE = 0.5
"""A cluster is ``fresh`` when at least this share of its USD comes from recently opened positions."""
STALE_SHARE = 0.2
"""... and ``stale`` when less than this share does (``mixed`` in between)."""


@dataclass(frozen=True)
class ClusterParams:
    """Knobs of the cluster rule; every one is a ratio or a percentage (scale-free)."""

    k: float = 2.0
    """Hot-bin factor: a bin is hot when its USD is at least ``k`` x the median non-empty local bin."""
    window_pct: float = 20.0
    """Only bins within this distance of price (in %) form the local density and can form clusters."""
    merge_gap_pct: float = 0.1
    """Hot runs separated by at most this gap (in % of price) merge into one cluster."""
    min_share: float = 0.02
    """Drop zones holding less than this share of the side's local USD (noise)."""

    def __post_init__(self) -> None:
        if not (self.k > 0 and np.isfinite(self.k)):
            raise ConfigError(f"k: must be a positive number, got {self.k}")
        if not 0 < self.window_pct <= 100:
            raise ConfigError(f"window_pct: must be in (0, 100], got {self.window_pct}")
        if not 0 <= self.merge_gap_pct <= 50:
            raise ConfigError(f"merge_gap_pct: must be in [0, 50], got {self.merge_gap_pct}")
        if not 0 <= self.min_share < 1:
            raise ConfigError(f"min_share: must be in [0, 1), got {self.min_share}")


DEFAULT_PARAMS = ClusterParams()


@dataclass(frozen=True)
class Cluster:
    """One zone of dense liquidations on one side of price.

    ``distance_pct`` is signed: from price to the zone's near edge, ``+`` above (shorts), ``-`` below
    (longs), clipped to 0 when the zone touches the bin holding price. ``peak_price`` is the centre of
    the densest bin (on a tie, the lowest-priced one).
    """

    side: Side
    price_low: float
    price_high: float
    peak_price: float
    usd: float
    share: float
    distance_pct: float
    peak_usd: float
    first_bin: int
    last_bin: int
    fresh_share: float | None = None
    age: AgeLabel | None = None
    growth_pct: float | None = None
    """USD change over the chosen look-back, in % of the earlier USD (None: no earlier column, or the
    zone held nothing then: see ``usd_before``)."""
    usd_before: float | None = None
    reach_4h: float | None = None
    """P(price touches the near edge within 4 h) (:mod:`liqmap.analysis.reach`; None: no volatility)."""
    reach_24h: float | None = None

    @property
    def near_edge(self) -> float:
        return self.price_low if self.side == "short" else self.price_high

    @property
    def far_edge(self) -> float:
        return self.price_high if self.side == "short" else self.price_low

    def contains(self, price: float) -> bool:
        return self.price_low <= price <= self.price_high

    def to_dict(self) -> dict[str, object]:
        return {
            "side": self.side,
            "price_low": self.price_low,
            "price_high": self.price_high,
            "peak_price": self.peak_price,
            "usd": self.usd,
            "share": self.share,
            "distance_pct": self.distance_pct,
            "fresh_share": self.fresh_share,
            "age": self.age,
            "growth_pct": self.growth_pct,
            "usd_before": self.usd_before,
            "reach_4h": self.reach_4h,
            "reach_24h": self.reach_24h,
        }


def side_mask(snapshot: LiquidationMap, side: Side) -> np.ndarray:
    """Bins where ``side`` liquidations lie on the liquidating side of price (longs below, shorts above),
    the same split as :meth:`LiquidationMap.from_bins`."""
    below = snapshot.price_centers <= snapshot.price
    return below if side == "long" else ~below


def local_domain(snapshot: LiquidationMap, side: Side, window_pct: float) -> np.ndarray:
    centers = snapshot.price_centers
    near = np.abs(centers - snapshot.price) <= snapshot.price * window_pct / 100.0
    return side_mask(snapshot, side) & near


def find_clusters(
    snapshot: LiquidationMap, params: ClusterParams = DEFAULT_PARAMS, *, sides: tuple[Side, ...] = ("long", "short")
) -> list[Cluster]:
    """Clusters of ``snapshot`` by the scale-free rule of the module docstring, nearest to price first."""
    if not (np.isfinite(snapshot.price) and snapshot.price > 0):
        raise ConfigError(f"snapshot price must be positive, got {snapshot.price}")
    out: list[Cluster] = []
    for side in sides:
        out.extend(_side_clusters(snapshot, side, params))
    out.sort(key=lambda c: abs(c.distance_pct))
    return out


def _side_clusters(snapshot: LiquidationMap, side: Side, params: ClusterParams) -> list[Cluster]:
    values = np.asarray(snapshot.long if side == "long" else snapshot.short, dtype=np.float64)
    values = np.where(np.isfinite(values) & (values > 0), values, 0.0)
    domain = local_domain(snapshot, side, params.window_pct)
    local = np.where(domain, values, 0.0)
    total = float(local.sum())
    positive = local[local > 0]
    if total <= 0 or positive.size == 0:
        return []
    threshold = params.k * float(np.median(positive))
    hot = np.flatnonzero((local >= threshold) & (local > 0))
    if hot.size == 0:
        return []
    edges = snapshot.price_edges
    price = snapshot.price
    max_gap = price * params.merge_gap_pct / 100.0
    runs: list[list[int]] = [[int(hot[0]), int(hot[0])]]
    for b in hot[1:]:
        b = int(b)
        run = runs[-1]
        # gap between the end of the previous run and the start of this bin, in price
        if b == run[1] + 1 or edges[b] - edges[run[1] + 1] <= max_gap:
            run[1] = b
        else:
            runs.append([b, b])
    clusters = []
    for first, last in runs:
        zone = local[first : last + 1]
        usd = float(zone.sum())
        share = usd / total
        if share < params.min_share:
            continue
        peak = first + int(np.argmax(zone))
        low, high = float(edges[first]), float(edges[last + 1])
        if side == "short":
            distance = max(0.0, (low - price) / price * 100.0)
        else:
            distance = min(0.0, (high - price) / price * 100.0)
        clusters.append(
            Cluster(
                side=side,
                price_low=low,
                price_high=high,
                peak_price=float(0.5 * (edges[peak] + edges[peak + 1])),
                usd=usd,
                share=share,
                distance_pct=distance,
                peak_usd=float(local[peak]),
                first_bin=first,
                last_bin=last,
            )
        )
    return clusters


def zone_usd(snapshot: LiquidationMap, cluster: Cluster) -> float:
    """USD of ``cluster``'s side inside its bin range in another snapshot on the same grid."""
    values = snapshot.long if cluster.side == "long" else snapshot.short
    return float(np.nansum(values[cluster.first_bin : cluster.last_bin + 1]))


def _check_grid(a: LiquidationMap, b: LiquidationMap, what: str) -> None:
    if a.price_edges.shape != b.price_edges.shape or not np.allclose(a.price_edges, b.price_edges):
        raise ConfigError(f"{what}: the snapshots must share one price grid (price_edges differ)")


def with_age(clusters: list[Cluster], full: LiquidationMap, fresh: LiquidationMap) -> list[Cluster]:
    """Tag each cluster fresh / mixed / stale.

    ``fresh`` is the same instant computed over recently opened positions only (e.g. a heatmap with
    ``ages=("<4h",)``). ``fresh_share = U_fresh(zone) / U_all(zone)``; ``fresh`` when
    ``>= FRESH_SHARE``, ``stale`` when ``< STALE_SHARE``, else ``mixed``.
    """
    _check_grid(full, fresh, "with_age")
    out = []
    for c in clusters:
        full_usd = zone_usd(full, c)
        share = min(1.0, zone_usd(fresh, c) / full_usd) if full_usd > 0 else 0.0
        label: AgeLabel = "fresh" if share >= FRESH_SHARE else "stale" if share < STALE_SHARE else "mixed"
        out.append(replace(c, fresh_share=share, age=label))
    return out


def with_growth(clusters: list[Cluster], earlier: LiquidationMap) -> list[Cluster]:
    """Growth of each cluster's zone since ``earlier`` (same grid):
    ``growth_pct = 100 * (U_now - U_then) / U_then`` over the zone's bins (None when ``U_then = 0``)."""
    out = []
    for c in clusters:
        before = zone_usd(earlier, c)
        growth = 100.0 * (c.usd - before) / before if before > 0 else None
        out.append(replace(c, usd_before=before, growth_pct=growth))
    return out


def with_reach(clusters: list[Cluster], price: float, sigma: float) -> list[Cluster]:
    """Each cluster with the probability that price touches its near edge within 4 h and 24 h
    (:func:`liqmap.analysis.reach.touch_probability`; ``sigma`` per sqrt hour, NaN leaves them None)."""
    from liqmap.analysis.reach import touch_probability

    if not clusters or not np.isfinite(sigma) or price <= 0:
        return clusters
    levels = np.array([c.near_edge for c in clusters], dtype=np.float64)
    p4 = touch_probability(price, np.maximum(levels, 1e-12), sigma, 4.0)
    p24 = touch_probability(price, np.maximum(levels, 1e-12), sigma, 24.0)
    return [replace(c, reach_4h=float(a), reach_24h=float(b)) for c, a, b in zip(clusters, p4, p24, strict=True)]


def column_hours_ago(heatmap: Heatmap, hours: float, k: int = -1) -> int | None:
    """Index of the latest column at or before ``times[k] - hours`` (None if the heatmap starts later)."""
    k = k % len(heatmap.times)
    target = int(heatmap.times[k]) - round(hours * HOUR_MS)
    idx = int(np.searchsorted(heatmap.times, target, side="right")) - 1
    return idx if 0 <= idx < k else None


def describe_clusters(
    heatmap: Heatmap,
    params: ClusterParams = DEFAULT_PARAMS,
    *,
    fresh: Heatmap | None = None,
    growth_hours: float | None = 24.0,
    k: int = -1,
    sigma: float | None = None,
) -> list[Cluster]:
    """Clusters of ``heatmap`` at column ``k`` with age (when ``fresh``, the same heatmap restricted to
    recent positions, is given), growth over the last ``growth_hours`` (when the heatmap reaches back) and
    reach probabilities (when ``sigma``, the volatility per sqrt hour at that column, is given)."""
    snapshot = heatmap.column(k)
    clusters = find_clusters(snapshot, params)
    if fresh is not None:
        if int(fresh.times[k]) != int(heatmap.times[k]):
            raise ConfigError("fresh: the age-filtered heatmap must cover the same columns as the heatmap")
        clusters = with_age(clusters, snapshot, fresh.column(k))
    if growth_hours is not None:
        j = column_hours_ago(heatmap, growth_hours, k)
        if j is not None:
            clusters = with_growth(clusters, heatmap.column(j))
    if sigma is not None:
        clusters = with_reach(clusters, snapshot.price, sigma)
    return clusters
