"""``/healthz`` and ``/metrics`` on real apps (TestClient), scraped and parsed with prometheus-client."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from liqmap.feed.writer import BatchWriter
from liqmap.feed.ws import FeedHealth
from liqmap.service.app import create_app
from liqmap.settings import Settings
from liqmap.types import Bar

MINUTE = 60_000


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped[(name, tuple(sorted(labels.items())))]


def test_metrics_count_requests_by_route_template_and_websocket_clients(store) -> None:
    app = create_app(store, poll_interval=60.0, prewarm_views=False)
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/api/meta").status_code == 200
        for limit in (5, 6):  # two different URLs, one route template
            assert client.get("/api/candles", params={"symbol": "BTC", "limit": limit}).status_code == 200
        assert client.get("/api/candles", params={"symbol": "BTC", "limit": 0}).status_code == 400
        assert client.get("/no/such/page").status_code == 404
        with client.websocket_connect("/api/stream") as ws, client.websocket_connect("/api/stream") as ws2:
            ws.receive_json()
            ws2.receive_json()
            during = samples(client.get("/metrics").text)
        after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    assert value(during, "liqmap_ws_clients") == 2
    scraped = samples(after.text)
    assert value(scraped, "liqmap_ws_clients") == 0
    count = "liqmap_http_request_duration_seconds_count"
    assert value(scraped, count, method="GET", route="/api/meta", status="200") == 3
    assert value(scraped, count, method="GET", route="/api/candles", status="200") == 2
    assert value(scraped, count, method="GET", route="/api/candles", status="400") == 1
    assert value(scraped, count, method="GET", route="unmatched", status="404") == 1
    # the scrape while the sockets were open was itself counted once, in the second scrape
    assert value(scraped, count, method="GET", route="/metrics", status="200") == 1
    inf = value(scraped, "liqmap_http_request_duration_seconds_bucket", method="GET", route="/api/meta",
                status="200", le="+Inf")
    assert inf == 3


def test_two_apps_in_one_process_have_their_own_registries(store) -> None:
    first = create_app(store, poll_interval=60.0, prewarm_views=False)
    second = create_app(store, poll_interval=60.0, prewarm_views=False)
    with TestClient(first) as a, TestClient(second) as b:
        a.get("/api/meta")
        scraped = samples(b.get("/metrics").text)
    assert ("liqmap_http_request_duration_seconds_count",
            (("method", "GET"), ("route", "/api/meta"), ("status", "200"))) not in scraped


def test_in_process_collector_feed_and_store_write_metrics_and_healthz(store) -> None:
    now = int(time.time() * 1000)
    health = {
        "binance": FeedHealth("binance", connected=True, last_message_ms=now - 2_000, lag_ms=250, messages=120,
                              records=90, reconnects=2, parse_errors=3, venue_errors=1),
        "okx": FeedHealth("okx", connected=False, last_message_ms=now - 600_000, messages=7, reconnects=9),
    }
    writer = BatchWriter(store, flush_ms=20)
    collector = SimpleNamespace(writer=writer, health=health)
    app = create_app(store, collector=collector, poll_interval=60.0, prewarm_views=False)
    last = store.latest_ts("bars", exchange="binance", market="perp") or 0
    bars = [Bar("binance", "BTC", MINUTE, last + (i + 1) * MINUTE, 1.0, 2.0, 0.5, 1.5, 3.0, now,
                market="perp", venue_symbol="BTCUSDT") for i in range(5)]
    with TestClient(app) as client:
        client.portal.call(writer.put, bars)
        client.portal.call(writer.flush)
        client.portal.call(writer.put, bars[:2])  # already stored: still a write of 2 records
        client.portal.call(writer.flush)
        scraped = samples(client.get("/metrics").text)
        ready = client.get("/healthz")
        health["okx"].connected = True
        health["okx"].last_message_ms = int(time.time() * 1000)
        fine = client.get("/healthz")
    assert value(scraped, "liqmap_feed_messages_total", exchange="binance") == 120
    assert value(scraped, "liqmap_feed_records_total", exchange="binance") == 90
    assert value(scraped, "liqmap_feed_reconnects_total", exchange="okx") == 9
    assert value(scraped, "liqmap_feed_errors_total", exchange="binance", kind="parse") == 3
    assert value(scraped, "liqmap_feed_errors_total", exchange="binance", kind="venue") == 1
    assert value(scraped, "liqmap_feed_lag_seconds", exchange="binance") == 0.25
    assert value(scraped, "liqmap_feed_connected", exchange="okx") == 0
    assert 600 <= value(scraped, "liqmap_feed_last_message_age_seconds", exchange="okx") < 700
    assert value(scraped, "liqmap_store_write_seconds_count") == 2
    assert value(scraped, "liqmap_store_write_records_total") == 7
    assert store.latest_ts("bars", exchange="binance", interval_ms=MINUTE) == last + 5 * MINUTE
    assert ready.status_code == 503
    body = ready.json()
    assert (body["status"], body["source"]) == ("stale", "collector")
    feeds = {f["exchange"]: f for f in body["feeds"]}
    assert (feeds["binance"]["status"], feeds["okx"]["status"]) == ("ok", "stale")
    assert 600_000 <= feeds["okx"]["age_ms"] < 700_000
    assert fine.status_code == 200 and fine.json()["status"] == "ok"


def test_healthz_from_the_store_when_collectors_run_elsewhere(backend_store) -> None:
    store = backend_store
    app = create_app(store, poll_interval=60.0, prewarm_views=False)
    app.state.settings = Settings.model_validate(
        {"health": {"exchanges": ["binance", "bybit"], "symbols": ["btc"], "stale_after": "5m"}})
    now = int(time.time() * 1000)
    fresh_open = (now // MINUTE - 1) * MINUTE
    old_open = fresh_open - 60 * MINUTE

    def bar(exchange: str, ts: int) -> Bar:
        return Bar(exchange, "BTC", MINUTE, ts, 1.0, 2.0, 0.5, 1.5, 3.0, now, market="perp", venue_symbol="BTCUSDT")

    with TestClient(app) as client:
        empty = client.get("/healthz")
        store.write([bar("binance", old_open), bar("bybit", old_open)])
        old = client.get("/healthz")
        store.write([bar("binance", fresh_open)])
        half = client.get("/healthz")
        store.write([bar("bybit", fresh_open)])
        fresh = client.get("/healthz")
    assert empty.status_code == 503
    assert [(f["exchange"], f["symbol"], f["table"], f["last_ts"], f["status"]) for f in empty.json()["feeds"]] == [
        ("binance", "BTC", "bars", None, "stale"), ("bybit", "BTC", "bars", None, "stale")]
    assert old.status_code == 503
    assert all(f["last_ts"] == old_open and f["age_ms"] >= 60 * MINUTE for f in old.json()["feeds"])
    assert half.status_code == 503
    assert {f["exchange"]: f["status"] for f in half.json()["feeds"]} == {"binance": "ok", "bybit": "stale"}
    assert fresh.status_code == 200 and fresh.json()["status"] == "ok"
    feeds = {f["exchange"]: f for f in fresh.json()["feeds"]}
    assert feeds["binance"]["last_ts"] == fresh_open == feeds["bybit"]["last_ts"]
    assert 0 <= feeds["binance"]["age_ms"] < 5 * MINUTE


def test_healthz_without_checks_is_liveness_and_api_exchanges_still_works(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["source"], response.json()["feeds"]) == ("ok", "none", [])
    assert client.get("/api/exchanges").status_code == 200
    assert "/healthz" not in client.get("/openapi.json").json()["paths"]


@pytest.mark.asyncio
async def test_collect_metrics_server_serves_feed_and_store_metrics(store, unused_tcp_port: int) -> None:
    from liqmap.metrics import collector_registry, serve_metrics

    health = {"bybit": FeedHealth("bybit", connected=True, messages=41, reconnects=1)}
    writer = BatchWriter(store, flush_ms=20)
    stop = serve_metrics(collector_registry(SimpleNamespace(writer=writer, health=health)), "127.0.0.1",
                         unused_tcp_port)
    try:
        now = int(time.time() * 1000)
        writer.put([Bar("bybit", "ETH", MINUTE, (now // MINUTE) * MINUTE, 1.0, 2.0, 0.5, 1.5, 3.0, now)])
        await writer.flush()
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{unused_tcp_port}/metrics")).text
    finally:
        await asyncio.to_thread(stop)
    scraped = samples(text)
    assert value(scraped, "liqmap_feed_messages_total", exchange="bybit") == 41
    assert value(scraped, "liqmap_store_write_records_total") == 1
    assert value(scraped, "liqmap_store_write_seconds_count") == 1
