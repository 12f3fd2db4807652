"""State-changing endpoints (all behind the token; refused when the server runs read-only).

``POST /api/records`` lets an external process push bars, prints, open interest and realized
aggregates into the server's store (DuckDB allows one writing process: this is how a separate
collector or a script feeds a running server). ``POST /api/cache/clear`` drops cached heatmaps.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, model_validator

from liqmap.service.context import ServiceContext, get_context, require_token
from liqmap.symbols import canonical
from liqmap.types import Bar, Liquidation, LiquidationBar, OpenInterest
from liqmap.venues.registry import EXCHANGES, venue_symbol

router = APIRouter(prefix="/api", tags=["write (token)"], dependencies=[Depends(require_token)])
Ctx = Annotated[ServiceContext, Depends(get_context)]

Ts = Annotated[int, Field(ge=1_230_768_000_000, le=4_102_444_800_000, description="ms since epoch")]
Price = Annotated[float, Field(gt=0, lt=1e12, allow_inf_nan=False)]
Amount = Annotated[float, Field(ge=0, lt=1e15, allow_inf_nan=False)]
Exchange = Literal[EXCHANGES]  # type: ignore[valid-type]
ExchangeOrAggregate = Literal[(*EXCHANGES, "aggregate")]  # type: ignore[valid-type]
Symbol = Annotated[str, Field(min_length=1, max_length=40, description="BTC, BTCUSDT, ...")]


class BarIn(BaseModel):
    exchange: Exchange
    symbol: Symbol
    interval_ms: Annotated[int, Field(ge=1000, le=31 * 86_400_000)]
    ts_event: Ts
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Amount
    taker_buy_volume: Amount | None = None
    market: Literal["perp", "spot"] = "perp"

    @model_validator(mode="after")
    def _bracket(self) -> BarIn:
        if self.high < max(self.open, self.close) or self.low > min(self.open, self.close):
            raise ValueError("high/low must bracket open/close")
        return self


class LiquidationIn(BaseModel):
    exchange: Exchange
    symbol: Symbol
    ts_event: Ts
    side: Literal["long", "short"]
    price: Price
    quantity: Amount
    usd: Amount | None = None


class OpenInterestIn(BaseModel):
    exchange: Exchange
    symbol: Symbol
    ts_event: Ts
    oi_usd: Amount | None = None
    oi_base: Amount | None = None


class LiquidationBarIn(BaseModel):
    exchange: ExchangeOrAggregate
    symbol: Symbol
    interval_ms: Annotated[int, Field(ge=1000, le=31 * 86_400_000)]
    ts_event: Ts
    long_usd: Amount
    short_usd: Amount
    coverage: Annotated[str, Field(max_length=200)] = ""


class RecordsIn(BaseModel):
    bars: Annotated[list[BarIn], Field(max_length=100_000)] = []
    liquidations: Annotated[list[LiquidationIn], Field(max_length=100_000)] = []
    open_interest: Annotated[list[OpenInterestIn], Field(max_length=100_000)] = []
    liquidation_bars: Annotated[list[LiquidationBarIn], Field(max_length=100_000)] = []


def _coin(symbol: str) -> str:
    return canonical(symbol)


def to_records(body: RecordsIn) -> list[Any]:
    now = int(time.time() * 1000)
    out: list[Any] = []
    for b in body.bars:
        coin = _coin(b.symbol)
        out.append(Bar(exchange=b.exchange, symbol=coin, interval_ms=b.interval_ms, ts_event=b.ts_event,
                       open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume, ts_recv=now,
                       taker_buy_volume=b.taker_buy_volume, market=b.market,
                       venue_symbol=venue_symbol(b.exchange, coin)))
    for q in body.liquidations:
        coin = _coin(q.symbol)
        out.append(Liquidation(exchange=q.exchange, symbol=coin, ts_event=q.ts_event, ts_recv=now, side=q.side,
                               price=q.price, quantity=q.quantity,
                               usd=q.usd if q.usd is not None else q.price * q.quantity,
                               venue_symbol=venue_symbol(q.exchange, coin)))
    for o in body.open_interest:
        coin = _coin(o.symbol)
        out.append(OpenInterest(exchange=o.exchange, symbol=coin, ts_event=o.ts_event, ts_recv=now,
                                oi_base=o.oi_base, oi_usd=o.oi_usd, venue_symbol=venue_symbol(o.exchange, coin)))
    for a in body.liquidation_bars:
        out.append(LiquidationBar(exchange=a.exchange, symbol=_coin(a.symbol), interval_ms=a.interval_ms,
                                  ts_event=a.ts_event, ts_recv=now, long_usd=a.long_usd, short_usd=a.short_usd,
                                  coverage=a.coverage))
    return out


@router.post("/records", summary="Write records into the store (token)")
async def post_records(ctx: Ctx, body: RecordsIn) -> dict[str, Any]:
    """Insert bars / liquidation prints / open interest / realized aggregates (idempotent by key);
    connected WebSocket clients get the update at once. Returns new rows per table."""
    import asyncio

    records = to_records(body)
    written = await asyncio.to_thread(ctx.store.write, records) if records else {}
    await ctx.live.check()
    return {"written": written, "data_version": ctx.version}


@router.post("/cache/clear", summary="Drop cached heatmaps (token)")
def clear_cache(ctx: Ctx) -> dict[str, int]:
    ctx.responses.clear()
    return {"cleared": ctx.cache.clear()}
