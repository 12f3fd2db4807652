"""Realized series: choosing the stored series, summing finer bars, aligning to the model's bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from liqmap.evaluate.dataset import align, bin_prints, realized_bars, realized_source
from liqmap.ingest import import_file
from liqmap.store import DuckDBStore
from liqmap.types import LiquidationBar

FIXTURES = Path(__file__).parents[1] / "fixtures" / "evaluate"

HOUR = 3_600_000


def test_prints_are_summed_into_their_bar_and_side() -> None:
    ts = np.array([0, HOUR, 2 * HOUR])
    print_ts = np.array([-1, 0, HOUR - 1, HOUR, 2 * HOUR + 5, 3 * HOUR])  # first and last fall outside
    sides = np.array(["long", "long", "short", "long", "short", "long"])
    usd = np.array([100.0, 1.0, 2.0, 4.0, 8.0, 16.0])
    long, short = bin_prints(ts, HOUR, print_ts, sides, usd)
    assert long.tolist() == [1.0, 4.0, 0.0]
    assert short.tolist() == [2.0, 0.0, 8.0]


def test_align_leaves_missing_bars_nan() -> None:
    out = align(np.array([0, HOUR, 2 * HOUR]), np.array([0, 2 * HOUR, 5 * HOUR]), np.array([1.0, 3.0, 9.0]))
    assert out[0] == 1.0 and np.isnan(out[1]) and out[2] == 3.0


@contextmanager
def _store_with(rows: list[LiquidationBar]) -> Iterator[DuckDBStore]:
    with DuckDBStore(":memory:") as store:
        store.write(rows)
        yield store


def _bar(exchange: str, interval: int, ts: int, long_usd: float, short_usd: float) -> LiquidationBar:
    return LiquidationBar(exchange, "BTC", interval, ts, ts, long_usd, short_usd)


def test_finer_realized_bars_are_summed_and_partial_hours_dropped() -> None:
    half = HOUR // 2
    rows = [
        _bar("aggregate", half, 0, 1.0, 10.0),
        _bar("aggregate", half, half, 2.0, 20.0),
        _bar("aggregate", half, HOUR + half, 4.0, 40.0),  # its first half-hour is missing: no sum for hour 1
        _bar("aggregate", half, 2 * HOUR, 8.0, 80.0),
        _bar("aggregate", half, 2 * HOUR + half, 16.0, 160.0),
    ]
    with _store_with(rows) as store:
        source = realized_source(store, "BTC", "binance", HOUR)
        assert source == ("aggregate", half)
        ts, long_usd, short_usd = realized_bars(store, "BTC", source, 0, 3 * HOUR, HOUR)
    assert ts.tolist() == [0, 2 * HOUR]
    assert long_usd.tolist() == [3.0, 24.0]
    assert short_usd.tolist() == [30.0, 240.0]


def test_the_bars_own_interval_and_the_aggregate_come_first() -> None:
    rows = [
        _bar("aggregate", HOUR // 4, 0, 1.0, 1.0),
        _bar("aggregate", HOUR // 2, 0, 1.0, 1.0),
        _bar("binance", HOUR, 0, 5.0, 5.0),
    ]
    with _store_with(rows) as store:
        assert realized_source(store, "BTC", "binance", HOUR) == ("aggregate", HOUR // 2)  # coarsest finer one
        assert realized_source(store, "BTC", "okx", HOUR) == ("aggregate", HOUR // 2)
        assert realized_source(store, "BTC", "binance", 2 * HOUR) == ("aggregate", HOUR // 2)
        assert realized_source(store, "BTC", "binance", 45 * 60_000) == ("aggregate", HOUR // 4)
        assert realized_source(store, "BTC", "binance", 40 * 60_000) is None  # neither 15 nor 30 min divides it
        assert realized_source(store, "ETH", "binance", HOUR) is None
    with _store_with([_bar("binance", HOUR, 0, 5.0, 5.0), _bar("aggregate", HOUR // 2, 0, 1.0, 1.0)]) as store:
        assert realized_source(store, "BTC", "binance", HOUR) == ("aggregate", HOUR // 2)
    with _store_with([_bar("binance", HOUR, 0, 5.0, 5.0)]) as store:
        assert realized_source(store, "BTC", "binance", HOUR) == ("binance", HOUR)


def test_real_30_minute_export_sums_to_the_hourly_export() -> None:
    """Two real Coinglass exports of the same days: the hourly rows equal the sums of the 30-minute rows."""
    results = []
    for name in ("BTC_liquidation_30m.csv.gz", "BTC_liquidation_1h.csv.gz"):
        with DuckDBStore(":memory:") as store:
            import_file(store, FIXTURES / name)
            source = realized_source(store, "BTC", "binance", HOUR)
            assert source is not None
            results.append(realized_bars(store, "BTC", source, 0, 2**62, HOUR))
    (ts30, long30, short30), (ts60, long60, short60) = results
    assert ts30.tolist() == ts60.tolist() and len(ts60) == 90
    np.testing.assert_allclose(long30, long60, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(short30, short60, rtol=1e-12, atol=1e-6)
    assert long60[0] == 1965.5801 and short60[0] == 41568.7156  # 2026-02-21 06:00, as in the file
