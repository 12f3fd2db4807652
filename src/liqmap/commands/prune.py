"""``liqmap prune``: delete rows older than each table's retention (``[retention]`` of the config file).

Thin: the retention comes from :meth:`liqmap.settings.Settings.retention_ms`; the deleting is the
store's ``prune(retention_ms, now_ms, dry_run) -> {table: rows}`` (on PostgreSQL it drops whole time
partitions). Run it daily (deploy/systemd/liqmap-prune.timer).
"""

from __future__ import annotations

import time

import click

from liqmap.commands.base import Command
from liqmap.commands.options import config_option, current_settings, db_option
from liqmap.settings import RetentionSettings


@click.command("prune", cls=Command)
@config_option("prune")
@db_option
@click.option("--table", "tables", multiple=True, type=click.Choice(sorted(RetentionSettings.model_fields)),
              help="Prune only this table (repeatable; default: every table with a finite retention).")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
def prune_cmd(db_path: str | None, tables: tuple[str, ...], dry_run: bool) -> None:
    """Delete rows older than the retention of their table (config file [retention])."""
    from liqmap.store import open_store

    retention = current_settings().retention_ms()
    if tables:
        retention = {table: retention[table] for table in tables}
    store = open_store(db_path)
    try:
        counts = store.prune(retention, int(time.time() * 1000), dry_run)
    finally:
        store.close()
    verb = "would delete" if dry_run else "deleted"
    for table, keep_ms in sorted(retention.items()):
        kept = "forever" if keep_ms is None else f"{keep_ms / 86_400_000:g}d"
        click.echo(f"{table}: keep {kept}; {verb} {counts.get(table, 0)} rows")
