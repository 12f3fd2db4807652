"""Bad ticks across venues (liqmap.calibrate.bad_ticks_for): a wick far beyond every other venue's in the
same bar is reported; bars that not every venue has (a gap) are not compared."""

from __future__ import annotations

import numpy as np

from liqmap.calibrate import bad_ticks_for
from liqmap.model.badticks import BadTick
from liqmap.store import DuckDBStore

MINUTE = 60_000
T0 = 1_780_272_000_000
N = 200


def _venue(store: DuckDBStore, exchange: str, high_at: dict[int, float], skip: range = range(0)) -> None:
    keep = np.array([i not in skip for i in range(N)])
    ts = T0 + MINUTE * np.arange(N, dtype=np.int64)
    close = 100.0 + 0.01 * np.arange(N)
    high = close + 0.05
    for i, value in high_at.items():
        high[i] = value
    text = np.full(N, exchange, dtype=object)
    columns = {
        "exchange": text, "symbol": np.full(N, "BTC", dtype=object), "interval_ms": np.full(N, MINUTE),
        "ts_event": ts, "open": close, "high": high, "low": close - 0.05, "close": close,
        "volume": np.full(N, 5.0), "ts_recv": ts + MINUTE, "quote_volume": close * 5.0,
        "taker_buy_volume": np.full(N, 2.5), "trades": np.full(N, 10), "market": np.full(N, "perp", dtype=object),
        "venue_symbol": np.full(N, "BTCUSDT", dtype=object),
    }
    store.write_columns("bars", {k: v[keep] for k, v in columns.items()})


def test_a_wick_beyond_every_other_venue_is_reported_on_common_bars_only() -> None:
    with DuckDBStore(":memory:") as store:
        _venue(store, "binance", {120: 115.0, 140: 115.0})  # 15 %: not implausible on its own (25 %)
        _venue(store, "bybit", {})
        _venue(store, "okx", {}, skip=range(138, 143))  # okx has no bar at 140
        ticks = bad_ticks_for(store, "BTC", ("binance", "bybit", "okx"), T0 + 100 * MINUTE, T0 + N * MINUTE, MINUTE)
    others_high = 100.0 + 0.01 * 120 + 0.05
    assert ticks == [BadTick("binance", T0 + 120 * MINUTE, "high", 115.0, others_high)]


def test_common_times_equal_the_set_intersection() -> None:
    from liqmap.calibrate import _common_times

    rng = np.random.default_rng(3)
    for _ in range(20):
        arrays = [np.sort(rng.choice(400, size=int(rng.integers(0, 300)), replace=False)).astype(np.int64)
                  for _ in range(int(rng.integers(1, 6)))]
        want = sorted(set.intersection(*(set(a.tolist()) for a in arrays)))
        assert _common_times(arrays).tolist() == want
