"""Operations endpoints of the server: ``GET /healthz`` and ``GET /metrics`` (Prometheus text format).

:func:`install` gives the app its own prometheus ``CollectorRegistry`` (``app.state.metrics_registry``)
holding, besides the feed and store-write metrics of an in-process collector (:mod:`liqmap.metrics`)::

    liqmap_http_request_duration_seconds{method,route,status}   histogram, route = the path template
    liqmap_ws_clients                                            WebSocket clients connected now

``/healthz`` is documented in :mod:`liqmap.service.healthz`. Both stay out of the OpenAPI schema (they
are for load balancers and scrapers, not API clients).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest

from liqmap.metrics import collector_registry
from liqmap.service import healthz
from liqmap.service.context import ServiceContext
from liqmap.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "unmatched"
"""Route label of requests no route matched (404s): one label, so scanners cannot blow up cardinality."""

router = APIRouter(include_in_schema=False)


class LatencyMiddleware:
    """Pure ASGI middleware timing each HTTP request, labelled by the matched route's path template
    (Starlette records the matched route in ``scope["route"]``), method and status."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.histogram.labels(scope.get("method", ""), route, str(status)).observe(
                time.perf_counter() - started)


def install(app: FastAPI, ctx: ServiceContext) -> CollectorRegistry:
    """Add the metrics registry, the latency middleware and the ``/healthz`` + ``/metrics`` routes."""
    registry = CollectorRegistry()
    if ctx.collector is not None:
        collector_registry(ctx.collector, registry)
    Gauge("liqmap_ws_clients", "WebSocket clients connected", registry=registry).set_function(
        lambda: len(ctx.hub.clients))
    latency = Histogram("liqmap_http_request_duration_seconds", "HTTP request latency by route template",
                        ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry)
    app.state.metrics_registry = registry
    app.add_middleware(LatencyMiddleware, histogram=latency)
    app.include_router(router)
    return registry


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
def get_healthz(request: Request) -> JSONResponse:
    settings = getattr(request.app.state, "settings", None)
    policy = (settings if isinstance(settings, Settings) else Settings()).health
    status, body = healthz.check(request.app.state.liqmap, policy, int(time.time() * 1000))
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
