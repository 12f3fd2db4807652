"""What the two backends must share beyond the basic store suite: retention, change versions, the same
heatmap to the bit, and clear errors when the store is absent, unreachable, held or full."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from liqmap.cli import main
from liqmap.errors import ConfigError, StoreError, StoreUnavailableError
from liqmap.store import DuckDBStore, Store, store_for
from liqmap.store.postgres_store import PostgresStore
from liqmap.types import DAY_MS, HOUR_MS, MINUTE_MS, Bar, Trade
from support.pgserver import PgServer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "files"


def _bars(days: int, step: int = HOUR_MS) -> list[Bar]:
    return [Bar("binance", "BTC", step, t, 99.0, 101.0, 98.0, 100.0, 5.0, ts_recv=t)
            for t in range(0, days * DAY_MS, step)]


def _trades(days: int, first_day: int = 0) -> list[Trade]:
    return [Trade("binance", "BTC", t, t + 1, 100.0, 0.5, "buy", f"id{t}")
            for t in range(first_day * DAY_MS, (first_day + days) * DAY_MS, HOUR_MS)]


def test_prune_keeps_exactly_the_rows_inside_each_retention(backend_store: Store) -> None:
    store = backend_store
    store.write(_bars(100) + _trades(10, first_day=90))
    now = 100 * DAY_MS
    retention = {"bars": 40 * DAY_MS, "trades": 3 * DAY_MS, "funding": None}
    assert store.prune(retention, now, dry_run=True) == {"bars": 60 * 24, "trades": 7 * 24}
    assert len(store.read("bars")["ts_event"]) == 100 * 24  # a dry run deletes nothing
    assert store.prune(retention, now) == {"bars": 60 * 24, "trades": 7 * 24}
    bars, trades = store.read("bars")["ts_event"], store.read("trades")["ts_event"]
    assert bars.min() == 60 * DAY_MS and len(bars) == 40 * 24
    assert trades.min() == 97 * DAY_MS and len(trades) == 3 * 24
    assert store.prune(retention, now) == {"bars": 0, "trades": 0}
    with pytest.raises(ConfigError, match="no time column"):
        store.prune({"instruments": DAY_MS}, now)


def test_postgres_retention_drops_whole_partitions(pg_url: str) -> None:
    with PostgresStore(pg_url) as store:
        store.write(_trades(10))
        before = _partitions(store, "trades")
        assert len(before) == 10  # one partition per day
        store.prune({"trades": 3 * DAY_MS}, 10 * DAY_MS + HOUR_MS)
        after = _partitions(store, "trades")
    # Days 0..6 end before the cut-off (day 7 + 1 h): dropped; day 7 straddles it and stays, emptied below it.
    assert len(after) == 3


def _partitions(store: PostgresStore, table: str) -> list[str]:
    rows = store.execute(
        "SELECT c.relname FROM pg_inherits JOIN pg_class p ON p.oid = inhparent JOIN pg_class c ON c.oid = inhrelid "
        "WHERE p.relname = ? ORDER BY 1", [table])
    return [r[0] for r in rows]


def test_version_moves_on_committed_changes_only(backend_store: Store) -> None:
    store = backend_store
    calls: list[int] = []
    store.on_change(lambda: calls.append(1))
    start = dict(store.version())
    store.write(_bars(1))
    after_write = dict(store.version())
    assert after_write["bars"] == start.get("bars", 0) + 1
    store.write(_bars(1))  # nothing new: no change
    assert dict(store.version()) == after_write
    with pytest.raises(RuntimeError), store.transaction():
        store.write(_bars(2))
        raise RuntimeError("rolled back")
    assert dict(store.version()) == after_write
    store.delete("bars", start=0, end=HOUR_MS)
    assert dict(store.version())["bars"] == after_write["bars"] + 1
    _wait(lambda: len(calls) >= 2)


def test_a_write_in_another_process_reaches_this_one(pg_url: str) -> None:
    """LISTEN/NOTIFY: a collector elsewhere commits a bar, a server here hears of it at once."""
    heard = threading.Event()
    with PostgresStore(pg_url) as store:
        store.on_change(heard.set)
        version = store.version()
        code = ("import sys; from liqmap.store import open_store; from liqmap.types import Bar; "
                "s = open_store(sys.argv[1]); s.write([Bar('okx', 'ETH', 60000, 0, 1.0, 2.0, 0.5, 1.5, 3.0, 0)]); "
                "s.close()")
        subprocess.run([sys.executable, "-c", code, pg_url], check=True, timeout=60)
        assert heard.wait(10)
        assert store.version() != version
        assert store.read("bars", exchange="okx")["close"].tolist() == [1.5]


def test_the_same_view_gives_the_same_heatmap_from_either_backend(tmp_path: Path, pg_url: str) -> None:
    from liqmap.ingest import import_file
    from liqmap.query import HeatmapQuery, heatmap_for

    files = [FIXTURES / "BTCUSDT-1h-futures.csv.gz", FIXTURES / "BTC_regime_1h.csv.gz",
             FIXTURES / "BTCUSDT-funding.csv.gz", FIXTURES.parent / "evaluate" / "AVAXUSDT-1m-2026-06.csv.gz"]
    results = []
    for store in (DuckDBStore(tmp_path / "a.duckdb"), PostgresStore(pg_url)):
        with store:
            for path in files:
                import_file(store, path)
            hourly = heatmap_for(store, HeatmapQuery("BTC", range="7d"))
            resampled = store.resample_bars(start=0, end=2**62, interval_ms=15 * MINUTE_MS,
                                            source_interval_ms=MINUTE_MS, symbol="AVAX")
            inventory = store.inventory()
        results.append((hourly, resampled, inventory))
    (a, ra, ia), (b, rb, ib) = results
    assert len(a.times) >= 48
    for name in ("times", "price_edges", "long", "short", "swept_long", "swept_short"):
        left, right = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert left.dtype == right.dtype and left.tobytes() == right.tobytes(), name
    assert ra.keys() == rb.keys() and len(ra["ts_event"]) > 100
    for name in ra:
        assert np.asarray(ra[name]).tobytes() == np.asarray(rb[name]).tobytes(), name
    assert ia == ib


def test_bad_store_urls_are_refused_with_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="unknown store URL scheme 'mysql'"):
        store_for("mysql://x@y/z")
    unreachable = "postgresql://liqmap:hunter2@127.0.0.1:1/nothing"
    with pytest.raises(StoreUnavailableError, match="cannot reach PostgreSQL at") as caught:
        PostgresStore(unreachable, connect_timeout_s=1).open()
    assert "hunter2" not in str(caught.value)
    result = CliRunner().invoke(main, ["inventory", "--db", unreachable])
    assert result.exit_code == 1 and "cannot reach PostgreSQL" in result.output
    assert "Traceback" not in result.output and "hunter2" not in result.output


def test_a_server_that_goes_away_and_comes_back_loses_nothing(pg_server: PgServer, pg_url: str) -> None:
    with PostgresStore(pg_url, connect_timeout_s=2) as store:
        store.write(_bars(1))
        pg_server.stop()
        with pytest.raises(StoreUnavailableError, match="unavailable"):
            store.write(_bars(2))
        pg_server.restart()
        # The pool checks connections before use: the next write goes through on a fresh one.
        assert store.write(_bars(2)) == {"bars": 24}
        assert len(store.read("bars")["ts_event"]) == 48


@contextlib.contextmanager
def _tiny_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_is_named_and_keeps_what_was_stored(tmp_path: Path) -> None:
    with _tiny_disk(tmp_path / "disk", "3m") as disk:
        store = DuckDBStore(disk / "full.duckdb")
        with store:
            store.write(_bars(2))
            with pytest.raises(StoreError, match="disk is full"):
                for day in range(1, 400):
                    store.write([Bar("binance", "X", MINUTE_MS, day * DAY_MS + i * MINUTE_MS, 1.0, 2.0, 0.5, 1.5,
                                     float(i), ts_recv=i, venue_symbol="x" * 200) for i in range(1440)])
        with DuckDBStore(disk / "full.duckdb", read_only=True) as reopened:
            assert len(reopened.read("bars", symbol="BTC")["ts_event"]) == 48


def test_a_full_postgres_disk_is_named_keeps_what_was_stored_and_recovers(pg_server: PgServer) -> None:
    """The database lives in a tablespace on a 16 MB tmpfs (WAL stays on the server's own disk, as on a
    server whose data volume fills up): the write that does not fit fails with "disk is full", the rows
    stored before stay readable, and once `prune` drops the old partitions writes go through again."""
    import tempfile
    import uuid

    import psycopg

    if os.environ.get("LIQMAP_TEST_PG"):
        pytest.skip("an external server: its disk cannot be made small here")
    folder = Path(tempfile.mkdtemp(prefix="liqmap-tiny-"))  # outside root's 0700 pytest dirs: the server reads it
    folder.chmod(0o755)
    with _tiny_disk(folder / "disk", "16m") as disk:
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres", str(disk)], check=True)
        name = f"full_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_server.base_url, autocommit=True) as admin:
            admin.execute(f"CREATE TABLESPACE {name} LOCATION '{disk}'")
            admin.execute(f'CREATE DATABASE "{name}" TABLESPACE {name}')
        url = pg_server.base_url.rsplit("/", 1)[0] + f"/{name}"
        try:
            with PostgresStore(url) as store:
                recent = [dataclasses.replace(bar, ts_event=bar.ts_event + 90 * DAY_MS) for bar in _bars(2)]
                store.write(recent)  # days 90-91; the old days below fill the disk
                with pytest.raises(StoreError, match="disk is full"):
                    for day in range(60):
                        store.write([Bar("binance", "X", MINUTE_MS, day * DAY_MS + i * MINUTE_MS, 1.0, 2.0, 0.5,
                                         1.5, float(i), ts_recv=i, venue_symbol="x" * 200) for i in range(1440)])
                assert list(store.read("bars", symbol="BTC")["ts_event"]) == [b.ts_event for b in recent]
                dropped = store.prune({"bars": 30 * DAY_MS}, now_ms=92 * DAY_MS)
                assert dropped["bars"] > 0 and store.read("bars", symbol="X")["ts_event"].size == 0
                later = [dataclasses.replace(bar, ts_event=bar.ts_event + 2 * DAY_MS) for bar in recent]
                assert store.write(later) == {"bars": 48}
                assert len(store.read("bars", symbol="BTC")["ts_event"]) == 96
        finally:
            with psycopg.connect(pg_server.base_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.execute(f"DROP TABLESPACE IF EXISTS {name}")
    shutil.rmtree(folder, ignore_errors=True)


def _wait(condition: object, timeout_s: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_store_files_are_private_to_their_owner(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "p.duckdb") as store:
        store.write(_bars(1))
    assert (tmp_path / "p.duckdb").stat().st_mode & 0o777 == 0o600
