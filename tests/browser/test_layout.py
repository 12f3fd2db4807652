"""The page's layout in real headless Chromium on a desktop (1366x900) and a phone (390x844): the chart
screen (top bar, controls, heatmap, liquidation map) fits the desktop window and the accuracy panel starts at
the fold below it; on the phone everything stacks and nothing scrolls sideways; the liquidation map and the
legend name the calibration their dollars carry; an empty exact-positions panel is one line saying why."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Server

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

# Bounding boxes (CSS pixels, page coordinates at scroll 0) of the page's parts.
BOXES = """() => {
  const box = (sel) => { const e = document.querySelector(sel); if (!e) return null;
    const b = e.getBoundingClientRect(); return {x: b.x, y: b.y + window.scrollY, w: b.width, h: b.height,
      right: b.right, bottom: b.bottom + window.scrollY}; };
  return {screen: box('#screen'), heatmap: box('#heatmap'), panels: box('#panels'), legend: box('.legend-row'),
    liqmap: box('#liqmap'), title: box('#liqmap-title'), stats: box('#side-stats'), exact: box('#exact-panel'),
    accuracy: box('#accuracy-panel'), levels: box('#acc-levels'), sentences: box('#acc-sentences'),
    scrollWidth: document.documentElement.scrollWidth, scrollHeight: document.documentElement.scrollHeight};
}"""

# Elements of the accuracy panel whose content is wider than their box (cut or overflowing).
OVERFLOWING = """() => Array.from(document.querySelectorAll('#accuracy-panel *'))
  .filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).display !== 'inline')
  .map((e) => e.tagName + ' ' + e.textContent.slice(0, 40))"""


def _open(browser: Any, server: Server, viewport: dict[str, int]) -> Any:
    phone = viewport["width"] < 600
    ctx = browser.new_context(viewport=viewport, device_scale_factor=2 if phone else 1, is_mobile=phone,
                              has_touch=phone)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.liqmap_errors = errors
    page.goto(server.url + "/")
    page.wait_for_function("document.body.dataset.firstDraw === '1'", timeout=20_000)
    page.wait_for_selector("#acc-sentences", timeout=60_000)
    page.wait_for_function("document.getElementById('exact-panel')?.dataset.state === 'empty'", timeout=15_000)
    page.wait_for_function("document.getElementById('legend-note').textContent !== ''", timeout=10_000)
    return page


def _calibration(server: Server) -> dict[str, Any]:
    body = httpx.get(f"{server.url}/api/heatmap", params={"symbol": "BTC", "range": "7d"}, timeout=30).json()
    return dict(body["calibration"])


def _texts_name_the_calibration(page: Any, server: Server) -> None:
    cal = _calibration(server)
    assert cal["source"] == "coinglass"  # the demo data: calibrated to Coinglass's realized liquidations
    title = page.inner_text("#liqmap-title")
    assert "Liquidation map · USD by price · calibrated to Coinglass" in title and "UTC (latest)" in title
    note = page.inner_text("#legend-note")
    assert note == (f"USD calibrated to Coinglass (model × {cal['factor_long']:.3g} longs, "
                    f"× {cal['factor_short']:.3g} shorts)")


def _exact_panel_is_one_line(page: Any, boxes: dict[str, Any]) -> None:
    line = page.locator("#exact-coverage")
    assert line.inner_text() == "Exact positions: no Hyperliquid data for BTC"
    assert "liqmap positions collect" in (line.get_attribute("title") or "")  # the API's why, on hover
    assert page.locator("#exact-map").is_hidden() and page.locator("#exact-heat").is_hidden()
    assert boxes["exact"]["h"] <= 32  # one line, not a box of empty canvases
    assert line.evaluate("e => e.scrollWidth <= e.clientWidth")  # the whole sentence shows


def test_desktop_chart_screen_fits_and_the_accuracy_panel_starts_at_the_fold(browser, server, output_dir: Path):
    page = _open(browser, server, DESKTOP)
    b = page.evaluate(BOXES)
    height, width = DESKTOP["height"], DESKTOP["width"]
    # The chart screen is the window: the heatmap, its panels, the legend and the liquidation map whole.
    assert b["screen"]["y"] == 0 and b["screen"]["h"] == height
    for part in ("heatmap", "panels", "legend", "liqmap", "stats", "exact"):
        assert b[part]["y"] >= 0 and b[part]["bottom"] <= height, (part, b[part])
    assert b["heatmap"]["h"] >= 400 and b["heatmap"]["w"] >= 0.7 * width
    assert b["liqmap"]["x"] >= b["heatmap"]["right"]  # beside the heatmap
    assert b["liqmap"]["bottom"] >= b["heatmap"]["bottom"] - 24  # room for every price row of the heatmap's plot
    # The accuracy panel: below every chart, across the page, starting at the fold; reachable by scrolling.
    assert b["accuracy"]["y"] == height and b["accuracy"]["x"] == 0 and b["accuracy"]["w"] == width
    assert b["accuracy"]["bottom"] > height and abs(b["scrollHeight"] - b["accuracy"]["bottom"]) <= 1
    assert b["levels"]["y"] >= height and b["levels"]["right"] <= width
    assert b["sentences"]["right"] <= width and b["sentences"]["x"] > b["levels"]["x"]  # two columns
    assert b["scrollWidth"] <= width
    assert page.evaluate(OVERFLOWING) == []
    _texts_name_the_calibration(page, server)
    _exact_panel_is_one_line(page, b)
    page.screenshot(path=str(output_dir / "layout-desktop.png"), full_page=True)
    page.locator("#accuracy-panel").scroll_into_view_if_needed()
    assert page.locator("#acc-sentences").is_visible()
    assert page.liqmap_errors == []
    page.context.close()


def test_phone_stacks_everything_within_the_width(browser, server, output_dir: Path):
    page = _open(browser, server, PHONE)
    b = page.evaluate(BOXES)
    width = PHONE["width"]
    assert b["scrollWidth"] <= width  # no sideways page scroll, the accuracy table included
    # Stacked: heatmap, its panels and legend, the liquidation map with its title, the exact line, accuracy.
    order = ["heatmap", "panels", "legend", "title", "liqmap", "stats", "exact", "accuracy"]
    for upper, lower in itertools.pairwise(order):
        assert b[lower]["y"] >= b[upper]["bottom"] - 1, (upper, lower)
    for part in (*order, "levels", "sentences"):
        assert b[part]["x"] >= 0 and b[part]["right"] <= width, (part, b[part])
    assert b["heatmap"]["w"] >= 380 and b["heatmap"]["bottom"] <= PHONE["height"]  # the heatmap whole on screen
    assert page.evaluate(OVERFLOWING) == []  # every table cell shows its whole text
    cells = page.eval_on_selector_all("#acc-levels td", "tds => tds.map(td => td.getBoundingClientRect().height)")
    assert cells and max(cells) < 24  # one line a row, not a word broken over lines
    _texts_name_the_calibration(page, server)
    _exact_panel_is_one_line(page, b)
    page.screenshot(path=str(output_dir / "layout-phone.png"), full_page=True)
    # The controls: the drawer opens on screen, and every control in it is inside the width and touch-sized.
    page.tap("#menu-btn")
    boxes = page.eval_on_selector_all("#controls button, #controls select, #controls input",
                                      "es => es.map(e => { const r = e.getBoundingClientRect();"
                                      " return [r.x, r.right, r.height]; })")
    assert boxes and all(x >= 0 and right <= width + 0.5 and h >= 30 for x, right, h in boxes), boxes
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.liqmap_errors == []
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_hovering_keeps_the_title_saying_what_the_map_is(browser, server, viewport: dict[str, int]):
    page = _open(browser, server, viewport)
    box = page.locator("#heatmap").bounding_box()
    assert box is not None
    if viewport is PHONE:
        page.tap("#heatmap", position={"x": box["width"] * 0.3, "y": box["height"] * 0.5})
    else:
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.wait_for_function("window.liqmap.hover != null")
    title = page.inner_text("#liqmap-title")
    assert "USD by price · calibrated to Coinglass" in title and "UTC (hover)" in title
    assert page.liqmap_errors == []
    page.context.close()


def test_a_panel_taking_room_leaves_the_map_drawn_at_its_new_size(browser, server):
    """A module's panel appended to #ext-panels shrinks the liquidation map: the map is drawn again at its
    new size (no stretched bitmap), with the same title."""
    page = _open(browser, server, DESKTOP)
    size = "(() => { const c = document.getElementById('liqmap'), r = window.devicePixelRatio;" \
           " return [c.height, Math.round(c.clientHeight * r)]; })()"
    before = page.evaluate(size)
    assert before[0] == before[1]
    page.evaluate("""(() => { const p = document.createElement('div'); p.style.height = '120px';
      document.getElementById('ext-panels').appendChild(p); })()""")
    page.wait_for_function(f"(() => {{ const [h, css] = {size}; return h === css && h < {before[0]}; }})()")
    after = page.evaluate(size)
    assert before[1] - 121 <= after[1] <= before[1] - 120  # the panel's 120 px (± a rounded pixel)
    assert "USD by price · calibrated to Coinglass" in page.inner_text("#liqmap-title")
    assert page.liqmap_errors == []
    page.context.close()


@pytest.mark.parametrize("viewport", [{"width": 1024, "height": 640}, {"width": 844, "height": 390}],
                         ids=["small-laptop", "phone-landscape"])
def test_a_short_window_makes_the_screen_taller_not_the_panel_overlap(browser, server, viewport: dict[str, int]):
    """Below the charts' minimum heights the chart screen grows past the window (the page scrolls): the
    heatmap keeps its 300 px and the accuracy panel starts under the legend and the liquidation map."""
    page = _open(browser, server, viewport)
    b = page.evaluate(BOXES)
    assert b["heatmap"]["h"] >= 300
    assert b["screen"]["h"] > viewport["height"]
    for part in ("heatmap", "panels", "legend", "liqmap", "stats", "exact"):
        assert b[part]["bottom"] <= b["screen"]["bottom"] + 0.5, (part, b[part])
    assert b["accuracy"]["y"] >= b["screen"]["bottom"] - 0.5
    assert b["scrollWidth"] <= viewport["width"]
    # A phone held sideways gets the phone's layout: the controls in the drawer, the map under the heatmap.
    sideways = viewport["height"] < 500
    assert page.locator("#menu-btn").is_visible() == sideways
    assert page.locator("#range button").first.is_visible() == (not sideways)
    assert (b["liqmap"]["y"] >= b["legend"]["bottom"]) == sideways
    assert page.liqmap_errors == []
    page.context.close()
