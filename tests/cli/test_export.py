"""``liqmap export`` to CSV and Parquet, files read back and compared with the store (SQL) and the model;
``--json`` on the read commands (inventory, heatmap, liqmap) parsed and compared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from liqmap.cli import main
from liqmap.query import HeatmapQuery, heatmap_for
from liqmap.store import DuckDBStore


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from liqmap.data.sample import sample_files
    from liqmap.ingest import import_file

    path = tmp_path_factory.mktemp("export") / "sample.duckdb"
    with DuckDBStore(path) as store:
        for file in sample_files():
            import_file(store, file)
    return str(path)


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("LIQMAP_DB", raising=False)
    return CliRunner()


def _read(path: Path, fmt: str) -> dict[str, list]:
    table = pq.read_table(path) if fmt == "parquet" else pacsv.read_csv(path)
    return table.to_pydict()


def _sql(db: str, sql: str) -> list[tuple]:
    with DuckDBStore(db, read_only=True) as store:
        return store.execute(sql)


SERIES = [
    ("candles", "bars", ["ts_event", "open", "high", "low", "close", "volume", "market"]),
    ("oi", "open_interest", ["ts_event", "oi_base", "oi_usd"]),
    ("funding", "funding", ["ts_event", "rate"]),
    ("prints", "liquidations", ["ts_event", "side", "price", "quantity", "usd"]),
]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("kind,table,fields", SERIES)
def test_series_read_back_equal_the_store(runner, db, tmp_path, kind, table, fields, fmt):
    out = tmp_path / f"{kind}.{fmt}"
    symbol = "ETH" if kind == "prints" else "BTC"
    start, end = "2024-08-17", "2026-03-01"
    result = runner.invoke(main, ["export", kind, "--symbol", symbol, "--format", fmt, "--out", str(out),
                                  "--db", db, "--start", start, "--end", end])
    assert result.exit_code == 0, result.output
    got = _read(out, fmt)
    rows = _sql(db, f"SELECT {', '.join(fields)} FROM {table} WHERE symbol = '{symbol}' AND ts_event >= "
                    f"epoch_ms(TIMESTAMP '{start}') AND ts_event < epoch_ms(TIMESTAMP '{end}')")
    assert rows, "the sample holds this series in the window"
    assert f"({len(rows)} rows" in result.output
    expected = {name: [row[i] for row in rows] for i, name in enumerate(fields)}
    # both sides in one order (by every compared field): the file's row order is the store's own business
    order = np.lexsort([np.asarray(got[f], dtype=object).astype(str) for f in reversed(fields)])
    order_expected = np.lexsort([np.asarray(expected[f], dtype=object).astype(str) for f in reversed(fields)])
    for name in fields:
        a = [got[name][i] for i in order]
        b = [expected[name][i] for i in order_expected]
        if all(v is None or isinstance(v, float) for v in b):  # missing (NULL) values travel as NaN
            np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray([np.nan if v is None else v for v in b]),
                                       rtol=1e-15)
        else:
            assert a == b, name


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_heatmap_grid_reads_back_as_the_grid(runner, db, tmp_path, fmt):
    out = tmp_path / f"grid.{fmt}"
    result = runner.invoke(main, ["export", "heatmap", "--range", "24h", "--format", fmt, "--out", str(out),
                                  "--db", db])
    assert result.exit_code == 0, result.output
    got = _read(out, fmt)
    with DuckDBStore(db, read_only=True) as store:
        heatmap = heatmap_for(store, HeatmapQuery("BTC", range="24h"))
    k, b = heatmap.long.shape
    np.testing.assert_allclose(np.reshape(got["long_usd"], (k, b)), heatmap.long, rtol=1e-12)
    np.testing.assert_allclose(np.reshape(got["short_usd"], (k, b)), heatmap.short, rtol=1e-12)
    assert np.reshape(got["ts"], (k, b))[:, 0].tolist() == heatmap.times.tolist()
    np.testing.assert_allclose(np.reshape(got["price_low"], (k, b))[0], heatmap.price_edges[:-1])
    np.testing.assert_allclose(np.reshape(got["price_high"], (k, b))[-1], heatmap.price_edges[1:])


def test_levels_read_back_as_the_plan(runner, db, tmp_path):
    from liqmap.analysis.export import level_rows
    from liqmap.analysis.levels import plan_for_heatmap

    out = tmp_path / "levels.parquet"
    result = runner.invoke(main, ["export", "levels", "--range", "3d", "--format", "parquet", "--out", str(out),
                                  "--db", db])
    assert result.exit_code == 0, result.output
    got = _read(out, "parquet")
    with DuckDBStore(db, read_only=True) as store:
        rows = level_rows(plan_for_heatmap(heatmap_for(store, HeatmapQuery("BTC", range="3d"))))
    assert rows
    assert [dict(zip(got, values, strict=True)) for values in zip(*got.values(), strict=True)] == rows


def test_refuses_an_unknown_kind_and_format(runner, db, tmp_path):
    bad = runner.invoke(main, ["export", "trades", "--out", str(tmp_path / "x"), "--db", db])
    assert bad.exit_code == 2 and "candles" in bad.output
    bad = runner.invoke(main, ["export", "candles", "--format", "xlsx", "--out", str(tmp_path / "x"), "--db", db])
    assert bad.exit_code == 2 and "parquet" in bad.output


def test_json_on_read_commands(runner, db, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    inventory = json.loads(runner.invoke(main, ["inventory", "--json", "--db", str(copy)]).output)
    counts = {(s["table"], s["exchange"], s["symbol"]): s["rows"] for s in inventory["series"]}
    assert counts[("liquidations", "binance", "ETH")] == _sql(db, "SELECT count(*) FROM liquidations WHERE "
                                                                  "symbol = 'ETH'")[0][0]
    with DuckDBStore(db, read_only=True) as store:
        heatmap = heatmap_for(store, HeatmapQuery("BTC", range="24h", n_bins=200, max_columns=50))
    # raw model USD (--calibration none): the calibrated default is tested against the API in
    # tests/service/test_png_calibration.py
    result = runner.invoke(main, ["liqmap", "--range", "24h", "--png", str(tmp_path / "l.png"), "--json", "--db", db,
                                  "--calibration", "none"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    snap = heatmap.column(-1)
    assert Path(body["png"]).is_file() and body["price"] == snap.price
    np.testing.assert_allclose(body["long"], snap.long, rtol=1e-12)
    np.testing.assert_allclose(body["cum_short"], snap.cum_short, rtol=1e-12)
    result = runner.invoke(main, ["heatmap", "--range", "24h", "--png", str(tmp_path / "h.png"), "--json",
                                  "--bins", "100", "--columns", "30", "--db", db, "--calibration", "none"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    with DuckDBStore(db, read_only=True) as store:
        grid = heatmap_for(store, HeatmapQuery("BTC", range="24h", n_bins=100, max_columns=30))
    rebuilt = np.zeros_like(grid.long)
    for k, b, usd in body["cells"]:
        rebuilt[int(k), int(b)] = usd
    np.testing.assert_allclose(rebuilt, grid.long + grid.short, rtol=1e-12)
