"""The exact-position panel in real headless Chromium: tracked Hyperliquid positions beside the estimate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import Server, make_demo_db
from liqmap.store import DuckDBStore
from liqmap.types import OpenInterest, PositionSnapshot

# Share of painted pixels per half of the exact canvas (longs left, shorts right).
HALVES = """() => {
  const c = document.getElementById('exact-map');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let left = 0, right = 0;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const i = 4 * (y * c.width + x);
    if (d[i + 3] > 0 && (d[i] > 200 || d[i + 2] > 200)) { if (x < c.width / 2 - 2) left++; else if (x > c.width / 2 + 2) right++; }
  }
  return { left, right };
}"""

# Painted pixels of the exact heatmap in its last 5 % of width (the newest instants) and before.
HEAT = """() => {
  const c = document.getElementById('exact-heat');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let early = 0, late = 0;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    if (d[4 * (y * c.width + x) + 3] > 0) { if (x >= c.width * 0.95) late++; else early++; }
  }
  return { early, late };
}"""


@pytest.fixture(scope="module")
def exact_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = make_demo_db(tmp_path_factory.mktemp("exact") / "exact.duckdb")
    with DuckDBStore(db) as store:
        bars = store.read("bars", exchange="binance", symbol="BTC", columns=["ts_event", "close"])
        t, price = int(bars["ts_event"][-1]), float(bars["close"][-1])
        rows = [PositionSnapshot("hyperliquid", "BTC", "0xa", t, t, 2.0, price, price, price * 0.9, 10.0, "cross",
                                 0.0, 2 * price, 0.0),
                PositionSnapshot("hyperliquid", "BTC", "0xb", t, t, -1.0, price, price, price * 1.1, 10.0, "isolated",
                                 0.0, price, 0.0)]
        store.write([*rows, OpenInterest("hyperliquid", "BTC", t, t, 15.0, 15.0 * price, "BTC")])
    srv = Server(db)
    yield srv
    srv.stop()


def test_exact_panel_draws_longs_and_shorts_with_coverage(browser, exact_server) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(exact_server.url + "/")
    page.wait_for_function("document.getElementById('exact-panel')?.dataset.state === 'drawn'", timeout=15_000)
    halves = page.evaluate(HALVES)
    assert halves["left"] > 0 and halves["right"] > 0
    heat = page.evaluate(HEAT)
    # both snapshots are at the newest bar: only the last of the 96 columns over 24 h holds them
    assert heat["late"] > 0 and heat["early"] == 0
    text = page.inner_text("#exact-coverage")
    # 2 accounts, (2 + 1) / 2 / 15 = 10.0 % of the OI
    assert "2 accounts" in text and "10.0 % of HL OI" in text
    assert errors == []
    page.close()


def test_drawn_exact_panel_leaves_the_chart_screen_whole(browser, exact_server) -> None:  # type: ignore[no-untyped-def]
    """With positions to draw, the panel's two canvases sit side by side under the liquidation map, and the
    map keeps the heatmap's price rows within the 1366x900 window."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(exact_server.url + "/")
    page.wait_for_function("document.getElementById('exact-panel')?.dataset.state === 'drawn'", timeout=15_000)
    page.wait_for_function("document.body.dataset.firstDraw === '1'", timeout=15_000)
    boxes = page.evaluate("""['heatmap', 'liqmap', 'exact-map', 'exact-heat', 'exact-coverage'].map((id) => {
      const b = document.getElementById(id).getBoundingClientRect(); return [b.x, b.y, b.right, b.bottom]; })""")
    heatmap, liqmap, exact_map, exact_heat, coverage = boxes
    assert exact_map[1] == exact_heat[1] and exact_map[2] <= exact_heat[0]  # side by side
    assert exact_map[3] - exact_map[1] >= 100 and coverage[3] <= 900
    assert liqmap[3] >= heatmap[3] - 24  # down to the heatmap plot's bottom (app.js MARGIN.bottom)
    assert page.evaluate("document.getElementById('exact-coverage').textContent").startswith("2 accounts")
    page.close()
