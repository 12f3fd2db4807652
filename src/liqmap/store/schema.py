"""Table definitions of the embedded store.

Record tables are derived from the record dataclasses in :mod:`liqmap.types` (one column per field,
same names), so a record type and its table cannot drift apart. ``KEYS`` is each table's primary key:
inserting a row whose key already exists is a no-op, which makes every import and backfill idempotent.
``UPSERT`` tables (metadata that venues revise) replace the old row instead.
"""

from __future__ import annotations

import dataclasses
import types as _pytypes
import typing

from liqmap import types as t

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

UPSERT: frozenset[str] = frozenset({"instruments", "margin_tiers"})

# Tables that are not records (owned by other layers, e.g. alerts). name -> DDL body.
EXTRA_TABLES: dict[str, str] = {}

_SQL_TYPES = {int: "BIGINT", float: "DOUBLE", str: "VARCHAR", bool: "BOOLEAN"}


def _sql_type(annotation: object) -> str:
    hints = typing.get_args(annotation) if isinstance(annotation, _pytypes.UnionType) else (annotation,)
    for hint in hints:
        if hint in _SQL_TYPES:
            return _SQL_TYPES[hint]  # type: ignore[index]
        if typing.get_origin(hint) is typing.Literal:
            return "VARCHAR"
    return "VARCHAR"


def columns(record_type: type) -> list[str]:
    return [f.name for f in dataclasses.fields(record_type)]


def create_statements() -> list[str]:
    statements = []
    for record_type, table in RECORD_TABLES.items():
        hints = typing.get_type_hints(record_type)
        cols = ", ".join(f"{name} {_sql_type(hints[name])}" for name in columns(record_type))
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table} ({cols}, PRIMARY KEY ({', '.join(KEYS[table])}))"
        )
    statements.extend(f"CREATE TABLE IF NOT EXISTS {name} ({ddl})" for name, ddl in EXTRA_TABLES.items())
    return statements
