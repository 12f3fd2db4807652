"""Hyperliquid perpetuals (``POST /info`` + ``wss://api.hyperliquid.xyz/ws``): spec and pure parsers.

Library coverage: REST through httpx (:mod:`liqmap.feed.rest`, ``POST /info`` with a JSON body),
WebSocket through our websockets client. Not ccxt: ccxt hyperliquid has no OI history, no leverage
tiers and no liquidations, and its market loading issues several ``/info`` calls (perp + spot meta) a mock
would have to answer; the official SDK is synchronous and opens its own sockets.

What Hyperliquid publishes and what we do (reference §6):
* **No public liquidation feed.** Trades carry no liquidation flag and liquidations appear only in
  user-scoped streams (``userEvents``/``userFills``, at most 10 users per IP). This connector therefore
  records what the model needs instead: trades, candles and ``activeAssetCtx`` (mark, oracle, funding,
  open interest) per coin. :func:`parse_clearinghouse_state` reads one user's positions with the
  exchange's own ``liquidationPx`` ("exact positions" for a watch-list of addresses); it returns
  :class:`Position` rows, not stored records.
* Coins are named by symbol (``"BTC"``); sizes are coin units (contract size 1); prices/sizes are
  strings; times are ms. ``trades.side`` is the aggressor: ``B`` = taker bought, ``A`` = taker sold.
* ``activeAssetCtx`` carries no timestamp: records are stamped with the receive time. ``funding`` is the
  current **hourly** rate (HL funds every hour), settling at the next full hour.
* Margin tables (``meta``): tier *n* from ``lowerBound_n`` with ``maxLeverage_n``;
  ``mmr_n = 1 / (2 * maxLeverage_n)``, ``deduction_0 = 0``,
  ``deduction_n = deduction_{n-1} + lowerBound_n * (mmr_n - mmr_{n-1})`` (HL docs, "Margin tiers").
  A ``marginTableId`` below 50 not listed in ``marginTables`` is a single tier with max leverage = id;
  an asset without ``marginTableId`` gets one tier at its ``maxLeverage``.
* Tick size: prices may have 5 significant figures and at most ``6 - szDecimals`` decimals, so the
  finest tick is ``10^-(6 - szDecimals)``; the lot is ``10^-szDecimals``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from liqmap.errors import ParseError, UnknownSymbolError, VenueError
from liqmap.types import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Bar,
    Funding,
    Instrument,
    MarginTier,
    MarkPrice,
    OpenInterest,
    PositionSnapshot,
    Record,
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

EXCHANGE = "hyperliquid"
KLINE_INTERVALS = {MINUTE_MS: "1m", 5 * MINUTE_MS: "5m", 15 * MINUTE_MS: "15m", 30 * MINUTE_MS: "30m",
                   HOUR_MS: "1h", 4 * HOUR_MS: "4h", 8 * HOUR_MS: "8h", 12 * HOUR_MS: "12h", DAY_MS: "1d"}
_INTERVAL_MS = {v: k for k, v in KLINE_INTERVALS.items()}
_TAKER = {"B": "buy", "A": "sell"}
MAX_PRICE_DECIMALS = 6  # perps (HL docs "Tick and lot size")


def _text(payload: Any) -> str:
    return json.dumps(payload)[:2000]


def _symbol(coin: str) -> str | None:
    try:
        return symbol_of(coin)
    except (UnknownSymbolError, ParseError):
        return None


@dataclass(frozen=True, slots=True)
class TradeAccounts:
    """Both accounts of one public trade (``WsTrade.users`` = [buyer, seller]) and the trade's USD notional:
    how the position collector discovers active accounts."""

    coin: str
    ts: int
    notional: float
    users: tuple[str, ...]


# -- WebSocket -----------------------------------------------------------------------------------


def subscribe(args: Sequence[str | dict[str, str]]) -> list[str]:
    """One ``{"method":"subscribe","subscription":{...}}`` frame per subscription."""
    return [json.dumps({"method": "subscribe", "subscription": arg}) for arg in args]


def parse_ws(raw: str | bytes, ts_recv: int, ctx: ParseContext) -> list[Record]:
    msg = load_json(raw)
    if not isinstance(msg, dict) or "channel" not in msg:
        raise ParseError("hyperliquid frame without channel", raw)
    channel = msg["channel"]
    data: Any = msg.get("data")
    if channel in ("subscriptionResponse", "pong"):
        return []
    if channel == "error":
        raise VenueError(f"hyperliquid: {data}")
    try:
        if channel == "trades":
            return _trades(data, ts_recv, ctx)
        if channel == "activeAssetCtx":
            return _asset_ctx(data["coin"], data["ctx"], ts_recv, ts_recv)
        if channel == "candle":
            return _candle(data, ts_recv, ctx)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ParseError(f"hyperliquid {channel}: missing/invalid field {exc}", raw) from None
    raise ParseError(f"hyperliquid: unexpected channel {channel!r}", raw)


def _trades(data: list[dict[str, Any]], ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for t in data:
        coin = t["coin"]
        try:
            taker = _TAKER[t["side"]]
        except KeyError:
            raise ParseError(f"hyperliquid trade: unknown side {t.get('side')!r}", _text(t)) from None
        out.append(Trade(EXCHANGE, symbol_of(coin), ms(t["time"], "time", t), ts_recv, num(t["px"], "px", t),
                         num(t["sz"], "sz", t), taker, str(t["tid"]), coin))  # type: ignore[arg-type]
    return out


def _next_hour(ts: int) -> int:
    return (ts // HOUR_MS + 1) * HOUR_MS


def _asset_ctx(coin: str, c: dict[str, Any], ts: int, ts_recv: int) -> list[Record]:
    """Mark/oracle/funding + open interest of one coin context. ``ts``: the instant the values apply to
    (the receive time; HL contexts carry none)."""
    sym = symbol_of(coin)
    mark = num(c["markPx"], "markPx", c)
    oracle = c.get("oraclePx")
    oi = num(c["openInterest"], "openInterest", c)
    return [MarkPrice(EXCHANGE, sym, ts, ts_recv, mark, num(oracle, "oraclePx", c) if oracle else None,
                      num(c["funding"], "funding", c), _next_hour(ts), coin),
            OpenInterest(EXCHANGE, sym, ts, ts_recv, oi, oi * mark, coin)]


def _candle(data: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    """The candle channel re-sends the forming candle; one is closed when a later ``t`` arrives."""
    bar = _bar(data, ts_recv)
    key = f"{data['s']}/{data['i']}"
    pending: dict[str, Bar] = ctx.state.setdefault("hl_candles", {})
    previous = pending.get(key)
    out: list[Record] = []
    if previous is not None and previous.ts_event < bar.ts_event:
        out.append(previous)
    if previous is None or previous.ts_event <= bar.ts_event:
        pending[key] = bar
    return out


def _bar(c: dict[str, Any], ts_recv: int) -> Bar:
    """``{t (open ms), T (close ms), s, i, o, c, h, l, v (coin), n (trades)}``."""
    try:
        interval_ms = _INTERVAL_MS[c["i"]]
    except KeyError:
        raise ParseError(f"hyperliquid candle: unsupported interval {c.get('i')!r}", _text(c)) from None
    close = num(c["c"], "c", c)
    volume = num(c["v"], "v", c)
    return Bar(EXCHANGE, symbol_of(c["s"]), interval_ms, ms(c["t"], "t", c), num(c["o"], "o", c),
               num(c["h"], "h", c), num(c["l"], "l", c), close, volume, ts_recv, None, None, int(c["n"]),
               "perp", c["s"])


# -- REST (POST /info) ---------------------------------------------------------------------------


def parse_candles(body: Any, coin: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    if not isinstance(body, list):
        raise ParseError("hyperliquid candleSnapshot: body is not a list", _text(body))
    try:
        return [_bar(c, ts_recv) for c in body]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"hyperliquid candleSnapshot: missing field {exc}", _text(body)) from None


def parse_funding(body: Any, coin: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``fundingHistory``: the hourly rate settled at ``time``."""
    if not isinstance(body, list):
        raise ParseError("hyperliquid fundingHistory: body is not a list", _text(body))
    try:
        return [Funding(EXCHANGE, symbol_of(r["coin"]), ms(r["time"], "time", r), ts_recv,
                        num(r["fundingRate"], "fundingRate", r), 1.0, r["coin"]) for r in body]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"hyperliquid fundingHistory: missing field {exc}", _text(body)) from None


def _universe(body: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("universe"), list):
        raise ParseError(f"hyperliquid {what}: no universe", _text(body))
    result: list[dict[str, Any]] = body["universe"]
    return result


def parse_instruments(body: Any, coin: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for a in _universe(body, "meta"):
        try:
            if (coin and a["name"] != coin) or a.get("isDelisted"):
                continue
            sym = _symbol(a["name"])
            if sym is None:
                continue
            decimals = int(a["szDecimals"])
            out.append(Instrument(EXCHANGE, sym, a["name"], 1.0, 10.0 ** -(MAX_PRICE_DECIMALS - decimals),
                                  10.0 ** -decimals, num(a["maxLeverage"], "maxLeverage", a), "USDC"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(f"hyperliquid meta: missing field {exc}", _text(a)) from None
    return out


def margin_tiers(tiers: Sequence[tuple[float, float]]) -> list[tuple[float, float, float, float]]:
    """``[(lowerBound, maxLeverage)]`` -> ``[(floor, cap, mmr, deduction)]`` per the HL formula
    ``mmr_n = 1/(2 L_n)``, ``d_n = d_{n-1} + lowerBound_n (mmr_n - mmr_{n-1})``."""
    ordered = sorted(tiers)
    out: list[tuple[float, float, float, float]] = []
    deduction, prev_mmr = 0.0, None
    for i, (lower, lev) in enumerate(ordered):
        mmr = 1.0 / (2.0 * lev)
        if prev_mmr is not None:
            deduction += lower * (mmr - prev_mmr)
        cap = ordered[i + 1][0] if i + 1 < len(ordered) else math.inf
        out.append((lower, cap, mmr, deduction))
        prev_mmr = mmr
    return out


def parse_margin_tables(body: Any, coin: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    universe = _universe(body, "meta")
    try:
        tables = {int(tid): [(num(t["lowerBound"], "lowerBound", t), num(t["maxLeverage"], "maxLeverage", t))
                             for t in table["marginTiers"]]
                  for tid, table in body.get("marginTables", [])}
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"hyperliquid meta marginTables: {exc}", _text(body.get("marginTables"))) from None
    out: list[Record] = []
    for a in universe:
        if (coin and a.get("name") != coin) or a.get("isDelisted"):
            continue
        sym = _symbol(a.get("name", ""))
        if sym is None:
            continue
        table_id = a.get("marginTableId")
        if table_id is not None and int(table_id) in tables:
            tiers = tables[int(table_id)]
        elif table_id is not None and int(table_id) < 50:
            tiers = [(0.0, float(table_id))]
        elif table_id is None and "maxLeverage" in a:
            tiers = [(0.0, num(a["maxLeverage"], "maxLeverage", a))]
        else:
            raise ParseError(f"hyperliquid meta: {a.get('name')} uses unknown margin table {table_id}", _text(a))
        for n, (floor, cap, mmr, deduction) in enumerate(margin_tiers(tiers), start=1):
            out.append(MarginTier(EXCHANGE, sym, n, floor, cap, mmr, deduction, 1.0 / (2.0 * mmr)))
    return out


def parse_asset_ctxs(body: Any, coin: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``metaAndAssetCtxs`` = ``[meta, [ctx per universe index]]``: OI + mark per coin at receive time."""
    if not isinstance(body, list) or len(body) != 2 or not isinstance(body[1], list):
        raise ParseError("hyperliquid metaAndAssetCtxs: expected [meta, contexts]", _text(body))
    universe = _universe(body[0], "metaAndAssetCtxs")
    if len(universe) != len(body[1]):
        raise ParseError("hyperliquid metaAndAssetCtxs: universe and contexts differ in length", _text(body))
    out: list[Record] = []
    for asset, c in zip(universe, body[1], strict=True):
        name = asset.get("name", "")
        if (coin and name != coin) or not ctx.is_wanted(name) or _symbol(name) is None:
            continue
        try:
            out.extend(_asset_ctx(name, c, ts_recv, ts_recv))
        except (KeyError, TypeError) as exc:
            raise ParseError(f"hyperliquid metaAndAssetCtxs: missing field {exc}", _text(c)) from None
    return out


def _opt_num(value: Any) -> float | None:
    """A venue number that may be null, "", "NaN" or infinite -> None."""
    if value in (None, "", "NaN"):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def parse_clearinghouse_state(body: Any, account: str, ts_recv: int,
                              held: Sequence[str] = ()) -> list[PositionSnapshot]:
    """One account's ``clearinghouseState`` -> one :class:`PositionSnapshot` per open position.

    ``liquidationPx`` null/"NaN" -> ``liquidation_price=None``. Mark = ``positionValue / |szi|``. Cross
    positions carry the cross ``accountValue`` and ``crossMaintenanceMarginUsed`` (absent in 2023-era
    answers -> None); isolated ones their own equity ``rawUsd + szi * mark`` (``marginUsed`` without
    ``rawUsd``). ``held``: coins this account held at its previous snapshot; each one missing now gets a
    ``size=0`` row, so a closed position (or an account that vanished) stops counting at this instant.
    ``time`` (ms) stamps the rows; answers without it use ``ts_recv``.
    """
    if not isinstance(body, dict) or not isinstance(body.get("assetPositions"), list):
        raise ParseError("hyperliquid clearinghouseState: no assetPositions", _text(body))
    ts = int(body.get("time") or ts_recv)
    cross = body.get("crossMarginSummary") or body.get("marginSummary") or {}
    cross_value = _opt_num(cross.get("accountValue")) or 0.0
    cross_maint = _opt_num(body.get("crossMaintenanceMarginUsed"))
    out: list[PositionSnapshot] = []
    for item in body["assetPositions"]:
        try:
            p = item["position"]
            coin = p["coin"]
            size = num(p["szi"], "szi", p)
            sym = _symbol(coin)
            if size == 0 or sym is None:
                continue
            value = num(p["positionValue"], "positionValue", p)
            mark = abs(value / size)
            lev = p["leverage"]
            kind = str(lev["type"])
            margin_used = num(p["marginUsed"], "marginUsed", p)
            if kind == "cross":
                equity, maint = cross_value, cross_maint
            else:
                raw_usd = _opt_num(lev.get("rawUsd"))
                equity, maint = (raw_usd + size * mark if raw_usd is not None else margin_used), None
            out.append(PositionSnapshot(EXCHANGE, sym, account, ts, ts_recv, size,
                                        _opt_num(p.get("entryPx")) or mark, mark, _opt_num(p.get("liquidationPx")),
                                        num(lev["value"], "leverage", lev), kind, margin_used, value, equity,
                                        maint, _opt_num(p.get("maxLeverage")), coin))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ParseError(f"hyperliquid clearinghouseState: {exc}", _text(item)) from None
    now = {r.venue_symbol for r in out}
    for coin in held:
        sym = _symbol(coin)
        if coin not in now and sym is not None:
            out.append(PositionSnapshot(EXCHANGE, sym, account, ts, ts_recv, 0.0, 0.0, 0.0, None, 0.0, "cross",
                                        0.0, 0.0, cross_value, cross_maint, None, coin))
    return out


def trade_accounts(raw: str | bytes) -> list[TradeAccounts]:
    """The accounts named by a ``trades`` frame (other channels -> []); a trade without ``users`` names none."""
    msg = load_json(raw)
    if not isinstance(msg, dict) or msg.get("channel") != "trades":
        return []
    out: list[TradeAccounts] = []
    for t in msg.get("data") or []:
        try:
            users = tuple(str(u).lower() for u in t.get("users") or () if isinstance(u, str) and u)
            out.append(TradeAccounts(t["coin"], ms(t["time"], "time", t),
                                     num(t["px"], "px", t) * num(t["sz"], "sz", t), users))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ParseError(f"hyperliquid trades: {exc}", _text(t)) from None
    return out


def clearinghouse_body(account: str) -> dict[str, Any]:
    return {"type": "clearinghouseState", "user": account}


def candle_body(coin: str, start: int, end: int, limit: int, interval: str = "1m") -> dict[str, Any]:
    return {"type": "candleSnapshot", "req": {"coin": coin, "interval": interval, "startTime": start,
                                              "endTime": end}}


def funding_body(coin: str, start: int, end: int, limit: int) -> dict[str, Any]:
    return {"type": "fundingHistory", "coin": coin, "startTime": start, "endTime": end}


def check_response(status: int, headers: Any, body: Any) -> None:
    from liqmap.venues._spec import default_check

    default_check(status, headers, body)
    if isinstance(body, dict) and body.get("status") == "err":
        raise VenueError(f"hyperliquid: {body.get('response')}")


SPEC = VenueSpec(
    name=EXCHANGE,
    title="Hyperliquid",
    instruments=InstrumentNames("{base}", thousand_prefix="k"),
    rest_url="https://api.hyperliquid.xyz",
    ws_urls={"public": "wss://api.hyperliquid.xyz/ws"},
    channels={
        "trades": Channel("trades", {"type": "trades", "coin": "{venue_symbol}"}),
        "tickers": Channel("tickers", {"type": "activeAssetCtx", "coin": "{venue_symbol}"}),
        "klines": Channel("klines", {"type": "candle", "coin": "{venue_symbol}", "interval": "{interval}"}),
    },
    subscribe=subscribe,
    parse_ws=parse_ws,
    # The server closes sockets silent for ~60 s; the SDK pings every 50 s. We ping every 30 s.
    heartbeat=Heartbeat(client_ping='{"method":"ping"}', interval_s=30.0, stale_after_s=65.0,
                        pong='{"channel":"pong"}'),
    max_streams_per_connection=300,  # 1000 subscriptions per IP
    kline_intervals=KLINE_INTERVALS,
    history={
        # candleSnapshot serves only the most recent 5000 candles of an interval
        "klines": RestHistory("klines", "/info", 5000, MINUTE_MS, candle_body, parse_candles,
                              min_interval_s=1.0, max_age_ms=5000 * MINUTE_MS, method="POST"),
        "funding": RestHistory("funding", "/info", 500, HOUR_MS, funding_body, parse_funding,
                               min_interval_s=1.0, method="POST"),
    },
    snapshots={
        "instruments": RestSnapshot("instruments", "/info", lambda c: {"type": "meta"}, parse_instruments,
                                    method="POST"),
        "margin_tiers": RestSnapshot("margin_tiers", "/info", lambda c: {"type": "meta"}, parse_margin_tables,
                                     method="POST"),
        "open_interest": RestSnapshot("open_interest", "/info", lambda c: {"type": "metaAndAssetCtxs"},
                                      parse_asset_ctxs, min_interval_s=1.0, method="POST"),
    },
    check_response=check_response,
    capabilities=frozenset({"trades", "klines", "mark", "oi_ws", "tiers_public", "positions_by_address"}),
    notes="No public liquidation feed (user-scoped only). OI/mark/funding from activeAssetCtx, stamped at "
          "receive time. No OI history endpoint.",
)
