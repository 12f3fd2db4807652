"""WebSocket transport: connect, subscribe, keep alive, detect stalls, reconnect. Yields raw frames only.

:class:`WsFeed` owns one venue connection (one URL, a list of subscription args). ``frames()`` is an
async iterator of ``(raw, ts_recv_ms)`` that survives disconnects: on a dropped, refused or stalled
socket it waits a capped exponential backoff with jitter (:class:`~liqmap.feed.timing.Backoff`), reconnects,
resubscribes, and reports the outage to ``on_gap(start_ms, end_ms)`` so the caller can backfill the hole
over REST. Heartbeats follow the venue's :class:`~liqmap.venues._spec.Heartbeat`: protocol pings are answered
by the websockets library; application pings (Bybit ``{"op":"ping"}``, OKX ``ping``) are sent by us, and
their pongs are swallowed here. A socket silent for ``stale_after_s`` is treated as dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from liqmap.feed.timing import Backoff, Timing
from liqmap.venues._spec import VenueSpec

log = logging.getLogger(__name__)


@dataclass
class FeedHealth:
    """Per-exchange health, readable at any time (the web service shows it)."""

    exchange: str
    connected: bool = False
    """At least one of the venue's connections is up (``open_connections`` says how many)."""
    open_connections: int = 0
    last_message_ms: int | None = None
    lag_ms: int | None = None
    """``ts_recv - ts_event`` of the latest data record (exchange -> us)."""
    messages: int = 0
    records: int = 0
    reconnects: int = 0
    parse_errors: int = 0
    venue_errors: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps_backfilled: int = 0
    errors: int = 0
    """Unexpected exceptions caught by the collector's supervisor (a bug or a hostile frame the parser
    contract missed); the frame is skipped or the task restarted, ``last_error`` says what happened."""
    invalid_records: int = 0
    """Records refused by :mod:`liqmap.validation` (their frame's valid records were kept)."""
    last_error: str | None = None
    extra: dict[str, int] = field(default_factory=dict)


class WsFeed:
    def __init__(
        self,
        spec: VenueSpec,
        endpoint: str,
        args: Sequence[str | dict[str, str]],
        *,
        health: FeedHealth | None = None,
        timing: Timing | None = None,
        backoff: Backoff | None = None,
        on_gap: Callable[[int, int], None] | None = None,
        stale_after_s: float | None = None,
        ping_interval_s: float | None = None,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.spec = spec
        self.url = spec.ws_urls[endpoint]
        self.args = list(args)
        self.health = health or FeedHealth(spec.name)
        self.timing = timing or Timing()
        self.backoff = backoff or Backoff()
        self.on_gap = on_gap
        self.stale_after_s = stale_after_s or spec.heartbeat.stale_after_s
        self.ping_interval_s = ping_interval_s or spec.heartbeat.interval_s
        self.open_timeout_s = open_timeout_s
        self._stopped = asyncio.Event()
        self._last_frame_ms: int | None = None

    def stop(self) -> None:
        self._stopped.set()

    async def frames(self) -> AsyncIterator[tuple[str | bytes, int]]:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, WebSocketException

        down_since: int | None = None
        while not self._stopped.is_set():
            try:
                # close_timeout: a stalled peer never answers our close frame; don't wait long for it
                async with connect(self.url, open_timeout=self.open_timeout_s, ping_interval=20,
                                   ping_timeout=20, close_timeout=2, max_size=2**24) as ws:
                    for frame in self.spec.subscribe(self.args):
                        await ws.send(frame)
                    self.health.open_connections += 1
                    self.health.connected = True
                    if down_since is not None and self.on_gap is not None:
                        self.on_gap(down_since, self.timing.now_ms())
                    down_since = None
                    pinger = asyncio.create_task(self._ping_loop(ws)) if self.spec.heartbeat.client_ping else None
                    try:
                        async for item in self._read(ws):
                            yield item
                    finally:
                        self.health.open_connections -= 1
                        self.health.connected = self.health.open_connections > 0
                        if pinger is not None:
                            pinger.cancel()
                            with contextlib.suppress(asyncio.CancelledError, Exception):
                                await pinger
                    if self._stopped.is_set():
                        return
                    raise ConnectionError("server closed the connection")
            except (OSError, TimeoutError, ConnectionError, InvalidHandshake, WebSocketException) as exc:
                if self._stopped.is_set():
                    return
                self.health.reconnects += 1
                self.health.last_error = f"{type(exc).__name__}: {exc}"
                if down_since is None:
                    # this connection's last frame (the venue's other connections may be fine)
                    down_since = self._last_frame_ms or self.timing.now_ms()
                delay = self.backoff.next_delay()
                log.warning("%s %s: %s; reconnecting in %.2fs", self.spec.name, self.url, exc, delay)
                await self.timing.sleep(delay)

    async def _read(self, ws: object) -> AsyncIterator[tuple[str | bytes, int]]:
        from websockets.exceptions import ConnectionClosed

        pong = self.spec.heartbeat.pong
        healthy = False
        while not self._stopped.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=self.stale_after_s)  # type: ignore[attr-defined]
            except TimeoutError:
                raise ConnectionError(f"stalled: no frame for {self.stale_after_s}s") from None
            except ConnectionClosed as exc:
                raise ConnectionError(f"closed: {exc}") from None
            ts_recv = self.timing.now_ms()
            self.health.last_message_ms = self._last_frame_ms = ts_recv
            if not healthy:
                healthy = True
                self.backoff.reset()
            if pong is not None and raw == pong:
                continue
            yield raw, ts_recv

    async def _ping_loop(self, ws: object) -> None:
        ping = self.spec.heartbeat.client_ping
        assert ping is not None
        while True:
            await asyncio.sleep(self.ping_interval_s)
            await ws.send(ping)  # type: ignore[attr-defined]
