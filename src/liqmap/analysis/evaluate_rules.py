"""Pure alert-rule evaluation: ``evaluate(rules, state, update) -> (alerts, new_state)``.

One :class:`StreamState` per stream (symbol + exchange set). Each live update brings the bar that just
closed and the snapshot after it. Clusters are tracked across updates by overlap (same side, price
ranges overlapping within ``MATCH_PCT`` of price), so a cluster keeps its ``cid`` (the peak price where
it was first seen) while it drifts; that id keys the "already near" memory here and the de-duplication
downstream. Sweeps are remembered by price level instead (rule, side, peak): a level swept once is not
swept again while some tracked cluster of that side still covers it (within ``MATCH_PCT``), whatever
identity that cluster carries. The first update of a stream is the baseline: it never alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liqmap.analysis.clusters import DEFAULT_PARAMS, Cluster, ClusterParams, find_clusters, with_reach
from liqmap.analysis.rules import AlertRule
from liqmap.model.result import LiquidationMap

MATCH_PCT = 0.25
"""Clusters of consecutive updates are the same cluster when their ranges overlap within this % of price."""
REARM_FACTOR = 2.0
"""Hysteresis of ``price_near``: after an alert, the rule re-arms for that level (the cluster's near edge,
which ``within_pct`` is measured to) only once price has moved more than ``REARM_FACTOR x within_pct`` away (one alert per approach, not one per wiggle across
the boundary or per re-identification of the same cluster)."""
VANISH_RATIO = 0.5
"""A cluster vanished when it is no longer found and its zone holds at most this share of its last USD."""


@dataclass(frozen=True)
class Update:
    """One live update: the bar that just closed and the snapshot (with its clusters) after it."""

    symbol: str
    exchanges: tuple[str, ...]
    ts: int
    high: float
    low: float
    close: float
    snapshot: LiquidationMap
    clusters: tuple[Cluster, ...]


@dataclass(frozen=True)
class Tracked:
    cid: float
    cluster: Cluster


@dataclass(frozen=True)
class Pending:
    """A sweep waiting for its reversal."""

    rule_id: str
    cid: float
    cluster: Cluster
    extreme: float
    bars_left: int
    sweep_ts: int


@dataclass(frozen=True)
class StreamState:
    ts: int | None = None
    tracked: tuple[Tracked, ...] = ()
    near: frozenset[tuple[Any, ...]] = frozenset()
    """(rule id, side, cluster near edge) of the ``price_near`` alerts given and not yet re-armed, and
    (rule id, cluster id) of the ``reach`` alerts given while the probability stays above the threshold."""
    swept: frozenset[tuple[str, str, float]] = frozenset()
    """(rule id, side, swept peak price)."""
    pending: tuple[Pending, ...] = ()


@dataclass(frozen=True)
class Alert:
    """One fired alert with its evaluation context (what the rule saw)."""

    rule_id: str
    kind: str
    symbol: str
    exchanges: tuple[str, ...]
    side: str
    ts: int
    price: float
    level_price: float
    cid: float
    usd: float
    message: str
    context: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "kind": self.kind,
            "symbol": self.symbol,
            "exchanges": list(self.exchanges),
            "side": self.side,
            "ts": self.ts,
            "price": self.price,
            "level_price": self.level_price,
            "cid": self.cid,
            "usd": self.usd,
            "message": self.message,
            "context": self.context,
        }


def _overlaps(a: Cluster, b: Cluster, tol: float) -> bool:
    return a.side == b.side and a.price_low <= b.price_high + tol and b.price_low <= a.price_high + tol


def track(previous: tuple[Tracked, ...], clusters: tuple[Cluster, ...], price: float) -> tuple[
    tuple[Tracked, ...], list[Tracked], list[tuple[Tracked, Tracked]], list[Tracked]
]:
    """Match ``clusters`` to ``previous``: ``(tracked_now, new, persisted (before, now), vanished)``.
    Each previous cluster matches at most one current cluster (the largest overlapping one)."""
    tol = price * MATCH_PCT / 100.0
    free = list(previous)
    now: list[Tracked] = []
    new: list[Tracked] = []
    persisted: list[tuple[Tracked, Tracked]] = []
    for c in sorted(clusters, key=lambda c: -c.usd):
        match = next((p for p in free if _overlaps(p.cluster, c, tol)), None)
        if match is None:
            item = Tracked(cid=c.peak_price, cluster=c)
            new.append(item)
        else:
            free.remove(match)
            item = Tracked(cid=match.cid, cluster=c)
            persisted.append((match, item))
        now.append(item)
    return tuple(now), new, persisted, free


def _zone_usd_by_price(snapshot: LiquidationMap, c: Cluster) -> float:
    centers = snapshot.price_centers
    values = snapshot.long if c.side == "long" else snapshot.short
    inside = (centers >= c.price_low) & (centers <= c.price_high)
    return float(np.nansum(np.where(inside, values, 0.0)))


def _reached(c: Cluster, high: float, low: float) -> bool:
    """The bar traded through the cluster's peak (shorts above: high >= peak; longs below: low <= peak)."""
    return high >= c.peak_price if c.side == "short" else low <= c.peak_price


def _touched(c: Cluster, high: float, low: float) -> bool:
    """The bar entered the cluster's range (shorts: high >= its low edge; longs: low <= its high edge)."""
    return high >= c.price_low if c.side == "short" else low <= c.price_high


def _prune_swept(
    swept: set[tuple[str, str, float]], tracked: tuple[Tracked, ...], tol: float
) -> frozenset[tuple[str, str, float]]:
    """Keep the swept levels some tracked cluster of that side still covers (each level checked once)."""
    covered: dict[tuple[str, float], bool] = {}
    for _, side, level in swept:
        if (side, level) not in covered:
            covered[side, level] = any(
                t.cluster.side == side and t.cluster.price_low - tol <= level <= t.cluster.price_high + tol
                for t in tracked
            )
    return frozenset(k for k in swept if covered[k[1], k[2]])


def _applies(rule: AlertRule, update: Update) -> bool:
    return rule.enabled and rule.symbol == update.symbol and (
        not rule.exchanges or rule.exchanges == tuple(sorted(update.exchanges))
    )


def _usd(v: float) -> str:
    return f"${v / 1e6:,.1f}M" if v >= 1e5 else f"${v:,.0f}"


@dataclass
class _Round:
    """What one :func:`evaluate` call works on: the update, the matched clusters, the memories being
    rebuilt (``near``, ``swept``, pending reversals) and the alerts given so far."""

    update: Update
    state: StreamState
    tracked: tuple[Tracked, ...]
    new: list[Tracked]
    persisted: list[tuple[Tracked, Tracked]]
    vanished: list[Tracked]
    closed: list[tuple[Tracked, float]]
    """Vanished clusters this bar did not touch and whose zone emptied (positions closed), with the USD left."""
    near: set[tuple[Any, ...]]
    swept: set[tuple[str, str, float]]
    swept_levels: dict[tuple[str, str], list[float]]
    new_pending: list[Pending] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    _rule_dicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    _cluster_dicts: dict[int, dict[str, object]] = field(default_factory=dict)

    @property
    def price(self) -> float:
        return self.update.close

    @property
    def tol(self) -> float:
        return self.price * MATCH_PCT / 100.0

    def emit(self, rule: AlertRule, kind: str, t: Tracked, message: str, **extra: Any) -> None:
        c, update = t.cluster, self.update
        spec = self._rule_dicts.get(rule.id)
        if spec is None:
            spec = self._rule_dicts[rule.id] = rule.to_dict()
        described = self._cluster_dicts.get(id(c))
        if described is None:
            described = self._cluster_dicts[id(c)] = c.to_dict()
        bar = {"high": update.high, "low": update.low, "close": update.close}
        self.alerts.append(
            Alert(
                rule_id=rule.id,
                kind=kind,
                symbol=update.symbol,
                exchanges=tuple(update.exchanges),
                side=c.side,
                ts=update.ts,
                price=self.price,
                level_price=c.peak_price,
                cid=t.cid,
                usd=c.usd,
                message=message,
                context={"rule": spec, "cluster": described, "bar": bar, **extra},
            )
        )


def _cluster_forms(rule: AlertRule, r: _Round) -> None:
    for t in r.new:
        c = t.cluster
        if c.side in rule.sides and c.usd >= rule.min_usd and abs(c.distance_pct) <= rule.within_pct:  # type: ignore[operator]
            r.emit(rule, rule.type, t, f"{r.update.symbol}: new {c.side} cluster {_usd(c.usd)} at "
                   f"{c.peak_price:,.2f} ({c.distance_pct:+.2f}%)")


def _cluster_usd(rule: AlertRule, r: _Round) -> None:
    sides, within, symbol = rule.sides, rule.within_pct, r.update.symbol
    threshold = rule.usd or 0.0
    pairs: list[tuple[Tracked | None, Tracked]] = [(None, t) for t in r.new]
    pairs += list(r.persisted)
    for before, t in pairs:
        c = t.cluster
        if c.side not in sides or (within is not None and abs(c.distance_pct) > within):
            continue
        old = 0.0 if before is None else before.cluster.usd
        up = old < threshold <= c.usd and rule.direction in ("up", "both")
        down = c.usd < threshold <= old and rule.direction in ("down", "both")
        if up or down:
            r.emit(rule, rule.type, t, f"{symbol}: {c.side} cluster at {c.peak_price:,.2f} "
                   f"{'rose above' if up else 'fell below'} {_usd(threshold)} (now {_usd(c.usd)})",
                   usd_before=old, threshold=threshold, direction="up" if up else "down")
    if rule.direction in ("down", "both"):
        # a cluster no longer found fell below the threshold too: what its zone holds now
        for t in r.vanished:
            c = t.cluster
            if c.side not in sides or c.usd < threshold or (within is not None and abs(c.distance_pct) > within):
                continue
            now = _zone_usd_by_price(r.update.snapshot, c)
            if now < threshold:
                r.emit(rule, rule.type, t, f"{symbol}: {c.side} cluster at {c.peak_price:,.2f} fell below "
                       f"{_usd(threshold)} and dissolved (zone now {_usd(now)})",
                       usd_before=c.usd, usd_now=now, threshold=threshold, direction="down")


def _cluster_vanishes(rule: AlertRule, r: _Round) -> None:
    within = rule.within_pct
    for t, left in r.closed:
        c = t.cluster
        if c.side in rule.sides and c.usd >= rule.min_usd and (within is None or abs(c.distance_pct) <= within):
            r.emit(rule, rule.type, t, f"{r.update.symbol}: {c.side} cluster {_usd(c.usd)} at "
                   f"{c.peak_price:,.2f} vanished without price reaching it (positions closed)", usd_left=left)


def _price_near(rule: AlertRule, r: _Round) -> None:
    price, near = r.price, r.near
    reach = float(rule.within_pct)  # type: ignore[arg-type]
    # re-arm the levels price has left by more than REARM_FACTOR x within
    for key in [k for k in near if k[0] == rule.id]:
        if abs(price - key[2]) / price * 100.0 > REARM_FACTOR * reach:
            near.discard(key)
    for t in r.tracked:
        c = t.cluster
        if c.side not in rule.sides or c.usd < rule.min_usd or abs(c.distance_pct) > reach:
            continue
        armed = not any(k[0] == rule.id and k[1] == c.side and abs(k[2] - c.near_edge) / price * 100.0
                        <= reach for k in near)
        if armed:
            near.add((rule.id, c.side, c.near_edge))
            r.emit(rule, rule.type, t, f"{r.update.symbol}: price {price:,.2f} within "
                   f"{abs(c.distance_pct):.2f}% of {c.side} cluster {_usd(c.usd)} at {c.peak_price:,.2f}")


def _reach(rule: AlertRule, r: _Round) -> None:
    within = rule.within_pct
    threshold = rule.probability or 0.0
    for t in r.tracked:
        c = t.cluster
        p = c.reach_4h if rule.horizon_hours == 4.0 else c.reach_24h
        if c.side not in rule.sides or c.usd < rule.min_usd or p is None or (
            within is not None and abs(c.distance_pct) > within
        ):
            continue
        key = (rule.id, t.cid)
        if p >= threshold:
            if key not in r.near:
                r.near.add(key)
                r.emit(rule, rule.type, t, f"{r.update.symbol}: P(touch within {rule.horizon_hours:g} h) of the "
                       f"{c.side} cluster {_usd(c.usd)} at {c.peak_price:,.2f} is {p:.0%} "
                       f"(>= {threshold:.0%})", probability=p, horizon_hours=rule.horizon_hours)
        else:
            r.near.discard(key)


def _sweep(rule: AlertRule, r: _Round) -> None:
    within, update, tol = rule.within_pct, r.update, r.tol
    for t in r.state.tracked:
        c = t.cluster
        if (
            c.side not in rule.sides
            or c.usd < rule.min_usd
            or (within is not None and abs(c.distance_pct) > within)
            or not _reached(c, update.high, update.low)
            or any(abs(lvl - c.peak_price) <= tol for lvl in r.swept_levels.get((rule.id, c.side), ()))
        ):
            continue
        r.swept.add((rule.id, c.side, c.peak_price))
        r.swept_levels.setdefault((rule.id, c.side), []).append(c.peak_price)
        extreme = update.high if c.side == "short" else update.low
        if rule.reverse_pct is None:
            r.emit(rule, "sweep", t, f"{update.symbol}: price swept the {c.side} cluster "
                   f"{_usd(c.usd)} at {c.peak_price:,.2f}", extreme=extreme)
        else:
            r.new_pending.append(Pending(rule.id, t.cid, c, extreme, rule.reverse_bars, update.ts))


RULE_KINDS: dict[str, Callable[[AlertRule, _Round], None]] = {
    "cluster_forms": _cluster_forms,
    "cluster_usd": _cluster_usd,
    "cluster_vanishes": _cluster_vanishes,
    "price_near": _price_near,
    "reach": _reach,
    "sweep": _sweep,
}
"""How each rule type is evaluated on one update (a new rule type adds one function here)."""


def _reversals(r: _Round, active: list[AlertRule]) -> list[Pending]:
    """Sweeps waiting for a reversal: the sweep bar itself counts as the first of the N bars. Alerts the
    reversals reached; returns the sweeps still waiting."""
    update, price = r.update, r.price
    by_id = {rule.id: rule for rule in active}
    carried: list[Pending] = []
    for pend in (*r.state.pending, *r.new_pending):
        rule = by_id.get(pend.rule_id)
        if rule is None or rule.reverse_pct is None:
            continue
        short = pend.cluster.side == "short"
        extreme = max(pend.extreme, update.high) if short else min(pend.extreme, update.low)
        move = (extreme - price) / extreme * 100.0 if short else (price - extreme) / extreme * 100.0
        if move >= rule.reverse_pct:
            r.emit(rule, "sweep_reverse", Tracked(pend.cid, pend.cluster),
                   f"{update.symbol}: swept the {pend.cluster.side} cluster at {pend.cluster.peak_price:,.2f} "
                   f"(extreme {extreme:,.2f}) and reversed {move:.2f}% to {price:,.2f}",
                   extreme=extreme, reverse_pct=move, sweep_ts=pend.sweep_ts)
        elif pend.bars_left > 1:
            carried.append(Pending(pend.rule_id, pend.cid, pend.cluster, extreme, pend.bars_left - 1, pend.sweep_ts))
    return carried


def evaluate(
    rules: list[AlertRule] | tuple[AlertRule, ...], state: StreamState, update: Update
) -> tuple[list[Alert], StreamState]:
    """Evaluate every rule applying to ``update``'s stream; pure (``state`` is not modified). Each rule
    type is one function of :data:`RULE_KINDS`; a type without one gives no alert."""
    price = update.close
    tracked, new, persisted, vanished = track(state.tracked, update.clusters, price)
    if state.ts is None:
        return [], StreamState(ts=update.ts, tracked=tracked)
    swept = set(state.swept)
    swept_levels: dict[tuple[str, str], list[float]] = {}
    for rule_id, side, level in swept:
        swept_levels.setdefault((rule_id, side), []).append(level)
    closed: list[tuple[Tracked, float]] = []
    for t in vanished:
        if not _touched(t.cluster, update.high, update.low):
            left = _zone_usd_by_price(update.snapshot, t.cluster)
            if left <= VANISH_RATIO * t.cluster.usd:
                closed.append((t, left))
    r = _Round(update=update, state=state, tracked=tracked, new=new, persisted=persisted, vanished=vanished,
               closed=closed, near=set(state.near), swept=swept, swept_levels=swept_levels)
    active = [rule for rule in rules if _applies(rule, update)]
    for rule in active:
        handler = RULE_KINDS.get(rule.type)
        if handler is not None:
            handler(rule, r)
    carried = _reversals(r, active)
    new_state = StreamState(
        ts=update.ts,
        tracked=tracked,
        near=frozenset(r.near),
        swept=_prune_swept(r.swept, tracked, r.tol),
        pending=tuple(carried),
    )
    return r.alerts, new_state


def make_update(
    snapshot: LiquidationMap,
    *,
    exchanges: tuple[str, ...],
    high: float,
    low: float,
    params: ClusterParams = DEFAULT_PARAMS,
    sigma: float | None = None,
) -> Update:
    """The update for a snapshot taken at the close of a bar with this ``high``/``low``
    (clusters found once here, shared by every rule; with reach probabilities when ``sigma``, the
    volatility per sqrt hour at that close, is given)."""
    clusters = find_clusters(snapshot, params)
    if sigma is not None:
        clusters = with_reach(clusters, snapshot.price, sigma)
    return Update(
        symbol=snapshot.symbol,
        exchanges=tuple(sorted(exchanges)),
        ts=snapshot.ts,
        high=float(high),
        low=float(low),
        close=snapshot.price,
        snapshot=snapshot,
        clusters=tuple(clusters),
    )
