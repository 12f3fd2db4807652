"""Reading a snapshot for a trading session: nearest clusters, the largest ones, stacks (cascade risk),
long/short asymmetry and round-number confluence. Pure functions; the equations are in docs/analysis.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from liqmap.analysis.clusters import (
    DEFAULT_PARAMS,
    Cluster,
    ClusterParams,
    describe_clusters,
    find_clusters,
    side_mask,
)
from liqmap.errors import ConfigError
from liqmap.model.result import Heatmap, LiquidationMap
from liqmap.types import Side

STACK_GAP_PCT = 2.0
"""Same-side clusters whose gap is within this % of price belong to one stack."""


def _check_pct(name: str, value: float, upper: float = 100.0) -> None:
    if not (math.isfinite(value) and 0 < value <= upper):
        raise ConfigError(f"{name}: must be a percentage in (0, {upper:g}], got {value}")


def nearest(clusters: list[Cluster]) -> tuple[Cluster | None, Cluster | None]:
    """``(above, below)``: the short cluster nearest above price and the long cluster nearest below."""
    above = [c for c in clusters if c.side == "short"]
    below = [c for c in clusters if c.side == "long"]
    return (
        min(above, key=lambda c: abs(c.distance_pct), default=None),
        min(below, key=lambda c: abs(c.distance_pct), default=None),
    )


def largest(clusters: list[Cluster], side: Side, *, within_pct: float, n: int = 3) -> list[Cluster]:
    """The ``n`` largest clusters (by USD) of ``side`` whose near edge is within ``within_pct`` of price."""
    _check_pct("within_pct", within_pct, 1000.0)
    chosen = [c for c in clusters if c.side == side and abs(c.distance_pct) <= within_pct]
    return sorted(chosen, key=lambda c: -c.usd)[:n]


@dataclass(frozen=True)
class Stack:
    """Two or more same-side clusters, each within ``gap_pct`` of the next: a cascade risk.

    ``sweep_usd`` is the USD a move from price through the far edge of the last cluster would
    liquidate (every bin on the way, clusters or not: the cumulative curve at that edge);
    ``clusters_usd`` the part inside the clusters.
    """

    side: Side
    clusters: tuple[Cluster, ...]
    price_low: float
    price_high: float
    clusters_usd: float
    sweep_usd: float
    distance_pct: float

    def to_dict(self) -> dict[str, object]:
        return {
            "side": self.side,
            "price_low": self.price_low,
            "price_high": self.price_high,
            "clusters_usd": self.clusters_usd,
            "sweep_usd": self.sweep_usd,
            "distance_pct": self.distance_pct,
            "count": len(self.clusters),
            "clusters": [c.to_dict() for c in self.clusters],
        }


def sweep_usd(snapshot: LiquidationMap, side: Side, to_price: float) -> float:
    """USD of ``side`` liquidated by a move from the snapshot price to ``to_price``:
    ``sum u_b`` over the side's bins whose centre lies between price and ``to_price`` (inclusive)."""
    centers = snapshot.price_centers
    mask = side_mask(snapshot, side)
    if side == "long":
        mask &= centers >= to_price
        values = snapshot.long
    else:
        mask &= centers <= to_price
        values = snapshot.short
    return float(np.nansum(np.where(mask, values, 0.0)))


def stacks(snapshot: LiquidationMap, clusters: list[Cluster], *, gap_pct: float = STACK_GAP_PCT) -> list[Stack]:
    """Stacks of same-side clusters: walking outward from price, a cluster joins the current group when
    ``|near_edge(next) - far_edge(prev)| <= gap_pct% * P``. Groups of two or more are stacks."""
    _check_pct("gap_pct", gap_pct)
    price = snapshot.price
    out: list[Stack] = []
    for side in ("long", "short"):
        ordered = sorted((c for c in clusters if c.side == side), key=lambda c: abs(c.distance_pct))
        groups: list[list[Cluster]] = []
        for c in ordered:
            if groups and abs(c.near_edge - groups[-1][-1].far_edge) <= price * gap_pct / 100.0:
                groups[-1].append(c)
            else:
                groups.append([c])
        for group in groups:
            if len(group) < 2:
                continue
            far = group[-1].far_edge
            out.append(
                Stack(
                    side=side,
                    clusters=tuple(group),
                    price_low=min(c.price_low for c in group),
                    price_high=max(c.price_high for c in group),
                    clusters_usd=sum(c.usd for c in group),
                    sweep_usd=sweep_usd(snapshot, side, far),
                    distance_pct=group[0].distance_pct,
                )
            )
    return out


@dataclass(frozen=True)
class Asymmetry:
    """Liquidation fuel on each side within ``within_pct`` of price.

    ``bias = (short_above - long_below) / (short_above + long_below)`` in [-1, 1] (0 when both are 0):
    +1 = only shorts to squeeze above (fuel for a move up), -1 = only longs to flush below.
    """

    within_pct: float
    short_above: float
    long_below: float
    bias: float

    def to_dict(self) -> dict[str, float]:
        return {
            "within_pct": self.within_pct,
            "short_above": self.short_above,
            "long_below": self.long_below,
            "bias": self.bias,
        }


def asymmetry(snapshot: LiquidationMap, *, within_pct: float) -> Asymmetry:
    """Short USD above price vs long USD below it, over bins whose centre is within ``within_pct``."""
    _check_pct("within_pct", within_pct, 1000.0)
    near = np.abs(snapshot.price_centers - snapshot.price) <= snapshot.price * within_pct / 100.0
    short_above = float(np.nansum(np.where(near & side_mask(snapshot, "short"), snapshot.short, 0.0)))
    long_below = float(np.nansum(np.where(near & side_mask(snapshot, "long"), snapshot.long, 0.0)))
    total = short_above + long_below
    bias = (short_above - long_below) / total if total > 0 else 0.0
    return Asymmetry(within_pct, short_above, long_below, bias)


def round_step(price: float) -> tuple[float, float]:
    """``(minor, major)`` round-number steps for ``price``'s magnitude ``d = floor(log10 P)``:
    ``minor = 10^(d-1)``, ``major = 5 * 10^(d-1)`` (BTC 95,000: 1,000 / 5,000; ETH 3,500: 100 / 500)."""
    if not (math.isfinite(price) and price > 0):
        raise ConfigError(f"price: must be positive, got {price}")
    minor = 10.0 ** (math.floor(math.log10(price)) - 1)
    return minor, 5.0 * minor


@dataclass(frozen=True)
class Confluence:
    cluster: Cluster
    round_price: float
    major: bool
    distance_pct: float
    """From the round price to the nearest point of the cluster, in % of the snapshot price."""

    def to_dict(self) -> dict[str, object]:
        return {
            "round_price": self.round_price,
            "major": self.major,
            "distance_pct": self.distance_pct,
            "cluster": self.cluster.to_dict(),
        }


def round_confluence(clusters: list[Cluster], price: float, *, tolerance_pct: float = 0.25) -> list[Confluence]:
    """Clusters lying within ``tolerance_pct`` of a round price (multiple of the minor step of
    :func:`round_step`); the nearest round price per cluster, flagged ``major`` for multiples of the major step."""
    _check_pct("tolerance_pct", tolerance_pct, 10.0)
    minor, major = round_step(price)
    tol = price * tolerance_pct / 100.0
    out = []
    for c in clusters:
        lo, hi = c.price_low - tol, c.price_high + tol
        candidates = np.arange(math.ceil(lo / minor), math.floor(hi / minor) + 1) * minor
        if candidates.size == 0:
            continue
        # prefer a major level, then the one nearest the peak
        is_major = np.isclose(np.round(candidates / major) * major, candidates)
        order = np.lexsort((np.abs(candidates - c.peak_price), ~is_major))
        best = float(candidates[order[0]])
        gap = max(c.price_low - best, best - c.price_high, 0.0)
        out.append(Confluence(c, best, bool(is_major[order[0]]), 100.0 * gap / price))
    return out


@dataclass(frozen=True)
class SessionPlan:
    """Everything ``liqmap levels`` prints, for one snapshot."""

    symbol: str
    ts: int
    price: float
    within_pct: float
    clusters: list[Cluster]
    nearest_above: Cluster | None
    nearest_below: Cluster | None
    largest_above: list[Cluster]
    largest_below: list[Cluster]
    stacks: list[Stack]
    asymmetry: Asymmetry
    confluence: list[Confluence]
    params: ClusterParams = DEFAULT_PARAMS
    calibration: dict[str, object] | None = None
    """Which USD calibration the numbers carry (``liqmap.analysis.calibration.Calibration.to_dict``)."""
    sigma_per_sqrt_hour: float | None = None
    """The volatility behind the clusters' reach probabilities."""

    def to_dict(self) -> dict[str, object]:
        def one(c: Cluster | None) -> dict[str, object] | None:
            return None if c is None else c.to_dict()

        return {
            "symbol": self.symbol,
            "ts": self.ts,
            "price": self.price,
            "within_pct": self.within_pct,
            "nearest_above": one(self.nearest_above),
            "nearest_below": one(self.nearest_below),
            "largest_above": [c.to_dict() for c in self.largest_above],
            "largest_below": [c.to_dict() for c in self.largest_below],
            "stacks": [s.to_dict() for s in self.stacks],
            "asymmetry": self.asymmetry.to_dict(),
            "confluence": [c.to_dict() for c in self.confluence],
            "clusters": [c.to_dict() for c in self.clusters],
            "params": {
                "k": self.params.k,
                "window_pct": self.params.window_pct,
                "merge_gap_pct": self.params.merge_gap_pct,
                "min_share": self.params.min_share,
            },
            "calibration": self.calibration,
            "sigma_per_sqrt_hour": self.sigma_per_sqrt_hour,
        }


def session_plan(
    snapshot: LiquidationMap,
    *,
    within_pct: float = 10.0,
    params: ClusterParams = DEFAULT_PARAMS,
    clusters: list[Cluster] | None = None,
) -> SessionPlan:
    """The session plan: clusters within ``within_pct``, nearest above/below, the three largest per side,
    stacks, asymmetry over ``within_pct`` and round-number confluence. ``clusters`` may be given already
    described (with age and growth); otherwise they are found with ``params``."""
    _check_pct("within_pct", within_pct, 1000.0)
    found = find_clusters(snapshot, params) if clusters is None else clusters
    inside = [c for c in found if abs(c.distance_pct) <= within_pct]
    above, below = nearest(inside)
    return SessionPlan(
        symbol=snapshot.symbol,
        ts=snapshot.ts,
        price=snapshot.price,
        within_pct=within_pct,
        clusters=inside,
        nearest_above=above,
        nearest_below=below,
        largest_above=largest(inside, "short", within_pct=within_pct),
        largest_below=largest(inside, "long", within_pct=within_pct),
        stacks=stacks(snapshot, inside),
        asymmetry=asymmetry(snapshot, within_pct=within_pct),
        confluence=round_confluence(inside, snapshot.price),
        params=params,
    )


def plan_for_heatmap(
    heatmap: Heatmap,
    *,
    within_pct: float = 10.0,
    params: ClusterParams = DEFAULT_PARAMS,
    fresh: Heatmap | None = None,
    growth_hours: float | None = 24.0,
    k: int = -1,
    sigma: float | None = None,
    calibration: dict[str, object] | None = None,
) -> SessionPlan:
    """:func:`session_plan` of column ``k`` with clusters described by age (``fresh``: the same view
    restricted to recent positions), growth over ``growth_hours`` and reach probabilities (``sigma``, per
    sqrt hour; see :func:`describe_clusters`). ``calibration``: the factor ``heatmap``'s USD carries."""
    clusters = describe_clusters(heatmap, params, fresh=fresh, growth_hours=growth_hours, k=k, sigma=sigma)
    plan = session_plan(heatmap.column(k), within_pct=within_pct, params=params, clusters=clusters)
    known = sigma is not None and math.isfinite(sigma)
    return replace(plan, calibration=calibration, sigma_per_sqrt_hour=sigma if known else None)
