"""``liqmap demo``: the shipped real sample -> a demo database -> a heatmap PNG, offline.

Steps are separate functions (:func:`load_sample`, :func:`render_demo`); then, unless ``--no-serve``,
the web page is served from the demo database (``liqmap serve`` on it) and its URL printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from liqmap.errors import LiqmapError


def default_demo_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("liqmap", appauthor=False))


def load_sample(store: Any, echo: Any = click.echo) -> dict[str, int]:
    """Import every shipped sample file (idempotent); returns new rows per file name."""
    from liqmap.data.sample import sample_files
    from liqmap.ingest import import_file

    new: dict[str, int] = {}
    for path in sample_files():
        result = import_file(store, path)
        new[path.name] = result.total_new
        echo(f"  {path.name}: {result.format}, {result.rows_read} rows, {result.total_new} new")
    return new


def render_demo(store: Any, png: Path, range_: str = "7d") -> Path:
    """The heatmap of the latest ``range_`` of the sample (BTC, every exchange with data)."""
    from liqmap.commands.render import render_heatmap_png
    from liqmap.query import HeatmapQuery

    path, _ = render_heatmap_png(store, HeatmapQuery("BTC", range=range_), png)
    return path


@click.command("demo")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Demo database (default: demo.duckdb in the user data dir; never your main database).",
)
@click.option(
    "--png",
    "png",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the heatmap (default: demo-heatmap.png next to the demo database).",
)
@click.option(
    "--range",
    "range_",
    type=click.Choice(["12h", "24h", "3d", "7d", "30d", "90d"]),
    default="7d",
    show_default=True,
    help="Window of the picture (the sample holds 2026-01-01 .. 2026-05-24).",
)
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
    nothing twice."""
    from liqmap.store import DuckDBStore

    db = Path(db_path) if db_path else default_demo_dir() / "demo.duckdb"
    out = Path(png) if png else db.parent / "demo-heatmap.png"
    try:
        with DuckDBStore(db) as store:
            click.echo(f"importing the shipped sample into {db}")
            load_sample(store)
            path = render_demo(store, out, range_)
    except LiqmapError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"heatmap: {path}")
    if no_serve:
        click.echo(f"to browse it: liqmap serve --db {db}")
        return
    from liqmap.commands.serve import run_server

    try:
        with DuckDBStore(db) as store:
            run_server(store, host=host, port=port)  # prints the page's URL, runs until Ctrl-C
    except LiqmapError as exc:
        raise click.ClickException(str(exc)) from exc
