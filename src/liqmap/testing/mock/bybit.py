"""Bybit v5 (linear) as the mock speaks it: ``/v5/public/linear`` with ``{"op":"subscribe"}`` acks,
``{"op":"ping"}`` -> pong, "handler not found" for unknown topics; REST envelopes
``{"retCode":0,"retMsg":"OK","result":{...}}`` with newest-first lists and Bybit's limits."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from liqmap.testing.mock.server import json_field_equals

_TOPICS = ("publicTrade.", "allLiquidation.", "kline.", "tickers.")


def _ok(result: dict[str, Any]) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 0}


@dataclass
class BybitDialect:
    klines: list[list[str]] = field(default_factory=list)
    """Kline rows in the Binance archive shape (open time, o, h, l, c, volume, close time, quote volume...)."""
    oi_history: list[dict[str, Any]] = field(default_factory=list)
    funding: list[dict[str, Any]] = field(default_factory=list)
    instruments: list[dict[str, Any]] = field(default_factory=list)
    risk_limits: list[dict[str, Any]] = field(default_factory=list)
    symbol: str | None = None
    """The instrument the kline/OI/funding rows belong to: another symbol gets Bybit's retCode 10001
    (None: the rows answer any symbol)."""
    ws_paths: tuple[str, ...] = ("/v5/public/linear",)

    def is_subscribe(self, text: str) -> bool:
        return json_field_equals(text, "op", "subscribe")

    def on_client_text(self, text: str) -> list[str]:
        try:
            msg = json.loads(text)
        except ValueError:
            return [json.dumps({"success": False, "ret_msg": "Invalid json", "op": ""})]
        op = msg.get("op")
        if op == "ping":
            return [json.dumps({"success": True, "ret_msg": "pong", "conn_id": "mock", "req_id": msg.get("req_id", ""),
                                "op": "ping"})]
        if op == "subscribe":
            bad = [a for a in msg.get("args", []) if not a.startswith(_TOPICS)]
            if bad:
                return [json.dumps({"success": False, "ret_msg": f"handler not found,topic:{bad[0]}", "conn_id": "mock",
                                    "req_id": msg.get("req_id", ""), "op": "subscribe"})]
            return [json.dumps({"success": True, "ret_msg": "", "conn_id": "mock", "req_id": msg.get("req_id", ""),
                                "op": "subscribe"})]
        return [json.dumps({"success": False, "ret_msg": f"unknown op {op}", "op": op})]

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        asked = params.get("symbol")
        if (self.symbol is not None and asked is not None and asked != self.symbol
                and path in ("/v5/market/kline", "/v5/market/open-interest", "/v5/market/funding/history")):
            return 200, {}, {"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {}}
        if path == "/v5/market/kline":
            limit = int(params.get("limit", 200))
            if limit > 1000:
                return 200, {}, {"retCode": 10001, "retMsg": "params error: limit", "result": {}}
            a, b = int(params.get("start", 0)), int(params.get("end", 2**62))
            rows = [[r[0], r[1], r[2], r[3], r[4], r[5], r[7]] for r in self.klines if a <= int(r[0]) <= b]
            rows.sort(key=lambda r: -int(r[0]))  # newest first: with more rows than limit, the newest win
            return 200, {}, _ok({"symbol": params.get("symbol"), "category": "linear", "list": rows[:limit]})
        if path == "/v5/market/open-interest":
            limit = int(params.get("limit", 50))
            a, b = int(params.get("startTime", 0)), int(params.get("endTime", 2**62))
            oi_rows = sorted((r for r in self.oi_history if a <= int(r["timestamp"]) <= b), key=lambda r: -int(r["timestamp"]))
            return 200, {}, _ok({"symbol": params.get("symbol"), "category": "linear", "list": oi_rows[:limit],
                                 "nextPageCursor": ""})
        if path == "/v5/market/funding/history":
            if "startTime" in params and "endTime" not in params:
                return 200, {}, {"retCode": 10001, "retMsg": "params error: endTime required", "result": {}}
            limit = int(params.get("limit", 200))
            a, b = int(params.get("startTime", 0)), int(params.get("endTime", 2**62))
            funding_rows = sorted((r for r in self.funding if a <= int(r["fundingRateTimestamp"]) <= b),
                          key=lambda r: -int(r["fundingRateTimestamp"]))
            return 200, {}, _ok({"category": "linear", "list": funding_rows[:limit]})
        if path == "/v5/market/instruments-info":
            sym = params.get("symbol")
            return 200, {}, _ok({"category": "linear", "list": [i for i in self.instruments
                                                                if not sym or i["symbol"] == sym]})
        if path == "/v5/market/risk-limit":
            sym = params.get("symbol")
            return 200, {}, _ok({"category": "linear", "list": [r for r in self.risk_limits
                                                                if not sym or r["symbol"] == sym]})
        return 404, {}, {"retCode": 10404, "retMsg": f"no route {path}"}


def instrument(symbol: str, tick: str = "0.001", step: str = "0.1") -> dict[str, Any]:
    return {"symbol": symbol, "contractType": "LinearPerpetual", "status": "Trading",
            "baseCoin": symbol.removesuffix("USDT"), "quoteCoin": "USDT",
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "50.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": "0.001", "maxPrice": "19999", "tickSize": tick},
            "lotSizeFilter": {"maxOrderQty": "1000", "minOrderQty": step, "qtyStep": step}, "settleCoin": "USDT"}


def kline_frame(symbol: str, row: list[str], *, confirm: bool = True) -> str:
    """``kline.1.<symbol>`` push from an archive-shaped kline row."""
    k = {"start": int(row[0]), "end": int(row[6]), "interval": "1", "open": row[1], "close": row[4], "high": row[2],
         "low": row[3], "volume": row[5], "turnover": row[7], "confirm": confirm, "timestamp": int(row[6]) + 1}
    return json.dumps({"topic": f"kline.1.{symbol}", "data": [k], "ts": int(row[6]) + 1, "type": "snapshot"})


def liquidation_frame(symbol: str, ts: int, side: str, price: str, size: str) -> str:
    return json.dumps({"topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": ts + 200,
                       "data": [{"T": ts, "s": symbol, "S": side, "v": size, "p": price}]})


def trade_frame(symbol: str, ts: int, side: str, price: str, size: str, trade_id: str) -> str:
    return json.dumps({"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": ts + 2,
                       "data": [{"T": ts, "s": symbol, "S": side, "v": size, "p": price, "L": "PlusTick",
                                 "i": trade_id, "BT": False}]})
