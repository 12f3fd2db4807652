"""Format detection and the import driver.

Each :class:`Format` pairs a cheap content test (header / first data rows, after transparent gzip
decompression) with an importer ``(path, ts_recv, *, symbol, market) -> Batch``. :func:`detect_format`
asks each test in turn; ``import_file(..., fmt=NAME)`` skips detection. A file is parsed and
validated completely before anything is written, and its tables are written in one transaction, so
a bad file stores nothing and everything stored before stays.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from liqmap.errors import ConfigError, MalformedFileError
from liqmap.ingest import binance, coinglass
from liqmap.ingest.batch import Batch
from liqmap.ingest.conflicts import differing_rows
from liqmap.ingest.reader import first_lines
from liqmap.store import Store

Importer = Callable[..., Batch]


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    detect: Callable[[Path, list[str]], bool]
    importer: Importer


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
            lambda p, ls: _header_is(binance.VISION_KLINE_COLUMNS)(p, ls) or _rows_match(_VISION_ROW)(p, ls),
            binance.import_vision_klines,
        ),
        Format(
            "binance-klines-camel",
            "kline CSV with openTime,...,takerBuyBase header",
            _header_is(binance.CAMEL_KLINE_COLUMNS),
            binance.import_camel_klines,
        ),
        Format(
            "binance-klines-iso",
            "kline CSV with ISO timestamp,...,taker_buy_base header",
            _header_is(binance.ISO_KLINE_COLUMNS),
            binance.import_iso_klines,
        ),
        Format(
            "binance-funding",
            "funding events fundingTime,fundingIntervalHours,fundingRate",
            _header_is(binance.FUNDING_COLUMNS),
            binance.import_funding,
        ),
        Format(
            "binance-forceorder",
            "raw !forceOrder@arr records, no header",
            _rows_match(_FORCE_ROW),
            binance.import_force_orders,
        ),
        Format(
            "binance-aggtrades",
            "aggTrade events, no header",
            _rows_match(_AGG_ROW),
            binance.import_agg_trades,
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


def parse_file(
    path: str | Path,
    *,
    fmt: str | None = None,
    symbol: str | None = None,
    market: str | None = None,
    ts_recv: int | None = None,
) -> Batch:
    """Detect (or take ``fmt``) and parse ``path`` into a :class:`Batch`; no store involved."""
    path = Path(path)
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigError(f"format: unknown {fmt!r}; accepted: {', '.join(FORMATS)}")
        chosen = FORMATS[fmt]
    else:
        chosen = detect_format(path)
    if market not in (None, "perp", "spot"):
        raise ConfigError(f"market: {market!r}; accepted: perp, spot")
    recv = ts_recv if ts_recv is not None else int(time.time() * 1000)
    return chosen.importer(path, recv, symbol=symbol, market=market)


def import_file(
    store: Store,
    path: str | Path,
    *,
    fmt: str | None = None,
    symbol: str | None = None,
    market: str | None = None,
    ts_recv: int | None = None,
) -> ImportResult:
    """Parse ``path`` completely, then write all its tables in one transaction.

    Returns the rows read and the **new** rows per table (0 on re-import: the store's keys make writes
    idempotent). On any error nothing of this file is stored.
    """
    started = time.perf_counter()
    batch = parse_file(path, fmt=fmt, symbol=symbol, market=market, ts_recv=ts_recv)
    new_rows: dict[str, int] = {}
    notes = list(batch.notes)
    with store.transaction():
        for table, cols in batch.tables.items():
            differ, example = differing_rows(store, table, cols)
            if differ:
                notes.append(f"{differ} row(s) of {table} differ from the stored ones and were NOT replaced "
                             f"(the store keeps the first); first: {example}")
            new_rows[table] = store.write_columns(table, cols)
    return ImportResult(
        str(path), batch.format, batch.rows_read, new_rows, tuple(notes), time.perf_counter() - started
    )
