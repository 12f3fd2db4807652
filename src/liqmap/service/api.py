"""The read API: heatmap, liquidation map, candles, realized liquidations, exchanges, meta."""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from liqmap.service import compress, encode, health, schemas
from liqmap.service.calibration import CalibrationQ, bad_ticks, calibrated, parse_mode, reach_curves, sigma_at
from liqmap.service.context import ServiceContext, get_context
from liqmap.service.params import (
    ENCODINGS,
    EXCHANGES_PATTERN,
    FORMATS,
    SYMBOL_SCHEMA,
    TIME_PATTERN,
    ParamError,
    ViewKey,
    parse_bin,
    parse_choice,
    parse_exchange,
    parse_exchanges,
    parse_int,
    parse_range,
    parse_side,
    parse_symbol,
    parse_ts,
    parse_view,
)
from liqmap.venues.registry import EXCHANGES
from liqmap.viewspec import VIEW

router = APIRouter(prefix="/api", tags=["data"])
Ctx = Annotated[ServiceContext, Depends(get_context)]

SymbolQ = Annotated[str, Query(description="Base asset (BTC) or instrument name (BTCUSDT, BTC-USDT-SWAP)",
                               json_schema_extra=SYMBOL_SCHEMA)]
ExchangesQ = Annotated[
    str | None, Query(description="Comma-separated exchanges (binance,bybit); `all` or empty = aggregated",
                      json_schema_extra={"pattern": EXCHANGES_PATTERN})
]
RangeQ = Annotated[str | None, Query(description="View range: " + ", ".join(VIEW.ranges),
                                     json_schema_extra={"enum": ["", *VIEW.ranges, *VIEW.range_aliases]})]
SideQ = Annotated[str | None, Query(description=" | ".join(VIEW.sides) + " (= long − short)",
                                    json_schema_extra={"enum": ["", *VIEW.sides]})]
LeverageQ = Annotated[str | None, Query(description="Comma-separated leverage tiers (e.g. 25,50,100); all = every")]
AgeQ = Annotated[
    str | None, Query(description="Comma-separated position-age buckets by label (<4h, 4h-1d, 1d-7d, >7d) or index; "
                            "labels come from the model config (GET /api/meta)")
]
BinQ = Annotated[float | None, Query(description="Price-bin size in USD (overrides rows)",
                                     json_schema_extra={"exclusiveMinimum": 0, "maximum": 1e9})]
EndQ = Annotated[str | None, Query(description="View end time: ms since epoch or ISO 8601 (2024-08-17T12:00Z); "
                                              "default: latest data", examples=["1723896000000"],
                                   json_schema_extra={"pattern": TIME_PATTERN})]
StartQ = Annotated[str | None, Query(description="Start time: ms since epoch or ISO 8601", examples=["1723800000000"],
                                     json_schema_extra={"pattern": TIME_PATTERN})]
ColumnsQ = Annotated[int | None, Query(description=f"Max time columns, {VIEW.columns.api_lo}..{VIEW.columns.api_hi} "
                                                   f"(default {VIEW.columns.default})",
                                       json_schema_extra=VIEW.columns.schema())]
RowsQ = Annotated[int | None, Query(description=f"Price bins, {VIEW.rows.api_lo}..{VIEW.rows.api_hi} "
                                                f"(default {VIEW.rows.default})",
                                    json_schema_extra=VIEW.rows.schema())]
TableFormatQ = Annotated[str | None, Query(description="json (default) | csv (one row per record, with a header)",
                                           json_schema_extra={"enum": ["", "json", "csv"]})]


def view_key(
    ctx: ServiceContext,
    *,
    symbol: str,
    exchanges: str | None,
    range_: str | None,
    end: int | str | None,
    leverage: str | None,
    age: str | None,
    rows: int | None,
    columns: int | None,
) -> ViewKey:
    """The request's view, checked against :data:`liqmap.viewspec.VIEW` and the server's model config."""
    return parse_view(symbol=symbol, exchanges=exchanges, range_=range_, end=end, leverage=leverage, age=age,
                      rows=rows, columns=columns, tiers=ctx.config.leverage, labels=ctx.config.age_labels)


def _now_ms() -> int:
    return int(time.time() * 1000)


@router.get("/heatmap", responses=schemas.ok(schemas.HeatmapGrid | schemas.HeatmapSparse | schemas.CoinglassHeatmap), summary="Liquidation heatmap (time × price) with candles")
def get_heatmap(
    ctx: Ctx,
    request: Request,
    symbol: SymbolQ,
    exchanges: ExchangesQ = None,
    range: RangeQ = None,
    side: SideQ = None,
    leverage: LeverageQ = None,
    age: AgeQ = None,
    bin: BinQ = None,
    end: EndQ = None,
    columns: ColumnsQ = None,
    rows: RowsQ = None,
    format: Annotated[str | None, Query(description="grid (default) | sparse | coinglass",
                                        json_schema_extra={"enum": ["", *FORMATS]})] = None,
    encoding: Annotated[str | None, Query(description="Grid encoding: f32 (exact) | u16 (quantised, with scale)",
                                          json_schema_extra={"enum": ["", *ENCODINGS]})] = None,
    sides: Annotated[bool, Query(description="Also return the long and short grids")] = False,
    calibration: CalibrationQ = None,
) -> Response:
    """Outstanding modelled liquidation notional (USD) per time column and price bin.

    `format=grid`: `grid` = base64 little-endian row-major array `[column][bin]` (`dtype`, `shape`,
    `scale`: value = q × scale), `times` (column open times, ms), `price_edges` (bins+1), `candles`.
    `format=sparse`: non-zero `cells` `[k, b, usd]`. `format=coinglass`: the Coinglass v4 shape
    (`y_axis`, `liquidation_leverage_data` `[[x, y, usd]]`, `price_candlesticks`, `update_time`).
    """
    key = view_key(ctx, symbol=symbol, exchanges=exchanges, range_=range, end=end, leverage=leverage,
                   age=age, rows=rows, columns=columns)
    side_name = parse_side(side)
    fmt = parse_choice(format, FORMATS, "format", "grid")
    enc = parse_choice(encoding, ENCODINGS, "encoding", "f32")
    bin_size = parse_bin(bin)
    version = ctx.version
    mode = parse_mode(calibration)
    cache_key = (key, version, bin_size, side_name, fmt, enc, bool(sides), mode)

    def build() -> dict[str, Any]:
        heatmap, cal = calibrated(ctx, key, ctx.cache.get_with_bin(key, version, bin_size), mode)
        update = _now_ms()
        if fmt == "coinglass":
            payload = encode.coinglass_payload(heatmap, side=side_name, update_time=update)
        else:
            view = key.as_params()
            view["rows"] = len(heatmap.price_edges) - 1
            if fmt == "sparse":
                payload = encode.sparse_payload(heatmap, side=side_name, update_time=update, view=view)
            else:
                payload = encode.heatmap_payload(heatmap, side=side_name, encoding=enc, sides=sides,
                                                 update_time=update, data_version=version, view=view)
        payload.update(calibration=cal.to_dict(), bad_ticks=bad_ticks(heatmap))
        return payload

    return cached_json(ctx, request, cache_key, build)


def cached_json(ctx: ServiceContext, request: Request, cache_key: Any, build: Any) -> Response:
    """The JSON body for ``cache_key`` from the response cache (built once), compressed once per coding
    the clients ask for (:mod:`liqmap.service.compress`: zstd, brotli or gzip) and kept."""
    entry = ctx.responses.get(cache_key)
    raw = entry.get("raw") if entry else None
    if raw is None:
        raw = encode.json_bytes(build())
        ctx.responses.put(cache_key, "raw", raw)
    coding = compress.choose(request.headers.get("accept-encoding"), len(raw))
    if coding is None:  # (compress.NegotiatedGZipMiddleware adds Vary to large bodies)
        return Response(raw, media_type="application/json")
    packed = (ctx.responses.get(cache_key) or {}).get(coding)
    if packed is None:
        packed = compress.compress(raw, coding)
        ctx.responses.put(cache_key, coding, packed)
    return Response(packed, media_type="application/json",
                    headers={"Content-Encoding": coding, "Vary": "Accept-Encoding"})


@router.get("/liqmap", responses=schemas.ok(schemas.Liqmap), summary="Liquidation map at one time: bars by price, cumulative curves")
def get_liqmap(
    ctx: Ctx,
    symbol: SymbolQ,
    exchanges: ExchangesQ = None,
    range: RangeQ = None,
    leverage: LeverageQ = None,
    age: AgeQ = None,
    bin: BinQ = None,
    end: EndQ = None,
    rows: RowsQ = None,
    at: Annotated[str | None, Query(description="Time (ms or ISO 8601) of the column to show (default: latest)",
                                    json_schema_extra={"pattern": TIME_PATTERN})] = None,
    calibration: CalibrationQ = None,
) -> JSONResponse:
    """Long and short notional per price bin at the column containing `at` (latest by default),
    cumulative curves outward from the price, and the nearest clusters above and below."""
    mode = parse_mode(calibration)
    key = view_key(ctx, symbol=symbol, exchanges=exchanges, range_=range, end=end, leverage=leverage,
                   age=age, rows=rows, columns=None)
    bin_size = parse_bin(bin)
    at_ms = parse_ts(at, "at")
    heatmap, cal = calibrated(ctx, key, ctx.cache.get_with_bin(key, ctx.version, bin_size), mode)
    k = len(heatmap.times) - 1
    if at_ms is not None:
        k = int(np.clip(np.searchsorted(heatmap.times, at_ms, side="right") - 1, 0, k))
    snapshot = heatmap.column(k)
    payload = encode.liqmap_payload(snapshot, encode.local_clusters(snapshot), k)
    payload.update(calibration=cal.to_dict(), bad_ticks=bad_ticks(heatmap),
                   **reach_curves(snapshot, sigma_at(ctx, heatmap, k)))
    return JSONResponse(payload)


TABLE_FORMATS: tuple[str, ...] = ("json", "csv")


def csv_response(fields: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """Rows as ``text/csv`` with a header line (missing values empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for v in row])
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


def _window(ctx: ServiceContext, symbol: str, range_: str | None, start: int | str | None, end: int | str | None,
            table: str = "bars") -> tuple[int, int]:
    end_ms = parse_ts(end, "end")
    start_ms = parse_ts(start, "start")
    if end_ms is None:
        latest = ctx.store.latest_ts(table, symbol=symbol)
        if latest is None and table != "bars":
            latest = ctx.store.latest_ts("bars", symbol=symbol)
        end_ms = (latest if latest is not None else _now_ms()) + 1
    if start_ms is None:
        start_ms = end_ms - VIEW.ranges[parse_range(range_)]
    return start_ms, max(start_ms, end_ms)  # start >= end: an empty window (empty lists), not an error


@router.get("/candles", responses=schemas.ok(schemas.CandlesBody, csv=True), summary="OHLCV bars of one exchange")
def get_candles(
    ctx: Ctx,
    symbol: SymbolQ,
    exchange: Annotated[str | None, Query(description="Exchange (default: the first holding bars)",
                                          json_schema_extra={"enum": ["", *EXCHANGES]})] = None,
    interval: Annotated[int | None, Query(description="Bar interval in ms (default: the finest stored)",
                                          json_schema_extra={"minimum": 1_000, "maximum": 31 * 86_400_000})] = None,
    range: RangeQ = None,
    start: StartQ = None,
    end: EndQ = None,
    limit: Annotated[int | None, Query(description="At most this many newest bars, 1..100000",
                                       json_schema_extra={"minimum": 1, "maximum": 100_000})] = None,
    format: TableFormatQ = None,
) -> Response:
    """Bars opening in the window (perpetual, or spot where only spot is stored), via
    :func:`liqmap.query.candles_for`."""
    from liqmap.query import candles_for

    coin = parse_symbol(symbol)
    venue = parse_exchange(exchange)
    interval_ms = parse_int(interval, "interval", 1_000, 31 * 86_400_000, None)
    max_rows = parse_int(limit, "limit", 1, 100_000, 100_000) or 100_000
    if venue is None:
        from liqmap.ingest.frames import exchanges_with_bars

        held = [e for e in exchanges_with_bars(ctx.store, coin) if e != "aggregate"]
        if not held:
            return JSONResponse({"detail": f"no bars stored for {coin}"}, 404)
        venue = held[0]
    start_ms, end_ms = _window(ctx, coin, range, start, end)
    bars = candles_for(ctx.store, coin, start_ms, end_ms, exchange=venue, interval_ms=interval_ms)
    arrays = {k: v[-max_rows:] for k, v in bars.items() if isinstance(v, np.ndarray)}
    if parse_choice(format, TABLE_FORMATS, "format", "json") == "csv":
        payload = encode.candles_payload(arrays)
        return csv_response([*payload], zip(*payload.values(), strict=True), f"{coin}-{venue}-candles.csv")
    return JSONResponse({"symbol": coin, "exchange": venue, "market": bars["market"],
                         "interval_ms": int(bars["interval_ms"]), "candles": encode.candles_payload(arrays)})


@router.get("/liquidations", responses=schemas.ok(schemas.Liquidations, csv=True), summary="Realized liquidations: prints and per-bar aggregates")
def get_liquidations(
    ctx: Ctx,
    symbol: SymbolQ,
    exchanges: ExchangesQ = None,
    range: RangeQ = None,
    start: StartQ = None,
    end: EndQ = None,
    min_usd: Annotated[float | None, Query(description="Only prints of at least this notional (USD)",
                                           json_schema_extra={"minimum": 0})] = None,
    limit: Annotated[int | None, Query(description="At most this many prints (largest kept), 1..50000",
                                       json_schema_extra={"minimum": 1, "maximum": 50_000})] = None,
    interval: Annotated[int | None, Query(description="Aggregate bar interval in ms (default: finest stored)",
                                          json_schema_extra={"minimum": 1_000, "maximum": 31 * 86_400_000})] = None,
    format: TableFormatQ = None,
) -> Response:
    """`prints`: `[ts, exchange, side, price, usd]` (side = the liquidated position's side); `format=csv`: the
    prints as CSV (`ts,exchange,side,price,usd`).
    `bars`: realized USD per bar and side (`long_usd` = longs liquidated), e.g. Coinglass aggregates,
    with `coverage` saying what they sum over (via :func:`liqmap.query.realized_for`)."""
    from liqmap.query import realized_for

    coin = parse_symbol(symbol)
    venues = parse_exchanges(exchanges)
    threshold = 0.0 if min_usd is None else float(min_usd)
    if not np.isfinite(threshold) or threshold < 0:
        raise ParamError("min_usd", f"{min_usd} is not a usable amount", "a non-negative number")
    max_prints = parse_int(limit, "limit", 1, 50_000, 5_000) or 5_000
    interval_ms = parse_int(interval, "interval", 1_000, 31 * 86_400_000, None)
    start_ms, end_ms = _window(ctx, coin, range, start, end)
    realized = realized_for(ctx.store, coin, start_ms, end_ms, exchanges=venues, interval_ms=interval_ms)
    prints = realized.prints
    idx = np.nonzero(prints["usd"] >= threshold)[0]
    if len(idx) > max_prints:
        idx = np.sort(idx[np.argsort(prints["usd"][idx])[-max_prints:]])
    rows = [[int(prints["ts"][i]), str(prints["exchange"][i]), str(prints["side"][i]),
             float(prints["price"][i]), float(prints["usd"][i])] for i in idx]
    if parse_choice(format, TABLE_FORMATS, "format", "json") == "csv":
        return csv_response(["ts", "exchange", "side", "price", "usd"], rows, f"{coin}-liquidations.csv")
    agg = realized.bars
    bars: dict[str, dict[str, Any]] = {}
    for i in np.arange(len(agg["ts"])):
        name = str(agg["exchange"][i])
        entry = bars.setdefault(name, {"exchange": name, "interval_ms": realized.interval_ms,
                                       "coverage": str(agg["coverage"][i] or ""), "ts": [], "long_usd": [],
                                       "short_usd": []})
        entry["ts"].append(int(agg["ts"][i]))
        entry["long_usd"].append(float(np.nan_to_num(agg["long_usd"][i])))
        entry["short_usd"].append(float(np.nan_to_num(agg["short_usd"][i])))
    return JSONResponse({"symbol": coin, "start": start_ms, "end": end_ms, "prints": rows,
                         "bars": list(bars.values())})


@router.get("/exchanges", responses=schemas.ok(schemas.Exchanges), summary="Per-exchange health and data freshness")
def get_exchanges(ctx: Ctx) -> JSONResponse:
    """One row per exchange: collector connection state (when `serve --collect` runs one), the newest
    stored bar / liquidation, and `status` = connected | lagging | stale | offline."""
    return JSONResponse({"server_time": _now_ms(), "data_version": ctx.version,
                         "exchanges": health.exchange_health(ctx)})


@router.get("/meta", responses=schemas.ok(schemas.Meta), summary="What the server holds and accepts")
def get_meta(ctx: Ctx) -> JSONResponse:
    """Symbols and exchanges stored, accepted ranges / sides / leverage tiers / age buckets, features."""
    symbols: dict[str, set[str]] = {}
    latest: dict[str, int] = {}
    for series in health.inventory(ctx):
        if series["table"] != "bars":
            continue
        symbols.setdefault(series["symbol"], set()).add(series["exchange"])
        latest[series["symbol"]] = max(latest.get(series["symbol"], 0), series["last"])
    paths = ctx.api_paths()
    return JSONResponse({
        "symbols": [{"symbol": s, "exchanges": sorted(e), "latest": latest[s]} for s, e in sorted(symbols.items())],
        "ranges": list(VIEW.ranges),
        "sides": list(VIEW.sides),
        "leverage": [float(x) for x in ctx.config.leverage],
        "ages": list(ctx.config.age_labels),
        "formats": list(FORMATS),
        "features": {"clusters": "/api/clusters" in paths, "alerts": any(p.startswith("/api/alerts") for p in paths),
                     "writes": ctx.token is not None, "collector": ctx.collector is not None},
        "data_version": ctx.version,
        "server_time": _now_ms(),
        "prewarmed": ctx.prewarmed.is_set(),
        "plugin_errors": ctx.plugin_errors,
    })
