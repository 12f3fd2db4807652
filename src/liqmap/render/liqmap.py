"""Liquidation map picture: long/short notional by price at one instant, with cumulative curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from liqmap.analysis.calibration import Calibration
from liqmap.model.result import LiquidationMap
from liqmap.render import style


def render_liquidation_map(
    lmap: LiquidationMap,
    path: str | Path,
    *,
    title: str | None = None,
    subtitle: str | None = None,
    size: tuple[float, float] = (13.0, 6.5),
    dpi: int = 110,
    calibration: Calibration | None = None,
) -> Path:
    """Bars: USD of longs (red) and shorts (teal) whose liquidation price is in each bin. Lines
    (right axis): cumulative USD liquidated if price moves from the current price to that level.

    ``calibration``: the calibration ``lmap``'s USD already carry, named under the title, on the axis
    labels and in the PNG's text chunks (:func:`style.save`); ``None`` = raw model USD."""
    plt = style.use_agg()
    fig, ax = plt.subplots(figsize=size, dpi=dpi, facecolor=style.BACKGROUND)
    fig.subplots_adjust(left=0.07, right=0.92, top=0.86, bottom=0.1)
    dollars = "raw model USD" if calibration is None or calibration.source == "none" else "calibrated USD"
    _bars(ax, lmap, dollars)
    cum = _cumulative(ax, lmap, dollars)
    _price_marker(ax, lmap.price)
    handles = ax.get_legend_handles_labels()[0] + cum.get_legend_handles_labels()[0]
    legend = ax.legend(handles=handles, loc="upper center", fontsize=8, frameon=False, ncols=2)
    for text in legend.get_texts():
        text.set_color(style.MUTED)
    heading = title or f"{lmap.symbol} liquidation map"
    fig.text(0.07, 0.94, heading, color=style.TEXT, fontsize=14, fontweight="bold")
    detail = subtitle or f"estimated outstanding liquidation levels as of {style.utc(lmap.ts)}"
    fig.text(0.07, 0.905, detail, color=style.MUTED, fontsize=9)
    fig.text(0.92, 0.905, style.calibration_label(calibration), color=style.MUTED, fontsize=8, ha="right")
    return style.save(fig, path, calibration)


def _bars(ax: Any, lmap: LiquidationMap, dollars: str) -> None:
    """Long and short USD per price bin, price on the x axis."""
    from matplotlib.ticker import FuncFormatter

    style.style_axes(ax)
    width = float(np.median(np.diff(lmap.price_edges)))
    centers = lmap.price_centers
    ax.bar(centers, lmap.long, width=width, color=style.LONG_COLOR, alpha=0.85, label="longs (liquidated on a fall)")
    ax.bar(centers, lmap.short, width=width, color=style.SHORT_COLOR, alpha=0.85,
           label="shorts (liquidated on a rise)")
    ax.yaxis.set_major_formatter(FuncFormatter(style.format_usd))
    ax.xaxis.set_major_formatter(FuncFormatter(style.format_price))
    ax.set_xlim(lmap.price_edges[0], lmap.price_edges[-1])
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"liquidation notional per bin ({dollars})", color=style.MUTED, fontsize=9)


def _cumulative(ax: Any, lmap: LiquidationMap, dollars: str) -> Any:
    """Cumulative USD outward from the price on a twin right axis; returns that axis."""
    from matplotlib.ticker import FuncFormatter

    cum = ax.twinx()
    for values, colour, label in ((lmap.cum_long, style.LONG_COLOR, "cumulative longs"),
                                  (lmap.cum_short, style.SHORT_COLOR, "cumulative shorts")):
        cum.plot(lmap.price_centers, np.where(values > 0, values, np.nan), color=colour, linewidth=1.8,
                 label=label)
    cum.yaxis.set_major_formatter(FuncFormatter(style.format_usd))
    cum.tick_params(colors=style.MUTED, labelsize=8)
    for spine in cum.spines.values():
        spine.set_color(style.GRID)
    cum.set_ylim(bottom=0)
    cum.set_ylabel(f"cumulative from current price ({dollars})", color=style.MUTED, fontsize=9)
    return cum


def _price_marker(ax: Any, price: float) -> None:
    """The current price: a dashed vertical line labelled at the top."""
    ax.axvline(price, color=style.PRICE, linewidth=1.0, linestyle=(0, (4, 3)))
    ax.annotate(
        f"price {style.format_price(price)}",
        xy=(price, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        fontsize=8,
        color=style.TEXT,
    )
