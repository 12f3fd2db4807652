from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liqmap.store import DuckDBStore

FILES = Path(__file__).resolve().parents[1] / "fixtures" / "files"


@pytest.fixture()
def store() -> Iterator[DuckDBStore]:
    with DuckDBStore(":memory:") as s:
        yield s


@pytest.fixture()
def files() -> Path:
    return FILES
