"""Alert rules and fired alerts in the store (tables registered in ``store.schema.EXTRA_TABLES``).

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
from liqmap.store import schema

RULES_TABLE = "alert_rules"
ALERTS_TABLE = "alerts"

TABLES: dict[str, str] = {
    RULES_TABLE: "id VARCHAR PRIMARY KEY, symbol VARCHAR, type VARCHAR, spec VARCHAR, created_ms BIGINT",
    ALERTS_TABLE: (
        "id VARCHAR PRIMARY KEY, ts BIGINT, created_ms BIGINT, rule_id VARCHAR, kind VARCHAR, symbol VARCHAR, "
        "exchanges VARCHAR, side VARCHAR, price DOUBLE, level_price DOUBLE, usd DOUBLE, message VARCHAR, "
        "context VARCHAR, status VARCHAR, attempts INTEGER, error VARCHAR, delivered_ms BIGINT"
    ),
}
schema.EXTRA_TABLES.update(TABLES)

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


_ALERT_COLUMNS = (
    "id, ts, created_ms, rule_id, kind, symbol, exchanges, side, price, level_price, usd, message, context, "
    "status, attempts, error, delivered_ms"
)


class AlertStore:
    """Rules and alert history on a :class:`~liqmap.store.DuckDBStore` (any object with ``execute``)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._ready = False

    def ensure_tables(self) -> None:
        # The store creates EXTRA_TABLES when it opens; it may have opened before this module was imported.
        if not self._ready:
            for name, ddl in TABLES.items():
                self.store.execute(f"CREATE TABLE IF NOT EXISTS {name} ({ddl})")
            self._ready = True

    # -- rules -----------------------------------------------------------------------------------
    def save_rule(self, rule: AlertRule, now_ms: int, *, replace: bool = False) -> bool:
        """Store ``rule``; returns False when a rule with its id exists and ``replace`` is False."""
        self.ensure_tables()
        exists = self.store.execute(f"SELECT 1 FROM {RULES_TABLE} WHERE id = ?", [rule.id])
        if exists and not replace:
            return False
        spec = json.dumps(rule.to_dict(), sort_keys=True)
        if exists:
            self.store.execute(
                f"UPDATE {RULES_TABLE} SET symbol = ?, type = ?, spec = ? WHERE id = ?",
                [rule.symbol, rule.type, spec, rule.id],
            )
        else:
            self.store.execute(
                f"INSERT INTO {RULES_TABLE} VALUES (?, ?, ?, ?, ?)", [rule.id, rule.symbol, rule.type, spec, now_ms]
            )
        return True

    def rules(self, symbol: str | None = None) -> list[AlertRule]:
        self.ensure_tables()
        where, params = ("WHERE symbol = ?", [symbol]) if symbol else ("", [])
        rows = self.store.execute(f"SELECT id, spec FROM {RULES_TABLE} {where} ORDER BY created_ms, id", params)
        out = []
        for rule_id, spec in rows:
            try:
                out.append(parse_rule(json.loads(spec)))
            except (ConfigError, ValueError) as exc:
                raise ConfigError(f"stored rule {rule_id!r} is no longer valid: {exc}") from exc
        return out

    def remove_rule(self, rule_id: str) -> bool:
        self.ensure_tables()
        found = self.store.execute(f"SELECT 1 FROM {RULES_TABLE} WHERE id = ?", [rule_id])
        if found:
            self.store.execute(f"DELETE FROM {RULES_TABLE} WHERE id = ?", [rule_id])
        return bool(found)

    # -- alerts ----------------------------------------------------------------------------------
    def record(self, alert: Alert, *, now_ms: int, status: str = "pending") -> str | None:
        """Insert ``alert``; returns its id, or None when it was stored before (a replayed alert)."""
        if status not in STATUSES:
            raise ConfigError(f"status: {status!r}; accepted: {', '.join(STATUSES)}")
        self.ensure_tables()
        aid = alert_id(alert)
        rows = self.store.execute(
            f"INSERT INTO {ALERTS_TABLE} ({_ALERT_COLUMNS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            [
                aid, alert.ts, now_ms, alert.rule_id, alert.kind, alert.symbol, ",".join(alert.exchanges),
                alert.side, alert.price, alert.level_price, alert.usd, alert.message,
                json.dumps(_clean(alert.context), sort_keys=True), status, 0, None, None,
            ],
        )
        return aid if rows else None

    def set_status(
        self, aid: str, status: str, *, attempts: int, error: str | None = None, delivered_ms: int | None = None
    ) -> None:
        if status not in STATUSES:
            raise ConfigError(f"status: {status!r}; accepted: {', '.join(STATUSES)}")
        self.store.execute(
            f"UPDATE {ALERTS_TABLE} SET status = ?, attempts = ?, error = ?, delivered_ms = ? WHERE id = ?",
            [status, attempts, error, delivered_ms, aid],
        )

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
        self.ensure_tables()
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("symbol", symbol), ("rule_id", rule_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(int(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.store.execute(
            f"SELECT {_ALERT_COLUMNS} FROM {ALERTS_TABLE} {where} ORDER BY ts DESC, created_ms DESC, id LIMIT ?",
            [*params, int(limit)],
        )
        return [
            StoredAlert(
                id=r[0], ts=int(r[1]), created_ms=int(r[2]), rule_id=r[3], kind=r[4], symbol=r[5],
                exchanges=[e for e in (r[6] or "").split(",") if e], side=r[7], price=float(r[8]),
                level_price=float(r[9]), usd=float(r[10]), message=r[11], context=json.loads(r[12] or "{}"),
                status=r[13], attempts=int(r[14] or 0), error=r[15],
                delivered_ms=None if r[16] is None else int(r[16]),
            )
            for r in rows
        ]
