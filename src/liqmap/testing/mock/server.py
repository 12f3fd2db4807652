"""A mock exchange on 127.0.0.1 speaking a venue's REST and WebSocket wire protocol (tests, benchmarks).

Generic machinery, venue-agnostic: a :class:`Dialect` supplies the venue's answers (subscribe acks, pongs,
REST bodies with the venue's pagination); the server adds scripted sessions and injected faults. The real
client code is pointed at it by URL (``spec.with_urls(rest=mock.http_url, ws=mock.ws_url)``), never by
monkeypatching.

Scripting::

    mock = MockExchange(BinanceDialect(...))
    mock.sessions = [Session(frames=[...], after="drop"),     # 1st connection: send, then cut TCP
                     Session(frames=[...], after="hold")]     # 2nd connection: send, stay open
    mock.path_sessions["/ws/v5/business"] = [...]               # per-URL-path scripts take precedence
    mock.rest_faults["/fapi/v1/klines"] = [Fault(429, {"Retry-After": "1"})]  # next call answers 429
    async with mock: ...                                        # binds 127.0.0.1:<free port>
    await mock.push(text)                                       # to every open socket (live benchmarks)

``after``: ``"hold"`` (stay open, answer pings, forward pushes), ``"drop"`` (abort the TCP connection
without a close frame), ``"close"`` (clean close frame), ``"stall"`` (stay open but send nothing and
ignore application pings). Frames are sent only after the client's first subscribe frame, as on the
real venues. Every client text frame is kept in ``received``, every REST call in ``rest_calls``; ``frames_sent``
counts scripted frames written to sockets.

Requires aiohttp (a test extra), imported here only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiohttp import WSMsgType, web


@dataclass
class Session:
    frames: list[str] = field(default_factory=list)
    after: Literal["hold", "drop", "close", "stall"] = "hold"
    frame_delay_s: float = 0.0


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


def json_field_equals(text: str, key: str, value: str) -> bool:
    """Whether ``text`` is a JSON object whose ``key`` equals ``value`` (how dialects spot a subscribe)."""
    try:
        return bool(json.loads(text).get(key) == value)
    except (ValueError, AttributeError):
        return False


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``condition`` on the running loop until it holds; AssertionError after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class Dialect(Protocol):
    """A venue's wire protocol as the mock speaks it."""

    ws_paths: tuple[str, ...]

    def on_client_text(self, text: str) -> list[str]:
        """Replies to a client text frame (subscribe ack, pong, error)."""
        ...

    def is_subscribe(self, text: str) -> bool: ...

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body) for a REST call; status 404 for unknown paths."""
        ...


class MockExchange:
    def __init__(self, dialect: Dialect, *, host: str = "127.0.0.1") -> None:
        self.dialect = dialect
        self.host = host
        self.sessions: list[Session] = []
        self.path_sessions: dict[str, list[Session]] = {}
        self.default_session = Session()
        self.rest_faults: dict[str, list[Fault]] = {}
        self.received: list[str] = []
        self.rest_calls: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self.frames_sent = 0
        self.on_rest: Callable[[str, dict[str, str]], None] | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def __aenter__(self) -> MockExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        for path in self.dialect.ws_paths:
            app.router.add_get(path, self._ws_handler)
        app.router.add_route("*", "/{tail:.*}", self._rest_handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def push(self, text: str) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.send_str(text)

    async def drop_all(self) -> None:
        """Abort every open connection (no close frame)."""
        for ws in list(self._sockets):
            _abort(ws)

    # -- handlers ------------------------------------------------------------------------------------
    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        queue = self.path_sessions.get(request.path) or self.sessions
        session = queue.pop(0) if queue else self.default_session
        self.connections += 1
        subscribed = asyncio.Event()
        sender = asyncio.create_task(self._play(ws, session, subscribed))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                self.received.append(msg.data)
                if session.after == "stall" and subscribed.is_set():
                    continue
                for reply in self.dialect.on_client_text(msg.data):
                    await ws.send_str(reply)
                if self.dialect.is_subscribe(msg.data):
                    subscribed.set()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            self._sockets.discard(ws)
        return ws

    async def _play(self, ws: web.WebSocketResponse, session: Session, subscribed: asyncio.Event) -> None:
        await subscribed.wait()
        for frame in session.frames:
            if session.frame_delay_s:
                await asyncio.sleep(session.frame_delay_s)
            await ws.send_str(frame)
            self.frames_sent += 1
        if session.after == "drop":
            await asyncio.sleep(0.01)
            _abort(ws)
        elif session.after == "close":
            await ws.close()
        elif session.after == "hold":
            self._sockets.add(ws)

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        body = None
        if request.method == "POST" and request.can_read_body:
            with contextlib.suppress(ValueError):
                body = await request.json()
        self.rest_calls.append((request.path, params if body is None else {**params, "__body__": json.dumps(body)}))
        if self.on_rest is not None:
            self.on_rest(request.path, params)
        faults = self.rest_faults.get(request.path)
        if faults:
            fault = faults.pop(0)
            return web.json_response(fault.body if fault.body is not None else {"msg": "fault"},
                                     status=fault.status, headers=fault.headers)
        status, headers, payload = self.dialect.rest(request.method, request.path, params, body)
        return web.json_response(payload, status=status, headers=headers)


def _abort(ws: web.WebSocketResponse) -> None:
    """Cut the TCP connection under a WebSocket without a close frame (a dropped socket)."""
    transport = getattr(getattr(ws, "_req", None), "transport", None)
    if transport is not None:
        transport.abort()
