"""With `liqmap serve` holding the embedded store file, the read commands still work and print the same
answers as with the server stopped; a command that must write says in one line what holds the file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from liqmap.cli import main
from liqmap.store.announce import announce_path

EVAL = Path(__file__).parents[1] / "fixtures" / "evaluate"

READ_COMMANDS = [
    ["inventory"],
    ["levels", "--symbol", "BTC", "--json"],
    ["heatmap", "--symbol", "BTC", "--range", "3d", "--png", "{tmp}/h.png"],
    ["liqmap", "--symbol", "BTC", "--png", "{tmp}/m.png"],
    ["evaluate", "--json"],
    ["alerts", "list", "--json"],
    ["alerts", "history"],
]


def _run(args: list[str], db: Path, tmp: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [a.format(tmp=tmp) for a in args] + ["--db", str(db)])
    return result.exit_code, result.output


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "held.duckdb"
    files = [EVAL / "BTCUSDT-1h-futures.csv.gz", EVAL / "BTC_regime_1h.csv.gz", EVAL / "BTC_liquidation_1h.csv.gz"]
    result = CliRunner().invoke(main, ["import", "--db", str(path), *map(str, files)])
    assert result.exit_code == 0, result.output
    rule = ["alerts", "add", "--db", str(path), "--type", "cluster_usd", "--symbol", "BTC", "--usd", "5e7"]
    assert CliRunner().invoke(main, rule).exit_code == 0
    return path


def test_read_commands_answer_the_same_through_a_running_server(db: Path, tmp_path: Path) -> None:
    alone = [_run(args, db, tmp_path) for args in READ_COMMANDS]
    assert all(code == 0 for code, _ in alone), alone
    server = subprocess.Popen([sys.executable, "-m", "liqmap", "serve", "--db", str(db), "--port", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "CI": ""})
    try:
        deadline = time.monotonic() + 60
        while not announce_path(db).exists():
            assert server.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        held = [_run(args, db, tmp_path) for args in READ_COMMANDS]
        for args, before, after in zip(READ_COMMANDS, alone, held, strict=True):
            assert after == before, args
        code, output = _run(["import", str(EVAL / "BTC_liquidation_30m.csv.gz")], db, tmp_path)
        assert code == 1 and "held by liqmap serve" in output and "Traceback" not in output
        assert len(output.strip().splitlines()) <= 2  # the file's line and the one-line error
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()
    assert not announce_path(db).exists()  # the server removed its announcement on the way out
    assert _run(["inventory"], db, tmp_path) == alone[0]
