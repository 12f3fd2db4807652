"""The single batching writer between live feeds and the store, and the live hook for other layers.

Every producer calls :meth:`BatchWriter.put` (non-blocking). One asyncio task owns the store writes:
it flushes when ``flush_every`` records are buffered, and at least every ``flush_ms``, runs ``store.write`` in a worker thread (DuckDB is not async) and, **after** the batch is durable,
hands it to every subscriber. ``close()`` (called on SIGINT/SIGTERM by the collector) flushes what is
left. What a kill -9 loses from the buffer is recovered on restart from the collector's frame journal
(:mod:`liqmap.feed.journal`); writes are idempotent.

A bad record never costs a good one: when a batch write fails, the batch is bisected (:func:`salvage`)
until every good record is stored and each record the store refuses on its own is quarantined (logged at
ERROR with its content, counted in ``quarantined``, appended to ``quarantine_path`` as JSONL when set).
When no part of the batch can be written at all, the store itself is failing (a lock, a full disk): the
batch is kept for the next flush, up to ``max_retries`` times, then salvaged record by record.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liqmap.errors import StoreError
from liqmap.store import Store, schema
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


def write_records(store: Store, records: Sequence[Record]) -> dict[str, int]:
    """``store.write`` semantics (idempotent by key; new rows per table), columnar and faster."""
    return {table: store.write_columns(table, cols) for table, cols in to_columns(records).items()}


class StoreOutage(StoreError):
    """No record of a batch could be written, not even alone: the store is failing, not the data."""


@dataclass
class Salvage:
    counts: dict[str, int] = field(default_factory=dict)
    stored: list[Record] = field(default_factory=list)
    rejected: list[tuple[Record, str]] = field(default_factory=list)


def salvage(store: Store, records: Sequence[Record], *, force: bool = False,
            first_error: Exception | None = None) -> Salvage:
    """Store every record the store accepts, by bisection: a failing slice is split in halves until the
    records that fail alone are isolated (``rejected``, with the error). ``k`` bad records among ``n`` cost
    O(k log n) writes. Raises :class:`StoreOutage` when the first two records tried alone (the only one of
    a one-record batch) fail and nothing succeeded: then the store is failing, not a record. With
    ``force`` every record is tried and the failures are rejected. ``first_error``: the whole batch was
    already tried and failed with it (the bisection starts with the halves)."""
    out = Salvage()
    failed_alone = 0

    def failed(items: Sequence[Record], exc: Exception) -> None:
        nonlocal failed_alone
        if len(items) == 1:
            failed_alone += 1
            if not force and failed_alone >= min(2, len(records)) and not out.stored:
                raise StoreOutage(f"the store refuses single records too: {exc}") from exc
            out.rejected.append((items[0], f"{type(exc).__name__}: {str(exc)[:300]}"))
            return
        half = len(items) // 2
        attempt(items[:half])
        attempt(items[half:])

    def attempt(items: Sequence[Record]) -> None:
        try:
            counts = write_records(store, items)
        except Exception as exc:
            failed(items, exc)
            return
        out.stored.extend(items)
        for table, n in counts.items():
            out.counts[table] = out.counts.get(table, 0) + n

    if first_error is None:
        attempt(records)
    else:
        failed(records, first_error)
    return out


class BatchWriter:
    def __init__(self, store: Store, *, flush_every: int = 1000, flush_ms: int = 50,
                 max_retries: int = 5, quarantine_path: str | Path | None = None) -> None:
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
        self._flush_lock: asyncio.Lock | None = None
        self.written: dict[str, int] = {}
        self.flushes = 0
        self.errors = 0
        self.observe_write: Callable[[float, int], None] | None = None
        """Called with (seconds, records) after each successful store write (metrics)."""
        self.quarantined = 0
        self.quarantine_path = quarantine_path
        self.checkpoint: Callable[[], Callable[[], None]] | None = None
        """Called as a batch is taken; what it returns is called once that batch is durable (the journal)."""

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
        """Write what is buffered now (serialised: a journal commit must follow its own batch)."""
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        async with self._flush_lock:
            await self._flush()

    async def _flush(self) -> None:
        commit = self.checkpoint() if self.checkpoint is not None else None
        if not self._buffer:
            if commit is not None:
                commit()  # nothing pending: every frame journaled so far is stored
            return
        batch, self._buffer = self._buffer, []
        started = time.perf_counter()
        try:
            counts = await asyncio.to_thread(write_records, self.store, batch)
        except Exception as exc:
            self.errors += 1
            self._failures += 1
            final = self._failures > self.max_retries or self._closing
            try:
                result = await asyncio.to_thread(salvage, self.store, batch, force=final, first_error=exc)
            except StoreOutage:
                # nothing of the batch could be written: the store is failing, not a record. Keep the batch
                # for the next flush (nothing lost on a transient lock); salvaged per record when final.
                log.warning("store write of %d records failed (attempt %d: %s); retrying at next flush",
                            len(batch), self._failures, exc)
                self._buffer[:0] = batch
                return
            self._failures = 0
            counts = result.counts
            self._quarantine(result.rejected)
            batch = result.stored
        else:
            self._failures = 0
        if self.observe_write is not None:
            self.observe_write(time.perf_counter() - started, len(batch))
        self.flushes += 1
        for table, n in counts.items():
            self.written[table] = self.written.get(table, 0) + n
        if commit is not None:
            commit()
        self._publish(batch)

    def _quarantine(self, rejected: list[tuple[Record, str]]) -> None:
        for record, why in rejected:
            self.quarantined += 1
            log.error("record quarantined (the store refused it: %s): %r", why, record)
            if self.quarantine_path is not None:
                import dataclasses
                import json

                entry = {"type": type(record).__name__, "error": why, "record": dataclasses.asdict(record)}
                with open(self.quarantine_path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry, default=repr) + "\n")

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
