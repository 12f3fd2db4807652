"""The alerts config file (TOML, read with the standard library's ``tomllib``)::

    [delivery]
    targets = ["https://example.org/hook", "tgram://BOT_TOKEN/CHAT_ID", "ntfy://liqmap-alerts"]
    attempts = 4            # tries per target
    backoff_seconds = 0.5   # first wait; doubles per try, capped at 30 s
    timeout_seconds = 20    # deadline of one target's delivery (all tries); targets are sent to at once
    allow_private_targets = false   # true: targets may be on loopback/private/link-local addresses

    [defaults]              # merged into every rule (a rule's own value wins)
    symbol = "BTC"
    cooldown_minutes = 60

    [[rules]]
    id = "btc-near"
    type = "price_near"
    within_pct = 1.0
    sides = ["long", "short"]
    exchanges = ["binance"]

Every problem is a :class:`ConfigError` naming the file, the rule and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liqmap.alerts.delivery import DEFAULT_RETRY, TARGET_TIMEOUT_S, Retry
from liqmap.alerts.targets import TargetPolicy
from liqmap.analysis.rules import AlertRule, parse_rules
from liqmap.errors import ConfigError

_TOP = {"delivery", "defaults", "rules"}
_DELIVERY = {"targets", "attempts", "backoff_seconds", "timeout_seconds", "allow_private_targets"}


@dataclass(frozen=True)
class AlertsConfig:
    rules: list[AlertRule] = field(default_factory=list)
    targets: tuple[str, ...] = ()
    retry: Retry = DEFAULT_RETRY
    allow_private_targets: bool = False
    timeout_s: float = TARGET_TIMEOUT_S

    @property
    def policy(self) -> TargetPolicy:
        return TargetPolicy(allow_private=self.allow_private_targets)


def parse_config(data: Mapping[str, Any], source: str = "config") -> AlertsConfig:
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ConfigError(f"{source}: {unknown[0]}: unknown section; accepted: {', '.join(sorted(_TOP))}")
    delivery = data.get("delivery", {})
    if not isinstance(delivery, Mapping):
        raise ConfigError(f"{source}: delivery: must be a table")
    bad = sorted(set(delivery) - _DELIVERY)
    if bad:
        raise ConfigError(f"{source}: delivery.{bad[0]}: unknown field; accepted: {', '.join(sorted(_DELIVERY))}")
    targets = delivery.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) and "://" in t for t in targets):
        raise ConfigError(f"{source}: delivery.targets: must be a list of URLs")
    attempts = delivery.get("attempts", Retry.attempts)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise ConfigError(f"{source}: delivery.attempts: must be an integer in [1, 20], got {attempts!r}")
    backoff = delivery.get("backoff_seconds", Retry.base_s)
    if isinstance(backoff, bool) or not isinstance(backoff, int | float) or not 0 <= backoff <= 600:
        raise ConfigError(f"{source}: delivery.backoff_seconds: must be a number in [0, 600], got {backoff!r}")
    timeout = delivery.get("timeout_seconds", TARGET_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.1 <= timeout <= 600:
        raise ConfigError(f"{source}: delivery.timeout_seconds: must be a number in [0.1, 600], got {timeout!r}")
    allow_private = delivery.get("allow_private_targets", False)
    if not isinstance(allow_private, bool):
        raise ConfigError(f"{source}: delivery.allow_private_targets: must be true or false, got {allow_private!r}")
    try:
        TargetPolicy().check_all(targets, resolve_hosts=False)
    except ConfigError as exc:
        raise ConfigError(f"{source}: delivery.targets: {exc}") from None
    defaults = data.get("defaults", {})
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"{source}: defaults: must be a table")
    specs = data.get("rules", [])
    if not isinstance(specs, list) or not all(isinstance(s, Mapping) for s in specs):
        raise ConfigError(f"{source}: rules: must be an array of tables ([[rules]])")
    try:
        rules = parse_rules([{**defaults, **spec} for spec in specs])
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return AlertsConfig(rules, tuple(targets), Retry(attempts=attempts, base_s=float(backoff)),
                        allow_private_targets=allow_private, timeout_s=float(timeout))


def load_config(path: str | Path) -> AlertsConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data, str(path))
