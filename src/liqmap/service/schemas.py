"""OpenAPI response schemas of the native API: the error body every non-2xx answer carries, and the 200
bodies of the read endpoints.

They document (``responses={200: {"model": ...}}``); the routes still build their JSON directly (the
heatmap body is megabytes, validating it on every request would cost more than building it). The
schemathesis test (tests/service/test_schemathesis.py) checks every answer against them.
"""

from __future__ import annotations

import re
import threading
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Num = float | None  # JSON has no NaN: missing values are null


class ErrorItem(BaseModel):
    parameter: str = Field(description="Where: `query.rows`, `body.bars.0.high`, ...")
    message: str


class Error(BaseModel):
    """Every error of the native API (400, 401, 403, 404, 413, 422, 503, ...)."""

    detail: str = Field(description="What is wrong, naming the parameter")
    parameter: str | None = Field(default=None, description="The parameter at fault (400)")
    accepted: list[str] | str | None = Field(default=None, description="Accepted values or form (400)")
    errors: list[ErrorItem] | None = Field(default=None, description="One entry per invalid field (422)")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "A parameter that cannot be used (named, with the accepted values), "
                                         "or an unknown query parameter"},
    404: {"model": Error, "description": "No stored data for this symbol / window, or no such resource"},
    422: {"model": Error, "description": "A value of the wrong type, or an invalid request body"},
    503: {"model": Error, "description": "The store failed"},
}


class Open(BaseModel):
    """Bodies may grow fields; clients ignore the ones they do not know."""

    model_config = ConfigDict(extra="allow")


class Candles(Open):
    ts: list[int] = Field(description="Bar open times, ms")
    open: list[Num]
    high: list[Num]
    low: list[Num]
    close: list[Num]
    volume: list[Num] | None = None


class EncodedArray(Open):
    encoding: Literal["f32", "u16"]
    dtype: Literal["float32", "uint16", "int16"]
    shape: list[Annotated[int, Field(ge=0)]]
    scale: float
    data: str = Field(description="base64 of the little-endian row-major array")


class HeatmapGrid(Open):
    symbol: str
    exchanges: list[str]
    side: Literal["both", "long", "short", "net"]
    view: dict[str, Any]
    interval_ms: Annotated[int, Field(gt=0)]
    times: list[int]
    price_edges: list[float]
    price_edges_hash: str
    bin_size: float
    grid: EncodedArray
    max_usd: Annotated[float, Field(ge=0)]
    candles: Candles
    swept_long: list[Num]
    swept_short: list[Num]
    last_price: Num
    leverage: list[float]
    ages: list[str]
    update_time: int
    data_version: int
    long: EncodedArray | None = None
    short: EncodedArray | None = None


class HeatmapSparse(Open):
    symbol: str
    side: Literal["both", "long", "short", "net"]
    view: dict[str, Any]
    times: list[int]
    price_edges: list[float]
    cells: list[list[float]] = Field(description="`[k, b, usd]` non-zero cells")
    candles: Candles
    update_time: int


class CoinglassHeatmapData(Open):
    y_axis: list[float]
    liquidation_leverage_data: list[list[float]] = Field(description="`[x, y, usd]`")
    price_candlesticks: list[list[int | str]] = Field(description='`[ts_seconds, "o", "h", "l", "c", "volume_usd"]`')
    update_time: int


class CoinglassHeatmap(Open):
    code: Literal["0"]
    msg: str
    data: CoinglassHeatmapData


class Cluster(Open):
    price: float
    bin: Annotated[int, Field(ge=0)]
    usd: float


class LocalClusters(Open):
    source: str
    above: list[Cluster]
    below: list[Cluster]


class Liqmap(Open):
    symbol: str
    ts: int
    column: Annotated[int, Field(ge=0)]
    price: float
    price_edges: list[float]
    long: list[Num]
    short: list[Num]
    cum_long: list[Num]
    cum_short: list[Num]
    total_long_below: float
    total_short_above: float
    clusters: LocalClusters


class CandlesBody(Open):
    symbol: str
    exchange: str
    market: str
    interval_ms: Annotated[int, Field(gt=0)]
    candles: Candles


class RealizedBars(Open):
    exchange: str
    interval_ms: int | None
    coverage: str
    ts: list[int]
    long_usd: list[float]
    short_usd: list[float]


class Liquidations(Open):
    symbol: str
    start: int
    end: int
    prints: list[list[int | str | float]] = Field(description="`[ts, exchange, side, price, usd]`")
    bars: list[RealizedBars]


class ExchangeRow(Open):
    exchange: str
    symbols: list[str]
    status: Literal["connected", "lagging", "stale", "offline"]
    collector: dict[str, Any] | None
    data_age_ms: int | None = None


class Exchanges(Open):
    server_time: int
    data_version: int
    exchanges: list[ExchangeRow]


class MetaSymbol(Open):
    symbol: str
    exchanges: list[str]
    latest: int


class Meta(Open):
    symbols: list[MetaSymbol]
    ranges: list[str]
    sides: list[str]
    leverage: list[float]
    ages: list[str]
    formats: list[str]
    features: dict[str, bool]
    data_version: int
    server_time: int
    prewarmed: bool
    plugin_errors: dict[str, str]


CSV = {"text/csv": {"schema": {"type": "string"}}}


def ok(model: type[BaseModel] | Any, description: str = "Success", *, csv: bool = False) -> dict[int | str, Any]:
    """``responses=`` for a route whose 200 body is ``model`` (also CSV text when ``csv``)."""
    entry: dict[str, Any] = {"model": model, "description": description}
    if csv:
        entry["content"] = CSV
    return {200: entry}


def _list_pattern(items: list[str], extra: tuple[str, ...] = ("all",)) -> str:
    one = "(?:" + "|".join(re.escape(i) for i in items) + ")"
    return "^(?:" + "|".join((*extra, f"{one}(?:,{one})*")) + ")?$"


def refine_openapi(spec: dict[str, Any], config: Any) -> dict[str, Any]:
    """Add what depends on the server's model config to the query parameters: the leverage tiers
    (``leverage``) and age buckets (``age``, ``fresh_age``) the parsers accept."""
    tiers = [f"{t:g}" for t in config.leverage]
    labels = list(config.age_labels)
    patterns = {
        "leverage": _list_pattern([f"{t}x" for t in tiers] + tiers),
        "age": _list_pattern(labels + [str(i) for i in range(len(labels))]),
    }
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if param.get("in") != "query":
                    continue
                schema = param.get("schema", {})
                target = next((s for s in schema.get("anyOf", []) if s.get("type") == "string"), schema)
                if param["name"] in patterns:
                    target["pattern"] = patterns[param["name"]]
                elif param["name"] == "fresh_age":
                    target["enum"] = ["", "none", *labels]
    return spec


def install_openapi(app: Any, config: Any) -> None:
    """Make ``app.openapi()`` return the refined description (built once, like FastAPI's own; ~0.5 s of
    schema generation, so callers in other threads wait for the one build instead of repeating it)."""
    original = app.openapi
    building = threading.Lock()

    def openapi() -> dict[str, Any]:
        with building:
            if app.openapi_schema is None:
                app.openapi_schema = refine_openapi(original(), config)
        return app.openapi_schema  # type: ignore[no-any-return]

    app.openapi = openapi
