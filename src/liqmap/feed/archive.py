"""Bulk archives of data.binance.vision (USDⓈ-M): download (httpx) and import klines, metrics (OI) and
aggTrades into the store. Idempotent (store keys) and resumable (a re-run skips nothing it needs and
writes nothing twice).

Layout (binance/binance-public-data README)::

    {base}/data/futures/um/{daily|monthly}/klines/{SYM}/{interval}/{SYM}-{interval}-{date}.zip
    {base}/data/futures/um/daily/metrics/{SYM}/{SYM}-metrics-{YYYY-MM-DD}.zip
    {base}/data/futures/um/{daily|monthly}/aggTrades/{SYM}/{SYM}-aggTrades-{date}.zip

Each zip has a ``.CHECKSUM`` sidecar (sha256, ``"<hex>  <name>"``) that is verified when served. Newer
CSVs carry a header row, older ones do not: detected by whether the first cell is numeric. A 404 means
"not published (yet)" and is reported, not raised. Rows are written column-wise (``write_columns``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from liqmap.errors import ConfigError, DataError, MalformedFileError, RateLimitError, TransportError
from liqmap.feed.timing import Backoff, Timing, wall_ms
from liqmap.store import Store
from liqmap.symbols import canonical, venue_symbol

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


def read_zip(data: bytes, name: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, row)`` of the CSV inside an archive, header row skipped."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        member = next(n for n in archive.namelist() if n.endswith(".csv"))
        text = archive.read(member).decode("utf-8")
    except (zipfile.BadZipFile, StopIteration, UnicodeDecodeError) as exc:
        raise MalformedFileError(name, f"not a data.binance.vision zip with a CSV ({exc})") from None
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        if number == 1 and not _numeric(row[0]):
            continue  # header row (newer files)
        yield number, row


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def import_archive(store: Store, kind: ArchiveKind, symbol: str, data: bytes, name: str, *,
                   interval: str = "1m") -> tuple[int, int]:
    """Import one archive's bytes; returns (rows read, new rows stored)."""
    sym = canonical(symbol)
    vsym = venue_symbol("binance", sym)
    recv = wall_ms()
    cols: dict[str, list[Any]]
    line = 0
    try:
        if kind == "klines":
            if interval not in _INTERVALS:
                raise ConfigError(f"unknown kline interval {interval!r}; accepted: {', '.join(_INTERVALS)}")
            cols = {c: [] for c in ("ts_event", "open", "high", "low", "close", "volume", "quote_volume", "trades",
                                    "taker_buy_volume")}
            for line_no, r in read_zip(data, name):
                line = line_no
                ts = int(r[0])
                cols["ts_event"].append(ts // 1000 if ts > 10**14 else ts)  # µs guard (spot archives from 2025)
                for i, c in ((1, "open"), (2, "high"), (3, "low"), (4, "close"), (5, "volume"), (7, "quote_volume"),
                             (9, "taker_buy_volume")):
                    cols[c].append(float(r[i]))
                cols["trades"].append(int(r[8]))
            n = len(cols["ts_event"])
            cols.update(exchange=["binance"] * n, symbol=[sym] * n, interval_ms=[_INTERVALS[interval]] * n,
                        ts_recv=[recv] * n, market=["perp"] * n, venue_symbol=[vsym] * n)
            return n, store.write_columns("bars", cols)
        if kind == "metrics":
            cols = {"ts_event": [], "oi_base": [], "oi_usd": []}
            for line_no, r in read_zip(data, name):
                line = line_no
                when = dt.datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
                cols["ts_event"].append(int(when.timestamp() * 1000))
                cols["oi_base"].append(float(r[2]))
                cols["oi_usd"].append(float(r[3]))
            n = len(cols["ts_event"])
            cols.update(exchange=["binance"] * n, symbol=[sym] * n, ts_recv=[recv] * n, venue_symbol=[vsym] * n)
            return n, store.write_columns("open_interest", cols)
        if kind == "aggTrades":
            cols = {"trade_id": [], "price": [], "quantity": [], "ts_event": [], "taker_side": []}
            for line_no, r in read_zip(data, name):
                line = line_no
                cols["trade_id"].append(r[0])
                cols["price"].append(float(r[1]))
                cols["quantity"].append(float(r[2]))
                cols["ts_event"].append(int(r[5]))
                cols["taker_side"].append("sell" if r[6].strip().lower() == "true" else "buy")
            n = len(cols["ts_event"])
            cols.update(exchange=["binance"] * n, symbol=[sym] * n, ts_recv=[recv] * n, venue_symbol=[vsym] * n)
            return n, store.write_columns("trades", cols)
    except (IndexError, ValueError) as exc:
        raise MalformedFileError(name, f"bad {kind} row ({exc})", line) from None
    raise ConfigError(f"unknown archive kind {kind!r}; accepted: klines, metrics, aggTrades")


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
