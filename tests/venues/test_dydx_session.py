"""dYdX v4 indexer end to end on 127.0.0.1: the generic mock exchange speaking the indexer's WS protocol
(``subscribed`` initial contents, then ``channel_data``), the real collector and DuckDB."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np

from liqmap.feed.collector import Collector
from liqmap.feed.timing import Backoff
from liqmap.feed.writer import BatchWriter
from liqmap.store import DuckDBStore
from liqmap.testing.mock.server import MockExchange, Session, json_field_equals, wait_for
from liqmap.venues import dydx

FIX = Path(__file__).parents[1] / "fixtures" / "dydx"


def text(name: str) -> str:
    return (FIX / name).read_text()


class DydxDialect:
    """Indexer WS: ``{"type":"subscribe",...}`` -> ``{"type":"subscribed",...,"contents":<initial>}``;
    REST ``/v4/perpetualMarkets`` (optionally ``?market=``)."""

    ws_paths = ("/v4/ws",)

    def __init__(self) -> None:
        self.markets = json.loads(text("rest/perpetual_markets.json"))
        self.initial_trades = json.loads(text("rest/trades.json"))

    def is_subscribe(self, text_: str) -> bool:
        return json_field_equals(text_, "type", "subscribe")

    def on_client_text(self, text_: str) -> list[str]:
        msg = json.loads(text_)
        if msg.get("type") != "subscribe":
            return [json.dumps({"type": "error", "message": f"Invalid message: {text_}", "message_id": 0})]
        contents: Any = self.initial_trades if msg["channel"] == "v4_trades" else self.markets
        reply = {"type": "subscribed", "connection_id": "c0ffee", "message_id": 1, "channel": msg["channel"],
                 "contents": contents}
        if "id" in msg:
            reply["id"] = msg["id"]
        return [json.dumps(reply)]

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if path == "/v4/perpetualMarkets":
            markets = self.markets["markets"]
            if "market" in params:
                markets = {k: v for k, v in markets.items() if k == params["market"]}
            return 200, {}, {"markets": markets}
        return 404, {}, {"errors": [{"msg": f"no route {path}"}]}



async def test_live_session_trades_liquidations_and_markets() -> None:
    mock = MockExchange(DydxDialect())
    mock.sessions.append(Session(frames=[
        text("control/connected.json"),
        text("v4_trades/ws_channel_data_mixed.json"),
        text("v4_markets/ws_channel_data_oracle.json"),
        text("v4_markets/ws_channel_data_trading.json"),
    ], after="hold", frame_delay_s=0.02))  # receive-time stamps of v4_markets frames must differ
    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = dydx.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        collector = Collector(store, ["dydx"], ["BTC"], store_trades=True, specs={"dydx": spec},
                              channels=("trades", "liquidations", "mark", "open_interest"),
                              writer=BatchWriter(store, flush_every=20, flush_ms=20), gap_backfill=False,
                              backoff=lambda: Backoff(base_s=0.05, cap_s=0.2))
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: len(store.read("liquidations")["ts_event"]) == 2
                       and len(store.read("open_interest")["ts_event"]) == 2)
        collector.stop()
        await task

    subs = [json.loads(r) for r in mock.received]
    assert subs == [{"type": "subscribe", "channel": "v4_trades", "id": "BTC-USD", "batched": False},
                    {"type": "subscribe", "channel": "v4_markets", "batched": False}]
    assert collector.health["dydx"].parse_errors == 0

    trades = store.read("trades", exchange="dydx", symbol="BTC")
    assert sorted(trades["trade_id"]) == ["0165e6170000000200000002", "0165e6180000000200000001",
                                          "0165e6180000000200000002", "0165e6180000000200000003"]
    liqs = store.read("liquidations", exchange="dydx")
    assert list(liqs["side"]) == ["short", "long"]  # BUY-taker liquidation (initial), then a SELL one
    np.testing.assert_allclose(liqs["usd"], [60392 * 0.0001, 60371 * 0.35])
    oi = store.read("open_interest", exchange="dydx")
    np.testing.assert_allclose(oi["oi_base"], [648.2389, 650.0012])
    np.testing.assert_allclose(oi["oi_usd"], [648.2389 * 60387.51779, 650.0012 * 60401.25])
    assert store.execute("SELECT venue_symbol, tick_size, lot_size FROM instruments") == [("BTC-USD", 1.0, 0.0001)]


class DydxCandleDialect(DydxDialect):
    """Adds the indexer's candle route, whose path names the market: ``/v4/candles/perpetualMarkets/BTC-USD``."""

    def __init__(self, candles: list[dict[str, Any]]) -> None:
        super().__init__()
        self.candles = candles  # newest first, as the indexer returns them

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if path == "/v4/candles/perpetualMarkets/BTC-USD":
            lo, hi = dydx.iso_ms(params["fromISO"]), dydx.iso_ms(params["toISO"])
            rows = [c for c in self.candles if lo <= dydx.iso_ms(c["startedAt"]) <= hi]
            return 200, {}, {"candles": rows[: int(params["limit"])]}
        return super().rest(method, path, params, body)


async def test_rest_backfill_fills_the_market_into_the_path_and_pages_candles() -> None:
    from liqmap.feed.backfill import backfill
    from liqmap.feed.timing import Timing
    from liqmap.types import MINUTE_MS

    now = 1_724_400_000_000  # 2024-08-23T08:00:00Z
    n = 250  # three pages of at most 100 candles
    candles = [
        {"startedAt": dydx.ms_iso(now - MINUTE_MS * (n - i)), "ticker": "BTC-USD", "resolution": "1MIN",
         "low": str(60000 + i - 5), "high": str(60000 + i + 5), "open": str(60000 + i), "close": str(60001 + i),
         "baseTokenVolume": "1.5", "usdVolume": str(1.5 * (60000 + i)), "trades": 7,
         "startingOpenInterest": "650.0"}
        for i in range(n)
    ][::-1]
    mock = MockExchange(DydxCandleDialect(candles))

    async def no_sleep(seconds: float) -> None:
        return None

    store = DuckDBStore(":memory:").open()
    async with mock:
        result = await backfill(store, "dydx", "BTC", days=1, spec=dydx.SPEC.with_urls(rest=mock.http_url),
                                timing=Timing(sleep=no_sleep), now_ms=now, progress=False, kinds=("klines",))
    assert result.new_rows["bars"] == n
    bars = store.read("bars", exchange="dydx", symbol="BTC")
    np.testing.assert_array_equal(bars["ts_event"], [now - MINUTE_MS * (n - i) for i in range(n)])
    np.testing.assert_allclose(bars["close"], [60001.0 + i for i in range(n)])
    paths = {path for path, _ in mock.rest_calls}
    assert "/v4/candles/perpetualMarkets/BTC-USD" in paths
    assert not any("{" in p for p in paths)
