"""The one long/short palette, read by every layer that draws: the page (served as CSS variables by
``GET /api/palette.css``), the PNG renders (:mod:`liqmap.render.style`, which re-exports both) and the Pine
export (:func:`liqmap.analysis.export.to_pine`). A module of constants with no imports, so the pure layers
can read it."""

LONG_COLOR = "#ff5e7a"
"""THE colour of longs (liquidated on a fall = forced sells: red, as on exchange liquidation feeds)."""
SHORT_COLOR = "#39d98a"
"""THE colour of shorts (liquidated on a rise = forced buys: green)."""
