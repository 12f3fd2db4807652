"""OKX v5 as the mock speaks it: ``/ws/v5/public`` and ``/ws/v5/business`` with one
``{"event":"subscribe","arg":...}`` ack per arg, text ``ping`` -> ``pong``, error 60018 for candles asked on
the public URL; REST ``{"code":"0","msg":"","data":[...]}`` with newest-first candles, exclusive
``after``/``before`` bounds and OKX's limits (``limit`` ≤ 100 on history candles)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from liqmap.testing.mock.server import json_field_equals


def _ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


@dataclass
class OkxDialect:
    klines: list[list[str]] = field(default_factory=list)
    """Kline rows in the Binance archive shape; served as OKX candles of ``contract_size`` contracts."""
    contract_size: float = 0.01
    instruments: list[dict[str, Any]] = field(default_factory=list)
    oi_history: list[list[str]] = field(default_factory=list)
    funding: list[dict[str, Any]] = field(default_factory=list)
    marks: dict[str, str] = field(default_factory=dict)
    tiers: list[dict[str, Any]] = field(default_factory=list)
    ws_paths: tuple[str, ...] = ("/ws/v5/public", "/ws/v5/business")

    def is_subscribe(self, text: str) -> bool:
        return json_field_equals(text, "op", "subscribe")

    def on_client_text(self, text: str) -> list[str]:
        if text == "ping":
            return ["pong"]
        try:
            msg = json.loads(text)
        except ValueError:
            return [json.dumps({"event": "error", "code": "60012", "msg": f"Invalid request: {text}", "connId": "m"})]
        if msg.get("op") != "subscribe" or not isinstance(msg.get("args"), list):
            return [json.dumps({"event": "error", "code": "60018", "msg": f"Invalid request: {text}", "connId": "m"})]
        return [json.dumps({"event": "subscribe", "arg": arg, "connId": "m"}) for arg in msg["args"]]

    def candle_row(self, r: list[str]) -> list[str]:
        contracts = float(r[5]) / self.contract_size
        return [r[0], r[1], r[2], r[3], r[4], f"{contracts:g}", r[5], r[7], "1"]

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if path == "/api/v5/market/history-candles":
            limit = int(params.get("limit", 100))
            if limit > 100:
                return 200, {}, {"code": "51000", "msg": "Parameter limit error", "data": []}
            after, before = int(params.get("after", 2**62)), int(params.get("before", -1))
            rows = [self.candle_row(r) for r in self.klines if before < int(r[0]) < after]
            rows.sort(key=lambda r: -int(r[0]))
            return 200, {}, _ok(rows[:limit])
        if path == "/api/v5/public/instruments":
            return 200, {}, _ok(self.instruments)
        if path == "/api/v5/rubik/stat/contracts/open-interest-history":
            a, b = int(params.get("begin", 0)), int(params.get("end", 2**62))
            oi_rows = sorted((r for r in self.oi_history if a <= int(r[0]) <= b), key=lambda r: -int(r[0]))
            return 200, {}, _ok(oi_rows[: int(params.get("limit", 100))])
        if path == "/api/v5/public/funding-rate-history":
            after, before = int(params.get("after", 2**62)), int(params.get("before", -1))
            funding_rows = sorted((r for r in self.funding if before < int(r["fundingTime"]) < after),
                          key=lambda r: -int(r["fundingTime"]))
            return 200, {}, _ok(funding_rows[: int(params.get("limit", 100))])
        if path == "/api/v5/public/mark-price":
            inst = params.get("instId", "")
            return 200, {}, _ok([{"instType": "SWAP", "instId": inst, "markPx": self.marks.get(inst, "0"),
                                      "ts": str(time.time_ns() // 1_000_000)}])
        if path == "/api/v5/public/position-tiers":
            return 200, {}, _ok(self.tiers)
        return 404, {}, {"code": "50000", "msg": f"no route {path}", "data": []}


def instrument(inst_id: str, ct_val: str = "0.01", tick: str = "0.1", lot: str = "0.01") -> dict[str, Any]:
    return {"instType": "SWAP", "instId": inst_id, "ctVal": ct_val, "ctMult": "1", "ctValCcy": inst_id.split("-")[0],
            "ctType": "linear", "settleCcy": "USDT", "tickSz": tick, "lotSz": lot, "minSz": lot, "lever": "100",
            "state": "live", "uly": inst_id.removesuffix("-SWAP"), "instFamily": inst_id.removesuffix("-SWAP")}


def candle_frame(inst_id: str, row: list[str], contract_size: float, *, confirm: bool = True) -> str:
    data = [row[0], row[1], row[2], row[3], row[4], f"{float(row[5]) / contract_size:g}", row[5], row[7],
            "1" if confirm else "0"]
    return json.dumps({"arg": {"channel": "candle1m", "instId": inst_id}, "data": [data]})


def liquidation_frame(inst_id: str, ts: int, side: str, bk_px: str, contracts: str) -> str:
    fam = inst_id.removesuffix("-SWAP")
    return json.dumps({"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [{
        "details": [{"bkLoss": "0", "bkPx": bk_px, "ccy": "", "posSide": "long" if side == "sell" else "short",
                     "side": side, "sz": contracts, "ts": str(ts)}],
        "instFamily": fam, "instId": inst_id, "instType": "SWAP", "uly": fam}]})


def trade_frame(inst_id: str, ts: int, side: str, px: str, contracts: str, trade_id: str) -> str:
    return json.dumps({"arg": {"channel": "trades", "instId": inst_id}, "data": [{
        "instId": inst_id, "tradeId": trade_id, "px": px, "sz": contracts, "side": side, "ts": str(ts), "count": "1"}]})
