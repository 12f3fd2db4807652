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


def test_a_reach_rule_is_added_stored_and_evaluated(db) -> None:
    from liqmap.alerts.storage import AlertStore
    from liqmap.analysis.evaluate_rules import StreamState, evaluate, make_update
    from liqmap.query import HeatmapQuery, heatmap_for

    result = CliRunner().invoke(main, ["alerts", "add", "--db", db, "--type", "reach", "--id", "p24",
                                       "--probability", "0.5", "--sides", "short"])
    assert result.exit_code == 0, result.output
    with DuckDBStore(db) as store:
        (rule,) = AlertStore(store).rules()
        assert (rule.type, rule.probability, rule.horizon_hours) == ("reach", 0.5, 24.0)
        hm = heatmap_for(store, HeatmapQuery("BTC", range="7d"))
    snap0, snap1 = hm.column(-2), hm.column(-1)
    # baseline with no volatility (no probabilities), then the latest column with sigma 0.0034 / sqrt h
    _, state = evaluate([rule], StreamState(), make_update(snap0, exchanges=hm.exchanges, high=0, low=0))
    update = make_update(snap1, exchanges=hm.exchanges, high=float(hm.candles["high"][-1]),
                         low=float(hm.candles["low"][-1]), sigma=0.0034)
    alerts, _ = evaluate([rule], state, update)
    expected = sorted(c.peak_price for c in update.clusters
                      if c.side == "short" and c.reach_24h is not None and c.reach_24h >= 0.5)
    assert expected, "the nearest short cluster (+0.7 %) has P(touch 24 h) above one half"
    assert sorted(a.level_price for a in alerts) == expected
    assert all(a.kind == "reach" and a.context["probability"] >= 0.5 for a in alerts)
    bad = CliRunner().invoke(main, ["alerts", "add", "--db", db, "--type", "reach", "--probability", "1.5"])
    assert bad.exit_code != 0 and "probability" in bad.output
