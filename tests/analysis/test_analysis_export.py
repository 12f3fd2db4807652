"""Levels export: CSV, JSON and the Pine Script v5 snippet (checked for structure and syntax rules)."""

from __future__ import annotations

import csv
import io
import json

from analysis_kit import reference

from liqmap.analysis.export import LEVEL_FIELDS, level_rows, to_csv, to_json, to_pine
from liqmap.analysis.levels import session_plan


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


class PineRun:
    """Runs the subset of Pine v5 the snippet uses, from pynescript's syntax tree, bar after bar:
    ``var`` declarations keep their value across bars, other assignments are re-run on every bar,
    drawings are objects that stay on the chart until ``line.delete`` / ``label.delete``."""

    def __init__(self, script: str, mintick: float) -> None:
        from pynescript import ast

        self.ast = ast
        self.tree = ast.parse(script)  # raises pynescript's SyntaxError on anything outside Pine v5's grammar
        self.mintick = mintick
        self.vars: dict[str, object] = {}
        self.chart: dict[str, list[dict[str, object]]] = {"line": [], "label": []}
        self.bar_index = 0
        self.islast = False

    def bar(self, *, islast: bool) -> None:
        self.islast = islast
        scope = dict(self.vars)
        for node in self.tree.body:
            self.statement(node, scope)
        self.bar_index += 1

    def statement(self, node: object, scope: dict[str, object]) -> None:
        ast = self.ast
        if isinstance(node, ast.Expr):
            node = node.value
        if isinstance(node, ast.Assign):
            name = node.target.id
            if isinstance(getattr(node, "mode", None), ast.Var):
                if name not in self.vars:
                    self.vars[name] = self.value(node.value, scope)
                scope[name] = self.vars[name]
            else:
                scope[name] = self.value(node.value, scope)
        elif isinstance(node, ast.If):
            if self.value(node.test, scope):
                for child in node.body:
                    self.statement(child, scope)
        elif isinstance(node, ast.While):
            while self.value(node.test, scope):
                for child in node.body:
                    self.statement(child, scope)
        else:
            self.value(node, scope)

    def value(self, node: object, scope: dict[str, object]) -> object:
        ast = self.ast
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return {"bar_index": self.bar_index, "close": 100.0}.get(node.id, scope.get(node.id))
        if isinstance(node, ast.Attribute):
            name = f"{node.value.id}.{node.attr}"
            return self.islast if name == "barstate.islast" else name
        if isinstance(node, ast.BinOp):
            assert isinstance(node.op, ast.Sub)
            return self.value(node.left, scope) - self.value(node.right, scope)
        if isinstance(node, ast.Compare):
            assert [type(op) for op in node.ops] == [ast.Gt]
            return self.value(node.left, scope) > self.value(node.comparators[0], scope)
        assert isinstance(node, ast.Call), f"construct outside the expected subset: {ast.dump(node)}"
        func = node.func.id if isinstance(node.func, ast.Name) else f"{node.func.value.id}.{node.func.attr}"
        args = [self.value(a.value, scope) for a in node.args if a.name is None]
        kwargs = {a.name: self.value(a.value, scope) for a in node.args if a.name is not None}
        if func in ("line.new", "label.new"):
            kind = func.split(".")[0]
            drawing = {"kind": kind, "y": args[1], "args": args, **kwargs}
            self.chart[kind].append(drawing)
            return drawing
        if func in ("line.delete", "label.delete"):
            self.chart[func.split(".")[0]].remove(args[0])
            return None
        if func in ("array.new_line", "array.new_label"):
            return []
        if func == "array.size":
            return len(args[0])
        if func == "array.pop":
            return args[0].pop()
        if func == "array.push":
            args[0].append(args[1])
            return None
        if func == "math.round_to_mintick":
            return round(args[0] / self.mintick) * self.mintick
        if func in ("input.bool", "input.color"):
            return args[0]
        if func == "color.new":
            return (args[0], args[1])
        assert func == "indicator", f"not a Pine built-in used here: {func}"
        return None


def _run(text: str, *, history: int, realtime: int, mintick: float = 0.5) -> PineRun:
    run = PineRun(text, mintick)
    for _ in range(history):
        run.bar(islast=False)
    for _ in range(realtime):  # a chart left open: every realtime update runs the script on the last bar
        run.bar(islast=True)
    return run


def test_pine_keeps_one_set_of_drawings_on_a_chart_left_open() -> None:
    from liqmap.render.style import LONG_COLOR, SHORT_COLOR

    plan = _plan()
    text = to_pine(plan)
    assert text.startswith("//@version=5\n")
    for realtime in (1, 5):
        run = _run(text, history=20, realtime=realtime)
        lines, labels = run.chart["line"], run.chart["label"]
        assert len(lines) == 3 * len(plan.clusters) and len(labels) == len(plan.clusters)
    colour = {"short": SHORT_COLOR, "long": LONG_COLOR}
    peaks = [d for d in lines if d.get("width") == 2]
    assert [(d["y"], d["color"]) for d in peaks] == [
        (round(c.peak_price / 0.5) * 0.5, colour[c.side]) for c in plan.clusters
    ]
    ranges = [d["y"] for d in lines if d.get("style") == "line.style_dotted"]
    assert ranges == [round(e / 0.5) * 0.5 for c in plan.clusters for e in (c.price_low, c.price_high)]
    assert all(d["color"] == (colour[c.side], 60) for d, c in zip(
        [d for d in lines if d.get("style")][::2], plan.clusters, strict=True))
    assert [lab["args"][2].split()[0] for lab in labels] == [c.side for c in plan.clusters]


def test_pine_rounds_prices_to_the_tick() -> None:
    plan = _plan()
    run = _run(to_pine(plan), history=1, realtime=1, mintick=2.0)
    assert {d["y"] % 2.0 for d in run.chart["line"]} == {0.0}
    # 97.5 (a long peak) rounds to 98 on a 2.0 tick
    assert 98.0 in {d["y"] for d in run.chart["line"]}


def test_page_colours_are_the_ones_pine_uses() -> None:
    import re
    from pathlib import Path

    import liqmap.service
    from liqmap.render.style import LONG_COLOR, SHORT_COLOR

    css = (Path(liqmap.service.__file__).parent / "static" / "style.css").read_text()
    found = dict(re.findall(r"--(long|short):\s*(#[0-9a-fA-F]{6})", css))
    assert found == {"long": LONG_COLOR, "short": SHORT_COLOR}


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
    run = _run(to_pine(plan_of(flat)), history=3, realtime=4)
    assert run.chart["line"] == [] and [lab["args"][2] for lab in run.chart["label"]] == ["no liquidation clusters"]
