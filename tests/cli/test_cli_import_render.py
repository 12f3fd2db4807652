"""End to end through the CLI: import -> inventory -> heatmap / liqmap PNGs; demo on the shipped sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from liqmap.cli import main
from liqmap.store import DuckDBStore

FILES = Path(__file__).resolve().parents[1] / "fixtures" / "files"
MARKET = [
    "BTCUSDT-1h-futures.csv.gz",
    "BTCUSDT-funding.csv.gz",
    "BTC_regime_1h.csv.gz",
    "BTC_liquidation_1h.csv.gz",
]


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("LIQMAP_DB", raising=False)
    return CliRunner()


def _image(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(path)[..., :3]


def test_import_twice_then_render(runner: CliRunner, tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    files = [str(FILES / n) for n in MARKET]
    first = runner.invoke(main, ["import", *files, "--db", db])
    assert first.exit_code == 0, first.output
    assert "binance-klines-camel, 72 rows read, 72 new rows stored" in first.output
    assert "coinglass-regime, 82 rows read" in first.output
    again = runner.invoke(main, ["import", *files, "--db", db])
    assert again.exit_code == 0
    assert again.output.count(" 0 new rows stored") == len(files)

    inventory = runner.invoke(main, ["inventory", "--db", db])
    assert (
        "bars" in inventory.output and "spot" in inventory.output and "2025-12-04 06:00" in inventory.output
    )

    png = tmp_path / "hm.png"
    result = runner.invoke(
        main,
        [
            "heatmap",
            "--symbol",
            "BTCUSDT",
            "--range",
            "24h",
            "--end",
            "2025-12-07T06:00",
            "--png",
            str(png),
            "--db",
            db,
            "--bins",
            "150",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "24 columns x 150 bins" in result.output
    image = _image(png)
    assert image.shape[0] > 500 and image.shape[1] > 1000 and image.std() > 0.05

    liq = tmp_path / "map.png"
    result = runner.invoke(
        main,
        [
            "liqmap",
            "--symbol",
            "BTC",
            "--range",
            "24h",
            "--end",
            "2025-12-07T06:00",
            "--png",
            str(liq),
            "--db",
            db,
        ],
    )
    assert result.exit_code == 0, result.output
    assert _image(liq).std() > 0.05


def test_bad_file_reports_line_and_keeps_store(runner: CliRunner, tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    assert runner.invoke(main, ["import", str(FILES / MARKET[0]), "--db", db]).exit_code == 0
    bad = tmp_path / "BTCUSDT-1h-bad.csv"
    bad.write_text(
        "openTime,open,high,low,close,volume,closeTime,quoteVolume,trades,takerBuyBase,takerBuyQuote,ignore\n"
        "1764828000000,92932.40,93333.00,92800.10,93103.10,5104.689,1764831599999,1,2,3,4,0\n"
        "1764831600000,93103.00,oops,92852.40,93358.60,3283.133,1764835199999,1,2,3,4,0\n"
    )
    result = runner.invoke(main, ["import", str(bad), str(FILES / "BTCUSDT-funding.csv.gz"), "--db", db])
    assert result.exit_code == 1
    assert f"{bad}, line 3: high: 'oops' is not a number" in result.output
    assert (
        "binance-funding, 12 rows read, 12 new rows stored" in result.output
    )  # the other file still imports
    inventory = runner.invoke(main, ["inventory", "--db", db])
    bars_line = next(line for line in inventory.output.splitlines() if line.startswith("bars"))
    assert bars_line.split()[-1] == "72"


def test_invalid_view_parameter(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        main,
        [
            "heatmap",
            "--png",
            str(tmp_path / "x.png"),
            "--db",
            str(tmp_path / "e.duckdb"),
            "--leverage",
            "33.5",
        ],
    )
    assert result.exit_code == 1 and "leverage" in result.output
    result = runner.invoke(
        main, ["heatmap", "--png", str(tmp_path / "x.png"), "--db", str(tmp_path / "e.duckdb")]
    )
    # A read command does not create a database: it says there is none, in one line.
    assert result.exit_code == 1 and "no database at" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "e.duckdb").exists()
    DuckDBStore(tmp_path / "e.duckdb").open().close()
    result = runner.invoke(
        main, ["heatmap", "--png", str(tmp_path / "x.png"), "--db", str(tmp_path / "e.duckdb")]
    )
    assert result.exit_code == 1 and "no bars stored for BTC" in result.output


def test_demo_offline_and_idempotent(runner: CliRunner, tmp_path: Path) -> None:
    db, png = tmp_path / "demo.duckdb", tmp_path / "demo.png"
    first = runner.invoke(main, ["demo", "--db", str(db), "--png", str(png), "--no-serve"])
    assert first.exit_code == 0, first.output
    assert f"heatmap: {png}" in first.output
    image = _image(png)
    assert image.shape[:2] == (880, 1540) and image.std() > 0.05
    second = runner.invoke(main, ["demo", "--db", str(db), "--png", str(png), "--no-serve"])
    assert second.exit_code == 0
    assert second.output.count(", 0 new") == 5
