"""Live views extended bar by bar equal the full recompute (heatmap_for) on the same store."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from liqmap.liveviews import LiveViews, StepReads
from liqmap.query import HeatmapQuery, heatmap_for
from liqmap.store import DuckDBStore
from liqmap.types import DAY_MS, MINUTE_MS, Bar

START = 1_779_667_200_000 - 4 * DAY_MS
DAYS = 4
EXCHANGES = ("binance", "okx")


def bars(n: int, first: int, seed: int, spikes: bool) -> dict[str, np.ndarray]:
    """1-minute bars around 90,000 (a random walk with wicks); with ``spikes`` the extremes of the data
    sit in two bars of the last day, so a sliding 24-hour window keeps its price ladder for a while."""
    rng = np.random.default_rng(seed)
    close = 90_000.0 * np.exp(np.cumsum(rng.normal(0, 0.0004, n)))
    close = 90_000.0 * (close / close[-1]) ** 0.2  # keep the walk near its end value
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0003, n)))
    if spikes:
        high[n - 600] *= 1.04
        low[n - 900] *= 0.96
    volume = rng.lognormal(3.0, 0.8, n)
    return {"ts": first + MINUTE_MS * np.arange(n, dtype=np.int64), "open": open_, "high": high, "low": low,
            "close": close, "volume": volume, "taker": volume * rng.uniform(0.35, 0.65, n),
            "oi": 7e9 * np.exp(np.cumsum(rng.normal(0.0001, 0.002, n)))}


def write(store: DuckDBStore, exchange: str, b: dict[str, np.ndarray], scale: float) -> None:
    n = len(b["ts"])
    store.write_columns("bars", {
        "exchange": np.full(n, exchange, dtype=object), "symbol": np.full(n, "BTC", dtype=object),
        "interval_ms": np.full(n, MINUTE_MS), "ts_event": b["ts"], "open": b["open"], "high": b["high"],
        "low": b["low"], "close": b["close"], "volume": b["volume"] * scale, "ts_recv": b["ts"] + MINUTE_MS,
        "quote_volume": b["volume"] * scale * b["close"], "taker_buy_volume": b["taker"] * scale,
        "trades": np.full(n, 100), "market": np.full(n, "perp", dtype=object),
        "venue_symbol": np.full(n, "BTCUSDT", dtype=object),
    })
    store.write_columns("open_interest", {
        "exchange": np.full(n, exchange, dtype=object), "symbol": np.full(n, "BTC", dtype=object),
        "ts_event": b["ts"] + MINUTE_MS, "ts_recv": b["ts"] + MINUTE_MS, "oi_base": b["oi"] * scale / b["close"],
        "oi_usd": b["oi"] * scale, "venue_symbol": np.full(n, "BTCUSDT", dtype=object),
    })


@pytest.fixture()
def store() -> Iterator[DuckDBStore]:
    with DuckDBStore(":memory:") as s:
        history = bars(DAYS * 1440, START, 5, spikes=True)
        for i, exchange in enumerate(EXCHANGES):
            write(s, exchange, history, 1.0 - 0.4 * i)
        yield s


def assert_close(got, want) -> None:  # type: ignore[no-untyped-def]
    scale = float(max(want.long.max(), want.short.max(), 1.0))
    np.testing.assert_array_equal(got.times, want.times)
    np.testing.assert_array_equal(got.price_edges, want.price_edges)
    for name in ("long", "short", "swept_long", "swept_short"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=1e-12 * scale,
                                   err_msg=name)
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(got.candles[name], want.candles[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("chunks", [[1] * 14, [3, 1, 7, 2, 11, 33, 1, 40, 1]])
def test_a_live_view_extended_bar_by_bar_equals_the_full_recompute(store: DuckDBStore, chunks: list[int]) -> None:
    query = HeatmapQuery("BTC", range="24h", warmup_days=2, n_bins=300, max_columns=200)
    live = LiveViews()
    first = live.heatmap(store, query)
    assert_close(first, heatmap_for(store, query))
    end = START + DAYS * DAY_MS
    more = bars(sum(chunks), end, 9, spikes=False)
    at = 0
    for size in chunks:
        part = {k: v[at : at + size] for k, v in more.items()}
        for i, exchange in enumerate(EXCHANGES):
            write(store, exchange, part, 1.0 - 0.4 * i)
        at += size
        got = live.heatmap(store, query)
        assert got.candles["close"][-1] == more["close"][at - 1]  # the newest bar is in
        assert_close(got, heatmap_for(store, query))
    assert live.extended == len(chunks) and live.rebased == 0  # each step extended the state
    assert live.rebuilt == 1


def test_a_new_high_beyond_the_ladder_recomputes_the_columns(store: DuckDBStore) -> None:
    query = HeatmapQuery("BTC", range="24h", warmup_days=2, n_bins=300, max_columns=200)
    live = LiveViews()
    live.heatmap(store, query)
    part = bars(2, START + DAYS * DAY_MS, 9, spikes=False)
    part["high"] = part["high"] * 1.2
    for i, exchange in enumerate(EXCHANGES):
        write(store, exchange, part, 1.0 - 0.4 * i)
    assert_close(live.heatmap(store, query), heatmap_for(store, query))
    assert live.rebuilt == 1 and live.extended == 1 and live.rebased == 1  # the columns re-binned, books kept
    more = bars(3, START + DAYS * DAY_MS + 2 * MINUTE_MS, 4, spikes=False)
    for i, exchange in enumerate(EXCHANGES):
        write(store, exchange, more, 1.0 - 0.4 * i)
    assert_close(live.heatmap(store, query), heatmap_for(store, query))
    assert live.extended == 2 and live.rebased == 1


def test_a_resampled_view_waits_for_complete_buckets_and_equals_the_full_recompute(store: DuckDBStore) -> None:
    """A 5-minute view over 1-minute bars (a client's live 30-day view is one): a minute that completes
    no bucket leaves the state as it is, one that completes a bucket extends it; always = heatmap_for."""
    query = HeatmapQuery("BTC", range="24h", warmup_days=2, n_bins=300, max_columns=100, interval_ms=5 * MINUTE_MS)
    live = LiveViews()
    assert_close(live.heatmap(store, query), heatmap_for(store, query))
    end = START + DAYS * DAY_MS
    more = bars(23, end, 9, spikes=False)
    at = 0
    for size in [1, 1, 1, 1, 1, 2, 7, 1, 8]:
        part = {k: v[at : at + size] for k, v in more.items()}
        for i, exchange in enumerate(EXCHANGES):
            write(store, exchange, part, 1.0 - 0.4 * i)
        at += size
        got = live.heatmap(store, query)
        if at >= 5:  # the newest complete bucket is in
            assert got.candles["close"][-1] == more["close"][at // 5 * 5 - 1]
        assert_close(got, heatmap_for(store, query))
    assert live.rebuilt == 1 and live.rebased == 0
    assert live.extended == 4  # buckets completed by the chunks ending at minutes 5, 14, 15 and 23


def test_step_reads_answer_each_exchange_as_the_store_does(store: DuckDBStore) -> None:
    """One read per table for the live step: every per-exchange read the frame loader makes gets the
    store's own rows, columns and dtypes (also with a column NULL on one exchange only)."""
    end = START + DAYS * DAY_MS
    store.write([Bar("okx", "BTC", MINUTE_MS, end, 90_000.0, 90_100.0, 89_900.0, 90_050.0, 3.0, end + MINUTE_MS,
                     market="perp", venue_symbol="BTC-USDT-SWAP")])  # no taker volume: NULL on okx only
    reads = StepReads(store, "BTC", end - 90 * MINUTE_MS, end + MINUTE_MS)
    bar_columns = ["ts_event", "open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume"]
    for exchange in EXCHANGES:
        for table, columns, span in (("bars", bar_columns, (end - 64 * MINUTE_MS, end + MINUTE_MS)),
                                     ("open_interest", ["ts_event", "oi_usd", "oi_base"], (end - 30 * MINUTE_MS, end + 1))):
            equals = {"exchange": exchange, "symbol": "BTC"}
            if table == "bars":
                equals.update(market="perp", interval_ms=MINUTE_MS)
            got = reads.read(table, start=span[0], end=span[1], columns=columns, **equals)
            want = store.read(table, start=span[0], end=span[1], columns=columns, **equals)
            assert list(got) == columns
            for name in columns:
                assert got[name].dtype == want[name].dtype, (exchange, table, name)
                np.testing.assert_array_equal(got[name], want[name])
    assert np.isnan(reads.read("bars", start=end, end=end + MINUTE_MS, columns=["taker_buy_volume"], exchange="okx",
                               symbol="BTC", market="perp", interval_ms=MINUTE_MS)["taker_buy_volume"]).all()
    assert sorted(reads._rows) == ["bars", "open_interest"]  # one read of each table served every exchange
