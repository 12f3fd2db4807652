"""heatmap_for with cached warm-up books (liqmap.warmbooks) against the plain run from the warm-up start:
two exchanges on 15-minute bars, one with a gap in its warm-up; new data invalidates the books."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from liqmap.model.config import ModelConfig
from liqmap.model.result import Heatmap
from liqmap.query import HeatmapQuery, heatmap_for, resolve_view
from liqmap.store import DuckDBStore
from liqmap.types import DAY_MS, HOUR_MS, MINUTE_MS
from liqmap.warmbooks import WarmBooks

STEP = 15 * MINUTE_MS
END = 1_779_667_200_000 + 7 * HOUR_MS  # not a midnight: the split falls inside the warm-up + window
DAYS = 14
GAP = (END - 5 * DAY_MS, END - 5 * DAY_MS + 6 * HOUR_MS)
"""okx has no bars in this span: inside the warm-up of a 3-day view with 8 warm-up days, before the split
(the window's first midnight) and its context bars."""


def _series(store: DuckDBStore, exchange: str, seed: int, skip: tuple[int, int] | None = None) -> None:
    rng = np.random.default_rng(seed)
    n = DAYS * 96
    ts = END - n * STEP + np.arange(n, dtype=np.int64) * STEP
    close = 80_000.0 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.002))
    open_ = np.concatenate(([80_000.0], close[:-1]))
    wick = np.abs(rng.normal(0, 0.0015, (2, n)))
    volume = rng.lognormal(5.0, 0.8, n)
    keep = np.ones(n, dtype=bool) if skip is None else ~((ts >= skip[0]) & (ts < skip[1]))
    text = np.full(n, exchange, dtype=object)
    columns = {
        "exchange": text, "symbol": np.full(n, "BTC", dtype=object), "interval_ms": np.full(n, STEP),
        "ts_event": ts, "open": open_, "high": np.maximum(open_, close) * (1 + wick[0]),
        "low": np.minimum(open_, close) * (1 - wick[1]), "close": close, "volume": volume, "ts_recv": ts + STEP,
        "quote_volume": volume * close, "taker_buy_volume": volume * rng.uniform(0.35, 0.65, n),
        "trades": np.full(n, 100), "market": np.full(n, "perp", dtype=object),
        "venue_symbol": np.full(n, "BTCUSDT", dtype=object),
    }
    store.write_columns("bars", {k: v[keep] for k, v in columns.items()})
    oi_ts = ts + STEP
    oi = 5e9 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    store.write_columns("open_interest", {
        "exchange": text, "symbol": np.full(n, "BTC", dtype=object), "ts_event": oi_ts, "ts_recv": oi_ts,
        "oi_base": oi / close, "oi_usd": oi, "venue_symbol": np.full(n, "BTCUSDT", dtype=object),
    })


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    with DuckDBStore(":memory:") as s:
        _series(s, "binance", 1)
        _series(s, "okx", 2, skip=GAP)
        yield s


def assert_same(got: Heatmap, want: Heatmap) -> None:
    np.testing.assert_array_equal(got.times, want.times)
    np.testing.assert_array_equal(got.price_edges, want.price_edges)
    scale = max(float(want.long.max()), float(want.short.max()))
    for name in ("long", "short", "swept_long", "swept_short"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-10, atol=1e-12 * scale)


def query(**kwargs: object) -> HeatmapQuery:
    base: dict[str, object] = {"symbol": "BTC", "range": "3d", "warmup_days": 8.0, "n_bins": 120,
                               "max_columns": 100}
    return HeatmapQuery(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("exchanges", [("binance",), ("okx",), None])
def test_cached_books_give_the_plain_runs_numbers(store: DuckDBStore, exchanges: tuple[str, ...] | None) -> None:
    books = WarmBooks()
    for hours_back in (0, 1, 5):  # three views whose windows start on the same UTC day
        q = query(exchanges=exchanges, end=END - hours_back * HOUR_MS)
        assert_same(heatmap_for(store, q, books=books), heatmap_for(store, q))
    stats = books.stats()
    assert (stats["misses"], stats["hits"]) == (1, 2)
    view = resolve_view(store, q)
    assert view.warmup_start % DAY_MS == 0
    assert view.start - view.warmup_start >= 8 * DAY_MS


def test_the_gap_shortens_the_warmup_alike(store: DuckDBStore) -> None:
    """okx's run starts after its gap, and the aggregate cuts binance to that start: with books too."""
    q = query(end=END)
    books = WarmBooks()
    assert_same(heatmap_for(store, q, books=books), heatmap_for(store, q))
    assert books.stats()["misses"] == 1


def test_new_data_in_the_warmup_rebuilds_the_book(store: DuckDBStore) -> None:
    books = WarmBooks()
    q = query(exchanges=("okx",), end=END)
    before = heatmap_for(store, q, books=books)
    _series(store, "okx", 2)  # the gap is back-filled (the other rows exist: skipped, not duplicated)
    after = heatmap_for(store, q, books=books)
    assert_same(after, heatmap_for(store, q))
    assert books.stats()["misses"] == 2
    # The longer warm-up changed the book, far beyond float rounding.
    change = np.abs(after.long - before.long).max() / before.long.max()
    assert change > 1e-6


def test_new_data_after_the_split_reuses_the_book(store: DuckDBStore) -> None:
    books = WarmBooks()
    first = heatmap_for(store, query(exchanges=("binance",), end=END - HOUR_MS), books=books)
    later = heatmap_for(store, query(exchanges=("binance",), end=END), books=books)
    assert books.stats()["misses"] == 1 and books.stats()["hits"] == 1
    assert later.times[-1] > first.times[-1]
    assert_same(later, heatmap_for(store, query(exchanges=("binance",), end=END)))


@pytest.mark.parametrize("columns", [2, 5, 10, 20, 37])
@pytest.mark.parametrize("range_", ["3d", "24h"])
def test_few_columns_group_alike_and_stay_within_the_budget(store: DuckDBStore, columns: int, range_: str) -> None:
    """Bars per column come from the window alone, not from the length of the modelled run."""
    q = query(range=range_, max_columns=columns, end=END)
    got = heatmap_for(store, q, books=WarmBooks())
    want = heatmap_for(store, q)
    assert_same(got, want)
    assert len(want.times) <= columns


def test_an_oi_gap_across_the_split_falls_back(store: DuckDBStore) -> None:
    """The model's OI reference is the last finite OI before a bar, however old: with none in the context
    bars before the split, the run from books would not know it, so the plain run is used."""
    split = (END - 3 * DAY_MS) - (END - 3 * DAY_MS) % DAY_MS
    store.execute("DELETE FROM open_interest WHERE exchange = 'binance' AND ts_event > ? AND ts_event <= ?",
                  [split - 20 * HOUR_MS, split + HOUR_MS])
    q = query(exchanges=("binance",), end=END)
    assert_same(heatmap_for(store, q, books=WarmBooks()), heatmap_for(store, q))


def test_filters_and_settings(store: DuckDBStore) -> None:
    books = WarmBooks()
    config = ModelConfig(leverage_weights=(0.3, 0.3, 0.2, 0.1, 0.1))
    for q in (
        query(leverage=(50.0, 100.0), end=END),  # builds the book of every tier
        query(leverage=(125.0,), end=END),  # the same book, other tiers left out
        query(config=config, end=END),  # other settings: another book
        query(ages=("<4h", "4h-1d"), end=END),  # the warm cohorts age from their births
        query(ages=(">7d",), end=END),
        query(ages=("<4h", "1d-7d"), leverage=(50.0, 100.0), end=END),
        query(end=END),
    ):
        assert_same(heatmap_for(store, q, books=books), heatmap_for(store, q))
    # one book per model configuration: tier and age filters share it
    assert (books.stats()["misses"], books.stats()["hits"]) == (2, 5)


def test_an_exchange_that_stopped_long_ago_is_treated_alike(store: DuckDBStore) -> None:
    """bybit's bars end inside the warm-up, before the split: the plain run refuses the aggregate (the
    exchanges' bars do not reach the window together), and so does the run with books (it falls back to
    the plain run instead of leaving bybit out)."""
    from liqmap.errors import DataError

    _series(store, "bybit", 3, skip=(END - 6 * DAY_MS, END))
    q = query(end=END)
    with pytest.raises(DataError) as plain:
        heatmap_for(store, q)
    with pytest.raises(DataError) as cached:
        heatmap_for(store, q, books=WarmBooks())
    assert str(cached.value) == str(plain.value)


def test_one_fingerprint_query_per_table_for_all_exchanges(store: DuckDBStore) -> None:
    """The books' key reads each table once for the symbol's rows of every exchange: the same rows as the
    per-exchange reads together."""
    from liqmap.warmbooks import fingerprint

    start, split = END - 10 * DAY_MS, END - 2 * DAY_MS
    together = fingerprint(store, "BTC", start, split, STEP)
    apart = [fingerprint_of(store, exchange, start, split) for exchange in ("binance", "okx")]
    assert together == tuple((a[0] + b[0], a[1]) for a, b in zip(*apart, strict=True))
    assert together[0] == (2 * 8 * 96 - 24, "edits 0")  # okx lacks the 6-hour gap's 24 bars


def fingerprint_of(store: DuckDBStore, exchange: str, start: int, split: int) -> list[tuple[int, str]]:
    """The former key: one fingerprint per exchange and table."""
    return [store.fingerprint("bars", start=start, end=split, exchange=exchange, symbol="BTC"),
            store.fingerprint("open_interest", start=start, end=split + STEP + 1, exchange=exchange, symbol="BTC"),
            store.fingerprint("funding", start=start - DAY_MS, end=split + STEP + 1, exchange=exchange, symbol="BTC")]


def test_the_fingerprint_is_taken_again_only_after_a_write(store: DuckDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the store's data version stays, the books' key is reused without reading the store; a write
    (here a deletion in the warm-up) takes it again and builds a new book, equal to the plain run's."""
    tables: list[str] = []
    real = store.fingerprint

    def spy(table: str, **kwargs: object) -> tuple[int, str]:
        tables.append(table)
        return real(table, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "fingerprint", spy)
    books = WarmBooks()
    q = query(exchanges=("binance",), end=END)
    for hours_back in (0, 1, 2):
        heatmap_for(store, query(exchanges=("binance",), end=END - hours_back * HOUR_MS), books=books)
    assert tables == ["bars", "open_interest", "funding"]
    assert (books.stats()["misses"], books.stats()["hits"]) == (1, 2)
    store.execute("DELETE FROM bars WHERE exchange = 'binance' AND ts_event = ?", [END - 6 * DAY_MS])
    after = heatmap_for(store, q, books=books)
    assert tables == ["bars", "open_interest", "funding"] * 2
    assert (books.stats()["misses"], books.stats()["hits"]) == (2, 2)
    assert_same(after, heatmap_for(store, q))
