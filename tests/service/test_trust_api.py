"""What the API says about its own numbers: a x10 high in real data is reported and does not rewrite the
map; calibrated USD = raw USD x a factor fitted on the realized liquidations before the view; clusters
carry reach probabilities."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import numpy as np
import pytest
from fastapi.testclient import TestClient

from liqmap.service.app import create_app
from liqmap.store import DuckDBStore

DAY = 86_400_000


@pytest.fixture
def pair(sample_db: Path, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, int, float]]:
    """(clean client, client whose store has one perp high x10, that bar's ts, its raw high)."""
    clean_path, bad_path = tmp_path / "clean.duckdb", tmp_path / "bad.duckdb"
    shutil.copy(sample_db, clean_path)
    shutil.copy(sample_db, bad_path)
    with DuckDBStore(clean_path) as clean, DuckDBStore(bad_path) as bad:
        last = bad.latest_ts("bars", symbol="BTC", market="perp")
        assert last is not None
        ts = int(last) - 10 * 3_600_000
        bad.execute("UPDATE bars SET high = high * 10 WHERE market = 'perp' AND ts_event = ?", [ts])
        raw = float(bad.execute("SELECT high FROM bars WHERE market = 'perp' AND ts_event = ?", [ts])[0][0])
        with TestClient(create_app(clean, prewarm_views=False)) as a, TestClient(create_app(bad, prewarm_views=False)) as b:
            yield a, b, ts, raw


def test_a_x10_high_is_reported_and_leaves_the_short_clusters_intact(pair) -> None:
    clean, bad, ts, raw_high = pair
    params = {"symbol": "BTC", "range": "7d", "within": 10}
    want = clean.get("/api/clusters", params=params).json()
    got = bad.get("/api/clusters", params=params).json()
    shorts = [c for c in want["clusters"] if c["side"] == "short"]
    assert shorts, "the sample's last week has short clusters above price"
    # an unclipped high would have swept every one of them
    assert all(raw_high > 2 * c["price_high"] for c in shorts)
    # The same zones with the same USD. (The clipped bar's high is its body, a little below the true
    # high, so the volatility behind reach and the densest bin inside a zone may differ slightly.)
    def zones(body: dict, side: str) -> list[tuple[float, float, float]]:
        return [(c["price_low"], c["price_high"], round(c["usd"], 2)) for c in body["clusters"] if c["side"] == side]

    assert zones(got, "short") == zones(want, "short")
    assert zones(got, "long") == zones(want, "long")
    for a, b in zip(got["clusters"], want["clusters"], strict=True):
        assert a["reach_24h"] == pytest.approx(b["reach_24h"], abs=0.01)
    body = bad.get("/api/heatmap", params={"symbol": "BTC", "range": "7d"}).json()
    assert [(t["ts"], t["field"], t["raw"]) for t in body["bad_ticks"]] == [(ts, "high", raw_high)]
    assert body["bad_ticks"][0]["clipped"] < raw_high / 5
    assert body["price_edges"] == clean.get("/api/heatmap", params={"symbol": "BTC", "range": "7d"}).json()["price_edges"]
    assert clean.get("/api/heatmap", params={"symbol": "BTC", "range": "7d"}).json()["bad_ticks"] == []
    assert bad.get("/api/liqmap", params={"symbol": "BTC", "range": "7d"}).json()["bad_ticks"] == body["bad_ticks"]


def test_calibrated_usd_is_raw_times_the_trailing_median_ratio(client, store) -> None:
    from liqmap.query import HeatmapQuery, heatmap_for

    params = {"symbol": "BTC", "range": "7d", "sides": "true", "format": "sparse", "side": "long"}
    auto = client.get("/api/liqmap", params={"symbol": "BTC"}).json()
    raw = client.get("/api/liqmap", params={"symbol": "BTC", "calibration": "none"}).json()
    cal = auto["calibration"]
    assert cal["source"] == "coinglass" and raw["calibration"]["source"] == "none"
    np.testing.assert_allclose(auto["long"], np.asarray(raw["long"]) * cal["factor_long"], rtol=1e-9)
    np.testing.assert_allclose(auto["short"], np.asarray(raw["short"]) * cal["factor_short"], rtol=1e-9)
    assert client.get("/api/heatmap", params=params).json()["calibration"] == cal
    # independently: per-day model USD from a 30-day heatmap, per-day Coinglass USD from the store
    hm = heatmap_for(store, HeatmapQuery("BTC", range="30d"))
    last_day = int(hm.times[-1]) // DAY * DAY
    predicted: dict[int, list[float]] = {}
    for t, lo, sh in zip(hm.times, hm.swept_long, hm.swept_short, strict=True):
        day = predicted.setdefault(int(t) // DAY * DAY, [0.0, 0.0])
        day[0] += lo
        day[1] += sh
    rows = store.execute("SELECT ts_event, long_usd, short_usd FROM liquidation_bars WHERE exchange = 'aggregate'")
    realized: dict[int, list[float]] = {}
    for t, lo, sh in rows:
        day = realized.setdefault(int(t) // DAY * DAY, [0.0, 0.0])
        day[0] += lo
        day[1] += sh
    window = [last_day - DAY * i for i in range(1, 8)]
    for side, key in ((0, "factor_long"), (1, "factor_short")):
        ratios = [realized[d][side] / predicted[d][side] for d in window
                  if predicted.get(d, [0, 0])[side] > 0 and realized.get(d, [0, 0])[side] > 0]
        assert cal[key] == pytest.approx(median(ratios), rel=1e-6)
    assert cal["fitted_on"] == [window[-1], last_day]


def test_clusters_carry_reach_probabilities_that_fall_with_distance(client) -> None:
    body = client.get("/api/clusters", params={"symbol": "BTC", "range": "7d"}).json()
    assert body["sigma_per_sqrt_hour"] > 0
    for side in ("long", "short"):
        cs = sorted((c for c in body["clusters"] if c["side"] == side), key=lambda c: abs(c["distance_pct"]))
        p24 = [c["reach_24h"] for c in cs]
        assert all(0 <= p <= 1 for p in p24) and p24 == sorted(p24, reverse=True)
        assert all(c["reach_4h"] <= c["reach_24h"] for c in cs)
    levels = client.get("/api/levels", params={"symbol": "BTC"}).json()
    assert levels["calibration"]["source"] == "coinglass"
    assert all(c["reach_24h"] is not None for c in levels["clusters"])
