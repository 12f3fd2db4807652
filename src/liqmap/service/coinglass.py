"""The Coinglass v4 liquidation API family at Coinglass's own paths, so a Coinglass client only changes
its base URL (docs/api.md, "Coinglass-compatible paths", maps every field to liqmap's model).

Every path under ``/api/futures/liquidation`` answers in Coinglass's envelope: ``{"code": "0", "msg":
"success", "data": …}`` on success and ``{"code": "<non-zero>", "msg": "<text>"}`` on errors (parameter
errors, no data, unknown path). As the real service does, business errors come with HTTP 200 (clients read
the body's ``code``); an unknown path is HTTP 404 and a store failure HTTP 503, both with the envelope. The
handlers are scoped to these paths by the router's route class (:class:`CoinglassRoute`), so the native API
keeps its own error body.

* Heatmaps ``heatmap/model{1,2,3}`` (pair) and ``aggregated-heatmap/model{1,2,3}`` (coin): **all three
  models serve liqmap's one model** (the leverage-tier × position-age model of docs/model.md, side =
  long + short); the bodies of model1, model2 and model3 are identical.
* Maps ``map`` / ``aggregated-map``: the latest column of that model, per leverage tier (pair) or per
  exchange (coin).
* ``history``, ``aggregated-history``, ``coin-list``, ``exchange-list``, ``order``: realized liquidations
  from the stored prints (the ``liquidations`` table).
* ``max-pain``: per stored coin, the largest modelled long bin below price and short bin above it.

Parameter names are Coinglass's, plus the spellings real clients send (``ex`` for ``exchange``,
``currency`` / ``coin`` for ``symbol``, ``interval`` for a heatmap's ``range``, camelCase times);
unknown keys are ignored, as Coinglass does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from liqmap.errors import ConfigError, DataError, LiqmapError, StoreError
from liqmap.model.result import Heatmap
from liqmap.service import encode
from liqmap.service.api import Ctx, cached_json, get_heatmap, view_key
from liqmap.service.context import ServiceContext
from liqmap.service.encode import price_decimals, usd
from liqmap.service.params import ParamError, parse_ts
from liqmap.symbols import canonical
from liqmap.venues.registry import EXCHANGES, get_spec, venue_symbol
from liqmap.viewspec import VIEW

PREFIX = "/api/futures/liquidation"

# Coinglass's exchange names for ours (GET /api/futures/supported-exchanges spelling): each venue's title.
EXCHANGE_NAMES: dict[str, str] = {name: get_spec(name).title for name in EXCHANGES}
HEATMAP_RANGES: tuple[str, ...] = tuple(VIEW.ranges)  # the native views, by the same names
MAP_RANGES: tuple[str, ...] = ("1d", "7d", "30d")
HISTORY_INTERVALS: dict[str, int] = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
    "1w": 604_800_000,
}
LIST_WINDOWS: dict[str, int] = {"1h": 3_600_000, "4h": 14_400_000, "12h": 43_200_000, "24h": 86_400_000}
MAX_PAIN_RANGES: dict[str, str] = {  # Coinglass range -> the liqmap view it is read from
    "12h": "12h", "24h": "24h", "48h": "3d", "3d": "3d", "7d": "7d", "14d": "30d", "30d": "30d",
}
HISTORY_LIMIT_MAX = 4500  # the old docs and the live service; the current docs say 1000
ORDER_LIMIT = 200
QUOTE = re.compile(r"^(?P<base>[A-Z0-9]+?)[-_/]?(?P<quote>USDT|USDC|USD)(?:[-_.]?(?:PERP|SWAP|P|UMCBL))?$")


class CoinglassError(Exception):
    """An error answered as ``{"code": str(code), "msg": msg}`` (HTTP ``status``)."""

    def __init__(self, code: int, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


class Envelope(BaseModel):
    """Coinglass's envelope: ``code`` "0" and ``data`` on success; a non-zero ``code`` and ``msg`` on errors."""

    code: str = Field(description='"0" = success; otherwise an HTTP-like error code ("400", "404", ...)')
    msg: str = Field(description='"success", or what went wrong')
    data: Any = Field(default=None, description="The payload (absent on errors)")


def envelope_error(code: int, msg: str, status: int = 200) -> Response:
    return Response(encode.json_bytes({"code": str(code), "msg": msg}), status_code=status,
                    media_type="application/json")


def ok(data: Any) -> Response:
    return Response(encode.json_bytes({"code": "0", "msg": "success", "data": data}), media_type="application/json")


class CoinglassRoute(APIRoute):
    """Routes whose errors (validation included) come back in Coinglass's envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except CoinglassError as exc:
                return envelope_error(exc.code, exc.msg, exc.status)
            except RequestValidationError as exc:
                problems = [f"parameter '{_where(e)}': {e.get('msg')}" for e in exc.errors()]
                return envelope_error(400, "; ".join(problems) or "invalid request")
            except (ParamError, ConfigError) as exc:
                return envelope_error(400, str(exc))
            except DataError as exc:
                return envelope_error(404, f"no usable data: {exc}")
            except StoreError as exc:
                return envelope_error(503, f"store unavailable: {exc}", 503)
            except LiqmapError as exc:
                return envelope_error(500, f"{type(exc).__name__}: {exc}", 500)
            except HTTPException as exc:
                return envelope_error(exc.status_code, str(exc.detail), 200 if exc.status_code < 500 else 503)

        return handler


def _where(error: Any) -> str:
    return ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Envelope, "description": 'Success (`code` "0") or a business error (non-zero `code`, `msg`)'},
    404: {"model": Envelope, "description": "Unknown path under the prefix"},
    503: {"model": Envelope, "description": "The store failed"},
    "default": {"model": Envelope, "description": "Any other error, in the envelope (validation errors are "
                                                  'HTTP 200 with `code` "400")'},
}
router = APIRouter(prefix=PREFIX, tags=["coinglass-compatible"], route_class=CoinglassRoute, responses=RESPONSES)


# -- parameters -----------------------------------------------------------------------------------------

def _arg(request: Request, *names: str) -> str | None:
    """The first of ``names`` present in the query (documented name first, then client spellings)."""
    for name in names:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise CoinglassError(400, f"parameter '{name}' is given {len(values)} times; send it once")
        if values and values[0].strip() != "":
            return values[0].strip()
    return None


def _required(request: Request, *names: str) -> str:
    value = _arg(request, *names)
    if value is None:
        raise CoinglassError(400, f"Required String parameter '{names[0]}' is not present")
    return value


def _choice(value: str, accepted: Sequence[str], param: str) -> str:
    text = value.strip().lower()
    if text not in accepted:
        raise CoinglassError(400, f"parameter '{param}': unknown value {value!r}; accepted: {', '.join(accepted)}")
    return text


def _exchange(value: str, param: str = "exchange") -> str:
    name = value.strip().lower()
    if name not in EXCHANGES:
        raise CoinglassError(400, f"parameter '{param}': liqmap does not collect {value!r}; accepted: "
                                  f"{', '.join(EXCHANGE_NAMES.values())}")
    return name


def _held_quote(exchange: str) -> str:
    """The margin currency of the perpetual liqmap collects on ``exchange`` (Hyperliquid lists bare
    coins and settles in USDC)."""
    match = QUOTE.match(venue_symbol(exchange, "BTC").upper())
    return match.group("quote") if match else "USDC"


def pair_coin(exchange: str, symbol: str) -> str:
    """The coin of a pair request, refusing a pair of another margin currency than the one liqmap holds
    for that exchange (``BTCUSDC`` on Binance is not silently answered with the USDT perpetual)."""
    text = symbol.strip().upper()
    match = QUOTE.match(text)
    try:
        coin = canonical(match.group("base") if match else symbol)
    except ConfigError as exc:
        raise CoinglassError(400, f"parameter 'symbol': {exc}") from None
    held = _held_quote(exchange)
    accepted = {held, "USDC", "USD"} if held in ("USDC", "USD") else {held}
    if match and match.group("quote") not in accepted:
        native = venue_symbol(exchange, coin)
        raise CoinglassError(400, f"parameter 'symbol': liqmap collects {EXCHANGE_NAMES[exchange]}'s "
                                  f"{held}-margined perpetual {native} only; {symbol} ({match.group('quote')}) "
                                  "is not collected")
    return coin


def coin_of(symbol: str) -> str:
    """The coin of a coin (aggregated) request: a pair name is refused (its margin currency would be
    ignored over several exchanges)."""
    text = symbol.strip().upper()
    if QUOTE.match(text):
        raise CoinglassError(400, f"parameter 'symbol': coin endpoints take the base coin (BTC), not the pair {symbol}")
    try:
        return canonical(text)
    except ConfigError as exc:
        raise CoinglassError(400, f"parameter 'symbol': {exc}") from None


def _int_arg(request: Request, names: Sequence[str], what: str) -> int | None:
    value = _arg(request, *names)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise CoinglassError(400, f"parameter '{names[0]}': {value!r} is not {what}") from None


def _time(request: Request, *names: str) -> int | None:
    number = _int_arg(request, names, "a time in ms")
    try:
        return parse_ts(number, names[0])
    except ParamError as exc:
        raise CoinglassError(400, str(exc)) from None


def _limit(request: Request, default: int, hi: int) -> int:
    number = _int_arg(request, ("limit",), "an integer")
    if number is None:
        return default
    if not 1 <= number <= hi:
        raise CoinglassError(400, f"parameter 'limit': {number} is out of range 1..{hi}")
    return number


# -- rounding ---------------------------------------------------------------------------------------------

def _price_text(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


# -- heatmaps -----------------------------------------------------------------------------------------------

ModelP = Annotated[int, Path(ge=1, le=3, description="1, 2 or 3: all three serve liqmap's one model")]
ExchangeQ = Annotated[str | None, Query(description="Exchange, e.g. Binance (also accepted: `ex`)")]
PairQ = Annotated[str | None, Query(description="Pair, e.g. BTCUSDT (also accepted: `currency`, `coin`)")]
CoinQ = Annotated[str | None, Query(description="Coin, e.g. BTC (also accepted: `currency`, `coin`)")]
HeatRangeQ = Annotated[str | None, Query(description="12h, 24h, 3d, 7d, 30d, 90d, 180d, 1y (also `interval`); "
                                                      "default 3d")]


def _heatmap_range(request: Request) -> str:
    return _choice(_arg(request, "range", "interval") or "3d", HEATMAP_RANGES, "range")


@router.get("/heatmap/model{model}", summary="Pair liquidation heatmap (liqmap's model for every modelN)")
def pair_heatmap(ctx: Ctx, request: Request, model: ModelP, exchange: ExchangeQ = None, symbol: PairQ = None,
                 range: HeatRangeQ = None) -> Response:
    venue = _exchange(_required(request, "exchange", "ex"))
    coin = pair_coin(venue, _required(request, "symbol", "currency", "coin"))
    return get_heatmap(ctx, request, symbol=coin, exchanges=venue, range=_heatmap_range(request), format="coinglass")


@router.get("/aggregated-heatmap/model{model}",
            summary="Coin liquidation heatmap over every exchange (liqmap's model for every modelN)")
def coin_heatmap(ctx: Ctx, request: Request, model: ModelP, symbol: CoinQ = None, range: HeatRangeQ = None) -> Response:
    coin = coin_of(_required(request, "symbol", "currency", "coin"))
    return get_heatmap(ctx, request, symbol=coin, exchanges=None, range=_heatmap_range(request), format="coinglass")


# -- maps ---------------------------------------------------------------------------------------------------

MapRangeQ = Annotated[str | None, Query(description="1d, 7d, 30d (default 1d)")]


def _view(ctx: ServiceContext, coin: str, exchanges: str | None, range_: str, leverage: str | None = None) -> Heatmap:
    key = view_key(ctx, symbol=coin, exchanges=exchanges, range_=range_, end=None, leverage=leverage, age=None,
                   rows=None, columns=None)
    return ctx.cache.get(key, ctx.version)


def _price_map(heatmap: Heatmap, leverage: float | None) -> dict[str, list[list[Any]]]:
    """The latest column as Coinglass's ``{"<price>": [[price, usd, leverage, null]]}`` (long + short USD
    per bin, empty bins left out)."""
    snapshot = heatmap.column(-1)
    centers = snapshot.price_centers
    values = np.nan_to_num(snapshot.long) + np.nan_to_num(snapshot.short)
    decimals = price_decimals(centers)
    out: dict[str, list[list[Any]]] = {}
    for b in np.nonzero(np.round(values, 2) > 0)[0]:
        price = round(float(centers[b]), decimals)
        tier = None if leverage is None else int(leverage) if float(leverage).is_integer() else leverage
        out.setdefault(_price_text(price, decimals), []).append([price, usd(values[b]), tier, None])
    return out


@router.get("/map", summary="Pair liquidation map: the latest modelled levels per leverage tier")
def pair_map(ctx: Ctx, request: Request, exchange: ExchangeQ = None, symbol: PairQ = None,
             range: MapRangeQ = None) -> Response:
    venue = _exchange(_required(request, "exchange", "ex"))
    coin = pair_coin(venue, _required(request, "symbol", "currency", "coin"))
    range_ = _choice(_arg(request, "range", "interval") or "1d", MAP_RANGES, "range")
    tiers = [float(t) for t in ctx.config.leverage]

    def build() -> dict[str, Any]:
        merged: dict[str, list[list[Any]]] = {}
        for tier in tiers:
            for key, rows in _price_map(_view(ctx, coin, venue, range_, f"{tier:g}"), tier).items():
                merged.setdefault(key, []).extend(rows)
        return {"code": "0", "msg": "success", "data": {"data": merged}}

    return cached_json(ctx, request, ("cg-map", coin, venue, range_, ctx.version), build)


@router.get("/aggregated-map", summary="Coin liquidation map: the latest modelled levels per exchange")
def coin_map(ctx: Ctx, request: Request, symbol: CoinQ = None, range: MapRangeQ = None) -> Response:
    coin = coin_of(_required(request, "symbol", "currency", "coin"))
    range_ = _choice(_arg(request, "range", "interval") or "1d", MAP_RANGES, "range")

    def build() -> dict[str, Any]:
        from liqmap.ingest.frames import exchanges_with_bars

        held = [e for e in exchanges_with_bars(ctx.store, coin) if e in EXCHANGES]
        if not held:
            raise CoinglassError(404, f"no bars stored for {coin}")
        items = []
        last_price = None
        for venue in held:
            heatmap = _view(ctx, coin, venue, range_)
            last_price = heatmap.last_price if last_price is None else last_price
            items.append({"liqMapV2": _price_map(heatmap, None), "instrument": {
                "exName": EXCHANGE_NAMES[venue], "instrumentId": venue_symbol(venue, coin), "baseAsset": coin}})
        return {"code": "0", "msg": "success", "data": {"data": items, "last_price": last_price}}

    return cached_json(ctx, request, ("cg-aggmap", coin, range_, ctx.version), build)


# -- realized liquidations (stored prints) ---------------------------------------------------------------

def _prints(ctx: ServiceContext, coin: str | None, start: int | None, end: int | None,
            exchanges: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    filters: dict[str, Any] = {} if coin is None else {"symbol": coin}
    rows: dict[str, np.ndarray] = ctx.store.read(
        "liquidations", start=start, end=end,
        columns=["ts_event", "exchange", "symbol", "side", "price", "usd", "venue_symbol"], **filters)
    if exchanges is not None:
        keep = np.isin(rows["exchange"].astype(str), list(exchanges))
        rows = {k: v[keep] for k, v in rows.items()}
    return rows


def _history_rows(ctx: ServiceContext, request: Request, coin: str, exchanges: Sequence[str]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long and short USD liquidated per UTC-aligned ``interval`` bucket (the ``limit`` newest buckets
    between ``start_time`` and ``end_time``; empty buckets between prints are 0)."""
    step = HISTORY_INTERVALS[_choice(_required(request, "interval", "time_type", "timeType"),
                                     tuple(HISTORY_INTERVALS), "interval")]
    limit = _limit(request, 1000, HISTORY_LIMIT_MAX)
    start = _time(request, "start_time", "startTime")
    end = _time(request, "end_time", "endTime")
    prints = _prints(ctx, coin, start, end, exchanges)
    empty = np.zeros(0)
    if not len(prints["ts_event"]):
        return empty.astype(np.int64), empty, empty
    buckets = prints["ts_event"].astype(np.int64) // step * step
    first = int(buckets.min()) if start is None else max(int(buckets.min()), start // step * step)
    last = int(buckets.max())
    first = max(first, last - (limit - 1) * step)
    times = np.arange(first, last + step, step, dtype=np.int64)
    index = (buckets - first) // step
    keep = index >= 0
    is_long = prints["side"].astype(str) == "long"
    amounts = np.nan_to_num(prints["usd"].astype(np.float64))
    long_usd = np.bincount(index[keep & is_long], amounts[keep & is_long], minlength=len(times))
    short_usd = np.bincount(index[keep & ~is_long], amounts[keep & ~is_long], minlength=len(times))
    return times, long_usd, short_usd


IntervalQ = Annotated[str | None, Query(description="1m 3m 5m 15m 30m 1h 4h 6h 8h 12h 1d 1w")]
LimitQ = Annotated[int | None, Query(ge=1, le=HISTORY_LIMIT_MAX, description="Newest buckets, default 1000")]
StartQ = Annotated[int | None, Query(description="ms (also `startTime`)")]
EndTimeQ = Annotated[int | None, Query(description="ms (also `endTime`)")]


@router.get("/history", summary="Pair liquidation history (stored prints per interval)")
def pair_history(ctx: Ctx, request: Request, exchange: ExchangeQ = None, symbol: PairQ = None,
                 interval: IntervalQ = None, limit: LimitQ = None, start_time: StartQ = None,
                 end_time: EndTimeQ = None) -> Response:
    venue = _exchange(_required(request, "exchange", "ex"))
    coin = pair_coin(venue, _required(request, "symbol", "currency", "coin"))
    times, longs, shorts = _history_rows(ctx, request, coin, [venue])
    return ok([{"time": int(t), "long_liquidation_usd": _amount_text(lo), "short_liquidation_usd": _amount_text(sh)}
               for t, lo, sh in zip(times, longs, shorts, strict=True)])


def _amount_text(value: float) -> str:
    """History amounts travel as strings (as Coinglass sends them), to 5 decimals like its examples."""
    return f"{round(float(value), 5):.5f}".rstrip("0").rstrip(".")


def _exchange_list(request: Request) -> list[str]:
    text = _required(request, "exchange_list", "exchangeList", "exchanges", "exchange", "ex")
    return [_exchange(part, "exchange_list") for part in text.split(",") if part.strip()]


@router.get("/aggregated-history", summary="Coin liquidation history over a list of exchanges")
def coin_history(ctx: Ctx, request: Request,
                 exchange_list: Annotated[str | None, Query(description="Comma list, e.g. Binance,OKX")] = None,
                 symbol: CoinQ = None, interval: IntervalQ = None, limit: LimitQ = None,
                 start_time: StartQ = None, end_time: EndTimeQ = None) -> Response:
    venues = _exchange_list(request)
    coin = coin_of(_required(request, "symbol", "currency", "coin"))
    times, longs, shorts = _history_rows(ctx, request, coin, venues)
    return ok([{"time": int(t), "aggregated_long_liquidation_usd": round(float(lo), 5),
                "aggregated_short_liquidation_usd": round(float(sh), 5)}
               for t, lo, sh in zip(times, longs, shorts, strict=True)])


@router.get("/v2/history", summary="Older (v2/v3) coin liquidation history path, older field names")
def legacy_history(ctx: Ctx, request: Request, symbol: CoinQ = None, interval: IntervalQ = None,
                   ex: Annotated[str | None, Query(description="Exchange (default: every exchange)")] = None,
                   limit: LimitQ = None, endTime: EndTimeQ = None) -> Response:
    """Rows keyed ``t`` (ms), ``longLiquidationUsd`` / ``shortLiquidationUsd`` and the older fallbacks
    ``longVolUsd`` / ``shortVolUsd`` that consumers still read; ``timeType`` is accepted for ``interval``."""
    given = _arg(request, "ex", "exchange")
    venues = list(EXCHANGES) if given is None or given.lower() == "all" else [_exchange(given)]
    coin = coin_of(_required(request, "symbol", "currency", "coin"))
    times, longs, shorts = _history_rows(ctx, request, coin, venues)
    return ok([{"t": int(t), "longLiquidationUsd": usd(lo), "shortLiquidationUsd": usd(sh),
                "longVolUsd": usd(lo), "shortVolUsd": usd(sh)} for t, lo, sh in zip(times, longs, shorts, strict=True)])


@router.get("/v3/aggregated-history", summary="Older (v3) coin aggregated history path (`exchanges`)")
def legacy_aggregated_history(ctx: Ctx, request: Request,
                              exchanges: Annotated[str | None, Query(description="Comma list, e.g. Binance,OKX")] = None,
                              symbol: CoinQ = None, interval: IntervalQ = None, limit: LimitQ = None) -> Response:
    return coin_history(ctx, request)


def _latest_print(ctx: ServiceContext) -> int:
    """Rolling windows end at the newest stored print (a store of past data still answers)."""
    latest = ctx.store.latest_ts("liquidations")
    if latest is None:
        raise CoinglassError(404, "no liquidation prints stored")
    return int(latest) + 1


def _sums(prints: dict[str, np.ndarray], start: int) -> tuple[float, float]:
    recent = prints["ts_event"] >= start
    is_long = prints["side"].astype(str) == "long"
    amounts = np.nan_to_num(prints["usd"].astype(np.float64))
    return float(amounts[recent & is_long].sum()), float(amounts[recent & ~is_long].sum())


@router.get("/coin-list", summary="Per-coin liquidations over the last 1h / 4h / 12h / 24h")
def coin_list(ctx: Ctx, request: Request, exchange: ExchangeQ = None) -> Response:
    given = _arg(request, "exchange", "ex")
    venues = None if given is None or given.lower() == "all" else [_exchange(given)]
    end = _latest_print(ctx)
    prints = _prints(ctx, None, end - LIST_WINDOWS["24h"], end, venues)
    rows = []
    for coin in sorted(set(prints["symbol"].astype(str))):
        mine = {k: v[prints["symbol"].astype(str) == coin] for k, v in prints.items()}
        row: dict[str, Any] = {"symbol": coin}
        for label in ("24h", "12h", "4h", "1h"):
            long_usd, short_usd = _sums(mine, end - LIST_WINDOWS[label])
            row[f"liquidation_usd_{label}"] = usd(long_usd + short_usd)
            row[f"long_liquidation_usd_{label}"] = usd(long_usd)
            row[f"short_liquidation_usd_{label}"] = usd(short_usd)
        rows.append(row)
    rows.sort(key=lambda r: -r["liquidation_usd_24h"])
    return ok(rows)


@router.get("/exchange-list", summary="Per-exchange liquidations over a window (first row: All)")
def exchange_list(ctx: Ctx, request: Request, symbol: CoinQ = None,
                  range: Annotated[str | None, Query(description="1h, 4h, 12h, 24h")] = None) -> Response:
    window = LIST_WINDOWS[_choice(_required(request, "range", "interval"), tuple(LIST_WINDOWS), "range")]
    given = _arg(request, "symbol", "currency", "coin")
    coin = None if given is None else coin_of(given)
    end = _latest_print(ctx)
    prints = _prints(ctx, coin, end - window, end)

    def row(name: str, long_usd: float, short_usd: float) -> dict[str, Any]:
        # Both spellings: the documented one and the one the live service sends (many clients read it).
        return {"exchange": name, "liquidation_usd": usd(long_usd + short_usd),
                "long_liquidation_usd": usd(long_usd), "short_liquidation_usd": usd(short_usd),
                "longLiquidation_usd": usd(long_usd), "shortLiquidation_usd": usd(short_usd)}

    per = []
    for venue in sorted(set(prints["exchange"].astype(str))):
        mine = {k: v[prints["exchange"].astype(str) == venue] for k, v in prints.items()}
        per.append(row(EXCHANGE_NAMES.get(venue, venue), *_sums(mine, end - window)))
    per.sort(key=lambda r: -r["liquidation_usd"])
    return ok([row("All", *_sums(prints, end - window)), *per])


@router.get("/order", summary="Liquidation orders: stored prints (at most 200, newest first)")
def orders(ctx: Ctx, request: Request, exchange: ExchangeQ = None, symbol: CoinQ = None,
           min_liquidation_amount: Annotated[str | None, Query(description="USD threshold (default 0)")] = None,
           start_time: StartQ = None, end_time: EndTimeQ = None) -> Response:
    venue = _exchange(_required(request, "exchange", "ex"))
    text = _required(request, "symbol", "currency", "coin")
    coin = pair_coin(venue, text)
    threshold_text = _arg(request, "min_liquidation_amount", "minLiquidationAmount") or "0"
    try:
        threshold = float(threshold_text)
    except ValueError:
        threshold = float("nan")
    if not math.isfinite(threshold) or threshold < 0:
        raise CoinglassError(400, f"parameter 'min_liquidation_amount': {threshold_text!r} is not a USD amount")
    start = _time(request, "start_time", "startTime")
    end = _time(request, "end_time", "endTime")
    prints = _prints(ctx, coin, start, end, [venue])
    amounts = np.nan_to_num(prints["usd"].astype(np.float64))
    idx = np.nonzero(amounts >= threshold)[0][::-1][:ORDER_LIMIT]
    return ok([{
        "exchange_name": EXCHANGE_NAMES[venue].upper(),
        "symbol": str(prints["venue_symbol"][i]) or venue_symbol(venue, coin),
        "base_asset": coin,
        "price": float(prints["price"][i]),
        "usd_value": usd(amounts[i]),
        # REST convention: 1 = Buy, 2 = Sell; a long is liquidated by a sell order.
        "side": 2 if str(prints["side"][i]) == "long" else 1,
        "time": int(prints["ts_event"][i]),
    } for i in idx])


@router.get("/max-pain", summary="Per coin: the largest modelled long level below price and short level above")
def max_pain(ctx: Ctx, request: Request,
             range: Annotated[str | None, Query(description="12h 24h 48h 3d 7d 14d 30d (default 24h)")] = None
             ) -> Response:
    range_ = MAX_PAIN_RANGES[_choice(_arg(request, "range", "interval") or "24h", tuple(MAX_PAIN_RANGES), "range")]

    def build() -> dict[str, Any]:
        from liqmap.ingest.frames import exchanges_with_bars

        coins = sorted({s["symbol"] for s in ctx.store.inventory() if s["table"] == "bars"})
        rows = []
        for coin in coins:
            if not [e for e in exchanges_with_bars(ctx.store, coin) if e in EXCHANGES]:
                continue
            try:
                snapshot = _view(ctx, coin, None, range_).column(-1)
            except DataError:
                continue
            rows.append(max_pain_row(coin, snapshot))
        return {"code": "0", "msg": "success", "data": rows}

    return cached_json(ctx, request, ("cg-maxpain", range_, ctx.version), build)


def max_pain_row(coin: str, snapshot: Any) -> dict[str, Any]:
    """``long_max_pain_liq_price`` / ``_level``: the bin below price holding the most modelled long USD
    (its centre, its USD); the short pair likewise above price. 0 when a side holds nothing."""
    centers = snapshot.price_centers
    decimals = price_decimals(centers)
    row: dict[str, Any] = {"symbol": coin, "price": round(float(snapshot.price), decimals)}
    for side, values, mask in (("long", snapshot.long, centers <= snapshot.price),
                               ("short", snapshot.short, centers > snapshot.price)):
        masked = np.where(mask, np.nan_to_num(values), 0.0)
        b = int(np.argmax(masked)) if masked.size else 0
        found = masked.size and masked[b] > 0
        row[f"{side}_max_pain_liq_level"] = usd(masked[b]) if found else 0.0
        row[f"{side}_max_pain_liq_price"] = round(float(centers[b]), decimals) if found else 0.0
    return row


@router.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def not_found(request: Request, path: str) -> Response:
    """Any other path under the prefix: Coinglass's envelope instead of the native 404 body."""
    return envelope_error(404, f"Endpoint not found: {PREFIX}/{path}", 404)
