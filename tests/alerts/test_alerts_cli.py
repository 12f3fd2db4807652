"""``liqmap levels`` and ``liqmap alerts ...`` on a database file holding the shipped sample."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from liqmap.cli import main
from liqmap.store import DuckDBStore


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    from liqmap.data.sample import SAMPLE_DIR
    from liqmap.ingest.registry import import_file

    path = tmp_path_factory.mktemp("db") / "sample.duckdb"
    with DuckDBStore(path) as store:
        for name in ("BTCUSDT-1h-futures.csv.gz", "BTC_regime_1h.csv.gz"):
            import_file(store, SAMPLE_DIR / name, ts_recv=0)
    return path


@pytest.fixture
def db(sample_db, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, copy)
    return str(copy)


def test_levels_json_csv_pine(db, tmp_path) -> None:
    csv_path, pine_path = tmp_path / "levels.csv", tmp_path / "levels.pine"
    result = CliRunner().invoke(main, ["levels", "--db", db, "--symbol", "BTCUSDT", "--within", "8", "--json",
                                       "--csv", str(csv_path), "--pine", str(pine_path),
                                       "--entry", "77000", "--stop", "76000", "--risk", "100"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["symbol"] == "BTC" and plan["within_pct"] == 8.0
    assert all(abs(c["distance_pct"]) <= 8 for c in plan["clusters"])
    assert plan["stop_plan"]["quantity"] == pytest.approx(0.1)
    assert csv_path.read_text().startswith("symbol,ts,kind,side,")
    assert pine_path.read_text().startswith("//@version=5\n")


def test_levels_table(db) -> None:
    result = CliRunner().invoke(main, ["levels", "--db", db, "--range", "3d"])
    assert result.exit_code == 0, result.output
    assert "nearest above" in result.output and "asymmetry ±10%" in result.output


def test_levels_bad_input_is_named(db) -> None:
    result = CliRunner().invoke(main, ["levels", "--db", db, "--range", "2w"])
    assert result.exit_code != 0 and "range" in result.output
    result = CliRunner().invoke(main, ["levels", "--db", db, "--entry", "1"])
    assert result.exit_code != 0 and "--entry, --stop and --risk go together" in result.output


def test_alerts_add_list_run_history_remove(db, tmp_path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["alerts", "add", "--db", db, "--type", "price_near"])
    assert bad.exit_code != 0 and "within_pct: required" in bad.output
    ok = runner.invoke(main, ["alerts", "add", "--db", db, "--type", "sweep", "--id", "sw", "--min-usd", "5e7",
                              "--sides", "long"])
    assert ok.exit_code == 0, ok.output
    dup = runner.invoke(main, ["alerts", "add", "--db", db, "--type", "sweep", "--id", "sw"])
    assert dup.exit_code != 0 and "exists" in dup.output
    listed = json.loads(runner.invoke(main, ["alerts", "list", "--db", db, "--json"]).output)
    assert [(r["id"], r["type"], r["sides"], r["min_usd"]) for r in listed] == [("sw", "sweep", ["long"], 5e7)]
    config = tmp_path / "alerts.toml"
    config.write_text('[[rules]]\nid = "near"\ntype = "price_near"\nsymbol = "BTC"\nwithin_pct = 0.5\n')
    run = runner.invoke(main, ["alerts", "run", "--db", db, "--config", str(config), "--once", "--replay",
                               "--range", "3d"])
    assert run.exit_code == 0, run.output
    history = json.loads(runner.invoke(main, ["alerts", "history", "--db", db, "--json", "--limit", "500"]).output)
    assert history, "three days of BTC produce alerts"
    assert {h["rule_id"] for h in history} <= {"sw", "near"}
    assert {h["status"] for h in history} <= {"no_target", "suppressed"}  # no delivery target configured
    lines = [ln for ln in run.output.splitlines() if "no_target" in ln or "suppressed" in ln]
    assert len(lines) == len(history)
    again = runner.invoke(main, ["alerts", "run", "--db", db, "--config", str(config), "--once", "--replay",
                                 "--range", "3d"])
    assert again.exit_code == 0, again.output
    replayed = [ln for ln in again.output.splitlines() if ln[:4].isdigit()]
    assert len(replayed) == len(history) and all(" duplicate " in ln for ln in replayed)
    after = json.loads(runner.invoke(main, ["alerts", "history", "--db", db, "--json", "--limit", "500"]).output)
    assert len(after) == len(history)  # a replay stores and delivers nothing twice
    assert runner.invoke(main, ["alerts", "remove", "--db", db, "sw"]).exit_code == 0
    gone = runner.invoke(main, ["alerts", "remove", "--db", db, "sw"])
    assert gone.exit_code != 0 and "no rule with id 'sw'" in gone.output


def test_a_rule_on_a_symbol_without_data_is_refused(db) -> None:
    runner = CliRunner()
    refused = runner.invoke(main, ["alerts", "add", "--db", db, "--type", "price_near", "--within", "1",
                                   "--symbol", "ETH"])
    assert refused.exit_code != 0
    assert "no data for ETH" in refused.output and "symbols with bars: BTC" in refused.output
    assert json.loads(runner.invoke(main, ["alerts", "list", "--db", db, "--json"]).output) == []
    accepted = runner.invoke(main, ["alerts", "add", "--db", db, "--type", "price_near", "--within", "1",
                                    "--symbol", "BTCUSDT"])
    assert accepted.exit_code == 0, accepted.output


def test_run_once_says_one_poll_not_a_polling_interval(db) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["alerts", "add", "--db", db, "--type", "sweep", "--id", "sw"]).exit_code == 0
    once = runner.invoke(main, ["alerts", "run", "--db", db, "--once", "--range", "3d"])
    assert once.exit_code == 0, once.output
    assert "one poll" in once.output and "polling every" not in once.output


def test_levels_csv_and_pine_as_flags_print_to_stdout(db) -> None:
    csv = CliRunner().invoke(main, ["levels", "--db", db, "--csv"])
    assert csv.exit_code == 0, csv.output
    assert csv.output.startswith("symbol,ts,kind,side,")
    pine = CliRunner().invoke(main, ["levels", "--db", db, "--pine"])
    assert pine.exit_code == 0, pine.output
    assert pine.output.startswith("//@version=5\n")
