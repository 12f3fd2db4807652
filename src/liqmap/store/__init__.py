"""Storage behind one interface (:class:`~liqmap.store.protocol.Store`), chosen by the ``--db`` value.

* a file path (or nothing: the user data dir's ``liqmap.duckdb``): the embedded DuckDB store;
* ``postgresql://user:pass@host:port/dbname`` (or ``postgres://``): a PostgreSQL server shared by any number
  of collectors, servers and CLI commands;
* ``http://127.0.0.1:PORT`` of a running ``liqmap serve``: read-only, through that server (what the CLI
  does by itself when the DuckDB file is held by a server).
"""

from __future__ import annotations

from pathlib import Path

from liqmap.store.duckdb_store import DuckDBStore, default_db_path
from liqmap.store.protocol import Store

__all__ = ["DuckDBStore", "Store", "default_db_path", "is_server_url", "open_store", "store_for"]

_PG_SCHEMES = ("postgresql://", "postgres://")


def is_server_url(value: str | Path | None) -> bool:
    return isinstance(value, str) and value.startswith(_PG_SCHEMES)


def store_for(value: str | Path | None = None, *, read_only: bool = False, memory_limit: str | None = None) -> Store:
    """The store a ``--db`` value names (no I/O; open it with ``with`` or ``.open()``).

    ``None`` takes ``LIQMAP_DB`` or the default file. A read-only embedded store on a file held by a running
    ``liqmap serve`` reads through that server instead (see :mod:`liqmap.store.remote`). ``memory_limit``
    caps an embedded store's own memory (DuckDB's buffer manager; default ``LIQMAP_DB_MEMORY`` or 2GB)."""
    import os

    chosen: str | Path | None = value if value not in (None, "") else os.environ.get("LIQMAP_DB") or None
    if isinstance(chosen, str) and chosen.startswith(_PG_SCHEMES):
        from liqmap.store.postgres_store import PostgresStore

        return PostgresStore(chosen, read_only=read_only)
    if isinstance(chosen, str) and chosen.startswith(("http://", "https://")):
        from liqmap.store.remote import RemoteStore

        return RemoteStore(chosen)
    if isinstance(chosen, str) and "://" in chosen:
        from liqmap.errors import ConfigError

        scheme = chosen.split("://", 1)[0]
        raise ConfigError(f"--db: unknown store URL scheme {scheme!r}; use a file path, postgresql://... "
                          "or the http:// address of a running liqmap serve")
    path = Path(chosen) if chosen is not None else default_db_path()
    if read_only:
        from liqmap.store.remote import FallbackStore

        return FallbackStore(path)
    return DuckDBStore(path, memory_limit=memory_limit)


def open_store(value: str | Path | None = None, *, read_only: bool = False) -> Store:
    """:func:`store_for`, opened."""
    return store_for(value, read_only=read_only).open()
