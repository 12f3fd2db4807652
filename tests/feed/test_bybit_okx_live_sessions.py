"""Bybit and OKX live sessions through their mock exchanges (real wire protocol, real client code):
subscribe handshakes, application pings, dropped sockets with REST gap fill, contract conversion,
bad frames; assertions on stored values."""

from __future__ import annotations

import asyncio
import json

import numpy as np
from feedkit import FIXTURES, FakeClock, vision_rows

from liqmap.feed.collector import Collector
from liqmap.feed.timing import Backoff
from liqmap.feed.writer import BatchWriter
from liqmap.store import DuckDBStore
from liqmap.testing.mock import bybit as mbybit
from liqmap.testing.mock import okx as mokx
from liqmap.testing.mock.server import Fault, MockExchange, Session, wait_for
from liqmap.venues import bybit, okx

MIN = 60_000


def collector_for(store: DuckDBStore, spec, clock: FakeClock, channels: tuple[str, ...]) -> Collector:  # type: ignore[no-untyped-def]
    return Collector(store, [spec.name], ["AVAX"], store_trades=True, specs={spec.name: spec}, channels=channels,
                     writer=BatchWriter(store, flush_every=50, flush_ms=20), timing=clock.timing(),
                     backoff=lambda: Backoff(base_s=0.05, cap_s=0.2), ping_interval_s=0.05)


def assert_bars_equal_rows(store: DuckDBStore, exchange: str, rows: list[list[str]]) -> None:
    bars = store.read("bars", exchange=exchange, symbol="AVAX")
    assert list(bars["ts_event"]) == [int(r[0]) for r in rows]
    got = np.column_stack([bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"]])
    np.testing.assert_allclose(got, [[float(r[i]) for i in (1, 2, 3, 4, 5)] for r in rows])


async def test_bybit_session_ping_drop_gap_fill_and_handler_not_found() -> None:
    rows = vision_rows(12)
    t0 = int(rows[0][0])
    dialect = mbybit.BybitDialect(klines=rows, instruments=[mbybit.instrument("AVAXUSDT")])
    mock = MockExchange(dialect)
    mock.sessions.append(Session(frames=[
        mbybit.trade_frame("AVAXUSDT", t0 + 1000, "Sell", "8.98", "12.5", "a-1"),
        mbybit.liquidation_frame("AVAXUSDT", t0 + 1500, "Buy", "8.90", "300"),
        *(mbybit.kline_frame("AVAXUSDT", r) for r in rows[0:3]),
    ], after="drop"))
    mock.sessions.append(Session(frames=[
        '{"topic":"allLiquidation.AVAXUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"AVAXUSDT","S":"?","v":"1","p":"1"}]}',
        mbybit.liquidation_frame("AVAXUSDT", t0 + 6 * MIN + 10, "Sell", "9.01", "40"),
        *(mbybit.kline_frame("AVAXUSDT", r) for r in rows[6:10]),
    ], after="hold"))
    mock.rest_faults["/v5/market/kline"] = [Fault(200, {}, {"retCode": 10006, "retMsg": "Too many visits!"})]
    clock = FakeClock(t0 + 3 * MIN + 100, outage_ms=3 * MIN)
    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = bybit.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        collector = collector_for(store, spec, clock, ("trades", "liquidations", "klines"))
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: len(store.read("bars")["ts_event"]) == 10)
        await wait_for(lambda: store.latest_ts("liquidations") == t0 + 6 * MIN + 10)
        await wait_for(lambda: '{"op":"ping"}' in mock.received)
        await asyncio.sleep(0.1)  # let a pong come back
        collector.stop()
        await task
    sub = json.loads(mock.received[0])
    assert sub["op"] == "subscribe"
    assert sorted(sub["args"]) == ["allLiquidation.AVAXUSDT", "kline.1.AVAXUSDT", "publicTrade.AVAXUSDT"]
    assert_bars_equal_rows(store, "bybit", rows[:10])  # bars 3-5 from the REST gap fill
    liqs = store.read("liquidations")
    assert list(liqs["side"]) == ["long", "short"]  # Buy = long liquidated (Bybit docs)
    assert list(liqs["price_kind"]) == ["bankruptcy", "bankruptcy"]
    np.testing.assert_allclose(liqs["usd"], [8.90 * 300, 9.01 * 40])
    trades = store.read("trades")
    assert list(trades["taker_side"]) == ["sell"] and list(trades["quantity"]) == [12.5]
    health = collector.health["bybit"]
    assert (health.reconnects, health.parse_errors, health.gaps_backfilled) == (1, 1, 1)
    assert collector.venues["bybit"].rest.rate_limited == 1


async def test_okx_two_endpoints_contracts_to_coins_and_pong() -> None:
    rows = vision_rows(6)
    t0 = int(rows[0][0])
    size = 1.0  # AVAX-USDT-SWAP ctVal 1 AVAX; BTC case checked in the parser tests
    dialect = mokx.OkxDialect(klines=rows, contract_size=size,
                              instruments=[mokx.instrument("AVAX-USDT-SWAP", ct_val="1"),
                                           mokx.instrument("BTC-USDT-SWAP", ct_val="0.01")])
    mock = MockExchange(dialect)
    mock.path_sessions["/ws/v5/business"] = [Session(frames=[mokx.candle_frame("AVAX-USDT-SWAP", r, size)
                                                             for r in rows[:5]], after="hold")]
    mock.path_sessions["/ws/v5/public"] = [Session(frames=[
        mokx.liquidation_frame("BTC-USDT-SWAP", t0 + 10, "sell", "60000", "5"),  # not a wanted symbol: skipped
        mokx.liquidation_frame("AVAX-USDT-SWAP", t0 + 20, "sell", "8.8", "250"),
        mokx.trade_frame("AVAX-USDT-SWAP", t0 + 30, "buy", "8.99", "7", "t-9"),
        '{"event":"error","code":"60018","msg":"Invalid request","connId":"m"}',
    ], after="hold")]
    clock = FakeClock(t0 + 6 * MIN)
    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = okx.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        collector = collector_for(store, spec, clock, ("trades", "liquidations", "klines"))
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: len(store.read("bars")["ts_event"]) == 5 and store.latest_ts("trades") is not None)
        await wait_for(lambda: "ping" in mock.received)
        await asyncio.sleep(0.1)
        collector.stop()
        await task
    subs = [json.loads(m) for m in mock.received if m.startswith("{")]
    args = sorted(json.dumps(a, sort_keys=True) for s in subs for a in s["args"])
    assert args == sorted(json.dumps(a, sort_keys=True) for a in [
        {"channel": "candle1m", "instId": "AVAX-USDT-SWAP"}, {"channel": "liquidation-orders", "instType": "SWAP"},
        {"channel": "trades", "instId": "AVAX-USDT-SWAP"}])
    assert_bars_equal_rows(store, "okx", rows[:5])
    liqs = store.read("liquidations")
    assert list(liqs["symbol"]) == ["AVAX"] and list(liqs["side"]) == ["long"]
    np.testing.assert_allclose(liqs["quantity"], [250.0])
    health = collector.health["okx"]
    assert health.venue_errors == 1 and health.parse_errors == 0  # "pong" frames are not errors
    stored = store.execute("SELECT venue_symbol, contract_size FROM instruments ORDER BY venue_symbol")
    assert stored == [("AVAX-USDT-SWAP", 1.0)]


async def test_okx_backfill_candles_pagination_and_tiers() -> None:
    from liqmap.feed.backfill import backfill

    rows = vision_rows(150)
    t0 = int(rows[0][0])
    now = t0 + 150 * MIN
    dialect = mokx.OkxDialect(klines=rows, contract_size=1.0, instruments=[mokx.instrument("AVAX-USDT-SWAP", "1")],
                              marks={"AVAX-USDT-SWAP": "9"},
                              tiers=[{"tier": "1", "minSz": "0", "maxSz": "10000", "mmr": "0.01", "imr": "0.02",
                                      "maxLever": "50", "instFamily": "AVAX-USDT", "uly": "AVAX-USDT"}])
    store = DuckDBStore(":memory:").open()
    async with MockExchange(dialect) as mock:
        spec = okx.SPEC.with_urls(rest=mock.http_url)
        result = await backfill(store, "okx", "AVAX", days=150 * MIN / 86_400_000, spec=spec, kinds=["klines"],
                                now_ms=now, progress=False, timing=FakeClock(now).timing())
        calls = [p for path, p in mock.rest_calls if path == "/api/v5/market/history-candles"]
    assert len(calls) == 2  # 150 bars in pages of 100
    assert result.new_rows["bars"] == 150
    assert_bars_equal_rows(store, "okx", rows)
    tiers = store.execute("SELECT tier, notional_cap, mmr FROM margin_tiers WHERE exchange = 'okx'")
    assert tiers == [(1, 10000 * 1.0 * 9.0, 0.01)]


async def test_bybit_tickers_snapshot_and_deltas_store_mark_and_one_sided_oi() -> None:
    snapshot = json.loads((FIXTURES / "bybit" / "ws" / "tickers_snapshot_doc.json").read_text())
    snapshot["topic"], snapshot["data"]["symbol"] = "tickers.AVAXUSDT", "AVAXUSDT"
    t = snapshot["ts"]
    deltas = [{"topic": "tickers.AVAXUSDT", "type": "delta", "ts": t + k * 100, "cs": k,
               "data": {"symbol": "AVAXUSDT", "markPrice": f"{66666.6 + k:.1f}",
                        **({"openInterest": "500000", "openInterestValue": "33000000000"} if k == 12 else {})}}
              for k in range(1, 16)]
    mock = MockExchange(mbybit.BybitDialect(instruments=[mbybit.instrument("AVAXUSDT")]))
    mock.sessions.append(Session(frames=[json.dumps(snapshot), *map(json.dumps, deltas)], after="hold"))
    store = DuckDBStore(":memory:").open()
    clock = FakeClock(t + 2000)
    async with mock:
        spec = bybit.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        collector = collector_for(store, spec, clock, ("mark", "open_interest"))
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: collector.health["bybit"].messages >= 17)
        await asyncio.sleep(0.1)
        collector.stop()
        await task
    sub = json.loads(mock.received[0])
    assert sub["args"] == ["tickers.AVAXUSDT"]  # one channel serves mark price and open interest
    marks = store.read("mark_prices")
    assert list(marks["ts_event"]) == [t, t + 1000]  # 100 ms pushes thinned to one per second
    assert list(marks["mark"]) == [66666.6, 66676.6]
    assert list(marks["index"]) == [115418.19, 115418.19]
    oi = store.read("open_interest")
    assert list(oi["ts_event"]) == [t, t + 1200]
    np.testing.assert_allclose(oi["oi_base"], [492373.72 / 2, 250000.0])
    np.testing.assert_allclose(oi["oi_usd"], [32824881841.75 / 2, 16500000000.0])
