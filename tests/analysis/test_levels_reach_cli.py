"""``liqmap levels --json`` carries calibrated USD and each cluster's reach probability."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from liqmap.analysis.reach import touch_probability
from liqmap.cli import main
from liqmap.store import DuckDBStore


@pytest.fixture
def db(tmp_path):
    from liqmap.data.sample import SAMPLE_DIR
    from liqmap.ingest.registry import import_file

    path = tmp_path / "sample.duckdb"
    with DuckDBStore(path) as store:
        for name in ("BTCUSDT-1h-futures.csv.gz", "BTC_regime_1h.csv.gz"):
            import_file(store, SAMPLE_DIR / name, ts_recv=0)
    return str(path)


def test_levels_json_has_calibration_and_reach(db) -> None:
    result = CliRunner().invoke(main, ["levels", "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["calibration"]["source"] == "coinglass" and plan["calibration"]["days"] == 7
    sigma = plan["sigma_per_sqrt_hour"]
    assert 0 < sigma < 0.05
    assert plan["clusters"]
    for c in plan["clusters"]:
        edge = c["price_low"] if c["side"] == "short" else c["price_high"]
        assert c["reach_24h"] == pytest.approx(float(touch_probability(plan["price"], edge, sigma, 24.0)))
        assert c["reach_4h"] <= c["reach_24h"]
    text = CliRunner().invoke(main, ["levels", "--db", db]).output
    assert "P24h" in text and "USD calibrated (coinglass" in text
