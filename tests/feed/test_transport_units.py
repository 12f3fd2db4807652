"""Backoff, REST retry classification, refused connections and the batching writer, on real sockets."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest
from feedkit import FakeClock, vision_rows

from liqmap.errors import RateLimitError
from liqmap.feed.rest import RestClient
from liqmap.feed.timing import Backoff
from liqmap.feed.writer import BatchWriter
from liqmap.feed.ws import WsFeed
from liqmap.store import DuckDBStore
from liqmap.testing.mock.binance import BinanceDialect
from liqmap.testing.mock.server import Fault, MockExchange, wait_for
from liqmap.types import Liquidation
from liqmap.venues.binance import SPEC


def test_backoff_is_capped_jittered_and_resets() -> None:
    b = Backoff(base_s=0.5, cap_s=8.0, factor=2.0, jitter=0.5, rng=random.Random(7))
    delays = [b.next_delay() for _ in range(10)]
    ceilings = [min(8.0, 0.5 * 2**n) for n in range(10)]
    assert all(c * 0.5 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 8.0 and len(set(delays)) == 10  # jittered: no two equal
    b.reset()
    assert b.next_delay() <= 0.5


async def test_rest_418_then_503_then_success_and_giving_up() -> None:
    rows = vision_rows(3)
    mock = MockExchange(BinanceDialect(open_interest={"openInterest": "10659.509", "symbol": "AVAXUSDT",
                                                      "time": int(rows[0][0])}))
    mock.rest_faults["/fapi/v1/openInterest"] = [Fault(418, {"Retry-After": "120"}, {"code": -1003, "msg": "banned"}),
                                                 Fault(503, {}, {"msg": "busy"})]
    clock = FakeClock(int(rows[0][0]))
    async with mock:
        spec = SPEC.with_urls(rest=mock.http_url)
        async with RestClient(spec, timing=clock.timing()) as rest:
            body, _ = await rest.request("/fapi/v1/openInterest", {"symbol": "AVAXUSDT"})
            assert body["openInterest"] == "10659.509"
            assert clock.sleeps[0] == 120.0  # the ban's Retry-After, not our backoff
            assert rest.rate_limited == 1
            mock.rest_faults["/fapi/v1/openInterest"] = [Fault(429, {"Retry-After": "1"})] * 10
            with pytest.raises(RateLimitError):
                await rest.request("/fapi/v1/openInterest", {"symbol": "AVAXUSDT"})
    assert len([p for p, _ in mock.rest_calls if p == "/fapi/v1/openInterest"]) == 1 + 2 + rest.max_attempts


async def test_refused_connection_backs_off_then_connects() -> None:
    # a port with nobody listening: connection refused, then the mock appears on it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = FakeClock(0)
    spec = SPEC.with_urls(ws=f"ws://127.0.0.1:{port}")
    feed = WsFeed(spec, "public", ["avaxusdt@forceOrder"], timing=clock.timing(), backoff=Backoff(base_s=0.01, cap_s=0.02))
    frames = feed.frames()
    first = asyncio.create_task(anext(frames))
    await wait_for(lambda: feed.health.reconnects >= 2)
    mock = MockExchange(BinanceDialect())
    mock.port = port

    from aiohttp import web

    app = web.Application()
    app.router.add_get("/market/stream", mock._ws_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        raw, _ = await asyncio.wait_for(first, 5)
        assert raw == '{"result": null, "id": 1}'  # the subscribe ack: connected and subscribed
        assert feed.health.connected
    finally:
        feed.stop()
        await frames.aclose()
        await runner.cleanup()


async def test_writer_flushes_on_size_time_and_close_and_survives_bad_subscriber() -> None:
    store = DuckDBStore(":memory:").open()
    writer = BatchWriter(store, flush_every=3, flush_ms=10_000)
    seen: list[int] = []
    writer.subscribe(lambda records: seen.append(len(records)))
    writer.subscribe(lambda records: 1 / 0)  # a broken consumer must not stop the writer
    queue = writer.queue()
    await writer.start()
    liq = [Liquidation("binance", "BTC", 1000 + i, 2000, "long", 60000.0, 0.1 * (i + 1), 6000.0 * (i + 1))
           for i in range(4)]
    writer.put(liq[:3])  # reaches flush_every
    await wait_for(lambda: seen == [3])
    writer.put(liq[3:])  # below size, long timer: only close() flushes it
    await asyncio.sleep(0.05)
    assert store.latest_ts("liquidations") == 1002
    await writer.close()
    assert seen == [3, 1] and store.latest_ts("liquidations") == 1003
    assert [len(queue.get_nowait()), len(queue.get_nowait())] == [3, 1]
    assert writer.written == {"liquidations": 4}


class FlakyStore(DuckDBStore):
    """A store whose first two writes fail like a locked file (a real StoreError from the real code path)."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.failures = 2

    def write_columns(self, table, cols):  # type: ignore[no-untyped-def]
        from liqmap.errors import StoreError

        if self.failures:
            self.failures -= 1
            raise StoreError("database is locked")
        return super().write_columns(table, cols)


async def test_writer_keeps_a_batch_across_transient_store_errors() -> None:
    store = FlakyStore().open()
    writer = BatchWriter(store, flush_every=1, flush_ms=5)
    await writer.start()
    writer.put([Liquidation("okx", "ETH", 5, 6, "short", 3000.0, 2.0, 6000.0, "bankruptcy")])
    await wait_for(lambda: store.latest_ts("liquidations") == 5)
    await writer.close()
    assert writer.errors == 2 and writer.written == {"liquidations": 1}


def test_collector_rejects_unknown_channel_exchange_and_symbol() -> None:
    from liqmap.errors import ConfigError
    from liqmap.feed.collector import Collector

    store = DuckDBStore(":memory:")
    with pytest.raises(ConfigError, match="books"):
        Collector(store, ["binance"], ["BTC"], channels=("trades", "books"))
    with pytest.raises(ConfigError, match="kraken"):
        Collector(store, ["kraken"], ["BTC"])
    with pytest.raises(ConfigError, match="symbol"):
        Collector(store, ["binance"], ["BTC/EUR"])


def test_quiet_channels_get_a_long_stall_timeout() -> None:
    from liqmap.feed.collector import QUIET_STALE_S, Collector
    from liqmap.venues.binance import SPEC as BINANCE

    c = Collector(DuckDBStore(":memory:"), ["binance"], ["BTC"])
    assert c._stale_after(BINANCE, [("liquidations", "btcusdt@forceOrder")]) == QUIET_STALE_S
    assert c._stale_after(BINANCE, [("liquidations", "a"), ("mark", "b")]) == BINANCE.heartbeat.stale_after_s
    assert Collector(DuckDBStore(":memory:"), ["binance"], ["BTC"], stale_after_s=0.5)._stale_after(
        BINANCE, [("liquidations", "a")]) == 0.5


def test_backoff_stays_capped_after_thousands_of_failures() -> None:
    from liqmap.feed.timing import Backoff

    backoff = Backoff(base_s=0.5, cap_s=30.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(5000)]
    assert delays[:3] == [0.5, 1.0, 2.0] and delays[-1] == 30.0
