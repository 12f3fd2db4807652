"""Export of the current levels (rows for CSV/JSON, a TradingView Pine Script v5 snippet) and of heatmap
grids and levels as columns for tables (``liqmap export``).

Pure: each function returns text or arrays; the caller writes them where it wants.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime

import numpy as np

from liqmap.analysis.levels import SessionPlan
from liqmap.model.result import Heatmap
from liqmap.palette import LONG_COLOR, SHORT_COLOR

LEVEL_FIELDS: tuple[str, ...] = (
    "symbol",
    "ts",
    "kind",
    "side",
    "price_low",
    "price_high",
    "peak_price",
    "usd",
    "share",
    "distance_pct",
    "age",
    "growth_pct",
    "round_price",
)


def level_rows(plan: SessionPlan) -> list[dict[str, object]]:
    """One row per cluster (``kind="cluster"``) and per stack (``kind="stack"``), nearest first."""
    confluence = {(c.cluster.side, c.cluster.first_bin): c.round_price for c in plan.confluence}
    rows: list[dict[str, object]] = []
    for c in plan.clusters:
        rows.append(
            {
                "symbol": plan.symbol,
                "ts": plan.ts,
                "kind": "cluster",
                "side": c.side,
                "price_low": c.price_low,
                "price_high": c.price_high,
                "peak_price": c.peak_price,
                "usd": c.usd,
                "share": c.share,
                "distance_pct": c.distance_pct,
                "age": c.age,
                "growth_pct": c.growth_pct,
                "round_price": confluence.get((c.side, c.first_bin)),
            }
        )
    for s in plan.stacks:
        rows.append(
            {
                "symbol": plan.symbol,
                "ts": plan.ts,
                "kind": "stack",
                "side": s.side,
                "price_low": s.price_low,
                "price_high": s.price_high,
                "peak_price": None,
                "usd": s.sweep_usd,
                "share": None,
                "distance_pct": s.distance_pct,
                "age": None,
                "growth_pct": None,
                "round_price": None,
            }
        )
    return rows


def level_columns(plan: SessionPlan) -> dict[str, list[object]]:
    """:func:`level_rows` as one list per field (:data:`LEVEL_FIELDS`), missing values None."""
    rows = level_rows(plan)
    return {name: [row[name] for row in rows] for name in LEVEL_FIELDS}


def heatmap_columns(heatmap: Heatmap) -> dict[str, np.ndarray]:
    """Every cell of the grid as a row, column by column (time-major, prices ascending): ``ts`` (the
    column's open time, ms), ``price_low`` / ``price_high`` (the bin's edges), ``long_usd`` / ``short_usd``
    (outstanding modelled USD). ``K × B`` rows; reshape ``long_usd`` to ``(K, B)`` to get the grid back."""
    times = np.asarray(heatmap.times, dtype=np.int64)
    edges = np.asarray(heatmap.price_edges, dtype=np.float64)
    k, b = np.asarray(heatmap.long).shape
    return {
        "ts": np.repeat(times, b),
        "price_low": np.tile(edges[:-1], k),
        "price_high": np.tile(edges[1:], k),
        "long_usd": np.asarray(heatmap.long, dtype=np.float64).ravel(),
        "short_usd": np.asarray(heatmap.short, dtype=np.float64).ravel(),
    }


def to_csv(plan: SessionPlan) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(LEVEL_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in level_rows(plan):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def to_json(plan: SessionPlan) -> str:
    return json.dumps(plan.to_dict(), indent=2, allow_nan=False, default=_refuse)


def _refuse(value: object) -> object:
    raise TypeError(f"not JSON serialisable: {value!r}")


def _usd_label(usd: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(usd) >= scale:
            return f"${usd / scale:.1f}{unit}"
    return f"${usd:.0f}"


def _pine_number(value: float) -> str:
    """Shortest round-tripping decimal, never in exponent form (0.00001234, not 1.234e-05)."""
    if not math.isfinite(value):
        raise ValueError(f"cannot write {value} into Pine")
    return str(np.format_float_positional(float(value), trim="-"))


def _pine_string(text: str) -> str:
    # Pine string literals: double quotes; keep the label to characters that need no escaping.
    return '"' + "".join(ch for ch in text if ch not in '"\\\n\r') + '"'


def _pine_price(value: float) -> str:
    """A price rounded to the chart's tick when the script runs (``math.round_to_mintick``)."""
    return f"math.round_to_mintick({_pine_number(value)})"


def to_pine(plan: SessionPlan) -> str:
    """A Pine Script v5 indicator drawing each cluster's peak as a horizontal line with a label, and each
    cluster's range as a pair of dotted lines, in the web page's colours (shorts above, longs below).

    The drawings live in ``var`` arrays that are emptied (each drawing deleted) before the last bar
    redraws them, so a chart left open on realtime bars keeps one set instead of adding a set per bar;
    prices are rounded to the symbol's tick (``math.round_to_mintick``)."""
    stamp = datetime.fromtimestamp(plan.ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"liqmap {plan.symbol} levels {stamp}"
    lines = [
        "//@version=5",
        f"// Generated by liqmap from the snapshot at {stamp}, price {plan.price:.6g}.",
        f"indicator({_pine_string(title)}, overlay=true, max_lines_count=500, max_labels_count=500)",
        'showRanges = input.bool(true, "Show cluster ranges")',
        f'longColour = input.color({LONG_COLOR}, "Longs (liquidated below price)")',
        f'shortColour = input.color({SHORT_COLOR}, "Shorts (liquidated above price)")',
        "var liqLines = array.new_line()",
        "var liqLabels = array.new_label()",
        "if barstate.islast",
        "    while array.size(liqLines) > 0",
        "        line.delete(array.pop(liqLines))",
        "    while array.size(liqLabels) > 0",
        "        label.delete(array.pop(liqLabels))",
    ]
    body: list[str] = []
    for c in plan.clusters:
        colour = "shortColour" if c.side == "short" else "longColour"
        peak = _pine_price(c.peak_price)
        text = f"{c.side} {_usd_label(c.usd)} {c.distance_pct:+.2f}%"
        body.append(
            f"    array.push(liqLines, line.new(bar_index - 1, {peak}, bar_index, {peak}, extend=extend.both, "
            f"color={colour}, width=2))"
        )
        body.append(
            f"    array.push(liqLabels, label.new(bar_index, {peak}, {_pine_string(text)}, "
            f"style=label.style_label_left, color=color.new({colour}, 70), textcolor=color.white))"
        )
        body.append("    if showRanges")
        for edge in (c.price_low, c.price_high):
            e = _pine_price(edge)
            body.append(
                f"        array.push(liqLines, line.new(bar_index - 1, {e}, bar_index, {e}, extend=extend.both, "
                f"color=color.new({colour}, 60), style=line.style_dotted))"
            )
    if not body:
        body.append('    array.push(liqLabels, label.new(bar_index, close, "no liquidation clusters", '
                    "style=label.style_label_left))")
    return "\n".join(lines + body) + "\n"
