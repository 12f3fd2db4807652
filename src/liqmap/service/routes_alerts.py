"""Alerts API: rules (``GET/POST/DELETE /api/alerts/rules``, writes token-protected) and the alert
history (``GET /api/alerts``). The shape of every response is in docs/analysis.md ("API").

With ``LIQMAP_ALERTS`` set in the environment (``1``, or the path of an alerts TOML file), the router's
lifespan also runs the alert loop inside the server (:class:`~liqmap.alerts.live.AlertService`), every
``LIQMAP_ALERTS_INTERVAL`` seconds (default 30) over the ``LIQMAP_ALERTS_RANGE`` view (default 3d).

Notify URLs carry secrets: without the token, rules are listed with redacted URLs
(:func:`liqmap.alerts.redact.redact_url`). A posted rule's targets must pass the target policy (allowed
schemes, public addresses unless the alerts config or ``LIQMAP_ALERTS_ALLOW_PRIVATE=1`` allows private ones,
at most 10 per rule): HTTP 400 naming the problem otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from liqmap.alerts.redact import redact_text, redact_url
from liqmap.alerts.storage import STATUSES, AlertStore
from liqmap.alerts.targets import TargetPolicy
from liqmap.analysis.rules import parse_rule
from liqmap.errors import ConfigError
from liqmap.service.context import ServiceContext, get_context, has_token, require_token
from liqmap.service.params import MAX_TS, MIN_TS, SYMBOL_PATTERN, ParamError, parse_symbol, parse_ts
from liqmap.service.schemas import Error

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def _alert_loop(app: Any) -> AsyncIterator[None]:
    setting = os.environ.get("LIQMAP_ALERTS", "").strip()
    service = None
    if setting and setting.lower() not in ("0", "no", "off", "false"):
        from liqmap.alerts.config import AlertsConfig, load_config
        from liqmap.alerts.live import AlertService

        config = AlertsConfig() if setting.lower() in ("1", "yes", "on", "true") else load_config(setting)
        interval = float(os.environ.get("LIQMAP_ALERTS_INTERVAL", "30"))
        service = AlertService(app.state.liqmap.store, config=config,
                               range=os.environ.get("LIQMAP_ALERTS_RANGE", "3d"))
        app.state.alert_service = service
        app.state.alert_target_policy = config.policy
        service.start(interval)
        log.info("alerts: live loop started (every %gs)", interval)
    try:
        yield
    finally:
        if service is not None:
            service.stop()


router = APIRouter(prefix="/api/alerts", tags=["alerts"], lifespan=_alert_loop)
Ctx = Annotated[ServiceContext, Depends(get_context)]
MAX_LIMIT = 1000
SYMBOL_SCHEMA: dict[str, object] = {"pattern": "^$|" + SYMBOL_PATTERN, "maxLength": 40}  # empty = every symbol

RULE_EXAMPLE = {"id": "btc-near", "type": "price_near", "symbol": "BTC", "within_pct": 1.0, "sides": ["long"]}


def _alerts(ctx: ServiceContext) -> AlertStore:
    return AlertStore(ctx.store)


def _policy(request: Request) -> TargetPolicy:
    configured = getattr(request.app.state, "alert_target_policy", None)
    if configured is not None:
        return configured  # type: ignore[no-any-return]
    return TargetPolicy(allow_private=os.environ.get("LIQMAP_ALERTS_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes"))


def _shown_rule(rule: dict[str, Any], secrets: bool) -> dict[str, Any]:
    if secrets or "notify" not in rule:
        return rule
    return {**rule, "notify": [redact_url(url) for url in rule["notify"]]}


@router.get("/rules", summary="Alert rules (notify URLs redacted without the token)")
def get_rules(ctx: Ctx, request: Request,
              symbol: Annotated[str | None, Query(description="Only this symbol",
                                                  json_schema_extra=SYMBOL_SCHEMA)] = None) -> JSONResponse:
    rules = _alerts(ctx).rules(parse_symbol(symbol) if symbol else None)
    secrets = has_token(request)
    return JSONResponse({"rules": [_shown_rule(r.to_dict(), secrets) for r in rules]})


@router.post("/rules", status_code=201, dependencies=[Depends(require_token)],
             responses={409: {"model": Error, "description": "A rule with this id exists (use replace=true)"}},
             summary="Add (or with replace=true, replace) an alert rule; token required")
def post_rule(
    ctx: Ctx,
    request: Request,
    spec: Annotated[dict[str, Any], Body(examples=[RULE_EXAMPLE])],
    replace: Annotated[bool, Query(description="Replace a rule with the same id")] = False,
) -> JSONResponse:
    """Body: a rule object (fields in docs/analysis.md). An invalid rule gets HTTP 400 naming the field."""
    try:
        rule = parse_rule(spec)
    except ConfigError as exc:
        field, _, problem = str(exc).partition(": ")
        raise ParamError(field, problem or str(exc)) from None
    try:
        _policy(request).check_all(rule.notify)
    except ConfigError as exc:
        raise ParamError("notify", str(exc).removeprefix("notify: ")) from None
    if not _alerts(ctx).save_rule(rule, int(time.time() * 1000), replace=replace):
        raise HTTPException(409, f"a rule with id {rule.id!r} exists; pass replace=true or choose another id")
    return JSONResponse({"rule": rule.to_dict()}, status_code=201)


@router.delete("/rules/{rule_id}", dependencies=[Depends(require_token)], summary="Remove a rule; token required")
def delete_rule(ctx: Ctx, rule_id: str) -> JSONResponse:
    if not _alerts(ctx).remove_rule(rule_id):
        raise HTTPException(404, f"no rule with id {rule_id!r}")
    return JSONResponse({"removed": rule_id})


@router.get("", summary="Alert history, newest first")
def get_alerts(
    ctx: Ctx,
    request: Request,
    symbol: Annotated[str | None, Query(description="Only this symbol", json_schema_extra=SYMBOL_SCHEMA)] = None,
    rule_id: Annotated[str | None, Query(description="Only this rule")] = None,
    status: Annotated[str | None, Query(description="delivered | failed | suppressed | no_target | pending",
                                        json_schema_extra={"enum": list(STATUSES)})] = None,
    since: Annotated[int | None, Query(description="Only alerts at or after this time (ms)",
                                       json_schema_extra={"minimum": MIN_TS, "maximum": MAX_TS})] = None,
    limit: Annotated[int, Query(description=f"At most this many, 1..{MAX_LIMIT}",
                                json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT})] = 100,
) -> JSONResponse:
    if not 1 <= limit <= MAX_LIMIT:
        raise ParamError("limit", f"must be in 1..{MAX_LIMIT}, got {limit}")
    if status is not None and status not in STATUSES:
        raise ParamError("status", f"unknown status {status!r}", STATUSES)
    rows = _alerts(ctx).history(symbol=parse_symbol(symbol) if symbol else None, rule_id=rule_id, status=status,
                                since=parse_ts(since, "since"), limit=limit)
    alerts = [r.to_dict() for r in rows]
    if not has_token(request):  # stored errors are redacted when written; this also covers older rows
        for alert in alerts:
            alert["error"] = redact_text(alert["error"]) if alert["error"] else alert["error"]
    return JSONResponse({"alerts": alerts, "count": len(alerts)})
