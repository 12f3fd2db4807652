"""Binance USDⓈ-M futures: spec and pure parsers.

Library coverage: REST is spoken with httpx through :mod:`liqmap.feed.rest` (not ccxt): we need raw
fields ccxt's unified OHLCV drops (taker-buy volume, trade count, quote volume) and the OI history's
USD value, and pointing ccxt at a mock needs its whole ``exchangeInfo``/``loadMarkets`` bootstrapping.
WebSocket is ours (websockets library). Margin tiers: ``/fapi/v1/leverageBracket`` is signed
(USER_DATA), so this venue has no public tier endpoint; shipped tier tables cover it.

Conventions applied here (reference §1):
* ``forceOrder`` ``S`` is the liquidation **order** side: SELL = a long was liquidated. We store the
  average fill price ``ap`` (``price_kind="average"``) and the accumulated filled quantity ``z``
  (falls back to the order price ``p``/quantity ``q`` when nothing is filled yet).
* Quantities are base coin (1 contract = 1 coin), so no contract conversion.
* ``aggTrade`` ``m`` = buyer is maker -> the taker sold.
* The stream sends at most one liquidation per symbol per second (a sample, reference §1.2.3).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from liqmap.errors import ParseError, VenueError
from liqmap.types import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Bar,
    Funding,
    Instrument,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PriceKind,
    Record,
    Side,
    Trade,
)
from liqmap.venues._spec import (
    Channel,
    Heartbeat,
    InstrumentNames,
    ParseContext,
    RestHistory,
    RestSnapshot,
    VenueSpec,
    load_json,
    ms,
    num,
    symbol_of,
)

EXCHANGE = "binance"
KLINE_INTERVALS = {MINUTE_MS: "1m", 5 * MINUTE_MS: "5m", 15 * MINUTE_MS: "15m", HOUR_MS: "1h",
                   4 * HOUR_MS: "4h", DAY_MS: "1d"}
_INTERVAL_MS = {v: k for k, v in KLINE_INTERVALS.items()}
_LIQ_SIDE: dict[str, Side] = {"SELL": "long", "BUY": "short"}


# -- WebSocket -----------------------------------------------------------------------------------


def subscribe(args: Sequence[str | dict[str, str]]) -> list[str]:
    """``SUBSCRIBE`` frames of at most 100 streams each (Binance allows 10 incoming messages/s)."""
    streams = [str(a) for a in args]
    return [
        json.dumps({"method": "SUBSCRIBE", "params": streams[i : i + 100], "id": i // 100 + 1})
        for i in range(0, len(streams), 100)
    ]


def parse_ws(raw: str | bytes, ts_recv: int, ctx: ParseContext) -> list[Record]:
    msg = load_json(raw)
    if isinstance(msg, dict) and "data" in msg and "stream" in msg:
        msg = msg["data"]
    if isinstance(msg, list):  # array payloads (e.g. !markPrice@arr): one event per element
        return [r for item in msg for r in parse_ws(json.dumps(item), ts_recv, ctx)]
    if not isinstance(msg, dict):
        raise ParseError("binance frame is not a JSON object", raw)
    if "result" in msg and "id" in msg:
        return []  # subscribe ack
    if "error" in msg:
        error = msg["error"] if isinstance(msg["error"], dict) else {"msg": msg["error"]}
        raise VenueError(f"binance: {error.get('msg')}", code=error.get("code"))
    try:
        event = msg["e"]
        handler = _HANDLERS[event]
    except KeyError:
        raise ParseError(f"binance: unknown event {msg.get('e')!r}", raw) from None
    try:
        return handler(msg, ts_recv, ctx)
    except (KeyError, TypeError, ValueError) as exc:  # ValueError: float()/int() of a non-number
        raise ParseError(f"binance {event}: missing/invalid field {exc}", raw) from None


def _force_order(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    o = msg["o"]
    vsym = o["s"]
    if not ctx.is_wanted(vsym):
        return []
    try:
        side = _LIQ_SIDE[o["S"]]
    except KeyError:
        raise ParseError(f"binance forceOrder: unknown side {o.get('S')!r}", json.dumps(msg)) from None
    filled = float(o.get("z", 0))
    avg = float(o.get("ap", 0))
    kind: PriceKind
    if filled > 0 and avg > 0:
        price, qty, kind = avg, filled, "average"
    else:
        price, qty, kind = float(o["p"]), float(o["q"]), "order"
    if not (price > 0 and qty > 0):  # also rejects NaN
        raise ParseError("binance forceOrder: non-positive or NaN price/quantity", json.dumps(msg))
    return [Liquidation(EXCHANGE, symbol_of(vsym), int(o["T"]), ts_recv, side, price, qty,
                        price * qty, kind, vsym)]


def _agg_trade(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    # The hottest path: plain float()/int() (a ValueError becomes a ParseError in parse_ws).
    vsym = msg["s"]
    price, qty = float(msg["p"]), float(msg["q"])
    if not (price > 0 and qty > 0):  # also rejects NaN
        raise ParseError("binance aggTrade: non-positive or NaN price/quantity", json.dumps(msg))
    return [Trade(EXCHANGE, symbol_of(vsym), int(msg["T"]), ts_recv, price, qty, "sell" if msg["m"] else "buy",
                  str(msg["a"]), vsym)]


def _mark_price(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    vsym = msg["s"]
    mark = num(msg["p"], "p", msg)
    ctx.state.setdefault("mark", {})[vsym] = mark
    index = msg.get("i")
    rate = msg.get("r")
    return [MarkPrice(EXCHANGE, symbol_of(vsym), ms(msg["E"], "E", msg), ts_recv, mark,
                      num(index, "i", msg) if index not in (None, "") else None,
                      num(rate, "r", msg) if rate not in (None, "") else None,
                      ms(msg["T"], "T", msg) if msg.get("T") else None, vsym)]


def _kline(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    k = msg["k"]
    if not k["x"]:
        return []  # only closed bars are stored
    vsym = k["s"]
    try:
        interval = _INTERVAL_MS[k["i"]]
    except KeyError:
        raise ParseError(f"binance kline: unsupported interval {k.get('i')!r}", json.dumps(msg)) from None
    return [Bar(EXCHANGE, symbol_of(vsym), interval, ms(k["t"], "t", msg), num(k["o"], "o", msg),
                num(k["h"], "h", msg), num(k["l"], "l", msg), num(k["c"], "c", msg), num(k["v"], "v", msg),
                ts_recv, num(k["q"], "q", msg), num(k["V"], "V", msg), int(k["n"]), "perp", vsym)]


_HANDLERS = {"forceOrder": _force_order, "aggTrade": _agg_trade, "markPriceUpdate": _mark_price,
             "kline": _kline}


# -- REST ----------------------------------------------------------------------------------------


def parse_klines(body: Any, vsym: str, ts_recv: int, ctx: ParseContext, interval_ms: int = MINUTE_MS) -> list[Record]:
    """``/fapi/v1/klines`` rows ``[open time, o, h, l, c, volume, close time, quote vol, trades,
    taker-buy base, taker-buy quote, ignore]``."""
    if not isinstance(body, list):
        raise ParseError("binance klines: body is not a list", json.dumps(body)[:2000])
    sym = symbol_of(vsym)
    out: list[Record] = []
    for row in body:
        try:
            if int(row[6]) >= ts_recv:
                continue  # the bar was still open when we received it; never store a partial bar
            out.append(Bar(EXCHANGE, sym, interval_ms, int(row[0]), float(row[1]), float(row[2]),
                           float(row[3]), float(row[4]), float(row[5]), ts_recv, float(row[7]),
                           float(row[9]), int(row[8]), "perp", vsym))
        except (IndexError, TypeError, ValueError):
            raise ParseError(f"binance klines: bad row {row!r}", json.dumps(row)) from None
    return out


def parse_oi_history(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``/futures/data/openInterestHist``: ``sumOpenInterest`` (base) and ``sumOpenInterestValue`` (USD)
    at ``timestamp`` (int or numeric string, both seen)."""
    if not isinstance(body, list):
        raise ParseError("binance openInterestHist: body is not a list", json.dumps(body)[:2000])
    sym = symbol_of(vsym)
    return [OpenInterest(EXCHANGE, sym, ms(r["timestamp"], "timestamp", r), ts_recv,
                         num(r["sumOpenInterest"], "sumOpenInterest", r),
                         num(r["sumOpenInterestValue"], "sumOpenInterestValue", r), vsym) for r in body]


def parse_funding(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    if not isinstance(body, list):
        raise ParseError("binance fundingRate: body is not a list", json.dumps(body)[:2000])
    sym = symbol_of(vsym)
    return [Funding(EXCHANGE, sym, ms(r["fundingTime"], "fundingTime", r), ts_recv,
                    num(r["fundingRate"], "fundingRate", r), None, vsym) for r in body]


def parse_open_interest(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``/fapi/v1/openInterest`` (base coin); USD from the last streamed mark price when known."""
    try:
        oi = num(body["openInterest"], "openInterest", body)
        mark = ctx.state.get("mark", {}).get(body["symbol"])
        return [OpenInterest(EXCHANGE, symbol_of(body["symbol"]), ms(body["time"], "time", body), ts_recv,
                             oi, oi * mark if mark else None, body["symbol"])]
    except (KeyError, TypeError):
        raise ParseError("binance openInterest: missing field", json.dumps(body)[:2000]) from None


def parse_instruments(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``/fapi/v1/exchangeInfo``: USDT perpetuals; tick from PRICE_FILTER, lot from LOT_SIZE."""
    out: list[Record] = []
    try:
        for s in body["symbols"]:
            if s.get("contractType") != "PERPETUAL" or s.get("quoteAsset") != "USDT":
                continue
            if vsym and s["symbol"] != vsym:
                continue
            filters = {f["filterType"]: f for f in s.get("filters", [])}
            out.append(Instrument(EXCHANGE, symbol_of(s["symbol"]), s["symbol"], 1.0,
                                  float(filters["PRICE_FILTER"]["tickSize"]),
                                  float(filters["LOT_SIZE"]["stepSize"]), None, "USDT"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"binance exchangeInfo: {exc}", json.dumps(body)[:2000]) from None
    return out


# -- files (data.binance.vision kline CSVs; read by liqmap.ingest.binance and liqmap.feed.archive) -----------

VISION_KLINE_COLUMNS: tuple[str, ...] = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
"""The header of a data.binance.vision kline CSV (older files have none; the columns are the same)."""
_VISION = {name: i for i, name in enumerate(VISION_KLINE_COLUMNS)}
_MICROSECONDS = 10**14
"""A kline time above this is in µs (spot archives since 2025), not ms (ms reach it in the year 5138)."""


@dataclass(frozen=True)
class KlineRows:
    """The checked rows of one kline file: its bar interval, the rows to store (ascending; exact duplicate
    rows dropped) and how many duplicates were dropped."""

    interval_ms: int
    keep: np.ndarray
    duplicates: int


def check_klines(
    open_ms: np.ndarray,
    close_ms: np.ndarray,
    ohlc: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    same_row: Callable[[int, int], bool],
    *,
    expected_ms: int | None = None,
    where: Callable[[int], str] = lambda i: f"row {i}",
) -> KlineRows:
    """The checks every Binance kline file passes, whatever its spelling (vision, camel-case, ISO) or path
    (``liqmap import``, ``liqmap archive``). Pure: arrays in, :class:`KlineRows` out.

    * The interval is the file's most common bar length :math:`\\Delta = t_{close} - t_{open} + 1`
      (ms); every bar must have it, and it must equal ``expected_ms`` (the file name's or the archive's
      interval) when given.
    * Two rows for the same open time: exact duplicates (``same_row(a, b)``; merged exports repeat month
      boundaries) are dropped, different ones are refused.
    * Prices: :math:`\\min(o, h, l, c) > 0`, :math:`h \\ge \\max(o, c)`, :math:`l \\le \\min(o, c)`.

    Raises :class:`ParseError` whose ``row`` is the offending row's index (None for a whole-file problem);
    ``where(i)`` names row ``i`` in a message about another row (``line 12``).
    """
    steps = close_ms - open_ms + 1
    values, counts = np.unique(steps, return_counts=True)
    interval = int(values[counts.argmax()])
    odd = np.flatnonzero(steps != interval)
    if odd.size:
        raise ParseError(f"bar length {int(steps[odd[0]])} ms differs from the file's {interval} ms", row=int(odd[0]))
    if expected_ms is not None and expected_ms != interval:
        raise ParseError(f"file name says {expected_ms} ms bars but close-open times give {interval} ms")
    order = np.argsort(open_ms, kind="stable")
    keep = np.ones(len(order), dtype=bool)
    dup = np.flatnonzero(np.diff(open_ms[order]) == 0)
    for j in dup:
        a, b = int(order[j]), int(order[j + 1])
        if not same_row(a, b):
            raise ParseError(f"two different rows for the bar opening at {int(open_ms[a])} (see {where(a)})", row=b)
        keep[b] = False
    idx = np.sort(np.flatnonzero(keep))
    o, h, lo, c = (column[idx] for column in ohlc)
    bad = (np.minimum.reduce([o, h, lo, c]) <= 0) | (h < np.maximum(o, c)) | (lo > np.minimum(o, c))
    if bad.any():
        raise ParseError("prices non-positive or high/low do not bracket open/close", row=int(idx[np.argmax(bad)]))
    return KlineRows(interval, idx, int(dup.size))


def vision_klines(
    rows: Sequence[Sequence[str]],
    header: Sequence[str] | None,
    *,
    expected_ms: int | None = None,
    where: Callable[[int], str] = lambda i: f"row {i}",
) -> tuple[KlineRows, dict[str, np.ndarray]]:
    """A data.binance.vision kline CSV's rows (cells as text; ``header`` None for older files) as the
    checked :class:`KlineRows` and the :class:`~liqmap.types.Bar` columns of every row (index them with
    ``KlineRows.keep``): ``ts_event open high low close volume quote_volume trades taker_buy_volume``.
    Times in µs are scaled to ms. Raises :class:`ParseError` with the ``row`` at fault."""
    if header is not None and tuple(c.strip() for c in header) != VISION_KLINE_COLUMNS:
        raise ParseError(f"unexpected header {tuple(header)}", row=None)
    if not rows:
        raise ParseError("no data rows")
    width = len(VISION_KLINE_COLUMNS)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ParseError(f"expected {width} columns, got {len(row)}", row=i)
    floats = {name: _column(rows, _VISION[key], float, i_name=key)
              for name, key in (("open", "open"), ("high", "high"), ("low", "low"), ("close", "close"),
                                ("volume", "volume"), ("quote_volume", "quote_volume"),
                                ("taker_buy_volume", "taker_buy_volume"))}
    times = {key: _column(rows, _VISION[key], int, i_name=key) for key in ("open_time", "close_time")}
    open_ms, close_ms = (np.where(t > _MICROSECONDS, t // 1000, t) for t in (times["open_time"], times["close_time"]))
    trades = _column(rows, _VISION["count"], int, i_name="count")
    raw = [tuple(row) for row in rows]
    checked = check_klines(open_ms, close_ms, (floats["open"], floats["high"], floats["low"], floats["close"]),
                           lambda a, b: raw[a] == raw[b], expected_ms=expected_ms, where=where)
    return checked, {"ts_event": open_ms, **floats, "trades": trades}


def vision_metrics(rows: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
    """A data.binance.vision ``metrics`` CSV's rows (``create_time`` UTC ``YYYY-MM-DD HH:MM:SS``, symbol,
    ``sum_open_interest`` base coin, ``sum_open_interest_value`` USD, ...) as
    :class:`~liqmap.types.OpenInterest` columns ``ts_event oi_base oi_usd``. ParseError with the ``row``."""
    import datetime as dt

    _width(rows, 4)
    times = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        try:
            when = dt.datetime.strptime(row[0].strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
        except ValueError:
            raise ParseError(f"create_time: {row[0]!r} is not YYYY-MM-DD HH:MM:SS", row=i) from None
        times[i] = int(when.timestamp() * 1000)
    return {"ts_event": times, "oi_base": _column(rows, 2, float, i_name="sum_open_interest"),
            "oi_usd": _column(rows, 3, float, i_name="sum_open_interest_value")}


def vision_agg_trades(rows: Sequence[Sequence[str]]) -> dict[str, Any]:
    """A data.binance.vision ``aggTrades`` CSV's rows (agg_trade_id, price, quantity, first_trade_id,
    last_trade_id, transact_time, is_buyer_maker) as :class:`~liqmap.types.Trade` columns; a buyer-maker
    trade's taker sold. ParseError with the ``row``."""
    _width(rows, 7)
    maker = {"true": "sell", "false": "buy"}
    sides: list[str] = []
    for i, row in enumerate(rows):
        side = maker.get(row[6].strip().lower())
        if side is None:
            raise ParseError(f"is_buyer_maker: {row[6]!r} is not true or false", row=i)
        sides.append(side)
    return {"trade_id": [row[0].strip() for row in rows], "price": _column(rows, 1, float, i_name="price"),
            "quantity": _column(rows, 2, float, i_name="quantity"),
            "ts_event": _column(rows, 5, int, i_name="transact_time"), "taker_side": sides}


def _width(rows: Sequence[Sequence[str]], least: int) -> None:
    for i, row in enumerate(rows):
        if len(row) < least:
            raise ParseError(f"expected at least {least} columns, got {len(row)}", row=i)


def _column(rows: Sequence[Sequence[str]], index: int, kind: type[float] | type[int], *, i_name: str) -> np.ndarray:
    """Column ``index`` of ``rows`` as float64 / int64 (in one pass; cell by cell only to name the first bad
    one); ParseError naming the column and row otherwise."""
    dtype = np.float64 if kind is float else np.int64
    cells = [row[index] for row in rows]
    try:
        out: np.ndarray = np.fromiter(map(kind, cells), dtype=dtype, count=len(cells))
    except (ValueError, OverflowError):
        out = np.empty(len(cells), dtype=dtype)
        for i, cell in enumerate(cells):
            try:
                out[i] = kind(cell)
            except (ValueError, OverflowError):
                what = "a number" if kind is float else "an integer"
                raise ParseError(f"{i_name}: {cell!r} is not {what}", row=i) from None
    if kind is float and not np.isfinite(out).all():
        i = int(np.flatnonzero(~np.isfinite(out))[0])
        raise ParseError(f"{i_name}: {cells[i]!r} is not a number", row=i)
    return out


def _kline_params(vsym: str, start: int, end: int, limit: int) -> dict[str, Any]:
    return {"symbol": vsym, "interval": "1m", "startTime": start, "endTime": end, "limit": limit}


SPEC = VenueSpec(
    name=EXCHANGE,
    title="Binance",
    instruments=InstrumentNames("{base}USDT"),
    rest_url="https://fapi.binance.com",
    # Since 2026-04-23 regular market streams live under /market (reference §1.2.1).
    ws_urls={"public": "wss://fstream.binance.com/market/stream"},
    channels={
        "trades": Channel("trades", "{lower}@aggTrade"),
        "liquidations": Channel("liquidations", "{lower}@forceOrder"),
        "klines": Channel("klines", "{lower}@kline_{interval}"),
        "mark": Channel("mark", "{lower}@markPrice@1s"),
    },
    subscribe=subscribe,
    parse_ws=parse_ws,
    # Binance pings with protocol frames every 3 min; websockets answers them. markPrice@1s keeps
    # the socket busy, so 30 s of silence means a stalled connection.
    heartbeat=Heartbeat(client_ping=None, interval_s=180.0, stale_after_s=30.0),
    max_streams_per_connection=200,
    kline_intervals=KLINE_INTERVALS,
    history={
        "klines": RestHistory("klines", "/fapi/v1/klines", 1500, MINUTE_MS, _kline_params, parse_klines,
                              min_interval_s=0.25),
        "open_interest": RestHistory(
            "open_interest", "/futures/data/openInterestHist", 500, 5 * MINUTE_MS,
            lambda s, a, b, n: {"symbol": s, "period": "5m", "startTime": a, "endTime": b, "limit": n},
            parse_oi_history, min_interval_s=0.3, max_age_ms=30 * DAY_MS),
        "funding": RestHistory(
            "funding", "/fapi/v1/fundingRate", 1000, HOUR_MS,
            lambda s, a, b, n: {"symbol": s, "startTime": a, "endTime": b, "limit": n},
            parse_funding, min_interval_s=0.6),
    },
    snapshots={
        "instruments": RestSnapshot("instruments", "/fapi/v1/exchangeInfo", lambda s: {}, parse_instruments),
        "open_interest": RestSnapshot("open_interest", "/fapi/v1/openInterest", lambda s: {"symbol": s},
                                      parse_open_interest),
    },
    oi_poll_s=10.0,
    capabilities=frozenset({"liquidations", "liquidations_sampled", "trades", "klines", "mark", "oi_poll"}),
    notes="forceOrder: at most one liquidation per symbol per second; no public margin tiers.",
)
