"""``WS /api/stream``: live bars, liquidation prints, heatmap columns, health.

Client → server (JSON text)::

    {"type": "subscribe", "symbol": "BTC", "exchanges": "all", "range": "7d", "side": "both",
     "leverage": "all", "age": "all", "rows": 500, "columns": 1000, "encoding": "u16",
     "last_time": <ms of the client's newest column>, "edges": "<price_edges_hash>",
     "bars_since": <ms of the client's newest bar: the bars stored after it are sent at once (resume)>}
    {"type": "ping"}

Server → client: ``hello``, ``subscribed``, ``update`` (one per data version: the new bars, prints and
realized aggregates, and the view's new/changed columns or a reload notice; see
:func:`liqmap.service.live.update_frame`; also the bars a resuming client missed), ``health``, ``resync``,
``error``, ``pong``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from liqmap.errors import ConfigError
from liqmap.service.hub import Client
from liqmap.service.limits import Limits, ViewBudget
from liqmap.service.params import (
    ENCODINGS,
    ViewKey,
    parse_ages,
    parse_choice,
    parse_exchanges,
    parse_leverage,
    parse_range,
    parse_side,
    parse_symbol,
)
from liqmap.viewspec import VIEW

router = APIRouter()
MAX_MESSAGE = 4096


@router.websocket("/api/stream")
async def stream(ws: WebSocket) -> None:
    ctx = ws.app.state.liqmap
    await ws.accept()
    client = ctx.hub.add(ws)
    pump = asyncio.create_task(ctx.hub.pump(client))
    try:
        ctx.hub.send(client, {"type": "hello", "data_version": ctx.version, "server_time": _now_ms()})
        while True:
            frame = await ws.receive()
            if frame["type"] == "websocket.disconnect":
                break
            text = frame.get("text")
            if text is None:
                ctx.hub.send(client, {"type": "error", "message": "binary frames are not accepted; send JSON text"})
                continue
            reply = handle_message(ctx, client, text)
            if reply is not None:
                ctx.hub.send(client, reply)
                if reply["type"] == "subscribed":
                    await _resume(ctx, client, text)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        ctx.hub.remove(client)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


async def _resume(ctx: Any, client: Client, text: str) -> None:
    """After a subscription that names ``bars_since``, an ``update`` frame with the bars stored since then
    (a reconnecting client)."""
    since = json.loads(text).get("bars_since")
    if isinstance(since, int) and not isinstance(since, bool) and client.symbol is not None:
        ctx.hub.send_text(await asyncio.to_thread(ctx.live.resume, client.symbol, since), [client])


def handle_message(ctx: Any, client: Client, text: str) -> dict[str, Any] | None:
    if len(text) > MAX_MESSAGE:
        return {"type": "error", "message": f"message longer than {MAX_MESSAGE} characters"}
    try:
        message = json.loads(text)
    except ValueError:
        return {"type": "error", "message": "not JSON"}
    if not isinstance(message, dict):
        return {"type": "error", "message": "expected a JSON object"}
    kind = message.get("type")
    if kind == "ping":
        return {"type": "pong", "server_time": _now_ms()}
    if kind != "subscribe":
        return {"type": "error", "message": f"unknown type {kind!r}; accepted: subscribe, ping"}
    try:
        view, side, encoding = parse_subscription(ctx, message)
    except ConfigError as exc:
        return {"type": "error", "message": str(exc)}
    refused = _view_budget(ctx, client).admit(view)
    if refused is not None:
        return {"type": "error", "message": refused}
    client.symbol = view.symbol
    client.view = view
    client.side = side
    client.encoding = encoding
    last = message.get("last_time")
    client.last_time = int(last) if isinstance(last, int) and not isinstance(last, bool) else None
    edges = message.get("edges")
    client.meta["edges"] = edges if isinstance(edges, str) and len(edges) < 64 else None
    return {"type": "subscribed", "view": view.as_params(), "side": side, "data_version": ctx.version}


def parse_subscription(ctx: Any, message: dict[str, Any]) -> tuple[ViewKey, str, str]:
    def text(name: str) -> str | None:
        value = message.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"parameter '{name}': expected a string")
        return str(value)

    def integer(name: str, lo: int, hi: int, default: int) -> int:
        value = message.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ConfigError(f"parameter '{name}': expected an integer from {lo} to {hi}")
        return value

    view = ViewKey(
        symbol=parse_symbol(text("symbol")),
        exchanges=parse_exchanges(text("exchanges")),
        range=parse_range(text("range")),
        end=None,
        leverage=parse_leverage(text("leverage"), ctx.config.leverage),
        ages=parse_ages(text("age"), ctx.config.age_labels),
        n_bins=integer("rows", VIEW.rows.api_lo, VIEW.rows.api_hi, VIEW.rows.default),
        max_columns=integer("columns", VIEW.columns.api_lo, VIEW.columns.api_hi, VIEW.columns.default),
    )
    side = parse_side(text("side"))
    encoding = parse_choice(text("encoding"), ENCODINGS, "encoding", "u16")
    return view, side, encoding


def _view_budget(ctx: Any, client: Client) -> ViewBudget:
    if "views" not in client.meta:
        limit = ctx.limits.max_views_per_connection if ctx.limits is not None else Limits.max_views_per_connection
        client.meta["views"] = ViewBudget(limit)
    return client.meta["views"]  # type: ignore[no-any-return]


def _now_ms() -> int:
    return int(time.time() * 1000)
