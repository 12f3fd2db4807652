"""The PNG renders (`liqmap heatmap --png`, `liqmap liqmap --png`) carry the API's dollars: the same
calibration (named in the picture's text chunks) and the same calibrated USD per cell as GET /api/heatmap
and GET /api/liqmap for the same view; `--calibration none` gives the API's raw `calibration=none` values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from liqmap.cli import main
from liqmap.commands.render import render_heatmap_png
from liqmap.query import HeatmapQuery
from liqmap.service.encode import decode_array


def _png_text(path: Path) -> dict[str, str]:
    from PIL import Image

    with Image.open(path) as image:
        return dict(image.text)


def _assert_same_calibration(got: dict, want: dict) -> None:
    """Equal calibrations: the server continues views from warm books, so its factors equal a fresh
    computation's up to float rounding (~1e-15 relative)."""
    assert {**got, "factor_long": 0, "factor_short": 0} == {**want, "factor_long": 0, "factor_short": 0}
    assert got["factor_long"] == pytest.approx(want["factor_long"], rel=1e-9)
    assert got["factor_short"] == pytest.approx(want["factor_short"], rel=1e-9)


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_heatmap_png_draws_the_apis_calibrated_grids(client, store, tmp_path: Path, assert_same_usd, mode: str) -> None:
    params = {"symbol": "BTC", "range": "3d", "rows": 150, "columns": 72, "sides": "true", "calibration": mode}
    body = client.get("/api/heatmap", params=params).json()
    query = HeatmapQuery("BTC", range="3d", n_bins=150, max_columns=72)
    path, drawn, cal = render_heatmap_png(store, query, tmp_path / "hm.png", mode)

    _assert_same_calibration(cal.to_dict(), body["calibration"])
    assert_same_usd(decode_array(body["long"]), drawn.long, f32=True)
    assert_same_usd(decode_array(body["short"]), drawn.short, f32=True)
    np.testing.assert_array_equal(body["price_edges"], drawn.price_edges)
    text = _png_text(path)
    _assert_same_calibration(json.loads(text["Calibration"]), body["calibration"])
    if mode == "none":
        assert body["calibration"]["source"] == "none" and text["Description"] == "raw model USD (not calibrated)"
        return
    # the sample's store holds Coinglass bars: a fitted factor far from 1 (the model's raw USD is ~20x)
    assert body["calibration"]["source"] == "coinglass"
    assert text["Description"].startswith("USD calibrated to Coinglass realized liquidations")
    f_long, f_short = body["calibration"]["factor_long"], body["calibration"]["factor_short"]
    assert 0.005 < f_long < 0.3 and 0.005 < f_short < 0.3
    raw = client.get("/api/heatmap", params={**params, "calibration": "none"}).json()
    assert_same_usd(decode_array(raw["long"]) * f_long, drawn.long, f32=True)
    assert_same_usd(decode_array(raw["short"]) * f_short, drawn.short, f32=True)


def test_liqmap_cli_png_and_json_equal_the_api(client, sample_db: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIQMAP_DB", raising=False)
    db = tmp_path / "cli.duckdb"  # the same data as the client's store, in its own file
    shutil.copy(sample_db, db)
    for mode in ("auto", "none"):
        png = tmp_path / f"map-{mode}.png"
        result = CliRunner().invoke(main, ["liqmap", "--range", "7d", "--bins", "120", "--png", str(png),
                                           "--db", str(db), "--json", "--calibration", mode])
        assert result.exit_code == 0, result.output
        got = json.loads(result.output)
        want = client.get("/api/liqmap", params={"symbol": "BTC", "range": "7d", "rows": 120,
                                                 "calibration": mode}).json()
        _assert_same_calibration(got["calibration"], want["calibration"])
        _assert_same_calibration(json.loads(_png_text(png)["Calibration"]), want["calibration"])
        assert got["ts"] == want["ts"] and got["price"] == pytest.approx(want["price"])
        for key in ("long", "short", "cum_long", "cum_short"):
            np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=1e-6)
    assert want["calibration"]["source"] == "none"
    auto = json.loads(_png_text(tmp_path / "map-auto.png")["Calibration"])
    assert auto["source"] == "coinglass" and auto["factor_long"] < 0.3 and auto["factor_short"] < 0.3


def test_an_unknown_calibration_is_refused(sample_db: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["heatmap", "--png", str(tmp_path / "x.png"), "--db", str(sample_db),
                                       "--calibration", "raw"])
    assert result.exit_code != 0 and "'auto', 'none'" in result.output
