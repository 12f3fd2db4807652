"""`serve --collect` end to end: the real collector, pointed at the mock Binance exchange on 127.0.0.1,
runs in the server's event loop; its frames reach a WebSocket client of our server as bars and prints,
and /api/exchanges reports the feed as connected."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from liqmap.commands.serve import serve_async
from liqmap.feed.collector import Collector
from liqmap.feed.writer import BatchWriter
from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol, force_order_frame, kline_frame
from liqmap.testing.mock.server import MockExchange
from liqmap.venues.binance import SPEC

MIN = 60_000


async def _until(ws, kind: str, timeout: float = 15.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def _sections(ws, *kinds: str) -> dict[str, dict]:
    """The first entry of each record section (``bars``, ``liquidations``) in the next ``update`` frames
    (one frame may carry several)."""
    found: dict[str, dict] = {}
    async with asyncio.timeout(15.0):
        while len(found) < len(kinds):
            update = await _until(ws, "update")
            found.update({kind: update[kind][0] for kind in kinds if update[kind] and kind not in found})
    return found


async def test_collector_in_process_feeds_the_page(store):
    t0 = (int(time.time() * 1000) // MIN - 1) * MIN  # the last closed minute: a feed that is on time
    kline = [str(t0), "77100.0", "77250.5", "77010.0", "77200.0", "12.5", str(t0 + MIN - 1), "964000.0", "812",
             "7.0", "540000.0", "0"]
    forced = ["BTC", "SELL", "LIMIT", "IOC", "0.250", "77005.0", "77005.0", "FILLED", "0.250", "0.250",
              str(t0 + 30_000), "19251.25"]
    mock = MockExchange(BinanceDialect(symbols=[exchange_info_symbol("BTCUSDT", "0.10", "0.001")]))
    async with mock:
        spec = SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        collector = Collector(store, ["binance"], ["BTC"], specs={"binance": spec}, channels=("liquidations", "klines"),
                              writer=BatchWriter(store, flush_ms=20), gap_backfill=False)
        started: dict[str, object] = {}
        serving = asyncio.create_task(serve_async(store, port=0, collector=collector, announce=False,
                                                  on_started=lambda url, server: started.update(url=url, server=server)))
        async with asyncio.timeout(15):
            while "url" not in started:
                await asyncio.sleep(0.05)
        url = str(started["url"])
        try:
            async with websockets.connect(url.replace("http", "ws") + "api/stream") as ws:
                await _until(ws, "hello")
                await ws.send(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "24h"}))
                await _until(ws, "subscribed")
                async with asyncio.timeout(15):  # the collector subscribes, then the mock may push
                    while not mock.received:
                        await asyncio.sleep(0.05)
                await mock.push(kline_frame("BTCUSDT", kline))
                await mock.push(force_order_frame(forced))
                sections = await _sections(ws, "bars", "liquidations")
                bars, prints = sections["bars"], sections["liquidations"]
            async with httpx.AsyncClient(base_url=url) as http:
                health = {r["exchange"]: r for r in (await http.get("api/exchanges")).json()["exchanges"]}
        finally:
            started["server"].should_exit = True  # type: ignore[attr-defined]
            await asyncio.wait_for(serving, 20)
    assert bars["exchange"] == "binance" and bars["interval_ms"] == MIN
    assert bars["bars"][-1] == [t0, 77100.0, 77250.5, 77010.0, 77200.0, 12.5]
    (row,) = prints["prints"]
    assert row[:4] == [t0 + 30_000, "binance", "long", 77005.0]  # SELL = a long was force-sold
    assert row[4] == pytest.approx(0.25 * 77005.0)
    assert health["binance"]["status"] == "connected"
    assert health["binance"]["collector"]["connected"] is True
