from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

from liqmap.errors import ConfigError, StoreError
from liqmap.store import DuckDBStore, Store, schema
from liqmap.types import HOUR_MS, Bar, Instrument, Liquidation, OpenInterest


def _bar(i: int, close: float = 100.0) -> Bar:
    return Bar("binance", "BTC", HOUR_MS, i * HOUR_MS, 99.0, 101.0, 98.0, close, 5.0, ts_recv=7,
               taker_buy_volume=2.5, venue_symbol="BTCUSDT")


def test_constructor_does_no_io(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.duckdb"
    DuckDBStore(path)
    assert not path.parent.exists()


def test_rewriting_the_same_rows_stores_nothing_twice_and_keeps_values(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "a.duckdb") as store:
        assert store.write([_bar(i) for i in range(3)]) == {"bars": 3}
        # Same keys, different close: the first write wins (idempotent, nothing overwritten).
        assert store.write([_bar(i, close=1.0) for i in range(4)]) == {"bars": 1}
        bars = store.read("bars", exchange="binance", symbol="BTC")
    assert bars["ts_event"].tolist() == [0, HOUR_MS, 2 * HOUR_MS, 3 * HOUR_MS]
    assert bars["close"].tolist() == [100.0, 100.0, 100.0, 1.0]
    assert bars["taker_buy_volume"].tolist() == [2.5] * 4


def test_duplicates_inside_one_batch_are_collapsed(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        assert store.write([_bar(0), _bar(0), _bar(1)]) == {"bars": 2}


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "p.duckdb"
    with DuckDBStore(path) as store:
        store.write([_bar(0)])
    with DuckDBStore(path) as store:
        assert store.read("bars")["close"].tolist() == [100.0]


def test_reads_filter_by_time_window_and_columns(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        store.write([_bar(i, close=100.0 + i) for i in range(10)])
        got = store.read("bars", start=2 * HOUR_MS, end=5 * HOUR_MS, columns=["ts_event", "close"])
    assert set(got) == {"ts_event", "close"}
    assert got["close"].tolist() == [102.0, 103.0, 104.0]


def test_nullable_columns_come_back_as_nan(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        store.write([OpenInterest("binance", "BTC", 5, 6, oi_base=None, oi_usd=1e9)])
        got = store.read("open_interest")
    assert np.isnan(got["oi_base"][0])
    assert got["oi_usd"][0] == 1e9


def test_metadata_tables_are_upserted(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        store.write([Instrument("okx", "BTC", "BTC-USDT-SWAP", 0.01, 0.1, 1.0)])
        store.write([Instrument("okx", "BTC", "BTC-USDT-SWAP", 0.001, 0.1, 1.0)])
        assert store.read("instruments", exchange="okx")["contract_size"].tolist() == [0.001]


def test_inventory_and_latest_ts_describe_each_series(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        store.write([_bar(i) for i in range(5)])
        store.write([Liquidation("binance", "BTC", 42, 43, "long", 60000.0, 0.5, 30000.0)])
        rows = {r["table"]: r for r in store.inventory()}
        assert store.latest_ts("bars", exchange="binance", symbol="BTC") == 4 * HOUR_MS
        assert store.latest_ts("bars", exchange="okx") is None
    assert rows["bars"]["rows"] == 5 and rows["bars"]["last"] == 4 * HOUR_MS
    assert rows["liquidations"]["first"] == 42


def test_unknown_table_or_column_is_refused_by_name(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        with pytest.raises(ConfigError, match="unknown table 'nope'"):
            store.read("nope")
        with pytest.raises(ConfigError, match="no column"):
            store.read("bars", **{"close; DROP TABLE bars": 1})
        assert store.read("bars")["close"].size == 0


def test_unopened_store_says_so() -> None:
    with pytest.raises(StoreError, match="not open"):
        DuckDBStore(":memory:").read("bars")


def test_a_failing_batch_keeps_what_was_stored_before(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        store.write([_bar(0)])
        with pytest.raises(StoreError):
            store.write_columns("bars", {k: [None] for k in schema.table("bars").column_names})
        assert store.read("bars")["close"].tolist() == [100.0]


def test_a_transaction_stores_all_or_nothing(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        with store.transaction():
            store.write([_bar(0)])
            store.write([_bar(1)])
        with pytest.raises(RuntimeError), store.transaction():
            store.write([_bar(2)])
            raise RuntimeError("importer failed half-way")
        assert store.read("bars")["ts_event"].tolist() == [0, HOUR_MS]


def test_upserts_report_new_keys_only(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        inst = Instrument("okx", "BTC", "BTC-USDT-SWAP", 0.01, 0.1, 1.0)
        assert store.write([inst]) == {"instruments": 1}
        assert store.write([inst]) == {"instruments": 0}


def test_rows_sharing_a_timestamp_come_back_in_key_order(backend_store: Store) -> None:
    prints = [Liquidation("binance", sym, 1000, 1, "long", price, 1.0, price)
              for sym, price in [("SOL", 150.0), ("BTC", 60000.0), ("ETH", 3000.0), ("BTC", 59000.0)]]
    with nullcontext(backend_store) as store:
        store.write(prints)
        got = store.read("liquidations")
    assert list(zip(got["symbol"], got["price"], strict=True)) == [
        ("BTC", 59000.0), ("BTC", 60000.0), ("ETH", 3000.0), ("SOL", 150.0)]


def test_one_series_written_out_of_order_comes_back_in_time_order(backend_store: Store) -> None:
    """Every key column but time fixed (the model's reads): ordered by time whatever the write order."""
    with nullcontext(backend_store) as store:
        for batch in ([7, 2, 9], [0, 5], [8, 1, 3]):
            store.write([_bar(i, close=100.0 + i) for i in batch])
        bars = store.read("bars", columns=["close"], exchange="binance", market="perp", symbol="BTC",
                          interval_ms=HOUR_MS)
        spanned = store.read("bars", start=2 * HOUR_MS, end=8 * HOUR_MS, columns=["ts_event", "close"],
                             exchange="binance", market="perp", symbol="BTC", interval_ms=HOUR_MS)
    assert bars["close"].tolist() == [100.0 + i for i in (0, 1, 2, 3, 5, 7, 8, 9)]
    assert list(bars) == ["close"]
    assert spanned["ts_event"].tolist() == [i * HOUR_MS for i in (2, 3, 5, 7)]
    assert spanned["close"].tolist() == [102.0, 103.0, 105.0, 107.0]


def test_distinct_values_use_the_same_filters_as_read(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        store.write([_bar(i) for i in range(3)])
        store.write([Bar("okx", "BTC", HOUR_MS, 5 * HOUR_MS, 1, 2, 0.5, 1.5, 1, 0)])
        store.write([Bar("bybit", "ETH", HOUR_MS, 0, 1, 2, 0.5, 1.5, 1, 0)])
        assert store.distinct("bars", "exchange", symbol="BTC") == ["binance", "okx"]
        assert store.distinct("bars", "exchange", start=3 * HOUR_MS, symbol="BTC") == ["okx"]
        assert store.distinct("bars", "symbol") == ["BTC", "ETH"]
        with pytest.raises(ConfigError, match="no column 'nope'"):
            store.distinct("bars", "nope")


def test_fingerprint_changes_exactly_when_the_selected_rows_do(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        store.write([_bar(i) for i in range(10)])
        span = {"start": 2 * HOUR_MS, "end": 6 * HOUR_MS, "exchange": "binance"}
        first = store.fingerprint("bars", **span)
        assert first == (4, "edits 0")
        store.write([_bar(i, close=123.0) for i in range(10)])  # same keys: skipped, nothing changes
        store.write([_bar(i) for i in range(10, 12)])  # outside the span
        assert store.fingerprint("bars", **span) == first
        store.write([Bar("binance", "BTC", 60_000, 3 * HOUR_MS, 99.0, 101.0, 98.0, 100.0, 1.0, ts_recv=7)])
        assert store.fingerprint("bars", **span) == (5, "edits 0")
        assert store.fingerprint("bars", **{**span, "exchange": "okx"}) == (0, "edits 0")
        # A statement run outside write() may change rows in place: the count alone would not see it.
        store.execute("UPDATE bars SET close = 1.0 WHERE ts_event = ?", [3 * HOUR_MS])
        assert store.fingerprint("bars", **span) == (5, "edits 1")
        store.execute("SELECT count(*) FROM bars")
        store.execute("DELETE FROM liquidation_bars")  # another table: bars untouched
        assert store.fingerprint("bars", **span) == (5, "edits 1")
        # Upsert tables are revised in place: their fingerprint hashes the values.
        store.write([Instrument("okx", "BTC", "BTC-USDT-SWAP", 0.01, 0.1, 1.0)])
        before = store.fingerprint("instruments", exchange="okx")
        store.write([Instrument("okx", "BTC", "BTC-USDT-SWAP", 0.01, 0.1, 1.0)])
        assert store.fingerprint("instruments", exchange="okx") == before
        store.write([Instrument("okx", "BTC", "BTC-USDT-SWAP", 0.001, 0.1, 1.0)])
        revised = store.fingerprint("instruments", exchange="okx")
        assert revised[0] == before[0] == 1 and revised[1] != before[1]


def test_series_list_follows_every_write(backend_store: Store) -> None:
    with nullcontext(backend_store) as store:
        store.write([_bar(i) for i in range(3)])
        assert [(r["exchange"], r["interval_ms"], r["first"], r["last"], r["rows"]) for r in store.series("bars")] == [
            ("binance", HOUR_MS, 0, 2 * HOUR_MS, 3)]
        store.write([_bar(3)])
        assert store.series("bars")[0]["last"] == 3 * HOUR_MS
        store.execute("DELETE FROM bars WHERE ts_event = ?", [0])  # a statement that is not a SELECT
        assert store.series("bars")[0]["first"] == HOUR_MS
        store.execute("WITH gone AS (SELECT 1) DELETE FROM bars WHERE ts_event = ?", [HOUR_MS])
        assert store.series("bars")[0]["first"] == 2 * HOUR_MS
        with store.transaction():
            store.write([Bar("okx", "BTC", HOUR_MS, 0, 1.0, 1.0, 1.0, 1.0, 1.0, ts_recv=1)])
        assert [r["exchange"] for r in store.series("bars")] == ["binance", "okx"]
        assert store.series("funding") == []


def test_series_carried_over_small_writes_equal_the_group_by(tmp_path: Path) -> None:
    """A small write of new rows carries the cached series list (no GROUP BY at the next call); whatever
    the writes (new series, duplicates, a rolled-back transaction, another table) it equals the GROUP BY."""
    from liqmap.store.duckdb_store import series_rows, series_statement

    spec = schema.table("bars")
    with DuckDBStore(tmp_path / "s.duckdb") as store:

        def check() -> None:
            assert store.series("bars") == series_rows(spec, store.execute(series_statement(spec)))

        store.write([_bar(i) for i in range(3)])
        check()
        store.write([_bar(3), Bar("okx", "BTC", HOUR_MS, 5 * HOUR_MS, 1.0, 1.0, 1.0, 1.0, 1.0, ts_recv=1)])
        check()
        store.write([_bar(2), _bar(4)])  # one row already stored: the list is recomputed
        check()
        store.write([Bar("bybit", "BTC", 60_000, 0, 1.0, 1.0, 1.0, 1.0, 1.0, ts_recv=1)])  # sorts before okx
        check()
        with pytest.raises(RuntimeError), store.transaction():
            store.write([_bar(9)])
            raise RuntimeError("abort")
        check()
        store.write([OpenInterest("binance", "BTC", HOUR_MS, 1, None, 1e9)])
        store.write([_bar(10)])
        check()
        first = store.series("bars")[0]
        assert (first["exchange"], first["first"], first["last"], first["rows"]) == ("binance", 0, 10 * HOUR_MS, 6)


def test_a_large_batch_is_stored_in_time_order_and_keeps_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of ORDERED_ROWS or more are inserted sorted by time (a series' read then skips its sort),
    with the same rows kept as the ON CONFLICT insert: duplicates in the batch and stored keys skipped."""
    from liqmap.store import duckdb_store

    batches = ([7, 2, 9, 2, 6], [0, 5, 9, 1, 1, 3, 8, 6])
    results = {}
    for rows in (10**9, 4):  # every batch by ON CONFLICT; then every batch ordered
        monkeypatch.setattr(duckdb_store, "ORDERED_ROWS", rows)
        with DuckDBStore(tmp_path / f"{rows}.duckdb") as store:
            new = [store.write([_bar(i, close=100.0 + i) for i in batch]) for batch in batches]
            stored = [ts for (ts,) in store.connection.execute("SELECT ts_event FROM bars").fetchall()]
            results[rows] = new, store.read("bars", exchange="binance", symbol="BTC")
    assert stored == sorted(stored[:4]) + sorted(stored[4:])  # each batch's new rows in time order
    assert stored[:4] == [i * HOUR_MS for i in (2, 6, 7, 9)]
    (new_small, small), (new_large, large) = results[10**9], results[4]
    assert new_small == new_large == [{"bars": 4}, {"bars": 5}]
    assert small.keys() == large.keys()
    for name in small:
        np.testing.assert_array_equal(small[name], large[name])
    assert large["close"].tolist() == [100.0 + i for i in range(10) if i != 4]


def test_a_large_trades_batch_skips_a_stored_trade_id_whatever_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``trades`` is keyed by trade id, not time: a large batch repeating a stored id with another time
    (a second source's clock) skips it instead of failing on the key, as a small batch does."""
    from liqmap.store import duckdb_store
    from liqmap.types import Trade

    def trade(ts: int, trade_id: str) -> Trade:
        return Trade("binance", "BTC", ts, ts, 100.0, 1.0, "buy", trade_id)

    monkeypatch.setattr(duckdb_store, "ORDERED_ROWS", 2)
    with DuckDBStore(tmp_path / "t.duckdb") as store:
        assert store.write([trade(1_000, "a")]) == {"trades": 1}
        assert store.write([trade(50_000, "a"), trade(60_000, "b"), trade(55_000, "c")]) == {"trades": 2}
        rows = store.read("trades", exchange="binance", symbol="BTC", columns=["ts_event", "trade_id"])
    assert rows["trade_id"].tolist() == ["a", "c", "b"]
    assert rows["ts_event"].tolist() == [1_000, 55_000, 60_000]
