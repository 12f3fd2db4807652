"""The store interface every other layer uses, whatever the backend.

Backends: :class:`~liqmap.store.duckdb_store.DuckDBStore` (embedded file, the default),
:class:`~liqmap.store.postgres_store.PostgresStore` (a PostgreSQL server shared by many processes) and
:class:`~liqmap.store.remote.RemoteStore` (read-only, through a running ``liqmap serve`` that holds an
embedded file). :func:`liqmap.store.open_store` picks one from a ``--db`` value.

Semantics shared by all backends (the store test suite runs against each):

* ``write``/``write_columns`` are idempotent by the table's key (:data:`schema.KEYS`): a row whose key exists
  is skipped, except in ``UPSERT`` tables where it replaces the old row; they return the number of *new*
  keys. A failing batch stores nothing of that batch and leaves everything stored before it intact.
* ``read`` returns numpy columns ordered by the table's time column then its key; NULL comes back as NaN
  (floats, and integers with a NULL) or None (text).
* ``version()`` changes whenever committed data changes (from any process for a shared server), so live
  views can poll one cheap value; ``on_change`` calls back when a write may have changed data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np

from liqmap.types import Record

Columns = dict[str, np.ndarray]


@runtime_checkable
class Store(Protocol):
    """What every layer above ``store/`` may call."""

    location: str
    """Where the data lives, for messages (a file path, or a URL without its password)."""

    read_only: bool

    # -- lifecycle
    def open(self) -> Self: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    # -- writes
    def write(self, records: Iterable[Record]) -> dict[str, int]: ...

    def write_columns(self, table: str, cols: Mapping[str, Sequence[Any] | np.ndarray]) -> int: ...

    def update(self, table: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        """Set ``values`` on the row(s) matching ``key`` (column == value); returns rows changed."""
        ...

    def delete(self, table: str, *, start: int | None = None, end: int | None = None, **equals: Any) -> int:
        """Delete the rows the filters select (same filters as :meth:`read`); returns rows deleted."""
        ...

    def transaction(self) -> contextlib.AbstractContextManager[Any]: ...

    def prune(self, retention_ms: Mapping[str, int | None], now_ms: int, dry_run: bool = False) -> dict[str, int]:
        """Drop rows older than ``now_ms - retention`` per table (None = keep forever); rows per table."""
        ...

    # -- reads
    def read(
        self,
        table: str,
        *,
        start: int | None = None,
        end: int | None = None,
        columns: Sequence[str] | None = None,
        descending: bool = False,
        limit: int | None = None,
        **equals: Any,
    ) -> Columns: ...

    def resample_bars(
        self, *, start: int, end: int, interval_ms: int, source_interval_ms: int, **equals: Any
    ) -> Columns: ...

    def latest_ts(self, table: str, **equals: Any) -> int | None: ...

    def distinct(
        self, table: str, column: str, *, start: int | None = None, end: int | None = None, **equals: Any
    ) -> list[Any]: ...

    def fingerprint(
        self, table: str, *, start: int | None = None, end: int | None = None, **equals: Any
    ) -> tuple[int, str]: ...

    def series(self, table: str) -> list[dict[str, Any]]: ...

    def inventory(self) -> list[dict[str, Any]]: ...

    def version(self) -> tuple[tuple[str, int], ...]:
        """``(table, n)`` pairs; ``n`` grows whenever committed data of the table changes."""
        ...

    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from any thread) after data may have changed; returns an unsubscribe."""
        ...


class Lifecycle:
    """``with store:`` opens and closes any backend (each defines ``open`` and ``close``)."""

    def open(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ChangeCallbacks:
    """The ``on_change`` bookkeeping shared by the backends."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def add(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._callbacks.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return remove

    def fire(self) -> None:
        for callback in list(self._callbacks):
            callback()

    def __bool__(self) -> bool:
        return bool(self._callbacks)

