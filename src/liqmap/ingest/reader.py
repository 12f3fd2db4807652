"""Reading market-data files into row tables, with 1-based line numbers kept for error messages.

Files may be gzip-compressed or plain (recognised by the gzip magic bytes, not by the name), inflated as
they are read under a size and ratio cap (decompression bombs are refused). Large files are read in
chunks (:func:`iter_tables`), so memory stays bounded whatever the file size. Parsing
uses the standard library's C ``csv`` reader plus vectorised numpy conversion; when a conversion fails
the offending row is located so that :class:`~liqmap.errors.MalformedFileError` can name its line.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import re
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from liqmap.errors import MalformedFileError

GZIP_MAGIC = b"\x1f\x8b"

CHUNK_BYTES = 4 << 20
"""Text per chunk of a streamed import (~37,000 kline rows). bench/bench_import.py: 1 GB CSV, 4 MiB chunks: 253-256 MB
RSS growth; 8 MiB chunks: 304-310 MB (DuckDB memory_limit 128MB)."""
MAX_WHOLE_BYTES = 64 << 20
"""Largest (decompressed) file a format that is not streamed (JSON tiers, Coinglass exports) may have."""
MAX_DECOMPRESSED_BYTES = 16 << 30
"""Largest decompressed size of a gzip file."""
MAX_RATIO = 200
"""Largest decompressed/compressed ratio once more than :data:`RATIO_FLOOR` bytes came out (CSV market
data compresses 4-15x; a decompression bomb 1000x)."""
RATIO_FLOOR = 16 << 20

PLAUSIBLE_MS = (1_230_768_000_000, 4_102_444_800_000)
"""Timestamps of market data lie in [2009-01-01, 2100-01-01) UTC."""
_UNITS = (("s", 1000, 1), ("ms", 1, 1), ("µs", 1, 1000), ("ns", 1, 1_000_000))
"""(unit, multiply, divide) turning a value in that unit into ms."""


class _CappedGzip(io.RawIOBase):
    """A gzip stream that refuses to inflate past the size and ratio caps (a decompression bomb is
    refused after about ``RATIO_FLOOR`` bytes instead of filling memory). Hand-written: the gzip module
    has no output limit, and this is the one place every importer reads through."""

    def __init__(self, path: str, raw: io.BufferedReader, limit: int) -> None:
        super().__init__()
        self.path = path
        self._raw = raw
        self._gzip = gzip.GzipFile(fileobj=raw, mode="rb")
        self._limit = limit
        self.out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n = self._gzip.readinto(buffer)
        except (OSError, EOFError, zlib.error) as exc:
            raise MalformedFileError(self.path, f"corrupt or truncated gzip stream: {exc}") from exc
        self.out += n
        if self.out > self._limit:
            raise MalformedFileError(self.path, f"decompresses to more than {self._limit} bytes: refused "
                                                "(a decompression bomb, or a file to split)")
        compressed = max(self._raw.tell(), 1)
        if self.out > RATIO_FLOOR and self.out > MAX_RATIO * compressed:
            raise MalformedFileError(self.path, f"decompresses more than {MAX_RATIO}:1 ({self.out} bytes from "
                                                f"{compressed}): refused as a decompression bomb")
        return n

    def close(self) -> None:
        self._gzip.close()
        self._raw.close()
        super().close()


@contextlib.contextmanager
def open_binary(path: str | Path, *, limit: int = MAX_DECOMPRESSED_BYTES) -> Iterator[Any]:
    """The file as a binary stream, gzip (recognised by its magic bytes) inflated on the fly under the
    caps above; nothing is read before the caller reads."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise MalformedFileError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    binary: Any = raw
    if raw.peek(2)[:2] == GZIP_MAGIC:
        binary = io.BufferedReader(_CappedGzip(str(path), raw, limit), buffer_size=1 << 20)
    try:
        yield binary
    finally:
        binary.close()
        raw.close()


@contextlib.contextmanager
def open_text(path: str | Path, *, limit: int = MAX_DECOMPRESSED_BYTES) -> Iterator[io.TextIOWrapper]:
    """:func:`open_binary` decoded as UTF-8 (a leading BOM dropped)."""
    with open_binary(path, limit=limit) as binary:
        stream = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        try:
            yield stream
        finally:
            stream.detach()


def read_bytes(path: str | Path, *, limit: int = MAX_WHOLE_BYTES) -> bytes:
    """The whole (decompressed) file, for formats that are not streamed; larger than ``limit`` is refused."""
    with open_binary(path) as stream:
        data = bytes(stream.read(limit + 1))
    if len(data) > limit:
        raise MalformedFileError(str(path), f"larger than {limit} bytes, the limit for this format "
                                            "(it is read whole, not streamed): split the file")
    return bytes(data)


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
    """Rows of a delimited file as Arrow string columns (cells trimmed of surrounding blanks), converted
    column-wise. Row ``i`` is data row ``ordinal(i)`` of the file (0-based, blank lines and the header
    not counted); its 1-based line number is looked up only when an error names it."""

    path: str
    header: tuple[str, ...] | None
    columns: tuple[Any, ...]
    first_row: int = 0
    ordinals: np.ndarray | None = None
    locate: Callable[[int], int | None] | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def ordinal(self, row: int) -> int:
        return int(self.ordinals[row]) if self.ordinals is not None else self.first_row + row

    def line(self, row: int) -> int | None:
        """1-based line number of row ``row`` (found by scanning the file: for error messages only)."""
        return self.locate(self.ordinal(row)) if self.locate is not None else None

    def fail(self, problem: str, row: int | None = None) -> MalformedFileError:
        return MalformedFileError(self.path, problem, self.line(row) if row is not None else None)

    def index(self, name: str) -> int:
        if self.header is None or name not in self.header:
            raise MalformedFileError(self.path, f"no column {name!r} in the header {self.header}", 1)
        return self.header.index(name)

    def column_name(self, column: int | str) -> str:
        """The header's name of a column, or ``column N`` (1-based) for files without a header."""
        if isinstance(column, str):
            return column
        return self.header[column] if self.header else f"column {column + 1}"

    def _column(self, column: int | str) -> Any:
        return self.columns[self.index(column) if isinstance(column, str) else column]

    def strings(self, column: int | str) -> list[str]:
        return self._column(column).to_pylist()  # type: ignore[no-any-return]

    def row(self, i: int) -> list[str]:
        return [column[i].as_py() for column in self.columns]

    def take(self, rows: Sequence[int] | np.ndarray) -> Table:
        """A table of these rows (their line numbers kept)."""
        import pyarrow as pa

        idx = np.asarray(rows, dtype=np.int64)
        ordinals = np.array([self.ordinal(int(i)) for i in idx], dtype=np.int64)
        return Table(self.path, self.header, tuple(c.take(pa.array(idx)) for c in self.columns), self.first_row,
                     ordinals, self.locate)

    def floats(self, column: int | str) -> np.ndarray:
        """The column as float64; empty fields and non-finite values are rejected (naming the line)."""
        return self._convert(column, "float64", "a number")

    def ints(self, column: int | str) -> np.ndarray:
        return self._convert(column, "int64", "an integer")

    def epoch_ms(self, column: int | str) -> np.ndarray:
        """An integer epoch-time column in ms, each value's unit (s, ms, µs, ns) told by its magnitude:
        the plausible range (:data:`PLAUSIBLE_MS`, 2009-2100) in each unit is 1000x apart from the next,
        so the magnitude decides. A value in none of them fails, naming file, line and column."""
        return epoch_ms(self.ints(column), lambda problem, i: self.fail(f"{self.column_name(column)}: {problem}", i))

    def _convert(self, column: int | str, dtype: str, what: str) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        values = self._column(column)
        try:
            out = np.asarray(pc.cast(values, getattr(pa, dtype)()).to_numpy(zero_copy_only=False))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out = None
        if out is not None and (dtype != "float64" or np.isfinite(out).all()):
            return out
        name = self.column_name(column)
        convert = float if dtype == "float64" else int
        for i, value in enumerate(values.to_pylist()):  # the slow search, on the error path only
            try:
                ok = value is not None and bool(np.isfinite(convert(value)))
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
        lo, hi = PLAUSIBLE_MS
        bad = np.flatnonzero((out < lo) | (out >= hi))
        if bad.size:
            raise self.fail(f"{self.column_name(column)}: {values[int(bad[0])]!r} is not a plausible time "
                            "(between 2009 and 2100)", int(bad[0]))
        return out

    def mapped(self, column: int | str, mapping: dict[str, str]) -> np.ndarray:
        """Each cell replaced by ``mapping[cell]``; a cell not in it fails with its line."""
        import pyarrow as pa
        import pyarrow.compute as pc

        keys = sorted(mapping)
        found = pc.index_in(self._column(column), value_set=pa.array(keys, type=pa.string()))
        if found.null_count:
            i = int(np.flatnonzero(found.is_null().to_numpy(zero_copy_only=False))[0])
            raise self.fail(f"{self.column_name(column)}: {self.row(i)[self._index_of(column)]!r} is not one of "
                            f"{keys}", i)
        mapped: np.ndarray = np.array([mapping[k] for k in keys], dtype=object)[found.to_numpy(zero_copy_only=False)]
        return mapped

    def _index_of(self, column: int | str) -> int:
        return self.index(column) if isinstance(column, str) else column


def parse_iso_ms(value: str, fail: Callable[[str], Exception]) -> int:
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _text_chunks(path: str | Path, has_header: bool, chunk_bytes: int | None) -> Generator[bytes, None, None]:
    """The file's bytes after the header line (and a UTF-8 BOM) in blocks of about ``chunk_bytes``, each cut
    at its last newline (the tail goes with the next block); blocks of only white space are skipped. With
    ``chunk_bytes=None`` a file over :data:`MAX_WHOLE_BYTES` is refused."""
    block = chunk_bytes or MAX_WHOLE_BYTES + 1
    consumed = 0
    with open_binary(path) as stream:
        rest = stream.readline().removeprefix(b"\xef\xbb\xbf")
        while has_header and not rest.strip():
            rest = stream.readline()
        if has_header:
            rest = b""  # the header line, read above
        while True:
            data = stream.read(block)
            consumed += len(data)
            if chunk_bytes is None and consumed > MAX_WHOLE_BYTES:
                raise MalformedFileError(str(path), f"larger than {MAX_WHOLE_BYTES} bytes, the limit for this "
                                                    "format (read whole, not streamed): split the file")
            text = rest + data
            cut = len(text) if not data else text.rfind(b"\n") + 1
            chunk, rest = text[:cut], text[cut:]
            if chunk.strip():
                yield chunk
            if not data:
                break


def iter_tables(path: str | Path, *, has_header: bool, width: int | None = None,
                chunk_bytes: int | None = CHUNK_BYTES) -> Iterator[Table]:
    """The file's rows in consecutive chunks of about ``chunk_bytes`` of text (None: one table for the
    whole file, up to :data:`MAX_WHOLE_BYTES`), each parsed by Arrow's CSV reader (C++) into string
    columns, each a :class:`Table` that knows its rows' line numbers.

    The chunks are cut here, at the last newline of each block read, and parsed one at a time: Arrow's
    own streaming reader reads ahead and held ~400 MB for a 1 GB file (bench/bench_import.py), this
    holds one block. Blank lines are skipped; every row must have the header's (or ``width``, or the
    first row's) number of columns: a short or long row fails with its line number.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    head = first_lines(path, 2)
    if not head[1 if has_header else 0:]:
        raise MalformedFileError(str(path), "no data rows")
    first = next(csv.reader(head[:1], skipinitialspace=True))
    header = tuple(cell.strip() for cell in first) if has_header else None
    ncols = len(header) if header else (width or len(first))
    names = [f"c{i}" for i in range(ncols)]
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        if row.text.strip():
            invalid.append((row.actual_columns, row.text))
        return "skip"

    def locate(ordinal: int) -> int | None:
        return _line_of_data_row(path, ordinal, has_header)

    options = {
        "read_options": pacsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 30),
        "parse_options": pacsv.ParseOptions(invalid_row_handler=on_invalid),
        "convert_options": pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                strings_can_be_null=False, quoted_strings_can_be_null=False),
    }
    total = 0
    whole: list[Table] = []
    with contextlib.closing(_text_chunks(path, has_header, chunk_bytes)) as chunks:  # the file closes on any exit
        for chunk in chunks:
            try:
                batch = pacsv.read_csv(io.BytesIO(chunk), **options)
            except pa.ArrowInvalid as exc:
                problem = "not a text file (invalid UTF-8)" if "UTF8" in str(exc) else f"cannot parse: {exc}"
                raise MalformedFileError(str(path), problem) from exc
            if invalid:
                found, row_text = invalid[0]
                raise MalformedFileError(str(path), f"expected {ncols} columns, found {found} (truncated or "
                                                    "garbled row?)", _line_of_text(path, row_text))
            if batch.num_rows:
                columns = tuple(pc.utf8_trim_whitespace(batch.column(i).combine_chunks()) for i in range(ncols))
                table = Table(str(path), header, columns, total, None, locate)
                total += batch.num_rows
                if chunk_bytes is not None:
                    yield table
                else:
                    whole.append(table)
    if total == 0:
        raise MalformedFileError(str(path), "no data rows")
    if chunk_bytes is None:
        yield Table(str(path), header, tuple(pa.concat_arrays([t.columns[i] for t in whole]) for i in range(ncols)),
                    0, None, locate)


def _line_of_data_row(path: str | Path, ordinal: int, has_header: bool) -> int | None:
    """1-based line of the ``ordinal``-th (0-based) data row: a scan of the file, for error messages."""
    seen = -1 if has_header else 0
    with open_text(path) as stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                if seen == ordinal:
                    return number
                seen += 1
    return None


def _line_of_text(path: str | Path, text: str) -> int | None:
    with open_text(path) as stream:
        for number, line in enumerate(stream, 1):
            if line.rstrip("\r\n") == text.rstrip("\r\n"):
                return number
    return None


def read_table(path: str | Path, *, has_header: bool, width: int | None = None) -> Table:
    """The whole file as one :class:`Table` (see :func:`iter_tables`; files over :data:`MAX_WHOLE_BYTES`
    are refused: large files go through the streamed import)."""
    return next(iter_tables(path, has_header=has_header, width=width, chunk_bytes=None))


def first_lines(path: str | Path, count: int = 3, *, max_bytes: int = 64 << 10) -> list[str]:
    """The first ``count`` non-blank lines (for format detection), reading at most ``max_bytes``."""
    with open_text(path) as stream:
        try:
            head = stream.read(max_bytes)
        except UnicodeDecodeError as exc:
            raise MalformedFileError(str(path), "not a text file (invalid UTF-8)", 1) from exc
    out: list[str] = []
    for line in head.splitlines():
        if line.strip():
            out.append(line.strip())
            if len(out) == count:
                break
    return out


def epoch_ms(values: np.ndarray, fail: Callable[[str, int], Exception]) -> np.ndarray:
    """``values`` (int64 epoch times in s, ms, µs or ns, told apart by magnitude) in ms; ``fail(problem,
    row)`` builds the error for the first value that is a plausible time in no unit."""
    lo, hi = PLAUSIBLE_MS
    out = np.full(values.shape, -1, dtype=np.int64)
    for _name, multiply, divide in _UNITS:
        low, high = lo * divide // multiply, hi * divide // multiply
        inside = (values >= low) & (values < high) & (out < 0)
        out[inside] = values[inside] * multiply // divide
    bad = np.flatnonzero(out < 0)
    if bad.size:
        i = int(bad[0])
        raise fail(f"{int(values[i])} is not a plausible time (epoch s, ms, µs or ns between 2009 and 2100)", i)
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
