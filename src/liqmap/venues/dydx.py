"""dYdX v4 perpetuals through the public **indexer** (REST ``/v4``, WS ``/v4/ws``): spec and pure parsers.

Library coverage: REST through httpx (:mod:`liqmap.feed.rest`), WebSocket through our websockets client.
Not ccxt: ccxt dydx offers funding history only (no OI history, no liquidations, no tiers); the official
v4 clients pull in the chain SDK (protobuf/grpc) for what are plain JSON calls here.

Conventions applied here, once (reference §7):
* Markets are tickers ``BTC-USD`` (USDC-settled); sizes are base units (contract size 1); prices USD.
* Times are ISO-8601 strings (``createdAt``, ``startedAt``, ``effectiveAt``) -> int ms.
* **Liquidations are public trades** with ``type == "LIQUIDATED"`` (``v4_trades`` and
  ``/v4/trades/perpetualMarket/{market}``): every liquidation fill, not a sample. ``side`` is the taker
  side and the liquidation order is the taker, so ``SELL`` = a long was liquidated. ``DELEVERAGED`` trades
  (ADL) are stored as trades only. The price is the fill price.
* ``v4_markets`` carries open interest (base units) and ``nextFundingRate`` (hourly) without a timestamp:
  stamped with the receive time (oracle updates too, although they carry ``effectiveAt``, so one mark
  series has one clock). The oracle price is the mark price dYdX margins against.
* Margin: one ``maintenanceMarginFraction`` per market (no notional tiers; the OI-based IMF scaling is
  not modelled): one :class:`MarginTier` with max leverage ``1 / initialMarginFraction``.
* OI history comes from candles' ``startingOpenInterest`` (OI at the candle's start).
* REST paths embed the market (``.../{venue_symbol}``); the pager fills the placeholder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from liqmap.errors import ParseError, UnknownSymbolError, VenueError
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
    num,
    symbol_of,
)

EXCHANGE = "dydx"
RESOLUTIONS = {MINUTE_MS: "1MIN", 5 * MINUTE_MS: "5MINS", 15 * MINUTE_MS: "15MINS", 30 * MINUTE_MS: "30MINS",
               HOUR_MS: "1HOUR", 4 * HOUR_MS: "4HOURS", DAY_MS: "1DAY"}
_RESOLUTION_MS = {v: k for k, v in RESOLUTIONS.items()}
_TAKER = {"BUY": "buy", "SELL": "sell"}
_LIQUIDATED = {"SELL": "long", "BUY": "short"}


def _text(payload: Any) -> str:
    return json.dumps(payload)[:2000]


def _symbol(ticker: str) -> str | None:
    """User symbol of a market, None for names outside the vocabulary (never requested by a user)."""
    try:
        return symbol_of(ticker)
    except UnknownSymbolError:
        return None


def iso_ms(value: Any, what: str = "time", payload: Any = None) -> int:
    """``2024-08-23T00:00:57.627Z`` -> ms since the epoch (UTC)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(f"field {what!r} is not an ISO time: {value!r}", _text(payload)) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def ms_iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts % 1000:03d}Z"


# -- WebSocket -----------------------------------------------------------------------------------


def subscribe(args: Sequence[str | dict[str, str]]) -> list[str]:
    """One ``{"type":"subscribe","channel":...,"id":...,"batched":false}`` per subscription (the indexer
    allows 2 subscriptions per connection+channel+id per second)."""
    frames = []
    for arg in args:
        if not isinstance(arg, dict):
            raise ParseError(f"dydx subscribe: argument must be a dict, got {arg!r}")
        frames.append(json.dumps({"type": "subscribe", **arg, "batched": False}))
    return frames


def parse_ws(raw: str | bytes, ts_recv: int, ctx: ParseContext) -> list[Record]:
    msg = load_json(raw)
    if not isinstance(msg, dict) or "type" not in msg:
        raise ParseError("dydx frame without type", raw)
    kind = msg["type"]
    if kind in ("connected", "unsubscribed"):
        return []
    if kind == "error":
        raise VenueError(f"dydx: {msg.get('message')}")
    if kind not in ("subscribed", "channel_data"):
        raise ParseError(f"dydx: unexpected message type {kind!r}", raw)
    channel = msg.get("channel")
    contents: Any = msg.get("contents")
    items = contents if isinstance(contents, list) else [contents]  # batched channel_data is a list
    try:
        out: list[Record] = []
        for item in items:
            if channel == "v4_trades":
                out.extend(_trades(msg["id"], item["trades"], ts_recv))
            elif channel == "v4_markets":
                out.extend(_markets(item, ts_recv, ctx))
            else:
                raise ParseError(f"dydx: unexpected channel {channel!r}", raw)
        return out
    except (KeyError, TypeError, AttributeError) as exc:
        raise ParseError(f"dydx {channel}: missing/invalid field {exc}", raw) from None


def _trades(market: str, trades: list[dict[str, Any]], ts_recv: int) -> list[Record]:
    sym = symbol_of(market)
    out: list[Record] = []
    for t in trades:
        side = t["side"]
        if side not in _TAKER:
            raise ParseError(f"dydx trade: unknown side {side!r}", _text(t))
        ts = iso_ms(t["createdAt"], "createdAt", t)
        price, size = num(t["price"], "price", t), num(t["size"], "size", t)
        out.append(Trade(EXCHANGE, sym, ts, ts_recv, price, size, _TAKER[side], str(t["id"]), market))  # type: ignore[arg-type]
        if t.get("type") == "LIQUIDATED":
            out.append(Liquidation(EXCHANGE, sym, ts, ts_recv, _LIQUIDATED[side], price, size,  # type: ignore[arg-type]
                                   price * size, "fill", market))
    return out


def _markets(contents: dict[str, Any], ts_recv: int, ctx: ParseContext) -> list[Record]:
    """Initial ``{"markets": {ticker: market}}`` or updates ``{"trading": {...}}`` /
    ``{"oraclePrices": {ticker: {oraclePrice, effectiveAt}}}``."""
    oracle: dict[str, float] = ctx.state.setdefault("dydx_oracle", {})
    out: list[Record] = []
    for ticker, p in (contents.get("oraclePrices") or {}).items():
        if not ctx.is_wanted(ticker):
            continue
        price = num(p["oraclePrice"], "oraclePrice", p)
        oracle[ticker] = price
        # stamped like the rest of v4_markets (receive time): mixing effectiveAt with receive-time stamps
        # would make the mark series step backwards and the collector drop updates as stale
        out.append(MarkPrice(EXCHANGE, symbol_of(ticker), ts_recv, ts_recv, price, price, None, None, ticker))
    markets = contents.get("markets") or contents.get("trading") or {}
    for ticker, m in markets.items():
        if not ctx.is_wanted(ticker):
            continue
        sym = symbol_of(ticker)
        if m.get("oraclePrice") not in (None, ""):
            oracle[ticker] = num(m["oraclePrice"], "oraclePrice", m)
        mark = oracle.get(ticker)
        if mark is not None and m.get("nextFundingRate") not in (None, ""):
            out.append(MarkPrice(EXCHANGE, sym, ts_recv, ts_recv, mark, mark,
                                 num(m["nextFundingRate"], "nextFundingRate", m), (ts_recv // HOUR_MS + 1) * HOUR_MS,
                                 ticker))
        if m.get("openInterest") not in (None, ""):
            oi = num(m["openInterest"], "openInterest", m)
            out.append(OpenInterest(EXCHANGE, sym, ts_recv, ts_recv, oi, oi * mark if mark else None, ticker))
    return out


# -- REST ----------------------------------------------------------------------------------------


def _list(body: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise ParseError(f"dydx: body has no {key!r} list", _text(body))
    result: list[dict[str, Any]] = body[key]
    return result


def parse_candles(body: Any, market: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for c in _list(body, "candles"):
        try:
            interval = _RESOLUTION_MS[c["resolution"]]
            out.append(Bar(EXCHANGE, symbol_of(c["ticker"]), interval, iso_ms(c["startedAt"], "startedAt", c),
                           num(c["open"], "open", c), num(c["high"], "high", c), num(c["low"], "low", c),
                           num(c["close"], "close", c), num(c["baseTokenVolume"], "baseTokenVolume", c), ts_recv,
                           num(c["usdVolume"], "usdVolume", c), None, int(c["trades"]), "perp", c["ticker"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(f"dydx candles: missing/invalid field {exc}", _text(c)) from None
    return out


def parse_candle_open_interest(body: Any, market: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``startingOpenInterest`` = OI (base) at the candle's start; USD at the candle's open price."""
    out: list[Record] = []
    for c in _list(body, "candles"):
        try:
            oi = num(c["startingOpenInterest"], "startingOpenInterest", c)
            out.append(OpenInterest(EXCHANGE, symbol_of(c["ticker"]), iso_ms(c["startedAt"], "startedAt", c), ts_recv,
                                    oi, oi * num(c["open"], "open", c), c["ticker"]))
        except (KeyError, TypeError) as exc:
            raise ParseError(f"dydx candles: missing field {exc}", _text(c)) from None
    return out


def parse_funding(body: Any, market: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    try:
        return [Funding(EXCHANGE, symbol_of(f["ticker"]), iso_ms(f["effectiveAt"], "effectiveAt", f), ts_recv,
                        num(f["rate"], "rate", f), 1.0, f["ticker"]) for f in _list(body, "historicalFunding")]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"dydx historicalFunding: missing field {exc}", _text(body)) from None


def parse_trades(body: Any, market: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``/v4/trades/perpetualMarket/{market}``: trades, plus a Liquidation per ``LIQUIDATED`` fill."""
    try:
        return _trades(market, _list(body, "trades"), ts_recv)
    except (KeyError, TypeError) as exc:
        raise ParseError(f"dydx trades: missing field {exc}", _text(body)) from None


def _markets_map(body: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("markets"), dict):
        raise ParseError("dydx perpetualMarkets: no markets map", _text(body))
    result: dict[str, dict[str, Any]] = body["markets"]
    return result


def parse_instruments(body: Any, market: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for ticker, m in _markets_map(body).items():
        sym = _symbol(ticker)
        if (market and ticker != market) or m.get("status", "ACTIVE") != "ACTIVE" or sym is None:
            continue
        try:
            imf = num(m["initialMarginFraction"], "initialMarginFraction", m)
            out.append(Instrument(EXCHANGE, sym, ticker, 1.0, num(m["tickSize"], "tickSize", m),
                                  num(m["stepSize"], "stepSize", m), 1.0 / imf if imf > 0 else None, "USD"))
        except KeyError as exc:
            raise ParseError(f"dydx perpetualMarkets: missing field {exc}", _text(m)) from None
    return out


def parse_margin(body: Any, market: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    out: list[Record] = []
    for ticker, m in _markets_map(body).items():
        if (market and ticker != market) or _symbol(ticker) is None:
            continue
        try:
            imf = num(m["initialMarginFraction"], "initialMarginFraction", m)
            mmf = num(m["maintenanceMarginFraction"], "maintenanceMarginFraction", m)
            out.append(MarginTier(EXCHANGE, symbol_of(ticker), 1, 0.0, math.inf, mmf, 0.0, 1.0 / imf))
        except (KeyError, ZeroDivisionError) as exc:
            raise ParseError(f"dydx perpetualMarkets: bad margin fields ({exc})", _text(m)) from None
    return out


def parse_open_interest(body: Any, market: str, ts_recv: int, ctx: ParseContext) -> list[Record]:
    """``perpetualMarkets`` snapshot: OI (base) x oracle price, stamped with the receive time."""
    out: list[Record] = []
    for ticker, m in _markets_map(body).items():
        if (market and ticker != market) or _symbol(ticker) is None:
            continue
        try:
            oi = num(m["openInterest"], "openInterest", m)
            oracle = num(m["oraclePrice"], "oraclePrice", m)
            out.append(OpenInterest(EXCHANGE, symbol_of(ticker), ts_recv, ts_recv, oi, oi * oracle, ticker))
        except KeyError as exc:
            raise ParseError(f"dydx perpetualMarkets: missing field {exc}", _text(m)) from None
    return out


def candle_params(market: str, start: int, end: int, limit: int, resolution: str = "1MIN") -> dict[str, Any]:
    return {"resolution": resolution, "fromISO": ms_iso(start), "toISO": ms_iso(end), "limit": limit}


def funding_params(market: str, start: int, end: int, limit: int) -> dict[str, Any]:
    """``historicalFunding`` pages backwards from ``effectiveBeforeOrAt``."""
    return {"effectiveBeforeOrAt": ms_iso(end), "limit": limit}


SPEC = VenueSpec(
    name=EXCHANGE,
    title="dYdX",
    instruments=InstrumentNames("{base}-USD"),
    rest_url="https://indexer.dydx.trade",
    ws_urls={"public": "wss://indexer.dydx.trade/v4/ws"},
    channels={
        "trades": Channel("trades", {"channel": "v4_trades", "id": "{venue_symbol}"}),
        "tickers": Channel("tickers", {"channel": "v4_markets"}, per_symbol=False),
    },
    subscribe=subscribe,
    parse_ws=parse_ws,
    # The indexer pings with protocol frames every 30 s (pong within 10 s; websockets answers).
    heartbeat=Heartbeat(client_ping=None, interval_s=30.0, stale_after_s=70.0),
    max_streams_per_connection=100,
    kline_intervals=RESOLUTIONS,
    history={
        "klines": RestHistory("klines", "/v4/candles/perpetualMarkets/{venue_symbol}", 100, MINUTE_MS,
                              candle_params, parse_candles, min_interval_s=0.1),
        "open_interest": RestHistory("open_interest", "/v4/candles/perpetualMarkets/{venue_symbol}", 100, HOUR_MS,
                                     lambda m, a, b, n: candle_params(m, a, b, n, "1HOUR"),
                                     parse_candle_open_interest, min_interval_s=0.1),
        "funding": RestHistory("funding", "/v4/historicalFunding/{venue_symbol}", 100, HOUR_MS, funding_params,
                               parse_funding, min_interval_s=0.1),
    },
    snapshots={
        "instruments": RestSnapshot("instruments", "/v4/perpetualMarkets",
                                    lambda m: {"market": m} if m else {}, parse_instruments),
        "margin_tiers": RestSnapshot("margin_tiers", "/v4/perpetualMarkets", lambda m: {"market": m}, parse_margin),
        "open_interest": RestSnapshot("open_interest", "/v4/perpetualMarkets", lambda m: {"market": m},
                                      parse_open_interest),
    },
    capabilities=frozenset({"liquidations", "liquidations_in_trades", "trades", "mark", "oi_ws",
                            "rest_path_has_symbol"}),
    notes="Liquidations = trades of type LIQUIDATED (complete). No WS candles subscribed (REST candles). "
          "Single maintenance fraction per market.",
)
