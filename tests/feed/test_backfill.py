"""REST backfill against the mock Binance/Bybit/OKX REST APIs: pagination, rate limits, resume, idempotence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner
from feedkit import FakeClock, ThreadedMock, rest_rows, vision_rows

from liqmap.cli import main
from liqmap.errors import VenueError
from liqmap.feed.backfill import backfill
from liqmap.store import DuckDBStore
from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol
from liqmap.testing.mock.server import Fault, MockExchange
from liqmap.venues.binance import SPEC

MIN = 60_000


def small_pages(spec, limit: int = 50):  # type: ignore[no-untyped-def]
    history = dict(spec.history)
    history["klines"] = dataclasses.replace(history["klines"], max_limit=limit)
    return dataclasses.replace(spec, history=history)


def dialect(rows: list[list[str]]) -> BinanceDialect:
    t0 = int(rows[0][0])
    oi = [{"symbol": "AVAXUSDT", "sumOpenInterest": f"{1000 + i}.5", "sumOpenInterestValue": f"{(1000 + i) * 9}.0",
           "timestamp": t0 + i * 5 * MIN} for i in range(36)]
    funding = [{"symbol": "AVAXUSDT", "fundingRate": "0.00010000", "fundingTime": t0, "markPrice": "8.98"}]
    return BinanceDialect(klines=rest_rows(rows), oi_history=oi, funding=funding,
                          symbols=[exchange_info_symbol("AVAXUSDT", "0.001", "1")])


async def test_paginated_backfill_with_429_then_resume_is_idempotent() -> None:
    rows = vision_rows(180)
    t0 = int(rows[0][0])
    now = t0 + 180 * MIN  # every bar closed
    mock = MockExchange(dialect(rows))
    mock.rest_faults["/fapi/v1/klines"] = [Fault(429, {"Retry-After": "3"}, {"code": -1003, "msg": "Too many"})]
    clock = FakeClock(now)
    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = small_pages(SPEC.with_urls(rest=mock.http_url))
        first = await backfill(store, "binance", "AVAX", days=3 / 24, spec=spec, timing=clock.timing(), now_ms=now,
                               progress=False)
        bars = store.read("bars", exchange="binance", symbol="AVAX")
        np.testing.assert_array_equal(bars["ts_event"], [int(r[0]) for r in rows])
        np.testing.assert_allclose(bars["close"], [float(r[4]) for r in rows])
        np.testing.assert_allclose(bars["quote_volume"], [float(r[7]) for r in rows])
        assert list(bars["trades"]) == [int(r[8]) for r in rows]
        oi = store.read("open_interest")
        assert oi["oi_base"][0] == 1000.5 and oi["oi_usd"][0] == 9000.0
        assert first.new_rows["bars"] == 180 and first.new_rows["funding"] == 1
        assert "margin tiers: no public endpoint on binance" in first.skipped
        assert 3.0 in clock.sleeps  # Retry-After honoured
        kline_calls = [p for path, p in mock.rest_calls if path == "/fapi/v1/klines"]
        assert len(kline_calls) == 5  # 4 windows of 50 + the retry after 429
        assert all(int(p["limit"]) == 50 for p in kline_calls)

        # resume: a second run starts after the stored bars and stores nothing new
        mock.rest_calls.clear()
        second = await backfill(store, "binance", "AVAX", days=3 / 24, spec=spec, timing=clock.timing(),
                                now_ms=now, progress=False)
        assert second.new_rows.get("bars", 0) == 0
        kline_calls = [p for path, p in mock.rest_calls if path == "/fapi/v1/klines"]
        assert len(kline_calls) == 1 and int(kline_calls[0]["startTime"]) == int(rows[-1][0]) + 1


async def test_open_bar_is_never_stored() -> None:
    rows = vision_rows(10)
    now = int(rows[9][0]) + 30_000  # bar 9 still open
    async with MockExchange(dialect(rows)) as mock:
        store = DuckDBStore(":memory:").open()
        await backfill(store, "binance", "AVAX", days=1 / 24, spec=SPEC.with_urls(rest=mock.http_url),
                       kinds=["klines"], now_ms=now, progress=False, timing=FakeClock(now).timing())
    assert store.latest_ts("bars") == int(rows[8][0])


async def test_venue_error_surfaces() -> None:
    rows = vision_rows(10)
    async with MockExchange(dialect(rows)) as mock:
        spec = dataclasses.replace(SPEC.with_urls(rest=mock.http_url))
        history = dict(spec.history)
        history["klines"] = dataclasses.replace(history["klines"], max_limit=5000)  # over Binance's 1500
        spec = dataclasses.replace(spec, history=history)
        with pytest.raises(VenueError):
            await backfill(DuckDBStore(":memory:").open(), "binance", "AVAX", days=0.01, spec=spec,
                           kinds=["klines"], progress=False, now_ms=int(rows[9][0]), metadata=False)


def test_cli_backfill_against_mock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = vision_rows(30)
    db = tmp_path / "cli.duckdb"
    # the CLI uses the wall clock: serve the same real bars shifted to the last 30 minutes
    import time

    shift = (int(time.time() * 1000) // MIN - 31) * MIN - int(rows[0][0])
    shifted = [[str(int(r[0]) + shift), *r[1:6], str(int(r[6]) + shift), *r[7:]] for r in rows]
    with ThreadedMock(MockExchange(dialect(shifted))) as mock:
        result = CliRunner().invoke(main, ["backfill", "-e", "binance", "-s", "avax", "--days", "0.05",
                                           "--kinds", "klines", "--base-url", mock.http_url,  # type: ignore[attr-defined]
                                           "--no-progress", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "binance AVAX bars: 30 new rows" in result.output
    with DuckDBStore(db) as store:
        np.testing.assert_allclose(store.read("bars")["open"], [float(r[1]) for r in rows])
