"""Re-imported rows whose key is stored but whose values differ: counted and shown, never silent.

The store keeps the first row of each key (``ON CONFLICT DO NOTHING``); a file that says something else
for a stored key (a revised export, another vendor's rounding) used to be dropped without a word.
"""

from __future__ import annotations

from typing import Any

from liqmap.store import schema

IGNORED = frozenset({"ts_recv"})
"""Columns that legitimately differ between two imports of the same fact (when it was received)."""


def differing_rows(store: Any, table: str, cols: dict[str, Any]) -> tuple[int, str | None]:
    """``(count, first example)`` of rows in ``cols`` whose key is in ``table`` with other values.

    Needs a store with a DuckDB ``connection`` (others answer ``(0, None)``: nothing to compare)."""
    con = getattr(store, "connection", None)
    if con is None or table in schema.UPSERT or table not in schema.KEYS:
        return 0, None
    import pyarrow as pa

    keys = schema.KEYS[table]
    names = [n for n in cols if n not in keys and n not in IGNORED]
    if not names:
        return 0, None
    incoming = pa.table(cols)
    if incoming.num_rows == 0:
        return 0, None
    on = " AND ".join(f"s.{k} = f.{k}" for k in keys)
    differs = " OR ".join(f"s.{n} IS DISTINCT FROM f.{n}" for n in names)
    shown = ", ".join([f"f.{k}" for k in keys] + [f"s.{n}" for n in names] + [f"f.{n}" for n in names])
    view = "liqmap_incoming_rows"
    con.register(view, incoming)
    try:
        sql = f"FROM {table} s JOIN {view} f ON {on} WHERE {differs}"
        count = int(con.execute(f"SELECT count(*) {sql}").fetchall()[0][0])
        if not count:
            return 0, None
        row = con.execute(f"SELECT {shown} {sql} ORDER BY f.ts_event LIMIT 1").fetchall()[0]
    finally:
        con.unregister(view)
    k, n = len(keys), len(names)
    key_text = ", ".join(f"{name}={value}" for name, value in zip(keys, row[:k], strict=True))
    changes = [
        f"{name} stored {old!r}, file {new!r}"
        for name, old, new in zip(names, row[k : k + n], row[k + n :], strict=True)
        if old != new
    ]
    return count, f"{key_text}: {'; '.join(changes)}"
