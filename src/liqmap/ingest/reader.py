"""Reading market-data files into row tables, with 1-based line numbers kept for error messages.

Files may be gzip-compressed or plain (recognised by the gzip magic bytes, not by the name). Parsing
uses the standard library's C ``csv`` reader plus vectorised numpy conversion; when a conversion fails
the offending row is located so that :class:`~liqmap.errors.MalformedFileError` can name its line.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np

from liqmap.errors import MalformedFileError

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | Path) -> bytes:
    """The file's content, decompressed when it is gzip."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise MalformedFileError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise MalformedFileError(str(path), f"corrupt or truncated gzip stream: {exc}") from exc
    return raw


def read_text(path: str | Path) -> str:
    """The file as text (detection and parsing both read it: the last few are cached by mtime/size)."""
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise MalformedFileError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    return _read_text_cached(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=2)
def _read_text_cached(path: str, _mtime_ns: int, _size: int) -> str:
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MalformedFileError(str(path), "not a text file (invalid UTF-8)", line) from exc


@dataclass(frozen=True)
class Table:
    """Rows of a delimited file. ``lines[i]`` is the 1-based line number of ``rows[i]``."""

    path: str
    header: tuple[str, ...] | None
    rows: list[list[str]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.rows)

    def fail(self, problem: str, row: int | None = None) -> MalformedFileError:
        return MalformedFileError(self.path, problem, self.lines[row] if row is not None else None)

    def index(self, name: str) -> int:
        if self.header is None or name not in self.header:
            raise MalformedFileError(self.path, f"no column {name!r} in the header {self.header}", 1)
        return self.header.index(name)

    def column_name(self, column: int | str) -> str:
        """The header's name of a column, or ``column N`` (1-based) for files without a header."""
        if isinstance(column, str):
            return column
        return self.header[column] if self.header else f"column {column + 1}"

    def strings(self, column: int | str) -> list[str]:
        i = self.index(column) if isinstance(column, str) else column
        return [row[i] for row in self.rows]

    def floats(self, column: int | str) -> np.ndarray:
        """The column as float64; empty fields are rejected (naming the line)."""
        return self._convert(column, np.float64, "a number")

    def ints(self, column: int | str) -> np.ndarray:
        return self._convert(column, np.int64, "an integer")

    def _convert(self, column: int | str, dtype: type, what: str) -> np.ndarray:
        values = self.strings(column)  # numpy's parser accepts surrounding blanks
        out: np.ndarray | None
        try:
            out = np.array(values, dtype=dtype) if values else np.empty(0, dtype=dtype)
        except (ValueError, OverflowError):
            out = None
        if out is not None and (dtype is not np.float64 or np.isfinite(out).all()):
            return out
        name = self.column_name(column)
        for i, value in enumerate(values):
            try:
                ok = np.isfinite(dtype(value))
            except (ValueError, OverflowError):
                ok = False
            if not ok:
                raise self.fail(f"{name}: {value!r} is not {what}", i)
        raise self.fail(f"{name}: cannot convert to {what}")  # pragma: no cover - unreachable

    def iso_ms(self, column: int | str) -> np.ndarray:
        """ISO-8601 UTC times (``2025-05-11 00:00:00`` or ``...T...Z``) as epoch ms."""
        values = self.strings(column)
        out = np.empty(len(values), dtype=np.int64)
        for i, value in enumerate(values):
            out[i] = parse_iso_ms(value, functools.partial(self.fail, row=i))
        return out

    def mapped(self, column: int | str, mapping: dict[str, str]) -> list[str]:
        values = self.strings(column)
        out = []
        for i, value in enumerate(values):
            key = value.strip()
            if key not in mapping:
                raise self.fail(f"{self.column_name(column)}: {value!r} is not one of {sorted(mapping)}", i)
            out.append(mapping[key])
        return out


def parse_iso_ms(value: str, fail: Callable[[str], Exception]) -> int:
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def read_table(path: str | Path, *, has_header: bool, width: int | None = None) -> Table:
    """Parse a comma-separated file; every row must have the header's (or ``width``) columns.

    Blank lines are skipped. A short or long row fails with its line number (a truncated last line
    is the usual case).
    """
    text = read_text(path)
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    header: tuple[str, ...] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    line_no = 0
    for row in reader:
        start = line_no + 1
        line_no = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if has_header and header is None:
            header = tuple(cell.strip() for cell in row)
            continue
        rows.append(row)
        lines.append(start)
    expected = width if width is not None else (len(header) if header else None)
    if expected is None and rows:
        expected = len(rows[0])
    table = Table(str(path), header, rows, lines)
    for i, row in enumerate(rows):
        if len(row) != expected:
            raise table.fail(f"expected {expected} columns, found {len(row)} (truncated or garbled row?)", i)
    if not rows:
        raise MalformedFileError(str(path), "no data rows")
    return table


def first_lines(path: str | Path, count: int = 3) -> list[str]:
    """The first ``count`` non-blank lines (for format detection)."""
    text = read_text(path)
    out: list[str] = []
    for line in text.splitlines():
        if line.strip():
            out.append(line.strip())
            if len(out) == count:
                break
    return out


def require_columns(table: Table, names: Sequence[str]) -> None:
    missing = [n for n in names if table.header is None or n not in table.header]
    if missing:
        raise MalformedFileError(table.path, f"missing column(s) {missing}", 1)


_INTERVAL = re.compile(r"(?<![0-9A-Za-z])(\d+)(m|h|d|w)(?![0-9A-Za-z])")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def interval_from_name(name: str) -> int | None:
    """``1h`` / ``30m`` / ``1d`` in a file name (delimited by non-alphanumerics) as ms, else None."""
    match = _INTERVAL.search(name.replace("_", "-"))
    if not match:
        return None
    return int(match.group(1)) * _UNIT_MS[match.group(2)]
