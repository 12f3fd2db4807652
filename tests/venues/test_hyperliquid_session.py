"""Hyperliquid end to end on 127.0.0.1: the generic mock exchange speaking HL's wire protocol (``/ws``
subscribe/ping, ``POST /info``), the real collector and REST pager, DuckDB; assertions on stored values."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from liqmap.feed.backfill import backfill
from liqmap.feed.collector import Collector
from liqmap.feed.rest import RestClient
from liqmap.feed.timing import Backoff, Timing
from liqmap.feed.writer import BatchWriter
from liqmap.store import DuckDBStore
from liqmap.testing.mock.server import Fault, MockExchange, Session, json_field_equals, wait_for
from liqmap.types import HOUR_MS, MINUTE_MS
from liqmap.venues import hyperliquid as hl
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "hyperliquid"


class HyperliquidDialect:
    """HL as the mock speaks it: ``{"method":"subscribe"}`` -> ``subscriptionResponse`` echo,
    ``{"method":"ping"}`` -> ``{"channel":"pong"}``; ``POST /info`` by ``type``: ``meta``,
    ``metaAndAssetCtxs``, ``candleSnapshot`` (``startTime``..``endTime`` inclusive, at most 5000 rows),
    ``fundingHistory`` (at most 500 rows from ``startTime``)."""

    ws_paths = ("/ws",)

    def __init__(self, meta: Any, candles: list[dict[str, Any]] | None = None,
                 funding: list[dict[str, Any]] | None = None) -> None:
        self.meta = meta
        self.candles = candles or []
        self.funding = funding or []

    def is_subscribe(self, text: str) -> bool:
        return json_field_equals(text, "method", "subscribe")

    def on_client_text(self, text: str) -> list[str]:
        msg = json.loads(text)
        if msg.get("method") == "ping":
            return ['{"channel":"pong"}']
        if msg.get("method") == "subscribe":
            return [json.dumps({"channel": "subscriptionResponse", "data": msg})]
        return [json.dumps({"channel": "error", "data": f"Error parsing JSON into valid websocket request: {text}"})]

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if method != "POST" or path != "/info" or not isinstance(body, dict):
            return 422, {}, "Failed to deserialize the JSON body into the target type"
        kind = body.get("type")
        if kind == "meta":
            return 200, {}, self.meta
        if kind == "candleSnapshot":
            req = body["req"]
            rows = [c for c in self.candles if req["startTime"] <= c["t"] <= req["endTime"]]
            return 200, {}, rows[:5000]
        if kind == "fundingHistory":
            rows = [f for f in self.funding if body["startTime"] <= f["time"] <= body.get("endTime", 2**62)]
            return 200, {}, rows[:500]
        return 422, {}, "Failed to deserialize the JSON body into the target type"



def text(name: str) -> str:
    return (FIX / name).read_text()


def candle(t: int, o: float, h: float, low: float, c: float, v: float, n: int, interval: str = "1m") -> dict[str, Any]:
    return {"t": t, "T": t + MINUTE_MS - 1, "s": "BTC", "i": interval, "o": str(o), "c": str(c), "h": str(h),
            "l": str(low), "v": str(v), "n": n}


async def test_live_session_subscribe_ping_and_stored_values() -> None:
    t0 = 1_781_416_920_000  # minute boundary just before the recorded BTC trade
    mock = MockExchange(HyperliquidDialect(json.loads(text("rest/meta_mainnet_tables.json"))))
    mock.sessions.append(Session(frames=[
        text("trades/ws_btc.json"),
        text("active_asset_ctx/ws_btc.json"),
        json.dumps({"channel": "candle", "data": candle(t0, 64400.0, 64420.0, 64390.0, 64411.0, 3.2, 41)}),
        json.dumps({"channel": "candle", "data": candle(t0, 64400.0, 64425.0, 64390.0, 64415.0, 3.9, 50)}),
        json.dumps({"channel": "candle", "data": candle(t0 + MINUTE_MS, 64415.0, 64416.0, 64414.0, 64416.0, 0.1, 2)}),
    ], after="hold"))
    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = hl.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        spec = dataclasses.replace(spec, heartbeat=dataclasses.replace(spec.heartbeat, interval_s=0.05))
        collector = Collector(store, ["hyperliquid"], ["BTC"], store_trades=True, specs={"hyperliquid": spec},
                              channels=("trades", "klines", "mark", "open_interest"),
                              writer=BatchWriter(store, flush_every=20, flush_ms=20), gap_backfill=False,
                              backoff=lambda: Backoff(base_s=0.05, cap_s=0.2))
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: store.latest_ts("bars") is not None and store.latest_ts("trades") is not None
                       and store.latest_ts("open_interest") is not None)
        await wait_for(lambda: mock.received.count('{"method":"ping"}') >= 2)
        await asyncio.sleep(0.1)
        collector.stop()
        await task

    subs = [json.loads(r) for r in mock.received if r != '{"method":"ping"}']
    assert subs == [{"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}},
                    {"method": "subscribe", "subscription": {"type": "candle", "coin": "BTC", "interval": "1m"}},
                    {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}}]
    health = collector.health["hyperliquid"]
    assert (health.parse_errors, health.venue_errors) == (0, 0)  # acks and pongs understood
    assert mock.rest_calls[0] == ("/info", {"__body__": '{"type": "meta"}'})

    trades = store.read("trades", exchange="hyperliquid", symbol="BTC")
    assert list(trades["trade_id"]) == ["828642708897583"]
    np.testing.assert_allclose([trades["price"][0], trades["quantity"][0]], [64411.0, 0.31377])
    oi = store.read("open_interest", exchange="hyperliquid")
    np.testing.assert_allclose([oi["oi_base"][0], oi["oi_usd"][0]], [32227.66018, 32227.66018 * 64405.0])
    marks = store.read("mark_prices", exchange="hyperliquid")
    np.testing.assert_allclose([marks["mark"][0], marks["index"][0], marks["funding_rate"][0]],
                               [64405.0, 64429.0, 0.0000125])
    assert marks["next_funding_ts"][0] % HOUR_MS == 0
    bars = store.read("bars", exchange="hyperliquid")
    assert list(bars["ts_event"]) == [t0]  # the closed candle with its final values
    np.testing.assert_allclose([bars["high"][0], bars["close"][0], bars["volume"][0]], [64425.0, 64415.0, 3.9])
    assert store.execute("SELECT venue_symbol, max_leverage, quote FROM instruments") == [("BTC", 40.0, "USDC")]


async def test_post_info_backfill_paginates_funding_and_clips_candles_to_5000() -> None:
    end = 1_781_416_920_000
    n_candles = 6000
    candles = [candle(end - MINUTE_MS * (n_candles - 1 - i), 100.0 + i % 50, 101.0 + i % 50, 99.0 + i % 50,
                      100.5 + i % 50, 1.0 + i % 3, 1 + i % 4) for i in range(n_candles)]
    f0 = end - 1199 * HOUR_MS
    funding = [{"coin": "BTC", "fundingRate": f"{0.00001 * ((i % 7) - 3):.8f}", "premium": "0.0",
                "time": f0 + HOUR_MS * i} for i in range(1200)]
    mock = MockExchange(HyperliquidDialect(json.loads(text("rest/meta_mainnet_tables.json")), candles, funding))
    mock.rest_faults["/info"] = [Fault(429, {}, None)]
    slept: list[float] = []

    async def fast_sleep(seconds: float) -> None:
        slept.append(seconds)

    store = DuckDBStore(":memory:").open()
    async with mock, RestClient(hl.SPEC.with_urls(rest=mock.http_url), timing=Timing(sleep=fast_sleep)) as rest:
        ctx = ParseContext("hyperliquid")
        async for page in rest.history("klines", "BTC", end - n_candles * MINUTE_MS, end, ctx):
            store.write(page)
        async for page in rest.history("funding", "BTC", f0, end, ctx):
            store.write(page)
        tiers = await rest.snapshot("margin_tiers", "BTC", ctx)
        store.write(tiers)
        assert rest.rate_limited == 1

    bars = store.read("bars", exchange="hyperliquid")
    # HL serves only the most recent 5000 candles; the pager does not ask for older ones
    np.testing.assert_array_equal(bars["ts_event"], [c["t"] for c in candles[-5000:]])
    np.testing.assert_allclose(bars["close"], [float(c["c"]) for c in candles[-5000:]])
    bodies = [json.loads(p["__body__"]) for path, p in mock.rest_calls if path == "/info"]
    candle_reqs = [b["req"] for b in bodies if b["type"] == "candleSnapshot"]
    assert candle_reqs == [candle_reqs[0]] * 2  # one window, asked twice because of the injected 429
    assert (candle_reqs[0]["startTime"], candle_reqs[0]["interval"]) == (end - 4999 * MINUTE_MS, "1m")
    funding_reqs = [b for b in bodies if b["type"] == "fundingHistory"]
    assert [(b["startTime"], b["endTime"]) for b in funding_reqs] == [
        (f0 + 500 * HOUR_MS * k, min(end, f0 + 500 * HOUR_MS * (k + 1) - 1)) for k in range(3)]
    rates = store.read("funding", exchange="hyperliquid")
    np.testing.assert_array_equal(rates["ts_event"], [f["time"] for f in funding])
    np.testing.assert_allclose(rates["rate"], [float(f["fundingRate"]) for f in funding])
    stored = store.read("margin_tiers", exchange="hyperliquid", symbol="BTC")
    np.testing.assert_allclose(stored["maint_amount"], [0.0, 1_875_000.0])
    assert slept  # the 429 was waited out


async def test_backfill_driver_funding_pages_and_margin_tiers() -> None:
    now = 1_781_416_920_000
    f0 = now - 2 * 24 * HOUR_MS
    funding = [{"coin": "BTC", "fundingRate": f"{0.0000125 * (1 + i % 3):.8f}", "premium": "0.0",
                "time": f0 + HOUR_MS * i} for i in range(48)]
    candles = [candle(now - MINUTE_MS * (120 - i), 64000.0 + i, 64010.0 + i, 63990.0 + i, 64005.0 + i, 0.5, 9)
               for i in range(120)]
    mock = MockExchange(HyperliquidDialect(json.loads(text("rest/meta_mainnet_tables.json")), candles, funding))

    async def no_sleep(seconds: float) -> None:
        return None

    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = hl.SPEC.with_urls(rest=mock.http_url)
        spec = dataclasses.replace(spec, history={**spec.history, "funding": dataclasses.replace(
            spec.history["funding"], max_limit=20)})  # 20-row pages: several pages for 48 h
        result = await backfill(store, "hyperliquid", "BTC", days=2, spec=spec, timing=Timing(sleep=no_sleep),
                                now_ms=now, progress=False, kinds=("klines", "funding"))
    assert result.new_rows["bars"] == 120 and result.new_rows["funding"] == 48
    rates = store.read("funding", exchange="hyperliquid", symbol="BTC")
    np.testing.assert_array_equal(rates["ts_event"], [f["time"] for f in funding])
    funding_bodies = [json.loads(p["__body__"]) for path, p in mock.rest_calls
                      if path == "/info" and "fundingHistory" in p["__body__"]]
    assert len(funding_bodies) == 3 and all(b["endTime"] - b["startTime"] < 20 * HOUR_MS for b in funding_bodies)
    bars = store.read("bars", exchange="hyperliquid", symbol="BTC")
    np.testing.assert_allclose(bars["close"], [64005.0 + i for i in range(120)])
    tiers = store.execute("SELECT tier, notional_floor, mmr, maint_amount, max_leverage FROM margin_tiers "
                          "WHERE exchange = 'hyperliquid' ORDER BY tier")
    assert tiers == [(1, 0.0, 0.0125, 0.0, 40.0), (2, 150_000_000.0, 0.025, 1_875_000.0, 20.0)]
    assert "no REST history" not in " ".join(result.skipped)
