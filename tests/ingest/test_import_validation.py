"""Imports pass the same record validation as live data (liqmap.validation via Batch.add): one bad row
refuses the file, nothing of it is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from liqmap.errors import BadSeriesError, DataError
from liqmap.ingest.registry import import_file
from liqmap.store import DuckDBStore

VISION = Path(__file__).parents[1] / "fixtures" / "binance" / "vision" / "AVAXUSDT-1m-2026-06-head180.csv"


def copy_with(tmp_path: Path, row: int, column: int, value: str) -> Path:
    lines = VISION.read_text().splitlines()
    cells = lines[row].split(",")
    cells[column] = value
    lines[row] = ",".join(cells)
    out = tmp_path / VISION.name
    out.write_text("\n".join(lines[:20]) + "\n")
    return out


@pytest.mark.parametrize(("column", "value", "message"), [
    (3, "9.5", "line 8"),           # low above high: the importer's own check names the line
    (4, "inf", "line 8"),           # not a number for the importer
    (5, "-3", "row 6: volume=-3.0"),  # only the shared validation catches a negative volume
])
def test_one_bad_row_refuses_the_file(tmp_path: Path, column: int, value: str, message: str) -> None:
    path = copy_with(tmp_path, 7, column, value)
    with DuckDBStore(":memory:") as store:
        with pytest.raises(DataError) as info:
            import_file(store, path, symbol="AVAX")
        assert message in str(info.value)
        assert store.latest_ts("bars") is None


def test_a_negative_volume_is_refused_by_the_shared_validation(tmp_path: Path) -> None:
    with DuckDBStore(":memory:") as store, pytest.raises(BadSeriesError, match="finite and >= 0"):
        import_file(store, copy_with(tmp_path, 3, 9, "-1"), symbol="AVAX")  # taker buy volume


def test_the_untouched_file_imports(tmp_path: Path) -> None:
    path = copy_with(tmp_path, 7, 4, VISION.read_text().splitlines()[7].split(",")[4])
    with DuckDBStore(":memory:") as store:
        result = import_file(store, path, symbol="AVAX")
        assert result.new_rows["bars"] == 19
