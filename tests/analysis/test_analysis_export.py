"""Levels export: CSV, JSON and the Pine Script v5 snippet (checked for structure and syntax rules)."""

from __future__ import annotations

import csv
import io
import json
import re

from analysis_kit import reference

from liqmap.analysis.export import LEVEL_FIELDS, level_rows, to_csv, to_json, to_pine
from liqmap.analysis.levels import session_plan

# Pine v5 built-ins the snippet may call, and the constants it may name.
PINE_CALLS = {"indicator", "input.bool", "line.new", "label.new", "color.new"}
PINE_NAMES = {
    "overlay", "max_lines_count", "max_labels_count", "extend", "color", "width", "style", "textcolor",
    "bar_index", "barstate.islast", "showRanges", "close", "true", "extend.both", "color.red", "color.green",
    "color.white", "line.style_dotted", "label.style_label_left", "if",
}


def _plan():
    return session_plan(reference(), within_pct=10.0)


def test_csv_rows() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(_plan()))))
    assert tuple(rows[0]) == LEVEL_FIELDS
    clusters = [r for r in rows if r["kind"] == "cluster"]
    assert [(r["side"], float(r["price_low"]), float(r["usd"])) for r in clusters] == [
        ("long", 97.0, 20.0), ("short", 103.0, 21.0), ("short", 107.0, 7.0), ("long", 90.0, 8.0)
    ]
    (stack,) = [r for r in rows if r["kind"] == "stack"]
    assert (float(stack["price_low"]), float(stack["price_high"]), float(stack["usd"])) == (103.0, 108.0, 32.0)
    assert [r["round_price"] for r in clusters] == ["", "", "", "90.0"]


def test_json_is_the_plan() -> None:
    data = json.loads(to_json(_plan()))
    assert data["symbol"] == "BTC" and data["price"] == 100.0
    assert data["nearest_below"]["price_high"] == 99.0
    # within 10 %: shorts 6 background bins + C 21 + D 7 = 34; longs 7 background bins + A 20 + B 8 = 35
    assert (data["asymmetry"]["short_above"], data["asymmetry"]["long_below"]) == (34.0, 35.0)
    assert data["asymmetry"]["bias"] == -1 / 69
    assert len(data["clusters"]) == len(level_rows(_plan())) - len(data["stacks"])


def _strip_strings(line: str) -> str:
    assert line.count('"') % 2 == 0, f"unbalanced quotes: {line}"
    return re.sub(r'"[^"]*"', '""', line)


def test_pine_snippet_structure() -> None:
    plan = _plan()
    text = to_pine(plan)
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "//@version=5"
    code = [ln for ln in lines if not ln.lstrip().startswith("//")]
    assert sum(ln.startswith("indicator(") for ln in code) == 1
    assert "overlay=true" in next(ln for ln in code if ln.startswith("indicator("))
    previous_indent, opens_block = 0, False
    for ln in code:
        indent = len(ln) - len(ln.lstrip(" "))
        assert "\t" not in ln and indent % 4 == 0, f"Pine blocks are indented by 4 spaces: {ln!r}"
        if opens_block:
            assert indent == previous_indent + 4, f"block body must be indented: {ln!r}"
        else:
            assert indent <= previous_indent, f"unexpected indent: {ln!r}"
        bare = _strip_strings(ln)
        depth = 0
        for ch in bare:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            assert depth >= 0
        assert depth == 0, f"unbalanced parentheses: {ln!r}"
        for call in re.findall(r"([A-Za-z_][\w.]*)\s*\(", bare):
            assert call in PINE_CALLS, f"not a Pine built-in used here: {call}"
        names = set(re.findall(r"[A-Za-z_][\w.]*", re.sub(r"([A-Za-z_][\w.]*)\s*\(", "(", bare)))
        assert names <= PINE_NAMES | {"and", "not"}, f"unknown identifiers {names - PINE_NAMES}"
        opens_block = bare.lstrip().startswith("if ")
        previous_indent = indent
    body = "\n".join(code)
    number = r"(-?\d+(?:\.\d+)?)"  # Pine float literals written without exponent
    peaks = re.findall(rf"line\.new\(bar_index - 1, {number}, bar_index, {number}, extend=extend\.both, "
                       r"color=(color\.\w+), width=2\)", body)
    assert [(float(a), float(b), colour) for a, b, colour in peaks] == [
        (c.peak_price, c.peak_price, "color.red" if c.side == "short" else "color.green") for c in plan.clusters
    ]
    assert body.count("line.new(") == 3 * len(plan.clusters)
    assert body.count("label.new(") == len(plan.clusters)


def test_pine_numbers_never_use_exponents() -> None:
    from liqmap.analysis.export import _pine_number

    assert _pine_number(0.00001234) == "0.00001234"
    assert _pine_number(97_250.0) == "97250"
    assert float(_pine_number(1 / 3)) == 1 / 3


def test_pine_without_clusters_is_still_a_valid_indicator() -> None:
    import numpy as np

    from liqmap.analysis.levels import session_plan as plan_of
    from liqmap.model.result import LiquidationMap

    flat = LiquidationMap.from_bins(price_edges=np.arange(80.0, 121.0), long=np.ones(40), short=np.ones(40),
                                    price=100.0, ts=0, symbol="BTC")
    text = to_pine(plan_of(flat))
    assert text.startswith("//@version=5\n") and "line.new" not in text and 'label.new(bar_index, close, "' in text
