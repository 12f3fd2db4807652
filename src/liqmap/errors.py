"""The one exception hierarchy of liqmap.

Every error liqmap raises on purpose derives from :class:`LiqmapError`. Third-party errors
(httpx, websockets, duckdb) are translated at the boundary with ``raise X(...) from exc``.
Each class says how callers handle it::

    LiqmapError
    ├── ConfigError            impossible parameter or setting (names the parameter)       -> fix input
    │   └── UnknownSymbolError symbol not in the vocabulary / not listed on the venue      -> fix input
    ├── DataError              input data that cannot be trusted                           -> refuse, keep store
    │   ├── MalformedFileError a file that no importer understands (names file + line)
    │   └── BadSeriesError     NaN/zero/negative prices, non-monotonic time, OI gaps ...
    ├── StoreError             the database failed (nothing already stored is lost)
    │   ├── StoreLockedError   another process holds the embedded file (names it)           -> ask it / stop it
    │   ├── StoreMissingError  no database where one was expected                           -> import first
    │   └── StoreUnavailableError the database server cannot be reached                     -> retry with backoff
    ├── FeedError              talking to an exchange
    │   ├── TransportError     socket/HTTP connection failed or stalled                    -> reconnect w/ backoff
    │   ├── RateLimitError     HTTP 429/418/403 or venue rate-limit code                   -> back off (retry_after)
    │   ├── VenueError         venue answered with an error code that retrying won't fix   -> surface
    │   └── ParseError         a payload the parser cannot decode                          -> count, log, skip
    │       └── InvalidRecordError  decoded, but a record fails liqmap.validation              -> keep .valid, skip the rest
    ├── ModelError             a model invariant was violated (a bug, never swallowed)
    └── OverloadedError        too much expensive work in flight (API: 503 + Retry-After)   -> retry later
"""

from __future__ import annotations


class LiqmapError(Exception):
    """Base class of every error liqmap raises on purpose."""


class ConfigError(LiqmapError, ValueError):
    """An impossible parameter or setting; the message names the parameter and what is accepted."""


class UnknownSymbolError(ConfigError):
    """A symbol that is neither in the user vocabulary nor a known venue instrument name."""


class DataError(LiqmapError, ValueError):
    """Input data that cannot be trusted."""


class MalformedFileError(DataError):
    """A file that cannot be imported. Carries the path and, when known, the 1-based line number."""

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class BadSeriesError(DataError):
    """A market series that would give a silently wrong heatmap (bad prices, time order, gaps)."""


class StoreError(LiqmapError):
    """The database failed; nothing already stored is lost."""


class StoreLockedError(StoreError):
    """Another process holds the embedded database file (DuckDB admits one process per file)."""

    def __init__(self, path: str, pid: int | None, server_url: str | None = None) -> None:
        self.path = path
        self.pid = pid
        self.server_url = server_url
        holder = f"process {pid}" if pid is not None else "another process"
        if server_url:
            super().__init__(
                f"{path} is held by liqmap serve ({holder}, {server_url}); read commands work through it, but "
                "writing needs the file: stop that server first, or share the data through PostgreSQL "
                "(--db postgresql://...)"
            )
        else:
            super().__init__(
                f"{path} is held by {holder} (a liqmap collect, import or serve): wait for it or stop it, "
                "or share the data through PostgreSQL (--db postgresql://...)"
            )


class StoreMissingError(StoreError):
    """No database where one was expected (a read command on a path that holds none)."""


class StoreUnavailableError(StoreError):
    """The database server cannot be reached (down, wrong address, refused credentials)."""


class FeedError(LiqmapError):
    """Base of errors while talking to an exchange."""


class TransportError(FeedError):
    """Connection failed, dropped or stalled: reconnect with capped exponential backoff."""


class RateLimitError(FeedError):
    """The venue asked us to slow down. ``retry_after`` is in seconds when the venue said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class VenueError(FeedError):
    """The venue returned an error that retrying will not fix (bad symbol, bad parameter)."""

    def __init__(self, message: str, code: str | int | None = None) -> None:
        self.code = code
        super().__init__(message)


class ParseError(FeedError):
    """A payload the parser cannot decode. Never a reason to reconnect: count, log with payload, skip.
    ``row``: the offending row's index when the payload is a table (a file's rows)."""

    def __init__(self, message: str, payload: bytes | str | None = None, *, row: int | None = None) -> None:
        self.payload = payload
        self.row = row
        super().__init__(message)


class InvalidRecordError(ParseError):
    """A payload decoded into records of which some fail :mod:`liqmap.validation`. ``valid`` holds the
    frame's records that pass (store them: a bad record never costs a good one)."""

    def __init__(self, message: str, payload: bytes | str | None = None, valid: list[object] | None = None) -> None:
        self.valid = list(valid or [])
        super().__init__(message, payload)


class ModelError(LiqmapError):
    """A model invariant was violated. Always a bug; never swallowed."""


class OverloadedError(LiqmapError):
    """Too much expensive work in flight; the client should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)
