"""Cooldown: a flapping level must not spam.

An alert is suppressed when the same rule already fired the same kind on the same side, at a level
(the cluster's peak price) within ``LEVEL_PCT`` % of this one, less than the rule's ``cooldown_minutes``
earlier (event time, so a replay behaves like the live run). Prices, not cluster ids: a cluster that
vanishes and re-forms one bin away gets a new id but is the same level to a trader, and a tracked id
can drift with its cluster while distinct levels must stay distinct.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from liqmap.analysis.evaluate_rules import Alert

LEVEL_PCT = 0.5
"""Two alerts concern the same level when their level ids are within this % of each other."""


class Cooldown:
    def __init__(self, level_pct: float = LEVEL_PCT) -> None:
        self.level_pct = level_pct
        # (rule_id, kind, side) -> [(ts, level)] of alerts let through
        self._sent: dict[tuple[str, str, str], list[tuple[int, float]]] = defaultdict(list)

    def _key(self, alert: Alert) -> tuple[str, str, str]:
        return (alert.rule_id, alert.kind, alert.side)

    def suppressed(self, alert: Alert, cooldown_ms: int) -> bool:
        """True when a same-level alert of the same rule/kind/side passed within ``cooldown_ms``."""
        if cooldown_ms <= 0:
            return False
        tol = abs(alert.level_price) * self.level_pct / 100.0
        return any(
            0 <= alert.ts - ts < cooldown_ms and abs(level - alert.level_price) <= tol
            for ts, level in self._sent.get(self._key(alert), ())
        )

    def note(self, alert: Alert, horizon_ms: int | None = None) -> None:
        """Remember ``alert`` as sent; entries older than ``horizon_ms`` before it are dropped."""
        sent = self._sent[self._key(alert)]
        if horizon_ms is not None:
            sent[:] = [(ts, lvl) for ts, lvl in sent if alert.ts - ts < horizon_ms]
        sent.append((alert.ts, alert.level_price))

    def seed(self, alerts: Iterable[Alert]) -> None:
        """Start from alerts already sent (e.g. the stored history after a restart)."""
        for alert in alerts:
            self.note(alert)
