"""Gate.io end to end on 127.0.0.1: the generic mock exchange speaking Gate's wire protocol (dialect
below), the real collector/WS client/REST pager, and DuckDB; assertions on stored values."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from liqmap.feed.backfill import backfill
from liqmap.feed.collector import Collector
from liqmap.feed.rest import RestClient
from liqmap.feed.timing import Backoff, Timing
from liqmap.feed.writer import BatchWriter
from liqmap.store import DuckDBStore
from liqmap.testing.mock.server import Fault, MockExchange, Session, json_field_equals, wait_for
from liqmap.venues import gate
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "gate"
MIN = 60_000


class GateDialect:
    """Gate futures v4 as the mock speaks it: ``/v4/ws/usdt`` with ``{"event":"subscribe"}`` acks and
    ``futures.ping`` -> ``futures.pong``; REST ``/futures/usdt/*`` with Gate's second-based windows
    (``candlesticks``: ``from``/``to`` inclusive, at most 2000 points, ``limit`` rejected alongside them;
    ``funding_rate``: ``from``/``to``/``limit`` <= 1000; ``contract_stats``: ``from`` + ``limit`` <= 100)."""

    ws_paths = ("/v4/ws/usdt",)

    def __init__(self, contracts: list[dict[str, Any]], candles: list[dict[str, Any]] | None = None,
                 funding: list[dict[str, Any]] | None = None, stats: list[dict[str, Any]] | None = None) -> None:
        self.contracts = contracts
        self.candles = candles or []
        self.funding = funding or []
        self.stats = stats or []

    def is_subscribe(self, text: str) -> bool:
        return json_field_equals(text, "event", "subscribe")

    def on_client_text(self, text: str) -> list[str]:
        msg = json.loads(text)
        now = int(msg.get("time", 0))
        if msg.get("channel") == "futures.ping":
            return [json.dumps({"time": now, "time_ms": now * 1000, "channel": "futures.pong", "event": "",
                                "result": None})]
        if msg.get("event") == "subscribe":
            return [json.dumps({"time": now, "time_ms": now * 1000, "channel": msg["channel"],
                                "event": "subscribe", "result": {"status": "success"}})]
        return [json.dumps({"time": now, "channel": msg.get("channel"), "event": msg.get("event"),
                            "error": {"code": 1, "message": "invalid argument"}, "result": None})]

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if path == "/futures/usdt/contracts":
            return 200, {}, self.contracts
        if path == "/futures/usdt/candlesticks":
            if "limit" in params and ("from" in params or "to" in params):
                return 400, {}, {"label": "INVALID_PARAM_VALUE", "message": "limit conflicts with from/to"}
            start, end = int(params["from"]), int(params["to"])
            if (end - start) // 60 + 1 > 2000:
                return 400, {}, {"label": "INVALID_PARAM_VALUE", "message": "too many points"}
            return 200, {}, [c for c in self.candles if start <= c["t"] <= end]
        if path == "/futures/usdt/funding_rate":
            limit = int(params.get("limit", 100))
            if limit > 1000:
                return 400, {}, {"label": "INVALID_PARAM_VALUE", "message": "limit"}
            start, end = int(params["from"]), int(params["to"])
            return 200, {}, [f for f in self.funding if start <= f["t"] <= end][:limit]
        if path == "/futures/usdt/contract_stats":
            limit = int(params.get("limit", 30))
            if limit > 100:
                return 400, {}, {"label": "INVALID_PARAM_VALUE", "message": "limit"}
            start = int(params["from"])
            return 200, {}, [s for s in self.stats if int(s["time"]) >= start][:limit]
        if path == "/futures/usdt/risk_limit_tiers":
            tiers = json.loads((FIX / "rest/risk_limit_tiers.json").read_text())
            return 200, {}, [{**t, "contract": params["contract"]} for t in tiers]
        return 404, {}, {"label": "NOT_FOUND", "message": path}



def fixture(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def btc_ticker_frame(time_s: int, mark: str, total_size: str, rate: str) -> str:
    """A ``futures.tickers`` push shaped like the doc example, for BTC_USDT."""
    frame = fixture("tickers/ws_update_doc.json")
    frame.update({"time": time_s, "time_ms": time_s * 1000 + 5})
    frame["result"][0].update({"contract": "BTC_USDT", "mark_price": mark, "index_price": mark,
                               "total_size": total_size, "funding_rate": rate})
    return json.dumps(frame)


def candle_frame(t_s: int, o: str, h: str, low: str, c: str, v: int) -> str:
    return json.dumps({"time": t_s + 30, "time_ms": (t_s + 30) * 1000, "channel": "futures.candlesticks",
                       "event": "update", "result": [{"t": t_s, "v": v, "c": c, "h": h, "l": low, "o": o,
                                                      "n": "1m_BTC_USDT"}]})


async def test_live_session_subscribe_ping_and_stored_values() -> None:
    contracts = fixture("rest/contracts.json")
    mock = MockExchange(GateDialect(contracts))
    t0 = 1_790_359_140  # a minute boundary (s)
    mock.sessions.append(Session(frames=[
        (FIX / "trades/ws_update_btc_usdt.json").read_text(),
        (FIX / "public_liquidates/ws_update_2026_decimal.json").read_text(),
        btc_ticker_frame(t0 + 1, "83750.1", "120000", "0.000085"),
        candle_frame(t0, "83740.0", "83760.5", "83731.2", "83746.9", 5200),
        candle_frame(t0, "83740.0", "83761.0", "83731.2", "83750.0", 6100),  # same candle, still forming
        candle_frame(t0 + 60, "83750.0", "83751.0", "83749.0", "83750.5", 40),  # closes the first one
        "definitely not json",
    ], after="hold"))
    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = gate.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        spec = dataclasses.replace(spec, heartbeat=dataclasses.replace(spec.heartbeat, interval_s=0.05))
        collector = Collector(store, ["gate"], ["BTC"], store_trades=True, specs={"gate": spec},
                              channels=("trades", "liquidations", "klines", "mark", "open_interest"),
                              writer=BatchWriter(store, flush_every=20, flush_ms=20), gap_backfill=False,
                              backoff=lambda: Backoff(base_s=0.05, cap_s=0.2))
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: store.latest_ts("bars") is not None and store.latest_ts("liquidations") is not None
                       and store.latest_ts("open_interest") is not None and store.latest_ts("trades") is not None)
        await wait_for(lambda: any('"futures.ping"' in r for r in mock.received))
        await asyncio.sleep(0.1)
        collector.stop()
        await task

    # handshake: one subscribe per channel in Gate's wire format, each acknowledged
    subs = [json.loads(r) for r in mock.received if '"subscribe"' in r]
    assert {(s["channel"], tuple(s["payload"])) for s in subs} == {
        ("futures.trades", ("BTC_USDT",)), ("futures.public_liquidates", ("BTC_USDT",)),
        ("futures.tickers", ("BTC_USDT",)), ("futures.candlesticks", ("1m", "BTC_USDT"))}
    health = collector.health["gate"]
    assert health.parse_errors == 1  # the garbage frame only: acks and pongs were understood
    assert health.venue_errors == 0

    instruments = store.execute("SELECT venue_symbol, contract_size, tick_size FROM instruments")
    assert instruments == [("BTC_USDT", 0.0001, 0.1)]
    trades = store.read("trades", exchange="gate", symbol="BTC")
    assert list(trades["trade_id"]) == ["842235619"]
    np.testing.assert_allclose(trades["quantity"], [3 * 0.0001])
    assert list(trades["taker_side"]) == ["sell"]

    liqs = store.read("liquidations", exchange="gate")
    assert list(liqs["ts_event"]) == [1541486601123, 1541486601456]
    assert list(liqs["side"]) == ["long", "long"]
    np.testing.assert_allclose(liqs["quantity"], [124.5 * 0.0001, 10.5 * 0.0001])
    np.testing.assert_allclose(liqs["usd"], [215.1 * 124.5e-4, 215.2 * 10.5e-4])

    oi = store.read("open_interest", exchange="gate")
    np.testing.assert_allclose(oi["oi_base"], [12.0])  # 120000 contracts x 0.0001
    np.testing.assert_allclose(oi["oi_usd"], [12.0 * 83750.1])
    marks = store.read("mark_prices", exchange="gate")
    assert list(marks["ts_event"]) == [(t0 + 1) * 1000 + 5]
    np.testing.assert_allclose(marks["funding_rate"], [0.000085])

    bars = store.read("bars", exchange="gate")
    assert list(bars["ts_event"]) == [t0 * 1000]  # only the closed candle, with its last values
    np.testing.assert_allclose([bars["open"][0], bars["high"][0], bars["low"][0], bars["close"][0]],
                               [83740.0, 83761.0, 83731.2, 83750.0])
    np.testing.assert_allclose(bars["volume"], [6100 * 0.0001])


def gen_candles(start_s: int, n: int) -> list[dict[str, Any]]:
    """Candlestick rows in Gate's REST shape (``v`` contracts, ``sum`` quote)."""
    rows = []
    for i in range(n):
        price = 60000.0 + (i % 97) * 1.5
        v = 100 + i % 13
        rows.append({"t": start_s + 60 * i, "o": f"{price:.1f}", "h": f"{price + 4:.1f}", "l": f"{price - 3:.1f}",
                     "c": f"{price + 1:.1f}", "v": v, "sum": f"{v * 0.0001 * price:.4f}"})
    return rows


async def test_rest_backfill_paginates_klines_funding_and_oi_with_rate_limit() -> None:
    start_s = 1_700_000_040  # minute boundary
    n = 4500  # > 2 pages of 1999 candles
    candles = gen_candles(start_s, n)
    funding = [{"t": start_s + 8 * 3600 * i, "r": f"{0.0001 * ((i % 5) - 2):.6f}"} for i in range(15)]
    stats = [{"time": str(start_s + 300 * i), "open_interest": str(1_000_000 + i), "open_interest_usd":
              str((1_000_000 + i) * 0.0001 * 60000.0), "mark_price": "60000"} for i in range(250)]
    dialect = GateDialect(fixture("rest/contracts.json"), candles=candles, funding=funding, stats=stats)
    mock = MockExchange(dialect)
    mock.rest_faults["/futures/usdt/candlesticks"] = [
        Fault(429, {"x-gate-ratelimit-reset-timestamp": "0"},
              {"label": "TOO_MANY_REQUESTS", "message": "Request Rate limit Exceeded (007)"})]
    slept: list[float] = []

    async def fast_sleep(seconds: float) -> None:
        slept.append(seconds)

    timing = Timing(sleep=fast_sleep)
    ctx = ParseContext("gate")
    store = DuckDBStore(":memory:").open()
    start_ms, end_ms = start_s * 1000, (start_s + 60 * (n - 1)) * 1000
    async with mock, RestClient(gate.SPEC.with_urls(rest=mock.http_url), timing=timing) as rest:
        instruments = await rest.snapshot("instruments", "", ctx)
        ctx.instruments = {i.venue_symbol: i for i in instruments}  # type: ignore[union-attr]
        for kind, a, b in (("klines", start_ms, end_ms),
                           ("funding", start_ms, start_ms + 14 * 8 * 3_600_000),
                           ("open_interest", start_ms, start_ms + 249 * 300_000)):
            async for page in rest.history(kind, "BTC_USDT", a, b, ctx):  # type: ignore[arg-type]
                store.write(page)
        assert rest.rate_limited == 1

    bars = store.read("bars", exchange="gate", symbol="BTC")
    assert len(bars["ts_event"]) == n
    np.testing.assert_array_equal(bars["ts_event"], [(start_s + 60 * i) * 1000 for i in range(n)])
    np.testing.assert_allclose(bars["close"], [float(c["c"]) for c in candles])
    np.testing.assert_allclose(bars["volume"], [c["v"] * 0.0001 for c in candles])
    np.testing.assert_allclose(bars["quote_volume"], [float(c["sum"]) for c in candles])

    calls = [p for path, p in mock.rest_calls if path == "/futures/usdt/candlesticks"]
    assert len(calls) == 4  # the 429 + 3 windows of at most 1999 points
    windows = [(int(p["from"]), int(p["to"])) for p in calls[1:]]
    assert windows[0][0] == start_s and windows[-1][1] == start_s + 60 * (n - 1)
    for (_, prev_to), (nxt_from, _) in itertools.pairwise(windows):
        assert nxt_from == prev_to + 1  # contiguous, no overlap, no hole (seconds, inclusive)
    assert all("limit" not in p for p in calls)

    rates = store.read("funding", exchange="gate")
    np.testing.assert_allclose(rates["rate"], [float(f["r"]) for f in funding])
    oi = store.read("open_interest", exchange="gate")
    assert len(oi["ts_event"]) == 250
    np.testing.assert_allclose(oi["oi_base"], [(1_000_000 + i) * 0.0001 for i in range(250)])
    stats_calls = [p for path, p in mock.rest_calls if path == "/futures/usdt/contract_stats"]
    assert [int(p["limit"]) for p in stats_calls] == [100, 100, 50]
    assert slept and slept[0] == pytest.approx(0.0, abs=1.0)  # reset time already passed: retry at once


async def test_backfill_driver_is_resumable_and_stores_tiers_and_contract_sizes() -> None:
    start_s = 1_700_000_040
    n = 2500
    candles = gen_candles(start_s, n)
    stats = [{"time": str(start_s + 300 * i), "open_interest": str(2_000_000 + 7 * i), "open_interest_usd":
              str((2_000_000 + 7 * i) * 0.0001 * 60000.0)} for i in range(n // 5)]
    mock = MockExchange(GateDialect(fixture("rest/contracts.json"), candles=candles, stats=stats))
    now = (start_s + 60 * n) * 1000  # the last candle has closed
    store = DuckDBStore(":memory:").open()

    async def no_sleep(seconds: float) -> None:
        return None

    async with mock:
        spec = gate.SPEC.with_urls(rest=mock.http_url)
        half = await backfill(store, "gate", "BTC", days=n * MIN / 2 / 86_400_000, spec=spec,
                              timing=Timing(sleep=no_sleep), now_ms=now - n * MIN // 2, progress=False,
                              kinds=("klines", "open_interest"))
        full = await backfill(store, "gate", "BTC", days=n * MIN / 86_400_000, spec=spec,
                              timing=Timing(sleep=no_sleep), now_ms=now, progress=False,
                              kinds=("klines", "open_interest"))
        again = await backfill(store, "gate", "BTC", days=n * MIN / 86_400_000, spec=spec,
                               timing=Timing(sleep=no_sleep), now_ms=now, progress=False,
                               kinds=("klines", "open_interest"))
    assert half.new_rows["bars"] == n // 2 + 1 and full.new_rows["bars"] == n - (n // 2 + 1)
    assert again.new_rows.get("bars", 0) == 0  # resumed from the store: nothing new, nothing duplicated
    bars = store.read("bars", exchange="gate", symbol="BTC")
    np.testing.assert_array_equal(bars["ts_event"], [(start_s + 60 * i) * 1000 for i in range(n)])
    np.testing.assert_allclose(bars["volume"], [c["v"] * 0.0001 for c in candles])  # contract size applied
    oi = store.read("open_interest", exchange="gate")
    np.testing.assert_allclose(oi["oi_base"], [(2_000_000 + 7 * i) * 0.0001 for i in range(n // 5)])
    tiers = store.execute("SELECT tier, notional_floor, notional_cap, mmr, maint_amount FROM margin_tiers "
                          "WHERE exchange = 'gate' ORDER BY tier")
    assert tiers[:2] == [(1, 0.0, 20000.0, 0.01, 0.0), (2, 20000.0, 30000.0, 0.013, 60.0)]
    assert store.execute("SELECT venue_symbol, contract_size FROM instruments WHERE exchange = 'gate'") == [
        ("BTC_USDT", 0.0001)]
