"""The service store: a PostgreSQL server shared by any number of collectors, servers and CLI commands.

Same tables, keys and semantics as the embedded store (:mod:`liqmap.store.schema`, the store test suite
runs against both). What differs:

* **Bulk writes** go through ``COPY`` (psycopg 3) into a temporary table, then one
  ``INSERT … SELECT DISTINCT ON (key) … ON CONFLICT`` into the real one, in one transaction per batch.
* **Time partitions**: every time-series table is ``PARTITION BY RANGE (ts_event)`` with partitions of
  :data:`schema.PARTITION_MS` created on demand; retention (:meth:`PostgresStore.prune`) drops whole
  partitions older than the cut-off and deletes the older rows of the one partition that straddles it.
  PostgreSQL requires the partition column in every unique key, so ``trades`` is keyed by
  ``(exchange, symbol, trade_id, ts_event)`` here (a venue never reuses a trade id at another time).
* **Changes between processes**: each committing write bumps a row of ``liqmap_writes`` (the cheap
  :meth:`version`) and sends ``NOTIFY liqmap_changes`` in the same transaction, so every server replica's
  listener hears of a bar stored by any collector as soon as it commits.
* **Reads** of numeric columns only (the model's inputs) stream a binary ``COPY`` decoded by numpy
  (:mod:`liqmap.store.pgbinary`); other reads stream ``COPY (SELECT …) TO STDOUT`` as CSV into pyarrow:
  PostgreSQL prints doubles in their shortest exact form and pyarrow parses them correctly rounded. Both
  return the same bits as the embedded store. Bar resampling runs the embedded store's own DuckDB statement over the rows read, so
  resampled bars are identical too.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Self

import numpy as np

from liqmap.errors import ConfigError, StoreError, StoreMissingError, StoreUnavailableError
from liqmap.store import pgbinary, schema, sql
from liqmap.store.duckdb_store import (
    arrow_table,
    resample_statement,
    resampled,
    series_rows,
    series_statement,
    write_records,
)
from liqmap.store.protocol import ChangeCallbacks, Lifecycle
from liqmap.types import Record

log = logging.getLogger(__name__)

CHANNEL = "liqmap_changes"
WRITES_TABLE = "liqmap_writes"
_PG_TYPES = {schema.BIGINT: "BIGINT", schema.DOUBLE: "DOUBLE PRECISION", schema.TEXT: "TEXT",
             schema.BOOLEAN: "BOOLEAN"}
_SCHEMA_LOCK = 0x6C69716D6170  # advisory lock id ("liqmap") serialising DDL between processes


def redact_url(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def pg_key(spec: schema.Table) -> tuple[str, ...]:
    """The table's key, plus the partition column where PostgreSQL requires it."""
    if spec.partition_ms and spec.time_column not in spec.key:
        return (*spec.key, str(spec.time_column))
    return spec.key


def create_statements(spec: schema.Table) -> list[str]:
    cols = ", ".join(f"{name} {_PG_TYPES[kind]}" for name, kind in spec.columns)
    partition = f" PARTITION BY RANGE ({spec.time_column})" if spec.partition_ms else ""
    out = [f"CREATE TABLE IF NOT EXISTS {spec.name} ({cols}, PRIMARY KEY ({', '.join(pg_key(spec))})){partition}"]
    if spec.time_column and spec.time_column not in spec.key[:1]:
        out.append(f"CREATE INDEX IF NOT EXISTS {spec.name}_time ON {spec.name} ({spec.time_column})")
    return out


class PostgresStore(Lifecycle):
    """PostgreSQL store (``postgresql://user:pass@host:port/db``). The constructor does no I/O."""

    def __init__(self, url: str, *, read_only: bool = False, pool_size: int = 8, connect_timeout_s: float = 5.0) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"not a PostgreSQL URL: {redact_url(url)!r}")
        self.url = url
        self.location = redact_url(url)
        self.read_only = read_only
        self.pool_size = pool_size
        self.connect_timeout_s = connect_timeout_s
        self._pool: Any = None
        self._local = threading.local()
        self._partitions: set[tuple[str, int]] = set()
        self._changes = ChangeCallbacks()
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._series: dict[str, tuple[tuple[tuple[str, int], ...], list[dict[str, Any]]]] = {}
        self._duck = threading.local()

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self) -> Self:
        if self._pool is not None:
            return self
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(self.url, min_size=1, max_size=self.pool_size, open=False,
                              check=ConnectionPool.check_connection, name="liqmap",
                              kwargs={"connect_timeout": max(1, int(self.connect_timeout_s))})
        try:
            pool.open(wait=True, timeout=self.connect_timeout_s)
        except Exception as exc:  # psycopg_pool.PoolTimeout carries the last connection error in its text
            pool.close()
            raise StoreUnavailableError(f"cannot reach PostgreSQL at {self.location}: {_first_line(exc)}") from exc
        self._pool = pool
        try:
            if not self.read_only:
                self._create_schema()
            self._load_partitions()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=3)
            self._listener = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None


    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """The calling thread's transaction connection when inside :meth:`transaction`, else one from the
        pool (the block commits on success, rolls back on error). psycopg errors become store errors."""
        import psycopg

        try:
            held = getattr(self._local, "conn", None)
            if held is not None:
                yield held
                return
            if self._pool is None:
                raise StoreError("store is not open: call open() or use it as a context manager")
            with self._pool.connection(timeout=self.connect_timeout_s * 2) as conn:
                yield conn
        except psycopg.errors.UndefinedTable as exc:
            raise StoreMissingError(f"{self.location} holds no liqmap tables: {_first_line(exc)}") from exc
        except psycopg.errors.DiskFull as exc:
            raise StoreError(f"PostgreSQL at {self.location}: the disk is full; nothing of this batch stored "
                             "(free space; what was stored before is intact)") from exc
        except (psycopg.OperationalError, _pool_timeout()) as exc:
            raise StoreUnavailableError(f"PostgreSQL at {self.location} is unavailable: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {self.location}: {_first_line(exc)}") from exc

    def _create_schema(self) -> None:
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
            for spec in schema.TABLES.values():
                for statement in create_statements(spec):
                    conn.execute(statement)
            conn.execute(f"CREATE TABLE IF NOT EXISTS {WRITES_TABLE} (table_name TEXT PRIMARY KEY, "
                         "version BIGINT NOT NULL, edits BIGINT NOT NULL)")

    def _load_partitions(self) -> None:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT parent.relname, child.relname FROM pg_inherits "
                "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
                "JOIN pg_class child ON child.oid = pg_inherits.inhrelid").fetchall()
        for parent, child in rows:
            start = _partition_start(parent, child)
            if start is not None:
                self._partitions.add((parent, start))

    def _ensure_partitions(self, conn: Any, spec: schema.Table, ts: np.ndarray) -> None:
        if not spec.partition_ms or len(ts) == 0:
            return
        width = spec.partition_ms
        starts = {int(s) * width for s in np.unique(np.asarray(ts, dtype=np.int64) // width)}
        missing = sorted(s for s in starts if (spec.name, s) not in self._partitions)
        if not missing:
            return
        # In the writing transaction itself (a second connection could wait on this one's locks), under the
        # advisory lock so that writers of other processes never race on CREATE TABLE. Should the
        # transaction roll back, write_columns reloads the list from the catalog.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
        for start in missing:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {_partition_name(spec.name, start)} PARTITION OF "
                         f"{spec.name} FOR VALUES FROM ({start}) TO ({start + width})")
        self._partitions.update((spec.name, s) for s in missing)

    # -- writes ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresStore]:
        """All writes of this thread inside the block land together or not at all (nested use joins)."""
        if getattr(self._local, "conn", None) is not None:
            yield self
            return
        with self._connection() as conn, conn.transaction():
            self._local.conn = conn
            self._local.changed = set()
            try:
                yield self
                changed = self._local.changed
                if changed:
                    self._bump(conn, changed, edits=False)
            finally:
                self._local.conn = None
        if changed:
            self._changes.fire()

    def _bump(self, conn: Any, tables: Iterable[str], *, edits: bool) -> None:
        for table in sorted(set(tables)):
            conn.execute(
                f"INSERT INTO {WRITES_TABLE} VALUES (%s, 1, %s) ON CONFLICT (table_name) DO UPDATE SET "
                f"version = {WRITES_TABLE}.version + 1, edits = {WRITES_TABLE}.edits + excluded.edits",
                [table, 1 if edits else 0])
            conn.execute("SELECT pg_notify(%s, %s)", [CHANNEL, table])

    def _note_change(self, conn: Any, table: str, *, edits: bool = False) -> None:
        """Inside :meth:`transaction` the bump waits for its end; else it joins the statement's own."""
        changed = getattr(self._local, "changed", None)
        if getattr(self._local, "conn", None) is not None and changed is not None and not edits:
            changed.add(table)
            return
        self._bump(conn, [table], edits=edits)

    def write(self, records: Iterable[Record]) -> dict[str, int]:
        """Insert records of any mix of types in one transaction; returns the new rows per table."""
        return write_records(self, records)

    def write_columns(self, table: str, cols: Mapping[str, Sequence[Any] | np.ndarray]) -> int:
        """COPY the columns into a temporary table, then insert the first row of each new key."""
        spec = schema.table(table)
        arrow = arrow_table(spec, cols)
        if arrow.num_rows == 0:
            return 0
        self._refuse_if_read_only()
        import pyarrow.csv as pacsv

        names = spec.column_names
        payload = io.BytesIO()
        pacsv.write_csv(arrow, payload, pacsv.WriteOptions(include_header=False))
        key = pg_key(spec)
        temp = f"tmp_{table}"
        select = (f"SELECT DISTINCT ON ({', '.join(key)}) {', '.join(names)} FROM {temp} "
                  f"ORDER BY {', '.join(key)}, liqmap_ord")
        if spec.upsert:
            updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in key)
            insert = (f"INSERT INTO {table} ({', '.join(names)}) {select} ON CONFLICT ({', '.join(key)}) "
                      f"DO UPDATE SET {updates} RETURNING (xmax = 0)")
        else:
            insert = f"INSERT INTO {table} ({', '.join(names)}) {select} ON CONFLICT DO NOTHING"
        try:
            with self._connection() as conn, conn.transaction():
                if spec.time_column and spec.partition_ms:
                    self._ensure_partitions(conn, spec, arrow.column(spec.time_column).drop_null().to_numpy())
                conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} (LIKE {table}, "
                             "liqmap_ord BIGINT GENERATED ALWAYS AS IDENTITY) ON COMMIT DELETE ROWS")
                with conn.cursor() as cur:
                    with cur.copy(f"COPY {temp} ({', '.join(names)}) FROM STDIN (FORMAT csv)") as copy:
                        copy.write(payload.getvalue())
                    cur.execute(insert)
                    new = sum(1 for (inserted,) in cur.fetchall() if inserted) if spec.upsert else cur.rowcount
                    cur.execute(f"TRUNCATE {temp}")
                if new or spec.upsert:
                    self._note_change(conn, table)
        except StoreError:
            with contextlib.suppress(StoreError):
                self._partitions.clear()
                self._load_partitions()
            raise
        if new and getattr(self._local, "conn", None) is None:
            self._changes.fire()
        return int(new)

    def update(self, table: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        spec = schema.table(table)
        if not key:
            raise ConfigError(f"update of {table}: no key given")
        assignments, set_params = sql.set_clause(spec, values, mark="%s")
        where, params = sql.where(spec, None, None, key, mark="%s")
        return self._modify(table, f"UPDATE {table} SET {assignments} {where}", [*set_params, *params])

    def delete(self, table: str, *, start: int | None = None, end: int | None = None, **equals: Any) -> int:
        spec = schema.table(table)
        where, params = sql.where(spec, start, end, equals, mark="%s")
        return self._modify(table, f"DELETE FROM {table} {where}", params)

    def _modify(self, table: str, statement: str, params: Sequence[Any]) -> int:
        self._refuse_if_read_only()
        with self._connection() as conn, conn.transaction():
            changed = conn.execute(statement, list(params)).rowcount
            if changed:
                self._note_change(conn, table, edits=True)
        if changed:
            self._changes.fire()
        return int(changed)

    def prune(self, retention_ms: Mapping[str, int | None], now_ms: int, dry_run: bool = False) -> dict[str, int]:
        """Per table, drop the partitions wholly older than the cut-off, then delete the older rows of the
        partition that straddles it; returns the rows (that would be) removed."""
        out: dict[str, int] = {}
        for name, cutoff in sql.retention_cutoffs(retention_ms, now_ms).items():
            spec = schema.table(name)
            with self._connection() as conn, conn.transaction():
                row = conn.execute(f"SELECT count(*) FROM {name} WHERE {spec.time_column} < %s", [cutoff]).fetchone()
                out[name] = int(row[0]) if row else 0
                if dry_run or not out[name]:
                    continue
                self._refuse_if_read_only()
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
                width = spec.partition_ms or 0
                for parent, start in sorted(self._partitions):
                    if parent == name and width and start + width <= cutoff:
                        conn.execute(f"DROP TABLE IF EXISTS {_partition_name(name, start)}")
                        self._partitions.discard((parent, start))
                conn.execute(f"DELETE FROM {name} WHERE {spec.time_column} < %s", [cutoff])
                self._note_change(conn, name, edits=True)
            self._changes.fire()
        return out

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement with ``?`` placeholders, as on the embedded store: for tests and inspection only."""
        with self._connection() as conn, conn.transaction():
            cur = conn.execute(statement.replace("?", "%s"), list(params))
            rows = cur.fetchall() if cur.description else []
            if not statement.lstrip()[:6].upper().startswith("SELECT"):
                for table in schema.TABLES:
                    if f" {table}" in f" {statement} ":
                        self._note_change(conn, table, edits=True)
        return [tuple(r) for r in rows]

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.location} was opened read-only")

    # -- reads -----------------------------------------------------------------------------------
    def read(
        self,
        table: str,
        *,
        start: int | None = None,
        end: int | None = None,
        columns: Sequence[str] | None = None,
        descending: bool = False,
        limit: int | None = None,
        **equals: Any,
    ) -> dict[str, np.ndarray]:
        spec = schema.table(table)
        wanted = sql.checked_columns(spec, columns)
        where, params = sql.where(spec, start, end, equals, mark="%s")
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        binary = pgbinary.supports(spec, wanted)
        selected = pgbinary.select_list(spec, wanted) if binary else wanted
        query = (f"SELECT {', '.join(selected)} FROM {table} {where} "
                 f"ORDER BY {sql.order_by(spec, equals, descending)}{tail}")
        if binary:
            return pgbinary.decode(spec, wanted, self._copy_out(query, params, "binary"))
        return _columns(spec, wanted, self._copy_out(query, params, "csv"))

    def _copy_out(self, query: str, params: Sequence[Any], form: str) -> bytes:
        out = io.BytesIO()
        with (self._connection() as conn, conn.cursor() as cur,
              cur.copy(f"COPY ({query}) TO STDOUT (FORMAT {form})", list(params)) as copy):
            for block in copy:
                out.write(block)
        return out.getvalue()

    def resample_bars(
        self, *, start: int, end: int, interval_ms: int, source_interval_ms: int, **equals: Any
    ) -> dict[str, np.ndarray]:
        """The embedded store's resampling statement, run by an in-process DuckDB over the bars read."""
        statement, params = resample_statement("source", start, end, interval_ms, source_interval_ms, equals)
        source = self.read("bars", start=start, end=end, **{**equals, "interval_ms": source_interval_ms})
        import pyarrow as pa

        con = getattr(self._duck, "con", None)
        if con is None:
            import duckdb

            con = self._duck.con = duckdb.connect(":memory:")
        con.register("source", pa.table({k: _arrow_ready(v) for k, v in source.items()}))
        try:
            return resampled(con.execute(statement, params).fetchnumpy())
        finally:
            con.unregister("source")

    def latest_ts(self, table: str, **equals: Any) -> int | None:
        spec = schema.table(table)
        where, params = sql.where(spec, None, None, equals, mark="%s")
        row = self._one(f"SELECT max({spec.time_column}) FROM {table} {where}", params)
        return None if row is None or row[0] is None else int(row[0])

    def distinct(
        self, table: str, column: str, *, start: int | None = None, end: int | None = None, **equals: Any
    ) -> list[Any]:
        spec = schema.table(table)
        if column not in spec.column_names:
            raise ConfigError(f"table {table} has no column {column!r}")
        where, params = sql.where(spec, start, end, equals, mark="%s")
        with self._connection() as conn:
            rows = conn.execute(f"SELECT DISTINCT {column} FROM {table} {where} ORDER BY 1", params).fetchall()
        return [row[0] for row in rows]

    def fingerprint(
        self, table: str, *, start: int | None = None, end: int | None = None, **equals: Any
    ) -> tuple[int, str]:
        """As on the embedded store: row count plus the table's in-place edits (from every process, kept in
        ``liqmap_writes``); upsert tables add an order-independent sum of per-row hashes."""
        spec = schema.table(table)
        where, params = sql.where(spec, start, end, equals, mark="%s")
        if not spec.upsert:
            row = self._one(f"SELECT count(*), (SELECT coalesce(max(edits), 0) FROM {WRITES_TABLE} "
                            f"WHERE table_name = %s) FROM {table} {where}", [table, *params])
            return (0, "edits 0") if row is None else (int(row[0]), f"edits {int(row[1])}")
        row = self._one(f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::TEXT "
                        f"FROM {table} t {where}", params)
        return (0, "0") if row is None else (int(row[0]), str(row[1]))

    def series(self, table: str) -> list[dict[str, Any]]:
        spec = schema.table(table)
        if spec.time_column != "ts_event":
            return []
        version = self.version()
        cached = self._series.get(table)
        if cached is not None and cached[0] == version:
            return [dict(row) for row in cached[1]]
        with self._connection() as conn:
            rows = series_rows(spec, conn.execute(series_statement(spec)).fetchall())
        self._series[table] = (version, rows)
        return [dict(row) for row in rows]

    def inventory(self) -> list[dict[str, Any]]:
        return [row for table in schema.RECORD_TABLES.values() for row in self.series(table)]

    def version(self) -> tuple[tuple[str, int], ...]:
        """Per table, how many committed writes changed it (from any process): one small-table read."""
        with self._connection() as conn:
            rows = conn.execute(f"SELECT table_name, version FROM {WRITES_TABLE} ORDER BY 1").fetchall()
        return tuple((str(name), int(version)) for name, version in rows)

    def _one(self, query: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        with self._connection() as conn:
            row = conn.execute(query, list(params)).fetchone()
        return None if row is None else tuple(row)

    # -- changes from every process ------------------------------------------------------------------
    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        """``callback`` runs (on a listener thread) after any process commits a write; the listener
        reconnects with backoff when the server goes away, and calls back once on reconnecting (changes may
        have been missed meanwhile)."""
        remove = self._changes.add(callback)
        if self._listener is None:
            self._stop.clear()
            self._listener = threading.Thread(target=self._listen, name="liqmap-pg-listen", daemon=True)
            self._listener.start()
        return remove

    def _listen(self) -> None:
        import psycopg

        delay = 0.5
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True,
                                     connect_timeout=max(1, int(self.connect_timeout_s))) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if not first:
                        self._changes.fire()
                    first, delay = False, 0.5
                    while not self._stop.is_set():
                        if any(True for _ in conn.notifies(timeout=0.5)):
                            self._changes.fire()
            except psycopg.Error as exc:
                log.warning("change listener on %s lost its connection (%s); retrying in %.1f s",
                            self.location, _first_line(exc), delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)


def _partition_name(table: str, start: int) -> str:
    return f"{table}_p{time.strftime('%Y%m%d', time.gmtime(start / 1000))}_{start // 1000}"


def _partition_start(parent: str, child: str) -> int | None:
    prefix = f"{parent}_p"
    if not child.startswith(prefix):
        return None
    try:
        return int(child.rsplit("_", 1)[1]) * 1000
    except ValueError:
        return None


def _columns(spec: schema.Table, wanted: Sequence[str], payload: bytes) -> dict[str, np.ndarray]:
    """CSV from ``COPY TO`` as numpy columns typed like the embedded store's reads (NULL -> NaN / None)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    kinds = dict(spec.columns)
    arrow_types = {schema.BIGINT: pa.int64(), schema.DOUBLE: pa.float64(), schema.TEXT: pa.string(),
                   schema.BOOLEAN: pa.bool_()}
    types = {name: arrow_types[kinds[name]] for name in wanted}
    if not payload:
        empty = {schema.BIGINT: np.int64, schema.DOUBLE: np.float64, schema.TEXT: object, schema.BOOLEAN: bool}
        return {name: np.array([], dtype=empty[kinds[name]]) for name in wanted}
    table = pacsv.read_csv(
        io.BytesIO(payload),
        read_options=pacsv.ReadOptions(column_names=list(wanted), block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                             quoted_strings_can_be_null=False),
    )
    out = {}
    for name in wanted:
        column = table.column(name)
        if kinds[name] == schema.TEXT:
            out[name] = np.array(column.to_pylist(), dtype=object)
        elif kinds[name] == schema.BIGINT and column.null_count:
            out[name] = column.cast(pa.float64()).fill_null(float("nan")).to_numpy()
        elif kinds[name] == schema.DOUBLE:
            out[name] = column.fill_null(float("nan")).to_numpy()
        else:
            out[name] = column.to_numpy()
    return out


def _arrow_ready(values: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.array(values.tolist() if values.dtype == object else values)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _pool_timeout() -> type[BaseException]:
    from psycopg_pool import PoolTimeout

    return PoolTimeout
