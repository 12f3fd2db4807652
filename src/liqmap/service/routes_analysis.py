"""Analysis API: ``GET /api/clusters`` and ``GET /api/levels`` (docs/analysis.md has the rules)."""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from liqmap.analysis.calibration import Calibration, scale_heatmap
from liqmap.analysis.clusters import ClusterParams, describe_clusters
from liqmap.analysis.export import to_csv, to_pine
from liqmap.analysis.levels import plan_for_heatmap
from liqmap.analysis.sizing import plan_stop
from liqmap.errors import ConfigError
from liqmap.model.result import Heatmap
from liqmap.service.calibration import CalibrationQ, calibrated, parse_mode, sigma_at
from liqmap.service.context import ServiceContext, get_context
from liqmap.service.params import ParamError

router = APIRouter(prefix="/api", tags=["analysis"])
Ctx = Annotated[ServiceContext, Depends(get_context)]

from liqmap.service.api import EndQ, ExchangesQ, RangeQ, RowsQ, SymbolQ  # noqa: E402 (one declaration)

AtQ = Annotated[int | None, Query(description="Time (ms) of the column to read (default: latest)")]
WithinQ = Annotated[float, Query(description="Only clusters whose near edge is within this % of price",
                                 json_schema_extra={"exclusiveMinimum": 0, "maximum": 100})]
KQ = Annotated[float | None, Query(description="Hot-bin factor k (x the median non-empty local bin), default 2",
                                   json_schema_extra={"exclusiveMinimum": 0, "maximum": 1e12})]
GapQ = Annotated[float | None, Query(description="Merge hot runs whose gap is <= this % of price, default 0.1",
                                     json_schema_extra={"minimum": 0, "maximum": 50})]
ShareQ = Annotated[float | None, Query(description="Drop zones under this share of the side's USD, default 0.02",
                                       json_schema_extra={"minimum": 0, "exclusiveMaximum": 1})]
FreshQ = Annotated[str | None, Query(description="Age bucket counted as fresh (default <4h; 'none' = off)")]
GrowthQ = Annotated[float | None, Query(description="Growth look-back in hours (default 24; 0 = off)")]


def _params(k: float | None, merge_gap: float | None, min_share: float | None) -> ClusterParams:
    base = ClusterParams()
    try:
        return dataclasses.replace(
            base,
            k=base.k if k is None else k,
            merge_gap_pct=base.merge_gap_pct if merge_gap is None else merge_gap,
            min_share=base.min_share if min_share is None else min_share,
        )
    except ConfigError as exc:
        field = str(exc).split(":", 1)[0]
        name = {"k": "k", "merge_gap_pct": "merge_gap", "min_share": "min_share"}.get(field, field)
        raise ParamError(name, str(exc).split(":", 1)[-1].strip()) from None


def _heatmaps(
    ctx: ServiceContext, *, symbol: str, exchanges: str | None, range_: str | None, end: str | None,
    rows: int | None, fresh_age: str | None, calibration: str | None = None,
) -> tuple[Heatmap, Heatmap | None, Calibration]:
    """The view's heatmap and its recent-positions twin, both in calibrated USD (``calibration``)."""
    from liqmap.service.api import view_key

    key = view_key(ctx, symbol=symbol, exchanges=exchanges, range_=range_, end=end, leverage=None, age=None,
                   rows=rows, columns=None)
    heatmap, cal = calibrated(ctx, key, ctx.cache.get(key, ctx.version), parse_mode(calibration))
    fresh = None
    age = "<4h" if fresh_age is None else fresh_age
    if age and age.lower() != "none":
        if age not in ctx.config.age_labels:
            raise ParamError("fresh_age", f"unknown age bucket {age!r}", ("none", *ctx.config.age_labels))
        fresh = scale_heatmap(ctx.cache.get(dataclasses.replace(key, ages=(age,)), ctx.version), cal)
    return heatmap, fresh, cal


def _column(heatmap: Heatmap, at: int | None) -> int:
    import numpy as np

    k = len(heatmap.times) - 1
    if at is not None:
        k = int(np.clip(np.searchsorted(heatmap.times, at, side="right") - 1, 0, k))
    return k


def _check_within(within: float) -> None:
    if not 0 < within <= 100:
        raise ParamError("within", f"must be in (0, 100], got {within}")


@router.get("/clusters", summary="Liquidation clusters near price (scale-free rule, docs/analysis.md)")
def get_clusters(
    ctx: Ctx, symbol: SymbolQ, exchanges: ExchangesQ = None, range: RangeQ = None,
    end: EndQ = None, rows: RowsQ = None, at: AtQ = None, within: WithinQ = 10.0, k: KQ = None,
    merge_gap: GapQ = None, min_share: ShareQ = None, fresh_age: FreshQ = None, growth_hours: GrowthQ = None,
    format: Annotated[str | None, Query(description="json (default) | csv (one row per cluster)",
                                        json_schema_extra={"enum": ["", "json", "csv"]})] = None,
    calibration: CalibrationQ = None,
) -> Response:
    """Clusters of the snapshot at `at` (latest by default), nearest first: side, price range, peak,
    USD (calibrated, see `calibration`), share of the side's local USD, signed distance in %, age
    (fresh/mixed/stale), growth and the probability that price touches the near edge within 4 h / 24 h."""
    from liqmap.service.api import TABLE_FORMATS, csv_response
    from liqmap.service.params import parse_choice

    as_csv = parse_choice(format, TABLE_FORMATS, "format", "json") == "csv"
    _check_within(within)
    params = _params(k, merge_gap, min_share)
    heatmap, fresh, cal = _heatmaps(ctx, symbol=symbol, exchanges=exchanges, range_=range, end=end, rows=rows,
                                    fresh_age=fresh_age, calibration=calibration)
    column = _column(heatmap, at)
    hours = 24.0 if growth_hours is None else growth_hours
    sigma = sigma_at(ctx, heatmap, column)
    clusters = describe_clusters(heatmap, params, fresh=fresh, growth_hours=hours or None, k=column, sigma=sigma)
    snapshot = heatmap.column(column)
    if as_csv:
        records = [c.to_dict() for c in clusters if abs(c.distance_pct) <= within]
        fields = list(records[0]) if records else ["side", "price_low", "price_high", "peak_price", "usd"]
        return csv_response(fields, ([row[f] for f in fields] for row in records), f"{heatmap.symbol}-clusters.csv")
    return JSONResponse({
        "symbol": heatmap.symbol,
        "exchanges": list(heatmap.exchanges),
        "ts": snapshot.ts,
        "price": snapshot.price,
        "within_pct": within,
        "params": dataclasses.asdict(params),
        "clusters": [c.to_dict() for c in clusters if abs(c.distance_pct) <= within],
        "calibration": cal.to_dict(),
        "sigma_per_sqrt_hour": sigma if math.isfinite(sigma) else None,
    })


@router.get("/levels", summary="Session plan: nearest clusters, stacks, asymmetry, round numbers, sizing")
def get_levels(
    ctx: Ctx, symbol: SymbolQ, exchanges: ExchangesQ = None, range: RangeQ = None,
    end: EndQ = None, rows: RowsQ = None, at: AtQ = None, within: WithinQ = 10.0, k: KQ = None,
    merge_gap: GapQ = None, min_share: ShareQ = None, fresh_age: FreshQ = None, growth_hours: GrowthQ = None,
    format: Annotated[str, Query(description="json (default) | csv | pine (TradingView Pine v5)",
                                 json_schema_extra={"enum": ["json", "csv", "pine"]})] = "json",
    entry: Annotated[float | None, Query(description="Position entry (with stop and risk: sizing)")] = None,
    stop: Annotated[float | None, Query(description="Stop price")] = None,
    risk: Annotated[float | None, Query(description="Risk budget in USD")] = None,
    calibration: CalibrationQ = None,
) -> Response:
    """The plan `liqmap levels` prints. `format=csv` / `format=pine` return the levels as text."""
    _check_within(within)
    if format not in ("json", "csv", "pine"):
        raise ParamError("format", f"unknown format {format!r}", ("json", "csv", "pine"))
    sizing = (entry, stop, risk)
    if any(v is not None for v in sizing) and any(v is None for v in sizing):
        raise ParamError("entry", "entry, stop and risk go together", "all three or none")
    params = _params(k, merge_gap, min_share)
    heatmap, fresh, cal = _heatmaps(ctx, symbol=symbol, exchanges=exchanges, range_=range, end=end, rows=rows,
                                    fresh_age=fresh_age, calibration=calibration)
    column = _column(heatmap, at)
    hours = 24.0 if growth_hours is None else growth_hours
    sigma = sigma_at(ctx, heatmap, column)
    plan = plan_for_heatmap(heatmap, within_pct=within, params=params, fresh=fresh, growth_hours=hours or None,
                            k=column, sigma=sigma, calibration=cal.to_dict())
    if format == "csv":
        return PlainTextResponse(to_csv(plan), media_type="text/csv")
    if format == "pine":
        return PlainTextResponse(to_pine(plan))
    body: dict[str, Any] = plan.to_dict()
    if entry is not None and stop is not None and risk is not None:
        body["stop_plan"] = plan_stop(heatmap.column(column), plan.clusters, entry=entry, stop=stop,
                                      risk_usd=risk).to_dict()
    return JSONResponse(body)
