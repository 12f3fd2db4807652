"""``liqmap heatmap`` and ``liqmap liqmap``: render PNGs from the store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from liqmap.analysis.calibration import MODES
from liqmap.commands.base import Command
from liqmap.commands.options import db_option, range_option
from liqmap.viewspec import VIEW


def _floats(text: str | None, name: str) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint=name) from None


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(x.strip() for x in text.split(",") if x.strip()) if text else None


def view_options(func: Any) -> Any:
    """Options shared by the picture commands (they map 1:1 onto HeatmapQuery fields; the choices and
    defaults are the view declaration's, :data:`liqmap.viewspec.VIEW`)."""
    options = [
        click.option("--symbol", default="BTC", show_default=True, help="BTC, BTCUSDT, BTC-USDT-SWAP, ..."),
        click.option("--exchanges", default=None, help="Comma-separated; default: all with data."),
        click.option(
            "--end", default=None, help="Window end, ISO-8601 UTC or epoch ms (default: latest data)."
        ),
        click.option("--leverage", default=None, help="Only these leverage tiers, e.g. 25,50,100."),
        click.option("--ages", default=None, help="Only these position-age buckets, e.g. '<4h,4h-1d'."),
        click.option("--side", type=click.Choice(VIEW.sides), default=VIEW.default_side, show_default=True),
        range_option(),
        click.option("--png", "png", type=click.Path(dir_okay=False), required=True, help="Output PNG."),
        db_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _query(
    symbol: str,
    exchanges: str | None,
    range_: str,
    end: str | None,
    side: str,
    leverage: str | None,
    ages: str | None,
    **extra: Any,
) -> Any:
    from liqmap.query import HeatmapQuery, parse_time

    return HeatmapQuery(
        symbol=symbol,
        exchanges=_names(exchanges),
        range=range_,
        end=parse_time(end) if end else None,
        side=side,
        leverage=_floats(leverage, "--leverage"),
        ages=_names(ages),
        **extra,
    )


def _capped(value: int, limit: int, name: str, no_cap: bool) -> int:
    """The API's bound on picture sizes (``VIEW.rows.api_hi`` x ``VIEW.columns.api_hi``,
    :mod:`liqmap.viewspec`) applies here too, unless ``--no-cap``: a 5,000 x 20,000 view over 1y took
    minutes and gigabytes."""
    if no_cap or value <= limit:
        return value
    click.echo(f"note: {name} {value} capped to {limit} (the API's limit); add --no-cap to render "
               f"{value} anyway (time and memory grow with bins x columns)", err=True)
    return limit


def _check_window(store: Any, query: Any) -> None:
    """A window outside the stored data gets a message saying where the data is (not a model error)."""
    from liqmap.symbols import canonical

    if query.end is None:
        return
    rows = [r for r in store.inventory() if r["table"] == "bars" and r.get("symbol") == canonical(query.symbol)]
    if not rows:
        return
    first, last = min(r["first"] for r in rows), max(r["last"] for r in rows)
    start = query.end - VIEW.ranges[query.range]
    if start > last or query.end <= first:
        raise click.ClickException(
            f"--end {_utc(query.end)}: no {canonical(query.symbol)} bars in the {query.range} window before it; "
            f"the store holds {_utc(first)} .. {_utc(last)}. Omit --end for the latest data, or pick an end "
            f"inside that span."
        )


def _duration(ms: int) -> str:
    minutes = ms // 60_000
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_heatmap_png(store: Any, query: Any, png: str | Path, calibration: str = "auto") -> tuple[Path, Any, Any]:
    """Heatmap for ``query`` in the USD of ``calibration`` (``auto`` | ``none``, as the API's) with its
    realized liquidations, drawn to ``png``. Returns (path, heatmap as drawn, its Calibration)."""
    from liqmap.calibrate import calibrated_view
    from liqmap.query import heatmap_for, realized_for
    from liqmap.render import render_heatmap

    _check_window(store, query)
    heatmap, cal = calibrated_view(store, query, heatmap_for(store, query), calibration)
    width = heatmap.interval_ms
    start, end = int(heatmap.times[0]), int(heatmap.times[-1]) + width
    realized = realized_for(store, heatmap.symbol, start, end, exchanges=query.exchanges, interval_ms=width)
    filters = []
    if query.side != "both":
        filters.append(f"side {query.side}")
    if query.leverage:
        filters.append("leverage " + ",".join(f"{x:g}x" for x in query.leverage))
    if query.ages:
        filters.append("ages " + ",".join(query.ages))
    title = f"{heatmap.symbol} liquidation heatmap · {query.range} · {' + '.join(heatmap.exchanges)}"
    subtitle = f"{_utc(start)} → {_utc(end)} · {_duration(width)} columns"
    if filters:
        subtitle += " · " + " · ".join(filters)
    subtitle += "".join(f" · {n}" for n in heatmap.notes if n.startswith("prices:"))
    path = render_heatmap(heatmap, png, realized=realized, title=title, subtitle=subtitle, net=query.side == "net",
                          calibration=cal)
    return path, heatmap, cal


JSON_HELP = "Also print the numbers as JSON (the API's shape) instead of the one-line summary."

calibration_option = click.option(
    "--calibration", type=click.Choice(MODES), default="auto", show_default=True,
    help="USD calibration, as the API's calibration=: auto (fitted on realized liquidations before the view; "
         "named on the picture) | none (raw model USD).")


@click.command("heatmap", cls=Command)
@view_options
@click.option("--bins", default=VIEW.rows.default, show_default=True, help="Price bins.")
@click.option("--columns", default=VIEW.columns.default, show_default=True, help="Time columns at most.")
@click.option("--no-cap", is_flag=True, help="Allow more than 2,000 bins or columns (the API's limit).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@calibration_option
def heatmap_cmd(
    symbol: str,
    exchanges: str | None,
    range_: str,
    end: str | None,
    side: str,
    leverage: str | None,
    ages: str | None,
    png: str,
    db_path: str | None,
    bins: int,
    columns: int,
    no_cap: bool,
    as_json: bool = False,
    calibration: str = "auto",
) -> None:
    """Render the liquidation heatmap with candles and realized liquidations to a PNG."""
    from liqmap.store import store_for

    bins = _capped(bins, VIEW.rows.api_hi, "--bins", no_cap)
    columns = _capped(columns, VIEW.columns.api_hi, "--columns", no_cap)
    query = _query(symbol, exchanges, range_, end, side, leverage, ages, n_bins=bins, max_columns=columns)
    from liqmap.commands.progress import working

    with store_for(db_path, read_only=True) as store, working(f"heatmap {symbol} {range_}"):
        path, heatmap, cal = render_heatmap_png(store, query, png, calibration)
    if as_json:  # the non-zero cells [k, b, usd] of the side drawn, with times, price edges and candles
        from liqmap.service.encode import json_text, sparse_payload

        body = sparse_payload(heatmap, side="both", update_time=int(heatmap.times[-1]), view={"range": range_})
        click.echo(json_text({"png": str(path), "exchanges": list(heatmap.exchanges), **body,
                              "calibration": cal.to_dict()}))
        return
    click.echo(
        f"{path}  ({len(heatmap.times)} columns x {len(heatmap.price_edges) - 1} bins, "
        f"{_utc(int(heatmap.times[0]))} .. {_utc(int(heatmap.times[-1]))})"
    )


@click.command("liqmap", cls=Command)
@view_options
@click.option("--bins", default=200, show_default=True, help="Price bins.")
@click.option("--no-cap", is_flag=True, help="Allow more than 2,000 bins (the API's limit).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@calibration_option
def liqmap_cmd(
    symbol: str,
    exchanges: str | None,
    range_: str,
    end: str | None,
    side: str,
    leverage: str | None,
    ages: str | None,
    png: str,
    db_path: str | None,
    bins: int,
    no_cap: bool,
    as_json: bool = False,
    calibration: str = "auto",
) -> None:
    """Render the liquidation map at the window's end: long/short notional by price + cumulative curves."""
    from liqmap.calibrate import calibrated_view
    from liqmap.query import heatmap_for
    from liqmap.render import render_liquidation_map
    from liqmap.store import store_for

    # the API's default columns (not fewer): the calibration is fitted on a view with the same columns,
    # so the numbers equal GET /api/liqmap's for the same range and rows
    query = _query(symbol, exchanges, range_, end, side, leverage, ages,
                   n_bins=_capped(bins, VIEW.rows.api_hi, "--bins", no_cap))
    with store_for(db_path, read_only=True) as store:
        _check_window(store, query)
        heatmap, cal = calibrated_view(store, query, heatmap_for(store, query), calibration)
    lmap = heatmap.column(-1)
    at = int(heatmap.times[-1]) + heatmap.interval_ms
    subtitle = f"{' + '.join(heatmap.exchanges)} · as of {_utc(at)} · model estimate"
    path = render_liquidation_map(lmap, png, subtitle=subtitle, calibration=cal)
    if as_json:  # the GET /api/liqmap body: bins, cumulative curves, nearest clusters
        from liqmap.service.encode import json_text, liqmap_payload, local_clusters

        body = liqmap_payload(lmap, local_clusters(lmap), len(heatmap.times) - 1)
        click.echo(json_text({"png": str(path), "exchanges": list(heatmap.exchanges), **body,
                              "calibration": cal.to_dict()}))
        return
    click.echo(
        f"{path}  (price {lmap.price:,.2f}; longs below ${lmap.cum_long.max():,.0f}, "
        f"shorts above ${lmap.cum_short.max():,.0f})"
    )

