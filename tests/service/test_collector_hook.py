"""The in-process collector's writer hook drives live updates, and its health drives /api/exchanges.

The real BatchWriter writes the records into the store; the service must push them without waiting
for its poll (set to a minute here)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

from liqmap.feed.writer import BatchWriter
from liqmap.feed.ws import FeedHealth
from liqmap.types import Bar, Liquidation

HOUR = 3_600_000


def test_writer_hook_pushes_and_health_is_reported(store):
    from fastapi.testclient import TestClient

    from liqmap.service.app import create_app

    LAST_BAR = store.latest_ts("bars", exchange="binance", market="perp", interval_ms=HOUR)
    now = int(time.time() * 1000)
    health = {
        "binance": FeedHealth("binance", connected=True, last_message_ms=now, lag_ms=250),
        "bybit": FeedHealth("bybit", connected=True, last_message_ms=now - 30_000, lag_ms=400),
        "okx": FeedHealth("okx", connected=False, last_message_ms=now - 300_000),
    }
    writer = BatchWriter(store, flush_ms=20)
    collector = SimpleNamespace(writer=writer, health=health)
    app = create_app(store, collector=collector, poll_interval=60.0)
    with TestClient(app) as client:
        client.portal.call(writer.start)
        rows = {r["exchange"]: r for r in client.get("/api/exchanges").json()["exchanges"]}
        assert (rows["binance"]["status"], rows["bybit"]["status"], rows["okx"]["status"]) == (
            "connected", "lagging", "stale")
        assert rows["binance"]["collector"]["lag_ms"] == 250
        assert client.get("/api/meta").json()["features"]["collector"] is True
        with client.websocket_connect("/api/stream") as ws:
            ws.receive_json()
            ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "24h"}))
            assert ws.receive_json()["type"] == "subscribed"
            records = [
                Bar("binance", "BTC", HOUR, LAST_BAR + HOUR, 77030.3, 77500.0, 76900.0, 77400.0, 321.0, now,
                    market="perp", venue_symbol="BTCUSDT"),
                Liquidation("binance", "BTC", LAST_BAR + HOUR + 5_000, now, "long", 76950.0, 1.5, 115425.0),
            ]
            client.portal.call(writer.put, records)
            kinds: dict[str, dict] = {}  # the newest entry of each record section of the update frames
            deadline = time.monotonic() + 10
            while ("bars" not in kinds or "liquidations" not in kinds) and time.monotonic() < deadline:
                message = ws.receive_json()
                if message["type"] == "update":
                    kinds.update({kind: message[kind][-1] for kind in ("bars", "liquidations") if message[kind]})
        client.portal.call(writer.close)
    assert kinds["bars"]["bars"][-1] == [LAST_BAR + HOUR, 77030.3, 77500.0, 76900.0, 77400.0, 321.0]
    assert kinds["liquidations"]["prints"] == [[LAST_BAR + HOUR + 5_000, "binance", "long", 76950.0, 115425.0]]
    assert store.latest_ts("bars", exchange="binance", market="perp") == LAST_BAR + HOUR


def test_feed_status_thresholds():
    from liqmap.service.health import feed_status

    now = 1_800_000_000_000
    assert feed_status({"connected": True, "last_message_ms": now - 2_000, "lag_ms": 61_000}, now) == "connected"
    assert feed_status({"connected": True, "last_message_ms": now - 2_000, "lag_ms": 150_000}, now) == "lagging"
    assert feed_status({"connected": True, "last_message_ms": now - 20_000, "lag_ms": 100}, now) == "lagging"
    assert feed_status({"connected": True, "last_message_ms": now - 95_000, "lag_ms": 100}, now) == "stale"
    assert feed_status({"connected": True, "last_message_ms": None}, now) == "lagging"
    assert feed_status({"connected": False, "last_message_ms": now}, now) == "stale"
