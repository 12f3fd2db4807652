"""The live collector: several venues and symbols at once -> parsers -> batching writer -> store + hooks.

Wiring only (no parsing, no venue quirks)::

    collector = Collector(store, ["binance", "bybit"], ["BTC", "ETH"], recorder=Recorder(dir))
    collector.writer.subscribe(on_records)   # live hook: called after each durable batch
    await collector.run()                    # until collector.stop() (SIGINT/SIGTERM in the CLI)
    collector.health["binance"]              # FeedHealth: connected, last message, lag, reconnects, errors

Per frame: record raw (optional) -> ``spec.parse_ws`` -> drop exact duplicates (recent-key window) ->
flag out-of-order -> ``writer.put``. A :class:`ParseError`/:class:`VenueError` is counted and logged with
the payload; the frame is skipped and the feed lives (an :class:`InvalidRecordError` still stores the
frame's valid records).

Supervision: nothing ends a feed silently. Any other exception while handling a frame is logged with the
(truncated) payload, counted in ``health.errors`` / ``health.last_error``, and the frame is skipped; an
exception escaping a connection's frame loop or a background task (open-interest poll, gap backfill,
instrument load) is logged and counted the same way and the task restarts after a backoff delay. Out-of-order *events* (trades, liquidations, bars)
are real data and are stored (the store orders by ``ts_event``); an out-of-order *state* (mark price,
open interest) is stale and skipped, so the live view never goes backwards. After a reconnect the hole
is backfilled over REST (klines, open interest) so the stored bar series has no gap; at start, the frame
journal of a killed predecessor is replayed and every series is backfilled from its newest stored row.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from liqmap.errors import ConfigError, FeedError, InvalidRecordError, ParseError
from liqmap.feed.backfill import HISTORY_TABLES
from liqmap.feed.journal import Journal
from liqmap.feed.record import Recorder, load_instruments, parse_entry, read_recording
from liqmap.feed.rest import RestClient
from liqmap.feed.takerflow import TakerFlow
from liqmap.feed.timing import Backoff, Timing
from liqmap.feed.writer import BatchWriter
from liqmap.feed.ws import FeedHealth, WsFeed
from liqmap.store import Store, schema
from liqmap.types import DAY_MS, MINUTE_MS, Bar, Instrument, MarkPrice, OpenInterest, Record, Trade
from liqmap.venues._spec import ChannelKind, HistoryKind, ParseContext, VenueSpec, symbol_of
from liqmap.venues.registry import get_spec

log = logging.getLogger(__name__)

DEFAULT_CHANNELS: tuple[str, ...] = ("trades", "liquidations", "klines", "mark", "open_interest")
_STATE_TYPES = (MarkPrice, OpenInterest)
QUIET_KINDS = frozenset({"liquidations", "trades"})
QUIET_STALE_S = 600.0
STARTUP_WAIT_S = 30.0
_KEY_FIELDS = {rt: schema.KEYS[table] for rt, table in schema.RECORD_TABLES.items()}


class VenueRuntime:
    """Everything live for one venue: spec, parse context, REST client, health, dedup window."""

    def __init__(self, spec: VenueSpec, symbols: Sequence[str], timing: Timing, dedup_window: int) -> None:
        self.spec = spec
        self.venue_symbols = [spec.venue_symbol(s) for s in symbols]
        self.ctx = ParseContext(spec.name, wanted=frozenset(self.venue_symbols))
        self.health = FeedHealth(spec.name)
        self.rest = RestClient(spec, timing=timing)
        self.recent: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self.dedup_window = dedup_window
        self.last_ts: dict[tuple[type, str], int] = {}


class Collector:
    def __init__(
        self,
        store: Store,
        exchanges: Sequence[str],
        symbols: Sequence[str],
        *,
        channels: Sequence[str] = DEFAULT_CHANNELS,
        specs: dict[str, VenueSpec] | None = None,
        recorder: Recorder | None = None,
        writer: BatchWriter | None = None,
        timing: Timing | None = None,
        backoff: Callable[[], Backoff] | None = None,
        stale_after_s: float | None = None,
        kline_interval_ms: int = MINUTE_MS,
        gap_backfill: bool = True,
        dedup_window: int = 50_000,
        oi_poll_s: float | None = None,
        ping_interval_s: float | None = None,
        store_trades: bool = False,
        taker_grace_s: float = 2.0,
        journal: Journal | None = None,
        startup_backfill: bool = True,
        startup_backfill_max_ms: int = 7 * DAY_MS,
    ) -> None:
        self.store = store
        self.store_trades = store_trades
        """Raw trades go to the store only when asked (``collect --store-trades``); by default they only feed
        :attr:`taker` (taker buy volume of each bar)."""
        self.taker = TakerFlow(kline_interval_ms)
        self.taker_grace_s = taker_grace_s
        self._held: list[tuple[float, Bar, VenueRuntime]] = []
        """Closed bars waiting ``taker_grace_s`` for late trades before their taker buy volume is filled."""
        self.journal = journal
        self.startup_backfill = startup_backfill
        self.startup_backfill_max_ms = startup_backfill_max_ms
        self.timing = timing or Timing()
        self.writer = writer or BatchWriter(store)
        self.recorder = recorder
        unknown = [c for c in channels if c not in DEFAULT_CHANNELS]
        if unknown:
            raise ConfigError(f"unknown channel(s) {unknown}; accepted: {', '.join(DEFAULT_CHANNELS)}")
        self.channels = tuple(channels)
        self.kline_interval_ms = kline_interval_ms
        self.gap_backfill = gap_backfill
        self.stale_after_s = stale_after_s
        self.oi_poll_s = oi_poll_s
        self.ping_interval_s = ping_interval_s
        self._backoff = backoff or Backoff
        specs = specs or {}
        self.venues = {
            name: VenueRuntime(specs.get(name) or get_spec(name), symbols, self.timing, dedup_window)
            for name in exchanges
        }
        self.health: dict[str, FeedHealth] = {name: v.health for name, v in self.venues.items()}
        self._feeds: list[WsFeed] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()

    def health_snapshot(self) -> dict[str, dict[str, Any]]:
        """JSON-ready health per exchange (for the web service's status endpoint)."""
        import dataclasses

        return {name: dataclasses.asdict(h) for name, h in self.health.items()}

    # -- lifecycle -----------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        for feed in self._feeds:
            feed.stop()

    async def run(self) -> None:
        """Run until :meth:`stop`; then flush the writer and close everything."""
        if self.journal is not None:
            self.writer.checkpoint = self.journal.checkpoint
        await self.writer.start()
        try:
            if self.journal is not None:
                self._recover(self.journal)
                self._release_held(force=True)  # the whole journal is replayed: no later trade will come
                await self.writer.flush()  # recovered records durable before the startup backfill reads
            for venue in self.venues.values():
                await self._start_venue(venue)
            self._spawn(self._supervise(self._release_loop, "taker-hold", None), "taker-hold")
            await self._stop.wait()
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._release_held(force=True)
            await self.writer.close()
            if self.journal is not None:
                self.journal.close()  # the final flush stored everything: drop every segment
                self.journal.checkpoint()()
            for venue in self.venues.values():
                await venue.rest.aclose()
            if self.recorder is not None:
                self.recorder.close()

    def _spawn(self, coro: Any, name: str, venue: VenueRuntime | None = None) -> None:
        task = asyncio.create_task(self._guard(coro, name, venue), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, coro: Any, name: str, venue: VenueRuntime | None) -> None:
        """Run a one-shot task; an unexpected exception is logged and counted, never lost."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._count_error(venue, f"task {name}: {type(exc).__name__}: {exc}", None)

    async def _supervise(self, factory: Callable[[], Any], name: str, venue: VenueRuntime | None) -> None:
        """Run a long-lived loop (a connection's frames, an OI poll) until :meth:`stop`; restart it after a
        backoff delay whenever it raises or ends unexpectedly."""
        backoff = self._backoff()
        while not self._stop.is_set():
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._count_error(venue, f"task {name}: {type(exc).__name__}: {exc}", None)
            if self._stop.is_set():
                return
            await self.timing.sleep(backoff.next_delay())

    @staticmethod
    def _count_error(venue: VenueRuntime | None, message: str, raw: str | bytes | None) -> None:
        if venue is not None:
            venue.health.errors += 1
            venue.health.last_error = message[:500]
        log.exception("%s: %s; payload=%r", venue.spec.name if venue else "collector", message, _clip(raw))

    async def _start_venue(self, venue: VenueRuntime) -> None:
        spec = venue.spec
        if "instruments" in spec.snapshots:
            if "contracts" in spec.capabilities:
                await self._load_instruments(venue, attempts=None)  # sizes are needed before any frame
            else:
                self._spawn(self._load_instruments(venue, attempts=3), f"{spec.name}-instruments", venue)
        by_endpoint: dict[str, list[tuple[str, str | dict[str, str]]]] = {}
        for kind in self._ws_kinds(spec):
            channel = spec.channels[kind]
            interval = spec.kline_intervals.get(self.kline_interval_ms, "")
            rendered = ([channel.render(vs, interval) for vs in venue.venue_symbols] if channel.per_symbol
                        else [channel.render("", interval)])
            by_endpoint.setdefault(channel.endpoint, []).extend((kind, arg) for arg in rendered)
        for endpoint, items in by_endpoint.items():
            size = spec.max_streams_per_connection
            for i in range(0, len(items), size):
                chunk = items[i : i + size]
                feed = WsFeed(spec, endpoint, [arg for _, arg in chunk], health=venue.health, timing=self.timing,
                              backoff=self._backoff(), stale_after_s=self._stale_after(spec, chunk),
                              ping_interval_s=self.ping_interval_s,
                              on_gap=functools.partial(self._on_gap, venue))
                self._feeds.append(feed)
                name = f"{spec.name}-{endpoint}-{i}"
                self._spawn(self._supervise(functools.partial(self._consume, venue, feed), name, venue), name, venue)
        if self.startup_backfill:
            self._spawn(self._startup_backfill(venue), f"{spec.name}-startup-backfill", venue)
        if "open_interest" in self.channels and self._oi_by_poll(spec):
            self._spawn(self._supervise(functools.partial(self._poll_oi, venue), f"{spec.name}-oi-poll", venue),
                        f"{spec.name}-oi-poll", venue)

    async def _load_instruments(self, venue: VenueRuntime, attempts: int | None) -> None:
        """Instrument metadata (contract sizes), retried with backoff (forever when ``attempts`` is None,
        until :meth:`stop`)."""
        backoff = self._backoff()
        tried = 0
        while not self._stop.is_set():
            tried += 1
            try:
                instruments = await venue.rest.snapshot("instruments", "", venue.ctx,
                                                        self._rest_recorder(venue, "instruments", ""))
            except FeedError as exc:
                venue.health.last_error = f"instruments: {exc}"
                log.error("%s: cannot load instruments (%s)", venue.spec.name, exc)
                if attempts is not None and tried >= attempts:
                    return
                await self.timing.sleep(backoff.next_delay())
                continue
            wanted = [i for i in instruments if isinstance(i, Instrument) and venue.ctx.is_wanted(i.venue_symbol)]
            venue.ctx.instruments.update({i.venue_symbol: i for i in wanted})
            self.writer.put(wanted)
            return

    def _recover(self, journal: Journal) -> None:
        """Replay the segments a killed process left through the parsers (each frame is journaled again
        before its old segment is deleted, so a second kill loses nothing either)."""
        for path in journal.open():
            frames = 0
            kept = False
            for entry in read_recording(path):
                venue = self.venues.get(entry.venue)
                if venue is None:
                    kept = True  # not collected by this run: keep the segment for `liqmap replay`
                    continue
                if not venue.ctx.instruments:
                    load_instruments(self.store, venue.ctx)
                frames += 1
                if entry.rest is None:
                    self.handle(venue, entry.raw, entry.ts_recv, record=False)
                    continue
                journal.write(entry.venue, entry.raw, entry.ts_recv, rest=entry.rest,
                              venue_symbol=entry.venue_symbol)
                try:
                    records = parse_entry(venue.spec, venue.ctx, entry.ts_recv, entry.raw, entry.rest,
                                          entry.venue_symbol)
                except InvalidRecordError as exc:
                    records = exc.valid  # type: ignore[assignment]
                except (FeedError, KeyError) as exc:
                    log.warning("%s: journal entry skipped: %s", entry.venue, exc)
                    continue
                self._accept(venue, records, None)
            venue_health = next(iter(self.health.values()), None)
            if venue_health is not None:
                venue_health.extra["journal_frames_recovered"] = (
                    venue_health.extra.get("journal_frames_recovered", 0) + frames)
            log.info("journal %s: %d frames recovered", path.name, frames)
            if kept:
                log.warning("journal %s holds frames of venues not collected now; kept for `liqmap replay`",
                            path)
            else:
                journal.discard(path)

    async def _startup_backfill(self, venue: VenueRuntime) -> None:
        """Fill each series from its newest stored row to now over REST (bars, open interest, funding), so
        a restart leaves no hole. A series with nothing stored yet is left to ``liqmap backfill``.

        The bars of the series filled this way are read once more after the venue's streams have delivered
        their first frame (at most :data:`STARTUP_WAIT_S` later): a bar that closed between the first read
        and the subscription would otherwise come from neither."""
        filled = await self._backfill_from_store(venue, self._history_kinds(venue.spec, with_funding=True),
                                                 venue.venue_symbols)
        bar_series = [vsym for kind, vsym in filled if kind == "klines"]
        if bar_series and await self._streams_flowing(venue):
            await self._backfill_from_store(venue, ["klines"], bar_series)

    async def _streams_flowing(self, venue: VenueRuntime) -> bool:
        """Wait until one of the venue's connections is up and has delivered a frame (so its subscriptions
        are registered at the exchange); False after :data:`STARTUP_WAIT_S` or on stop."""
        since = self.timing.now_ms()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_WAIT_S
        while not self._stop.is_set() and loop.time() < deadline:
            health = venue.health
            if health.connected and health.last_message_ms is not None and health.last_message_ms >= since:
                return True
            await asyncio.sleep(0.05)
        return False

    async def _backfill_from_store(self, venue: VenueRuntime, kinds: Sequence[HistoryKind],
                                   venue_symbols: Sequence[str]) -> list[tuple[HistoryKind, str]]:
        """REST from each series' newest stored row to now; returns the (kind, venue symbol) pairs fetched."""
        now = self.timing.now_ms()
        fetched: list[tuple[HistoryKind, str]] = []
        for kind in kinds:
            table = HISTORY_TABLES[kind]
            for vsym in venue_symbols:
                filters: dict[str, object] = {"exchange": venue.spec.name, "symbol": symbol_of(vsym)}
                if table == "bars":
                    filters.update(interval_ms=self.kline_interval_ms, market="perp")
                latest = self.store.latest_ts(table, **filters)
                if latest is None:
                    continue
                start = max(latest + 1, now - self.startup_backfill_max_ms)
                if table == "bars":  # also the holes a killed run left behind newer live bars
                    start = self._first_bar_hole(filters, now - self.startup_backfill_max_ms, start)
                await self._fetch_history(venue, kind, vsym, start, now, "startup backfill", durable=True)
                fetched.append((kind, vsym))
        return fetched

    def _first_bar_hole(self, filters: dict[str, object], since: int, default: int) -> int:
        """Open time of the first missing bar after the oldest stored bar since ``since`` (``default`` when
        the stored bars are contiguous)."""
        ts = self.store.read("bars", start=since, columns=["ts_event"], **filters)["ts_event"]  # type: ignore[arg-type]
        if len(ts) < 2:
            return default
        import numpy as np

        ts = np.sort(np.asarray(ts, dtype=np.int64))
        holes = np.flatnonzero(np.diff(ts) > self.kline_interval_ms)
        return int(ts[holes[0]]) + self.kline_interval_ms if len(holes) else default

    def _history_kinds(self, spec: VenueSpec, *, with_funding: bool) -> list[HistoryKind]:
        kinds: list[HistoryKind] = []
        if "klines" in self.channels and "klines" in spec.history:
            kinds.append("klines")
        if "open_interest" in self.channels and "open_interest" in spec.history:
            kinds.append("open_interest")
        if with_funding and "mark" in self.channels and "funding" in spec.history:
            kinds.append("funding")
        return kinds

    async def _fetch_history(self, venue: VenueRuntime, kind: HistoryKind, vsym: str, start: int, end: int,
                             why: str, durable: bool = False) -> None:
        """REST pages into the writer; ``durable``: flush each page at once (REST pages are not journaled,
        and a newer live row stored before them would hide the hole from the next startup backfill)."""
        try:
            async for page in venue.rest.history(kind, vsym, start, end, venue.ctx):
                self.writer.put(page)
                if durable:
                    await self.writer.flush()
        except FeedError as exc:
            venue.health.last_error = f"{why}: {exc}"
            log.warning("%s %s %s %s failed: %s", venue.spec.name, why, kind, vsym, exc)

    def _stale_after(self, spec: VenueSpec, chunk: Sequence[tuple[str, object]]) -> float:
        """Silence that means a stalled socket. A connection carrying only event channels that can be
        legitimately quiet (liquidations, trades of an illiquid symbol) gets ``QUIET_STALE_S``; dead TCP is
        caught sooner anyway by the websockets keepalive pings (20 s)."""
        if self.stale_after_s is not None:
            return self.stale_after_s
        if all(kind in QUIET_KINDS for kind, _ in chunk):
            return max(spec.heartbeat.stale_after_s, QUIET_STALE_S)
        return spec.heartbeat.stale_after_s

    def _ws_kinds(self, spec: VenueSpec) -> list[ChannelKind]:
        kinds: list[ChannelKind] = []
        for wanted in self.channels:
            if wanted in spec.channels:
                kinds.append(wanted)  # type: ignore[arg-type]
                if wanted == "mark" and "funding" in spec.channels:
                    kinds.append("funding")
            elif wanted in ("mark", "open_interest") and "tickers" in spec.channels:
                kinds.append("tickers")
        return list(dict.fromkeys(kinds))

    @staticmethod
    def _oi_by_poll(spec: VenueSpec) -> bool:
        return ("open_interest" not in spec.channels and "tickers" not in spec.channels
                and "open_interest" in spec.snapshots and spec.oi_poll_s is not None)

    # -- frames -> records ---------------------------------------------------------------------------
    async def _consume(self, venue: VenueRuntime, feed: WsFeed) -> None:
        async for raw, ts_recv in feed.frames():
            self.handle(venue, raw, ts_recv)

    def handle(self, venue: VenueRuntime, raw: str | bytes, ts_recv: int, *, record: bool = True) -> list[Record]:
        """Journal, record, parse, dedup and queue one frame; returns the records accepted."""
        try:
            return self._handle(venue, raw, ts_recv, record)
        except Exception as exc:  # supervision: a bug must not end the connection's consumer
            self._count_error(venue, f"frame handling failed: {type(exc).__name__}: {exc}", raw)
            return []

    def _handle(self, venue: VenueRuntime, raw: str | bytes, ts_recv: int, record: bool) -> list[Record]:
        health = venue.health
        health.messages += 1
        if self.journal is not None:
            self.journal.write(venue.spec.name, raw, ts_recv)
        if self.recorder is not None and record:
            self.recorder.write(venue.spec.name, raw, ts_recv)
        try:
            records = venue.spec.parse_ws(raw, ts_recv, venue.ctx)
        except InvalidRecordError as exc:
            health.invalid_records += 1
            health.last_error = str(exc)
            log.warning("%s invalid record(s) skipped: %s; payload=%r", venue.spec.name, exc, _clip(raw))
            records = exc.valid  # type: ignore[assignment]
        except ParseError as exc:
            health.parse_errors += 1
            health.last_error = str(exc)
            log.warning("%s parse error: %s; payload=%r", venue.spec.name, exc, _clip(raw))
            return []
        except FeedError as exc:
            health.venue_errors += 1
            health.last_error = str(exc)
            log.warning("%s venue error: %s; payload=%r", venue.spec.name, exc, _clip(raw))
            return []
        return self._accept(venue, records, raw)

    def _accept(self, venue: VenueRuntime, records: list[Record], raw: str | bytes | None) -> list[Record]:
        health = venue.health
        accepted: list[Record] = []
        for record in records:
            key = (type(record), *(getattr(record, f) for f in _KEY_FIELDS[type(record)]))
            if key in venue.recent:
                health.duplicates += 1  # DEBUG only: replayed streams repeat thousands of frames
                log.debug("%s duplicate skipped: %r", venue.spec.name, _clip(raw))
                continue
            venue.recent[key] = None
            if len(venue.recent) > venue.dedup_window:
                venue.recent.popitem(last=False)
            ts_event = getattr(record, "ts_event", None)
            if ts_event is not None:
                slot = (type(record), record.symbol)
                last = venue.last_ts.get(slot)
                if last is not None and ts_event < last:
                    health.out_of_order += 1
                    log.debug("%s out-of-order %s (%d < %d): %r", venue.spec.name, type(record).__name__,
                              ts_event, last, _clip(raw))
                    if isinstance(record, _STATE_TYPES):
                        continue
                else:
                    venue.last_ts[slot] = ts_event
                health.lag_ms = getattr(record, "ts_recv", ts_event) - ts_event
            if isinstance(record, Trade):
                self.taker.add(record)
                if not self.store_trades:
                    health.records += 1
                    continue
            elif isinstance(record, Bar) and self._awaits_trades(record):
                # trades of the bar's last moments may arrive after its close push: hold it briefly
                self._held.append((time.monotonic() + self.taker_grace_s, record, venue))
                continue
            accepted.append(record)
        health.records += len(accepted)
        self.writer.put(accepted)
        return accepted

    def _awaits_trades(self, bar: Bar) -> bool:
        return (bar.taker_buy_volume is None and bar.interval_ms == self.taker.interval_ms and bar.market == "perp"
                and self.taker.volumes(bar.exchange, bar.symbol, bar.ts_event) is not None)

    def _release_held(self, *, force: bool = False) -> None:
        """Fill and queue the held bars whose grace is over (all of them when ``force``)."""
        if not self._held:
            return
        now = time.monotonic()
        ready = [item for item in self._held if force or item[0] <= now]
        self._held = [item for item in self._held if not (force or item[0] <= now)]
        for _due, bar, venue in ready:
            venue.health.records += 1
            self.writer.put([self.taker.fill(bar)])

    async def _release_loop(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(0.1)  # real time: the grace is about arrival order, not exchange time
            self._release_held()

    # -- REST side -----------------------------------------------------------------------------------
    async def _poll_oi(self, venue: VenueRuntime) -> None:
        period = self.oi_poll_s or venue.spec.oi_poll_s or 10.0
        while not self._stop.is_set():
            for vsym in venue.venue_symbols:
                try:
                    records = await venue.rest.snapshot("open_interest", vsym, venue.ctx,
                                                        self._rest_recorder(venue, "open_interest", vsym))
                except FeedError as exc:
                    venue.health.last_error = f"oi poll: {exc}"
                    log.warning("%s oi poll %s: %s", venue.spec.name, vsym, exc)
                    continue
                self._accept(venue, records, None)
            await self.timing.sleep(period)

    def _rest_recorder(self, venue: VenueRuntime, kind: str, vsym: str) -> Callable[[Any, int], None] | None:
        sinks = [sink for sink in (self.recorder, self.journal) if sink is not None]
        if not sinks:
            return None
        import json

        def write(body: Any, ts: int) -> None:
            text = json.dumps(body)
            for sink in sinks:
                sink.write(venue.spec.name, text, ts, rest=kind, venue_symbol=vsym)

        return write

    def _on_gap(self, venue: VenueRuntime, start_ms: int, end_ms: int) -> None:
        self.taker.reset(venue.spec.name, end_ms)  # trades of the outage are missing: no partial sums
        if self.gap_backfill:
            self._spawn(self._backfill_gap(venue, start_ms, end_ms), f"{venue.spec.name}-gap", venue)

    async def _backfill_gap(self, venue: VenueRuntime, start_ms: int, end_ms: int) -> None:
        """Fetch ``[start - 1 bar, end]`` of klines (and OI history) so the stored series has no hole."""
        start = (start_ms // self.kline_interval_ms - 1) * self.kline_interval_ms
        for kind in self._history_kinds(venue.spec, with_funding=False):
            for vsym in venue.venue_symbols:
                await self._fetch_history(venue, kind, vsym, start, end_ms, "gap backfill")
        venue.health.gaps_backfilled += 1


def _clip(raw: str | bytes | None) -> str | bytes | None:
    return raw[:500] if raw is not None else None
