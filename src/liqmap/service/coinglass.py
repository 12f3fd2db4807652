"""Coinglass-compatible heatmap paths, so a Coinglass v4 client only changes its base URL.

``/api/futures/liquidation/heatmap/model{1,2,3}?exchange=Binance&symbol=BTCUSDT&range=3d`` (pair) and
``/api/futures/liquidation/aggregated-heatmap/model{1,2,3}?symbol=BTC&range=3d`` (coin, all exchanges)
answer in the Coinglass shape (see :func:`liqmap.service.encode.coinglass_payload`). Coinglass's three
models are undocumented; here all three are liqmap's one documented model.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from liqmap.service.api import Ctx, get_heatmap
from liqmap.service.params import parse_exchanges

router = APIRouter(prefix="/api/futures/liquidation", tags=["coinglass-compatible"])

ModelP = Annotated[int, Path(ge=1, le=3, description="1, 2 or 3 (all are liqmap's model)")]
CgRange = Annotated[str, Query(description="12h, 24h, 3d, 7d, 30d, 90d, 180d, 1y")]


@router.get("/heatmap/model{model}", summary="Pair heatmap, Coinglass v4 shape")
def pair_heatmap(
    ctx: Ctx,
    request: Request,
    model: ModelP,
    exchange: Annotated[str, Query(description="Exchange, e.g. Binance")],
    symbol: Annotated[str, Query(description="Instrument, e.g. BTCUSDT")],
    range: CgRange = "3d",
) -> Response:
    parse_exchanges(exchange, param="exchange")  # errors name this endpoint's parameter
    return get_heatmap(ctx, request, symbol=symbol, exchanges=exchange, range=range, format="coinglass")


@router.get("/aggregated-heatmap/model{model}", summary="Coin heatmap over all exchanges, Coinglass v4 shape")
def coin_heatmap(
    ctx: Ctx,
    request: Request,
    model: ModelP,
    symbol: Annotated[str, Query(description="Coin, e.g. BTC")],
    range: CgRange = "3d",
) -> Response:
    return get_heatmap(ctx, request, symbol=symbol, exchanges=None, range=range, format="coinglass")
