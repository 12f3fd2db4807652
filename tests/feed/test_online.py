"""Contract tests against the REAL exchanges (network). Skipped by default; run with ``-m online``.

They check that the venues still speak what our parsers and mocks assume (reference §9 open points)."""

from __future__ import annotations

import asyncio

import pytest

from liqmap.feed.backfill import backfill
from liqmap.feed.rest import RestClient
from liqmap.feed.ws import WsFeed
from liqmap.store import DuckDBStore
from liqmap.venues._spec import ParseContext
from liqmap.venues.registry import get_spec

pytestmark = pytest.mark.online
VENUES = ["binance", "bybit", "okx"]


@pytest.mark.parametrize("exchange", VENUES)
async def test_backfill_one_hour_of_btc(exchange: str) -> None:
    store = DuckDBStore(":memory:").open()
    result = await backfill(store, exchange, "BTC", days=1 / 24, progress=False)
    assert result.new_rows.get("bars", 0) >= 55
    bars = store.read("bars", exchange=exchange, symbol="BTC")
    assert (bars["low"] <= bars["close"]).all() and (bars["close"] <= bars["high"]).all()


@pytest.mark.parametrize("exchange", VENUES)
async def test_live_frames_parse_without_errors(exchange: str) -> None:
    spec = get_spec(exchange)
    ctx = ParseContext(exchange, wanted=frozenset({spec.venue_symbol("BTC")}))
    async with RestClient(spec) as rest:
        if "instruments" in spec.snapshots:
            ctx.instruments.update({i.venue_symbol: i for i in await rest.snapshot("instruments", "", ctx)  # type: ignore[union-attr]
                                    if i.venue_symbol in ctx.wanted})  # type: ignore[union-attr,operator]
    kind = "mark" if "mark" in spec.channels else "tickers"
    feed = WsFeed(spec, spec.channels[kind].endpoint, [spec.channels[kind].render(spec.venue_symbol("BTC"))])
    records = []

    async def collect() -> None:
        async for raw, ts in feed.frames():
            records.extend(spec.parse_ws(raw, ts, ctx))
            if len(records) >= 3:
                feed.stop()
                return

    await asyncio.wait_for(collect(), 30)
    assert all(r.symbol == "BTC" for r in records)
