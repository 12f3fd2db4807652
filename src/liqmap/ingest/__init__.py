"""File importers (formats auto-detected by content) and frame assembly from the store.

>>> from liqmap.store import DuckDBStore
>>> from liqmap.ingest import import_file
>>> with DuckDBStore(":memory:") as store:           # doctest: +SKIP
...     result = import_file(store, "BTCUSDT-1h-futures.csv.gz")
...     result.format, result.rows_read, result.new_rows
"""

from liqmap.ingest.batch import Batch
from liqmap.ingest.frames import available_intervals, exchanges_with_bars, load_frame
from liqmap.ingest.registry import FORMATS, Format, ImportResult, detect_format, import_file, parse_file

__all__ = [
    "FORMATS",
    "Batch",
    "Format",
    "ImportResult",
    "available_intervals",
    "detect_format",
    "exchanges_with_bars",
    "import_file",
    "load_frame",
    "parse_file",
]
