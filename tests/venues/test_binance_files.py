"""The pure data.binance.vision parsers (liqmap.venues.binance) shared by ``liqmap import`` and ``liqmap archive``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from liqmap.errors import ParseError
from liqmap.venues.binance import (
    VISION_KLINE_COLUMNS,
    check_klines,
    vision_agg_trades,
    vision_klines,
    vision_metrics,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "binance" / "vision" / "AVAXUSDT-1m-2026-06-head180.csv"


def _rows(n: int = 3) -> tuple[list[str], list[list[str]]]:
    header, *rows = list(csv.reader(FIXTURE.read_text().splitlines()))
    return header, rows[:n]


def test_vision_klines_columns_and_interval() -> None:
    header, rows = _rows()
    checked, cols = vision_klines(rows, header, expected_ms=60_000)
    assert checked.interval_ms == 60_000 and checked.keep.tolist() == [0, 1, 2] and checked.duplicates == 0
    assert cols["ts_event"].tolist() == [1780272000000, 1780272060000, 1780272120000]
    assert cols["open"][:2].tolist() == [8.981, 8.974] and cols["high"][0] == 8.982 and cols["low"][0] == 8.971
    assert cols["volume"][0] == 17315.0 and cols["quote_volume"][0] == 155466.864
    assert cols["trades"][:2].tolist() == [397, 318] and cols["taker_buy_volume"][:2].tolist() == [7701.0, 3502.0]


def test_microsecond_times_are_scaled_and_headerless_files_read() -> None:
    _, rows = _rows(2)
    micro = [[str(int(r[0]) * 1000), *r[1:6], str(int(r[6]) * 1000 + 999), *r[7:]] for r in rows]
    checked, cols = vision_klines(micro, None)
    assert cols["ts_event"].tolist() == [1780272000000, 1780272060000] and checked.interval_ms == 60_000


def test_duplicates_dropped_or_refused() -> None:
    header, rows = _rows(2)
    checked, _ = vision_klines([rows[0], rows[1], rows[0]], header)
    assert checked.keep.tolist() == [0, 1] and checked.duplicates == 1
    other = [*rows[1][:4], "9.0", *rows[1][5:]]
    with pytest.raises(ParseError) as refused:
        vision_klines([rows[0], rows[1], [rows[1][0], *other[1:]]], header, where=lambda i: f"line {i + 2}")
    assert str(refused.value) == "two different rows for the bar opening at 1780272060000 (see line 3)"
    assert refused.value.row == 2


@pytest.mark.parametrize(
    ("change", "message", "row"),
    [
        ((1, 6, "1780272179999"), "bar length 120000 ms differs from the file's 60000 ms", 1),
        ((2, 3, "9.5"), "prices non-positive or high/low do not bracket open/close", 2),
        ((0, 1, "0"), "prices non-positive or high/low do not bracket open/close", 0),
        ((1, 2, "lots"), "high: 'lots' is not a number", 1),
        ((1, 8, "1.5"), "count: '1.5' is not an integer", 1),
    ],
)
def test_bad_rows_are_named(change: tuple[int, int, str], message: str, row: int) -> None:
    header, rows = _rows()
    i, column, value = change
    rows[i][column] = value
    with pytest.raises(ParseError) as refused:
        vision_klines(rows, header)
    assert (str(refused.value), refused.value.row) == (message, row)


def test_whole_file_problems() -> None:
    header, rows = _rows()
    with pytest.raises(ParseError, match=r"^file name says 300000 ms bars but close-open times give 60000 ms$"):
        vision_klines(rows, header, expected_ms=300_000)
    with pytest.raises(ParseError, match="unexpected header"):
        vision_klines(rows, ["time", *header[1:]])
    with pytest.raises(ParseError, match=r"^no data rows$"):
        vision_klines([], header)
    with pytest.raises(ParseError) as short:
        vision_klines([rows[0], rows[1][:5]], header)
    assert (str(short.value), short.value.row) == ("expected 12 columns, got 5", 1)
    assert len(VISION_KLINE_COLUMNS) == 12


def test_check_klines_is_the_shared_rule() -> None:
    t = np.array([0, 60_000, 120_000]) + 1_780_272_000_000
    ohlc = (np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 3.5]), np.array([0.5, 1.5, 2.5]), np.array([1.2, 2.2, 3.2]))
    checked = check_klines(t, t + 59_999, ohlc, lambda a, b: True)
    assert (checked.interval_ms, checked.keep.tolist(), checked.duplicates) == (60_000, [0, 1, 2], 0)


def test_metrics_and_agg_trades() -> None:
    oi = vision_metrics([["2026-06-01 00:05:00", "AVAXUSDT", "1234567.5", "11111111.25", "1.1"]])
    assert oi["ts_event"].tolist() == [1780272300000] and oi["oi_base"].tolist() == [1234567.5]
    assert oi["oi_usd"].tolist() == [11111111.25]
    with pytest.raises(ParseError) as bad_time:
        vision_metrics([["2026-06-01T00:05", "AVAXUSDT", "1", "2"]])
    assert bad_time.value.row == 0 and "create_time" in str(bad_time.value)
    trades = vision_agg_trades([["7", "150.5", "2", "7", "7", "1723680000000", "true"],
                                ["8", "150.6", "1", "8", "8", "1723680000001", "False"]])
    assert trades["trade_id"] == ["7", "8"] and trades["taker_side"] == ["sell", "buy"]
    assert trades["price"].tolist() == [150.5, 150.6] and trades["ts_event"].tolist() == [1723680000000, 1723680000001]
    with pytest.raises(ParseError) as maker:
        vision_agg_trades([["7", "150.5", "2", "7", "7", "1723680000000", "maybe"]])
    assert (str(maker.value), maker.value.row) == ("is_buyer_maker: 'maybe' is not true or false", 0)
