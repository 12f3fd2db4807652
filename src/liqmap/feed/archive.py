"""Bulk archives of data.binance.vision (USDⓈ-M): download (httpx) and import klines, metrics (OI) and
aggTrades into the store. Idempotent (store keys) and resumable (a re-run skips nothing it needs and
writes nothing twice).

Layout (binance/binance-public-data README)::

    {base}/data/futures/um/{daily|monthly}/klines/{SYM}/{interval}/{SYM}-{interval}-{date}.zip
    {base}/data/futures/um/daily/metrics/{SYM}/{SYM}-metrics-{YYYY-MM-DD}.zip
    {base}/data/futures/um/{daily|monthly}/aggTrades/{SYM}/{SYM}-aggTrades-{date}.zip

Each zip has a ``.CHECKSUM`` sidecar (sha256, ``"<hex>  <name>"``) that is verified when served. Newer
CSVs carry a header row, older ones do not: detected by whether the first cell is numeric. A 404 means
"not published (yet)" and is reported, not raised. The CSVs are parsed by the pure parsers of
:mod:`liqmap.venues.binance` (klines: the checks ``liqmap import`` makes) and validated like every record;
rows are written column-wise (``write_columns``). This module only downloads and unzips.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from liqmap.errors import (
    BadSeriesError,
    ConfigError,
    DataError,
    MalformedFileError,
    ParseError,
    RateLimitError,
    TransportError,
)
from liqmap.feed.timing import Backoff, Timing, wall_ms
from liqmap.store import Store
from liqmap.symbols import canonical
from liqmap.types import Bar, OpenInterest, Trade
from liqmap.validation import column_problem
from liqmap.venues import binance
from liqmap.venues.registry import venue_symbol

ArchiveKind = Literal["klines", "metrics", "aggTrades"]
DEFAULT_BASE = "https://data.binance.vision"
_INTERVALS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
              "2h": 7_200_000, "4h": 14_400_000, "1d": 86_400_000}


@dataclass
class ArchiveResult:
    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rows: int = 0
    new_rows: int = 0


def archive_url(base: str, kind: ArchiveKind, symbol: str, date: str, *, interval: str = "1m") -> str:
    """URL of one archive; ``date`` is ``YYYY-MM-DD`` (daily) or ``YYYY-MM`` (monthly)."""
    vsym = venue_symbol("binance", symbol)
    period = "monthly" if len(date) == 7 else "daily"
    if kind == "klines":
        return f"{base}/data/futures/um/{period}/klines/{vsym}/{interval}/{vsym}-{interval}-{date}.zip"
    if kind == "metrics":
        if period != "daily":
            raise ConfigError("metrics archives are daily only: give dates as YYYY-MM-DD")
        return f"{base}/data/futures/um/daily/metrics/{vsym}/{vsym}-metrics-{date}.zip"
    if kind == "aggTrades":
        return f"{base}/data/futures/um/{period}/aggTrades/{vsym}/{vsym}-aggTrades-{date}.zip"
    raise ConfigError(f"unknown archive kind {kind!r}; accepted: klines, metrics, aggTrades")


def dates_between(start: str, end: str, *, monthly: bool = False) -> list[str]:
    """Inclusive list of ``YYYY-MM-DD`` days (or ``YYYY-MM`` months)."""
    try:
        a, b = dt.date.fromisoformat(start[:10] if not monthly else start[:7] + "-01"), dt.date.fromisoformat(
            end[:10] if not monthly else end[:7] + "-01")
    except ValueError:
        raise ConfigError(f"dates must be YYYY-MM-DD (or YYYY-MM with --monthly): {start!r}, {end!r}") from None
    if b < a:
        raise ConfigError(f"end {end} is before start {start}")
    out: list[str] = []
    while a <= b:
        out.append(a.strftime("%Y-%m") if monthly else a.isoformat())
        a = (a.replace(day=28) + dt.timedelta(days=4)).replace(day=1) if monthly else a + dt.timedelta(days=1)
    return out


async def download(client: httpx.AsyncClient, url: str, *, timing: Timing | None = None,
                   attempts: int = 5) -> bytes | None:
    """The zip's bytes (checksum verified when a sidecar exists), or None when not published (404)."""
    timing = timing or Timing()
    backoff = Backoff(base_s=1.0, cap_s=60.0)
    for _ in range(attempts):
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            await timing.sleep(backoff.next_delay())
            last: Exception = TransportError(f"{url}: {exc!r}")
            continue
        if response.status_code == 404:
            return None
        if response.status_code in (403, 418, 429):
            retry = response.headers.get("retry-after")
            last = RateLimitError(f"{url}: HTTP {response.status_code}", float(retry) if retry else None)
            await timing.sleep(float(retry) if retry else backoff.next_delay())
            continue
        if response.status_code >= 400:
            last = TransportError(f"{url}: HTTP {response.status_code}")
            await timing.sleep(backoff.next_delay())
            continue
        data = response.content
        checksum = await client.get(url + ".CHECKSUM")
        if checksum.status_code == 200:
            expected = checksum.text.split()[0].lower()
            if hashlib.sha256(data).hexdigest() != expected:
                raise DataError(f"{url}: sha256 does not match its .CHECKSUM")
        return data
    raise last


@dataclass(frozen=True)
class ZipCsv:
    """The CSV inside an archive: its header (None for older files without one), its data rows and each
    row's 1-based line number."""

    header: list[str] | None
    rows: list[list[str]]
    lines: list[int]


def read_zip(data: bytes, name: str) -> ZipCsv:
    """The CSV inside an archive; a first row whose first cell is not a number is its header."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        member = next(n for n in archive.namelist() if n.endswith(".csv"))
        text = archive.read(member).decode("utf-8")
    except (zipfile.BadZipFile, StopIteration, UnicodeDecodeError) as exc:
        raise MalformedFileError(name, f"not a data.binance.vision zip with a CSV ({exc})") from None
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        if number == 1 and not _numeric(row[0]):
            header = row  # newer files
            continue
        rows.append(row)
        lines.append(number)
    return ZipCsv(header, rows, lines)


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


_TABLES: dict[str, tuple[str, type]] = {"klines": ("bars", Bar), "metrics": ("open_interest", OpenInterest),
                                        "aggTrades": ("trades", Trade)}


def import_archive(store: Store, kind: ArchiveKind, symbol: str, data: bytes, name: str, *,
                   interval: str = "1m") -> tuple[int, int]:
    """Import one archive's bytes; returns (rows read, new rows stored).

    The rows are parsed by the same pure parsers as ``liqmap import`` (:mod:`liqmap.venues.binance`: one
    bar interval per file, equal to ``interval``; duplicate bars; prices bracketing) and pass the one
    record validation (:func:`liqmap.validation.column_problem`) before anything is written."""
    if kind not in _TABLES:
        raise ConfigError(f"unknown archive kind {kind!r}; accepted: klines, metrics, aggTrades")
    if kind == "klines" and interval not in _INTERVALS:
        raise ConfigError(f"unknown kline interval {interval!r}; accepted: {', '.join(_INTERVALS)}")
    sym = canonical(symbol)
    vsym = venue_symbol("binance", sym)
    recv = wall_ms()
    found = read_zip(data, name)
    cols: dict[str, Any]
    try:
        if kind == "klines":
            checked, bars = binance.vision_klines(found.rows, found.header, expected_ms=_INTERVALS[interval],
                                                  where=lambda i: f"line {found.lines[i]}")
            cols = {key: values[checked.keep] for key, values in bars.items()}
            cols.update(interval_ms=checked.interval_ms, market="perp")
        elif kind == "metrics":
            cols = dict(binance.vision_metrics(found.rows))
        else:
            cols = binance.vision_agg_trades(found.rows)
    except ParseError as exc:
        line = found.lines[exc.row] if exc.row is not None else None
        raise MalformedFileError(name, f"bad {kind} row ({exc})", line) from None
    n = len(cols["ts_event"])
    cols.update(exchange="binance", symbol=sym, ts_recv=recv, venue_symbol=vsym)
    table, record_type = _TABLES[kind]
    problem = column_problem(record_type, cols)
    if problem is not None:
        raise BadSeriesError(f"{name}: {problem}")
    return n, store.write_columns(table, {key: _full(value, n) for key, value in cols.items()})


def _full(value: Any, n: int) -> Any:
    """A column, or a constant repeated ``n`` times."""
    return [value] * n if isinstance(value, str | int | float) else value


async def import_range(store: Store, kind: ArchiveKind, symbol: str, dates: list[str], *,
                       base_url: str = DEFAULT_BASE, interval: str = "1m", progress: bool = True,
                       client: httpx.AsyncClient | None = None, timing: Timing | None = None) -> ArchiveResult:
    from tqdm import tqdm

    result = ArchiveResult()
    own = client is None
    client = client or httpx.AsyncClient(timeout=60.0, follow_redirects=True)
    try:
        for date in tqdm(dates, desc=f"{kind} {symbol}", unit="file", disable=not progress, leave=False):
            url = archive_url(base_url.rstrip("/"), kind, symbol, date, interval=interval)
            data = await download(client, url, timing=timing)
            if data is None:
                result.missing.append(url)
                continue
            rows, new = import_archive(store, kind, symbol, data, url.rsplit("/", 1)[1], interval=interval)
            result.files.append(url)
            result.rows += rows
            result.new_rows += new
    finally:
        if own:
            await client.aclose()
    return result


def import_file(store: Store, path: str | Path, kind: ArchiveKind, symbol: str, *,
                interval: str = "1m") -> tuple[int, int]:
    """Import an already downloaded archive zip."""
    path = Path(path)
    return import_archive(store, kind, symbol, path.read_bytes(), str(path), interval=interval)
