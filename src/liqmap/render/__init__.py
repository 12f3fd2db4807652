"""Static pictures (PNG) of heatmaps and liquidation maps. matplotlib is imported lazily, with the
non-interactive Agg backend, inside the functions that draw."""

from liqmap.render.heatmap import render_heatmap
from liqmap.render.liqmap import render_liquidation_map
from liqmap.render.style import format_usd

__all__ = ["format_usd", "render_heatmap", "render_liquidation_map"]
