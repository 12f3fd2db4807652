"""Abuse limits of the API: request body size, token before body, Host/Origin (DNS rebinding), how many
new heatmap views are computed at once, and how much memory the caches may hold.

Everything here is a pure ASGI middleware or a wrapper installed by :func:`install`; nothing reads a
request body. The defaults are in :class:`Limits` and documented in docs/api.md ("Limits").

Why hand-written middleware: Starlette's ``TrustedHostMiddleware`` splits the Host header at the first
``:`` (so ``[::1]:8000`` never matches) and checks neither Origin nor WebSocket handshakes against the
same list, and no Starlette/FastAPI middleware limits the body size; each class below is a few lines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from liqmap.errors import OverloadedError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OWN_CREDENTIAL_PATHS = frozenset({"/api/store"})
"""POST routes that check a credential of their own (the store reader key) before reading the body."""
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Limits:
    """The API's limits; every one is a ``liqmap serve`` option (docs/api.md, "Limits")."""

    max_body_bytes: int = 16 << 20
    """Largest request body; larger ones get 413 before any of it is read."""
    max_computations: int = 2
    """New heatmap views computed at the same time (each holds up to ~100 MB while it runs)."""
    compute_wait_s: float = 5.0
    """How long a request for a new view waits for a computation slot before 503 + Retry-After."""
    retry_after_s: int = 5
    max_views_per_connection: int = 16
    """Distinct views one WebSocket connection may subscribe to over its life."""
    cache_bytes: int = 512 << 20
    """Memory budget of the three caches: half computed heatmaps, a quarter encoded responses, a quarter
    warm-up books."""
    allowed_hosts: tuple[str, ...] | None = None
    """Accepted ``Host`` names (``*`` accepts any); None = not checked (an app embedded in tests).
    ``liqmap serve`` always passes a list (:func:`default_hosts`)."""
    allowed_origins: tuple[str, ...] = ()
    """Further accepted ``Origin`` values (``scheme://host[:port]``): the ``serve --cors`` origins."""


def default_hosts(bound: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """localhost, 127.0.0.1, ::1, the bound address (unless a wildcard) and ``--allow-host`` values."""
    hosts = [*LOCAL_HOSTS]
    if bound not in ("0.0.0.0", "::", ""):
        hosts.append(bound)
    hosts.extend(extra)
    return tuple(dict.fromkeys(_bare(h) for h in hosts))


class ComputeGate:
    """At most ``slots`` computations at once; a caller waits ``wait_s`` for a slot, then gets
    :class:`OverloadedError`. Cached views never pass through the gate (only cache misses compute)."""

    def __init__(self, slots: int, wait_s: float, retry_after_s: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.slots = slots
        self.wait_s = wait_s
        self.retry_after_s = retry_after_s
        self._semaphore = threading.BoundedSemaphore(slots)
        self.refused = 0

    def wrap(self, compute: Callable[..., Any]) -> Callable[..., Any]:
        def gated(*args: Any, **kwargs: Any) -> Any:
            if not self._semaphore.acquire(timeout=self.wait_s):
                self.refused += 1
                raise OverloadedError(
                    f"server busy: {self.slots} new views are being computed; retry in {self.retry_after_s} s",
                    self.retry_after_s)
            try:
                return compute(*args, **kwargs)
            finally:
                self._semaphore.release()

        return gated


async def _respond(send: Send, status: int, detail: str, headers: Iterable[tuple[str, str]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           *((k.encode(), v.encode()) for k, v in headers)]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``: at once from ``Content-Length``, else (chunked) as soon as the
    received chunks add up to more; the app never holds more than ``max_bytes`` of a body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > self.max_bytes):
            await _respond(send, 413, self._message(), [("connection", "close")])
            return
        seen = 0
        started = refused = False

        async def counted_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # answer now and tell the app the client left: it stops reading, and whatever it
                    # answers to that is dropped (raising here would become FastAPI's generic 400)
                    refused = True
                    if not started:
                        await _respond(send, 413, self._message(), [("connection", "close")])
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, tracked_send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes (liqmap serve --max-body-mb)"


class TokenFirstMiddleware:
    """State-changing requests (POST/PUT/PATCH/DELETE) are refused for a missing or wrong token before
    their body is read (the routes' ``require_token`` repeats the check; both use one function)."""

    def __init__(self, app: ASGIApp, refusal: Callable[[Callable[[str], str | None]], tuple[int, str] | None]) -> None:
        self.app = app
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS and scope["path"] not in OWN_CREDENTIAL_PATHS:
            refused = self.refusal(lambda name: _header(scope, name.lower().encode()))
            if refused is not None:
                await _respond(send, *refused)
                return
        await self.app(scope, receive, send)


def _bare(host: str) -> str:
    """A Host header or allow-list entry without port and IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


class HostOriginMiddleware:
    """Against DNS rebinding: the ``Host`` header must name an allowed host (when ``allowed`` is given),
    and a WebSocket handshake or a state-changing request that carries ``Origin`` must come from an
    allowed host or be a listed origin (``--cors``), or, when hosts are not checked, come from the host it
    was sent to. Requests without
    ``Origin`` (curl, scripts) pass the Origin check: browsers always send it on these requests."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] | None, origins: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = None if allowed is None else frozenset(_bare(h) for h in allowed)
        self.origins = frozenset(o.strip().rstrip("/").lower() for o in origins)

    def _host_ok(self, host: str | None, fallback: str | None) -> bool:
        if host is None:
            return False
        if self.allowed is None:
            return fallback is not None and _bare(host) == _bare(fallback)
        return "*" in self.allowed or _bare(host) in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if self.allowed is not None and not self._host_ok(host, None):
            await self._refuse(scope, send, f"host {host!r} is not allowed (liqmap serve --allow-host)")
            return
        origin = _header(scope, b"origin")
        if origin is not None and (scope["type"] == "websocket" or scope.get("method") in UNSAFE_METHODS):
            netloc = urlsplit(origin).netloc if origin != "null" else ""
            listed = origin.strip().rstrip("/").lower() in self.origins
            if not listed and (not netloc or not self._host_ok(netloc, host)):
                await self._refuse(scope, send, f"origin {origin!r} is not allowed (liqmap serve --allow-host)")
                return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, detail: str) -> None:
        if scope["type"] == "websocket":
            # closing before accept makes the server answer the handshake with HTTP 403
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        else:
            await _respond(send, 400 if "host" in detail[:5] else 403, detail)


@dataclass
class ViewBudget:
    """Distinct views one WebSocket connection has subscribed to (the bound of :class:`Limits`)."""

    limit: int
    seen: set[Any] = field(default_factory=set)

    def admit(self, view: Any) -> str | None:
        """None when ``view`` may be watched, else the message to send back."""
        if view in self.seen:
            return None
        if len(self.seen) >= self.limit:
            return (f"this connection already subscribed to {self.limit} distinct views (the limit); "
                    "reconnect to start over")
        self.seen.add(view)
        return None


def install(app: Any, ctx: Any, limits: Limits, token_refusal: Any) -> None:
    """Install the limits on an app built by :func:`liqmap.service.app.create_app` (before it starts)."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from liqmap.service.views import ResponseCache
    from liqmap.warmbooks import WarmBooks

    ctx.limits = limits
    gate = ComputeGate(limits.max_computations, limits.compute_wait_s, limits.retry_after_s)
    ctx.cache.compute_fn = gate.wrap(ctx.cache.compute_fn)
    ctx.compute_gate = gate
    ctx.cache.gate = gate  # the next day's books, built ahead, pass through it too
    quarter = max(limits.cache_bytes // 4, 1)  # the heatmap cache got half in create_app
    ctx.cache.books = WarmBooks(max_bytes=quarter)
    ctx.responses = ResponseCache(max_bytes=quarter)

    @app.exception_handler(OverloadedError)  # type: ignore[untyped-decorator]
    async def overloaded(_: Request, exc: OverloadedError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})

    # Starlette runs the last added middleware first: Host/Origin, then body size, then token.
    app.add_middleware(TokenFirstMiddleware, refusal=lambda header: token_refusal(ctx.token, header))
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.add_middleware(HostOriginMiddleware, allowed=limits.allowed_hosts, origins=limits.allowed_origins)
