"""The analysis and alerts routes, served for real by uvicorn on 127.0.0.1, on the shipped sample."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from alerts_kit import ApiServer, Receiver, ms, sample_store, start_receiver

from liqmap.alerts.engine import AlertEngine
from liqmap.alerts.storage import AlertStore
from liqmap.alerts.targets import TargetPolicy
from liqmap.analysis.clusters import describe_clusters
from liqmap.analysis.rules import parse_rule
from liqmap.query import HeatmapQuery, heatmap_for

TOKEN = "s3cret"
AUTH = {"X-Liqmap-Token": TOKEN}
END = ms("2026-03-20T00:00")


@pytest.fixture(scope="module")
def store():
    s = sample_store()
    yield s
    s.close()


@pytest.fixture(scope="module")
def api(store):
    with ApiServer(store, TOKEN) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield client


def test_clusters_route_matches_the_library(api, store) -> None:
    r = api.get("/api/clusters", params={"symbol": "BTCUSDT", "range": "7d", "end": END, "within": 8,
                                               "calibration": "none"})
    assert r.status_code == 200, r.text
    body = r.json()
    heatmap = heatmap_for(store, HeatmapQuery("BTC", range="7d", end=END))
    fresh = heatmap_for(store, HeatmapQuery("BTC", range="7d", end=END, ages=("<4h",)))
    expected = [c.to_dict() for c in describe_clusters(heatmap, fresh=fresh, growth_hours=24.0,
                                                     sigma=body["sigma_per_sqrt_hour"])
                if abs(c.distance_pct) <= 8]
    assert expected, "a 7d view of BTC has clusters within 8 %"
    assert len(body["clusters"]) == len(expected)
    for got, want in zip(body["clusters"], expected, strict=True):
        assert got == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in want.items()}
    assert body["price"] == heatmap.last_price and body["symbol"] == "BTC"
    assert all(abs(c["distance_pct"]) <= 8 and c["age"] in ("fresh", "mixed", "stale") for c in body["clusters"])


def test_levels_route_formats(api) -> None:
    params = {"symbol": "BTC", "range": "7d", "end": END, "within": 10}
    plan = api.get("/api/levels", params={**params, "entry": 70_000, "stop": 68_000, "risk": 1000}).json()
    assert {"nearest_above", "nearest_below", "stacks", "asymmetry", "confluence", "stop_plan"} <= set(plan)
    assert plan["stop_plan"]["quantity"] == pytest.approx(0.5) and plan["stop_plan"]["position"] == "long"
    assert -1 <= plan["asymmetry"]["bias"] <= 1
    text = api.get("/api/levels", params={**params, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert text.headers["content-type"].startswith("text/csv")
    assert [float(r["price_low"]) for r in rows if r["kind"] == "cluster"] == [c["price_low"] for c in plan["clusters"]]
    pine = api.get("/api/levels", params={**params, "format": "pine"}).text
    assert pine.startswith("//@version=5\n") and pine.count("label.new(") == len(plan["clusters"])


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"within": 0}, "within"),
        ({"k": -1}, "k"),
        ({"merge_gap": 99}, "merge_gap"),
        ({"fresh_age": "<1m"}, "fresh_age"),
        ({"format": "xml"}, "format"),
        ({"entry": 1}, "entry"),
        ({"symbol": "B$C"}, "symbol"),
    ],
)
def test_analysis_errors_name_the_parameter(api, params, parameter) -> None:
    route = "/api/levels" if parameter in ("format", "entry") else "/api/clusters"
    r = api.get(route, params={"symbol": "BTC", "range": "7d", "end": END, **params})
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == parameter


def test_rule_management_is_token_protected_and_validated(api) -> None:
    rule = {"id": "api-near", "type": "price_near", "symbol": "btcusdt", "within_pct": 1.0, "sides": ["long"]}
    assert api.post("/api/alerts/rules", json=rule).status_code == 401
    assert api.post("/api/alerts/rules", json=rule, headers={"X-Liqmap-Token": "wrong"}).status_code == 401
    r = api.post("/api/alerts/rules", json=rule, headers=AUTH)
    assert r.status_code == 201 and r.json()["rule"]["symbol"] == "BTC"
    assert api.post("/api/alerts/rules", json=rule, headers=AUTH).status_code == 409
    changed = {**rule, "within_pct": 2.0}
    assert api.post("/api/alerts/rules", params={"replace": "true"}, json=changed, headers=AUTH).status_code == 201
    bad = api.post("/api/alerts/rules", json={**rule, "id": "x", "within_pct": 500}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["parameter"] == "within_pct"
    bad = api.post("/api/alerts/rules", json={"type": "sweep", "symbol": "BTC", "colour": "red"}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["parameter"] == "colour"
    listed = api.get("/api/alerts/rules", params={"symbol": "BTC"}).json()["rules"]
    assert [(r["id"], r["within_pct"]) for r in listed] == [("api-near", 2.0)]
    assert api.delete("/api/alerts/rules/api-near").status_code == 401
    assert api.delete("/api/alerts/rules/api-near", headers=AUTH).json() == {"removed": "api-near"}
    assert api.delete("/api/alerts/rules/api-near", headers=AUTH).status_code == 404
    assert api.get("/api/alerts/rules").json() == {"rules": []}


def test_alert_history(api, store) -> None:
    receiver = start_receiver(Receiver())
    try:
        rule = parse_rule({"id": "hist", "type": "sweep", "symbol": "BTC", "sides": ["long"], "min_usd": 5e7})
        engine = AlertEngine([rule], targets=[receiver.url + "/h"], alert_store=AlertStore(store),
                             policy=TargetPolicy(allow_private=True))  # the receiver is on 127.0.0.1
        from alerts_kit import replay_bars

        _, bars = replay_bars(store, ms("2026-02-04T00:00"), ms("2026-02-05T00:00"))
        dispatches = [d for snap, hi, lo in bars for d in engine.on_snapshot(snap, exchanges=("binance",),
                                                                            high=hi, low=lo)]
    finally:
        assert receiver.server is not None
        receiver.server.shutdown()
        receiver.server.server_close()
    assert dispatches
    body = api.get("/api/alerts", params={"rule_id": "hist"}).json()
    assert body["count"] == len(dispatches)
    newest = body["alerts"][0]
    last = dispatches[-1].alert
    assert (newest["ts"], newest["level_price"], newest["status"], newest["kind"]) == (
        last.ts, last.level_price, "delivered", "sweep")
    assert set(newest) == {"id", "ts", "created_ms", "rule_id", "kind", "symbol", "exchanges", "side", "price",
                           "level_price", "usd", "message", "context", "status", "attempts", "error",
                           "delivered_ms"}
    assert newest["context"]["bar"]["low"] <= newest["level_price"]
    since = api.get("/api/alerts", params={"rule_id": "hist", "since": last.ts}).json()
    assert [a["ts"] for a in since["alerts"]] == [last.ts]
    assert api.get("/api/alerts", params={"status": "lost"}).json()["parameter"] == "status"
    assert api.get("/api/alerts", params={"limit": 0}).status_code == 400


def test_server_runs_the_alert_loop_when_enabled(tmp_path, monkeypatch) -> None:
    """LIQMAP_ALERTS=FILE: the serving process evaluates new bars and delivers, as `alerts run` would."""
    import time

    from liqmap.data.sample import SAMPLE_DIR
    from liqmap.ingest.registry import import_file

    receiver = start_receiver(Receiver())
    config = tmp_path / "alerts.toml"
    config.write_text(f'[delivery]\ntargets = ["{receiver.url}/live"]\nattempts = 2\nbackoff_seconds = 0\n'
                      'allow_private_targets = true\n\n'
                      '[[rules]]\nid = "live-sweep"\ntype = "sweep"\nsymbol = "BTC"\nmin_usd = 1.5e6\n')
    monkeypatch.setenv("LIQMAP_ALERTS", str(config))
    monkeypatch.setenv("LIQMAP_ALERTS_INTERVAL", "0.1")
    s = sample_store()
    cut = ms("2026-05-24T10:00")
    s.execute("DELETE FROM bars WHERE ts_event >= ? AND market = 'perp'", [cut])
    try:
        server = ApiServer(s, TOKEN)
        with server as base, httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 30
            service = server.app.state.alert_service
            while "BTC" not in service.pollers or service.pollers["BTC"].last_ts is None:  # the baseline round
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert service.pollers["BTC"].last_ts == cut - 3_600_000
            assert client.get("/api/alerts").json()["count"] == 0
            import_file(s, SAMPLE_DIR / "BTCUSDT-1h-futures.csv.gz", ts_recv=0)  # 14 new bars arrive
            last = ms("2026-05-24T23:00")
            deadline = time.monotonic() + 30
            while service.pollers["BTC"].last_ts != last:  # set once the round has dispatched every column
                assert time.monotonic() < deadline
                time.sleep(0.05)
            stored = client.get("/api/alerts", params={"rule_id": "live-sweep"}).json()["alerts"]
    finally:
        assert receiver.server is not None
        receiver.server.shutdown()
        receiver.server.server_close()
    bodies = receiver.accepted("/live")
    # the loop evaluates calibrated USD (factors ~0.05-0.09 on the sample: a raw $30M cluster is ~$2M)
    assert bodies, "the last 14 hours of the sample sweep a modelled cluster of >= $1.5M (calibrated)"
    assert all(b["ts"] >= cut and b["rule_id"] == "live-sweep" for b in bodies)
    assert sorted((a["ts"], a["level_price"]) for a in stored) == sorted((b["ts"], b["level_price"]) for b in bodies)
    assert {a["status"] for a in stored} == {"delivered"}
    s.close()
