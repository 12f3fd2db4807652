"""Shared look: the heatmap colour scale, dark theme colours and USD formatting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from liqmap.analysis.calibration import Calibration

# the one palette, declared below the pure layers and re-exported here for the renders
from liqmap.palette import LONG_COLOR as LONG_COLOR
from liqmap.palette import SHORT_COLOR as SHORT_COLOR

BACKGROUND = "#0b0b18"
PANEL = "#12121f"
GRID = "#2a2a3d"
TEXT = "#d8d8e8"
MUTED = "#8c8ca6"
UP = "#26a69a"
DOWN = "#ef5350"
PRICE = "#ffffff"

# Dark purple (nothing) -> blue -> teal -> green -> yellow (the largest clusters): the scale traders
# know from commercial liquidation heatmaps.
HEATMAP_COLOURS: tuple[tuple[float, str], ...] = (
    (0.00, "#12031f"),
    (0.12, "#2c0b4b"),
    (0.30, "#3b3f8c"),
    (0.48, "#21808d"),
    (0.66, "#2ab07f"),
    (0.82, "#8fd744"),
    (1.00, "#fde725"),
)


def use_agg() -> Any:
    """Import matplotlib with the Agg backend (no display needed) and return pyplot."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def heatmap_cmap() -> Any:
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("liqmap", list(HEATMAP_COLOURS), N=256)


def net_cmap() -> Any:
    """Diverging scale of the net view (long − short): short colour, background at 0, long colour."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("liqmap-net", [SHORT_COLOR, BACKGROUND, LONG_COLOR], N=256)


def format_usd(value: float, _pos: object = None) -> str:
    """$1.2B / $3.4M / $56.7K / $890; negative values keep their sign."""
    sign = "-" if value < 0 else ""
    v = abs(float(value))
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= limit:
            text = f"{v / limit:.1f}".rstrip("0").rstrip(".")
            return f"{sign}${text}{suffix}"
    return f"{sign}${v:.0f}"


def format_price(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def style_axes(ax: Any) -> None:
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.tick_params(colors=MUTED, labelsize=8)
    ax.grid(color=GRID, linewidth=0.5, alpha=0.6)


def utc(ms: int) -> str:
    """Epoch ms -> ``YYYY-MM-DD HH:MM UTC``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


CALIBRATION_SOURCES = {
    "prints": "liquidation prints stored by the collector",
    "coinglass": "Coinglass realized liquidations",
    "fallback-sample": "the shipped sample's fit (no realized liquidations stored)",
}


def calibration_label(calibration: Calibration | None) -> str:
    """Which dollars a picture shows, in words: the calibration's source, factors and fit days."""
    if calibration is None or calibration.source == "none":
        return "raw model USD (not calibrated)"
    base = calibration.source.split("+")[0]
    what = CALIBRATION_SOURCES.get(base, calibration.source)
    if calibration.source != base:
        what += " (one side from the shipped sample)"
    fitted = ""
    if calibration.fitted_on:
        first, end = calibration.fitted_on
        fitted = f", fitted {utc(first)[:10]} .. {utc(end - 1)[:10]}"
    return (f"USD calibrated to {what}: model x {calibration.factor_long:.3g} longs, "
            f"x {calibration.factor_short:.3g} shorts{fitted}")


def save(fig: Any, path: str | Path, calibration: Calibration | None = None) -> Path:
    """Write ``fig`` as a PNG (parent folders created) and close it. The PNG's text chunks name the
    dollars it shows: ``Description`` = :func:`calibration_label`, ``Calibration`` = the calibration as
    JSON (``Calibration.to_dict``; ``null`` for raw USD)."""
    plt = use_agg()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "Software": "liqmap",
        "Description": calibration_label(calibration),
        "Calibration": json.dumps(calibration.to_dict() if calibration else None),
    }
    fig.savefig(out, facecolor=fig.get_facecolor(), metadata=metadata)
    plt.close(fig)
    return out
