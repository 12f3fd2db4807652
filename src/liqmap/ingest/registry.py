"""Format detection and the import driver.

Each :class:`Format` pairs a cheap content test (header / first data rows, after transparent gzip
decompression) with an importer ``(path, ts_recv, *, symbol, market) -> Batch``. :func:`detect_format`
asks each test in turn; ``import_file(..., fmt=NAME)`` skips detection. Detection reads at most the
first 64 KiB. CSV formats with a ``layout`` are streamed: parsed and written chunk by chunk
(:func:`liqmap.ingest.reader.iter_tables`), so memory stays bounded whatever the file size; the other
formats are read whole (up to :data:`~liqmap.ingest.reader.MAX_WHOLE_BYTES`). All chunks of a file are
written in one transaction, so a bad file (a malformed line, a decompression bomb) stores nothing and
everything stored before stays.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liqmap.errors import ConfigError, MalformedFileError
from liqmap.ingest import binance, coinglass
from liqmap.ingest.batch import Batch
from liqmap.ingest.conflicts import differing_rows
from liqmap.ingest.reader import CHUNK_BYTES, first_lines, iter_tables
from liqmap.store import Store
from liqmap.venues.binance import VISION_KLINE_COLUMNS

Importer = Callable[..., Batch]


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    detect: Callable[[Path, list[str]], bool]
    importer: Importer
    layout: Callable[[Path], tuple[bool, int | None]] | None = None
    """(has a header, width) of a CSV format that can be streamed in chunks (rows independent of each
    other); None = read whole."""


def _fixed(has_header: bool, width: int | None = None) -> Callable[[Path], tuple[bool, int | None]]:
    return lambda path: (has_header, width)


def _header(lines: list[str]) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in lines[0].split(",")) if lines else ()


def _header_is(columns: Sequence[str]) -> Callable[[Path, list[str]], bool]:
    return lambda path, lines: _header(lines) == tuple(columns)


def _header_has(columns: Sequence[str]) -> Callable[[Path, list[str]], bool]:
    return lambda path, lines: set(columns) <= set(_header(lines))


_NUM = r"-?\d+(\.\d+)?"
_FORCE_ROW = re.compile(rf"^[A-Z0-9]+,(BUY|SELL),[A-Z_]+,[A-Z]+(,{_NUM}){{3}},[A-Z_]+(,{_NUM}){{4}}$")
_AGG_ROW = re.compile(rf"^\d{{13}}, ?[A-Z0-9]+, ?\d+, ?{_NUM}, ?{_NUM}, ?\d{{13}}, ?(True|False|true|false)$")
_VISION_ROW = re.compile(rf"^\d{{13,16}}(,{_NUM}){{5}},\d{{13,16}},{_NUM},\d+(,{_NUM}){{3}}$")


def _rows_match(pattern: re.Pattern[str]) -> Callable[[Path, list[str]], bool]:
    return lambda path, lines: bool(lines) and all(pattern.match(line) for line in lines)


def _is_json(path: Path, lines: list[str]) -> bool:
    return bool(lines) and lines[0].startswith("{")


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "binance-vision-klines",
            "data.binance.vision kline CSV (open_time,... or no header)",
            lambda p, ls: _header_is(VISION_KLINE_COLUMNS)(p, ls) or _rows_match(_VISION_ROW)(p, ls),
            binance.import_vision_klines,
            binance.vision_layout,
        ),
        Format(
            "binance-klines-camel",
            "kline CSV with openTime,...,takerBuyBase header",
            _header_is(binance.CAMEL_KLINE_COLUMNS),
            binance.import_camel_klines,
            _fixed(True),
        ),
        Format(
            "binance-klines-iso",
            "kline CSV with ISO timestamp,...,taker_buy_base header",
            _header_is(binance.ISO_KLINE_COLUMNS),
            binance.import_iso_klines,
            _fixed(True),
        ),
        Format(
            "binance-funding",
            "funding events fundingTime,fundingIntervalHours,fundingRate",
            _header_is(binance.FUNDING_COLUMNS),
            binance.import_funding,
            _fixed(True),
        ),
        Format(
            "binance-forceorder",
            "raw !forceOrder@arr records, no header",
            _rows_match(_FORCE_ROW),
            binance.import_force_orders,
            _fixed(False, 12),
        ),
        Format(
            "binance-aggtrades",
            "aggTrade events, no header",
            _rows_match(_AGG_ROW),
            binance.import_agg_trades,
            _fixed(False, 7),
        ),
        Format(
            "binance-leverage-tiers",
            "ccxt-style leverage tiers JSON",
            _is_json,
            binance.import_leverage_tiers,
        ),
        Format(
            "coinglass-regime",
            "Coinglass hourly regime export (spot OHLC, OI, funding, liquidations)",
            _header_has(coinglass.REGIME_COLUMNS),
            coinglass.import_regime,
        ),
        Format(
            "coinglass-liquidations",
            "Coinglass realized liquidations (timestamp,...,longUsd,shortUsd)",
            _header_has(coinglass.LIQUIDATION_COLUMNS),
            coinglass.import_liquidations,
        ),
    )
}


def detect_format(path: str | Path) -> Format:
    """The format of ``path`` judged by its content; :class:`MalformedFileError` if none matches."""
    path = Path(path)
    lines = first_lines(path, 3)
    if not lines:
        raise MalformedFileError(str(path), "empty file")
    for fmt in FORMATS.values():
        if fmt.detect(path, lines):
            return fmt
    shown = lines[0][:80]
    raise MalformedFileError(
        str(path), f"unknown format: first line {shown!r} matches none of {', '.join(FORMATS)}", 1
    )


@dataclass(frozen=True)
class ImportResult:
    path: str
    format: str
    rows_read: int
    new_rows: dict[str, int]
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def total_new(self) -> int:
        return sum(self.new_rows.values())


def _choose(path: Path, fmt: str | None, market: str | None) -> Format:
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"format: unknown {fmt!r}; accepted: {', '.join(FORMATS)}")
    chosen = FORMATS[fmt] if fmt is not None else detect_format(path)
    if market not in (None, "perp", "spot"):
        raise ConfigError(f"market: {market!r}; accepted: perp, spot")
    return chosen


def parse_file(path: str | Path, **options: Any) -> Batch:
    """Detect (or take ``fmt``) and parse the whole of ``path`` into one :class:`Batch`; no store involved.
    ``options``: ``fmt``, ``symbol``, ``market``, ``ts_recv`` as in :func:`iter_batches`."""
    return next(iter_batches(path, chunk_bytes=None, **options))


def iter_batches(
    path: str | Path,
    *,
    fmt: str | None = None,
    symbol: str | None = None,
    market: str | None = None,
    ts_recv: int | None = None,
    chunk_bytes: int | None = CHUNK_BYTES,
) -> Iterator[Batch]:
    """``path`` parsed chunk by chunk (one batch per ~``chunk_bytes`` of text) for streamable formats,
    else (or with ``chunk_bytes=None``) one batch for the whole file."""
    path = Path(path)
    chosen = _choose(path, fmt, market)
    recv = ts_recv if ts_recv is not None else int(time.time() * 1000)
    if chosen.layout is None or chunk_bytes is None:
        yield chosen.importer(path, recv, symbol=symbol, market=market)
        return
    has_header, width = chosen.layout(path)
    for table in iter_tables(path, has_header=has_header, width=width, chunk_bytes=chunk_bytes):
        yield chosen.importer(path, recv, symbol=symbol, market=market, table=table)


def import_file(
    store: Store,
    path: str | Path,
    *,
    fmt: str | None = None,
    symbol: str | None = None,
    market: str | None = None,
    ts_recv: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> ImportResult:
    """Parse ``path`` and write its tables; returns the rows read and the **new** rows per table (0 on
    re-import: the store's keys make writes idempotent).

    A file of one chunk is written in one transaction. A larger (streamed) file is read twice: a first
    pass parses and validates every chunk without writing, then a second writes chunk by chunk, each in
    its own transaction (one transaction for a whole large file would hold all of it in the store's
    memory). Either way a bad file (a malformed line, a decompression bomb) stores nothing, and memory
    stays bounded by the chunk size.
    """
    started = time.perf_counter()
    new_rows: dict[str, int] = {}
    notes: list[str] = []
    differ: dict[str, tuple[int, Any]] = {}
    rows_read = chunks = 0
    name = ""
    options = {"fmt": fmt, "symbol": symbol, "market": market, "ts_recv": ts_recv, "chunk_bytes": chunk_bytes}
    if ts_recv is None:
        options["ts_recv"] = int(time.time() * 1000)  # the same in both passes
    batches = iter_batches(path, **options)  # type: ignore[arg-type]
    first = next(batches)
    if next(batches, None) is None:
        pending: Iterator[Batch] = iter([first])
    else:
        del first
        for _ in batches:  # validation pass: raises before anything is written
            pass
        pending = iter_batches(path, **options)  # type: ignore[arg-type]
    for batch in pending:
        chunks += 1
        name = name or batch.format
        rows_read += batch.rows_read
        notes.extend(note for note in batch.notes if note not in notes)
        with store.transaction():
            for table, cols in batch.tables.items():
                count, example = differing_rows(store, table, cols)
                if count:
                    before = differ.get(table, (0, example))
                    differ[table] = (before[0] + count, before[1])
                new_rows[table] = new_rows.get(table, 0) + store.write_columns(table, cols)
    notes.extend(f"{count} row(s) of {table} differ from the stored ones and were NOT replaced (the store keeps "
                 f"the first); first: {example}" for table, (count, example) in differ.items())
    if chunks > 1:
        notes.append(f"streamed in {chunks} chunks")
    return ImportResult(str(path), name, rows_read, new_rows, tuple(notes), time.perf_counter() - started)
