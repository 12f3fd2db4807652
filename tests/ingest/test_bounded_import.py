"""Bounded imports: chunked streaming (with the chunk sizes checked), validation before any write,
decompression bombs refused without touching the store, timestamp units detected per value."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from liqmap.errors import MalformedFileError
from liqmap.ingest import import_file
from liqmap.ingest.reader import MAX_RATIO, RATIO_FLOOR, open_binary
from liqmap.ingest.registry import detect_format, iter_batches
from liqmap.store import DuckDBStore

HEADER = "openTime,open,high,low,close,volume,closeTime,quoteVolume,trades,takerBuyBase,takerBuyQuote,ignore\n"
T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
MIN = 60_000


def kline_rows(n: int) -> list[str]:
    rows = []
    for i in range(n):
        o = 90_000 + (i % 50)
        c = o + (1 if i % 2 else -1)
        rows.append(f"{T0 + i * MIN},{o}.0,{max(o, c) + 2}.5,{min(o, c) - 2}.5,{c}.0,1.5,{T0 + i * MIN + MIN - 1},"
                    f"135000.0,10,0.7,63000.0,0\n")
    return rows


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_large_files_are_read_in_chunks_of_the_given_size(tmp_path: Path, store: DuckDBStore) -> None:
    rows = kline_rows(3000)
    path = write(tmp_path / "BTCUSDT-1m-chunks.csv", HEADER + "".join(rows))
    chunk = 32 << 10
    sizes = [batch.rows_read for batch in iter_batches(path, chunk_bytes=chunk)]
    shortest = min(len(r) for r in rows)
    assert sum(sizes) == 3000
    assert len(sizes) >= len("".join(rows).encode()) // chunk  # ~32 KiB of text per chunk
    assert max(sizes) <= chunk // shortest + 1
    result = import_file(store, path, chunk_bytes=chunk)
    assert result.rows_read == 3000 and result.new_rows == {"bars": 3000}
    assert f"streamed in {len(sizes)} chunks" in result.notes
    bars = store.read("bars", exchange="binance", symbol="BTC")
    assert bars["ts_event"].tolist() == [T0 + i * MIN for i in range(3000)]
    expected_close = [90_000 + (i % 50) + (1 if i % 2 else -1) for i in range(3000)]
    assert bars["close"].tolist() == expected_close


def test_a_bad_line_in_a_later_chunk_stores_nothing(tmp_path: Path, store: DuckDBStore) -> None:
    rows = kline_rows(3000)
    rows[2500] = rows[2500].replace(",1.5,", ",abc,", 1)
    path = write(tmp_path / "BTCUSDT-1m-bad.csv", HEADER + "".join(rows))
    with pytest.raises(MalformedFileError, match=r"line 2502: volume: 'abc' is not a number"):
        import_file(store, path, chunk_bytes=32 << 10)
    assert store.inventory() == []


def test_blank_lines_keep_line_numbers_right(tmp_path: Path, store: DuckDBStore) -> None:
    rows = kline_rows(10)
    rows[7] = rows[7].replace(",10,", ",x,", 1)
    path = write(tmp_path / "BTCUSDT-1m-blank.csv", HEADER + "\n" + "".join(rows[:5]) + "\n\n" + "".join(rows[5:]))
    # line 1 header, 2 blank, 3-7 rows 0-4, 8-9 blank, 10.. rows 5..: row 7 is on line 12
    with pytest.raises(MalformedFileError, match=r"line 12: trades: 'x' is not an integer"):
        import_file(store, path)


def test_short_row_is_named_by_line(tmp_path: Path, store: DuckDBStore) -> None:
    rows = kline_rows(5)
    path = write(tmp_path / "BTCUSDT-1m-short.csv", HEADER + "".join(rows) + rows[0][:30] + "\n")
    with pytest.raises(MalformedFileError, match=r"line 7: expected 12 columns, found"):
        import_file(store, path)


def bomb(path: Path, row: str, megabytes: int) -> Path:
    """A gzip whose every line is the same valid row: kilobytes on disk, ``megabytes`` inflated."""
    block = (row * (1 + (1 << 20) // len(row))).encode()
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(HEADER.encode())
        for _ in range(megabytes):
            out.write(block)
    return path


def test_decompression_bomb_is_refused_and_the_store_is_untouched(tmp_path: Path, store: DuckDBStore,
                                                                  files: Path) -> None:
    import_file(store, files / "BTCUSDT-funding.csv.gz")
    before = store.inventory()
    path = bomb(tmp_path / "BTCUSDT-1m-bomb.csv.gz", kline_rows(1)[0], 64)
    ratio = (64 << 20) / path.stat().st_size
    assert ratio > MAX_RATIO  # it is a bomb by our own definition
    assert detect_format(path).name == "binance-klines-camel"  # detection reads 64 KiB only
    with pytest.raises(MalformedFileError, match=r"decompresses more than 200:1 .*refused as a decompression bomb"):
        import_file(store, path)
    assert store.inventory() == before


def test_decompressed_size_cap(tmp_path: Path) -> None:
    path = bomb(tmp_path / "big.csv.gz", "x" * 99 + "\n", 3)
    with open_binary(path, limit=2 << 20) as stream, pytest.raises(MalformedFileError, match="more than 2097152 bytes"):
        while stream.read(1 << 16):
            pass
    assert RATIO_FLOOR > 2 << 20  # the size cap tripped, not the ratio


FUNDING = Path(__file__).resolve().parents[1] / "fixtures" / "files" / "BTCUSDT-funding.csv.gz"


def _funding_rows() -> list[tuple[int, str]]:
    lines = gzip.decompress(FUNDING.read_bytes()).decode().splitlines()[1:]
    return [(int(line.split(",", 1)[0]), line.split(",", 1)[1]) for line in lines if line.strip()]


@pytest.mark.parametrize(("unit", "scale"), [("s", 0.001), ("ms", 1), ("us", 1000), ("ns", 1_000_000)])
def test_funding_times_in_any_unit_import_to_the_right_dates(tmp_path: Path, store: DuckDBStore, unit: str,
                                                             scale: float) -> None:
    rows = _funding_rows()
    text = "fundingTime,fundingIntervalHours,fundingRate\n" + "".join(
        f"{int(ms // 1000) if unit == 's' else ms * int(scale)},{rest}\n" for ms, rest in rows)
    path = write(tmp_path / f"BTCUSDT-funding-{unit}.csv", text)
    import_file(store, path)
    stored = store.read("funding", exchange="binance", symbol="BTC")["ts_event"].tolist()
    expected = [(ms // 1000) * 1000 if unit == "s" else ms for ms, _ in rows]
    assert stored == expected
    first = datetime.fromtimestamp(stored[0] / 1000, tz=UTC)
    assert (first.year, first.month, first.day, first.hour) == (2025, 12, 3, 8)


@pytest.mark.parametrize("bad", ["12345", "100000000000", "99999999999999999"])
def test_implausible_times_are_refused_naming_file_line_and_column(tmp_path: Path, store: DuckDBStore,
                                                                   bad: str) -> None:
    path = write(tmp_path / "BTCUSDT-funding-bad.csv",
                 "fundingTime,fundingIntervalHours,fundingRate\n1764748800000,8,0.0001\n"
                 f"{bad},8,0.0001\n")
    with pytest.raises(MalformedFileError) as refused:
        import_file(store, path)
    message = str(refused.value)
    assert message.startswith(f"{path}, line 3: fundingTime: {bad} is not a plausible time")
    assert store.inventory() == []


def test_iso_times_before_2009_are_refused(tmp_path: Path, store: DuckDBStore) -> None:
    header = ("timestamp,open,high,low,close,volume,close_time,quote_volume,trades,taker_buy_base,taker_buy_quote,"
              "ignore\n")
    row = "1970-01-01 00:00:00,1,2,0.5,1.5,3,1970-01-01 00:59:59.999,4,5,1,2,0\n"
    path = write(tmp_path / "BTCUSDT-1h-iso.csv", header + row)
    with pytest.raises(MalformedFileError, match="line 2: timestamp: '1970-01-01 00:00:00' is not a plausible time"):
        import_file(store, path)


def test_epoch_units_by_magnitude() -> None:
    from liqmap.ingest.reader import epoch_ms

    ms = 1_735_689_600_123
    values = np.array([ms // 1000, ms, ms * 1000, ms * 1_000_000], dtype=np.int64)
    assert epoch_ms(values, lambda p, i: ValueError(p)).tolist() == [ms // 1000 * 1000, ms, ms, ms]
