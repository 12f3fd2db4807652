"""REST transport: httpx, per-endpoint pacing, rate-limit backoff, paginated history. No parsing here:
bodies go to the venue's pure parsers (``RestHistory.parse`` / ``RestSnapshot.parse``).

Errors are classified once: httpx transport failures and 5xx -> :class:`TransportError` (retried with
capped exponential backoff); 429/418/403 or a venue rate-limit code -> :class:`RateLimitError` (we sleep
``Retry-After`` when given, else the backoff delay; never hammer); other venue errors ->
:class:`VenueError` (surfaced, not retried).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from liqmap.errors import InvalidRecordError, ParseError, RateLimitError, TransportError
from liqmap.feed.timing import Backoff, Timing
from liqmap.types import Record
from liqmap.venues._spec import HistoryKind, ParseContext, SnapshotKind, VenueSpec

log = logging.getLogger(__name__)


RETRY_AFTER_MIN_S = 1.0
RETRY_AFTER_MAX_S = 300.0


def capped_retry_after(retry_after: float | None, backoff: Backoff) -> float:
    """The wait after a rate limit: the venue's ``Retry-After`` clipped to [1 s, 300 s]; the backoff delay
    when the venue gave none or nonsense (negative, NaN, infinite: ``Retry-After: inf`` must not mean
    forever, ``1e9`` not 31 years, ``-5`` not "hammer now")."""
    if retry_after is None or not math.isfinite(retry_after) or retry_after < 0:
        return backoff.next_delay()
    return min(max(retry_after, RETRY_AFTER_MIN_S), RETRY_AFTER_MAX_S)


class RestClient:
    """One venue's REST API. ``spec.rest_url`` is the base URL (point it at a mock with
    ``spec.with_urls(rest=...)``). Use as an async context manager or call :meth:`aclose`."""

    def __init__(
        self,
        spec: VenueSpec,
        *,
        client: httpx.AsyncClient | None = None,
        timing: Timing | None = None,
        backoff: Backoff | None = None,
        max_attempts: int = 6,
        timeout_s: float = 15.0,
    ) -> None:
        self.spec = spec
        self.timing = timing or Timing()
        self.backoff = backoff or Backoff(base_s=1.0, cap_s=60.0)
        self.max_attempts = max_attempts
        self._client = client
        self._own_client = client is None
        self._timeout_s = timeout_s
        self._last_call: dict[str, float] = {}
        self.rate_limited = 0
        self.requests = 0
        self.invalid_records = 0

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._own_client:
            await self._client.aclose()
        self._client = None

    async def request(self, path: str, params: dict[str, Any], *, method: str = "GET",
                      min_interval_s: float = 0.0) -> tuple[Any, int]:
        """JSON body and receive time of one call, after pacing and retries."""
        url = self.spec.rest_url + path
        self.backoff.reset()
        last_error: Exception | None = None
        for _ in range(self.max_attempts):
            await self._pace(path, min_interval_s)
            try:
                if method == "POST":
                    response = await self.client.post(url, json=params)
                else:
                    response = await self.client.get(url, params=params)
            except httpx.HTTPError as exc:
                last_error = TransportError(f"{self.spec.name} {path}: {exc!r}")
                await self.timing.sleep(self.backoff.next_delay())
                continue
            self.requests += 1
            ts_recv = self.timing.now_ms()
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = response.text
            try:
                self.spec.check_response(response.status_code, response.headers, body)
            except RateLimitError as exc:
                self.rate_limited += 1
                delay = capped_retry_after(exc.retry_after, self.backoff)
                log.warning("%s %s rate limited (%s); sleeping %.1fs", self.spec.name, path, exc, delay)
                last_error = exc
                await self.timing.sleep(delay)
                continue
            except TransportError as exc:
                last_error = exc
                await self.timing.sleep(self.backoff.next_delay())
                continue
            if isinstance(body, str):
                raise ParseError(f"{self.spec.name} {path}: body is not JSON", body[:2000])
            return body, ts_recv
        assert last_error is not None
        raise last_error

    async def _pace(self, path: str, min_interval_s: float) -> None:
        """Space calls to one endpoint by at least ``min_interval_s`` (the venue's per-endpoint limit)."""
        if min_interval_s <= 0:
            return
        now = self.timing.now_ms() / 1000.0
        last = self._last_call.get(path)
        if last is not None and now - last < min_interval_s:
            await self.timing.sleep(min_interval_s - (now - last))
        self._last_call[path] = self.timing.now_ms() / 1000.0

    async def snapshot(self, kind: SnapshotKind, venue_symbol: str, ctx: ParseContext,
                       on_body: Callable[[Any, int], None] | None = None) -> list[Record]:
        """One snapshot endpoint, parsed. ``on_body(body, ts_recv)`` sees the raw JSON first (recorder)."""
        endpoint = self.spec.snapshots[kind]
        body, ts_recv = await self.request(endpoint.path.format(venue_symbol=venue_symbol),
                                           endpoint.params(venue_symbol), method=endpoint.method,
                                           min_interval_s=endpoint.min_interval_s)
        if on_body is not None:
            on_body(body, ts_recv)
        return self._parse(endpoint.parse, body, venue_symbol, ts_recv, ctx)

    def _parse(self, parse: Callable[..., list[Record]], body: Any, venue_symbol: str, ts_recv: int,
               ctx: ParseContext) -> list[Record]:
        """Parse a body; when some records fail validation keep the valid ones (logged, counted)."""
        try:
            return parse(body, venue_symbol, ts_recv, ctx)
        except InvalidRecordError as exc:
            self.invalid_records += 1
            log.warning("%s %s: %s; the %d valid records are kept", self.spec.name, venue_symbol, exc,
                        len(exc.valid))
            return exc.valid  # type: ignore[return-value]

    def windows(self, kind: HistoryKind, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """Inclusive ``[a, b]`` windows of at most ``max_limit`` rows each."""
        endpoint = self.spec.history[kind]
        if endpoint.max_age_ms is not None:
            start_ms = max(start_ms, end_ms - endpoint.max_age_ms + endpoint.step_ms)
        span = endpoint.max_limit * endpoint.step_ms
        out, cursor = [], start_ms
        while cursor <= end_ms:
            out.append((cursor, min(end_ms, cursor + span - 1)))
            cursor += span
        return out

    async def history(self, kind: HistoryKind, venue_symbol: str, start_ms: int, end_ms: int,
                      ctx: ParseContext) -> AsyncIterator[list[Record]]:
        """Pages of records covering ``[start_ms, end_ms]``, oldest window first."""
        endpoint = self.spec.history[kind]
        for a, b in self.windows(kind, start_ms, end_ms):
            # Some venues (dYdX) put the market in the path: ".../{venue_symbol}".
            path = endpoint.path.format(venue_symbol=venue_symbol)
            body, ts_recv = await self.request(path, endpoint.params(venue_symbol, a, b, endpoint.max_limit),
                                               method=endpoint.method, min_interval_s=endpoint.min_interval_s)
            records = self._parse(endpoint.parse, body, venue_symbol, ts_recv, ctx)
            yield [r for r in records if a <= getattr(r, "ts_event", a) <= b]
