"""Heatmap picture: estimated liquidation notional by time and price, candles on top, realized
liquidations below, colour bar in USD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from liqmap.analysis.calibration import Calibration
from liqmap.model.result import Heatmap
from liqmap.render import style


def _dates(ms: np.ndarray) -> np.ndarray:
    """Epoch ms -> matplotlib date numbers (days since 1970-01-01, matplotlib's default epoch)."""
    return np.asarray(ms, dtype=np.float64) / 86_400_000.0


def render_heatmap(
    heatmap: Heatmap,
    path: str | Path,
    *,
    realized: Any | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    size: tuple[float, float] = (14.0, 8.0),
    dpi: int = 110,
    net: bool = False,
    calibration: Calibration | None = None,
) -> Path:
    """Draw ``heatmap`` (long + short USD per bin) to a PNG at ``path`` and return the path.

    ``net``: draw long − short instead, on a diverging scale from the short colour through the background
    to the long colour (:data:`style.LONG_COLOR` / :data:`style.SHORT_COLOR`, as on the page).

    ``realized`` is a :class:`liqmap.query.Realized`; its per-bar totals are drawn in a lower panel
    (shorts liquidated up in teal, longs down in red). Colours saturate at the 99.5th percentile of the
    non-empty cells so that one extreme cluster does not flatten the picture.

    ``calibration``: the calibration ``heatmap``'s USD already carry (``liqmap.calibrate.calibrated_view``);
    it is named under the title, on the colour bar and in the PNG's text chunks (:func:`style.save`).
    ``None`` = raw model USD.
    """
    plt = style.use_agg()
    times = np.asarray(heatmap.times, dtype=np.int64)
    if len(times) == 0:
        raise ValueError("heatmap has no columns to draw")
    width = int(np.median(np.diff(times))) if len(times) > 1 else heatmap.interval_ms
    has_lower = realized is not None and len(realized.bars.get("ts", ())) > 0
    fig = plt.figure(figsize=size, dpi=dpi, facecolor=style.BACKGROUND)
    grid = _layout(fig, has_lower)
    ax = fig.add_subplot(grid[0, 0])
    mesh = _grid(ax, heatmap, times, width, net)
    _candles(ax, heatmap, times, width)
    _price_tag(ax, heatmap.last_price)
    locator = _time_axis(ax)
    unit = "net: longs − shorts per bin" if net else "estimated liquidation notional per bin"
    _colorbar(fig, fig.add_subplot(grid[0, 1]), mesh, unit, calibration)
    if has_lower:
        ax.tick_params(labelbottom=False)
        low = fig.add_subplot(grid[1, 0], sharex=ax)
        style.style_axes(low)
        _realized(low, realized, times, width)
        _time_axis(low, locator)
        fig.add_subplot(grid[1, 1]).set_visible(False)
    _headings(fig, title or f"{heatmap.symbol} liquidation heatmap · {', '.join(heatmap.exchanges)}",
              subtitle or f"{style.utc(int(times[0]))} → {style.utc(int(times[-1] + width))}", calibration)
    return style.save(fig, path, calibration)


def _layout(fig: Any, has_lower: bool) -> Any:
    """The grid: heatmap (and realized panel under it) on the left, the colour bar on the right."""
    return fig.add_gridspec(
        2 if has_lower else 1,
        2,
        height_ratios=[4, 1] if has_lower else [1],
        width_ratios=[60, 1],
        hspace=0.06,
        wspace=0.09,
        left=0.06,
        right=0.93,
        top=0.9,
        bottom=0.08,
    )


def _grid(ax: Any, heatmap: Heatmap, times: np.ndarray, width: int, net: bool) -> Any:
    """The time x price mesh (long + short, or long − short with ``net``), price and time limits set."""
    from matplotlib.colors import Normalize, PowerNorm
    from matplotlib.ticker import FuncFormatter

    style.style_axes(ax)
    x_edges = _dates(np.r_[times, times[-1] + width])
    long, short = np.asarray(heatmap.long, dtype=float), np.asarray(heatmap.short, dtype=float)
    values = long - short if net else long + short
    positive = np.abs(values[values != 0])
    vmax = float(np.percentile(positive, 99.5)) if positive.size else 1.0
    mesh = ax.pcolormesh(
        x_edges,
        heatmap.price_edges,
        values.T,
        cmap=style.net_cmap() if net else style.heatmap_cmap(),
        norm=Normalize(vmin=-vmax, vmax=vmax) if net else PowerNorm(gamma=0.6, vmin=0.0, vmax=vmax),
        shading="flat",
        rasterized=True,
    )
    ax.grid(False)
    ax.set_ylim(heatmap.price_edges[0], heatmap.price_edges[-1])
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.yaxis.set_major_formatter(FuncFormatter(style.format_price))
    return mesh


def _price_tag(ax: Any, last: float) -> None:
    """The last price: a dashed line across and a tag on the right edge."""
    ax.axhline(last, color=style.PRICE, linewidth=0.7, linestyle=(0, (3, 3)), alpha=0.8)
    ax.annotate(
        style.format_price(last),
        xy=(1.0, last),
        xycoords=("axes fraction", "data"),
        xytext=(3, 0),
        textcoords="offset points",
        va="center",
        fontsize=8,
        color=style.BACKGROUND,
        bbox={"boxstyle": "square,pad=0.2", "fc": style.PRICE, "ec": "none"},
    )


def _time_axis(ax: Any, locator: Any = None) -> Any:
    """Concise UTC date ticks on ``ax`` (a shared ``locator`` when given); returns the locator."""
    from matplotlib import dates as mdates

    locator = locator or mdates.AutoDateLocator(minticks=5, maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    return locator


def _colorbar(fig: Any, cax: Any, mesh: Any, unit: str, calibration: Calibration | None) -> None:
    """The colour bar in USD, labelled with what a bin holds and which dollars (calibrated or raw)."""
    from matplotlib.ticker import FuncFormatter

    bar = fig.colorbar(mesh, cax=cax)
    bar.formatter = FuncFormatter(style.format_usd)
    bar.update_ticks()
    bar.ax.tick_params(colors=style.MUTED, labelsize=8)
    bar.outline.set_edgecolor(style.GRID)
    dollars = "raw model USD" if calibration is None or calibration.source == "none" else \
        f"calibrated USD ({calibration.source})"
    bar.set_label(f"{unit}, {dollars}", color=style.MUTED, fontsize=8)


def _headings(fig: Any, heading: str, detail: str, calibration: Calibration | None) -> None:
    """Title, subtitle, the calibration line and the disclaimer above the plot."""
    fig.text(0.06, 0.955, heading, color=style.TEXT, fontsize=14, fontweight="bold", ha="left")
    fig.text(0.06, 0.925, detail, color=style.MUTED, fontsize=9, ha="left")
    fig.text(0.93, 0.955, style.calibration_label(calibration), color=style.MUTED, fontsize=8, ha="right")
    fig.text(0.93, 0.925, "liqmap · modelled estimate, not exchange data", color=style.MUTED, fontsize=8,
             ha="right")


def _candles(ax: Any, heatmap: Heatmap, times: np.ndarray, width: int) -> None:
    c = heatmap.candles
    o, h, lo, cl = (np.asarray(c[k], dtype=float) for k in ("open", "high", "low", "close"))
    x = _dates(times + width / 2)
    up = cl >= o
    colours = np.where(up, style.UP, style.DOWN)
    body_w = 0.7 * width / 86_400_000.0
    lw = max(0.4, min(1.2, 300.0 / max(len(times), 1)))
    ax.vlines(x, lo, h, colors=colours, linewidth=lw, alpha=0.95, zorder=3)
    bottoms = np.minimum(o, cl)
    heights = np.maximum(np.abs(cl - o), (h.max() - lo.min()) * 1e-4)
    ax.bar(
        x,
        heights,
        bottom=bottoms,
        width=body_w,
        color=colours,
        edgecolor=colours,
        linewidth=0.3,
        zorder=4,
        align="center",
    )


def realized_per_column(
    bars: dict[str, np.ndarray], times: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(long_usd, short_usd) summed per column ``[times[k], times[k] + width)``; bars outside are dropped."""
    ts = np.asarray(bars["ts"], dtype=np.int64)
    column = np.searchsorted(times, ts, side="right") - 1
    inside = (column >= 0) & (ts < times[column.clip(0)] + width)
    longs = np.bincount(column[inside], np.asarray(bars["long_usd"], dtype=float)[inside], len(times))
    shorts = np.bincount(column[inside], np.asarray(bars["short_usd"], dtype=float)[inside], len(times))
    return longs, shorts


def _realized(ax: Any, realized: Any, times: np.ndarray, width: int) -> None:
    """Realized totals per heatmap column (finer bars are summed into the column they fall in)."""
    from matplotlib.ticker import FuncFormatter

    bars = realized.bars
    longs, shorts = realized_per_column(bars, times, width)
    x = _dates(times + width / 2)
    w = 0.8 * width / 86_400_000.0
    ax.bar(x, shorts, width=w, color=style.SHORT_COLOR, label="shorts liquidated", linewidth=0)
    ax.bar(x, -longs, width=w, color=style.LONG_COLOR, label="longs liquidated", linewidth=0)
    ax.axhline(0, color=style.GRID, linewidth=0.6)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, p: style.format_usd(abs(v))))
    coverage = ""
    if "coverage" in bars and len(bars["coverage"]):
        coverage = f" ({bars['coverage'][0]})"
    ax.set_ylabel("realized", color=style.MUTED, fontsize=8)
    legend = ax.legend(
        loc="upper left",
        fontsize=7,
        frameon=False,
        ncols=2,
        title=f"realized liquidations{coverage}",
        title_fontsize=7,
    )
    for text in [*legend.get_texts(), legend.get_title()]:
        text.set_color(style.MUTED)
