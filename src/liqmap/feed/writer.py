"""The single batching writer between live feeds and the store, and the live hook for other layers.

Every producer calls :meth:`BatchWriter.put` (non-blocking). One asyncio task owns the store writes:
it flushes when ``flush_every`` records are buffered, and at least every ``flush_ms``, runs ``store.write`` in a worker thread (DuckDB is not async) and, **after** the batch is durable,
hands it to every subscriber. ``close()`` (called on SIGINT/SIGTERM by the collector) flushes what is
left. A kill -9 can lose at most the records of the current batch window (``flush_ms``); run the collector
with ``--record DIR`` and ``liqmap replay`` recovers them (writes are idempotent).

Live hook (for the model and the web service)::

    writer.subscribe(lambda records: ...)      # called in the event loop after each durable batch
    queue = writer.queue()                     # or: an asyncio.Queue receiving each stored batch (list)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import time
from collections.abc import Callable, Sequence
from typing import Any

from liqmap.errors import StoreError
from liqmap.store import DuckDBStore, schema
from liqmap.types import Record

log = logging.getLogger(__name__)

OnRecords = Callable[[Sequence[Record]], None]

_GETTERS = {rt: (table, schema.columns(rt), operator.attrgetter(*schema.columns(rt)))
            for rt, table in schema.RECORD_TABLES.items()}


def to_columns(records: Sequence[Record]) -> dict[str, dict[str, list[Any]]]:
    """Records of any mix of types -> ``{table: {column: values}}`` (one attrgetter pass per type)."""
    grouped: dict[type, list[Record]] = {}
    for record in records:
        grouped.setdefault(type(record), []).append(record)
    out: dict[str, dict[str, list[Any]]] = {}
    for record_type, items in grouped.items():
        table, names, getter = _GETTERS[record_type]
        out[table] = dict(zip(names, map(list, zip(*map(getter, items), strict=True)), strict=True))
    return out


def write_records(store: DuckDBStore, records: Sequence[Record]) -> dict[str, int]:
    """``store.write`` semantics (idempotent by key; new rows per table), columnar and faster."""
    return {table: store.write_columns(table, cols) for table, cols in to_columns(records).items()}


class BatchWriter:
    def __init__(self, store: DuckDBStore, *, flush_every: int = 1000, flush_ms: int = 50,
                 max_retries: int = 5) -> None:
        self.store = store
        self.max_retries = max_retries
        self._failures = 0
        self.flush_every = flush_every
        self.flush_ms = flush_ms
        self._buffer: list[Record] = []
        self._subscribers: list[OnRecords] = []
        self._queues: list[asyncio.Queue[list[Record]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.written: dict[str, int] = {}
        self.flushes = 0
        self.errors = 0
        self.observe_write: Callable[[float, int], None] | None = None
        """Called with (seconds, records) after each successful store write (metrics)."""

    # -- hook -------------------------------------------------------------------------------------
    def subscribe(self, callback: OnRecords) -> None:
        """Call ``callback(records)`` after each batch is stored. Exceptions are logged, not raised."""
        self._subscribers.append(callback)

    def queue(self, maxsize: int = 1000) -> asyncio.Queue[list[Record]]:
        """An asyncio queue receiving each stored batch; a full queue drops its oldest batch."""
        q: asyncio.Queue[list[Record]] = asyncio.Queue(maxsize)
        self._queues.append(q)
        return q

    # -- producer side -------------------------------------------------------------------------------
    def put(self, records: Sequence[Record]) -> None:
        if not records:
            return
        self._buffer.extend(records)
        if self._wake is not None and len(self._buffer) >= self.flush_every:
            self._wake.set()

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="liqmap-batch-writer")

    async def close(self) -> None:
        """Flush everything buffered and stop."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_ms / 1000.0)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            started = time.perf_counter()
            counts = await asyncio.to_thread(write_records, self.store, batch)
        except StoreError:
            # e.g. the file is momentarily locked: keep the batch for the next flush, a bounded number
            # of times, so a transient failure loses nothing; a persistent one is logged and dropped
            # (the --record file still holds every frame for `liqmap replay`).
            self.errors += 1
            self._failures += 1
            if self._failures <= self.max_retries and not self._closing:
                log.warning("store write of %d records failed (attempt %d); retrying at next flush",
                            len(batch), self._failures)
                self._buffer[:0] = batch
            else:
                log.exception("store write of %d records failed %d times; batch dropped", len(batch),
                              self._failures)
                self._failures = 0
            return
        except Exception:  # a bug (e.g. a record type without a table): log, never kill the feed
            self.errors += 1
            log.exception("store write of %d records failed", len(batch))
            return
        self._failures = 0
        if self.observe_write is not None:
            self.observe_write(time.perf_counter() - started, len(batch))
        self.flushes += 1
        for table, n in counts.items():
            self.written[table] = self.written.get(table, 0) + n
        self._publish(batch)

    def _publish(self, batch: list[Record]) -> None:
        for callback in self._subscribers:
            try:
                callback(batch)
            except Exception:
                log.exception("on_records subscriber failed")
        for q in self._queues:
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(batch)
