"""deploy/: every liqmap command line of the compose file and the systemd units is accepted by the real
click commands, with the shipped config file in place, so the deployment cannot drift from the CLI."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import click
import pytest
import yaml

from liqmap.cli import main
from liqmap.settings import Settings
from liqmap.venues.registry import get_spec

DEPLOY = Path(__file__).parents[2] / "deploy"
CONFIG = "/etc/liqmap/liqmap.toml"
VENUES = ["binance", "bybit", "okx", "bitget", "gate", "hyperliquid", "dydx"]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def accept(argv: list[str]) -> tuple[str, dict[str, object]]:
    """Parse a ``liqmap ...`` command line with the real command, the config path pointing at the shipped
    example file. Returns (command, parameters)."""
    assert Path(argv[0]).name == "liqmap", argv
    assert CONFIG in argv, f"{argv}: every service command reads the config file"
    args = [str(DEPLOY / "liqmap.toml") if a == CONFIG else a for a in argv[2:]]
    with main.make_context("liqmap", [argv[1]]) as group_ctx:
        command = main.get_command(group_ctx, argv[1])
        assert command is not None, f"unknown command {argv[1]}"
        with command.make_context(argv[1], args, parent=group_ctx) as ctx:
            return argv[1], dict(ctx.params)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIQMAP_DB", "LIQMAP_CONFIG", "LIQMAP_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_compose_runs_postgres_one_collector_per_venue_and_two_servers() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    commands = {name: s["command"] for name, s in services.items() if "command" in s}
    collected = []
    servers = []
    for name, argv in commands.items():
        command, params = accept(argv)
        if command == "collect":
            collected.append(params["exchanges"])
            get_spec(str(params["exchanges"]))
        elif command == "serve":
            servers.append(name)
            assert (params["host"], params["port"]) == ("0.0.0.0", 8000)
        else:
            assert command == "prune"
    assert sorted(collected) == sorted(VENUES)
    assert len(servers) == 2
    # every liqmap service reaches the PostgreSQL service by the store URL of its environment
    for name in commands:
        env = services[name]["environment"]
        assert env["LIQMAP_DB"].startswith("postgresql://") and "@postgres:5432/" in env["LIQMAP_DB"]
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "./liqmap.toml:/etc/liqmap/liqmap.toml:ro" in services[name]["volumes"]


def test_compose_environment_is_valid_settings() -> None:
    services = compose()["services"]
    env = {k: str(v) for k, v in services["collect-okx"]["environment"].items()}
    settings = Settings.load(DEPLOY / "liqmap.toml", env)
    assert (settings.collect.metrics_host, settings.collect.metrics_port) == ("0.0.0.0", 9101)


@pytest.mark.parametrize("venue", VENUES)
def test_collector_unit_accepts_every_venue(venue: str) -> None:
    service = unit("liqmap-collect@.service")["Service"]
    argv = shlex.split(service["ExecStart"].replace("%i", venue))
    command, params = accept(argv)
    assert (command, params["exchanges"]) == ("collect", venue)
    assert get_spec(venue).name == venue
    # the unit and the compose file run the same command line
    assert argv[1:] == compose()["services"][f"collect-{venue}"]["command"][1:]


def test_server_and_prune_units() -> None:
    serve = shlex.split(unit("liqmap-serve@.service")["Service"]["ExecStart"].replace("%i", "8001"))
    command, params = accept(serve)
    assert (command, params["host"], params["port"]) == ("serve", "0.0.0.0", 8001)
    prune = unit("liqmap-prune.service")
    assert prune["Service"]["Type"] == "oneshot"
    command, params = accept(shlex.split(prune["Service"]["ExecStart"]))
    assert (command, params["dry_run"], params["tables"]) == ("prune", False, ())
    timer = unit("liqmap-prune.timer")
    assert timer["Timer"]["Unit"] == "liqmap-prune.service"
    assert timer["Timer"]["OnCalendar"] == "daily"


def test_a_bad_flag_would_be_caught() -> None:
    with pytest.raises(click.UsageError):
        accept(["liqmap", "serve", "--config", CONFIG, "--prot", "8000"])
