"""The live alert loop: every update -> clusters -> pure rule evaluation -> store -> cooldown -> delivery.

:class:`AlertEngine` keeps one :class:`StreamState` per stream (symbol + exchange set). For each alert
the evaluation returns, it

1. stores it (``alerts`` table, with its evaluation context); an alert stored before (same rule, kind,
   level, event time: a replay or a restart) is skipped, so nothing is delivered twice;
2. suppresses it (stored with status ``suppressed``) when the cooldown says the level is flapping;
3. delivers it to the rule's targets (or the global ones) with retries, and records the outcome.

Delivery goes to all of an alert's targets at once, each with a deadline (``timeout_s``), so a dead
target never delays the others; the loop waits for them (it has nothing else to do until the next bar).
Targets pass the :class:`~liqmap.alerts.targets.TargetPolicy` (allowed schemes, public addresses, at most
``max_per_rule`` per rule).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from liqmap.alerts.dedup import Cooldown
from liqmap.alerts.delivery import (
    DEFAULT_RETRY,
    TARGET_TIMEOUT_S,
    Outcome,
    Retry,
    Target,
    deliver_all,
    make_target,
)
from liqmap.alerts.storage import AlertStore
from liqmap.alerts.targets import DEFAULT_POLICY, TargetPolicy
from liqmap.analysis.clusters import DEFAULT_PARAMS, ClusterParams
from liqmap.analysis.evaluate_rules import Alert, StreamState, Update, evaluate, make_update
from liqmap.analysis.rules import AlertRule
from liqmap.errors import ConfigError
from liqmap.model.result import Heatmap, LiquidationMap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dispatch:
    """What happened to one fired alert."""

    alert: Alert
    status: str
    """delivered | failed | suppressed | no_target | duplicate (stored before: not delivered again)."""
    outcomes: tuple[Outcome, ...] = ()
    alert_id: str | None = None


class AlertEngine:
    def __init__(
        self,
        rules: Sequence[AlertRule],
        *,
        targets: Sequence[str] = (),
        alert_store: AlertStore | None = None,
        retry: Retry = DEFAULT_RETRY,
        params: ClusterParams = DEFAULT_PARAMS,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.time,
        target_factory: Callable[[str], Target] | None = None,
        policy: TargetPolicy = DEFAULT_POLICY,
        timeout_s: float = TARGET_TIMEOUT_S,
    ) -> None:
        self.rules = list(rules)
        self.default_targets = tuple(targets)
        self.alert_store = alert_store
        self.retry = retry
        self.params = params
        self.sleep = sleep
        self.clock = clock
        self.policy = policy
        self.timeout_s = timeout_s
        self.target_factory = target_factory or (lambda url: make_target(url, policy=policy))
        self.cooldown = Cooldown()
        self.states: dict[tuple[str, tuple[str, ...]], StreamState] = {}
        self._targets: dict[str, Target] = {}
        self._check_count(self.default_targets)
        for url in self.default_targets:
            self._target(url)  # fail fast on a bad URL
        for rule in self.rules:
            self._check_count(rule.notify)
            for url in rule.notify:
                self._target(url)

    def set_rules(self, rules: Sequence[AlertRule]) -> list[str]:
        """Swap the rule set (e.g. rules added through the API) keeping every stream's state. A rule whose
        target URL cannot be built is left out; returns the problems, one per rule left out."""
        kept, problems = [], []
        for rule in rules:
            try:
                self._check_count(rule.notify)
                for url in rule.notify:
                    self._target(url)
            except ConfigError as exc:
                problems.append(f"rule {rule.id}: {exc}")
                continue
            kept.append(rule)
        self.rules = kept
        return problems

    def _check_count(self, urls: Sequence[str]) -> None:
        if len(urls) > self.policy.max_per_rule:
            raise ConfigError(f"notify: {len(urls)} targets; at most {self.policy.max_per_rule} per rule")

    def _target(self, url: str) -> Target:
        if url not in self._targets:
            self._targets[url] = self.target_factory(url)
        return self._targets[url]

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, update: Update) -> list[Alert]:
        """Pure step for one update (state kept here); no storage, no delivery."""
        key = (update.symbol, tuple(sorted(update.exchanges)))
        alerts, self.states[key] = evaluate(self.rules, self.states.get(key, StreamState()), update)
        return alerts

    def process(self, update: Update) -> list[Dispatch]:
        return [self.dispatch(alert) for alert in self.evaluate(update)]

    def on_snapshot(
        self, snapshot: LiquidationMap, *, exchanges: Sequence[str], high: float, low: float
    ) -> list[Dispatch]:
        """Entry point of the live path: the snapshot after a bar closed with this ``high``/``low``."""
        return self.process(make_update(snapshot, exchanges=tuple(exchanges), high=high, low=low, params=self.params))

    # -- storage, cooldown, delivery -------------------------------------------------------------
    def dispatch(self, alert: Alert) -> Dispatch:
        rule = next((r for r in self.rules if r.id == alert.rule_id), None)
        cooldown_ms = rule.cooldown_ms if rule is not None else 0
        aid: str | None = None
        if self.alert_store is not None:
            aid = self.alert_store.record(alert, now_ms=self._now_ms())
            if aid is None:
                return Dispatch(alert, "duplicate")
        if self.cooldown.suppressed(alert, cooldown_ms):
            self._set(aid, "suppressed", 0, None)
            return Dispatch(alert, "suppressed", alert_id=aid)
        self.cooldown.note(alert, horizon_ms=max(cooldown_ms, 1) * 4)
        urls = (rule.notify if rule is not None and rule.notify else ()) or self.default_targets
        if not urls:
            self._set(aid, "no_target", 0, None)
            return Dispatch(alert, "no_target", alert_id=aid)
        outcomes = deliver_all([self._target(url) for url in urls], alert, self.retry, sleep=self.sleep,
                               timeout_s=self.timeout_s)
        ok = all(o.ok for o in outcomes)
        errors = "; ".join(f"{o.target}: {o.error}" for o in outcomes if not o.ok) or None
        status = "delivered" if ok else "failed"
        self._set(aid, status, max(o.attempts for o in outcomes), errors, delivered=ok)
        return Dispatch(alert, status, outcomes, aid)

    def _set(self, aid: str | None, status: str, attempts: int, error: str | None, *, delivered: bool = False) -> None:
        if self.alert_store is not None and aid is not None:
            self.alert_store.set_status(
                aid, status, attempts=attempts, error=error, delivered_ms=self._now_ms() if delivered else None
            )


def heatmap_updates(
    heatmap: Heatmap, *, start: int = 0, params: ClusterParams = DEFAULT_PARAMS, sigma: Any = None
) -> Iterator[Update]:
    """One update per column of ``heatmap`` from column ``start`` (replays, backtests, the poller);
    ``sigma``: volatility per column (``liqmap.calibrate.sigma_columns``) for the clusters' reach."""
    highs, lows = heatmap.candles["high"], heatmap.candles["low"]
    for k in range(start, len(heatmap.times)):
        yield make_update(
            heatmap.column(k), exchanges=heatmap.exchanges, high=float(highs[k]), low=float(lows[k]), params=params,
            sigma=None if sigma is None else float(sigma[k]),
        )
