"""``liqmap demo``: the shipped real sample -> the default store -> a heatmap PNG, offline.

The sample goes into the DEFAULT store (the file ``inventory``, ``levels``, ``heatmap``, ``liqmap`` and
``evaluate`` read when given no ``--db``), so every command the README shows next works as printed.

Steps are separate functions (:func:`load_sample`, :func:`render_demo`); then, unless ``--no-serve``,
the web page is served from that store (``liqmap serve`` on it) and its URL printed; Ctrl-C stops it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from liqmap.commands.base import Command
from liqmap.commands.options import db_option, range_option


def load_sample(store: Any, echo: Any = click.echo, progress: bool = True) -> dict[str, int]:
    """Import every shipped sample file (idempotent); returns new rows per file name."""
    from tqdm import tqdm

    from liqmap.commands.progress import enabled
    from liqmap.data.sample import sample_files
    from liqmap.ingest import import_file

    new: dict[str, int] = {}
    files = list(sample_files())
    with tqdm(files, desc="importing the sample", unit="file", disable=not enabled(not progress), leave=False) as bar:
        for path in bar:
            bar.set_postfix_str(path.name)
            result = import_file(store, path)
            new[path.name] = result.total_new
            bar.write(f"  {path.name}: {result.format}, {result.rows_read} rows, {result.total_new} new")
    return new


def render_demo(store: Any, png: Path, range_: str = "7d") -> Path:
    """The heatmap of the latest ``range_`` of the sample (BTC, every exchange with data)."""
    from liqmap.commands.render import render_heatmap_png
    from liqmap.query import HeatmapQuery

    path, _, _ = render_heatmap_png(store, HeatmapQuery("BTC", range=range_), png)
    return path


@click.command("demo", cls=Command)
@db_option
@click.option(
    "--png",
    "png",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the heatmap (default: demo-heatmap.png next to the database).",
)
@range_option(help="Window of the picture (the sample holds 2026-01-01 .. 2026-05-24).")
@click.option(
    "--no-serve",
    is_flag=True,
    default=False,
    help="Only import and render the PNG; do not serve the web page.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface the page is served on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port the page is served on (0 = any free port).")
def demo_cmd(db_path: str | None, png: str | None, range_: str, no_serve: bool, host: str, port: int) -> None:
    """Load the shipped real sample (Binance BTCUSDT + Coinglass, 2026-01..05), render the heatmap of
    its latest 7 days, then serve the web page on it (Ctrl-C stops). Works offline; re-running imports
    nothing twice. The data goes into the default store, so `liqmap inventory`, `levels`, `heatmap` ...
    read it with no --db."""
    from liqmap.store import DuckDBStore, default_db_path

    db = Path(db_path) if db_path else default_db_path()
    out = Path(png) if png else db.parent / "demo-heatmap.png"
    with DuckDBStore(db) as store:
        click.echo(f"importing the shipped sample into {db}")
        load_sample(store)
        from liqmap.commands.progress import working

        with working(f"rendering the latest {range_}"):
            path = render_demo(store, out, range_)
    click.echo(f"heatmap: {path}")
    if no_serve:
        click.echo("to browse it: liqmap serve" + (f" --db {db}" if db_path else ""))
        return
    from liqmap.commands.serve import run_server

    with DuckDBStore(db) as store:
        run_server(store, host=host, port=port)  # prints the page's URL, runs until Ctrl-C
