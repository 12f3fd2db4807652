"""Live updates: notice new data in the store, bump the data version, push it to WebSocket clients.

New data is noticed two ways: the in-process collector's on-records hook calls :meth:`Live.notify`
(immediate; with a PostgreSQL store, writes of every process reach it through LISTEN/NOTIFY), and a poll
compares the store's cheap data version of the watched tables every ``poll_interval`` seconds.

On a change every client gets **one** ``update`` frame for the new data version (:func:`update_frame`):
the new bars, liquidation prints and realized aggregates of its symbol (of every symbol for a client
that subscribed to nothing) and, for a client watching a heatmap view, the columns that are new or
changed since its last column (``heatmap``), or ``reload`` when they do not line up. Each distinct view is
computed once, and its frame serialised once (orjson) and queued as the same text for every client
watching it; clients of a view get their frame as soon as that view is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from typing import Any

import numpy as np

from liqmap.analysis.calibration import Calibration, scale_heatmap
from liqmap.model.result import Heatmap
from liqmap.service import encode
from liqmap.service.calibration import calibration_with
from liqmap.service.hub import Client, Hub
from liqmap.service.params import ViewKey
from liqmap.service.views import HeatmapCache

log = logging.getLogger(__name__)

WATCHED = ("bars", "open_interest", "liquidations", "liquidation_bars")
PUSHED = ("bars", "liquidations", "liquidation_bars")
"""The tables whose new rows are pushed: the record sections of an ``update`` frame, named after them."""
_SERIES: dict[str, tuple[str, ...]] = {
    "bars": ("exchange", "symbol", "interval_ms"),
    "liquidations": ("exchange", "symbol"),
    "liquidation_bars": ("exchange", "symbol", "interval_ms"),
}
_PUSHED_COLUMNS: dict[str, list[str]] = {
    "bars": ["ts_event", "exchange", "symbol", "interval_ms", "open", "high", "low", "close", "volume"],
    "liquidations": ["ts_event", "exchange", "symbol", "side", "price", "usd"],
    "liquidation_bars": ["ts_event", "exchange", "symbol", "interval_ms", "long_usd", "short_usd"],
}
"""The columns an update carries of each pushed table (with its series columns)."""
LOOKBACK_MS = 6 * 3_600_000
RESUME_ROWS = 5_000
Seen = dict[str, dict[tuple[Any, ...], int]]
PUSHED_BARS = "bars@pushed"
"""The :data:`Seen` entry of the bars pushed (or stored at start) within :data:`LOOKBACK_MS`: keys
``(*series, ts)``. A bar below its series' newest pushed one (a backfill that committed after newer live
bars: a restarted collector's REST read) is pushed when it is not there."""
Sections = dict[str, list[dict[str, Any]]]
"""The record part of an update: per kind of :data:`PUSHED`, a list of entries (a ``bars`` entry is one
series: ``exchange, symbol, interval_ms, bars``; ``liquidations``: ``symbol, prints``; ``liquidation_bars``:
``symbol, bars``)."""


def _series_key(table: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """The series of a row of ``table`` from its values of the :data:`_SERIES` columns (in that order)."""
    return tuple(int(v) if name == "interval_ms" else str(v) for name, v in zip(_SERIES[table], values, strict=True))


class Live:
    def __init__(self, store: Any, hub: Hub, cache: HeatmapCache, *, poll_interval: float = 2.0) -> None:
        self.store = store
        self.hub = hub
        self.cache = cache
        self.poll_interval = poll_interval
        self.version = 1
        self._signature: tuple[Any, ...] | None = None
        self._seen: Seen = {}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._check_lock: asyncio.Lock | None = None
        self.health_fn: Any = None
        self.last_change_ms: int | None = None
        self.last_push_ms: float | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._signature = await asyncio.to_thread(self._read_signature)
        self._seen = await asyncio.to_thread(self._read_latest)
        self._task = asyncio.create_task(self._run(), name="liqmap-live")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def notify(self) -> None:
        """Thread-safe: new data was written (collector hook); check now instead of at the next poll."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        health_due = 0.0
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            self._wake.clear()
            try:
                await self.check()
                now = time.monotonic()
                if now >= health_due and self.health_fn is not None and self.hub.clients:
                    health_due = now + 5.0
                    health = await asyncio.to_thread(self.health_fn)
                    self.hub.publish({"type": "health", "exchanges": health, "server_time": _now_ms()})
            except asyncio.CancelledError:
                raise
            except Exception:  # the live loop must survive any one bad cycle
                log.exception("live update cycle failed")

    # -- change detection ------------------------------------------------------------------------
    def _read_signature(self) -> tuple[Any, ...]:
        """The store's data version of the watched tables: changes on every committed write to them, from
        any process sharing the store."""
        return tuple(entry for entry in self.store.version() if entry[0] in WATCHED)

    def _read_latest(self) -> Seen:
        """Per table and series, the newest stored time (where the push of new rows starts)."""
        seen: Seen = {table: {} for table in PUSHED}
        for table in PUSHED:
            for row in self.store.series(table):
                if row.get("market", "perp") == "perp":
                    seen[table][_series_key(table, tuple(row[name] for name in _SERIES[table]))] = int(row["last"])
        seen[PUSHED_BARS] = {}
        self._unseen("bars", seen, market="perp")  # the bars stored now count as pushed
        return seen

    def _unseen(self, table: str, seen: Seen, **equals: Any) -> dict[str, np.ndarray]:
        """Rows of ``table`` newer than their own series' last pushed row, and ``seen`` moved past them.

        Per series, not per table: collectors of several venues (several processes on a shared store)
        commit out of order, and a venue whose newest bar is older than another's (or a venue that just
        started) must still be pushed. Rows more than :data:`LOOKBACK_MS` older than the newest pushed row
        are not replayed (clients reload)."""
        marks = seen.setdefault(table, {})
        start = max(marks.values()) - LOOKBACK_MS + 1 if marks else None
        rows = self.store.read(table, start=start, columns=_PUSHED_COLUMNS[table], **equals)
        columns = [rows[name].tolist() for name in _SERIES[table]]
        normal: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # a few series among hours of rows: key each once
        keys = [normal.get(values) or normal.setdefault(values, _series_key(table, values))
                for values in zip(*columns, strict=True)]
        times = rows["ts_event"].tolist()
        if table == "bars":
            keep = self._unpushed_bars(seen, keys, times, start)
        else:
            keep = np.array([ts > marks.get(key, -1) for key, ts in zip(keys, times, strict=True)], dtype=bool)
        for key, ts, new in zip(keys, times, keep.tolist(), strict=True):
            if new:
                marks[key] = max(marks.get(key, -1), int(ts))
        return {name: values[keep] for name, values in rows.items()}

    @staticmethod
    def _unpushed_bars(seen: Seen, keys: list[tuple[Any, ...]], times: list[int], start: int | None) -> np.ndarray:
        """Which of the bars read are not in :data:`PUSHED_BARS` (and record them there, forgetting those
        before ``start``, the read's window)."""
        pushed = seen.setdefault(PUSHED_BARS, {})
        if start is not None:
            for old in [k for k, ts in pushed.items() if ts < start]:
                del pushed[old]
        keep = np.zeros(len(times), dtype=bool)
        for i, (key, ts) in enumerate(zip(keys, times, strict=True)):
            if (*key, ts) not in pushed:
                pushed[(*key, ts)] = int(ts)
                keep[i] = True
        return keep

    async def check(self) -> bool:
        """Compare the store's signature; on a change, bump the version and push. Returns changed.
        Serialised: the poll, the collector hook and ``POST /api/records`` may all ask at once."""
        if self._check_lock is None:
            self._check_lock = asyncio.Lock()
        async with self._check_lock:
            return await self._check()

    async def _check(self) -> bool:
        signature, records, seen = await asyncio.to_thread(self._changes, {t: dict(m) for t, m in self._seen.items()})
        if records is None:
            return False
        self._signature, self._seen = signature, seen
        with self._lock:
            self.version += 1
        self.last_change_ms = _now_ms()
        await self.push(records)
        self.last_push_ms = time.perf_counter()
        return True

    def _changes(self, seen: Seen) -> tuple[tuple[Any, ...], dict[str, Sections] | None, Seen]:
        """The store's signature and, when it moved, the new records (one trip to a worker thread)."""
        signature = self._read_signature()
        if signature == self._signature:
            return signature, None, seen
        return (signature, *self._new_records(seen))

    def _new_records(self, seen: Seen) -> tuple[dict[str, Sections], Seen]:
        """Per symbol, the record sections of an update (:data:`PUSHED`) with the rows not pushed yet (every
        pushed table is read at every change: skipping those whose version entry stayed saves ~3 ms)."""
        out: dict[str, Sections] = defaultdict(_no_records)
        for symbol, entry in bars_entries(self._unseen("bars", seen, market="perp")):
            out[symbol]["bars"].append(entry)
        self._add_prints(out, self._unseen("liquidations", seen))
        self._add_liquidation_bars(out, self._unseen("liquidation_bars", seen))
        return dict(out), seen

    @staticmethod
    def _add_prints(out: dict[str, Sections], prints: dict[str, np.ndarray]) -> None:
        by_symbol: dict[str, list[list[Any]]] = defaultdict(list)
        for i in range(len(prints["ts_event"])):
            by_symbol[str(prints["symbol"][i])].append(
                [int(prints["ts_event"][i]), str(prints["exchange"][i]), str(prints["side"][i]),
                 float(prints["price"][i]), float(prints["usd"][i])]
            )
        for symbol, rows in by_symbol.items():
            out[symbol]["liquidations"].append({"symbol": symbol, "prints": rows[-2000:]})

    @staticmethod
    def _add_liquidation_bars(out: dict[str, Sections], agg: dict[str, np.ndarray]) -> None:
        agg_by_symbol: dict[str, list[list[Any]]] = defaultdict(list)
        for i in range(len(agg["ts_event"])):
            agg_by_symbol[str(agg["symbol"][i])].append(
                [int(agg["ts_event"][i]), str(agg["exchange"][i]), float(agg["long_usd"][i]), float(agg["short_usd"][i])]
            )
        for symbol, rows in agg_by_symbol.items():
            out[symbol]["liquidation_bars"].append({"symbol": symbol, "bars": rows[-2000:]})

    # -- fan-out --------------------------------------------------------------------------------
    async def push(self, records: dict[str, Sections]) -> None:
        """One ``update`` frame per client for the current version: first to the clients without a view
        (records only), then view by view as each view's columns are computed (once per view)."""
        version = self.version
        plain: dict[str | None, list[Client]] = defaultdict(list)
        groups: dict[tuple[Any, ...], list[Client]] = defaultdict(list)
        for client in list(self.hub.clients):
            if client.view is None:
                plain[client.symbol].append(client)
            else:
                key = (client.view, client.side, client.encoding, client.last_time, client.meta.get("edges"))
                groups[key].append(client)
        for symbol, clients in plain.items():
            self.hub.send_text(update_frame(version, _records_for(records, symbol)), clients)
        for (view, side, encoding, last_time, edges), clients in groups.items():
            text, newest = await asyncio.to_thread(self._view_frame, version, _records_for(records, view.symbol),
                                                   view, side, encoding, last_time, edges)
            self.hub.send_text(text, clients)
            if newest is not None:
                for client in clients:
                    client.last_time = newest

    def _view_frame(self, version: int, records: Sections, view: ViewKey, side: str, encoding: str,
                    last_time: int | None, edges: str | None) -> tuple[str, int | None]:
        """In a worker thread: the frame of the clients of one view (its columns, ``reload`` or ``error``
        after the records) and the view's newest column."""
        try:
            heatmap = self.cache.get(view, version)
            # the same calibrated USD as GET /api/heatmap (liqmap.service.calibration)
            cal = calibration_with(self, self.store, self.cache, heatmap, latest=view.end is None)
        except Exception as exc:
            return update_frame(version, records, {"error": f"heatmap update failed: {exc}"}), None
        section = column_update(heatmap, side=side, encoding=encoding, last_time=last_time, edges_hash=edges,
                                calibration=cal)
        if "heatmap" in section:
            section["heatmap"]["calibration"] = cal.to_dict()
        return update_frame(version, records, section), (int(heatmap.times[-1]) if len(heatmap.times) else None)

    def resume(self, symbol: str, since: int) -> str:
        """An ``update`` frame with the stored perpetual bars of ``symbol`` newer than ``since`` (the newest
        :data:`RESUME_ROWS` of them): what a client that reconnects missed while it was away."""
        newest = self.store.read("bars", start=int(since) + 1, symbol=symbol, market="perp", descending=True,
                                 limit=RESUME_ROWS)
        records = _no_records()
        records["bars"] = [entry for _, entry in bars_entries({k: v[::-1] for k, v in newest.items()})]
        return update_frame(self.version, records)


def _no_records() -> Sections:
    return {kind: [] for kind in PUSHED}


def _records_for(records: dict[str, Sections], symbol: str | None) -> Sections:
    """The sections of ``symbol``; of every symbol for ``None`` (a client that subscribed to nothing)."""
    if symbol is not None:
        return records.get(symbol) or _no_records()
    merged = _no_records()
    for sections in records.values():
        for kind in PUSHED:
            merged[kind].extend(sections[kind])
    return merged


def update_frame(version: int, records: Sections, view: dict[str, Any] | None = None) -> str:
    """The text of one ``update`` frame: ``data_version``, ``server_time``, the record sections and the view's
    section (``heatmap`` | ``reload`` | ``error``), serialised once for every client it is queued for."""
    return encode.json_text({"type": "update", "data_version": version, "server_time": _now_ms(), **records,
                             **(view or {})})


def bars_entries(bars: dict[str, np.ndarray]) -> list[tuple[str, dict[str, Any]]]:
    """One ``bars`` entry per series (exchange, symbol, interval), its last 500 rows, keyed by symbol."""
    groups: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for i in range(len(bars["ts_event"])):
        groups[(str(bars["exchange"][i]), str(bars["symbol"][i]), int(bars["interval_ms"][i]))].append(i)
    out = []
    for (exchange, symbol, interval), rows in groups.items():
        payload = [[int(bars["ts_event"][i]), *(float(bars[c][i]) for c in ("open", "high", "low", "close", "volume"))]
                   for i in rows[-500:]]
        out.append((symbol, {"exchange": exchange, "symbol": symbol, "interval_ms": interval, "bars": payload}))
    return out


def column_update(
    heatmap: Heatmap, *, side: str, encoding: str, last_time: int | None, edges_hash: str | None,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """``{"heatmap": columns}``: the columns at or after the client's last column time (in USD scaled by
    ``calibration``, when given); ``{"reload": {"reason"}}`` when they do not line up (new price ladder, or
    columns regrouped)."""
    times = np.asarray(heatmap.times)
    hashed = encode.edges_hash(heatmap.price_edges)
    if edges_hash is not None and edges_hash != hashed:
        return {"reload": {"reason": "price ladder changed"}}
    first = int(np.searchsorted(times, last_time)) if last_time is not None else len(times)
    if first >= len(times) or int(times[first]) != last_time:
        return {"reload": {"reason": "view changed shape"}}
    # Only the columns sent are scaled and combined (the factors are per side, element by element).
    tail = heatmap.columns_from(first)
    if calibration is not None:
        tail = scale_heatmap(tail, calibration)
    return {"heatmap": {
        "side": side,
        "times": [int(t) for t in tail.times],
        "window_start": int(times[0]),
        "price_edges_hash": hashed,
        "grid": encode.encode_array(encode.side_grid(tail, side), encoding),
        "long": encode.encode_array(np.asarray(tail.long), encoding),
        "short": encode.encode_array(np.asarray(tail.short), encoding),
        "candles": encode.candles_payload(tail.candles),
        "update_time": _now_ms(),
    }}


def _now_ms() -> int:
    return int(time.time() * 1000)
