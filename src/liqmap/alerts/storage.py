"""Alert rules and fired alerts in the store (tables ``alert_rules`` and ``alerts``, declared in
:mod:`liqmap.store.schema`), through the store interface only, so they live in either backend.

``alerts.id`` is a digest of (rule, kind, side, level id, level price, event time): storing the same alert twice is a
no-op, which is what makes delivery exactly-once across restarts and replays (the loop delivers only
alerts whose insert created a row).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from liqmap.analysis.evaluate_rules import Alert
from liqmap.analysis.rules import AlertRule, parse_rule
from liqmap.errors import ConfigError
from liqmap.store import Store, schema

RULES_TABLE = schema.ALERT_RULES.name
ALERTS_TABLE = schema.ALERTS.name

STATUSES = ("pending", "delivered", "failed", "suppressed", "no_target")


def alert_id(alert: Alert) -> str:
    key = f"{alert.rule_id}|{alert.kind}|{alert.side}|{alert.cid!r}|{alert.level_price!r}|{alert.ts}"
    return hashlib.sha1(key.encode()).hexdigest()[:20]


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass(frozen=True)
class StoredAlert:
    id: str
    ts: int
    created_ms: int
    rule_id: str
    kind: str
    symbol: str
    exchanges: list[str]
    side: str
    price: float
    level_price: float
    usd: float
    message: str
    context: dict[str, Any]
    status: str
    attempts: int
    error: str | None
    delivered_ms: int | None

    def to_dict(self) -> dict[str, Any]:
        return _clean(self.__dict__)  # type: ignore[no-any-return]


class AlertStore:
    """Rules and alert history on any :class:`~liqmap.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- rules -----------------------------------------------------------------------------------
    def save_rule(self, rule: AlertRule, now_ms: int, *, replace: bool = False) -> bool:
        """Store ``rule``; returns False when a rule with its id exists and ``replace`` is False."""
        existing = self.store.read(RULES_TABLE, columns=["created_ms"], id=rule.id)["created_ms"]
        if len(existing) and not replace:
            return False
        created = int(existing[0]) if len(existing) else now_ms
        spec = json.dumps(rule.to_dict(), sort_keys=True)
        self.store.write_columns(RULES_TABLE, {"id": [rule.id], "symbol": [rule.symbol], "type": [rule.type],
                                               "spec": [spec], "created_ms": [created]})
        return True

    def rules(self, symbol: str | None = None) -> list[AlertRule]:
        rows = self.store.read(RULES_TABLE, columns=["id", "spec"], symbol=symbol)
        out = []
        for rule_id, spec in zip(rows["id"], rows["spec"], strict=True):
            try:
                out.append(parse_rule(json.loads(spec)))
            except (ConfigError, ValueError) as exc:
                raise ConfigError(f"stored rule {rule_id!r} is no longer valid: {exc}") from exc
        return out

    def remove_rule(self, rule_id: str) -> bool:
        return self.store.delete(RULES_TABLE, id=rule_id) > 0

    # -- alerts ----------------------------------------------------------------------------------
    def record(self, alert: Alert, *, now_ms: int, status: str = "pending") -> str | None:
        """Insert ``alert``; returns its id, or None when it was stored before (a replayed alert)."""
        if status not in STATUSES:
            raise ConfigError(f"status: {status!r}; accepted: {', '.join(STATUSES)}")
        aid = alert_id(alert)
        row = {
            "id": aid, "ts": alert.ts, "created_ms": now_ms, "rule_id": alert.rule_id, "kind": alert.kind,
            "symbol": alert.symbol, "exchanges": ",".join(alert.exchanges), "side": alert.side,
            "price": alert.price, "level_price": alert.level_price, "usd": alert.usd, "message": alert.message,
            "context": json.dumps(_clean(alert.context), sort_keys=True), "status": status, "attempts": 0,
            "error": None, "delivered_ms": None,
        }
        new = self.store.write_columns(ALERTS_TABLE, {name: [value] for name, value in row.items()})
        return aid if new else None

    def set_status(
        self, aid: str, status: str, *, attempts: int, error: str | None = None, delivered_ms: int | None = None
    ) -> None:
        if status not in STATUSES:
            raise ConfigError(f"status: {status!r}; accepted: {', '.join(STATUSES)}")
        self.store.update(ALERTS_TABLE, {"id": aid},
                          {"status": status, "attempts": attempts, "error": error, "delivered_ms": delivered_ms})

    def history(
        self,
        *,
        symbol: str | None = None,
        rule_id: str | None = None,
        since: int | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[StoredAlert]:
        """Stored alerts, newest first."""
        rows = self.store.read(ALERTS_TABLE, start=since, descending=True, limit=int(limit), symbol=symbol,
                               rule_id=rule_id, status=status)
        out = []
        for i in range(len(rows["id"])):
            r = {name: values[i] for name, values in rows.items()}
            out.append(StoredAlert(
                id=r["id"], ts=int(r["ts"]), created_ms=int(r["created_ms"]), rule_id=r["rule_id"], kind=r["kind"],
                symbol=r["symbol"], exchanges=[e for e in (r["exchanges"] or "").split(",") if e], side=r["side"],
                price=float(r["price"]), level_price=float(r["level_price"]), usd=float(r["usd"]),
                message=r["message"], context=json.loads(r["context"] or "{}"), status=r["status"],
                attempts=int(r["attempts"] or 0), error=r["error"], delivered_ms=_int_or_none(r["delivered_ms"]),
            ))
        return out


def _int_or_none(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)
