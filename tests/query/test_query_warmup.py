"""heatmap_for's coarse warm-up (query.WARMUP_INTERVAL_MS, docs/model.md section 8 "Warm start") against
the all-fine run, on 1-minute bars with 5-minute open interest."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from liqmap.query import WARMUP_INTERVAL_MS, HeatmapQuery, heatmap_for
from liqmap.store import DuckDBStore
from liqmap.types import DAY_MS, MINUTE_MS

END = 1_779_667_200_000
DAYS = 12


@pytest.fixture(scope="module")
def store() -> Iterator[DuckDBStore]:
    rng = np.random.default_rng(11)
    n = DAYS * 1440
    ts = END - n * MINUTE_MS + np.arange(n, dtype=np.int64) * MINUTE_MS
    close = 90_000.0 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.0004))
    open_ = np.concatenate(([90_000.0], close[:-1]))
    wick = np.abs(rng.normal(0, 0.0003, (2, n)))
    volume = rng.lognormal(3.0, 0.8, n)
    text = np.full(n, "binance", dtype=object)
    oi_ts = ts[::5] + 5 * MINUTE_MS
    oi = 7e9 * np.exp(np.cumsum(rng.normal(0, 0.002, len(oi_ts))))
    with DuckDBStore(":memory:") as s:
        s.write_columns("bars", {
            "exchange": text, "symbol": np.full(n, "BTC", dtype=object), "interval_ms": np.full(n, MINUTE_MS),
            "ts_event": ts, "open": open_, "high": np.maximum(open_, close) * (1 + wick[0]),
            "low": np.minimum(open_, close) * (1 - wick[1]), "close": close, "volume": volume, "ts_recv": ts,
            "quote_volume": volume * close, "taker_buy_volume": volume * rng.uniform(0.35, 0.65, n),
            "trades": np.full(n, 100), "market": np.full(n, "perp", dtype=object),
            "venue_symbol": np.full(n, "BTCUSDT", dtype=object),
        })
        s.write_columns("open_interest", {
            "exchange": np.full(len(oi_ts), "binance", dtype=object),
            "symbol": np.full(len(oi_ts), "BTC", dtype=object), "ts_event": oi_ts, "ts_recv": oi_ts,
            "oi_base": oi / close[::5], "oi_usd": oi, "venue_symbol": np.full(len(oi_ts), "BTCUSDT", dtype=object),
        })
        yield s


def relative_l1(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).sum() / np.abs(want).sum())


@pytest.mark.parametrize("end", [END, END - DAY_MS // 2])
def test_coarse_warmup_is_close_to_the_all_fine_run(store: DuckDBStore, end: int) -> None:
    query = HeatmapQuery("BTC", range="24h", end=end, warmup_days=DAYS - 2, warmup_interval_ms=WARMUP_INTERVAL_MS)
    fine = heatmap_for(store, HeatmapQuery("BTC", range="24h", end=end, warmup_days=DAYS - 2, warmup_interval_ms=None))
    got = heatmap_for(store, query)
    assert got.interval_ms == fine.interval_ms == 2 * MINUTE_MS  # 720 columns of two 1-minute bars
    np.testing.assert_array_equal(got.times, fine.times)
    np.testing.assert_array_equal(got.price_edges, fine.price_edges)
    book, want = np.stack([got.long, got.short]), np.stack([fine.long, fine.short])
    assert not np.array_equal(book, want)  # the coarse warm-up was used
    # Stated tolerance (docs/model.md, "Warm start"): the window's book within 10 % (relative L1), every
    # column within 20 %, the swept series within 1 %.
    assert relative_l1(book, want) <= 0.10
    per_column = np.abs(book - want).sum(axis=(0, 2)) / np.abs(want).sum(axis=(0, 2))
    assert per_column.max() <= 0.20
    swept = np.r_[got.swept_long, got.swept_short]
    assert relative_l1(swept, np.r_[fine.swept_long, fine.swept_short]) <= 0.01
    np.testing.assert_allclose(got.candles["close"], fine.candles["close"])


def test_fine_warmup_when_resolutions_match_or_ages_are_filtered(store: DuckDBStore) -> None:
    base = {"symbol": "BTC", "range": "24h", "warmup_days": 5.0}
    fine = heatmap_for(store, HeatmapQuery(**base, warmup_interval_ms=None))
    same = heatmap_for(store, HeatmapQuery(**base, warmup_interval_ms=MINUTE_MS))
    np.testing.assert_array_equal(same.long, fine.long)
    np.testing.assert_array_equal(same.short, fine.short)
    aged = heatmap_for(store, HeatmapQuery(**base, ages=("<4h", "4h-1d", "1d-7d", ">7d"),
                                           warmup_interval_ms=WARMUP_INTERVAL_MS))
    np.testing.assert_array_equal(aged.long, fine.long)


@pytest.mark.parametrize("warmup_days", [30.0, 34.6, 35.0])
def test_the_automatic_interval_allows_for_the_midnight(store: DuckDBStore, warmup_days: float) -> None:
    """The warm-up start moves back to a midnight (up to a day more): the automatic interval allows for
    it instead of picking one the bar limit then refuses."""
    from liqmap.query import MAX_MODEL_BARS, resolve_view

    view = resolve_view(store, HeatmapQuery("BTC", range="7d", end=END, warmup_days=warmup_days))
    assert (view.end - view.warmup_start) // view.interval_ms <= MAX_MODEL_BARS
    assert view.warmup_start % DAY_MS == 0
    assert view.interval_ms == (MINUTE_MS if warmup_days == 30.0 else 5 * MINUTE_MS)


def test_a_90_day_view_at_1_minute_bars_is_allowed_when_asked_for(store: DuckDBStore) -> None:
    """A forced 1-minute interval over 90 days + a 30-day warm-up (172,800 bars) passes the bar limit; the
    automatic interval stays coarse for it, and 180 days at 1 minute (303,840 bars) are still refused."""
    from liqmap.errors import ConfigError
    from liqmap.query import resolve_view

    view = resolve_view(store, HeatmapQuery("BTC", range="90d", end=END, interval_ms=MINUTE_MS))
    assert view.interval_ms == MINUTE_MS
    assert (view.end - view.warmup_start) // MINUTE_MS == (90 + 30) * 1440  # END is a midnight
    assert resolve_view(store, HeatmapQuery("BTC", range="90d", end=END)).interval_ms == 15 * MINUTE_MS
    with pytest.raises(ConfigError, match="more than"):
        resolve_view(store, HeatmapQuery("BTC", range="180d", end=END, interval_ms=MINUTE_MS))
