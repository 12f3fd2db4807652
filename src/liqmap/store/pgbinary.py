"""Numeric reads from PostgreSQL's binary ``COPY`` format, decoded by numpy in one pass.

The text ``COPY`` that :class:`~liqmap.store.postgres_store.PostgresStore` uses for general reads spends most
of a large read printing and parsing doubles. For reads of numeric columns only (the model's bars, open
interest, funding) every row of the binary format has the same layout, so the whole payload is one numpy
structured array: no per-row Python, the same bits as stored. Written here because neither psycopg (its
binary ``Copy.rows()`` builds a Python tuple per row) nor pyarrow reads this format into arrays.

The format (PostgreSQL documentation, "COPY", section "Binary Format"): an 11-byte signature, a 32-bit flags
field and a 32-bit header-extension length (then that many bytes); then per row a 16-bit field count followed
by, per field, a 32-bit byte length (-1 for NULL) and the value in network byte order; a 16-bit -1 ends the
data. NULLs would change a row's length, so the query (:func:`select_list`) never returns one: a DOUBLE NULL is
read as NaN (what the text path returns) and a BIGINT column comes with an ``IS NULL`` flag beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from liqmap.errors import StoreError
from liqmap.store import schema

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_WIDTH = {schema.DOUBLE: 8, schema.BIGINT: 8, schema.BOOLEAN: 1}
_WIRE = {schema.DOUBLE: ">f8", schema.BIGINT: ">i8", schema.BOOLEAN: "u1"}


def supports(spec: schema.Table, wanted: Sequence[str]) -> bool:
    """Whether every wanted column is a DOUBLE or a BIGINT (the binary path's fixed-width types)."""
    kinds = dict(spec.columns)
    return all(kinds[name] in (schema.DOUBLE, schema.BIGINT) for name in wanted)


def select_list(spec: schema.Table, wanted: Sequence[str]) -> list[str]:
    """The SELECT expressions: each DOUBLE with NULL as NaN, each BIGINT with NULL as 0 and its null flag."""
    kinds = dict(spec.columns)
    out: list[str] = []
    for name in wanted:
        if kinds[name] == schema.DOUBLE:
            out.append(f"COALESCE({name}, 'NaN'::float8)")
        else:
            out += [f"COALESCE({name}, 0)", f"({name} IS NULL)"]
    return out


def decode(spec: schema.Table, wanted: Sequence[str], payload: bytes) -> dict[str, np.ndarray]:
    """The columns of a binary ``COPY`` of :func:`select_list`, typed like the text path's reads: DOUBLE as
    float64 (NULL as NaN), BIGINT as int64, or float64 with NaN where a value was NULL."""
    kinds = dict(spec.columns)
    fields = [(name, kinds[name]) for name in wanted]
    wire: list[tuple[str, str]] = []
    for name, kind in fields:
        wire.append((name, kind))
        if kind == schema.BIGINT:
            wire.append((name + "__null", schema.BOOLEAN))
    body = _body(payload)
    dtype = np.dtype([("count", ">i2")] + [entry for i, (_, kind) in enumerate(wire)
                                          for entry in ((f"len{i}", ">i4"), (f"val{i}", _WIRE[kind]))])
    if len(body) % dtype.itemsize:
        raise StoreError(f"binary COPY of {spec.name}: {len(body)} bytes is not a whole number of "
                         f"{dtype.itemsize}-byte rows")
    rows = np.frombuffer(body, dtype=dtype)
    if rows.size and (np.any(rows["count"] != len(wire))
                      or any(np.any(rows[f"len{i}"] != _WIDTH[kind]) for i, (_, kind) in enumerate(wire))):
        raise StoreError(f"binary COPY of {spec.name}: a row does not have the expected fields")
    out: dict[str, np.ndarray] = {}
    index = 0
    for name, kind in fields:
        values = rows[f"val{index}"]
        if kind == schema.DOUBLE:
            out[name] = values.astype(np.float64)
            index += 1
            continue
        nulls = rows[f"val{index + 1}"].astype(bool)
        out[name] = (np.where(nulls, np.nan, values.astype(np.float64)) if nulls.any()
                     else values.astype(np.int64))
        index += 2
    return out


def _body(payload: bytes) -> memoryview:
    """The rows of a binary COPY payload: header and trailer checked and cut off."""
    view = memoryview(payload)
    if bytes(view[: len(SIGNATURE)]) != SIGNATURE or len(view) < len(SIGNATURE) + 10:
        raise StoreError("binary COPY: the payload does not start with PostgreSQL's signature")
    extension = int.from_bytes(view[len(SIGNATURE) + 4 : len(SIGNATURE) + 8], "big")
    start = len(SIGNATURE) + 8 + extension
    if bytes(view[-2:]) != b"\xff\xff":
        raise StoreError("binary COPY: the payload has no end-of-data marker")
    return view[start:-2]
