"""A store loaded with the shipped real sample, and the app on it (in process)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from liqmap.store import DuckDBStore


def load_sample(store: DuckDBStore) -> None:
    from liqmap.data.sample import sample_files
    from liqmap.ingest import import_file

    for path in sample_files():
        import_file(store, path)


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding the sample; tests copy it so that none sees another's writes."""
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    with DuckDBStore(path) as store:
        load_sample(store)
    return path


@pytest.fixture
def store(sample_db: Path, tmp_path: Path) -> Iterator[DuckDBStore]:
    copy = tmp_path / "store.duckdb"
    shutil.copy(sample_db, copy)
    with DuckDBStore(copy) as opened:
        yield opened


@pytest.fixture
def client(store: DuckDBStore) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from liqmap.service.app import create_app

    app = create_app(store, token="secret-token", poll_interval=0.2, prewarm_views=False)
    with TestClient(app) as test_client:
        yield test_client


def _assert_same_usd(actual: np.ndarray, expected: np.ndarray, *, f32: bool = False) -> None:
    """The server continues views from cached warm-up books (liqmap.warmbooks): its numbers equal a
    fresh ``heatmap_for`` up to float rounding (~1e-14 relative), and a float32 grid can then round
    to the neighbouring float32. Exact equality would be a flaky test; this still fails on any real
    difference (a wrong cell is off by far more than one float32 step)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = float(np.abs(expected).max(initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=2.0**-23 if f32 else 1e-11, atol=1e-12 * scale)


@pytest.fixture
def assert_same_usd() -> Callable[..., None]:
    return _assert_same_usd
