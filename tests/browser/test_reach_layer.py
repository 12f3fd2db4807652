"""The reach probability on the liquidation map (reach.js) in real headless Chromium, on a desktop and a
phone viewport: the P(touch 24h) curve is drawn where GET /api/liqmap's `reach_24h` puts it (x = P across
the plot, y = the bin's price), with its legend, and is taken away while the map shows a hovered past
column (the curves belong to the latest price)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

CURVE = (0xFF, 0xD1, 0x66)  # reach.js COLOR

PIXELS = """([x, y, half]) => {
  const c = document.getElementById('liqmap'), dpr = c.width / c.clientWidth;
  const px = Math.round((x - half) * dpr), py = Math.round((y - half) * dpr), n = Math.max(1, Math.round(2 * half * dpr));
  return Array.from(c.getContext('2d').getImageData(px, py, n, n).data);
}"""


def _near_curve_colour(rgba: list[int]) -> bool:
    pixels = np.asarray(rgba, dtype=float).reshape(-1, 4)[:, :3]
    return bool((np.abs(pixels - CURVE).sum(axis=1) < 60).any())


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_reach_curve_is_drawn_where_the_api_puts_it(browser, server, output_dir: Path, viewport) -> None:
    page = browser.new_page(viewport=viewport, device_scale_factor=2 if viewport["width"] < 600 else 1)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.wait_for_function("window.liqmapReachLayer && window.liqmapReachLayer.drawn", timeout=60_000)
    drawn = page.evaluate("window.liqmapReachLayer.drawn")
    view = page.evaluate("({y0: window.liqmap.view.y0, y1: window.liqmap.view.y1, "
                         "H: document.getElementById('liqmap').clientHeight})")
    body = httpx.get(f"{server.url}/api/liqmap", params={"symbol": "BTC", "range": "7d", "exchanges": "all"},
                     timeout=60).json()
    assert drawn["ts"] == body["ts"] and drawn["price"] == body["price"]
    r = drawn["rect"]
    edges = np.asarray(body["price_edges"])
    centers = 0.5 * (edges[1:] + edges[:-1])
    p24 = np.asarray(body["reach_24h"], dtype=float)
    ys = r["y"] + (1 - (centers - view["y0"]) / (view["y1"] - view["y0"])) * r["h"]
    xs = r["x"] + p24 * r["w"]
    top, bottom = max(r["y"], 0), min(r["y"] + r["h"], view["H"])
    # bins on the curve's sloping part, inside the visible plot, away from the legend and the axis strip
    usable = ((p24 > 0.15) & (p24 < 0.85) & (ys > top + 44) & (ys < bottom - 24)
              & (centers > view["y0"]) & (centers < view["y1"]))
    picks = np.flatnonzero(usable)
    assert picks.size >= 4, "the 7-day view spans prices with P(touch 24h) between 15% and 85%"
    for i in picks[:: max(1, picks.size // 6)]:
        assert _near_curve_colour(page.evaluate(PIXELS, [float(xs[i]), float(ys[i]), 2.5])), (
            f"no curve pixel at P={p24[i]:.2f}, price {centers[i]:.0f}")
    # the legend's text and line samples, top left of the visible plot
    assert _near_curve_colour(page.evaluate(PIXELS, [r["x"] + 100, top + 22, 14]))
    page.locator("#liqmap").scroll_into_view_if_needed()
    page.locator("#liqmap").screenshot(path=str(output_dir / f"reach-liqmap-{viewport['width']}.png"))

    # hovering a past column: the map shows that column, the latest price's curves are taken away
    page.locator("#heatmap").scroll_into_view_if_needed()
    box = page.locator("#heatmap").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.wait_for_function("window.liqmap.hover != null && window.liqmapReachLayer.drawn === null", timeout=10_000)
    assert errors == []
    page.close()
