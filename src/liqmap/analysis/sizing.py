"""Position-sizing helper: where a stop sits relative to liquidation clusters, and the size for a risk.

A long's stop lies below entry, among the **long** clusters (the liquidity a flush down collects); a
short's stop lies above entry, among the **short** clusters. Price is drawn to such zones and often
sweeps them, so a stop just *in front* of a cluster (between price and the cluster) tends to be taken
by the sweep, while a stop *behind* it (its "cold side": the cluster lies between price and the stop)
is protected by the USD the sweep has to absorb first. The rule (docs/analysis.md, "Sizing"):

* ``inside``   the stop lies within a cluster's price range;
* ``in_front`` the nearest cluster beyond the stop is within ``near_pct`` of it;
* ``cold_side`` at least one cluster lies between price and the stop (and neither of the above);
* ``clear``    no cluster between price and the stop, and none just beyond it.

Size: ``qty = risk_usd / |entry - stop|`` (base coin), ``notional = qty * entry``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from liqmap.analysis.clusters import Cluster
from liqmap.analysis.levels import sweep_usd
from liqmap.errors import ConfigError
from liqmap.model.result import LiquidationMap
from liqmap.types import Side

Placement = Literal["cold_side", "in_front", "inside", "clear"]


@dataclass(frozen=True)
class StopPlan:
    position: Side
    entry: float
    stop: float
    risk_usd: float
    quantity: float
    notional_usd: float
    stop_distance_pct: float
    placement: Placement
    clusters_between: tuple[Cluster, ...]
    """Clusters of the stop's side between price and the stop (the stop is behind them)."""
    depth_usd: float
    """USD of the stop's side liquidated by a move from price to the stop (what protects it)."""
    clusters_depth_usd: float
    """The part of ``depth_usd`` inside clusters."""
    next_cluster: Cluster | None
    """The first cluster beyond the stop (what a sweep past the stop would be heading for)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "position": self.position,
            "entry": self.entry,
            "stop": self.stop,
            "risk_usd": self.risk_usd,
            "quantity": self.quantity,
            "notional_usd": self.notional_usd,
            "stop_distance_pct": self.stop_distance_pct,
            "placement": self.placement,
            "depth_usd": self.depth_usd,
            "clusters_depth_usd": self.clusters_depth_usd,
            "clusters_between": [c.to_dict() for c in self.clusters_between],
            "next_cluster": None if self.next_cluster is None else self.next_cluster.to_dict(),
        }


def plan_stop(
    snapshot: LiquidationMap,
    clusters: list[Cluster],
    *,
    entry: float,
    stop: float,
    risk_usd: float,
    near_pct: float = 0.5,
) -> StopPlan:
    """Place ``stop`` against the clusters of ``snapshot`` and size the position for ``risk_usd``."""
    for name, value in (("entry", entry), ("stop", stop), ("risk_usd", risk_usd)):
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name}: must be a positive number, got {value}")
    if stop == entry:
        raise ConfigError("stop: must differ from entry")
    if not (math.isfinite(near_pct) and near_pct >= 0):
        raise ConfigError(f"near_pct: must be >= 0, got {near_pct}")
    position: Side = "long" if stop < entry else "short"
    price = snapshot.price
    # A long's stop is hit by a move down, through the long clusters; a short's by a move up.
    same = sorted((c for c in clusters if c.side == position), key=lambda c: abs(c.distance_pct))
    if position == "long":
        between = tuple(c for c in same if c.price_low > stop)
        inside = any(c.price_low <= stop <= c.price_high for c in same)
        beyond = [c for c in same if c.price_high < stop]
        next_cluster = max(beyond, key=lambda c: c.price_high, default=None)
        gap = None if next_cluster is None else (stop - next_cluster.price_high) / price * 100.0
    else:
        between = tuple(c for c in same if c.price_high < stop)
        inside = any(c.price_low <= stop <= c.price_high for c in same)
        beyond = [c for c in same if c.price_low > stop]
        next_cluster = min(beyond, key=lambda c: c.price_low, default=None)
        gap = None if next_cluster is None else (next_cluster.price_low - stop) / price * 100.0
    placement: Placement
    if inside:
        placement = "inside"
    elif gap is not None and gap <= near_pct:
        placement = "in_front"
    elif between:
        placement = "cold_side"
    else:
        placement = "clear"
    quantity = risk_usd / abs(entry - stop)
    return StopPlan(
        position=position,
        entry=entry,
        stop=stop,
        risk_usd=risk_usd,
        quantity=quantity,
        notional_usd=quantity * entry,
        stop_distance_pct=abs(entry - stop) / entry * 100.0,
        placement=placement,
        clusters_between=between,
        depth_usd=sweep_usd(snapshot, position, stop),
        clusters_depth_usd=sum(c.usd for c in between),
        next_cluster=next_cluster,
    )
