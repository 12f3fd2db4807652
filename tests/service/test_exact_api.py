"""The exact layer's API on a store holding recorded Hyperliquid states (tests/fixtures/hyperliquid)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from liqmap.store import DuckDBStore
from liqmap.types import OpenInterest
from liqmap.venues import hyperliquid as hl

FIX = Path(__file__).parents[1] / "fixtures" / "hyperliquid" / "rest"
T = 1_781_416_944_000


def state(name: str) -> object:
    return json.loads((FIX / name).read_text())


@pytest.fixture
def exact_client() -> Iterator[object]:
    from fastapi.testclient import TestClient

    from liqmap.service.app import create_app

    with DuckDBStore(":memory:") as store:
        # account A: BTC long 0.5 (liq 38500, mark 43250) at T - 2 h; account B: the same state at T, as a
        # short (a recorded long mirrored: liq at 48000); account C: a stale snapshot (T - 8 h, beyond 6 h)
        a = hl.parse_clearinghouse_state(state("clearinghouse_state_position.json"), "0xa", T - 7_200_000)
        body = state("clearinghouse_state_position.json")
        pos = body["assetPositions"][0]["position"]  # type: ignore[index]
        pos["szi"], pos["liquidationPx"], pos["positionValue"] = "-1.0", "48000.0", "43250.0"
        b = hl.parse_clearinghouse_state(body, "0xb", T)
        c = hl.parse_clearinghouse_state(state("clearinghouse_state_position.json"), "0xc", T - 8 * 3_600_000)
        store.write([*a, *b, *c, OpenInterest("hyperliquid", "BTC", T - 60_000, T, 7.5, 7.5 * 43250.0, "BTC")])
        with TestClient(create_app(store, prewarm_views=False)) as client:
            yield client


def test_exact_liqmap_bins_the_tracked_levels_and_reports_coverage(exact_client) -> None:  # type: ignore[no-untyped-def]
    r = exact_client.get("/api/exact/liqmap", params={"symbol": "BTC", "low": 30000, "high": 50000, "n_bins": 20})
    assert r.status_code == 200
    doc = r.json()
    edges = doc["price_edges"]
    assert edges[0] == 30000 and edges[-1] == 50000 and len(edges) == 21  # 1,000 wide bins
    long = {i: v for i, v in enumerate(doc["long_usd"]) if v}
    short = {i: v for i, v in enumerate(doc["short_usd"]) if v}
    assert long == {8: pytest.approx(0.5 * 43250.0)}    # 38500 in [38000, 39000)
    assert short == {18: pytest.approx(1.0 * 43250.0)}  # 48000 in [48000, 49000)
    assert doc["price"] == pytest.approx(43250.0) and doc["at"] == T
    cov = doc["coverage"]
    # accounts a and b (c is older than 6 h); (0.5 + 1.0) / 2 / 7.5 of the OI
    assert (cov["accounts"], cov["positions"], cov["oldest_age_ms"]) == (2, 2, 7_200_000)
    assert cov["oi_share"] == {"BTC": pytest.approx(0.1)}


def test_exact_heatmap_columns_follow_the_snapshots(exact_client) -> None:  # type: ignore[no-untyped-def]
    r = exact_client.get("/api/exact/heatmap", params={"symbol": "BTC", "range": "12h", "columns": 3, "n_bins": 10})
    assert r.status_code == 200
    doc = r.json()
    assert doc["ts"] == [T - 43_200_000, T - 21_600_000, T]
    totals = [sum(lo) + sum(sh) for lo, sh in zip(doc["long_usd"], doc["short_usd"], strict=True)]
    # T-12h: none yet; T-6h: c (snapshot T-8h, 2 h old) only; T: a and b (c is then 8 h old)
    assert totals == [0.0, pytest.approx(0.5 * 43250.0), pytest.approx(1.5 * 43250.0)]


def test_exact_coverage_prior_and_errors(exact_client) -> None:  # type: ignore[no-untyped-def]
    cov = exact_client.get("/api/exact/coverage").json()
    assert (cov["accounts"], cov["at"]) == (2, T)
    prior = exact_client.get("/api/exact/prior").json()
    assert prior["name"] == "hyperliquid" and abs(sum(prior["weights"]) - 1) < 1e-3
    fitted = exact_client.get("/api/exact/prior", params={"source": "store"}).json()
    assert fitted["leverage"] == [2.0, 3.0, 5.0, 10.0, 20.0, 40.0]
    # both open positions have leverage 2.5: above sqrt(2 * 3) = 2.449, so the 3x tier in log distance
    assert fitted["weights"][1] == pytest.approx(1.0)
    assert exact_client.get("/api/exact/liqmap", params={"symbol": "ETH"}).status_code == 404
    bad = exact_client.get("/api/exact/liqmap", params={"low": 5, "high": 4})
    assert bad.status_code == 400 and bad.json()["parameter"] == "high"
    assert exact_client.get("/api/exact/heatmap", params={"range": "2h"}).status_code == 400
