"""``liqmap archive`` and ``liqmap import`` read a data.binance.vision kline CSV through the same parser:
the same file is stored the same way or refused with the same problem on the same line."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from liqmap.errors import BadSeriesError, MalformedFileError
from liqmap.feed import archive
from liqmap.ingest.registry import parse_file
from liqmap.store import DuckDBStore

FIXTURE = Path(__file__).parents[1] / "fixtures" / "binance" / "vision" / "AVAXUSDT-1m-2026-06-head180.csv"
NAME = "AVAXUSDT-1m-2026-06-01"


def _zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{NAME}.csv", text)
    return buffer.getvalue()


def _lines(n: int) -> list[str]:
    return FIXTURE.read_text().splitlines()[: n + 1]  # header + n rows


def _both(tmp_path: Path, text: str) -> tuple[MalformedFileError, MalformedFileError]:
    path = tmp_path / f"{NAME}.csv"
    path.write_text(text)
    with pytest.raises(MalformedFileError) as imported:
        parse_file(path)
    with DuckDBStore(":memory:") as store, pytest.raises(MalformedFileError) as archived:
        archive.import_archive(store, "klines", "AVAX", _zip(text), f"{NAME}.zip")
    return imported.value, archived.value


def test_a_good_file_gives_the_same_bars(tmp_path: Path) -> None:
    text = "\n".join([*_lines(5), _lines(5)[3]])  # an exact duplicate row, dropped by both
    path = tmp_path / f"{NAME}.csv"
    path.write_text(text)
    batch = parse_file(path)
    imported = batch.tables["bars"]
    with DuckDBStore(":memory:") as store:
        assert archive.import_archive(store, "klines", "AVAX", _zip(text), f"{NAME}.zip") == (5, 5)
        stored = store.read("bars")
    assert batch.notes == ["dropped 1 exact duplicate row(s)"]
    for column in ("ts_event", "open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume",
                   "trades", "interval_ms"):
        np.testing.assert_array_equal(stored[column], np.asarray(imported[column]), err_msg=column)
    assert stored["ts_event"].tolist() == [1780272000000 + 60_000 * i for i in range(5)]


@pytest.mark.parametrize(
    ("row", "column", "value", "problem"),
    [
        (3, 1, "0", "prices non-positive or high/low do not bracket open/close"),
        (2, 6, "1780272179999", "bar length 120000 ms differs from the file's 60000 ms"),
        (4, 0, "1780272060000", "two different rows for the bar opening at 1780272060000 (see line 3)"),
    ],
)
def test_a_bad_row_is_refused_the_same_way(tmp_path: Path, row: int, column: int, value: str, problem: str) -> None:
    lines = _lines(5)
    cells = lines[row].split(",")
    cells[column] = value
    if column == 0:
        cells[6] = str(int(value) + 59_999)
    lines[row] = ",".join(cells)
    imported, archived = _both(tmp_path, "\n".join(lines))
    assert (imported.problem, imported.line) == (problem, row + 1)
    assert (archived.problem, archived.line) == (f"bad klines row ({problem})", row + 1)


def test_a_file_of_other_bars_is_refused_by_both(tmp_path: Path) -> None:
    lines = _lines(4)
    five = [",".join([str(1780272000000 + 300_000 * i), *line.split(",")[1:6],
                      str(1780272000000 + 300_000 * i + 299_999), *line.split(",")[7:]])
            for i, line in enumerate(lines[1:])]
    imported, archived = _both(tmp_path, "\n".join([lines[0], *five]))
    assert imported.problem == "file name says 60000 ms bars but close-open times give 300000 ms"
    assert archived.problem == "bad klines row (file name says 60000 ms bars but close-open times give 300000 ms)"
    assert imported.line is None and archived.line is None


def test_metrics_pass_the_record_validation(tmp_path: Path) -> None:
    text = "create_time,symbol,sum_open_interest,sum_open_interest_value\n2026-06-01 00:05:00,AVAXUSDT,-5,100\n"
    with DuckDBStore(":memory:") as store, pytest.raises(BadSeriesError, match=r"oi_base=-5\.0 breaks the finite and >= 0"):
        archive.import_archive(store, "metrics", "AVAX", _zip(text), "m.zip")
