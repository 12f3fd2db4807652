"""The service config file: validation messages, durations, precedence flags > env > file > defaults."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from liqmap.commands.feed import collect_cmd
from liqmap.commands.serve import serve_cmd
from liqmap.errors import ConfigError
from liqmap.settings import Settings, duration_ms

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "deploy" / "liqmap.toml"
DAY = 86_400_000


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "liqmap.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "ms"), [("90s", 90_000), ("15m", 900_000), ("12h", 43_200_000),
                                          ("7d", 7 * DAY), ("365d", 365 * DAY), ("2w", 14 * DAY),
                                          ("1.5d", 36 * 3_600_000), ("forever", None), (" Forever ", None)])
def test_durations(text: str, ms: int | None) -> None:
    assert duration_ms(text) == ms


@pytest.mark.parametrize("text", ["7", "7 days", "d", "-3d", "0d", "7y", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        duration_ms(text)


def test_example_file_loads_and_gives_retention_per_store_table() -> None:
    from liqmap.store import schema

    settings = Settings.load(EXAMPLE, {})
    retention = settings.retention_ms()
    # every record table with a time axis, keyed by its store name (what `liqmap prune` deletes from)
    timed = {table for rt, table in schema.RECORD_TABLES.items() if "ts_event" in schema.columns(rt)}
    assert set(retention) == timed
    assert retention["trades"] == 7 * DAY
    assert retention["mark_prices"] == 30 * DAY
    assert retention["bars"] is None
    assert settings.store.db is not None and settings.store.db.startswith("postgresql://")
    assert settings.health.exchanges == ["binance", "bybit", "okx", "bitget", "gate", "hyperliquid", "dydx"]


def test_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[serve]\nprot = 8000\n[retention]\ntrades = "7 days"\n')
    with pytest.raises(ConfigError) as info:
        Settings.load(path, {})
    message = str(info.value)
    assert f"{path}: serve.prot: unknown key; accepted: host, port" in message
    assert f"{path}: retention.trades:" in message and "'7 days' is not a duration" in message


def test_unknown_section_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"liqmap.toml: storage: unknown key; accepted: store, collect"):
        Settings.load(write(tmp_path, "[storage]\ndb = 'x'\n"), {})
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(write(tmp_path, "[serve\n"), {})
    with pytest.raises(ConfigError, match="cannot read the config file"):
        Settings.load(tmp_path / "missing.toml", {})


def test_environment_overrides_file_and_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[retention]\ntrades = "7d"\n[serve]\nport = 8100\n')
    settings = Settings.load(path, {"LIQMAP_RETENTION_TRADES": "3d", "LIQMAP_COLLECT_EXCHANGES": "okx, bybit",
                                    "LIQMAP_UNRELATED": "x", "LIQMAP_DB": "ignored-here"})
    assert settings.retention_ms()["trades"] == 3 * DAY
    assert settings.collect.exchanges == ["okx", "bybit"]
    assert settings.serve.port == 8100
    with pytest.raises(ConfigError, match=r"LIQMAP_SERVE_PORT: serve\.port"):
        Settings.load(path, {"LIQMAP_SERVE_PORT": "eighty"})


def params(command: click.Command, args: list[str]) -> dict[str, object]:
    with command.make_context(command.name, args) as ctx:
        return dict(ctx.params)


def test_precedence_flags_env_file_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[store]\ndb = "/file.duckdb"\n[serve]\nport = 8100\nhost = "0.0.0.0"\n'
                           'symbols = ["ETH", "SOL"]\n')
    for name in ("LIQMAP_DB", "LIQMAP_CONFIG", "LIQMAP_TOKEN", "LIQMAP_SERVE_PORT", "LIQMAP_SERVE_HOST"):
        monkeypatch.delenv(name, raising=False)
    # defaults only
    assert params(serve_cmd, [])["port"] == 8000
    # file > defaults (and lists become the option's comma form)
    got = params(serve_cmd, ["--config", str(path)])
    assert (got["port"], got["host"], got["symbols"], got["db_path"]) == (8100, "0.0.0.0", "ETH,SOL", "/file.duckdb")
    assert got["log_level"] == "warning"  # not in the file: the option's own default
    # env > file: the settings scheme and the options' own variables
    monkeypatch.setenv("LIQMAP_SERVE_PORT", "8200")
    monkeypatch.setenv("LIQMAP_DB", "/env.duckdb")
    got = params(serve_cmd, ["--config", str(path)])
    assert (got["port"], got["host"], got["db_path"]) == (8200, "0.0.0.0", "/env.duckdb")
    # flags > env
    got = params(serve_cmd, ["--config", str(path), "--port", "8300", "--db", "/flag.duckdb"])
    assert (got["port"], got["db_path"]) == (8300, "/flag.duckdb")
    # LIQMAP_CONFIG names the file when --config is absent; the option may come after others
    monkeypatch.delenv("LIQMAP_SERVE_PORT")
    monkeypatch.setenv("LIQMAP_CONFIG", str(path))
    assert params(serve_cmd, ["--port", "8400"])["port"] == 8400
    assert params(serve_cmd, [])["port"] == 8100


def test_collect_takes_its_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIQMAP_DB", raising=False)
    monkeypatch.delenv("LIQMAP_CONFIG", raising=False)
    path = write(tmp_path, '[collect]\nexchanges = ["okx"]\nrecord = "/var/rec"\nflush_ms = 80\n'
                           'venue_urls = ["binance=http://127.0.0.1:1,ws://127.0.0.1:1"]\nmetrics_port = 9101\n')
    got = params(collect_cmd, ["--config", str(path), "--exchanges", "bybit"])
    assert got["exchanges"] == "bybit"
    assert (got["record_dir"], got["flush_ms"], got["metrics_port"]) == ("/var/rec", 80, 9101)
    assert got["venue_urls"] == ("binance=http://127.0.0.1:1,ws://127.0.0.1:1",)
    assert got["symbols"] == "BTC,ETH"  # the option's default


def test_bad_config_is_a_usage_error_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[serve]\nport = 'eighty'\n")
    result = CliRunner().invoke(serve_cmd, ["--config", str(path)])
    assert result.exit_code == 2
    assert f"{path}: serve.port: Input should be a valid integer" in result.output
    assert "Traceback" not in result.output


def test_alerts_section_sets_the_server_alert_loop_variables_unless_set() -> None:
    settings = Settings.model_validate({"alerts": {"enabled": True, "rules": "/etc/liqmap/alerts.toml",
                                                   "interval": 15, "range": "1d"}})
    environ = {"LIQMAP_ALERTS_RANGE": "7d"}
    settings.export_alerts_env(environ)
    assert environ == {"LIQMAP_ALERTS": "/etc/liqmap/alerts.toml", "LIQMAP_ALERTS_INTERVAL": "15.0",
                       "LIQMAP_ALERTS_RANGE": "7d"}
    off: dict[str, str] = {}
    Settings().export_alerts_env(off)
    assert off == {}
