"""Liquidation map picture: long/short notional by price at one instant, with cumulative curves."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

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
) -> Path:
    """Bars: USD of longs (red) and shorts (teal) whose liquidation price is in each bin. Lines
    (right axis): cumulative USD liquidated if price moves from the current price to that level."""
    plt = style.use_agg()
    from matplotlib.ticker import FuncFormatter

    centers = lmap.price_centers
    width = float(np.median(np.diff(lmap.price_edges)))
    fig, ax = plt.subplots(figsize=size, dpi=dpi, facecolor=style.BACKGROUND)
    fig.subplots_adjust(left=0.07, right=0.92, top=0.86, bottom=0.1)
    style.style_axes(ax)
    ax.bar(
        centers, lmap.long, width=width, color=style.LONG_COLOR, alpha=0.85, label="longs (liquidated on a fall)"
    )
    ax.bar(
        centers, lmap.short, width=width, color=style.SHORT_COLOR, alpha=0.85, label="shorts (liquidated on a rise)"
    )
    ax.yaxis.set_major_formatter(FuncFormatter(style.format_usd))
    ax.xaxis.set_major_formatter(FuncFormatter(style.format_price))
    ax.set_xlim(lmap.price_edges[0], lmap.price_edges[-1])
    ax.set_ylabel("liquidation notional per bin", color=style.MUTED, fontsize=9)

    cum = ax.twinx()
    cum.plot(
        centers,
        np.where(lmap.cum_long > 0, lmap.cum_long, np.nan),
        color=style.LONG_COLOR,
        linewidth=1.8,
        label="cumulative longs",
    )
    cum.plot(
        centers,
        np.where(lmap.cum_short > 0, lmap.cum_short, np.nan),
        color=style.SHORT_COLOR,
        linewidth=1.8,
        label="cumulative shorts",
    )
    cum.yaxis.set_major_formatter(FuncFormatter(style.format_usd))
    cum.tick_params(colors=style.MUTED, labelsize=8)
    for spine in cum.spines.values():
        spine.set_color(style.GRID)
    cum.set_ylim(bottom=0)
    ax.set_ylim(bottom=0)
    cum.set_ylabel("cumulative from current price", color=style.MUTED, fontsize=9)

    ax.axvline(lmap.price, color=style.PRICE, linewidth=1.0, linestyle=(0, (4, 3)))
    ax.annotate(
        f"price {style.format_price(lmap.price)}",
        xy=(lmap.price, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        fontsize=8,
        color=style.TEXT,
    )
    handles = ax.get_legend_handles_labels()[0] + cum.get_legend_handles_labels()[0]
    legend = ax.legend(handles=handles, loc="upper center", fontsize=8, frameon=False, ncols=2)
    for text in legend.get_texts():
        text.set_color(style.MUTED)

    when = datetime.fromtimestamp(lmap.ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig.text(
        0.07,
        0.94,
        title or f"{lmap.symbol} liquidation map",
        color=style.TEXT,
        fontsize=14,
        fontweight="bold",
    )
    fig.text(
        0.07,
        0.905,
        subtitle or f"estimated outstanding liquidation levels as of {when}",
        color=style.MUTED,
        fontsize=9,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, facecolor=fig.get_facecolor())
    plt.close(fig)
    return out
