"""HTTP conventions of the native API: HEAD on GET endpoints, ETag / 304 keyed on the data version, and
unknown query parameters refused with 400.

One pure-ASGI middleware (:class:`ApiConventions`). It is written by hand because each piece needs the
app's own state: the data version (ETag), and the matched route's declared query parameters (unknown
parameters); Starlette has no middleware for either, and FastAPI routes answer HEAD with 405.

* **HEAD**: any GET route answers HEAD with the GET's status and headers and no body.
* **ETag**: the data endpoints (:data:`ETAG_PATHS`) send ``ETag: W/"<start>-<version>-<hash of the
  query>"``; a request whose ``If-None-Match`` holds it gets ``304 Not Modified`` without computing
  anything. A new data version (new bars, prints, OI) changes every tag.
* **Unknown parameters**: a GET to a documented ``/api/`` path with a query key that its OpenAPI
  operation does not declare gets 400 ``{"detail", "parameter", "accepted"}`` naming the unknown keys and listing the
  accepted ones. The Coinglass-compatible paths are exempt (Coinglass ignores unknown keys; clients
  send extra ones).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liqmap.service import encode

ETAG_PATHS: frozenset[str] = frozenset({
    "/api/heatmap", "/api/liqmap", "/api/candles", "/api/liquidations", "/api/clusters", "/api/levels",
})
EXEMPT_PREFIXES: tuple[str, ...] = ("/api/futures/",)


def documented_query_names(spec: dict[str, Any]) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    """Per documented GET path of the OpenAPI description (as a regex), its query parameter names."""
    table = []
    for path, item in spec.get("paths", {}).items():
        operation = item.get("get")
        if operation is None:
            continue
        names = tuple(sorted(p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"))
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
        table.append((pattern, names))
    return table


class ApiConventions:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._documented: list[tuple[re.Pattern[str], tuple[str, ...]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        if scope["method"] == "GET" and path.startswith("/api/") and not path.startswith(EXEMPT_PREFIXES):
            refusal = self._unknown_parameters(scope, await self._table(scope))
            if refusal is not None:
                await _respond(send, 400, encode.json_bytes(refusal), head=head)
                return
        etag = self._etag(scope) if scope["method"] == "GET" and path in ETAG_PATHS else None
        if etag is not None and _matches(scope, etag):
            await send({"type": "http.response.start", "status": 304,
                        "headers": [(b"etag", etag.encode()), (b"cache-control", b"no-cache")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if etag is None and not head:
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start" and etag is not None and message["status"] == 200:
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"etag"]
                message = {**message, "headers": [*headers, (b"etag", etag.encode()),
                                                  (b"cache-control", b"no-cache")]}
            elif message["type"] == "http.response.body" and head:
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, wrapped)

    async def _table(self, scope: Scope) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
        """:func:`documented_query_names` of the app's OpenAPI description, built once in a worker thread
        (the event loop keeps serving WebSockets meanwhile; the server starts that build at start-up)."""
        if self._documented is None:
            app = scope.get("app")
            if app is None or not hasattr(app, "openapi"):
                return []
            self._documented = documented_query_names(await asyncio.to_thread(app.openapi))
        return self._documented

    @staticmethod
    def _accepted(scope: Scope, table: list[tuple[re.Pattern[str], tuple[str, ...]]]) -> tuple[str, ...] | None:
        """The documented query names of the GET operation at this path (None: not a documented path)."""
        for pattern, names in table:
            if pattern.match(scope["path"]):
                return names
        return None

    def _unknown_parameters(self, scope: Scope, table: list[tuple[re.Pattern[str], tuple[str, ...]]]
                            ) -> dict[str, Any] | None:
        accepted = self._accepted(scope, table)
        if accepted is None:
            return None
        given = [key for key, _ in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)]
        unknown = sorted({key for key in given if key not in accepted})
        if not unknown:
            return None
        names = ", ".join(f"'{u}'" for u in unknown)
        return {"detail": f"unknown query parameter(s) {names}; accepted: {', '.join(accepted) or 'none'}",
                "parameter": unknown[0], "accepted": list(accepted)}

    @staticmethod
    def _etag(scope: Scope) -> str | None:
        ctx = getattr(getattr(scope.get("app"), "state", None), "liqmap", None)
        if ctx is None:
            return None
        query = sorted(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        digest = hashlib.blake2s(repr((scope["path"], query)).encode(), digest_size=8).hexdigest()
        return f'W/"{ctx.started_ms}-{ctx.version}-{digest}"'


def _matches(scope: Scope, etag: str) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"if-none-match":
            tags = {t.strip() for t in value.decode("latin-1").split(",")}
            # weak comparison (RFC 9110 8.8.3.2): W/"x" matches "x"
            return "*" in tags or etag in tags or etag.removeprefix("W/") in tags
    return False


async def _respond(send: Send, status: int, body: bytes, *, head: bool) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": b"" if head else body})
