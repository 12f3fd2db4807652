"""A parsed file ready to store: column arrays per table, built and validated entirely in memory.

Importers return a :class:`Batch`; nothing touches the store until the whole file has parsed, so a
malformed file stores nothing and loses nothing.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liqmap.errors import BadSeriesError
from liqmap.store import schema
from liqmap.validation import column_problem

_ARROW_TYPES = {int: "int64", float: "float64", str: "string", bool: "bool_"}


@dataclass
class Batch:
    format: str
    rows_read: int
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, record_type: type, n: int, **values: Any) -> None:
        """Add ``n`` rows of ``record_type``: each field is an array/list of length n or a constant.

        Fields not given take the record's default; ``None`` and NaN in optional fields become NULL.
        """
        import pyarrow as pa

        problem = column_problem(record_type, values)  # the one validation live records pass too
        if problem is not None:
            raise BadSeriesError(f"{self.format}: {problem}")
        table = schema.RECORD_TABLES[record_type]
        hints = typing.get_type_hints(record_type)
        cols: dict[str, Any] = {}
        for f in dataclasses.fields(record_type):
            if f.name in values:
                value = values[f.name]
            elif f.default is not dataclasses.MISSING:
                value = f.default
            else:
                raise TypeError(f"{record_type.__name__}.{f.name} is required")
            arrow_type = getattr(pa, _arrow_name(hints[f.name]))()
            if isinstance(value, np.ndarray | list):
                if len(value) != n:
                    raise ValueError(f"{f.name}: {len(value)} values for {n} rows")
                cols[f.name] = pa.array(value, type=arrow_type, from_pandas=True)
            elif value is None:
                cols[f.name] = pa.nulls(n, type=arrow_type)
            else:
                cols[f.name] = pa.array(
                    np.full(n, value) if not isinstance(value, str) else [value] * n, type=arrow_type
                )
        if table in self.tables:
            self.tables[table] = {k: pa.concat_arrays([self.tables[table][k], v]) for k, v in cols.items()}
        else:
            self.tables[table] = cols

    def rows(self, table: str) -> int:
        cols = self.tables.get(table)
        return len(next(iter(cols.values()))) if cols else 0


def _arrow_name(annotation: object) -> str:
    for hint in typing.get_args(annotation) or (annotation,):
        if hint in _ARROW_TYPES:
            return _ARROW_TYPES[hint]
    return "string"
