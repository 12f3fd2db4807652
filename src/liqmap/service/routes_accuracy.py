"""``GET /api/accuracy``: how the numbers on the page fared on the data in the store (docs/evaluation.md).

Runs ``liqmap evaluate`` on the store (every stored bar with realized liquidations, after a 14-day warm-up)
and returns :func:`liqmap.evaluate.accuracy.summarize` of it, plus the bad ticks the period's bars held.
Expensive (seconds), so cached per data version.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from liqmap.errors import DataError
from liqmap.service.api import SymbolQ
from liqmap.service.calibration import context_cache
from liqmap.service.context import ServiceContext, get_context
from liqmap.service.params import parse_exchange, parse_int, parse_symbol
from liqmap.venues.registry import EXCHANGES as VENUES

router = APIRouter(prefix="/api", tags=["analysis"])
Ctx = Annotated[ServiceContext, Depends(get_context)]


def accuracy_for(store: Any, symbol: str, exchange: str, interval_ms: int) -> dict[str, Any]:
    """The accuracy summary of ``symbol`` on ``exchange``'s bars (``available: false`` with the reason when
    the store cannot be evaluated, e.g. no realized liquidations)."""
    from liqmap.calibrate import bad_ticks_for
    from liqmap.evaluate.accuracy import summarize
    from liqmap.evaluate.runner import evaluate_store

    try:
        evaluation = evaluate_store(store, symbol=symbol, exchange=exchange, interval_ms=interval_ms,
                                    with_baselines=True, with_clusters=True)
    except DataError as exc:
        return {"symbol": symbol, "exchange": exchange, "available": False, "reason": str(exc)}
    body = summarize(evaluation.to_json(), evaluation.reliability_json())
    ts = evaluation.data.ts
    ticks = bad_ticks_for(store, symbol, (exchange,), int(ts[0]), int(ts[-1]) + interval_ms, interval_ms)
    body.update(symbol=symbol, exchange=exchange, available=True, bad_ticks=[t.to_dict() for t in ticks])
    if ticks:
        body["sentences"].append(f"{len(ticks)} implausible wick(s) in these bars were clipped before the model "
                                 "saw them (listed under bad_ticks).")
    return body


@router.get("/accuracy", summary="How accurate the page's numbers were on the stored data, in plain words")
def get_accuracy(
    ctx: Ctx,
    symbol: SymbolQ = "BTC",
    exchange: Annotated[str | None, Query(description="Venue whose bars and OI feed the model (default binance)",
                                          json_schema_extra={"enum": ["", *VENUES]})] = None,
    interval: Annotated[int | None, Query(description="Bar length in minutes (default 60)", ge=1, le=1440)] = None,
) -> JSONResponse:
    """Nowcast rank correlation vs the move-size baseline, calibrated daily ratios, reach-probability
    reliability and the top clusters vs random levels at the same distance, each with period and sample
    size (`sentences` in plain words). Cached per data version."""
    coin = parse_symbol(symbol)
    venue = parse_exchange(exchange) or "binance"
    interval_ms = (parse_int(interval, "interval", 1, 1440, 60) or 60) * 60_000
    key = (coin, venue, interval_ms, ctx.version)
    cache = context_cache(ctx, "accuracy", size=16)
    return JSONResponse(cache.get(key, lambda: accuracy_for(ctx.store, coin, venue, interval_ms)))
