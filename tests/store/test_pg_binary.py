"""Numeric reads over PostgreSQL's binary COPY return what the embedded store returns, NULLs and edge values
included; a damaged payload is refused by name instead of being read as numbers."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqmap.errors import StoreError
from liqmap.store import DuckDBStore, pgbinary, schema
from liqmap.store.postgres_store import PostgresStore
from liqmap.types import MINUTE_MS, Bar, OpenInterest

EDGE_DOUBLES = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e-300, 0.1, 1 / 3,
                float("inf"), float("-inf"), 123456789.12345679]


def _bars() -> list[Bar]:
    out = []
    for i, value in enumerate(EDGE_DOUBLES):
        out.append(Bar("binance", "BTC", MINUTE_MS, i * MINUTE_MS, value, value, value, value, abs(value),
                       ts_recv=i, quote_volume=None if i % 3 == 0 else value,
                       taker_buy_volume=None if i % 2 else 1.5, trades=None if i == 4 else 2**40 + i))
    return out


def _payload(rows: list[tuple[float, int]]) -> bytes:
    """A binary COPY payload of (double, bigint, bool) rows built by hand from the documented layout."""
    body = b"".join(struct.pack(">hid", 3, 8, x) + struct.pack(">iq", 8, n) + struct.pack(">iB", 1, 0)
                    for x, n in rows)
    return pgbinary.SIGNATURE + struct.pack(">ii", 0, 0) + body + b"\xff\xff"


def test_numeric_reads_match_the_embedded_store_bit_for_bit(pg_url: str, tmp_path: Path) -> None:
    columns = ["ts_event", "open", "high", "quote_volume", "taker_buy_volume", "trades"]
    oi = [OpenInterest("binance", "BTC", i * MINUTE_MS, i, None if i == 2 else float(i), float(i) * 1e9)
          for i in range(5)]
    with DuckDBStore(tmp_path / "e.duckdb") as embedded, PostgresStore(pg_url) as server:
        for store in (embedded, server):
            store.write(_bars() + oi)
        assert pgbinary.supports(schema.table("bars"), columns)
        for table, wanted, equals in (("bars", columns, {"exchange": "binance"}),
                                      ("bars", ["ts_event", "close"], {"interval_ms": MINUTE_MS}),
                                      ("open_interest", ["ts_event", "oi_base", "oi_usd"], {"symbol": "BTC"})):
            expected = embedded.read(table, columns=wanted, **equals)  # type: ignore[arg-type]
            got = server.read(table, columns=wanted, **equals)  # type: ignore[arg-type]
            for name in wanted:
                assert got[name].dtype == expected[name].dtype, name
                np.testing.assert_array_equal(got[name], expected[name])
                assert np.array_equal(np.signbit(got[name].astype(float)), np.signbit(expected[name].astype(float)))
        trades = server.read("bars", columns=["trades"])["trades"]
        assert math.isnan(trades[4]) and trades[5] == 2**40 + 5  # a NULL in a BIGINT: float with NaN
        assert server.read("bars", columns=["ts_event"], start=10**15)["ts_event"].dtype == np.int64  # no rows


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=False), st.integers(-(2**63), 2**63 - 1)), max_size=50))
def test_decode_reads_the_documented_layout(rows: list[tuple[float, int]]) -> None:
    spec = schema.Table("t", (("x", schema.DOUBLE), ("n", schema.BIGINT)), key=("n",))
    got = pgbinary.decode(spec, ["x", "n"], _payload(rows))
    assert got["x"].tolist() == [x for x, _ in rows]
    assert got["n"].tolist() == [n for _, n in rows]
    assert got["n"].dtype == np.int64


@pytest.mark.parametrize(("damage", "message"), [
    (lambda p: b"PGCOPY\n\xff\r\n\x01" + p[11:], "signature"),
    (lambda p: p[:-2], "end-of-data"),
    (lambda p: p[:-3] + b"\xff\xff", "whole number"),
    (lambda p: p[:19] + b"\x00\x02" + p[21:], "expected fields"),
])
def test_a_damaged_payload_is_refused_by_name(damage: object, message: str) -> None:
    spec = schema.Table("t", (("x", schema.DOUBLE), ("n", schema.BIGINT)), key=("n",))
    payload = _payload([(1.5, 7), (2.5, 8)])
    with pytest.raises(StoreError, match=message):
        pgbinary.decode(spec, ["x", "n"], damage(payload))  # type: ignore[operator]
