"""Reading an embedded store that a running ``liqmap serve`` holds.

DuckDB admits one process per file. A server on the file announces itself beside it
(``<file>.server.json``: its loopback URL, its pid and a random key, readable by the file's owner only);
:class:`FallbackStore`, which the read commands open, tries the file first and, when the file is held,
reads through that server instead: :class:`RemoteStore` sends each store read to ``POST /api/store``
(:mod:`liqmap.service.routes_store`) and gets numpy columns back as Arrow IPC. The same code then runs on
the same rows, so a command prints the same answer with the server up as with it stopped.

A home-made wire protocol is kept to the store's read methods, on the server's existing HTTP API
(httpx + Arrow IPC): there is no socket protocol of our own between processes.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from liqmap.errors import StoreError, StoreLockedError, StoreUnavailableError
from liqmap.store.announce import announce_path, announced, read_announcement
from liqmap.store.duckdb_store import DuckDBStore
from liqmap.store.protocol import Lifecycle

__all__ = ["FallbackStore", "RemoteStore", "announce_path", "announced", "read_announcement"]

KEY_HEADER = "X-Liqmap-Store-Key"
READ_METHODS = frozenset({"read", "resample_bars", "latest_ts", "distinct", "fingerprint", "series", "inventory",
                          "version"})
"""The store methods a server answers for a reader (the read side of the Store protocol)."""


def encode_columns(columns: dict[str, np.ndarray]) -> bytes:
    import pyarrow as pa

    table = pa.table({name: pa.array(values.tolist() if values.dtype == object else values)
                      for name, values in columns.items()})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def decode_columns(payload: bytes) -> dict[str, np.ndarray]:
    import pyarrow as pa

    table = pa.ipc.open_stream(payload).read_all()
    out = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or pa.types.is_null(column.type):
            out[name] = np.array(column.to_pylist(), dtype=object)
        else:
            out[name] = column.to_numpy()
    return out


class RemoteStore(Lifecycle):
    """The read side of the store interface, answered by a running server. Writes are refused."""

    read_only = True

    def __init__(self, url: str, key: str | None = None, *, timeout_s: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.location = f"{self.url} (liqmap serve)"
        self.key = key
        self.timeout_s = timeout_s
        self._client: Any = None

    def open(self) -> Self:
        import httpx

        if self._client is None:
            headers = {KEY_HEADER: self.key} if self.key else {}
            self._client = httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout_s, trust_env=False)
        return self

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


    def _call(self, method: str, **kwargs: Any) -> Any:
        import httpx

        if self._client is None:
            raise StoreError("store is not open: call open() or use it as a context manager")
        try:
            response = self._client.post("/api/store", json={"method": method, "kwargs": kwargs})
        except httpx.HTTPError as exc:
            raise StoreUnavailableError(f"the server at {self.url} did not answer: {exc}") from exc
        if response.status_code != 200:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise StoreError(f"{self.location}: {detail}")
        if response.headers.get("content-type", "").startswith("application/vnd.apache.arrow.stream"):
            return decode_columns(response.content)
        return response.json()["result"]

    # -- reads (the protocol's read side) ----------------------------------------------------------
    def read(self, table: str, *, start: int | None = None, end: int | None = None,
             columns: Sequence[str] | None = None, descending: bool = False, limit: int | None = None,
             **equals: Any) -> dict[str, np.ndarray]:
        return self._call("read", table=table, start=start, end=end, columns=list(columns) if columns else None,  # type: ignore[no-any-return]
                          descending=descending, limit=limit, **equals)

    def resample_bars(self, *, start: int, end: int, interval_ms: int, source_interval_ms: int,
                      **equals: Any) -> dict[str, np.ndarray]:
        return self._call("resample_bars", start=start, end=end, interval_ms=interval_ms,  # type: ignore[no-any-return]
                          source_interval_ms=source_interval_ms, **equals)

    def latest_ts(self, table: str, **equals: Any) -> int | None:
        return self._call("latest_ts", table=table, **equals)  # type: ignore[no-any-return]

    def distinct(self, table: str, column: str, *, start: int | None = None, end: int | None = None,
                 **equals: Any) -> list[Any]:
        return self._call("distinct", table=table, column=column, start=start, end=end, **equals)  # type: ignore[no-any-return]

    def fingerprint(self, table: str, *, start: int | None = None, end: int | None = None,
                    **equals: Any) -> tuple[int, str]:
        count, text = self._call("fingerprint", table=table, start=start, end=end, **equals)
        return int(count), str(text)

    def series(self, table: str) -> list[dict[str, Any]]:
        return self._call("series", table=table)  # type: ignore[no-any-return]

    def inventory(self) -> list[dict[str, Any]]:
        return self._call("inventory")  # type: ignore[no-any-return]

    def version(self) -> tuple[tuple[str, int], ...]:
        return tuple((str(t), int(v)) for t, v in self._call("version"))

    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        return lambda: None

    # -- writes are the server's ---------------------------------------------------------------------
    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise StoreError(f"the store is held by {self.location}: it is read-only from here; stop the server "
                         "to write, or use a PostgreSQL store (--db postgresql://...) to share it")

    write = write_columns = update = delete = prune = _refuse

    @contextlib.contextmanager
    def transaction(self) -> Iterator[RemoteStore]:
        self._refuse()
        yield self


class FallbackStore(Lifecycle):
    """A read-only embedded store that reads through the server holding the file, when one does.

    Everything else is delegated to whichever store :meth:`open` got."""

    read_only = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.location = str(path)
        self._inner: Any = None

    def open(self) -> Self:
        if self._inner is not None:
            return self
        try:
            self._inner = DuckDBStore(self.path, read_only=True).open()
        except StoreLockedError:
            info = read_announcement(self.path)
            if info is None:
                raise
            self._inner = RemoteStore(str(info["url"]), str(info["key"])).open()
        self.location = self._inner.location
        return self

    @property
    def remote(self) -> bool:
        return isinstance(self._inner, RemoteStore)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None


    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("_inner")
        if inner is None:
            raise StoreError("store is not open: call open() or use it as a context manager")
        return getattr(inner, name)
