"""Hyperliquid exact-position collection: discover accounts from public trades, poll their states.

* **Discovery.** Every public ``trades`` frame names both accounts of each trade (``users``); a list file
  adds accounts by hand. :class:`AccountQueue` keeps one entry per account.
* **Priority.** Largest and most recently active first: ``priority = size_usd * 2 ** (-age / half_life)`` with
  ``size_usd`` the larger of the account's last polled position notional and its largest trade seen, ``age``
  the time since its last trade or poll. Accounts never polled go first; an account is not polled again
  within ``min_revisit_ms``; one found empty ``forget_after_empty`` times in a row without trading since
  is dropped (an account that vanished).
* **Rate limit.** Hyperliquid allows an aggregated weight of 1,200 per minute per IP; ``clearinghouseState``
  weighs 2, ``metaAndAssetCtxs`` 20 (HL docs "Rate limits and user limits"; reference §6.3).
  :class:`WeightBudget` spends a share of it (default 600/min: 300 states a minute), and a 429 answer
  (``RateLimitError`` from the REST client after its own retries) pauses the poller with backoff.
* **Storage.** Each state becomes :class:`~liqmap.types.PositionSnapshot` rows (flat rows for coins the
  account held before and no longer holds), written through ``write`` (``store.write``: idempotent by
  ``(exchange, account, symbol, ts_event)``). ``metaAndAssetCtxs`` gives the per-coin open interest for
  coverage and is written as OpenInterest/MarkPrice records.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liqmap.errors import FeedError, ParseError, RateLimitError
from liqmap.feed.rest import RestClient
from liqmap.feed.timing import Backoff, Timing
from liqmap.types import OpenInterest, Record
from liqmap.venues import hyperliquid as hl
from liqmap.venues._spec import ParseContext

log = logging.getLogger(__name__)

WEIGHT_PER_MINUTE = 1200
STATE_WEIGHT = 2
CTX_WEIGHT = 20


class WeightBudget:
    """A token bucket of request weight refilled at ``per_minute / 60`` per second, capacity one minute.

    Hand-written (30 lines) rather than aiolimiter/pyrate-limiter: it must run on the injected
    :class:`Timing` clock and sleep, so tests drive it without waiting, and it must honour a pause after a 429.
    """

    def __init__(self, per_minute: float = WEIGHT_PER_MINUTE / 2, timing: Timing | None = None) -> None:
        if not 0 < per_minute <= WEIGHT_PER_MINUTE:
            raise ValueError(f"per_minute must be in (0, {WEIGHT_PER_MINUTE}]")
        self.per_minute = per_minute
        self.timing = timing or Timing()
        self.tokens = per_minute
        self._last_ms = self.timing.now_ms()
        self._paused_until_ms = 0
        self.spent = 0.0

    def _refill(self) -> None:
        now = self.timing.now_ms()
        self.tokens = min(self.per_minute, self.tokens + (now - self._last_ms) / 60_000 * self.per_minute)
        self._last_ms = now

    def pause(self, seconds: float) -> None:
        self._paused_until_ms = max(self._paused_until_ms, self.timing.now_ms() + int(seconds * 1000))
        self.tokens = 0.0

    async def take(self, weight: float) -> None:
        while True:
            now = self.timing.now_ms()
            if now < self._paused_until_ms:
                await self.timing.sleep((self._paused_until_ms - now) / 1000)
                continue
            self._refill()
            if self.tokens >= weight:
                self.tokens -= weight
                self.spent += weight
                return
            await self.timing.sleep((weight - self.tokens) / self.per_minute * 60)


@dataclass
class AccountEntry:
    account: str
    last_active_ms: int = 0
    trade_usd: float = 0.0
    position_usd: float = 0.0
    last_poll_ms: int | None = None
    held: tuple[str, ...] = ()
    empty_polls: int = 0
    from_list: bool = False

    def priority(self, now_ms: int, half_life_ms: float) -> float:
        size = max(self.trade_usd, self.position_usd, 1.0)
        age = max(0, now_ms - max(self.last_active_ms, self.last_poll_ms or 0))
        return size * math.pow(2.0, -age / half_life_ms)


@dataclass
class AccountQueue:
    half_life_ms: float = 3_600_000.0
    min_revisit_ms: int = 60_000
    forget_after_empty: int = 3
    entries: dict[str, AccountEntry] = field(default_factory=dict)

    def add(self, account: str, *, from_list: bool = False) -> AccountEntry:
        key = account.lower()
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = AccountEntry(key, from_list=from_list)
        entry.from_list |= from_list
        return entry

    def add_trade(self, account: str, ts_ms: int, notional: float) -> None:
        entry = self.add(account)
        entry.last_active_ms = max(entry.last_active_ms, ts_ms)
        entry.trade_usd = max(entry.trade_usd, notional)
        entry.empty_polls = 0

    def due(self, now_ms: int, n: int) -> list[str]:
        """Up to ``n`` accounts to poll now: never-polled first (most recently active first), then by priority."""
        ready = [e for e in self.entries.values()
                 if e.last_poll_ms is None or now_ms - e.last_poll_ms >= self.min_revisit_ms]
        top = heapq.nlargest(n, ready, key=lambda e: (e.last_poll_ms is None,
                                                      e.priority(now_ms, self.half_life_ms), e.last_active_ms))
        return [e.account for e in top]

    def polled(self, account: str, now_ms: int, position_usd: float, held: tuple[str, ...]) -> None:
        entry = self.entries[account]
        entry.last_poll_ms, entry.position_usd, entry.held = now_ms, position_usd, held
        entry.empty_polls = entry.empty_polls + 1 if not held else 0
        quiet_since = now_ms - self.min_revisit_ms * self.forget_after_empty
        if entry.empty_polls >= self.forget_after_empty and not entry.from_list and entry.last_active_ms < quiet_since:
            del self.entries[account]


def read_account_list(path: Path) -> list[str]:
    """One ``0x`` address a line; blank lines and ``#`` comments ignored."""
    out = []
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            if not (text.startswith("0x") and len(text) == 42):
                raise ParseError(f"{path}: not an account address: {text!r}", text)
            out.append(text.lower())
    return out


@dataclass
class PollerStats:
    polls: int = 0
    rows: int = 0
    rate_limited: int = 0
    errors: int = 0
    discovered: int = 0
    oi_base: dict[str, float] = field(default_factory=dict)
    oi_ts: int | None = None


class PositionPoller:
    """Polls ``clearinghouseState`` for the accounts of ``queue`` within the weight budget."""

    def __init__(self, rest: RestClient, queue: AccountQueue, write: Callable[[list[Record]], object], *,
                 budget: WeightBudget | None = None, timing: Timing | None = None,
                 backoff: Backoff | None = None, coins: Iterable[str] | None = None) -> None:
        self.rest = rest
        self.queue = queue
        self.write = write
        self.timing = timing or rest.timing
        self.budget = budget or WeightBudget(timing=self.timing)
        self.backoff = backoff or Backoff(base_s=5.0, cap_s=120.0)
        self.coins = frozenset(coins) if coins else None
        self.stats = PollerStats()

    def discover(self, raw: str | bytes) -> int:
        """Feed one WebSocket frame; returns how many trades named accounts."""
        n = 0
        for t in hl.trade_accounts(raw):
            if self.coins is not None and t.coin not in self.coins:
                continue
            for user in t.users:
                if user not in self.queue.entries:
                    self.stats.discovered += 1
                self.queue.add_trade(user, t.ts, t.notional)
                n += 1
        return n

    async def _info(self, body: dict[str, Any], weight: int) -> tuple[Any, int] | None:
        await self.budget.take(weight)
        try:
            result = await self.rest.request("/info", body, method="POST")
        except RateLimitError as exc:
            self.stats.rate_limited += 1
            delay = exc.retry_after if exc.retry_after is not None else self.backoff.next_delay()
            log.warning("hyperliquid info rate limited; pausing %.1fs", delay)
            self.budget.pause(delay)
            return None
        except FeedError as exc:
            self.stats.errors += 1
            log.warning("hyperliquid info %s: %s", body.get("type"), exc)
            return None
        self.backoff.reset()
        return result

    async def poll_account(self, account: str) -> list[Record]:
        entry = self.queue.entries.get(account)
        if entry is None:
            return []
        got = await self._info(hl.clearinghouse_body(account), STATE_WEIGHT)
        if got is None:
            return []
        body, ts_recv = got
        try:
            rows = hl.parse_clearinghouse_state(body, account, ts_recv, held=entry.held)
        except ParseError as exc:
            self.stats.errors += 1
            log.warning("hyperliquid clearinghouseState of %s: %s; payload %.500s", account, exc, exc.payload)
            return []
        open_rows = [r for r in rows if r.size != 0]
        self.queue.polled(account, self.timing.now_ms(), sum(abs(r.position_value) for r in open_rows),
                          tuple(sorted(r.venue_symbol for r in open_rows)))
        self.stats.polls += 1
        self.stats.rows += len(rows)
        if rows:
            self.write(list(rows))
        return list(rows)

    async def refresh_open_interest(self) -> list[Record]:
        got = await self._info({"type": "metaAndAssetCtxs"}, CTX_WEIGHT)
        if got is None:
            return []
        body, ts_recv = got
        try:
            records = hl.parse_asset_ctxs(body, "", ts_recv, ParseContext(hl.EXCHANGE))
        except ParseError as exc:
            self.stats.errors += 1
            log.warning("hyperliquid metaAndAssetCtxs: %s; payload %.500s", exc, exc.payload)
            return []
        for r in records:
            if isinstance(r, OpenInterest) and r.oi_base is not None:
                self.stats.oi_base[r.symbol] = r.oi_base
        self.stats.oi_ts = ts_recv
        self.write(records)
        return records

    async def poll_due(self, n: int) -> int:
        """Poll up to ``n`` due accounts (in priority order); returns how many answered."""
        done = 0
        for account in self.queue.due(self.timing.now_ms(), n):
            before = self.stats.polls
            await self.poll_account(account)
            done += self.stats.polls - before
        return done

    async def run(self, frames: AsyncIterator[tuple[str | bytes, int]] | None, stop: asyncio.Event, *,
                  batch: int = 20, oi_every_s: float = 60.0, idle_s: float = 1.0) -> None:
        """Discover from ``frames`` (a WsFeed's) while polling; OI every ``oi_every_s``; until ``stop``."""

        async def read() -> None:
            assert frames is not None
            async for raw, _ts in frames:
                try:
                    self.discover(raw)
                except ParseError as exc:
                    self.stats.errors += 1
                    log.warning("hyperliquid trades frame: %s; payload %.500s", exc, exc.payload)
                if stop.is_set():
                    return

        reader = asyncio.create_task(read()) if frames is not None else None
        last_oi: int | None = None
        try:
            while not stop.is_set():
                now = self.timing.now_ms()
                if last_oi is None or now - last_oi >= oi_every_s * 1000:
                    await self.refresh_open_interest()
                    last_oi = now
                if await self.poll_due(batch) == 0:
                    await self.timing.sleep(idle_s)
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
