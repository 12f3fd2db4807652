"""``liqmap export``: stored series, heatmap grids and levels to CSV or Parquet files (via pyarrow).

``liqmap export candles --symbol BTC --format parquet --out btc.parquet``. Kinds: ``candles`` (the bars
table), ``oi`` (open interest), ``funding``, ``prints`` (liquidation prints), ``heatmap`` (every cell of
the modelled grid), ``levels`` (the session plan's clusters and stacks). Stored series are written with
every column of their table (docs/data.md has the meanings); ``--start`` / ``--end`` bound them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from liqmap.commands.base import Command
from liqmap.commands.options import db_option, range_option

TABLES: dict[str, str] = {"candles": "bars", "oi": "open_interest", "funding": "funding", "prints": "liquidations"}
KINDS: tuple[str, ...] = (*TABLES, "heatmap", "levels")
FORMATS: tuple[str, ...] = ("csv", "parquet")


def write_columns(columns: dict[str, Any], path: str | Path, fmt: str) -> int:
    """Write equal-length columns as a CSV (header line, empty = missing) or Parquet file; returns the rows."""
    import pyarrow as pa

    table = pa.table({name: list(values) if isinstance(values, list) else values for name, values in columns.items()})
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, str(path))
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, str(path))
    return int(table.num_rows)


def export_columns(store: Any, kind: str, *, symbol: str, exchanges: tuple[str, ...] | None, range_: str,
                   start: int | None, end: int | None) -> dict[str, Any]:
    """The columns of one export (see the module docstring)."""
    from liqmap.symbols import canonical

    if kind in TABLES:
        rows = store.read(TABLES[kind], start=start, end=end, symbol=canonical(symbol))
        if exchanges is not None:
            import numpy as np

            keep = np.isin(rows["exchange"].astype(str), list(exchanges))
            rows = {name: values[keep] for name, values in rows.items()}
        return {name: values.tolist() if values.dtype == object else values for name, values in rows.items()}
    from liqmap.analysis.export import heatmap_columns, level_columns
    from liqmap.query import HeatmapQuery, heatmap_for

    heatmap = heatmap_for(store, HeatmapQuery(symbol, exchanges=exchanges, range=range_, end=end))
    if kind == "heatmap":
        return dict(heatmap_columns(heatmap))
    from liqmap.analysis.levels import plan_for_heatmap

    return level_columns(plan_for_heatmap(heatmap))


@click.command("export", cls=Command)
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--symbol", default="BTC", show_default=True, help="BTC, BTCUSDT, BTC-USDT-SWAP, ...")
@click.option("--exchanges", default=None, help="Comma-separated; default: all with data.")
@range_option(help="heatmap / levels: the view range.")
@click.option("--start", default=None, help="Series: first time, ISO-8601 UTC or epoch ms (default: all).")
@click.option("--end", default=None, help="Window end, ISO-8601 UTC or epoch ms (default: latest data).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="Output file.")
@db_option
def export_cmd(kind: str, symbol: str, exchanges: str | None, range_: str, start: str | None, end: str | None,
               fmt: str, out: str, db_path: str | None) -> None:
    """Write candles, open interest, funding, liquidation prints, a heatmap grid or levels to CSV / Parquet."""
    from liqmap.query import parse_time
    from liqmap.store import DuckDBStore

    names = tuple(x.strip().lower() for x in exchanges.split(",") if x.strip()) if exchanges else None
    start_ms = parse_time(start) if start else None
    end_ms = parse_time(end) if end else None
    with DuckDBStore(db_path, read_only=db_path is not None and Path(db_path).exists()) as store:
        columns = export_columns(store, kind, symbol=symbol, exchanges=names, range_=range_, start=start_ms,
                                 end=end_ms)
    rows = write_columns(columns, out, fmt)
    click.echo(f"{out}  ({rows} rows, {len(columns)} columns: {', '.join(columns)})")
