"""Bitget USDT-M perpetuals (v2 mix API, ``productType=USDT-FUTURES``) plus the v3/UTA public
liquidation topic: spec and pure parsers.

Library coverage: REST through httpx (:mod:`liqmap.feed.rest`), WebSocket through our websockets client.
Not ccxt: ccxt bitget has no liquidations (REST or WS), no OI history, and its WS layer has no ticker OI
or v3 ``liquidation`` topic; pointing its market loading at a mock needs every product type's contracts.

Units and conventions applied here, once (reference §4):
* USDT-FUTURES sizes are base coin (``size``, ``holdingAmount``, candle ``baseVolume``): contract size 1.
* Times are ms (strings in ``data``, an int in the envelope ``ts``).
* ``trade.side`` is the taker side.
* Liquidations exist only on the v3 public socket (``wss://ws.bitget.com/v3/ws/public``, topic
  ``liquidation`` per instType, all symbols): ``side`` is the liquidated **position** side
  (tardis-node: "Bitget side is position side"), so ``buy`` = a long was liquidated. ``amount`` is read
  as base coin (doc example 37.72 at 89,000; a third party reads it as quote — unverified, reference §9.4).
  The feed is a **sample**: per pair and second only the largest long and the largest short.
* Ticker ``holdingAmount`` = open interest in base coin; ``fundingRate`` a fraction.
* Position tiers (``query-position-lever``) publish no deduction: Bitget applies the tier's
  ``keepMarginRate`` to the whole position, so ``maint_amount`` is 0.
* Tick size = ``priceEndStep`` x 10^-``pricePlace``; lot = ``sizeMultiplier``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from liqmap.errors import ParseError, RateLimitError, UnknownSymbolError, VenueError
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
    retry_after_s,
    symbol_of,
)

EXCHANGE = "bitget"
PRODUCT = "USDT-FUTURES"
KLINE_INTERVALS = {MINUTE_MS: "1m", 5 * MINUTE_MS: "5m", 15 * MINUTE_MS: "15m", 30 * MINUTE_MS: "30m",
                   HOUR_MS: "1H", 4 * HOUR_MS: "4H", 12 * HOUR_MS: "12H", DAY_MS: "1D"}
_INTERVAL_MS = {v: k for k, v in KLINE_INTERVALS.items()}
_LIQ_SIDE: dict[str, Side] = {"buy": "long", "sell": "short"}
_TAKER = {"buy": "buy", "sell": "sell"}


def _text(payload: Any) -> str:
    return json.dumps(payload)[:2000]


def _optional(row: dict[str, Any], key: str) -> float | None:
    """A numeric field Bitget may leave empty (``""``) or omit."""
    value = row.get(key)
    return None if value in (None, "") else num(value, key, row)


# -- WebSocket -----------------------------------------------------------------------------------


def subscribe(args: Sequence[str | dict[str, str]]) -> list[str]:
    """``{"op":"subscribe","args":[...]}`` with at most 20 args per frame (Bitget: <= 10 messages/s,
    <= 1000 channels per connection)."""
    items = list(args)
    return [json.dumps({"op": "subscribe", "args": items[i : i + 20]}) for i in range(0, len(items), 20)]


def parse_ws(raw: str | bytes, ts_recv: int, ctx: ParseContext) -> list[Record]:
    if raw in ("pong", b"pong"):
        return []
    msg = load_json(raw)
    if not isinstance(msg, dict):
        raise ParseError("bitget frame is not a JSON object", raw)
    event = msg.get("event")
    if event == "error":
        raise VenueError(f"bitget: {msg.get('msg')}", code=msg.get("code"))
    if event in ("subscribe", "unsubscribe", "login"):
        return []
    arg = msg.get("arg")
    if not isinstance(arg, dict) or "data" not in msg:
        raise ParseError("bitget: frame without arg/data", raw)
    name = arg.get("topic") or arg.get("channel") or ""
    try:
        if name == "liquidation":
            return _liquidations(msg, ts_recv, ctx)
        if name == "trade":
            return _trades(msg, ts_recv, ctx)
        if name == "ticker":
            return _tickers(msg, ts_recv, ctx)
        if name.startswith("candle"):
            return _candles(msg, name[len("candle"):], ts_recv, ctx)
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ParseError(f"bitget {name}: missing/invalid field {exc}", raw) from None
    raise ParseError(f"bitget: unknown channel {name!r}", raw)


def _liquidations(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for row in msg["data"]:
        vsym = row["symbol"]
        if not ctx.is_wanted(vsym):
            continue
        try:
            side = _LIQ_SIDE[row["side"]]
        except KeyError:
            raise ParseError(f"bitget liquidation: unknown side {row.get('side')!r}", _text(msg)) from None
        price, qty = num(row["price"], "price", row), num(row["amount"], "amount", row)
        if price <= 0 or qty <= 0:
            raise ParseError("bitget liquidation: non-positive price or amount", _text(msg))
        out.append(Liquidation(EXCHANGE, symbol_of(vsym), ms(row["ts"], "ts", row), ts_recv, side, price, qty,
                               price * qty, "fill", vsym))
    return out


def _trades(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    vsym = msg["arg"]["instId"]
    sym = symbol_of(vsym)
    out: list[Record] = []
    for row in msg["data"]:
        try:
            taker = _TAKER[row["side"]]
        except KeyError:
            raise ParseError(f"bitget trade: unknown side {row.get('side')!r}", _text(msg)) from None
        out.append(Trade(EXCHANGE, sym, ms(row["ts"], "ts", row), ts_recv, num(row["price"], "price", row),
                         num(row["size"], "size", row), taker, str(row["tradeId"]), vsym))  # type: ignore[arg-type]
    return out


def _tickers(msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for row in msg["data"]:
        vsym = row.get("instId") or msg["arg"]["instId"]
        sym, ts = symbol_of(vsym), ms(row["ts"], "ts", row)
        mark = num(row["markPrice"], "markPrice", row)
        ctx.state.setdefault("mark", {})[vsym] = mark
        next_funding = row.get("nextFundingTime")
        out.append(MarkPrice(EXCHANGE, sym, ts, ts_recv, mark, _optional(row, "indexPrice"),
                             _optional(row, "fundingRate"),
                             ms(next_funding, "nextFundingTime", row) if next_funding not in (None, "", "0")
                             else None, vsym))
        oi = num(row["holdingAmount"], "holdingAmount", row)
        out.append(OpenInterest(EXCHANGE, sym, ts, ts_recv, oi, oi * mark, vsym))
    return out


def _candles(msg: dict[str, Any], interval_name: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """Bitget pushes the forming candle again and again (and a history snapshot on subscribe): a candle
    is closed once a later one of the same channel arrives, so we keep the newest and emit the ones
    before it."""
    try:
        interval_ms = _INTERVAL_MS[interval_name]
    except KeyError:
        raise ParseError(f"bitget: unsupported candle interval {interval_name!r}", _text(msg)) from None
    vsym = msg["arg"]["instId"]
    key = f"{vsym}/{interval_name}"
    pending: dict[str, Bar] = ctx.state.setdefault("bitget_candles", {})
    out: list[Record] = []
    for row in sorted(msg["data"], key=lambda r: int(r[0])):
        bar = _bar(row, vsym, interval_ms, ts_recv)
        previous = pending.get(key)
        if previous is not None and previous.ts_event < bar.ts_event:
            out.append(previous)
        if previous is None or previous.ts_event <= bar.ts_event:
            pending[key] = bar
    return out


def _bar(row: Sequence[Any], vsym: str, interval_ms: int, ts_recv: int) -> Bar:
    """Row ``[ts, open, high, low, close, baseVolume, quoteVolume(, usdtVolume)]``."""
    return Bar(EXCHANGE, symbol_of(vsym), interval_ms, ms(row[0], "ts", row), num(row[1], "open", row),
               num(row[2], "high", row), num(row[3], "low", row), num(row[4], "close", row),
               num(row[5], "baseVolume", row), ts_recv, num(row[6], "quoteVolume", row), None, None, "perp", vsym)


# -- REST ----------------------------------------------------------------------------------------


def _data(body: Any, what: str) -> Any:
    if not isinstance(body, dict) or "data" not in body:
        raise ParseError(f"bitget {what}: no data in body", _text(body))
    return body["data"]


def parse_klines(body: Any, vsym: str, ts_recv: int, ctx: ParseContext,
                 interval_ms: int = MINUTE_MS) -> list[Record]:
    try:
        return [_bar(row, vsym, interval_ms, ts_recv) for row in _data(body, "candles")]
    except (IndexError, TypeError) as exc:
        raise ParseError(f"bitget candles: bad row ({exc})", _text(body)) from None


def parse_funding(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    try:
        return [Funding(EXCHANGE, symbol_of(r["symbol"]), ms(r["fundingTime"], "fundingTime", r), ts_recv,
                        num(r["fundingRate"], "fundingRate", r), None, r["symbol"])
                for r in _data(body, "history-fund-rate")]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"bitget history-fund-rate: missing field {exc}", _text(body)) from None


def parse_open_interest(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``open-interest``: ``size`` in base coin at ``data.ts``; USD via the last streamed mark price."""
    data = _data(body, "open-interest")
    try:
        ts = ms(data["ts"], "ts", data)
        out: list[Record] = []
        for r in data["openInterestList"]:
            oi = num(r["size"], "size", r)
            mark = ctx.state.get("mark", {}).get(r["symbol"])
            out.append(OpenInterest(EXCHANGE, symbol_of(r["symbol"]), ts, ts_recv, oi, oi * mark if mark else None,
                                    r["symbol"]))
        return out
    except (KeyError, TypeError) as exc:
        raise ParseError(f"bitget open-interest: missing field {exc}", _text(body)) from None


def parse_contracts(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for c in _data(body, "contracts"):
        try:
            if (vsym and c["symbol"] != vsym) or c.get("symbolType", "perpetual") != "perpetual":
                continue
            try:
                sym = symbol_of(c["symbol"])
            except UnknownSymbolError:
                continue  # a name outside our vocabulary (never requested by a user)
            tick = num(c["priceEndStep"], "priceEndStep", c) * 10.0 ** -int(c["pricePlace"])
            out.append(Instrument(EXCHANGE, sym, c["symbol"], 1.0, tick,
                                  num(c["sizeMultiplier"], "sizeMultiplier", c), num(c["maxLever"], "maxLever", c),
                                  c.get("quoteCoin", "USDT")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(f"bitget contracts: missing field {exc}", _text(c)) from None
    return out


def parse_position_tiers(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``query-position-lever``: tier ``level`` covers notional [startUnit, endUnit) with
    ``keepMarginRate``; no deduction is published (MM = notional x rate)."""
    try:
        return [MarginTier(EXCHANGE, symbol_of(r["symbol"]), int(r["level"]), num(r["startUnit"], "startUnit", r),
                           num(r["endUnit"], "endUnit", r), num(r["keepMarginRate"], "keepMarginRate", r), 0.0,
                           num(r["leverage"], "leverage", r)) for r in _data(body, "query-position-lever")]
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"bitget query-position-lever: missing field {exc}", _text(body)) from None


def parse_fills(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """Recent public trades (``fills``)."""
    try:
        return [Trade(EXCHANGE, symbol_of(r["symbol"]), ms(r["ts"], "ts", r), ts_recv, num(r["price"], "price", r),
                      num(r["size"], "size", r), _TAKER[r["side"]], str(r["tradeId"]), r["symbol"])  # type: ignore[arg-type]
                for r in _data(body, "fills")]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"bitget fills: missing field {exc}", _text(body)) from None


def check_response(status: int, headers: Any, body: Any) -> None:
    """Success is ``code == "00000"``; HTTP 429 / code 429 is a rate limit; other codes are venue errors."""
    code = str(body.get("code")) if isinstance(body, dict) and "code" in body else None
    if status == 429 or code == "429":
        raise RateLimitError(f"bitget: {body.get('msg') if isinstance(body, dict) else body}",
                             retry_after=retry_after_s(headers) if headers is not None else None)
    default_check(status, headers, body)
    if code is not None and code != "00000":
        raise VenueError(f"bitget: {body.get('msg')}", code=code)


def kline_params(vsym: str, start: int, end: int, limit: int, granularity: str = "1m") -> dict[str, Any]:
    return {"symbol": vsym, "productType": PRODUCT, "granularity": granularity, "startTime": start,
            "endTime": end, "limit": limit}


SPEC = VenueSpec(
    name=EXCHANGE,
    title="Bitget",
    instruments=InstrumentNames("{base}USDT"),
    rest_url="https://api.bitget.com",
    ws_urls={"public": "wss://ws.bitget.com/v2/ws/public", "uta": "wss://ws.bitget.com/v3/ws/public"},
    channels={
        "trades": Channel("trades", {"instType": PRODUCT, "channel": "trade", "instId": "{venue_symbol}"}),
        "tickers": Channel("tickers", {"instType": PRODUCT, "channel": "ticker", "instId": "{venue_symbol}"}),
        "klines": Channel("klines", {"instType": PRODUCT, "channel": "candle{interval}", "instId": "{venue_symbol}"}),
        "liquidations": Channel("liquidations", {"instType": "usdt-futures", "topic": "liquidation"},
                                endpoint="uta", per_symbol=False),
    },
    subscribe=subscribe,
    parse_ws=parse_ws,
    # Bitget wants the text "ping" every 30 s (drops the socket after 2 min without one).
    heartbeat=Heartbeat(client_ping="ping", interval_s=25.0, stale_after_s=60.0, pong="pong"),
    max_streams_per_connection=100,
    kline_intervals=KLINE_INTERVALS,
    history={
        # history-candles reaches far back but returns at most 200 rows
        "klines": RestHistory("klines", "/api/v2/mix/market/history-candles", 200, MINUTE_MS, kline_params,
                              parse_klines, min_interval_s=0.1),
        # paged by pageNo from the newest record, not by time: only the latest 100 records are reachable
        "funding": RestHistory("funding", "/api/v2/mix/market/history-fund-rate", 100, 8 * HOUR_MS,
                               lambda s, a, b, n: {"symbol": s, "productType": PRODUCT, "pageSize": n,
                                                   "pageNo": 1},
                               parse_funding, min_interval_s=0.1, max_age_ms=100 * 8 * HOUR_MS),
    },
    snapshots={
        "instruments": RestSnapshot("instruments", "/api/v2/mix/market/contracts",
                                    lambda s: {"productType": PRODUCT, "symbol": s} if s else {"productType": PRODUCT},
                                    parse_contracts),
        "margin_tiers": RestSnapshot("margin_tiers", "/api/v2/mix/market/query-position-lever",
                                     lambda s: {"symbol": s, "productType": PRODUCT}, parse_position_tiers,
                                     min_interval_s=0.1),
        "open_interest": RestSnapshot("open_interest", "/api/v2/mix/market/open-interest",
                                      lambda s: {"symbol": s, "productType": PRODUCT}, parse_open_interest,
                                      min_interval_s=0.05),
    },
    check_response=check_response,
    capabilities=frozenset({"liquidations", "liquidations_sampled", "trades", "klines", "mark", "oi_ws",
                            "tiers_public"}),
    notes="Liquidations only via the v3 topic: per pair and second the largest long and largest short. "
          "No OI history; funding history is paged from the newest record.",
)
