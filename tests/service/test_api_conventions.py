"""Native API conventions: CORS opt-in, ETag / 304 on the data version, HEAD, `end` as ISO or ms, unknown
query parameters refused with 400, `format=csv` on tabular endpoints, documented response schemas."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from liqmap.service.app import create_app

ORIGIN = "https://dash.example"


def test_cors_is_opt_in(store):
    with TestClient(create_app(store, prewarm_views=False)) as plain:
        r = plain.get("/api/meta", headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in r.headers
    with TestClient(create_app(store, prewarm_views=False, cors_origins=(ORIGIN,))) as open_:
        r = open_.get("/api/meta", headers={"Origin": ORIGIN})
        assert r.headers["access-control-allow-origin"] == ORIGIN
        pre = open_.options("/api/records", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "X-Liqmap-Token"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == ORIGIN
        assert "x-liqmap-token" in pre.headers["access-control-allow-headers"].lower()
        other = open_.get("/api/meta", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_serve_has_the_cors_option():
    from click.testing import CliRunner

    from liqmap.cli import main

    assert "--cors" in CliRunner().invoke(main, ["serve", "--help"]).output


def test_etag_gives_304_until_the_data_changes(client):
    params = {"symbol": "BTC", "range": "24h", "format": "sparse"}
    first = client.get("/api/heatmap", params=params)
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('W/"')
    again = client.get("/api/heatmap", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    # another view has another tag
    other = client.get("/api/heatmap", params={**params, "range": "3d"}, headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    # new data: a new version, the old tag no longer matches
    ts = first.json()["times"][-1] + 3_600_000
    bar = {"exchange": "binance", "symbol": "BTC", "interval_ms": 3_600_000, "ts_event": ts, "open": 1.0,
           "high": 1.0, "low": 1.0, "close": 1.0, "volume": 0.0}
    assert client.post("/api/records", json={"bars": [bar]}, headers={"X-Liqmap-Token": "secret-token"}).status_code == 200
    after = client.get("/api/heatmap", params=params, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag


def test_head_answers_like_get_without_a_body(client):
    for path, params in (("/api/meta", {}), ("/api/candles", {"symbol": "BTC", "range": "24h"})):
        get = client.get(path, params=params)
        head = client.head(path, params=params)
        assert head.status_code == get.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
    assert client.head("/api/candles", params={"symbol": "BTC", "nope": "1"}).status_code == 400


def test_end_as_iso_or_ms(client):
    ms = 1_779_000_000_000
    iso = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
    by_ms = client.get("/api/candles", params={"symbol": "BTC", "range": "24h", "end": ms}).json()
    by_iso = client.get("/api/candles", params={"symbol": "BTC", "range": "24h", "end": iso}).json()
    assert by_ms == by_iso and by_ms["candles"]["ts"][-1] < ms <= by_ms["candles"]["ts"][-1] + 3_600_000
    naive = client.get("/api/candles", params={"symbol": "BTC", "range": "24h", "end": iso.rstrip("Z")}).json()
    assert naive == by_ms  # no zone = UTC
    bad = client.get("/api/candles", params={"symbol": "BTC", "end": "yesterday"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "end"


@pytest.mark.parametrize("path,params", [
    ("/api/heatmap", {"symbol": "BTC"}), ("/api/candles", {"symbol": "BTC"}), ("/api/meta", {}),
    ("/api/levels", {"symbol": "BTC"}),
])
def test_unknown_query_parameters_are_refused(client, path, params):
    r = client.get(path, params={**params, "symbl": "ETH", "zz": "1"})
    assert r.status_code == 400
    body = r.json()
    assert body["parameter"] == "symbl" and "'symbl', 'zz'" in body["detail"]
    assert set(params) <= set(body["accepted"]) and "symbl" not in body["accepted"]
    # the Coinglass paths ignore unknown keys, as Coinglass does
    cg = client.get("/api/futures/liquidation/exchange-list", params={"range": "24h", "unit": "usd"})
    assert cg.json()["code"] == "0"
    # the page keeps its view in the address bar
    assert client.get("/", params={"symbol": "BTC", "range": "7d"}).status_code == 200


def test_csv_on_tabular_endpoints(client, store):
    json_body = client.get("/api/candles", params={"symbol": "BTC", "range": "24h"}).json()
    r = client.get("/api/candles", params={"symbol": "BTC", "range": "24h", "format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(row["ts"]) for row in rows] == json_body["candles"]["ts"]
    assert [float(row["close"]) for row in rows] == json_body["candles"]["close"]
    window = {"symbol": "ETH", "start": "2024-08-17", "end": "2024-08-18"}
    prints = client.get("/api/liquidations", params=window).json()["prints"]
    rows = list(csv.DictReader(io.StringIO(client.get("/api/liquidations", params={**window, "format": "csv"}).text)))
    assert prints and [[int(r["ts"]), r["exchange"], r["side"], float(r["price"]), float(r["usd"])] for r in rows] == prints
    clusters = client.get("/api/clusters", params={"symbol": "BTC", "range": "24h"}).json()["clusters"]
    rows = list(csv.DictReader(io.StringIO(client.get("/api/clusters", params={"symbol": "BTC", "range": "24h",
                                                                              "format": "csv"}).text)))
    assert [(r["side"], float(r["peak_price"]), float(r["usd"])) for r in rows] == [
        (c["side"], c["peak_price"], c["usd"]) for c in clusters]


def test_openapi_documents_bodies_errors_and_ranges(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/heatmap"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] != {}
    error = {"$ref": "#/components/schemas/Error"}
    for status in ("400", "404", "422"):
        assert op["responses"][status]["content"]["application/json"]["schema"] == error
    rows = next(p for p in op["parameters"] if p["name"] == "rows")
    assert (rows["schema"]["minimum"], rows["schema"]["maximum"]) == (10, 2000)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    # the 422 body matches the documented Error schema
    body = client.get("/api/heatmap", params={"symbol": "BTC", "rows": "abc"}).json()
    assert set(body) <= set(spec["components"]["schemas"]["Error"]["properties"])
    assert body["errors"][0]["parameter"] == "query.rows"
