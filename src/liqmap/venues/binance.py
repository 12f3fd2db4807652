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
from collections.abc import Sequence
from typing import Any

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
