"""Gate.io USDT-settled perpetual futures (API v4, ``settle=usdt``): spec and pure parsers.

Library coverage: REST through httpx (:mod:`liqmap.feed.rest`), WebSocket through our websockets client,
both driven by :data:`SPEC`. Not ccxt: ccxt gate has no ``fetchOpenInterest``, does not implement the
public ``futures.public_liquidates`` channel (4.5.90: ``watchLiquidations`` False) and loads every market
of every settle currency before the first call, which a mock exchange would have to imitate in full.

Units and conventions applied here, once (reference §5):
* Sizes are **contracts**: base coin = contracts x ``quanto_multiplier`` of the contract (BTC_USDT:
  0.0001 BTC). The multiplier comes from ``ctx.instruments`` (the ``contracts`` snapshot); a contract
  without metadata raises ParseError rather than guessing.
* Times: REST and WS ``time``/``t``/``create_time`` are **seconds**; WS ``time_ms``/``create_time_ms``
  are ms. ``futures.public_liquidates`` row ``time`` switched from seconds to ms on 2026-08-20; both are
  accepted (values below 1e11 are seconds). REST ``trades.create_time_ms`` is a float of *seconds*
  (third-party observation), also accepted.
* ``futures.trades`` size > 0 means the taker bought.
* Liquidation side: the WS ``public_liquidates`` ``size`` is the liquidation **order** quantity
  ("强平订单数量"): negative = a sell order = a long was liquidated (two independent public collectors
  read it so). The REST ``liq_orders`` ``size`` is the liquidated **position** size ("Position size"):
  negative = a short was liquidated (ccxt's recorded example, size -165 with fill 28070 below the order
  price 28225, can only be a buy order). Gate's tables state neither sign (reference §9 point 5).
* WS liquidation price is the order price (``price_kind="order"``); REST gives the average taker fill
  price ``fill_price`` (``price_kind="average"``).
* ``futures.tickers`` ``total_size`` is open interest in contracts (one side), ``funding_rate`` a fraction.
* Risk-limit tiers: ``risk_limit`` is the tier's upper notional in USDT, ``deduction`` the maintenance
  amount: MM = notional x maintenance_rate - deduction.
"""

from __future__ import annotations

import json
import time
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
    num,
    symbol_of,
)

EXCHANGE = "gate"
SETTLE = "usdt"
KLINE_INTERVALS = {MINUTE_MS: "1m", 5 * MINUTE_MS: "5m", 15 * MINUTE_MS: "15m", 30 * MINUTE_MS: "30m",
                   HOUR_MS: "1h", 4 * HOUR_MS: "4h", 8 * HOUR_MS: "8h", DAY_MS: "1d"}
_INTERVAL_MS = {v: k for k, v in KLINE_INTERVALS.items()}
_SECONDS_LIMIT = 100_000_000_000  # below this a timestamp is in seconds (year 5138 in ms)


def _ms_any(value: Any, what: str, payload: Any) -> int:
    """ms from a Gate time that may be seconds (int/float/str) or ms."""
    t = num(value, what, payload)
    return round(t * 1000) if t < _SECONDS_LIMIT else int(t)


def _symbol(name: str) -> str | None:
    try:
        return symbol_of(name)
    except UnknownSymbolError:
        return None


def _payload_text(payload: Any) -> str:
    return json.dumps(payload)[:2000]


# -- WebSocket -----------------------------------------------------------------------------------


def subscribe(args: Sequence[str | dict[str, str]]) -> list[str]:
    """One ``subscribe`` request per channel listing its contracts; ``futures.candlesticks`` takes one
    ``[interval, contract]`` payload per request. ``time`` is the request time in seconds."""
    now = int(time.time())
    by_channel: dict[str, list[str]] = {}
    frames: list[str] = []
    for arg in args:
        if not isinstance(arg, dict):
            raise ParseError(f"gate subscribe: argument must be a dict, got {arg!r}")
        channel, contract = arg["channel"], arg["payload"]
        if channel == "futures.candlesticks":
            frames.append(json.dumps({"time": now, "channel": channel, "event": "subscribe",
                                      "payload": [arg["interval"], contract]}))
        else:
            by_channel.setdefault(channel, []).append(contract)
    for channel, contracts in by_channel.items():
        for i in range(0, len(contracts), 50):
            frames.append(json.dumps({"time": now, "channel": channel, "event": "subscribe",
                                      "payload": contracts[i : i + 50]}))
    return frames


def parse_ws(raw: str | bytes, ts_recv: int, ctx: ParseContext) -> list[Record]:
    msg = load_json(raw)
    if not isinstance(msg, dict):
        raise ParseError("gate frame is not a JSON object", raw)
    if msg.get("type") == "upgrade":
        return []  # "connection will soon be closed for a service upgrade"; the feed reconnects
    if msg.get("error"):
        error = msg["error"] if isinstance(msg["error"], dict) else {"message": msg["error"]}
        raise VenueError(f"gate {msg.get('channel')}: {error.get('message')}", code=error.get("code"))
    channel, event = msg.get("channel"), msg.get("event")
    if event in ("subscribe", "unsubscribe") or channel == "futures.pong":
        return []
    handler = _HANDLERS.get(channel)  # type: ignore[arg-type]
    if handler is None or event not in ("update", "all"):
        raise ParseError(f"gate: unexpected channel/event {channel!r}/{event!r}", raw)
    result: Any = msg.get("result")
    rows = result if isinstance(result, list) else [result]
    try:
        out: list[Record] = []
        for row in rows:
            out.extend(handler(row, msg, ts_recv, ctx))
        return out
    except (KeyError, TypeError, AttributeError) as exc:
        raise ParseError(f"gate {channel}: missing/invalid field {exc}", raw) from None


def _trade(row: dict[str, Any], msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    vsym = row["contract"]
    if not ctx.is_wanted(vsym):
        return []
    size = num(row["size"], "size", row)
    when = row.get("create_time_ms") or row["create_time"]
    qty = abs(size) * ctx.contract_size(vsym)
    return [Trade(EXCHANGE, symbol_of(vsym), _ms_any(when, "create_time_ms", row), ts_recv,
                  num(row["price"], "price", row), qty, "buy" if size > 0 else "sell", str(row["id"]), vsym)]


def _public_liquidation(row: dict[str, Any], msg: dict[str, Any], ts_recv: int,
                        ctx: ParseContext) -> list[Record]:
    vsym = row["contract"]
    if not ctx.is_wanted(vsym):
        return []
    size = num(row["size"], "size", row)
    price = num(row["price"], "price", row)
    if size == 0 or price <= 0:
        raise ParseError("gate public_liquidates: zero size or non-positive price", _payload_text(row))
    qty = abs(size) * ctx.contract_size(vsym)
    when = row.get("time_ms") or row["time"]
    side: Side = "long" if size < 0 else "short"  # order size: a sell (negative) closes a long
    return [Liquidation(EXCHANGE, symbol_of(vsym), _ms_any(when, "time", row), ts_recv, side, price, qty,
                        price * qty, "order", vsym)]


def _ticker(row: dict[str, Any], msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    vsym = row["contract"]
    if not ctx.is_wanted(vsym):
        return []
    ts = _ms_any(msg.get("time_ms") or msg["time"], "time_ms", msg)
    sym = symbol_of(vsym)
    out: list[Record] = []
    mark = num(row["mark_price"], "mark_price", row) if row.get("mark_price") not in (None, "") else None
    if mark is not None:
        index = row.get("index_price")
        rate = row.get("funding_rate")
        out.append(MarkPrice(EXCHANGE, sym, ts, ts_recv, mark,
                             num(index, "index_price", row) if index not in (None, "") else None,
                             num(rate, "funding_rate", row) if rate not in (None, "") else None, None, vsym))
    if row.get("total_size") not in (None, ""):
        oi = num(row["total_size"], "total_size", row) * ctx.contract_size(vsym)
        out.append(OpenInterest(EXCHANGE, sym, ts, ts_recv, oi, oi * mark if mark else None, vsym))
    return out


def _candle(row: dict[str, Any], msg: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``n`` = "<interval>_<contract>". Gate pushes the forming candle repeatedly; a candle is closed
    when ``w`` is true or when a later candle of the same name arrives (then the kept one is emitted)."""
    interval_name, _, vsym = row["n"].partition("_")
    if not ctx.is_wanted(vsym):
        return []
    try:
        interval_ms = _INTERVAL_MS[interval_name]
    except KeyError:
        raise ParseError(f"gate candlesticks: unsupported interval {interval_name!r}", _payload_text(row)) from None
    bar = _bar(row, vsym, interval_ms, ts_recv, ctx)
    pending: dict[str, Bar] = ctx.state.setdefault("gate_candles", {})
    out: list[Record] = []
    previous = pending.get(row["n"])
    if previous is not None and previous.ts_event < bar.ts_event:
        out.append(previous)
        del pending[row["n"]]
    if row.get("w") is True:
        out.append(bar)
        pending.pop(row["n"], None)
    elif previous is None or previous.ts_event <= bar.ts_event:
        pending[row["n"]] = bar
    return out


def _bar(row: dict[str, Any], vsym: str, interval_ms: int, ts_recv: int, ctx: ParseContext) -> Bar:
    """A candlestick row ``{t (s), o, h, l, c, v (contracts), sum (quote volume)}``."""
    volume = num(row.get("v", 0), "v", row) * ctx.contract_size(vsym)
    quote = row.get("sum", row.get("a"))
    return Bar(EXCHANGE, symbol_of(vsym), interval_ms, _ms_any(row["t"], "t", row), num(row["o"], "o", row),
               num(row["h"], "h", row), num(row["l"], "l", row), num(row["c"], "c", row), volume, ts_recv,
               num(quote, "sum", row) if quote not in (None, "") else None, None, None, "perp", vsym)


_HANDLERS = {"futures.trades": _trade, "futures.public_liquidates": _public_liquidation,
             "futures.tickers": _ticker, "futures.candlesticks": _candle}


# -- REST ----------------------------------------------------------------------------------------


def _rows(body: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ParseError(f"gate {what}: body is not a list", _payload_text(body))
    return body


def parse_klines(body: Any, vsym: str, ts_recv: int, ctx: ParseContext,
                 interval_ms: int = MINUTE_MS) -> list[Record]:
    try:
        return [_bar(r, vsym, interval_ms, ts_recv, ctx) for r in _rows(body, "candlesticks")]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"gate candlesticks: missing field {exc}", _payload_text(body)) from None


def parse_contract_stats(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``contract_stats``: ``open_interest`` (contracts) and ``open_interest_usd`` at ``time`` (s)."""
    size = ctx.contract_size(vsym)
    sym = symbol_of(vsym)
    try:
        return [OpenInterest(EXCHANGE, sym, _ms_any(r["time"], "time", r), ts_recv,
                             num(r["open_interest"], "open_interest", r) * size,
                             num(r["open_interest_usd"], "open_interest_usd", r), vsym)
                for r in _rows(body, "contract_stats")]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"gate contract_stats: missing field {exc}", _payload_text(body)) from None


def parse_funding(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``funding_rate`` history ``[{t (s), r}]``: the rate settled at ``t``."""
    sym = symbol_of(vsym)
    try:
        return [Funding(EXCHANGE, sym, _ms_any(r["t"], "t", r), ts_recv, num(r["r"], "r", r), None, vsym)
                for r in _rows(body, "funding_rate")]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"gate funding_rate: missing field {exc}", _payload_text(body)) from None


def parse_liq_orders(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """Public ``liq_orders``: ``size`` = liquidated position size in contracts (negative = short),
    ``fill_price`` = average taker price of the liquidation order, ``time`` in seconds."""
    out: list[Record] = []
    for r in _rows(body, "liq_orders"):
        try:
            contract = r.get("contract", vsym)
            size = num(r["size"], "size", r)
            price = num(r["fill_price"], "fill_price", r)
            when = _ms_any(r["time"], "time", r)
        except (KeyError, TypeError) as exc:
            raise ParseError(f"gate liq_orders: missing field {exc}", _payload_text(r)) from None
        if size == 0 or price <= 0:
            raise ParseError("gate liq_orders: zero size or non-positive fill price", _payload_text(r))
        qty = abs(size) * ctx.contract_size(contract)
        out.append(Liquidation(EXCHANGE, symbol_of(contract), when, ts_recv, "short" if size < 0 else "long",
                               price, qty, price * qty, "average", contract))
    return out


def parse_contracts(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``contracts`` (list) or ``contracts/{contract}`` (object): contract size = ``quanto_multiplier``,
    tick = ``order_price_round``, lot = one contract."""
    items = body if isinstance(body, list) else [body]
    out: list[Record] = []
    for c in items:
        try:
            name = c["name"]
            if vsym and name != vsym:
                continue
            if c.get("type", "direct") != "direct" or c.get("in_delisting"):
                continue
            sym = _symbol(name)
            if sym is None:
                continue  # a name outside our vocabulary (never requested by a user)
            multiplier = num(c["quanto_multiplier"], "quanto_multiplier", c)
            out.append(Instrument(EXCHANGE, sym, name, multiplier,
                                  num(c["order_price_round"], "order_price_round", c), multiplier,
                                  num(c["leverage_max"], "leverage_max", c), "USDT"))
        except (KeyError, TypeError) as exc:
            raise ParseError(f"gate contracts: missing field {exc}", _payload_text(c)) from None
    return out


def parse_risk_limit_tiers(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``risk_limit_tiers``: tier n covers notional [risk_limit_{n-1}, risk_limit_n)."""
    rows = [r for r in _rows(body, "risk_limit_tiers") if not vsym or r.get("contract", vsym) == vsym]
    out: list[Record] = []
    floor = 0.0
    try:
        for r in sorted(rows, key=lambda r: int(r["tier"])):
            cap = num(r["risk_limit"], "risk_limit", r)
            out.append(MarginTier(EXCHANGE, symbol_of(r.get("contract", vsym)), int(r["tier"]), floor, cap,
                                  num(r["maintenance_rate"], "maintenance_rate", r),
                                  num(r.get("deduction", 0), "deduction", r),
                                  num(r["leverage_max"], "leverage_max", r)))
            floor = cap
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"gate risk_limit_tiers: missing field {exc}", _payload_text(body)) from None
    return out


def parse_ticker_open_interest(body: Any, vsym: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """REST ``tickers?contract=``: ``total_size`` contracts; the REST ticker carries no time, so the
    snapshot is stamped with the receive time."""
    out: list[Record] = []
    for r in _rows(body, "tickers"):
        try:
            if vsym and r["contract"] != vsym:
                continue
            oi = num(r["total_size"], "total_size", r) * ctx.contract_size(r["contract"])
            mark = num(r["mark_price"], "mark_price", r)
        except (KeyError, TypeError) as exc:
            raise ParseError(f"gate tickers: missing field {exc}", _payload_text(r)) from None
        out.append(OpenInterest(EXCHANGE, symbol_of(r["contract"]), ts_recv, ts_recv, oi, oi * mark, r["contract"]))
    return out


def check_response(status: int, headers: Any, body: Any) -> None:
    """Gate errors are HTTP 4xx with ``{"label", "message"}``; ``TOO_MANY_REQUESTS`` (HTTP 429) is a rate
    limit whose window ends at header ``x-gate-ratelimit-reset-timestamp`` (seconds or ms, 3p-observed)."""
    label = body.get("label") if isinstance(body, dict) else None
    if label == "TOO_MANY_REQUESTS" or status == 429:
        retry = None
        reset = headers.get("x-gate-ratelimit-reset-timestamp") if headers is not None else None
        try:
            if reset:
                reset_s = float(reset) / (1000.0 if float(reset) > _SECONDS_LIMIT else 1.0)
                retry = max(0.0, reset_s - time.time())
        except ValueError:
            retry = None
        raise RateLimitError(f"gate: {label or status}", retry_after=retry)
    if label and 400 <= status < 500 and status not in (403, 418):
        raise VenueError(f"gate: {label}: {body.get('message')}", code=label)
    default_check(status, headers, body)


# -- request builders (inclusive ms bounds -> Gate's second-based parameters) ----------------------


def _first_second(start_ms: int) -> int:
    """The first whole second at or after ``start_ms`` (Gate's ``from`` is inclusive, in seconds)."""
    return -(-start_ms // 1000)


def kline_params(vsym: str, start: int, end: int, limit: int, interval: str = "1m") -> dict[str, Any]:
    """``candlesticks``: ``from``/``to`` in seconds, both inclusive; ``limit`` must not be sent with them."""
    return {"contract": vsym, "interval": interval, "from": _first_second(start), "to": end // 1000}


def contract_stats_params(vsym: str, start: int, end: int, limit: int) -> dict[str, Any]:
    """``contract_stats`` takes ``from`` + ``limit`` (no ``to``); ask exactly for the window's points, from
    the window's first whole second (a floored ``from`` would spend the limit on a point before the window)."""
    first = _first_second(start)
    points = min(limit, (end - first * 1000) // (5 * MINUTE_MS) + 1)
    return {"contract": vsym, "interval": "5m", "from": first, "limit": max(1, points)}


def funding_params(vsym: str, start: int, end: int, limit: int) -> dict[str, Any]:
    return {"contract": vsym, "from": _first_second(start), "to": end // 1000, "limit": limit}


def liq_orders_params(vsym: str, start: int, end: int, limit: int = 1000) -> dict[str, Any]:
    """``liq_orders`` (public): ``to - from`` must not exceed 3600 s."""
    if end - start > HOUR_MS:
        raise ParseError(f"gate liq_orders: window {end - start} ms exceeds 3600 s")
    return {"contract": vsym, "from": _first_second(start), "to": end // 1000, "limit": limit}


SPEC = VenueSpec(
    name=EXCHANGE,
    title="Gate",
    instruments=InstrumentNames("{base}_USDT"),
    rest_url="https://api.gateio.ws/api/v4",
    ws_urls={"public": "wss://fx-ws.gateio.ws/v4/ws/usdt"},
    channels={
        "trades": Channel("trades", {"channel": "futures.trades", "payload": "{venue_symbol}"}),
        "liquidations": Channel("liquidations", {"channel": "futures.public_liquidates",
                                                 "payload": "{venue_symbol}"}),
        "tickers": Channel("tickers", {"channel": "futures.tickers", "payload": "{venue_symbol}"}),
        "klines": Channel("klines", {"channel": "futures.candlesticks", "interval": "{interval}",
                                     "payload": "{venue_symbol}"}),
    },
    subscribe=subscribe,
    parse_ws=parse_ws,
    # Gate pings with protocol frames (websockets answers); futures.ping keeps proxies from idling out.
    heartbeat=Heartbeat(client_ping='{"time": 0, "channel": "futures.ping"}', interval_s=15.0, stale_after_s=60.0,
                        pong="futures.pong"),
    max_streams_per_connection=200,
    kline_intervals=KLINE_INTERVALS,
    history={
        "klines": RestHistory("klines", f"/futures/{SETTLE}/candlesticks", 1999, MINUTE_MS, kline_params,
                              parse_klines, min_interval_s=0.2),
        "open_interest": RestHistory("open_interest", f"/futures/{SETTLE}/contract_stats", 100, 5 * MINUTE_MS,
                                     contract_stats_params, parse_contract_stats, min_interval_s=0.2),
        # hourly step: some contracts fund every 1-4 h, so 1000 rows never overflow a window
        "funding": RestHistory("funding", f"/futures/{SETTLE}/funding_rate", 1000, HOUR_MS, funding_params,
                               parse_funding, min_interval_s=0.2),
    },
    snapshots={
        "instruments": RestSnapshot("instruments", f"/futures/{SETTLE}/contracts", lambda s: {},
                                    parse_contracts),
        "margin_tiers": RestSnapshot("margin_tiers", f"/futures/{SETTLE}/risk_limit_tiers",
                                     lambda s: {"contract": s}, parse_risk_limit_tiers),
        "open_interest": RestSnapshot("open_interest", f"/futures/{SETTLE}/tickers",
                                      lambda s: {"contract": s}, parse_ticker_open_interest),
    },
    check_response=check_response,
    capabilities=frozenset({"liquidations", "trades", "klines", "mark", "oi_ws", "tiers_public",
                            "contracts_need_instruments", "liquidations_rest"}),
    notes="public_liquidates is complete since 2026-08-20 (batched per ~1 s); before, 1 per contract per "
          "second. Sizes are contracts x quanto_multiplier.",
)
