"""The collector's journal of raw frames: what was received before a kill -9 is recovered at the next start.

Append-only JSONL segments ``<dir>/journal-<start ms>-<seq>.jsonl``, one line per received WebSocket frame
or REST body, in the recording format of :mod:`liqmap.feed.record`. Life of a segment:

1. frames are appended as they arrive, **one write(2) per line** (line buffering), before they are parsed:
   a killed process loses nothing it journaled (the bytes are in the kernel's page cache);
2. the file is fsynced at most every ``fsync_ms`` (default 1000 ms), so an OS crash or power cut loses at
   most that long of frames;
3. when the batch writer takes a batch, :meth:`Journal.checkpoint` closes the current segment (if it is at
   least ``rotate_ms`` old) and returns a commit callback; the writer calls it once that batch is durably
   stored, and every segment closed up to then is deleted (all their records were in that batch or an
   earlier one);
4. at start (:meth:`Journal.open`), segments left by a previous process are listed; the collector replays
   them through the parsers (:meth:`Collector.run`) and deletes each once its frames are journaled again.

Hand-written on purpose: a write-ahead log this small (append, rotate, delete after a durable write) is
clearer here than a dependency, and it must share the recording format so ``liqmap replay`` reads it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from liqmap.feed.record import entry_line
from liqmap.feed.timing import wall_ms


class Journal:
    def __init__(self, directory: str | Path, *, fsync_ms: int = 1000, rotate_ms: int = 1000) -> None:
        self.directory = Path(directory)
        self.fsync_ms = fsync_ms
        self.rotate_ms = rotate_ms
        self._handle: IO[str] | None = None
        self._path: Path | None = None
        self._opened_ms = 0
        self._synced_ms = 0
        self._lines = 0
        self._seq = 0
        self._closed: list[Path] = []
        self.frames = 0

    def open(self) -> list[Path]:
        """Create the directory; return the segments a previous process left (oldest first)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return sorted(self.directory.glob("journal-*.jsonl"))

    def write(self, venue: str, raw: str | bytes, ts_recv: int, *, rest: str | None = None,
              venue_symbol: str = "") -> None:
        if self._handle is None:
            self._start_segment()
        assert self._handle is not None
        self._handle.write(entry_line(venue, raw, ts_recv, rest=rest, venue_symbol=venue_symbol))
        self._lines += 1
        self.frames += 1
        now = wall_ms()
        if now - self._synced_ms >= self.fsync_ms:
            self.sync(now)

    def sync(self, now: int | None = None) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        self._synced_ms = now if now is not None else wall_ms()

    def checkpoint(self) -> Callable[[], None]:
        """Called when the writer takes a batch: rotate an old enough segment; the returned callback,
        called after that batch is durable, deletes every segment closed so far."""
        if self._handle is not None and self._lines and wall_ms() - self._opened_ms >= self.rotate_ms:
            self._close_segment()
        done = len(self._closed)
        return lambda: self._delete(done)

    def close(self) -> None:
        """Stop journaling (after the writer's final flush): the open segment is kept only if it has lines
        that were not committed; the collector calls :meth:`checkpoint` + commit first on a clean stop."""
        if self._handle is not None:
            self._close_segment()

    def discard(self, path: Path) -> None:
        """Delete a recovered segment once its frames are journaled again (fsynced first)."""
        self.sync()
        path.unlink(missing_ok=True)

    # -- internals -------------------------------------------------------------------------------------
    def _start_segment(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        self._path = self.directory / f"journal-{wall_ms()}-{os.getpid()}-{self._seq:06d}.jsonl"
        self._handle = self._path.open("a", encoding="utf-8", buffering=1)
        self._opened_ms = wall_ms()
        self._lines = 0

    def _close_segment(self) -> None:
        assert self._handle is not None and self._path is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        if self._lines:
            self._closed.append(self._path)
        else:
            self._path.unlink(missing_ok=True)
        self._handle = None
        self._path = None

    def _delete(self, count: int) -> None:
        for path in self._closed[:count]:
            path.unlink(missing_ok=True)
        del self._closed[:count]
