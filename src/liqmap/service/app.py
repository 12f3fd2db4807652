"""The FastAPI application: page, read API, WebSocket stream, token-protected writes, feature routers.

``create_app(store, token=None)`` builds it; the ``liqmap/service/routes_*.py`` modules listed in
:func:`plugin_routers` (analysis, alerts, ...) are included. Heavy work runs in the thread pool (sync routes),
so the event loop stays free for WebSocket fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from liqmap.errors import ConfigError, DataError, LiqmapError, StoreError
from liqmap.model.config import ModelConfig
from liqmap.service import api, coinglass, compress, health, observe, records, schemas, stream
from liqmap.service.calibration import view_calibration
from liqmap.service.context import ServiceContext, token_refusal
from liqmap.service.conventions import ApiConventions
from liqmap.service.hub import Hub
from liqmap.service.limits import Limits
from liqmap.service.limits import install as install_limits
from liqmap.service.live import Live
from liqmap.service.params import ParamError, parse_view
from liqmap.service.views import ComputeFn, HeatmapCache

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

DESCRIPTION = """Self-hosted liquidation heatmap for crypto perpetual futures.

Read endpoints are open; endpoints that change state need the `X-Liqmap-Token` header and are
refused when the server was started without `--token` (read-only). Errors are JSON
`{"detail": "...", "parameter": "...", "accepted": [...]}` (schema `Error`); unknown query parameters are
refused with 400. Data endpoints send an `ETag` keyed on the data version (`If-None-Match` gives 304);
GET endpoints answer HEAD. Live updates: `WS /api/stream`. Paths under `/api/futures/liquidation/` speak
Coinglass v4 (their own envelope).
"""


def create_app(
    store: Any,
    *,
    token: str | None = None,
    compute: ComputeFn | None = None,
    collector: Any = None,
    cache_size: int = 64,
    poll_interval: float = 2.0,
    config: ModelConfig | None = None,
    prewarm_views: bool = True,
    cors_origins: tuple[str, ...] = (),
    limits: Limits | None = None,
) -> FastAPI:
    """Build the app on an **open** store. ``compute`` replaces the model call (tests, benchmarks).
    ``cors_origins``: browser origins allowed to call the API from other sites (``serve --cors``);
    ``limits`` (body size, hosts, computations, cache memory) defaults to :class:`Limits`."""
    limits = limits or Limits()
    cache = HeatmapCache(store, compute, size=cache_size, max_bytes=max(limits.cache_bytes // 2, 1))
    hub = Hub()
    live = Live(store, hub, cache, poll_interval=poll_interval)
    ctx = ServiceContext(store=store, cache=cache, hub=hub, live=live, token=token or None,
                         config=config or ModelConfig(), collector=collector)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await live.start()
        # Every committed write reaches the live loop at once: this process's (collector, POST /api/records)
        # and, on a PostgreSQL store, every other process's through LISTEN/NOTIFY.
        unsubscribe = store.on_change(live.notify)
        # The OpenAPI description (which the unknown-parameter check reads; ~0.5 s to build) first, in a
        # thread, then the views: the first requests wait for neither on the event loop.
        warm = asyncio.create_task(_start_up(app, ctx), name="liqmap-prewarm") if prewarm_views else None
        try:
            yield
        finally:
            if warm is not None:
                warm.cancel()
            unsubscribe()
            await live.stop()
            # What the runner tied to this server's life (the announcement beside an embedded store file):
            # uvicorn re-raises SIGTERM/SIGINT after shutdown, so code after serve() may never run.
            app.state.on_shutdown.close()

    app = FastAPI(title="liqmap", version=_version(), description=DESCRIPTION, docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.liqmap = ctx
    app.state.on_shutdown = contextlib.ExitStack()
    live.health_fn = lambda: health.exchange_health(ctx)
    app.add_middleware(compress.NegotiatedGZipMiddleware)
    app.add_middleware(ApiConventions)
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "HEAD", "POST", "DELETE"],
                           allow_headers=["X-Liqmap-Token", "Authorization", "Content-Type", "If-None-Match"],
                           expose_headers=["ETag"], max_age=600)
    observe.install(app, ctx)  # /healthz, /metrics, API latency
    _install_error_handlers(app)
    install_limits(app, ctx, limits, token_refusal)
    app.include_router(api.router, responses=schemas.ERROR_RESPONSES)
    app.include_router(coinglass.router)
    app.include_router(records.router, responses=schemas.ERROR_RESPONSES)
    app.include_router(stream.router)
    for name, router in plugin_routers():
        app.include_router(router, responses=schemas.ERROR_RESPONSES)
        log.info("included router %s", name)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _page_routes(app)
    schemas.install_openapi(app, ctx.config)
    ctx.app = app
    return app


async def _start_up(app: FastAPI, ctx: ServiceContext) -> None:
    """Background start-up work: the OpenAPI description, then :func:`prewarm`."""
    await asyncio.to_thread(app.openapi)
    await asyncio.to_thread(prewarm, ctx)


def prewarm(ctx: ServiceContext, symbols: int = 3) -> None:
    """Compute the page's default view (7d, all exchanges) of the first symbols in the background, so
    the first visitor does not wait for the model; then every other range of the first symbol, which
    also leaves each range's warm-up book of the day (liqmap.warmbooks) for later data and views. Each
    view's calibration too (its day's fit view, when realized liquidations are stored), which every
    calibrated request of the view reads."""
    from liqmap.viewspec import VIEW

    try:
        held = sorted({s["symbol"] for s in ctx.store.inventory() if s["table"] == "bars"})[:symbols]
    except LiqmapError:
        ctx.prewarmed.set()
        return
    first = VIEW.default_range
    views = [(symbol, first) for symbol in held] + [(held[0], r) for r in VIEW.ranges if r != first] if held else []
    try:
        for symbol, range_ in views:
            key = parse_view(symbol=symbol, exchanges=None, range_=range_, end=None, leverage=None, age=None,
                             rows=None, columns=None, tiers=ctx.config.leverage, labels=ctx.config.age_labels)
            try:
                view_calibration(ctx, key, ctx.cache.get(key, ctx.version))
            except Exception:  # nothing to warm for this view (no usable data): a request will say why
                log.debug("prewarm of %s %s failed", symbol, range_, exc_info=True)
    finally:
        ctx.prewarmed.set()


def plugin_routers(errors: dict[str, str] | None = None) -> list[tuple[str, APIRouter]]:
    """The feature routers beyond the core API, listed here explicitly (a new ``routes_*`` module is added
    to this list): a module that cannot be imported fails the server's start instead of dropping its
    routes. ``errors`` is kept for callers that pass it; nothing is recorded in it any more."""
    from liqmap.service import (
        routes_accuracy,
        routes_alerts,
        routes_analysis,
        routes_exact,
        routes_series,
        routes_store,
    )

    modules = (routes_accuracy, routes_alerts, routes_analysis, routes_exact, routes_series, routes_store)
    return [(module.__name__, module.router) for module in modules]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("liqmap")
    except PackageNotFoundError:
        return "0"


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **{k: v for k, v in extra.items() if v is not None}}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ParamError)
    async def param_error(_: Request, exc: ParamError) -> JSONResponse:
        accepted = exc.accepted if isinstance(exc.accepted, str | None) else list(exc.accepted)
        return _error(400, str(exc), parameter=exc.param, accepted=accepted)

    @app.exception_handler(ConfigError)
    async def config_error(_: Request, exc: ConfigError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(DataError)
    async def data_error(_: Request, exc: DataError) -> JSONResponse:
        return _error(404, f"no usable data for this view: {exc}")

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return _error(503, f"store unavailable: {exc}")

    @app.exception_handler(LiqmapError)
    async def liqmap_error(_: Request, exc: LiqmapError) -> JSONResponse:
        log.error("unhandled liqmap error: %s", exc)
        return _error(500, f"{type(exc).__name__}: {exc}")

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "body"))
            problems.append(f"parameter '{where}': {item.get('msg')}")
        return _error(422, "; ".join(problems) or "invalid request", errors=[
            {"parameter": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")} for e in exc.errors()
        ])

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))


def _page_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


# Swagger UI from the vendored npm package (static/vendor/swagger-ui), nothing from a CDN.
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>liqmap API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
<style>body{margin:0;background:#fafafa}</style></head>
<body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs-init.js"></script>
</body></html>
"""
