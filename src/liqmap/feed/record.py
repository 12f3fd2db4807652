"""Raw session recording (JSONL) and replay through the same parsers.

One line per received WebSocket frame: ``{"ts_recv": <ms>, "venue": "<exchange>", "raw": "<frame text>"}``;
REST bodies the collector fetched (instruments, polled open interest) are recorded too, with
``"rest": "<snapshot kind>", "venue_symbol": "..."``, so a replay into an empty store has the contract sizes
and the polled series. Files are line-buffered and flushed per line, so a killed collector leaves a
readable file (a torn last line is reported and skipped on replay).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from liqmap.errors import FeedError, InvalidRecordError, MalformedFileError
from liqmap.feed.timing import wall_ms
from liqmap.feed.writer import salvage, write_records
from liqmap.store import Store
from liqmap.types import Instrument, Record
from liqmap.venues._spec import ParseContext, VenueSpec, load_json
from liqmap.venues.registry import get_spec

log = logging.getLogger(__name__)


def entry_line(venue: str, raw: str | bytes, ts_recv: int, *, rest: str | None = None,
               venue_symbol: str = "") -> str:
    """One recording line (also the journal's format)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    entry: dict[str, object] = {"ts_recv": ts_recv, "venue": venue, "raw": text}
    if rest is not None:
        entry.update(rest=rest, venue_symbol=venue_symbol)
    return json.dumps(entry) + "\n"


class Recorder:
    """Appends frames to ``<dir>/<venue>-<start ms>.jsonl`` (one file per venue per session)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._files: dict[str, IO[str]] = {}
        self.frames = 0

    def write(self, venue: str, raw: str | bytes, ts_recv: int, *, rest: str | None = None,
              venue_symbol: str = "") -> None:
        handle = self._files.get(venue)
        if handle is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{venue}-{wall_ms()}.jsonl"
            handle = self._files[venue] = path.open("a", encoding="utf-8", buffering=1)
        handle.write(entry_line(venue, raw, ts_recv, rest=rest, venue_symbol=venue_symbol))
        self.frames += 1

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


class Entry(NamedTuple):
    ts_recv: int
    venue: str
    raw: str
    rest: str | None = None
    """Snapshot kind for a recorded REST body (None for a WebSocket frame)."""
    venue_symbol: str = ""


def read_recording(path: str | Path) -> Iterator[Entry]:
    """One :class:`Entry` per line; a malformed line raises naming file and line, except a torn final
    line (a killed writer), which is logged and skipped."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            yield Entry(int(item["ts_recv"]), str(item["venue"]), str(item["raw"]), item.get("rest"),
                        str(item.get("venue_symbol", "")))
        except (ValueError, KeyError, TypeError) as exc:
            if number == len(lines):
                log.warning("%s: torn last line %d skipped", path, number)
                return
            raise MalformedFileError(str(path), f"not a recording line ({exc})", number) from None


@dataclass
class ReplayResult:
    frames: int = 0
    records: int = 0
    parse_errors: int = 0
    quarantined: int = 0
    written: dict[str, int] = field(default_factory=dict)


def replay(path: str | Path, store: Store | None = None, *, batch: int = 20_000,
           contexts: dict[str, ParseContext] | None = None) -> ReplayResult:
    """Parse a recording with the venues' parsers and write the records (idempotent)."""
    result = ReplayResult()
    contexts = contexts if contexts is not None else {}
    pending: list[Record] = []

    def flush() -> None:
        if store is not None and pending:
            try:
                counts = write_records(store, pending)
            except Exception as exc:  # a record the store refuses must not cost the others
                saved = salvage(store, pending, first_error=exc)
                counts = saved.counts
                for record, why in saved.rejected:
                    result.quarantined += 1
                    log.error("record quarantined (the store refused it: %s): %r", why, record)
            for table, n in counts.items():
                result.written[table] = result.written.get(table, 0) + n
        pending.clear()

    for ts_recv, venue, raw, rest, vsym in read_recording(path):
        result.frames += 1
        spec = get_spec(venue)
        ctx = contexts.get(venue)
        if ctx is None:
            ctx = contexts[venue] = ParseContext(venue)
            if store is not None:
                load_instruments(store, ctx)
        try:
            records = parse_entry(spec, ctx, ts_recv, raw, rest, vsym)
        except InvalidRecordError as exc:
            result.parse_errors += 1
            log.warning("%s: %s; payload=%s", venue, exc, raw[:500])
            records = exc.valid  # type: ignore[assignment]
        except (FeedError, KeyError) as exc:
            result.parse_errors += 1
            log.warning("%s: %s; payload=%s", venue, exc, raw[:500])
            continue
        result.records += len(records)
        pending.extend(records)
        if len(pending) >= batch:
            flush()
    flush()
    return result


def parse_entry(spec: VenueSpec, ctx: ParseContext, ts_recv: int, raw: str, rest: str | None,
                venue_symbol: str) -> list[Record]:
    """One recorded frame or REST body through the spec's guarded parser (instruments update ``ctx``)."""
    if rest is None:
        return spec.parse_ws(raw, ts_recv, ctx)
    records = spec.snapshots[rest].parse(load_json(raw), venue_symbol, ts_recv, ctx)  # type: ignore[index]
    ctx.instruments.update({r.venue_symbol: r for r in records if isinstance(r, Instrument)})
    return records


def load_instruments(store: Store, ctx: ParseContext) -> None:
    """Contract sizes already in the store (recordings made before REST bodies were recorded)."""
    cols = ["symbol", "venue_symbol", "contract_size", "tick_size", "lot_size"]
    rows = store.read("instruments", columns=cols, exchange=ctx.exchange)
    for symbol, vsym, size, tick, lot in zip(*(rows[c] for c in cols), strict=True):
        ctx.instruments[vsym] = Instrument(ctx.exchange, symbol, vsym, float(size), float(tick), float(lot))
