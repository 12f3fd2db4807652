"""Bad ticks across venues (liqmap.calibrate.bad_ticks_for): a wick far beyond every other venue's in the
same bar is reported; bars that not every venue has (a gap) are not compared. A view's bad ticks (carried
out of heatmap_for's own frames, plain, from a warm-up book, extended live) equal those read again."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from liqmap.calibrate import bad_ticks_for
from liqmap.model.badticks import BadTick
from liqmap.model.result import Heatmap
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


def _flagged_store(store: DuckDBStore) -> dict[str, int]:
    """Four days of 1-minute bars on three venues (the same prices) with bad wicks injected: a x10 high
    in the warm-up and one on the window's first bar (binance), a /10 low (bybit), a high 15 % beyond
    the others' (okx: implausible across venues only). Returns the bars' indices by name."""
    from test_liveviews import DAYS, START, bars, write

    at = {"warmup": 3000, "first": 3 * 1440, "low": 5000, "across": 5500}
    for i, exchange in enumerate(("binance", "bybit", "okx")):
        b = bars(DAYS * 1440, START, 5, spikes=True)
        if exchange == "binance":
            b["high"][[at["warmup"], at["first"]]] *= 10
        elif exchange == "bybit":
            b["low"][at["low"]] /= 10
        else:
            b["high"][at["across"]] *= 1.15
        write(store, exchange, b, 1.0 - 0.2 * i)
    return at


@pytest.fixture()
def flagged() -> Iterator[tuple[DuckDBStore, dict[str, int]]]:
    with DuckDBStore(":memory:") as s:
        yield s, _flagged_store(s)


def _reread(store: DuckDBStore, heatmap: Heatmap, interval_ms: int) -> tuple[BadTick, ...]:
    """The bad ticks of the heatmap's columns read again from the store (``bad_ticks_for``)."""
    start, end = int(heatmap.times[0]), int(heatmap.times[-1]) + heatmap.interval_ms
    return tuple(bad_ticks_for(store, heatmap.symbol, heatmap.exchanges, start, end, interval_ms))


@pytest.mark.parametrize("exchanges", [("binance",), ("bybit",), ("okx",), ("binance", "bybit", "okx")])
def test_a_views_bad_ticks_are_those_read_again_from_its_bars(flagged, exchanges: tuple[str, ...]) -> None:
    from test_liveviews import START

    from liqmap.query import HeatmapQuery, heatmap_for
    from liqmap.warmbooks import WarmBooks

    store, at = flagged
    query = HeatmapQuery("BTC", exchanges=exchanges, range="24h", warmup_days=2, n_bins=300, max_columns=200)
    plain = heatmap_for(store, query)
    books = WarmBooks()
    heatmap_for(store, query, books=books)  # the day's book
    from_book = heatmap_for(store, query, books=books)
    expected = {
        ("binance", START + at["first"] * MINUTE, "high"),
        ("bybit", START + at["low"] * MINUTE, "low"),
        *((("okx", START + at["across"] * MINUTE, "high"),) if len(exchanges) >= 3 else ()),
    }
    want = _reread(store, plain, MINUTE)
    assert [(t.exchange, t.ts, t.field) for t in want] == sorted(
        (e for e in expected if e[0] in exchanges), key=lambda e: (e[1], e[0]))
    assert plain.bad_ticks == want
    assert from_book.bad_ticks == want
    by_venue = {t.exchange: t for t in want}
    if "binance" in by_venue:
        tick = by_venue["binance"]
        assert tick.raw > 5 * tick.clipped
    if "okx" in by_venue:  # clipped to the others' highest high of that bar
        assert by_venue["okx"].clipped == pytest.approx(by_venue["okx"].raw / 1.15, rel=1e-6)


def test_a_resampled_views_bad_ticks_are_in_the_bars_it_models(flagged) -> None:
    """A 5-minute view over 1-minute bars flags its 5-minute bars (the ones the model used)."""
    from test_liveviews import START

    from liqmap.query import HeatmapQuery, heatmap_for

    store, at = flagged
    five = 5 * MINUTE
    query = HeatmapQuery("BTC", range="24h", warmup_days=2, n_bins=300, max_columns=100, interval_ms=five)
    heatmap = heatmap_for(store, query)
    assert heatmap.bad_ticks == _reread(store, heatmap, five)
    assert [(t.exchange, t.ts, t.field) for t in heatmap.bad_ticks] == [
        ("binance", START + at["first"] * MINUTE, "high"),
        ("bybit", START + at["low"] * MINUTE, "low"),
        ("okx", START + at["across"] * MINUTE, "high"),
    ]  # each injected bar opens a 5-minute bucket


def test_a_live_views_bad_ticks_follow_its_new_bars(flagged) -> None:
    from test_liveviews import DAYS, START, bars, write

    from liqmap.liveviews import LiveViews
    from liqmap.query import HeatmapQuery, heatmap_for

    store, _ = flagged
    query = HeatmapQuery("BTC", range="24h", warmup_days=2, n_bins=300, max_columns=200)
    live = LiveViews()
    before = live.heatmap(store, query).bad_ticks
    more = bars(3, START + DAYS * 86_400_000, 9, spikes=False)
    for i, exchange in enumerate(("binance", "bybit", "okx")):
        part = {k: v.copy() for k, v in more.items()}
        if exchange == "okx":
            part["high"][1] *= 10
        write(store, exchange, part, 1.0 - 0.2 * i)
    got = live.heatmap(store, query)
    assert live.extended == 1 and live.rebased == 0
    want = heatmap_for(store, query)
    assert got.bad_ticks == want.bad_ticks == _reread(store, want, MINUTE)
    # the window moved three minutes: the binance tick on its first bar dropped off, the new okx one came in
    assert before[0].exchange == "binance" and before[0].ts < got.times[0]
    assert [(t.exchange, t.ts) for t in got.bad_ticks] == [
        *((t.exchange, t.ts) for t in before[1:]), ("okx", int(more["ts"][1]))]
