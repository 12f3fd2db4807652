"""Embedded storage behind a narrow interface (DuckDB by default)."""

from liqmap.store.duckdb_store import DuckDBStore, default_db_path

Store = DuckDBStore

__all__ = ["DuckDBStore", "Store", "default_db_path"]
