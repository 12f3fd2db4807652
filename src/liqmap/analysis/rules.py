"""Alert rules: the declarative spec, its validation, and (de)serialisation.

A rule is a plain mapping (TOML table, JSON body, CLI options) turned into a frozen :class:`AlertRule`
by :func:`parse_rule`, which refuses anything impossible with a :class:`ConfigError` naming the field.
Evaluation lives in :mod:`liqmap.analysis.evaluate_rules`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from liqmap.errors import ConfigError, UnknownSymbolError
from liqmap.symbols import canonical
from liqmap.types import SIDES, Side
from liqmap.venues.registry import check_exchange

RuleType = Literal["cluster_forms", "cluster_usd", "cluster_vanishes", "price_near", "sweep", "reach"]
RULE_TYPES: tuple[str, ...] = get_args(RuleType)
Direction = Literal["up", "down", "both"]

DEFAULT_COOLDOWN_MINUTES = 60.0
REACH_HORIZONS: tuple[float, ...] = (4.0, 24.0)
"""Horizons (hours) a ``reach`` rule may use: those with a fitted recalibration (liqmap.analysis.reach)."""

_COMMON = {"id", "type", "symbol", "sides", "exchanges", "cooldown_minutes", "notify", "enabled", "min_usd"}
# fields each type accepts beyond the common ones, and those it requires
_ALLOWED: dict[str, set[str]] = {
    "cluster_forms": {"within_pct"},
    "cluster_usd": {"usd", "direction", "within_pct"},
    "cluster_vanishes": {"within_pct"},
    "price_near": {"within_pct"},
    "sweep": {"within_pct", "reverse_pct", "reverse_bars"},
    "reach": {"probability", "horizon_hours", "within_pct"},
}
_REQUIRED: dict[str, set[str]] = {
    "cluster_forms": {"within_pct"},
    "cluster_usd": {"usd"},
    "cluster_vanishes": set(),
    "price_near": {"within_pct"},
    "sweep": set(),
    "reach": {"probability"},
}
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class AlertRule:
    """One alert rule. Distances in % of price, USD in USD, cooldown in minutes of event time.

    * ``cluster_forms``   a new cluster appears within ``within_pct`` of price;
    * ``cluster_usd``     a cluster's USD crosses ``usd`` (``direction`` up / down / both);
    * ``cluster_vanishes`` a tracked cluster disappears without price reaching it (positions closed);
    * ``price_near``      price comes within ``within_pct`` of a cluster's near edge;
    * ``sweep``           a bar trades through a cluster's peak; with ``reverse_pct`` (and ``reverse_bars``)
      only when price then reverses by ``reverse_pct`` % from the sweep's extreme within ``reverse_bars`` bars;
    * ``reach``           a cluster's probability of being touched within ``horizon_hours`` (4 or 24,
      :mod:`liqmap.analysis.reach`) rises to ``probability`` or more ("P(touch 24h) >= 0.6").

    ``min_usd`` ignores smaller clusters; ``within_pct`` (optional for some types) limits distance.
    """

    id: str
    type: RuleType
    symbol: str
    sides: tuple[Side, ...] = SIDES
    exchanges: tuple[str, ...] = ()
    """Exchange set the rule watches (sorted); () = whatever set the live loop runs."""
    within_pct: float | None = None
    usd: float | None = None
    min_usd: float = 0.0
    direction: Direction = "up"
    reverse_pct: float | None = None
    reverse_bars: int = 3
    cooldown_minutes: float = DEFAULT_COOLDOWN_MINUTES
    notify: tuple[str, ...] = ()
    """Delivery targets (apprise URLs, or http(s):// JSON webhooks); () = the global targets."""
    enabled: bool = True
    probability: float | None = None
    horizon_hours: float = 24.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "symbol": self.symbol, "sides": list(self.sides)}
        if self.exchanges:
            out["exchanges"] = list(self.exchanges)
        for name in ("within_pct", "usd", "reverse_pct"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.min_usd:
            out["min_usd"] = self.min_usd
        if self.type == "cluster_usd":
            out["direction"] = self.direction
        if self.type == "sweep" and self.reverse_pct is not None:
            out["reverse_bars"] = self.reverse_bars
        if self.type == "reach":
            out["probability"] = self.probability
            out["horizon_hours"] = self.horizon_hours
        out["cooldown_minutes"] = self.cooldown_minutes
        if self.notify:
            out["notify"] = list(self.notify)
        out["enabled"] = self.enabled
        return out

    @property
    def cooldown_ms(self) -> int:
        return round(self.cooldown_minutes * 60_000)


def _number(field: str, value: Any, *, low: float, high: float = math.inf, low_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{field}: must be a number, got {value!r}")
    number = float(value)
    ok = math.isfinite(number) and (number > low if low_open else number >= low) and number <= high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if math.isfinite(high) else "")
        raise ConfigError(f"{field}: must be {bound}, got {value!r}")
    return number


def _str_list(field: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{field}: must be a list of strings, got {value!r}")
    return list(value)


def _check_fields(spec: Mapping[str, Any]) -> RuleType:
    """The rule's type, once the mapping has a known type and only fields that type accepts and needs."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"rule: must be a table/object, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in RULE_TYPES:
        raise ConfigError(f"type: must be one of {', '.join(RULE_TYPES)}, got {kind!r}")
    allowed = _COMMON | _ALLOWED[kind]
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a field of a {kind} rule; accepted: {', '.join(sorted(allowed))}")
    missing = sorted(_REQUIRED[kind] - {k for k, v in spec.items() if v is not None})
    if missing:
        raise ConfigError(f"{missing[0]}: required for a {kind} rule")
    rule_type: RuleType = kind
    return rule_type


def _watched(spec: Mapping[str, Any]) -> tuple[str, tuple[str, ...], list[str]]:
    """The symbol (canonical), the sides and the exchanges the rule watches."""
    if "symbol" not in spec:
        raise ConfigError("symbol: required (e.g. BTC)")
    if not isinstance(spec["symbol"], str):
        raise ConfigError(f"symbol: must be a string, got {spec['symbol']!r}")
    try:
        symbol = canonical(spec["symbol"])
    except UnknownSymbolError as exc:
        raise ConfigError(f"symbol: {exc}") from None
    sides = tuple(_str_list("sides", spec.get("sides", list(SIDES))))
    if not sides or any(s not in SIDES for s in sides):
        raise ConfigError(f"sides: must be a non-empty subset of long, short; got {list(sides)}")
    exchanges: list[str] = []
    for name in _str_list("exchanges", spec.get("exchanges", [])):
        try:
            exchanges.append(check_exchange(name))
        except UnknownSymbolError as exc:
            raise ConfigError(f"exchanges: {exc}") from None
    return symbol, sides, exchanges


def _thresholds(spec: Mapping[str, Any], kind: str) -> tuple[dict[str, Any], Any, Any]:
    """The optional numbers (only those given), the ``direction`` and the ``reverse_bars``."""
    values: dict[str, Any] = {}
    if spec.get("within_pct") is not None:
        values["within_pct"] = _number("within_pct", spec["within_pct"], low=0, high=100)
    if spec.get("usd") is not None:
        values["usd"] = _number("usd", spec["usd"], low=0)
    if spec.get("min_usd") is not None:
        values["min_usd"] = _number("min_usd", spec["min_usd"], low=0, low_open=False)
    direction = spec.get("direction", "up")
    if direction not in ("up", "down", "both"):
        raise ConfigError(f"direction: must be up, down or both, got {direction!r}")
    if spec.get("reverse_pct") is not None:
        values["reverse_pct"] = _number("reverse_pct", spec["reverse_pct"], low=0, high=50)
    if spec.get("probability") is not None:
        values["probability"] = _number("probability", spec["probability"], low=0, high=1)
    horizon = spec.get("horizon_hours", 24.0)
    if isinstance(horizon, bool) or horizon not in REACH_HORIZONS:
        raise ConfigError(f"horizon_hours: must be one of {', '.join(f'{h:g}' for h in REACH_HORIZONS)}, "
                          f"got {horizon!r}")
    if kind == "reach":
        values["horizon_hours"] = float(horizon)
    reverse_bars = spec.get("reverse_bars", 3)
    if isinstance(reverse_bars, bool) or not isinstance(reverse_bars, int) or not 1 <= reverse_bars <= 1000:
        raise ConfigError(f"reverse_bars: must be an integer in [1, 1000], got {reverse_bars!r}")
    return values, direction, reverse_bars


def _delivery(spec: Mapping[str, Any]) -> tuple[float, tuple[str, ...], bool]:
    """``cooldown_minutes``, the ``notify`` targets and ``enabled``."""
    cooldown = _number(
        "cooldown_minutes", spec.get("cooldown_minutes", DEFAULT_COOLDOWN_MINUTES), low=0, low_open=False
    )
    notify = tuple(_str_list("notify", spec.get("notify", [])))
    for target in notify:
        if "://" not in target:
            raise ConfigError(f"notify: {target!r} is not a URL (apprise URL such as tgram://... or http(s)://...)")
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"enabled: must be true or false, got {enabled!r}")
    return cooldown, notify, enabled


def parse_rule(spec: Mapping[str, Any]) -> AlertRule:
    """Validate a rule mapping; raise :class:`ConfigError` naming the offending field."""
    kind = _check_fields(spec)
    symbol, sides, exchanges = _watched(spec)
    values, direction, reverse_bars = _thresholds(spec, kind)
    cooldown, notify, enabled = _delivery(spec)
    rule_id = spec.get("id")
    body = {
        "type": kind,
        "symbol": symbol,
        "sides": sorted(set(sides)),
        "exchanges": sorted(set(exchanges)),
        **values,
        "direction": direction,
        "reverse_bars": reverse_bars,
        "cooldown_minutes": cooldown,
    }
    if rule_id is None:
        digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
        rule_id = f"{kind}-{symbol.lower()}-{digest}"
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise ConfigError(f"id: must be 1-64 characters of letters, digits, _ . : -; got {rule_id!r}")
    return AlertRule(
        id=rule_id,
        type=kind,
        symbol=symbol,
        sides=tuple(s for s in SIDES if s in sides),
        exchanges=tuple(sorted(set(exchanges))),
        direction=direction,
        reverse_bars=reverse_bars,
        cooldown_minutes=cooldown,
        notify=notify,
        enabled=enabled,
        **values,
    )


def parse_rules(specs: list[Mapping[str, Any]]) -> list[AlertRule]:
    """Parse many rules; errors say which rule (by position and id) and which field."""
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        try:
            rule = parse_rule(spec)
        except ConfigError as exc:
            label = spec.get("id") if isinstance(spec, Mapping) else None
            raise ConfigError(f"rule #{i + 1}{f' ({label})' if label else ''}: {exc}") from None
        if rule.id in seen:
            raise ConfigError(f"rule #{i + 1} ({rule.id}): id: duplicate rule id")
        seen.add(rule.id)
        rules.append(rule)
    return rules
