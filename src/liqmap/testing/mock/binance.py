"""Binance USDⓈ-M as the mock speaks it: ``/market/stream`` SUBSCRIBE + ``{"result":null,"id":n}`` ack,
``/fapi/v1/klines`` (ascending, ``startTime``/``endTime`` inclusive, ``limit`` ≤ 1500),
``/futures/data/openInterestHist`` (≤ 500), ``/fapi/v1/fundingRate`` (≤ 1000), ``/fapi/v1/openInterest``,
``/fapi/v1/exchangeInfo``. Errors as Binance sends them: ``{"code":-1130,"msg":...}`` with HTTP 400."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from liqmap.testing.mock.server import json_field_equals

_LIMITS = {"/fapi/v1/klines": 1500, "/futures/data/openInterestHist": 500, "/fapi/v1/fundingRate": 1000}


@dataclass
class BinanceDialect:
    klines: list[list[Any]] = field(default_factory=list)
    """REST kline rows (12 columns, open time first)."""
    oi_history: list[dict[str, Any]] = field(default_factory=list)
    funding: list[dict[str, Any]] = field(default_factory=list)
    open_interest: dict[str, Any] = field(default_factory=dict)
    symbols: list[dict[str, Any]] = field(default_factory=list)
    symbol: str | None = None
    """The instrument the klines/OI/funding rows belong to: a call for another symbol gets Binance's
    ``-1121 Invalid symbol`` (None: the rows answer any symbol, for single-symbol tests)."""
    ws_paths: tuple[str, ...] = ("/market/stream", "/market/ws")

    def is_subscribe(self, text: str) -> bool:
        return json_field_equals(text, "method", "SUBSCRIBE")

    def on_client_text(self, text: str) -> list[str]:
        try:
            msg = json.loads(text)
        except ValueError:
            return [json.dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": None})]
        if msg.get("method") in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return [json.dumps({"result": None, "id": msg.get("id")})]
        return [json.dumps({"error": {"code": 1, "msg": "Unknown property"}, "id": msg.get("id")})]

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        limit_max = _LIMITS.get(path)
        asked = params.get("symbol")
        if self.symbol is not None and asked is not None and asked != self.symbol and path != "/fapi/v1/exchangeInfo":
            return 400, {}, {"code": -1121, "msg": "Invalid symbol."}
        if limit_max is not None:
            limit = int(params.get("limit", 500))
            if limit > limit_max:
                return 400, {}, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
            start = int(params.get("startTime", 0))
            end = int(params.get("endTime", 2**62))
            if path == "/fapi/v1/klines":
                rows: list[Any] = [r for r in self.klines if start <= int(r[0]) <= end]
            elif path == "/fapi/v1/fundingRate":
                rows = [r for r in self.funding if start <= int(r["fundingTime"]) <= end]
            else:
                rows = [r for r in self.oi_history if start <= int(r["timestamp"]) <= end]
            return 200, {"X-MBX-USED-WEIGHT-1M": "10"}, rows[:limit]
        if path == "/fapi/v1/openInterest":
            return 200, {}, self.open_interest
        if path == "/fapi/v1/exchangeInfo":
            return 200, {}, {"timezone": "UTC", "rateLimits": [], "symbols": self.symbols}
        return 404, {}, {"code": -1, "msg": f"no route {path}"}


def kline_row(open_ms: int, o: float, h: float, low: float, c: float, v: float, interval_ms: int = 60_000) -> list[Any]:
    """A REST kline row in Binance's shape (strings for decimals)."""
    return [open_ms, str(o), str(h), str(low), str(c), str(v), open_ms + interval_ms - 1, str(v * c), 10,
            str(v / 2), str(v * c / 2), "0"]


def exchange_info_symbol(symbol: str, tick: str = "0.10", step: str = "0.001") -> dict[str, Any]:
    return {"symbol": symbol, "pair": symbol, "contractType": "PERPETUAL", "status": "TRADING",
            "baseAsset": symbol.removesuffix("USDT"), "quoteAsset": "USDT", "marginAsset": "USDT",
            "filters": [{"filterType": "PRICE_FILTER", "tickSize": tick, "minPrice": "0.1", "maxPrice": "1000000"},
                        {"filterType": "LOT_SIZE", "stepSize": step, "minQty": step, "maxQty": "1000"}]}


def force_order_frame(row: list[str], *, combined: bool = True) -> str:
    """The exact ``!forceOrder@arr`` frame of one recorded CSV row (the recorded forceOrder CSV format:
    symbol without USDT, side, order type, time in force, q, p, ap, status, l, z, trade time, usd).
    The recording has no event time ``E``; the trade time ``T`` stands in for it."""
    symbol, side, otype, tif, q, p, ap, status, last, filled, trade_ms = (c.strip() for c in row[:11])
    event = {"e": "forceOrder", "E": int(trade_ms),
             "o": {"s": f"{symbol}USDT", "S": side, "o": otype, "f": tif, "q": q, "p": p, "ap": ap, "X": status,
                   "l": last, "z": filled, "T": int(trade_ms)}}
    return json.dumps({"stream": "!forceOrder@arr", "data": event} if combined else event, separators=(",", ":"))


def agg_trade_frame(row: list[str]) -> str:
    """``<symbol>@aggTrade`` frame of one recorded row (event time, symbol, id, price, qty, trade time,
    is_buyer_maker)."""
    event_ms, symbol, agg_id, price, qty, trade_ms, maker = (c.strip() for c in row[:7])
    event = {"e": "aggTrade", "E": int(event_ms), "a": int(agg_id), "s": symbol, "p": price, "q": qty,
             "f": int(agg_id), "l": int(agg_id), "T": int(trade_ms), "m": maker == "True"}
    return json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": event}, separators=(",", ":"))


def kline_frame(symbol: str, row: list[str], *, closed: bool = True, interval: str = "1m",
                event_ms: int | None = None) -> str:
    """``<symbol>@kline_<interval>`` frame from a REST/archive kline row (12 columns)."""
    open_ms, close_ms = int(row[0]), int(row[6])
    k = {"t": open_ms, "T": close_ms, "s": symbol, "i": interval, "f": 0, "L": 0, "o": str(row[1]),
         "c": str(row[4]), "h": str(row[2]), "l": str(row[3]), "v": str(row[5]), "n": int(row[8]), "x": closed,
         "q": str(row[7]), "V": str(row[9]), "Q": str(row[10]), "B": "0"}
    event = {"e": "kline", "E": event_ms if event_ms is not None else close_ms + 1, "s": symbol, "k": k}
    return json.dumps({"stream": f"{symbol.lower()}@kline_{interval}", "data": event}, separators=(",", ":"))


def mark_frame(symbol: str, event_ms: int, mark: float, index: float, rate: float, next_funding_ms: int) -> str:
    event = {"e": "markPriceUpdate", "E": event_ms, "s": symbol, "p": str(mark), "i": str(index), "P": str(index),
             "r": str(rate), "T": next_funding_ms}
    return json.dumps({"stream": f"{symbol.lower()}@markPrice@1s", "data": event}, separators=(",", ":"))
