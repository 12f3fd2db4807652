"""Per-exchange health: the collector's connection state plus how fresh the stored data is.

``status``:

* ``connected`` collector connected and the newest message is recent (< ``LAG_S``);
* ``lagging`` connected but messages are late (``LAG_S`` .. ``STALE_S``) or the exchange→us lag of the
  latest record exceeds ``EVENT_LAG_S`` (bars are stamped at their open, so a closed 1-minute bar
  already "lags" 60 s: the limit leaves room for that);
* ``stale``   a collector runs for it but nothing arrived for ``STALE_S`` or it is disconnected;
* ``offline`` no collector in this process: the data is whatever was imported (see ``last_bar``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

LAG_S = 15.0
STALE_S = 90.0
EVENT_LAG_S = 120.0


INVENTORY_TTL_S = 10.0


def inventory(ctx: Any) -> list[dict[str, Any]]:
    """``store.inventory()`` (a GROUP BY over every table: slow on a big store), reused for
    ``INVENTORY_TTL_S`` seconds within one data version."""
    now = time.monotonic()
    cached = getattr(ctx, "inventory_cache", None)
    if cached is not None and cached[1] == ctx.version and now - cached[0] < INVENTORY_TTL_S:
        return cached[2]  # type: ignore[no-any-return]
    rows = ctx.store.inventory()
    ctx.inventory_cache = (now, ctx.version, rows)
    return rows  # type: ignore[no-any-return]


def exchange_health(ctx: Any) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    rows: dict[str, dict[str, Any]] = {}
    for series in inventory(ctx):
        name = series.get("exchange")
        if not name or series["table"] not in ("bars", "liquidations", "liquidation_bars", "open_interest"):
            continue
        row = rows.setdefault(name, {"exchange": name, "symbols": set(), "status": "offline", "collector": None})
        if series["table"] in ("bars", "liquidation_bars"):  # prints of every listed coin would swamp it
            row["symbols"].add(series["symbol"])
        key = {"bars": "last_bar", "liquidations": "last_liquidation", "liquidation_bars": "last_liquidation_bar",
               "open_interest": "last_open_interest"}[series["table"]]
        row[key] = max(row.get(key) or 0, int(series["last"]))
    collector = getattr(ctx, "collector", None)
    for name, feed in (getattr(collector, "health", None) or {}).items():
        row = rows.setdefault(name, {"exchange": name, "symbols": set(), "status": "offline", "collector": None})
        info = dataclasses.asdict(feed) if dataclasses.is_dataclass(feed) and not isinstance(feed, type) else dict(feed)
        row["collector"] = info
        row["status"] = feed_status(info, now)
    out = []
    for row in sorted(rows.values(), key=lambda r: r["exchange"]):
        row["symbols"] = sorted(row["symbols"])
        last = row.get("last_bar")
        row["data_age_ms"] = None if last is None else now - int(last)
        out.append(row)
    return out


def feed_status(info: dict[str, Any], now_ms: int) -> str:
    last = info.get("last_message_ms")
    if not info.get("connected"):
        return "stale"
    if last is None:
        return "lagging"
    age_s = (now_ms - int(last)) / 1000
    lag_s = (info.get("lag_ms") or 0) / 1000
    if age_s >= STALE_S:
        return "stale"
    if age_s >= LAG_S or lag_s >= EVENT_LAG_S:
        return "lagging"
    return "connected"
