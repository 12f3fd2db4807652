"""``liqmap prune`` deletes by the config file's ``[retention]`` on real stores of both backends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from liqmap.commands.prune import prune_cmd
from liqmap.store import store_for
from liqmap.types import Bar, Trade

DAY = 86_400_000


@pytest.fixture(params=["duckdb", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store value for --db / [store] db: a DuckDB file or a PostgreSQL database URL."""
    return str(tmp_path / "s.duckdb") if request.param == "duckdb" else str(request.getfixturevalue("pg_url"))


def test_prune_by_config_retention_dry_run_and_table_filter(db: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIQMAP_CONFIG", "LIQMAP_DB", "LIQMAP_RETENTION_TRADES"):
        monkeypatch.delenv(name, raising=False)
    now = int(time.time() * 1000)
    ages_days = [10, 5, 2.5, 1, 0.1]  # with trades = "3d": the first two go
    with store_for(db) as store:
        store.write([Trade("binance", "BTC", now - int(a * DAY), now, 100.0, 1.0, "buy", f"t{i}")
                     for i, a in enumerate(ages_days)])
        store.write([Bar("binance", "BTC", 60_000, now - 400 * DAY, 1.0, 2.0, 0.5, 1.5, 3.0, now)])
    config = tmp_path / "liqmap.toml"
    config.write_text(f'[store]\ndb = "{db}"\n[retention]\ntrades = "3d"\nmark_prices = "12h"\n')
    runner = CliRunner()

    dry = runner.invoke(prune_cmd, ["--config", str(config), "--table", "trades", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == ["trades: keep 3d; would delete 2 rows"]
    with store_for(db) as store:
        assert len(store.read("trades")["ts_event"]) == 5

    done = runner.invoke(prune_cmd, ["--config", str(config)])
    assert done.exit_code == 0, done.output
    assert "trades: keep 3d; deleted 2 rows" in done.output.splitlines()
    assert "bars: keep forever; deleted 0 rows" in done.output.splitlines()
    with store_for(db) as store:
        kept = sorted(store.read("trades")["trade_id"].tolist())
        assert kept == ["t2", "t3", "t4"]
        assert len(store.read("bars")["ts_event"]) == 1  # bars: forever

    # the environment overrides the file: keep 1 day now
    monkeypatch.setenv("LIQMAP_RETENTION_TRADES", "1d")
    again = runner.invoke(prune_cmd, ["--config", str(config), "--table", "trades"])
    assert again.output.splitlines() == ["trades: keep 1d; deleted 2 rows"]


def test_prune_reports_a_bad_store_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIQMAP_CONFIG", raising=False)
    result = CliRunner().invoke(prune_cmd, ["--db", "mysql://nope/x"])
    assert result.exit_code == 1
    assert "unknown store URL scheme 'mysql'" in result.output
