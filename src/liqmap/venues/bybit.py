"""Bybit v5 linear perpetuals: spec and pure parsers.

Library coverage: REST with httpx via :mod:`liqmap.feed.rest` (not ccxt: ccxt's OI history drops
``singleOpenInterest`` and its OHLCV drops turnover; pointing it at a mock needs its market bootstrap);
WebSocket is ours (websockets).

Conventions applied here (reference §2, checked against bybit-exchange/docs
``docs/v5/websocket/public/all-liquidation.mdx``):
* ``allLiquidation`` ``S``: "When you receive a ``Buy`` update, this means that a long position has been
  liquidated" -> ``Buy`` = long, ``Sell`` = short (the opposite of Binance's order side). ``p`` is the
  **bankruptcy** price (``price_kind="bankruptcy"``), ``v`` the executed size in base coin.
* Open interest: ``openInterest`` is documented as the sum of both sides; we store one side:
  ``singleOpenInterest`` when present, else ``openInterest / 2`` (a recorded response shows exactly 2x).
* ``tickers`` is a snapshot followed by deltas where a missing field means unchanged: merged in
  ``ctx.state["tickers"]``; a MarkPrice is emitted when a frame carries ``markPrice``, an OpenInterest
  when it carries ``openInterest``, each at most once per second per symbol (tickers push every 100 ms).
* REST lists are newest first; only closed klines are kept.
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

EXCHANGE = "bybit"
KLINE_INTERVALS = {MINUTE_MS: "1", 5 * MINUTE_MS: "5", 15 * MINUTE_MS: "15", HOUR_MS: "60", 4 * HOUR_MS: "240",
                   DAY_MS: "D"}
_INTERVAL_MS = {v: k for k, v in KLINE_INTERVALS.items()}
_LIQ_SIDE: dict[str, Side] = {"Buy": "long", "Sell": "short"}
TICKER_EVERY_MS = 1000
_TAKER = {"Buy": "buy", "Sell": "sell"}


def subscribe(args: Sequence[str | dict[str, str]]) -> list[str]:
    """``{"op":"subscribe","args":[...]}``, 10 topics per request (args must stay < 21,000 chars)."""
    topics = [str(a) for a in args]
    return [json.dumps({"req_id": f"sub{i // 10}", "op": "subscribe", "args": topics[i : i + 10]})
            for i in range(0, len(topics), 10)]


def parse_ws(raw: str | bytes, ts_recv: int, ctx: ParseContext) -> list[Record]:
    msg = load_json(raw)
    if not isinstance(msg, dict):
        raise ParseError("bybit frame is not a JSON object", raw)
    if "op" in msg:
        if msg.get("success") is False:
            raise VenueError(f"bybit {msg.get('op')}: {msg.get('ret_msg')}", code=msg.get("ret_msg"))
        return []  # subscribe ack / pong
    topic = msg.get("topic")
    if not isinstance(topic, str):
        raise ParseError("bybit frame without topic", raw)
    head = topic.split(".", 1)[0]
    handler = _HANDLERS.get(head)
    if handler is None:
        raise ParseError(f"bybit: unknown topic {topic!r}", raw)
    try:
        return handler(msg, ts_recv, ctx)
    except (KeyError, TypeError, IndexError) as exc:
        raise ParseError(f"bybit {head}: missing/invalid field {exc}", raw) from None


def _trades(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for t in msg["data"]:
        try:
            side = _TAKER[t["S"]]
        except KeyError:
            raise ParseError(f"bybit publicTrade: unknown side {t.get('S')!r}", json.dumps(msg)) from None
        out.append(Trade(EXCHANGE, symbol_of(t["s"]), ms(t["T"], "T", msg), ts_recv, num(t["p"], "p", msg),
                         num(t["v"], "v", msg), side, str(t["i"]), t["s"]))  # type: ignore[arg-type]
    return out


def _liquidations(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for d in msg["data"]:
        vsym = d["s"]
        if not ctx.is_wanted(vsym):
            continue
        try:
            side = _LIQ_SIDE[d["S"]]
        except KeyError:
            raise ParseError(f"bybit allLiquidation: unknown side {d.get('S')!r}", json.dumps(msg)) from None
        price, qty = num(d["p"], "p", msg), num(d["v"], "v", msg)
        out.append(Liquidation(EXCHANGE, symbol_of(vsym), ms(d["T"], "T", msg), ts_recv, side, price, qty,
                               price * qty, "bankruptcy", vsym))
    return out


def _kline(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    vsym = msg["topic"].rsplit(".", 1)[1]
    out: list[Record] = []
    for k in msg["data"]:
        if not k["confirm"]:
            continue
        try:
            interval = _INTERVAL_MS[str(k["interval"])]
        except KeyError:
            raise ParseError(f"bybit kline: unsupported interval {k.get('interval')!r}", json.dumps(msg)) from None
        out.append(Bar(EXCHANGE, symbol_of(vsym), interval, ms(k["start"], "start", msg), num(k["open"], "open", msg),
                       num(k["high"], "high", msg), num(k["low"], "low", msg), num(k["close"], "close", msg),
                       num(k["volume"], "volume", msg), ts_recv, num(k["turnover"], "turnover", msg), None, None,
                       "perp", vsym))
    return out


def _tickers(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    data = msg["data"]
    vsym = data["symbol"]
    book: dict[str, dict[str, Any]] = ctx.state.setdefault("tickers", {})
    if msg.get("type") == "snapshot" or vsym not in book:
        book[vsym] = dict(data)
    else:
        book[vsym].update(data)
    merged = book[vsym]
    ts = ms(msg["ts"], "ts", msg)
    sym = symbol_of(vsym)
    out: list[Record] = []
    # tickers push every 100 ms: emit at most one MarkPrice / OpenInterest per symbol per second (as
    # Binance markPrice@1s), always from the merged state, so no information older than 1 s is lost.
    emitted: dict[tuple[str, str], int] = ctx.state.setdefault("tickers_emitted", {})
    if "markPrice" in data:
        ctx.state.setdefault("mark", {})[vsym] = num(merged["markPrice"], "markPrice", msg)
    if "markPrice" in data and ts - emitted.get(("mark", vsym), -TICKER_EVERY_MS) >= TICKER_EVERY_MS:
        emitted[("mark", vsym)] = ts
        mark = ctx.state["mark"][vsym]
        index = merged.get("indexPrice")
        rate = merged.get("fundingRate")
        nxt = merged.get("nextFundingTime")
        out.append(MarkPrice(EXCHANGE, sym, ts, ts_recv, mark, num(index, "indexPrice", msg) if index else None,
                             num(rate, "fundingRate", msg) if rate not in (None, "") else None,
                             ms(nxt, "nextFundingTime", msg) if nxt else None, vsym))
    if (("openInterest" in data or "singleOpenInterest" in data)
            and ts - emitted.get(("oi", vsym), -TICKER_EVERY_MS) >= TICKER_EVERY_MS):
        emitted[("oi", vsym)] = ts
        oi_base, oi_usd = _one_side(merged, msg)
        out.append(OpenInterest(EXCHANGE, sym, ts, ts_recv, oi_base, oi_usd, vsym))
    return out


def _one_side(row: dict[str, Any], payload: Any) -> tuple[float, float | None]:
    """One-side OI in base and USD: ``single*`` fields, else the documented both-sides sum / 2."""
    if row.get("singleOpenInterest") not in (None, ""):
        base = num(row["singleOpenInterest"], "singleOpenInterest", payload)
        value = row.get("singleOpenInterestValue")
        return base, num(value, "singleOpenInterestValue", payload) if value not in (None, "") else None
    base = num(row["openInterest"], "openInterest", payload) / 2.0
    value = row.get("openInterestValue")
    return base, num(value, "openInterestValue", payload) / 2.0 if value not in (None, "") else None


_HANDLERS = {"publicTrade": _trades, "allLiquidation": _liquidations, "kline": _kline, "tickers": _tickers}


# -- REST ----------------------------------------------------------------------------------------


def check_response(status: int, headers: Any, body: Any) -> None:
    """HTTP 403 = IP limit ("access too frequent", lifted after >= 10 min); retCode 10006 = too many
    visits (reset time in ``X-Bapi-Limit-Reset-Timestamp``); other non-zero retCodes are venue errors."""
    if status == 403:
        raise RateLimitError("bybit HTTP 403 access too frequent", retry_after=600.0)
    default_check(status, headers, body)
    if isinstance(body, dict) and body.get("retCode", 0) != 0:
        code = body.get("retCode")
        if code == 10006:
            raise RateLimitError(f"bybit retCode 10006: {body.get('retMsg')}", retry_after=1.0)
        if code in (10000, 10016):
            raise TransportError(f"bybit retCode {code}: {body.get('retMsg')}")
        raise VenueError(f"bybit retCode {code}: {body.get('retMsg')}", code=code)


def _result_list(body: Any, what: str) -> list[Any]:
    try:
        rows = body["result"]["list"]
    except (KeyError, TypeError):
        raise ParseError(f"bybit {what}: no result.list", json.dumps(body)[:2000]) from None
    if not isinstance(rows, list):
        raise ParseError(f"bybit {what}: result.list is not a list", json.dumps(body)[:2000])
    return rows


def parse_klines(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``/v5/market/kline`` rows ``[start, open, high, low, close, volume(base), turnover(quote)]``, newest
    first; sorted ascending here; bars not closed at ``ts_recv`` dropped."""
    sym = symbol_of(vsym)
    out: list[Record] = []
    for row in _result_list(body, "kline"):
        try:
            start = int(row[0])
            if start + MINUTE_MS > ts_recv:
                continue
            out.append(Bar(EXCHANGE, sym, MINUTE_MS, start, float(row[1]), float(row[2]), float(row[3]),
                           float(row[4]), float(row[5]), ts_recv, float(row[6]), None, None, "perp", vsym))
        except (IndexError, TypeError, ValueError):
            raise ParseError(f"bybit kline: bad row {row!r}", json.dumps(row)) from None
    out.sort(key=attrgetter("ts_event"))  # every record these build has a ts_event
    return out


def parse_oi_history(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    sym = symbol_of(vsym)
    out: list[Record] = []
    for row in _result_list(body, "open-interest"):
        base, usd = _one_side(row, row)
        out.append(OpenInterest(EXCHANGE, sym, ms(row["timestamp"], "timestamp", row), ts_recv, base, usd, vsym))
    out.sort(key=attrgetter("ts_event"))  # every record these build has a ts_event
    return out


def parse_funding(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = [
        Funding(EXCHANGE, symbol_of(vsym), ms(row["fundingRateTimestamp"], "fundingRateTimestamp", row),
                ts_recv, num(row["fundingRate"], "fundingRate", row), None, vsym)
        for row in _result_list(body, "funding/history")
    ]
    out.sort(key=attrgetter("ts_event"))  # every record these build has a ts_event
    return out


def parse_instruments(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for s in _result_list(body, "instruments-info"):
        try:
            if s.get("contractType") != "LinearPerpetual" or s.get("quoteCoin") != "USDT":
                continue
            out.append(Instrument(EXCHANGE, symbol_of(s["symbol"]), s["symbol"], 1.0,
                                  float(s["priceFilter"]["tickSize"]), float(s["lotSizeFilter"]["qtyStep"]),
                                  float(s["leverageFilter"]["maxLeverage"]), "USDT"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(f"bybit instruments-info: {exc}", json.dumps(s)) from None
    return out


def parse_risk_limit(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``/v5/market/risk-limit``: tier n covers notional [riskLimitValue_{n-1}, riskLimitValue_n) USD;
    ``maintenanceMargin`` is the MMR (a decimal for linear), ``mmDeduction`` the maintenance amount."""
    rows = [r for r in _result_list(body, "risk-limit") if not vsym or r.get("symbol") == vsym]
    out: list[Record] = []
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_symbol.setdefault(row["symbol"], []).append(row)
    for symbol, tiers in by_symbol.items():
        tiers.sort(key=lambda r: float(r["riskLimitValue"]))
        floor = 0.0
        for i, r in enumerate(tiers, start=1):
            cap = num(r["riskLimitValue"], "riskLimitValue", r)
            deduction = r.get("mmDeduction")
            out.append(MarginTier(EXCHANGE, symbol_of(symbol), i, floor, cap,
                                  num(r["maintenanceMargin"], "maintenanceMargin", r),
                                  num(deduction, "mmDeduction", r) if deduction not in (None, "") else 0.0,
                                  num(r["maxLeverage"], "maxLeverage", r)))
            floor = cap
    return out


def parse_ticker_oi(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for row in _result_list(body, "tickers"):
        base, usd = _one_side(row, row)
        out.append(OpenInterest(EXCHANGE, symbol_of(row["symbol"]), ms(body.get("time", ts_recv), "time", body),
                                ts_recv, base, usd, row["symbol"]))
    return out


SPEC = VenueSpec(
    name=EXCHANGE,
    title="Bybit",
    instruments=InstrumentNames("{base}USDT"),
    rest_url="https://api.bybit.com",
    ws_urls={"public": "wss://stream.bybit.com/v5/public/linear"},
    channels={
        "trades": Channel("trades", "publicTrade.{venue_symbol}"),
        "liquidations": Channel("liquidations", "allLiquidation.{venue_symbol}"),
        "klines": Channel("klines", "kline.{interval}.{venue_symbol}"),
        "tickers": Channel("tickers", "tickers.{venue_symbol}"),
    },
    subscribe=subscribe,
    parse_ws=parse_ws,
    heartbeat=Heartbeat(client_ping='{"op":"ping"}', interval_s=20.0, stale_after_s=30.0),
    max_streams_per_connection=200,
    kline_intervals=KLINE_INTERVALS,
    history={
        "klines": RestHistory(
            "klines", "/v5/market/kline", 1000, MINUTE_MS,
            lambda s, a, b, n: {"category": "linear", "symbol": s, "interval": "1", "start": a, "end": b, "limit": n},
            parse_klines, min_interval_s=0.1),
        "open_interest": RestHistory(
            "open_interest", "/v5/market/open-interest", 200, 5 * MINUTE_MS,
            lambda s, a, b, n: {"category": "linear", "symbol": s, "intervalTime": "5min", "startTime": a,
                                "endTime": b, "limit": n},
            parse_oi_history, min_interval_s=0.1),
        "funding": RestHistory(
            "funding", "/v5/market/funding/history", 200, HOUR_MS,
            lambda s, a, b, n: {"category": "linear", "symbol": s, "startTime": a, "endTime": b, "limit": n},
            parse_funding, min_interval_s=0.1),
    },
    snapshots={
        "instruments": RestSnapshot("instruments", "/v5/market/instruments-info",
                                    lambda s: {"category": "linear", "limit": 1000, **({"symbol": s} if s else {})},
                                    parse_instruments),
        "margin_tiers": RestSnapshot("margin_tiers", "/v5/market/risk-limit",
                                     lambda s: {"category": "linear", "symbol": s}, parse_risk_limit),
        "open_interest": RestSnapshot("open_interest", "/v5/market/tickers",
                                      lambda s: {"category": "linear", "symbol": s}, parse_ticker_oi),
    },
    check_response=check_response,
    capabilities=frozenset({"liquidations", "liquidations_complete", "trades", "klines", "mark", "oi_ws",
                            "tiers_public"}),
    notes="allLiquidation pushes all liquidations (500 ms batches); OI stored one-sided.",
)
