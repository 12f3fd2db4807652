"""Bad input gets a 4xx naming the parameter and what is accepted; nothing reaches SQL; writes need the token."""

from __future__ import annotations

import re

import pytest

from liqmap.model.config import ModelConfig


@pytest.mark.parametrize(
    ("params", "name", "accepted"),
    [
        ({"side": "sideways"}, "side", "both, long, short, net"),
        ({"range": "2w"}, "range", "12h, 24h, 3d, 7d, 30d, 90d, 180d, 1y"),
        ({"format": "csv"}, "format", "grid, sparse, coinglass"),
        ({"encoding": "f64"}, "encoding", "f32, u16"),
        ({"exchanges": "binance,ftx"}, "exchanges", "binance"),
        ({"leverage": "7"}, "leverage", "25"),
        ({"leverage": "lots"}, "leverage", "all"),
        ({"age": "ancient"}, "age", "<4h"),
        ({"rows": 5}, "rows", "10 to 2000"),
        ({"columns": 100000}, "columns", "10 to 2000"),
        ({"bin": -5}, "bin", "positive"),
        ({"end": 12}, "end", "milliseconds"),
    ],
)
def test_bad_heatmap_parameter_is_named(client, params, name, accepted):
    r = client.get("/api/heatmap", params={"symbol": "BTC", **params})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["parameter"] == name
    assert f"parameter '{name}'" in body["detail"]
    assert accepted in body["detail"]


def test_age_error_lists_the_configured_buckets(client):
    body = client.get("/api/heatmap", params={"symbol": "BTC", "age": "old"}).json()
    for label in ModelConfig().age_labels:
        assert label in body["accepted"]


def test_type_errors_are_422_naming_the_parameter(client):
    r = client.get("/api/heatmap", params={"symbol": "BTC", "rows": "many"})
    assert r.status_code == 422
    assert "parameter 'rows'" in r.json()["detail"]
    r = client.get("/api/heatmap")
    assert r.status_code == 422 and "symbol" in r.json()["detail"]


def test_unknown_symbol_and_missing_data(client):
    r = client.get("/api/heatmap", params={"symbol": "BTC'; DROP TABLE bars; --"})
    assert r.status_code == 400 and r.json()["parameter"] == "symbol"
    r = client.get("/api/heatmap", params={"symbol": "DOGE"})
    assert r.status_code == 404 and "DOGE" in r.json()["detail"]
    r = client.get("/api/candles", params={"symbol": "BTC", "exchange": "binance' OR 1=1 --"})
    assert r.status_code == 400 and r.json()["parameter"] == "exchange"


def test_injection_attempts_leave_the_store_intact(client, store):
    before = store.execute("SELECT count(*) FROM bars")[0][0]
    hostile = ["BTC' OR '1'='1", "BTC; DELETE FROM bars", "BTC\" --", "BTC)) UNION SELECT 1 --", "\x00BTC"]
    for text in hostile:
        for path in ("/api/heatmap", "/api/candles", "/api/liquidations", "/api/liqmap"):
            r = client.get(path, params={"symbol": text, "exchanges": text})
            assert 400 <= r.status_code < 500, (path, text, r.text)
    assert store.execute("SELECT count(*) FROM bars")[0][0] == before


def test_writes_need_the_token(client, store):
    bar = {"exchange": "binance", "symbol": "BTC", "interval_ms": 3600000, "ts_event": 1779667200000,
           "open": 77000, "high": 77100, "low": 76900, "close": 77050, "volume": 10}
    r = client.post("/api/records", json={"bars": [bar]})
    assert r.status_code == 401 and "X-Liqmap-Token" in r.json()["detail"]
    r = client.post("/api/records", json={"bars": [bar]}, headers={"X-Liqmap-Token": "wrong"})
    assert r.status_code == 401
    last = store.latest_ts("bars", exchange="binance", market="perp")
    assert last < bar["ts_event"]
    r = client.post("/api/records", json={"bars": [bar]}, headers={"Authorization": "Bearer secret-token"})
    assert r.status_code == 200, r.text
    assert r.json()["written"] == {"bars": 1}
    assert store.latest_ts("bars", exchange="binance", market="perp") == bar["ts_event"]


def test_records_are_validated(client):
    headers = {"X-Liqmap-Token": "secret-token"}
    bad_bar = {"exchange": "binance", "symbol": "BTC", "interval_ms": 3600000, "ts_event": 1779667200000,
               "open": 77000, "high": 76000, "low": 76900, "close": 77050, "volume": 10}
    r = client.post("/api/records", json={"bars": [bad_bar]}, headers=headers)
    assert r.status_code == 422 and "high/low" in r.text
    r = client.post("/api/records", json={"liquidations": [{"exchange": "nowhere", "symbol": "BTC",
                                                             "ts_event": 1779667200000, "side": "long",
                                                             "price": 1, "quantity": 1}]}, headers=headers)
    assert r.status_code == 422 and "exchange" in r.text


def test_read_only_server_refuses_writes(store):
    from fastapi.testclient import TestClient

    from liqmap.service.app import create_app

    with TestClient(create_app(store)) as c:
        r = c.post("/api/cache/clear", headers={"X-Liqmap-Token": "anything"})
        assert r.status_code == 403 and "read-only" in r.json()["detail"]
        assert c.get("/api/meta").json()["features"]["writes"] is False


def test_page_and_docs_use_no_external_url(client):
    for path in ("/", "/docs"):
        r = client.get(path)
        assert r.status_code == 200
        html = r.text
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), path
        for asset in re.findall(r"""(?:src|href)="(/[^"]+)""", html):
            assert client.get(asset).status_code == 200, asset
    for script in ("app.js", "util.js", "docs-init.js", "style.css"):
        text = client.get(f"/static/{script}").text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, script
    assert client.get("/openapi.json").json()["paths"]["/api/heatmap"]["get"]["parameters"]


def test_every_routes_module_is_included(client):
    from pathlib import Path

    import liqmap.service as service
    from liqmap.service.app import plugin_routers

    names = sorted(p.stem for p in Path(service.__file__).parent.glob("routes_*.py"))
    errors: dict[str, str] = {}
    included = [name.rsplit(".", 1)[1] for name, _ in plugin_routers(errors)]
    assert sorted(included + [k.rsplit(".", 1)[1] for k in errors]) == names
    paths = set(client.app.openapi()["paths"])
    for _name, router in plugin_routers({}):
        for route in router.routes:
            assert getattr(route, "include_in_schema", True) is False or route.path in paths
