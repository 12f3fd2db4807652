"""Hyperliquid as the mock speaks it: WebSocket ``/ws`` with ``{"method":"subscribe","subscription":...}`` ->
``{"channel":"subscriptionResponse","data":...}`` and ``{"method":"ping"}`` -> ``{"channel":"pong"}``; REST
``POST /info`` with a JSON ``{"type": ...}`` body: ``clearinghouseState`` (per ``user``; an unknown user gets
the empty state Hyperliquid returns for an address that never traded), ``metaAndAssetCtxs``, ``meta``.
Shapes from the official docs (info endpoint, websocket pages); 429s are injected with the server's faults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from liqmap.testing.mock.server import json_field_equals

EMPTY_STATE: dict[str, Any] = {
    "assetPositions": [], "crossMaintenanceMarginUsed": "0.0",
    "crossMarginSummary": {"accountValue": "0.0", "totalMarginUsed": "0.0", "totalNtlPos": "0.0",
                           "totalRawUsd": "0.0"},
    "marginSummary": {"accountValue": "0.0", "totalMarginUsed": "0.0", "totalNtlPos": "0.0", "totalRawUsd": "0.0"},
    "withdrawable": "0.0", "time": 0}


@dataclass
class HyperliquidDialect:
    states: dict[str, Any] = field(default_factory=dict)
    """user (lower case) -> clearinghouseState body; a list of bodies is served one per call (the last repeats)."""
    asset_ctxs: Any = None
    meta: Any = None
    calls: dict[str, int] = field(default_factory=dict)
    ws_paths: tuple[str, ...] = ("/ws",)

    def is_subscribe(self, text: str) -> bool:
        return json_field_equals(text, "method", "subscribe")

    def on_client_text(self, text: str) -> list[str]:
        try:
            msg = json.loads(text)
        except ValueError:
            return [json.dumps({"channel": "error", "data": f"Error parsing JSON into valid websocket request: {text}"})]
        if msg.get("method") == "ping":
            return [json.dumps({"channel": "pong"})]
        if msg.get("method") == "subscribe":
            return [json.dumps({"channel": "subscriptionResponse", "data": msg})]
        return [json.dumps({"channel": "error", "data": f"Unknown method: {text}"})]

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        if path != "/info" or method != "POST" or not isinstance(body, dict):
            return 404, {}, {"error": "not found"}
        kind = body.get("type")
        self.calls[str(kind)] = self.calls.get(str(kind), 0) + 1
        if kind == "clearinghouseState":
            user = str(body.get("user", "")).lower()
            state = self.states.get(user, EMPTY_STATE)
            if isinstance(state, list):
                state = state.pop(0) if len(state) > 1 else state[0]
            return 200, {}, state
        if kind == "metaAndAssetCtxs" and self.asset_ctxs is not None:
            return 200, {}, self.asset_ctxs
        if kind == "meta" and self.meta is not None:
            return 200, {}, self.meta
        return 422, {}, "Failed to deserialize the JSON body into the target type"
