"""``liqmap import`` and ``liqmap inventory``."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from liqmap.commands.base import Command
from liqmap.commands.options import db_option
from liqmap.errors import LiqmapError


def _format_names() -> list[str]:
    from liqmap.ingest.registry import FORMATS

    return list(FORMATS)


IMPORT_MEMORY = "128MB"


@click.command("import", cls=Command)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_format_names()),
    default=None,
    help="Force the format instead of detecting it from the content.",
)
@click.option("--symbol", default=None, help="Instrument when the file name does not say (e.g. BTCUSDT).")
@click.option(
    "--market",
    type=click.Choice(["perp", "spot"]),
    default=None,
    help="Market of kline files (default perp).",
)
def import_cmd(
    files: tuple[str, ...], db_path: str | None, fmt: str | None, symbol: str | None, market: str | None
) -> None:
    """Import market-data FILES (format detected from the content; gzip or plain).

    Each file is parsed and validated completely, then stored in one transaction: a bad file stores
    nothing and loses nothing. Re-importing a file stores no row twice.
    """
    from liqmap.commands.progress import working
    from liqmap.ingest import import_file
    from liqmap.store import store_for

    failed = 0
    # Imports stream in chunks; a small buffer for DuckDB keeps a 1 GB file under ~300 MB (bench_import.py).
    with store_for(db_path, memory_limit=IMPORT_MEMORY) as store:
        for i, path in enumerate(files, 1):
            try:
                with working(f"importing {path} ({i}/{len(files)})"):
                    result = import_file(store, path, fmt=fmt, symbol=symbol, market=market)
            except LiqmapError as exc:
                failed += 1
                click.echo(f"{path}: ERROR {exc}", err=True)
                continue
            tables = ", ".join(f"{table} {n}" for table, n in result.new_rows.items())
            click.echo(
                f"{path}: {result.format}, {result.rows_read} rows read, {result.total_new} new rows stored "
                f"({tables}) in {result.seconds:.2f}s"
            )
            for note in result.notes:
                click.echo(f"  note: {note}")
        click.echo(f"database: {store.location}")
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} file(s) not imported (nothing of them stored)")


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@click.command("inventory", cls=Command)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the series as JSON (times in ms).")
def inventory_cmd(db_path: str | None, as_json: bool = False) -> None:
    """List the series held in the store: table, exchange, market, symbol, interval, first, last, rows."""
    from liqmap.store import store_for

    with store_for(db_path, read_only=True) as store:
        rows = store.inventory()
        if as_json:
            import json

            click.echo(json.dumps({"db": store.location, "series": rows}, default=str))
            return
        if not rows:
            click.echo(f"{store.location}: empty (import files with `liqmap import`, or run `liqmap demo`)")
            return
        click.echo(
            f"{'table':<17}{'exchange':<11}{'market':<7}{'symbol':<10}{'interval':>9}  "
            f"{'first (UTC)':<17}  {'last (UTC)':<17}{'rows':>9}"
        )
        for row in rows:
            interval = row.get("interval_ms")
            label = (
                ""
                if interval is None
                else (f"{interval // 3_600_000}h" if interval % 3_600_000 == 0 else f"{interval // 60_000}m")
            )
            click.echo(
                f"{row['table']:<17}{row.get('exchange', ''):<11}{row.get('market', ''):<7}"
                f"{row.get('symbol', ''):<10}{label:>9}  {_utc(row['first']):<17}  {_utc(row['last']):<17}"
                f"{row['rows']:>9}"
            )
