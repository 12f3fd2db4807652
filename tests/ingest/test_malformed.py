"""Bad files: a clear MalformedFileError naming file and line, and nothing already stored is lost."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from liqmap.errors import ConfigError, MalformedFileError
from liqmap.ingest import import_file
from liqmap.store import DuckDBStore


def _lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode().splitlines()


def _snapshot(store: DuckDBStore) -> dict[str, dict[str, np.ndarray]]:
    return {t: store.read(t) for t in ("bars", "open_interest", "funding", "liquidation_bars")}


def _assert_same(a: dict, b: dict) -> None:
    for table in a:
        for column in a[table]:
            left, right = a[table][column], b[table][column]
            assert len(left) == len(right), (table, column)
            if left.dtype.kind == "f":
                np.testing.assert_array_equal(left, right)
            else:
                assert left.tolist() == right.tolist(), (table, column)


@pytest.fixture()
def loaded(store: DuckDBStore, files: Path) -> DuckDBStore:
    import_file(store, files / "BTCUSDT-1h-futures.csv.gz")
    import_file(store, files / "BTC_regime_1h.csv.gz")
    return store


def _check_refused(store: DuckDBStore, path: Path, line: int | None, words: str) -> None:
    before = _snapshot(store)
    with pytest.raises(MalformedFileError) as info:
        import_file(store, path)
    err = info.value
    assert err.path == str(path) and str(path) in str(err)
    assert err.line == line
    if line is not None:
        assert f"line {line}" in str(err)
    assert words in str(err)
    _assert_same(before, _snapshot(store))


def test_truncated_last_row(loaded: DuckDBStore, files: Path, tmp_path: Path) -> None:
    lines = _lines(files / "BTCUSDT-1h-futures.csv.gz")
    lines[-1] = lines[-1][:30]  # a download cut mid-row
    bad = tmp_path / "BTCUSDT-1h-cut.csv"
    bad.write_text("\n".join(lines))
    _check_refused(loaded, bad, len(lines), "expected 12 columns")


def test_wrong_column_count(loaded: DuckDBStore, files: Path, tmp_path: Path) -> None:
    lines = _lines(files / "BTCUSDT-1h-futures.csv.gz")
    lines[4] += ",extra"
    bad = tmp_path / "BTCUSDT-1h-x.csv.gz"
    bad.write_bytes(gzip.compress("\n".join(lines).encode()))
    _check_refused(loaded, bad, 5, "found 13")


def test_bad_number_names_column_and_line(loaded: DuckDBStore, files: Path, tmp_path: Path) -> None:
    lines = _lines(files / "BTC_regime_1h.csv.gz")
    cells = lines[60].split(",")
    cells[lines[0].split(",").index("oi_close")] = "n/a"
    lines[60] = ",".join(cells)
    bad = tmp_path / "BTC_regime_1h.csv"
    bad.write_text("\n".join(lines))
    _check_refused(loaded, bad, 61, "oi_close")


def test_late_bad_row_stores_nothing_of_the_file(store: DuckDBStore, files: Path, tmp_path: Path) -> None:
    """Atomic per file: rows before the bad one are not stored either (the regime file feeds 4 tables)."""
    lines = _lines(files / "BTC_regime_1h.csv.gz")
    cells = lines[-1].split(",")
    cells[lines[0].split(",").index("liquidation_long_usd")] = "-5"
    lines[-1] = ",".join(cells)
    bad = tmp_path / "BTC_regime_1h.csv"
    bad.write_text("\n".join(lines))
    _check_refused(store, bad, len(lines), "negative")
    assert all(len(v["ts_event"]) == 0 for v in _snapshot(store).values())


def test_garbage_and_unknown_format(loaded: DuckDBStore, tmp_path: Path) -> None:
    garbage = tmp_path / "noise.csv"
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(MalformedFileError) as info:
        import_file(loaded, garbage)
    assert str(garbage) in str(info.value)

    unknown = tmp_path / "prices.csv"
    unknown.write_text("date,price\n2026-01-01,1\n")
    _check_refused(loaded, unknown, 1, "unknown format")

    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    _check_refused(loaded, empty, None, "empty")


def test_corrupt_gzip(loaded: DuckDBStore, files: Path, tmp_path: Path) -> None:
    data = (files / "BTCUSDT-1h-futures.csv.gz").read_bytes()
    bad = tmp_path / "BTCUSDT-1h-broken.csv.gz"
    bad.write_bytes(data[: len(data) // 2])
    _check_refused(loaded, bad, None, "gzip")


def test_conflicting_duplicate_rows(store: DuckDBStore, files: Path, tmp_path: Path) -> None:
    lines = _lines(files / "BTCUSDT_binance_klines_1h.csv.gz")
    dup = next(i for i in range(2, len(lines)) if lines[i] == lines[i - 1])
    lines[dup] = lines[dup].replace("110228.0", "110229.0", 1)
    bad = tmp_path / "BTCUSDT_binance_klines_1h.csv"
    bad.write_text("\n".join(lines))
    _check_refused(store, bad, dup + 1, "two different rows")


def test_forced_wrong_format(loaded: DuckDBStore, files: Path) -> None:
    with pytest.raises(MalformedFileError):
        import_file(loaded, files / "BTC_liquidation_1h.csv.gz", fmt="binance-klines-camel")
    with pytest.raises(ConfigError, match="format"):
        import_file(loaded, files / "BTC_liquidation_1h.csv.gz", fmt="no-such-format")


def test_symbol_not_in_file_name(store: DuckDBStore, files: Path, tmp_path: Path) -> None:
    anonymous = tmp_path / "klines.csv.gz"
    anonymous.write_bytes((files / "BTCUSDT-1h-futures.csv.gz").read_bytes())
    with pytest.raises(MalformedFileError, match="--symbol"):
        import_file(store, anonymous)
    assert import_file(store, anonymous, symbol="ETHUSDT").new_rows == {"bars": 72}
    assert set(store.read("bars")["symbol"]) == {"ETH"}
