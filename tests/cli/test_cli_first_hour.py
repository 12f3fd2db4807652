"""CLI fixes of the first hour: windows outside the data explained, picture sizes capped like the API,
archive --file without --start, evaluate writes HTML only when asked, demo accepts every range, Ctrl-C on
the server exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from liqmap.cli import main
from liqmap.query import RANGES
from liqmap.store import DuckDBStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from liqmap.data.sample import SAMPLE_DIR
    from liqmap.ingest import import_file

    path = tmp_path_factory.mktemp("db") / "sample.duckdb"
    with DuckDBStore(path) as store:
        for name in ("BTCUSDT-1h-futures.csv.gz", "BTC_regime_1h.csv.gz"):
            import_file(store, SAMPLE_DIR / name)
    return str(path)


def test_end_after_the_data_says_where_the_data_is(db: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["heatmap", "--db", db, "--end", "3000-01-01", "--png", str(tmp_path / "x.png")])
    assert result.exit_code != 0
    assert "--end 3000-01-01 00:00 UTC: no BTC bars in the 7d window before it" in result.output
    assert "the store holds 2026-01-01 00:00 UTC .. 2026-05-24 23:00 UTC" in result.output
    assert "Omit --end for the latest data" in result.output
    assert not (tmp_path / "x.png").exists()


def test_picture_sizes_are_capped_like_the_api_with_a_way_beyond(db: str, tmp_path: Path) -> None:
    from liqmap.service.params import MAX_COLUMNS, MAX_ROWS

    png = tmp_path / "big.png"
    result = CliRunner().invoke(main, ["heatmap", "--db", db, "--range", "3d", "--bins", "5000", "--columns",
                                       "20000", "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert f"--bins 5000 capped to {MAX_ROWS}" in result.output and "--no-cap" in result.output
    assert f"--columns 20000 capped to {MAX_COLUMNS}" in result.output
    # 3 days of 1h bars = 72 columns; the bins are the capped number
    assert f"72 columns x {MAX_ROWS} bins" in result.output
    lifted = CliRunner().invoke(main, ["heatmap", "--db", db, "--range", "12h", "--bins", "2100", "--no-cap",
                                       "--png", str(png)])
    assert lifted.exit_code == 0, lifted.output
    assert "capped to" not in lifted.output and "12 columns x 2100 bins" in lifted.output


def test_archive_file_needs_no_start(tmp_path: Path) -> None:
    csv = FIXTURES / "binance" / "vision" / "AVAXUSDT-1m-2026-06-head180.csv"
    archive = tmp_path / "AVAXUSDT-1m-2026-06-01.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(csv, "AVAXUSDT-1m-2026-06-01.csv")
    db = tmp_path / "a.duckdb"
    result = CliRunner().invoke(main, ["archive", "--db", str(db), "--symbol", "AVAX", "--file", str(archive)])
    assert result.exit_code == 0, result.output
    assert f"{archive}: 180 rows, 180 new" in result.output
    neither = CliRunner().invoke(main, ["archive", "--db", str(db), "--symbol", "AVAX"])
    assert neither.exit_code != 0 and "give --start" in neither.output


def test_evaluate_writes_html_only_when_asked(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plain = CliRunner().invoke(main, ["evaluate", "--db", db])
    assert plain.exit_code == 0, plain.output
    assert list(tmp_path.iterdir()) == [] and "HTML report" not in plain.output
    asked = CliRunner().invoke(main, ["evaluate", "--db", db, "--html", "report.html"])
    assert asked.exit_code == 0, asked.output
    assert (tmp_path / "report.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_demo_accepts_every_range_up_to_a_year() -> None:
    from liqmap.commands.demo import demo_cmd

    option = next(p for p in demo_cmd.params if p.name == "range_")
    assert list(option.type.choices) == list(RANGES)  # 12h ... 1y
    assert "1y" in option.type.choices


def test_ctrl_c_stops_the_server_cleanly(db: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "liqmap", "serve", "--db", db, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/meta", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Aborted!" not in out and "Traceback" not in out, out
    assert "liqmap stopped." in out
    assert proc.returncode == 0, out


def test_picture_options_are_the_view_declaration() -> None:
    from liqmap.commands.render import heatmap_cmd, liqmap_cmd
    from liqmap.viewspec import VIEW

    for command in (heatmap_cmd, liqmap_cmd):
        options = {p.name: p for p in command.params}
        assert list(options["range_"].type.choices) == ["12h", "24h", "3d", "7d", "30d", "90d", "180d", "1y"]
        assert list(options["side"].type.choices) == ["both", "long", "short", "net"]
        assert (options["range_"].default, options["side"].default) == ("7d", "both")
    heatmap_options = {p.name: p.default for p in heatmap_cmd.params}
    assert (heatmap_options["bins"], heatmap_options["columns"]) == (VIEW.rows.default, VIEW.columns.default) == (
        500, 1000)


def test_every_range_option_offers_the_declared_ranges() -> None:
    from liqmap.commands.alerts import run_cmd
    from liqmap.commands.demo import demo_cmd
    from liqmap.commands.export import export_cmd
    from liqmap.commands.levels import levels_cmd

    for command, default in ((levels_cmd, "7d"), (export_cmd, "7d"), (run_cmd, "3d"), (demo_cmd, "7d")):
        option = next(p for p in command.params if p.name == "range_")
        assert list(option.type.choices) == ["12h", "24h", "3d", "7d", "30d", "90d", "180d", "1y"], command.name
        assert option.default == default
