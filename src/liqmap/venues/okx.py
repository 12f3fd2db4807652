"""OKX v5 USDT-margined swaps: spec and pure parsers.

Library coverage: REST with httpx via :mod:`liqmap.feed.rest` (not ccxt: we need ``ctVal`` applied in
one place, ``volCcy`` base volumes and the rubik OI history's coin column; ccxt against a mock would need
its full market bootstrap); WebSocket is ours (websockets).

Conventions applied here (reference §3):
* Sizes on SWAP are **contracts**: base = contracts x ``ctVal`` x ``ctMult`` from ``/public/instruments``
  (``ctx.instruments``; an unknown instrument is a ParseError, never a guess).
* ``liquidation-orders``: ``side`` is the liquidation **order** side (buy => a short was liquidated);
  ``bkPx`` is the bankruptcy price. The channel is venue-wide (by instType) and sampled: at most one
  order per contract per second. Items outside ``ctx.wanted`` are skipped.
* Candles live on ``/ws/v5/business``; only confirmed (``confirm == "1"``) candles are emitted; volume is
  ``volCcy`` (base), quote volume ``volCcyQuote``.
* ``funding-rate`` only updates ``ctx.state`` (predicted rate, next funding time); it is attached to the
  next ``mark-price`` record. Settled funding comes from REST history (``realizedRate``).
* Every number and timestamp is a string.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from liqmap.errors import ParseError, RateLimitError, TransportError, VenueError
from liqmap.types import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Bar,
    Funding,
    Instrument,
    Liquidation,
    MarginTier,
    MarkPrice,
    OpenInterest,
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
    default_check,
    load_json,
    ms,
    num,
    symbol_of,
)

EXCHANGE = "okx"
KLINE_INTERVALS = {MINUTE_MS: "1m", 5 * MINUTE_MS: "5m", 15 * MINUTE_MS: "15m", HOUR_MS: "1H",
                   4 * HOUR_MS: "4Hutc", DAY_MS: "1Dutc"}
_INTERVAL_MS = {**{v: k for k, v in KLINE_INTERVALS.items()}, "4H": 4 * HOUR_MS, "1D": DAY_MS}
_LIQ_SIDE: dict[str, Side] = {"sell": "long", "buy": "short"}


def subscribe(args: Sequence[str | dict[str, str]]) -> list[str]:
    return [json.dumps({"op": "subscribe", "args": list(args[i : i + 50])}) for i in range(0, len(args), 50)]


def parse_ws(raw: str | bytes, ts_recv: int, ctx: ParseContext) -> list[Record]:
    if raw == "pong":
        return []
    msg = load_json(raw)
    if not isinstance(msg, dict):
        raise ParseError("okx frame is not a JSON object", raw)
    event = msg.get("event")
    if event == "error":
        raise VenueError(f"okx error {msg.get('code')}: {msg.get('msg')}", code=msg.get("code"))
    if event is not None:
        return []  # subscribe/unsubscribe ack, notice
    try:
        channel = msg["arg"]["channel"]
        data = msg["data"]
    except (KeyError, TypeError):
        raise ParseError("okx frame without arg.channel/data", raw) from None
    handler = _HANDLERS.get(channel) or (_candle if channel.startswith("candle") else None)
    if handler is None:
        raise ParseError(f"okx: unknown channel {channel!r}", raw)
    try:
        return handler(msg, data, ts_recv, ctx)
    except (KeyError, TypeError, IndexError) as exc:
        raise ParseError(f"okx {channel}: missing/invalid field {exc}", raw) from None


def _trades(msg: dict[str, Any], data: list[Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for t in data:
        vsym = t["instId"]
        side = t["side"]
        if side not in ("buy", "sell"):
            raise ParseError(f"okx trades: unknown side {side!r}", json.dumps(msg))
        out.append(Trade(EXCHANGE, symbol_of(vsym), ms(t["ts"], "ts", msg), ts_recv, num(t["px"], "px", msg),
                         num(t["sz"], "sz", msg) * ctx.contract_size(vsym), side, str(t["tradeId"]), vsym))
    return out


def _liquidations(msg: dict[str, Any], data: list[Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for item in data:
        vsym = item["instId"]
        if not ctx.is_wanted(vsym) or item.get("instType", "SWAP") != "SWAP":
            continue
        size = ctx.contract_size(vsym)
        for d in item["details"]:
            try:
                side = _LIQ_SIDE[d["side"]]
            except KeyError:
                raise ParseError(f"okx liquidation-orders: unknown side {d.get('side')!r}", json.dumps(msg)) from None
            price, qty = num(d["bkPx"], "bkPx", msg), num(d["sz"], "sz", msg) * size
            out.append(Liquidation(EXCHANGE, symbol_of(vsym), ms(d["ts"], "ts", msg), ts_recv, side, price, qty,
                                   price * qty, "bankruptcy", vsym))
    return out


def _candle(msg: dict[str, Any], data: list[Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    arg = msg["arg"]
    confirmed = [row for row in data if row[8] == "1"]
    if not confirmed:
        return []
    bar = arg["channel"].removeprefix("candle")
    try:
        interval = _INTERVAL_MS[bar]
    except KeyError:
        raise ParseError(f"okx candles: unsupported bar {bar!r}", json.dumps(msg)) from None
    vsym = arg["instId"]
    return [_bar(row, vsym, interval, ts_recv) for row in confirmed]


def _bar(row: list[Any], vsym: str, interval: int, ts_recv: int) -> Bar:
    """Row ``[ts, o, h, l, c, vol(contracts), volCcy(base), volCcyQuote, confirm]``."""
    try:
        return Bar(EXCHANGE, symbol_of(vsym), interval, int(row[0]), float(row[1]), float(row[2]), float(row[3]),
                   float(row[4]), float(row[6]), ts_recv, float(row[7]), None, None, "perp", vsym)
    except (IndexError, TypeError, ValueError):
        raise ParseError(f"okx candle: bad row {row!r}", json.dumps(row)) from None


def _mark(msg: dict[str, Any], data: list[Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    funding = ctx.state.setdefault("funding", {})
    for d in data:
        vsym = d["instId"]
        mark = num(d["markPx"], "markPx", msg)
        ctx.state.setdefault("mark", {})[vsym] = mark
        rate, next_ts = funding.get(vsym, (None, None))
        out.append(MarkPrice(EXCHANGE, symbol_of(vsym), ms(d["ts"], "ts", msg), ts_recv, mark, None, rate, next_ts,
                             vsym))
    return out


def _funding(msg: dict[str, Any], data: list[Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    funding = ctx.state.setdefault("funding", {})
    for d in data:
        funding[d["instId"]] = (num(d["fundingRate"], "fundingRate", msg), ms(d["fundingTime"], "fundingTime", msg))
    return []


def _open_interest(msg: dict[str, Any], data: list[Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    return [OpenInterest(EXCHANGE, symbol_of(d["instId"]), ms(d["ts"], "ts", msg), ts_recv,
                         num(d["oiCcy"], "oiCcy", msg), num(d["oiUsd"], "oiUsd", msg), d["instId"]) for d in data]


_HANDLERS = {"trades": _trades, "liquidation-orders": _liquidations, "mark-price": _mark,
             "funding-rate": _funding, "open-interest": _open_interest}


# -- REST ----------------------------------------------------------------------------------------


def check_response(status: int, headers: Any, body: Any) -> None:
    """``code`` "0" = ok; 50011 = rate limit (HTTP 200 or 429); 50001/50026 = service down (retry)."""
    if isinstance(body, dict) and str(body.get("code", "0")) == "50011":
        raise RateLimitError(f"okx 50011: {body.get('msg')}", retry_after=None)
    default_check(status, headers, body)
    if isinstance(body, dict) and str(body.get("code", "0")) != "0":
        code = str(body.get("code"))
        if code in ("50001", "50026", "50013"):
            raise TransportError(f"okx {code}: {body.get('msg')}")
        raise VenueError(f"okx {code}: {body.get('msg')}", code=code)


def _data(body: Any, what: str) -> list[Any]:
    try:
        data = body["data"]
    except (KeyError, TypeError):
        raise ParseError(f"okx {what}: no data", json.dumps(body)[:2000]) from None
    if not isinstance(data, list):
        raise ParseError(f"okx {what}: data is not a list", json.dumps(body)[:2000])
    return data


def parse_candles(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    bars = [_bar(row, vsym, MINUTE_MS, ts_recv) for row in _data(body, "candles") if row[8] == "1"]
    bars.sort(key=lambda b: b.ts_event)
    return list(bars)


def parse_oi_history(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """Rubik rows ``[ts, oi(contracts), oiCcy(coin), oiUsd]``."""
    sym = symbol_of(vsym)
    out: list[Record] = []
    for row in _data(body, "open-interest-history"):
        try:
            out.append(OpenInterest(EXCHANGE, sym, int(row[0]), ts_recv, float(row[2]), float(row[3]), vsym))
        except (IndexError, TypeError, ValueError):
            raise ParseError(f"okx open-interest-history: bad row {row!r}", json.dumps(row)) from None
    out.sort(key=attrgetter("ts_event"))  # every record these build has a ts_event
    return out


def parse_funding(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``realizedRate`` (the settled rate) when present, else ``fundingRate``."""
    out: list[Record] = []
    for row in _data(body, "funding-rate-history"):
        rate = row.get("realizedRate") or row["fundingRate"]
        out.append(Funding(EXCHANGE, symbol_of(row["instId"]), ms(row["fundingTime"], "fundingTime", row), ts_recv,
                           num(rate, "realizedRate", row), None, row["instId"]))
    out.sort(key=attrgetter("ts_event"))  # every record these build has a ts_event
    return out


def parse_instruments(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """Linear USDT swaps; ``contract_size = ctVal x ctMult`` (base coin), lot size in base coin."""
    out: list[Record] = []
    for s in _data(body, "instruments"):
        try:
            if s.get("ctType") != "linear" or s.get("settleCcy") != "USDT" or s.get("instType") != "SWAP":
                continue
            size = float(s["ctVal"]) * float(s.get("ctMult") or 1)
            out.append(Instrument(EXCHANGE, symbol_of(s["instId"]), s["instId"], size, float(s["tickSz"]),
                                  float(s["lotSz"]) * size, float(s["lever"]) if s.get("lever") else None, "USDT"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(f"okx instruments: {exc}", json.dumps(s)) from None
    return out


def parse_mark(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    return _mark({"arg": {}}, _data(body, "mark-price"), ts_recv, ctx)


def parse_position_tiers(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """Tiers are in contracts: USD notional = contracts x contract size x mark price (``ctx.state["mark"]``,
    fetched first). OKX has no maintenance deduction: the tier's mmr applies to the whole position."""
    rows = _data(body, "position-tiers")  # requested per instFamily: all rows belong to vsym
    mark = ctx.state.get("mark", {}).get(vsym)
    if not mark:
        raise ParseError(f"okx position-tiers: no mark price for {vsym} to convert contracts to USD")
    usd_per_contract = ctx.contract_size(vsym) * mark
    return [MarginTier(EXCHANGE, symbol_of(vsym), int(r["tier"]), num(r["minSz"], "minSz", r) * usd_per_contract,
                       num(r["maxSz"], "maxSz", r) * usd_per_contract, num(r["mmr"], "mmr", r), 0.0,
                       num(r["maxLever"], "maxLever", r)) for r in rows]


SPEC = VenueSpec(
    name=EXCHANGE,
    title="OKX",
    instruments=InstrumentNames("{base}-USDT-SWAP"),
    rest_url="https://www.okx.com",
    ws_urls={"public": "wss://ws.okx.com:8443/ws/v5/public", "business": "wss://ws.okx.com:8443/ws/v5/business"},
    channels={
        "trades": Channel("trades", {"channel": "trades", "instId": "{venue_symbol}"}),
        "liquidations": Channel("liquidations", {"channel": "liquidation-orders", "instType": "SWAP"},
                                per_symbol=False),
        "klines": Channel("klines", {"channel": "candle{interval}", "instId": "{venue_symbol}"}, endpoint="business"),
        "mark": Channel("mark", {"channel": "mark-price", "instId": "{venue_symbol}"}),
        "funding": Channel("funding", {"channel": "funding-rate", "instId": "{venue_symbol}"}),
        "open_interest": Channel("open_interest", {"channel": "open-interest", "instId": "{venue_symbol}"}),
    },
    subscribe=subscribe,
    parse_ws=parse_ws,
    # OKX drops a connection idle for 30 s: send "ping" well before, expect "pong".
    heartbeat=Heartbeat(client_ping="ping", interval_s=20.0, stale_after_s=28.0, pong="pong"),
    max_streams_per_connection=100,
    kline_intervals=KLINE_INTERVALS,
    history={
        # after/before are exclusive bounds on ts: rows in (before, after)
        "klines": RestHistory(
            "klines", "/api/v5/market/history-candles", 100, MINUTE_MS,
            lambda s, a, b, n: {"instId": s, "bar": "1m", "after": b + 1, "before": a - 1, "limit": n},
            parse_candles, min_interval_s=0.1),
        "open_interest": RestHistory(
            "open_interest", "/api/v5/rubik/stat/contracts/open-interest-history", 100, 5 * MINUTE_MS,
            lambda s, a, b, n: {"instId": s, "period": "5m", "begin": a, "end": b, "limit": n},
            parse_oi_history, min_interval_s=0.2, max_age_ms=1440 * 5 * MINUTE_MS),
        "funding": RestHistory(
            "funding", "/api/v5/public/funding-rate-history", 100, HOUR_MS,
            lambda s, a, b, n: {"instId": s, "after": b + 1, "before": a - 1, "limit": n},
            parse_funding, min_interval_s=0.2, max_age_ms=90 * DAY_MS),
    },
    snapshots={
        "instruments": RestSnapshot("instruments", "/api/v5/public/instruments", lambda s: {"instType": "SWAP"},
                                    parse_instruments),
        "mark": RestSnapshot("mark", "/api/v5/public/mark-price", lambda s: {"instType": "SWAP", "instId": s},
                             parse_mark),
        "margin_tiers": RestSnapshot(
            "margin_tiers", "/api/v5/public/position-tiers",
            lambda s: {"instType": "SWAP", "tdMode": "isolated", "instFamily": s.removesuffix("-SWAP")},
            parse_position_tiers, min_interval_s=0.2),
    },
    check_response=check_response,
    capabilities=frozenset({"liquidations", "liquidations_sampled", "trades", "klines", "mark", "oi_ws",
                            "tiers_public", "contracts"}),
    notes="liquidation-orders: at most one order per contract per second; sizes in contracts (ctVal).",
)
