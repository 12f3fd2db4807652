"""Fixtures shared by every test area: a real PostgreSQL server, and stores of both backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from liqmap.store import DuckDBStore, Store
from liqmap.store.postgres_store import PostgresStore
from support.pgserver import PgServer


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """One PostgreSQL server for the session. Never skipped in CI (CI=true): there a missing server fails."""
    server = PgServer(tmp_path_factory.mktemp("pg"))
    if not server.available:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI (apt-get install postgresql, or set LIQMAP_TEST_PG)")
        pytest.skip("no PostgreSQL server binaries here (apt-get install postgresql, or set LIQMAP_TEST_PG)")
    server.start()
    yield server
    server.remove()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.database()


@pytest.fixture(params=["duckdb", "postgresql"])
def backend_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An open, empty store of each backend (tests using it run once per backend)."""
    if request.param == "duckdb":
        store: Store = DuckDBStore(tmp_path / "s.duckdb")
    else:
        store = PostgresStore(request.getfixturevalue("pg_url"))
    with store:
        yield store
