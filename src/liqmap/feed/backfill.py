"""Historical backfill over REST: instruments, margin tiers, klines, open interest, funding -> store.

Resumable and idempotent: each series starts at ``max(now - days, store.latest_ts(...) + 1)`` and pages are
written oldest first, so an interrupted run resumes where it stopped, and re-running writes nothing new
(the store's primary keys make duplicate rows no-ops).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from liqmap.errors import ConfigError, FeedError
from liqmap.feed.rest import RestClient
from liqmap.feed.timing import Timing
from liqmap.store import Store
from liqmap.symbols import canonical
from liqmap.types import DAY_MS, MINUTE_MS, Instrument, MarkPrice, Record
from liqmap.venues._spec import HistoryKind, ParseContext, VenueSpec
from liqmap.venues.registry import get_spec

log = logging.getLogger(__name__)

HISTORY_TABLES: dict[str, str] = {"klines": "bars", "open_interest": "open_interest", "funding": "funding"}
DEFAULT_KINDS: tuple[HistoryKind, ...] = ("klines", "open_interest", "funding")


@dataclass
class BackfillResult:
    exchange: str
    symbol: str
    new_rows: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """What the venue cannot serve (e.g. Binance margin tiers need a signed request)."""

    def add(self, counts: dict[str, int]) -> None:
        for table, n in counts.items():
            self.new_rows[table] = self.new_rows.get(table, 0) + n


async def backfill(
    store: Store,
    exchange: str,
    symbol: str,
    *,
    days: float,
    kinds: Sequence[HistoryKind] = DEFAULT_KINDS,
    spec: VenueSpec | None = None,
    timing: Timing | None = None,
    now_ms: int | None = None,
    progress: bool = True,
    metadata: bool = True,
) -> BackfillResult:
    """Backfill ``days`` of history of ``symbol`` on ``exchange`` into ``store``."""
    from tqdm import tqdm

    spec = spec or get_spec(exchange)
    timing = timing or Timing()
    sym = canonical(symbol)
    vsym = spec.venue_symbol(sym)
    now = now_ms if now_ms is not None else timing.now_ms()
    unknown = [k for k in kinds if k not in HISTORY_TABLES]
    if unknown:
        raise ConfigError(f"unknown history kind(s) {unknown}; accepted: {', '.join(HISTORY_TABLES)}")
    if days <= 0:
        raise ConfigError(f"days must be > 0, got {days}")
    result = BackfillResult(spec.name, sym)
    ctx = ParseContext(spec.name, wanted=frozenset({vsym}))
    async with RestClient(spec, timing=timing) as rest:
        if metadata:
            await _metadata(store, rest, spec, vsym, ctx, result)
        for kind in kinds:
            if kind not in spec.history:
                result.skipped.append(f"{kind}: no REST history on {spec.name}")
                continue
            table = HISTORY_TABLES[kind]
            filters: dict[str, object] = {"exchange": spec.name, "symbol": sym}
            if table == "bars":
                filters.update(interval_ms=MINUTE_MS, market="perp")
            latest = store.latest_ts(table, **filters)
            start = int(now - days * DAY_MS)
            if latest is not None:
                start = max(start, latest + 1)
            windows = rest.windows(kind, start, now)
            with tqdm(total=len(windows), desc=f"{spec.name} {sym} {kind}", unit="page", disable=not progress,
                      leave=False) as bar:
                async for page in rest.history(kind, vsym, start, now, ctx):
                    result.add(store.write(page))
                    bar.update(1)
    return result


async def _metadata(store: Store, rest: RestClient, spec: VenueSpec, vsym: str, ctx: ParseContext,
                    result: BackfillResult) -> None:
    """Instruments (contract sizes) first, then mark price (for tiers quoted in contracts), then tiers."""
    records: list[Record] = []
    if "instruments" in spec.snapshots:
        instruments = [i for i in await rest.snapshot("instruments", vsym, ctx)
                       if isinstance(i, Instrument) and i.venue_symbol == vsym]
        ctx.instruments.update({i.venue_symbol: i for i in instruments})
        records.extend(instruments)
    if "margin_tiers" in spec.snapshots:
        try:
            if "mark" in spec.snapshots:
                records.extend(r for r in await rest.snapshot("mark", vsym, ctx) if isinstance(r, MarkPrice))
            records.extend(await rest.snapshot("margin_tiers", vsym, ctx))
        except FeedError as exc:
            result.skipped.append(f"margin tiers: {exc}")
            log.warning("%s margin tiers for %s: %s", spec.name, vsym, exc)
    else:
        result.skipped.append(f"margin tiers: no public endpoint on {spec.name}")
    result.add(store.write(records))
