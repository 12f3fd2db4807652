"""Exact-position layer (Hyperliquid): ``GET /api/exact/liqmap``, ``/api/exact/heatmap``,
``/api/exact/coverage`` and ``/api/exact/prior``. Shapes in docs/api.md ("Exact positions").

The layer is what tracked accounts really hold (``liqmap positions collect``), beside the model's estimate
of /api/heatmap and /api/liqmap; its coverage (accounts, share of Hyperliquid OI, oldest snapshot) is in
every answer so a reader knows how much of the market it shows.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from liqmap import exactmap
from liqmap.query import RANGES
from liqmap.service.api import EndQ, SymbolQ
from liqmap.service.context import ServiceContext, get_context
from liqmap.service.params import ParamError, parse_symbol, parse_ts

router = APIRouter(prefix="/api/exact", tags=["exact"])
Ctx = Annotated[ServiceContext, Depends(get_context)]
MAX_BINS = 1000
MAX_COLUMNS = 500
HOUR = 3_600_000
BinsQ = Annotated[int, Query(description=f"Price bins, 10..{MAX_BINS}", ge=10, le=MAX_BINS)]
MaxAgeQ = Annotated[float, Query(description="Ignore snapshots older than this many hours, (0, 168]", gt=0, le=168)]
ExactRangeQ = Annotated[str, Query(description="Window: " + ", ".join(RANGES), json_schema_extra={"enum": list(RANGES)})]


def _bins(n_bins: int) -> int:
    if not 10 <= n_bins <= MAX_BINS:
        raise ParamError("n_bins", f"must be in 10..{MAX_BINS}, got {n_bins}")
    return n_bins


def _max_age(hours: float) -> int:
    if not 0 < hours <= 168:
        raise ParamError("max_age_hours", f"must be in (0, 168], got {hours}")
    return int(hours * HOUR)


@router.get("/liqmap", summary="Liquidation map of the tracked Hyperliquid positions (exact layer)")
def get_exact_liqmap(
    ctx: Ctx,
    symbol: SymbolQ = "BTC",
    at: EndQ = None,
    n_bins: BinsQ = 200,
    low: Annotated[float | None, Query(description="Lowest price edge (default: price - 30 %)", gt=0)] = None,
    high: Annotated[float | None, Query(description="Highest price edge (default: price + 30 %)", gt=0)] = None,
    max_age_hours: MaxAgeQ = 6.0,
) -> JSONResponse:
    for name, value in (("low", low), ("high", high)):
        if value is not None and not math.isfinite(value):
            raise ParamError(name, f"must be a finite price, got {value}")
    if low is not None and high is not None and high <= low:
        raise ParamError("high", f"must be above low ({low})")
    return JSONResponse(exactmap.exact_map(ctx.store, parse_symbol(symbol), at=parse_ts(at, "at"),
                                           n_bins=_bins(n_bins), low=low, high=high,
                                           max_age_ms=_max_age(max_age_hours)))


@router.get("/heatmap", summary="Exact layer over time: the tracked positions' liquidation levels per column")
def get_exact_heatmap(
    ctx: Ctx,
    symbol: SymbolQ = "BTC",
    range: ExactRangeQ = "24h",
    end: EndQ = None,
    columns: Annotated[int, Query(description=f"Time columns, 1..{MAX_COLUMNS}", ge=1, le=MAX_COLUMNS)] = 96,
    n_bins: BinsQ = 200,
    max_age_hours: MaxAgeQ = 6.0,
) -> JSONResponse:
    if range not in RANGES:
        raise ParamError("range", f"{range!r} is not accepted", list(RANGES))
    if not 1 <= columns <= MAX_COLUMNS:
        raise ParamError("columns", f"must be in 1..{MAX_COLUMNS}, got {columns}")
    sym = parse_symbol(symbol)
    stop = parse_ts(end, "end") or exactmap.latest_ts(ctx.store, sym)
    if stop is None:
        from liqmap.errors import DataError

        raise DataError(f"no Hyperliquid position snapshots of {sym} in the store")
    return JSONResponse(exactmap.exact_heatmap(ctx.store, sym, start=stop - RANGES[range], end=stop, columns=columns,
                                               n_bins=_bins(n_bins), max_age_ms=_max_age(max_age_hours)))


@router.get("/coverage", summary="What the exact layer covers: accounts, share of Hyperliquid OI, oldest snapshot")
def get_exact_coverage(
    ctx: Ctx,
    at: EndQ = None,
    max_age_hours: MaxAgeQ = 6.0,
) -> JSONResponse:
    return JSONResponse(exactmap.coverage(ctx.store, parse_ts(at, "at"), _max_age(max_age_hours)))


@router.get("/prior", summary="The leverage prior learned from real positions (shipped, or fitted on the store)")
def get_exact_prior(
    ctx: Ctx,
    source: Annotated[str, Query(description="shipped | store", json_schema_extra={"enum": ["shipped", "store"]})] = "shipped",
) -> JSONResponse:
    if source == "shipped":
        from liqmap.data.leverage import load_prior

        doc = load_prior("hyperliquid")
        return JSONResponse({k: v for k, v in doc.items() if k not in ("fit", "check")})
    if source == "store":
        return JSONResponse(exactmap.fit_prior(ctx.store))
    raise ParamError("source", f"{source!r} is not accepted", ["shipped", "store"])


@router.get("/compare", summary="Estimate vs exact: the model on Hyperliquid's candles/OI against the tracked positions")
def get_exact_compare(
    ctx: Ctx,
    symbol: SymbolQ = "BTC",
    end: EndQ = None,
    range: ExactRangeQ = "24h",
    points: Annotated[int, Query(description="Instants compared, 1..24", ge=1, le=24)] = 6,
    leverage_prior: Annotated[str, Query(description="default | hyperliquid (the model's leverage mix)",
                                         json_schema_extra={"enum": ["default", "hyperliquid"]})] = "default",
) -> JSONResponse:
    from liqmap.data.leverage import PRIORS, with_prior
    from liqmap.evaluate.exact import estimate_vs_exact
    from liqmap.model.config import ModelConfig

    if range not in RANGES:
        raise ParamError("range", f"{range!r} is not accepted", list(RANGES))
    if not 1 <= points <= 24:
        raise ParamError("points", f"must be in 1..24, got {points}")
    if leverage_prior not in ("default", *PRIORS):
        raise ParamError("leverage_prior", f"{leverage_prior!r} is not known", ["default", *PRIORS])
    return JSONResponse(estimate_vs_exact(ctx.store, parse_symbol(symbol), end=parse_ts(end, "end"), range=range,
                                          points=points, config=with_prior(ModelConfig(), leverage_prior)))
