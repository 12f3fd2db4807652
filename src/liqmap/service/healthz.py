"""``GET /healthz``: liveness plus per-feed staleness, for load balancers, systemd and alerting.

200 with ``"status": "ok"`` when every checked feed is fresh; 503 with ``"status": "stale"`` (or
``"error"`` when the store cannot be read) otherwise. What is checked:

* a server running a collector in-process (``serve --collect``): each venue of the collector. A venue is
  stale when :func:`liqmap.service.health.feed_status` says so (disconnected, or silent for
  ``health.STALE_S``) or its last frame is older than ``[health] stale_after``. In the first
  ``stale_after`` after start-up a venue that has not spoken yet is ``starting``, not stale.
* a server without one (collectors in other processes): the newest stored row (``store.latest_ts``) of
  each ``[health] tables`` for each ``[health] exchanges`` (× ``[health] symbols`` when given). A series
  is stale when ``now - ts_event`` of its newest row exceeds ``stale_after``. Bars are stamped at their
  open, so a healthy 1-minute series is up to ~2 minutes old; the default ``stale_after`` (3m) leaves
  room for that. With no ``[health] exchanges`` only liveness is reported.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from liqmap.errors import LiqmapError
from liqmap.service.health import feed_status
from liqmap.settings import HealthSettings, duration_ms
from liqmap.symbols import canonical


def check(ctx: Any, policy: HealthSettings, now_ms: int) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of ``/healthz``."""
    stale_ms = duration_ms(policy.stale_after) or 0
    body: dict[str, Any] = {"status": "ok", "server_time": now_ms, "uptime_s": (now_ms - ctx.started_ms) / 1000,
                            "stale_after_ms": stale_ms}
    collector = getattr(ctx, "collector", None)
    if collector is not None:
        body["source"] = "collector"
        body["feeds"] = [_collector_feed(name, feed, now_ms, stale_ms, now_ms - ctx.started_ms < stale_ms)
                         for name, feed in sorted(collector.health.items())]
    elif policy.exchanges:
        body["source"] = "store"
        try:
            body["feeds"] = _store_feeds(ctx.store, policy, now_ms, stale_ms)
        except LiqmapError as exc:
            body.update(status="error", detail=f"store unavailable: {exc}", feeds=[])
            return 503, body
    else:
        body["source"] = "none"
        body["feeds"] = []
    if any(feed["status"] == "stale" for feed in body["feeds"]):
        body["status"] = "stale"
        return 503, body
    return 200, body


def _collector_feed(name: str, feed: Any, now_ms: int, stale_ms: int, starting: bool) -> dict[str, Any]:
    info = dataclasses.asdict(feed) if dataclasses.is_dataclass(feed) and not isinstance(feed, type) else dict(feed)
    last = info.get("last_message_ms")
    age = None if last is None else now_ms - int(last)
    state = feed_status(info, now_ms)
    stale = state == "stale" or age is None or age > stale_ms
    status = "starting" if stale and starting and last is None else "stale" if stale else "ok"
    return {"exchange": name, "status": status, "feed_status": state, "age_ms": age, "lag_ms": info.get("lag_ms"),
            "connected": bool(info.get("connected")), "reconnects": info.get("reconnects", 0),
            "last_error": info.get("last_error")}


def _store_feeds(store: Any, policy: HealthSettings, now_ms: int, stale_ms: int) -> list[dict[str, Any]]:
    feeds = []
    symbols: list[str | None] = [canonical(s) for s in policy.symbols] or [None]
    for table in policy.tables:
        for exchange in policy.exchanges:
            for symbol in symbols:
                last = store.latest_ts(table, exchange=exchange, symbol=symbol)
                age = None if last is None else now_ms - int(last)
                feeds.append({"exchange": exchange, "symbol": symbol, "table": table, "last_ts": last,
                              "age_ms": age, "status": "stale" if age is None or age > stale_ms else "ok"})
    return feeds
