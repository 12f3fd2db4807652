"""Bitget end to end on 127.0.0.1: the generic mock exchange speaking Bitget's wire protocol (v2 public
socket + v3 public socket for liquidations), the real collector and DuckDB; assertions on stored values."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from liqmap.feed.collector import Collector
from liqmap.feed.rest import RestClient
from liqmap.feed.timing import Backoff
from liqmap.feed.writer import BatchWriter
from liqmap.store import DuckDBStore
from liqmap.testing.mock.server import MockExchange, Session, json_field_equals, wait_for
from liqmap.venues import bitget
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "bitget"


class BitgetDialect:
    """Bitget as the mock speaks it: text ``ping`` -> ``pong``; ``{"op":"subscribe","args":[...]}`` ->
    one ``{"event":"subscribe","arg":...}`` per arg; REST envelope ``{"code":"00000","data":...}``,
    ``history-candles`` by ``startTime``/``endTime`` (inclusive) with ``limit`` <= 200."""

    ws_paths = ("/v2/ws/public", "/v3/ws/public")

    def __init__(self, contracts: Any, candles: list[list[str]] | None = None) -> None:
        self.contracts = contracts
        self.candles = candles or []

    def is_subscribe(self, text: str) -> bool:
        return json_field_equals(text, "op", "subscribe")

    def on_client_text(self, text: str) -> list[str]:
        if text == "ping":
            return ["pong"]
        msg = json.loads(text)
        if msg.get("op") == "subscribe":
            return [json.dumps({"event": "subscribe", "arg": arg}) for arg in msg["args"]]
        return [json.dumps({"event": "error", "code": 30004, "msg": "op not supported"})]

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        envelope = {"code": "00000", "msg": "success", "requestTime": 1695865615662}
        if path == "/api/v2/mix/market/contracts":
            return 200, {}, self.contracts
        if path == "/api/v2/mix/market/history-candles":
            limit = int(params.get("limit", 100))
            if limit > 200:
                return 400, {}, {"code": "40019", "msg": "limit must be <= 200", "data": None}
            start, end = int(params["startTime"]), int(params["endTime"])
            rows = [r for r in self.candles if start <= int(r[0]) <= end][:limit]
            return 200, {}, {**envelope, "data": rows}
        return 404, {}, {"code": "40404", "msg": "Request URL NOT FOUND", "data": None}



def text(name: str) -> str:
    return (FIX / name).read_text()


async def test_live_session_v2_and_v3_sockets_ping_pong_and_stored_values() -> None:
    trade_update = json.loads(text("trade/ws_snapshot_doc.json"))
    trade_update.update({"action": "update", "ts": 1695716762001})
    trade_update["data"] = [{"ts": "1695716762000", "price": "27001.0", "size": "0.25", "side": "sell",
                             "tradeId": "1111111112"}]
    candle_update = json.loads(text("candle/ws_snapshot_doc.json"))
    candle_update.update({"action": "update"})
    candle_update["data"] = [["1695728700000", "27000.5", "27010", "26990", "27001", "1.5", "40501.5", "40501.5"]]
    other_liq = json.loads(text("liquidation/ws_update_doc.json"))
    other_liq["data"] = [{"symbol": "ETHUSDT", "side": "sell", "price": "1600", "amount": "3", "ts": "1736371333000"}]
    mock = MockExchange(BitgetDialect(json.loads(text("rest/contracts.json"))))
    mock.sessions.append(Session(frames=[
        text("trade/ws_snapshot_doc.json"), json.dumps(trade_update), text("ticker/ws_snapshot_doc.json"),
        text("candle/ws_snapshot_doc.json"), json.dumps(candle_update),
        text("liquidation/ws_update_doc.json"), json.dumps(other_liq),
    ], after="hold"))
    mock.sessions.append(Session(after="hold"))
    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = bitget.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        spec = dataclasses.replace(spec, heartbeat=dataclasses.replace(spec.heartbeat, interval_s=0.05))
        collector = Collector(store, ["bitget"], ["BTC"], store_trades=True, specs={"bitget": spec}, kline_interval_ms=12 * 3_600_000,
                              channels=("trades", "liquidations", "klines", "mark", "open_interest"),
                              writer=BatchWriter(store, flush_every=20, flush_ms=20), gap_backfill=False,
                              backoff=lambda: Backoff(base_s=0.05, cap_s=0.2))
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: store.latest_ts("bars") is not None and store.latest_ts("liquidations") is not None
                       and store.latest_ts("open_interest") is not None
                       and store.latest_ts("trades") == 1695716762000)
        await wait_for(lambda: mock.received.count("ping") >= 2)
        await asyncio.sleep(0.1)
        collector.stop()
        await task

    subs = [json.loads(r) for r in mock.received if r != "ping"]
    args = [a for s in subs for a in s["args"]]
    assert all(s["op"] == "subscribe" for s in subs)
    assert {"instType": "usdt-futures", "topic": "liquidation"} in args  # on the v3 socket
    assert {"instType": "USDT-FUTURES", "channel": "trade", "instId": "BTCUSDT"} in args
    assert {"instType": "USDT-FUTURES", "channel": "candle12H", "instId": "BTCUSDT"} in args
    assert mock.connections == 2
    health = collector.health["bitget"]
    assert (health.parse_errors, health.venue_errors) == (0, 0)  # acks and "pong" understood

    trades = store.read("trades", exchange="bitget")
    assert list(trades["trade_id"]) == ["1111111111", "1111111112"]  # the doc reuses one id twice
    np.testing.assert_allclose(trades["price"], [27000.5, 27001.0])
    liqs = store.read("liquidations", exchange="bitget")
    assert list(liqs["symbol"]) == ["BTC"]  # ETHUSDT was not asked for
    assert list(liqs["side"]) == ["long"]
    np.testing.assert_allclose(liqs["usd"], [89000 * 37.722858])
    oi = store.read("open_interest", exchange="bitget")
    np.testing.assert_allclose([oi["oi_base"][0], oi["oi_usd"][0]], [929.502, 929.502 * 27000.0])
    bars = store.read("bars", exchange="bitget")
    assert list(bars["ts_event"]) == [1695685500000]
    np.testing.assert_allclose(bars["volume"], [0.057])
    assert store.execute("SELECT venue_symbol, max_leverage FROM instruments") == [("BTCUSDT", 125.0)]


async def test_rest_kline_backfill_in_pages_of_200() -> None:
    t0 = 1_695_835_800_000
    candles = [[str(t0 + 60_000 * i), f"{26000 + i}", f"{26005 + i}", f"{25995 + i}", f"{26001 + i}",
                f"{1 + i % 7}", f"{(1 + i % 7) * (26000 + i)}"] for i in range(450)]
    mock = MockExchange(BitgetDialect(json.loads(text("rest/contracts.json")), candles))
    store = DuckDBStore(":memory:").open()
    async with mock, RestClient(bitget.SPEC.with_urls(rest=mock.http_url)) as rest:
        async for page in rest.history("klines", "BTCUSDT", t0, t0 + 449 * 60_000, ParseContext("bitget")):
            store.write(page)
    bars = store.read("bars", exchange="bitget")
    np.testing.assert_array_equal(bars["ts_event"], [t0 + 60_000 * i for i in range(450)])
    np.testing.assert_allclose(bars["close"], [26001 + i for i in range(450)])
    calls = [p for path, p in mock.rest_calls if path == "/api/v2/mix/market/history-candles"]
    assert [int(p["limit"]) for p in calls] == [200, 200, 200]
    assert all(p["productType"] == "USDT-FUTURES" and p["granularity"] == "1m" for p in calls)
