"""Every table of the store, declared once, for every backend.

Record tables are derived from the record dataclasses in :mod:`liqmap.types` (one column per field,
same names), so a record type and its table cannot drift apart. ``KEYS`` is each table's primary key:
inserting a row whose key already exists is a no-op, which makes every import and backfill idempotent.
``UPSERT`` tables (metadata that venues revise, alert rules) replace the old row instead.

Tables that are not records (alert rules and fired alerts) are declared here too, explicitly, so that a
store knows all of its tables when it opens; no layer registers tables behind the store's back.

Each backend renders :data:`TABLES` in its own SQL dialect (``sql_type`` gives the neutral type names).
Time-series tables name their time column (``time_column``) and a partition width: the PostgreSQL
backend partitions them by range of that column so that retention drops whole partitions.
"""

from __future__ import annotations

import dataclasses
import types as _pytypes
import typing
from dataclasses import dataclass

from liqmap import types as t
from liqmap.types import DAY_MS

RECORD_TABLES: dict[type, str] = {
    t.Bar: "bars",
    t.OpenInterest: "open_interest",
    t.Funding: "funding",
    t.MarkPrice: "mark_prices",
    t.Trade: "trades",
    t.Liquidation: "liquidations",
    t.LiquidationBar: "liquidation_bars",
    t.Instrument: "instruments",
    t.MarginTier: "margin_tiers",
    t.PositionSnapshot: "position_snapshots",
}

KEYS: dict[str, tuple[str, ...]] = {
    "bars": ("exchange", "market", "symbol", "interval_ms", "ts_event"),
    "open_interest": ("exchange", "symbol", "ts_event"),
    "funding": ("exchange", "symbol", "ts_event"),
    "mark_prices": ("exchange", "symbol", "ts_event"),
    "trades": ("exchange", "symbol", "trade_id"),
    "liquidations": ("exchange", "symbol", "ts_event", "side", "price", "quantity"),
    "liquidation_bars": ("exchange", "symbol", "interval_ms", "ts_event"),
    "instruments": ("exchange", "symbol"),
    "margin_tiers": ("exchange", "symbol", "tier"),
    "position_snapshots": ("exchange", "account", "symbol", "ts_event"),
}

UPSERT: frozenset[str] = frozenset({"instruments", "margin_tiers", "alert_rules"})

# Width of one time partition (PostgreSQL backend). High-volume tables get days, so that a retention of a
# week drops whole days; the others months (30 days of ms, aligned to the epoch).
PARTITION_MS: dict[str, int] = {
    "trades": DAY_MS,
    "mark_prices": DAY_MS,
    "liquidations": 30 * DAY_MS,
    "bars": 30 * DAY_MS,
    "open_interest": 30 * DAY_MS,
    "funding": 30 * DAY_MS,
    "liquidation_bars": 30 * DAY_MS,
    "position_snapshots": DAY_MS,
}

# Neutral column types; each backend maps them to its own names.
BIGINT, DOUBLE, TEXT, BOOLEAN = "BIGINT", "DOUBLE", "TEXT", "BOOLEAN"
_SQL_TYPES = {int: BIGINT, float: DOUBLE, str: TEXT, bool: BOOLEAN}


@dataclass(frozen=True)
class Table:
    """One table: ordered ``(column, neutral type)`` pairs, its key, its time column and partitioning."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    time_column: str | None = None
    partition_ms: int | None = None

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def upsert(self) -> bool:
        return self.name in UPSERT


def sql_type(annotation: object) -> str:
    """The neutral SQL type of a dataclass field annotation (``int | None`` -> BIGINT, Literal -> TEXT)."""
    hints = typing.get_args(annotation) if isinstance(annotation, _pytypes.UnionType) else (annotation,)
    for hint in hints:
        if hint in _SQL_TYPES:
            return _SQL_TYPES[hint]
        if typing.get_origin(hint) is typing.Literal:
            return TEXT
    return TEXT


def columns(record_type: type) -> list[str]:
    return [f.name for f in dataclasses.fields(record_type)]


def _record_table(record_type: type, name: str) -> Table:
    hints = typing.get_type_hints(record_type)
    cols = tuple((field, sql_type(hints[field])) for field in columns(record_type))
    has_time = any(field == "ts_event" for field, _ in cols)
    return Table(name, cols, KEYS[name], "ts_event" if has_time else None, PARTITION_MS.get(name))


ALERT_RULES = Table(
    "alert_rules",
    (("id", TEXT), ("symbol", TEXT), ("type", TEXT), ("spec", TEXT), ("created_ms", BIGINT)),
    key=("id",),
    time_column="created_ms",
)
ALERTS = Table(
    "alerts",
    (
        ("id", TEXT), ("ts", BIGINT), ("created_ms", BIGINT), ("rule_id", TEXT), ("kind", TEXT),
        ("symbol", TEXT), ("exchanges", TEXT), ("side", TEXT), ("price", DOUBLE), ("level_price", DOUBLE),
        ("usd", DOUBLE), ("message", TEXT), ("context", TEXT), ("status", TEXT), ("attempts", BIGINT),
        ("error", TEXT), ("delivered_ms", BIGINT),
    ),
    key=("id",),
    time_column="ts",
)


def _all_tables() -> dict[str, Table]:
    out = {name: _record_table(record_type, name) for record_type, name in RECORD_TABLES.items()}
    out.update({table.name: table for table in (ALERT_RULES, ALERTS)})
    return out


TABLES: dict[str, Table] = _all_tables()
"""Every table of the store by name, in creation order."""


def table(name: str) -> Table:
    from liqmap.errors import ConfigError

    try:
        return TABLES[name]
    except KeyError:
        raise ConfigError(f"unknown table {name!r}; tables: {sorted(TABLES)}") from None
