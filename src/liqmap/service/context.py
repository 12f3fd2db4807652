"""What every route needs: the store, the heatmap cache, the live hub, the token, the collector.

Routes (ours and the ``routes_*.py`` plug-ins) get it with ``Depends(get_context)``, or read
``request.app.state.liqmap``; state-changing routes add ``Depends(require_token)``.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from fastapi.security import APIKeyHeader

from liqmap.model.config import ModelConfig
from liqmap.service.hub import Hub
from liqmap.service.live import Live
from liqmap.service.views import HeatmapCache, ResponseCache

TOKEN_HEADER = "X-Liqmap-Token"
token_header = APIKeyHeader(name=TOKEN_HEADER, auto_error=False, description="Token given to `liqmap serve --token`")


@dataclass
class ServiceContext:
    store: Any
    cache: HeatmapCache
    hub: Hub
    live: Live
    token: str | None = None
    config: ModelConfig = field(default_factory=ModelConfig)
    collector: Any = None
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    plugin_errors: dict[str, str] = field(default_factory=dict)
    app: Any = None
    responses: ResponseCache = field(default_factory=ResponseCache)
    inventory_cache: tuple[float, int, list[dict[str, Any]]] | None = None
    prewarmed: threading.Event = field(default_factory=threading.Event)
    """Set when the start-up computation of the default views (``app.prewarm``) has finished."""
    limits: Any = None
    """The :class:`liqmap.service.limits.Limits` installed on the app."""
    compute_gate: Any = None

    def api_paths(self) -> set[str]:
        """Documented paths of the app (plug-in routers included)."""
        return set(self.app.openapi()["paths"]) if self.app is not None else set()

    @property
    def version(self) -> int:
        return self.live.version


def get_context(request: Request) -> ServiceContext:
    return request.app.state.liqmap  # type: ignore[no-any-return]


def token_refusal(token: str | None, header: Callable[[str], str | None]) -> tuple[int, str] | None:
    """``(status, detail)`` refusing a state-changing request, or None when ``header`` (a lookup of the
    request's headers) carries the right token in ``X-Liqmap-Token`` or ``Authorization: Bearer``."""
    if token is None:
        return 403, "read-only server: start `liqmap serve --token TOKEN` to enable writes"
    given = header(TOKEN_HEADER)
    auth = header("authorization") or ""
    if given is None and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        return 401, f"missing or wrong token: send it in the {TOKEN_HEADER} header"
    return None


def has_token(request: Request) -> bool:
    """Whether the request carries the right token (read endpoints use it to show secrets unredacted)."""
    return token_refusal(get_context(request).token, request.headers.get) is None


def require_token(request: Request) -> None:
    """Dependency for state-changing endpoints: refuses when the server runs read-only (no token
    configured) or when the ``X-Liqmap-Token`` header (or ``Authorization: Bearer``) is wrong."""
    refused = token_refusal(get_context(request).token, request.headers.get)
    if refused is not None:
        raise HTTPException(*refused)
