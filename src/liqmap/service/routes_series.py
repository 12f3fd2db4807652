"""Series for the panels under the heatmap: ``GET /api/series`` (open interest, funding, volume with
taker delta) and ``GET /api/palette.css`` (the one long/short palette, from ``liqmap.render.style``).

Each series is per exchange, raw (no resampling): the page bins them into the heatmap's columns, so
the panels share its time axis exactly.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from liqmap.service.api import EndQ, ExchangesQ, RangeQ, StartQ, SymbolQ, _window
from liqmap.service.context import ServiceContext, get_context
from liqmap.service.encode import _floats
from liqmap.service.params import parse_exchanges, parse_range, parse_symbol

router = APIRouter(prefix="/api", tags=["series"])
Ctx = Annotated[ServiceContext, Depends(get_context)]
Kind = Literal["oi", "funding", "volume"]

_TABLE: dict[str, tuple[str, str]] = {"oi": ("open_interest", "oi_usd"), "funding": ("funding", "rate")}


def _per_exchange(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Row indices per exchange (rows are ordered by time)."""
    names = rows["exchange"].astype(str)
    return {name: np.flatnonzero(names == name) for name in sorted(set(names.tolist()))}


def _series(ctx: ServiceContext, kind: str, coin: str, start: int, end: int,
            venues: tuple[str, ...] | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if kind in _TABLE:
        table, column = _TABLE[kind]
        rows = ctx.store.read(table, start=start, end=end, columns=["exchange", "ts_event", column], symbol=coin)
        for name, idx in _per_exchange(rows).items():
            if venues and name not in venues:
                continue
            values = rows[column][idx].astype(float)
            keep = np.isfinite(values)
            out.append({"exchange": name, "ts": rows["ts_event"][idx][keep].astype(np.int64).tolist(),
                        "value": values[keep].tolist()})
        return out
    from liqmap.ingest.frames import available_intervals, exchanges_with_bars, read_bars

    for name in exchanges_with_bars(ctx.store, coin):
        if name == "aggregate" or (venues and name not in venues):
            continue
        stored = available_intervals(ctx.store, name, coin)
        intervals = stored.get("perp") or stored.get("spot")
        if not intervals:
            continue
        finest = intervals[0]
        bars, market = read_bars(ctx.store, name, coin, start, end, finest, stored=stored)
        close = bars["close"].astype(float)
        volume = bars["volume"].astype(float)
        buy = np.asarray(bars["taker_buy_volume"], dtype=float) if "taker_buy_volume" in bars else volume * np.nan
        out.append({"exchange": name, "market": market, "interval_ms": int(finest),
                    "ts": bars["ts_event"].astype(np.int64).tolist(),
                    "value": _floats(volume * close),
                    "delta": _floats((2.0 * buy - volume) * close)})
    return out


@router.get("/series", summary="Open interest, funding or volume (with taker delta) per exchange, for the panels")
def get_series(
    ctx: Ctx,
    symbol: SymbolQ,
    kind: Annotated[Kind, Query(description="oi (USD) | funding (rate, a fraction) | volume (USD, with "
                                            "`delta` = taker buy − taker sell in USD, for CVD)")],
    exchanges: ExchangesQ = None,
    range: RangeQ = None,
    start: StartQ = None,
    end: EndQ = None,
) -> JSONResponse:
    """`series`: one entry per exchange with `ts` (ms) and `value` (and `delta` for volume), raw rows of
    the store in the window; an empty list when the store holds none (e.g. a symbol without OI)."""
    coin = parse_symbol(symbol)
    venues = parse_exchanges(exchanges)
    parse_range(range)  # refused by name even where start and end make it moot
    start_ms, end_ms = _window(ctx, coin, range, start, end)
    series = _series(ctx, kind, coin, start_ms, end_ms, tuple(venues) if venues else None)
    return JSONResponse({"symbol": coin, "kind": kind, "start": start_ms, "end": end_ms, "series": series})


@router.get("/palette.css", summary="The long/short palette as CSS variables", include_in_schema=False)
def get_palette() -> Response:
    """``--long`` / ``--short`` from :data:`liqmap.render.style.LONG_COLOR` / ``SHORT_COLOR``: the page,
    the PNG renders and the Pine export share one declaration of the colours."""
    from liqmap.render.style import LONG_COLOR, SHORT_COLOR

    css = f":root {{ --long: {LONG_COLOR}; --short: {SHORT_COLOR}; }}\n"
    return Response(css, media_type="text/css", headers={"Cache-Control": "no-cache"})
