"""End to end in real headless Chromium: `liqmap serve` on the demo data, the page draws, reacts, updates live."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from conftest import new_bar_records

from liqmap.service.encode import decode_array

# Pixel statistics of the heatmap canvas, computed in the page.
CANVAS_STATS = """() => {
  const c = document.getElementById('heatmap');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0, sum = 0, sq = 0; const colours = new Set();
  for (let i = 0; i < d.length; i += 4 * 7) {
    const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    n++; sum += y; sq += y * y;
    if (colours.size < 5000) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  }
  const mean = sum / n;
  return { std: Math.sqrt(sq / n - mean * mean), colours: colours.size, url: c.toDataURL() };
}"""


def _usd(value: float) -> str:
    """The page's USD format (app.js fmtUsd), without the sign and the dollar."""
    a = abs(value)
    if a >= 1e9:
        return f"{a / 1e9:.2f}B"
    if a >= 1e6:
        return f"{a / 1e6:.2f}M"
    if a >= 1e3:
        return f"{a / 1e3:.1f}K"
    return f"{a:.0f}"


def _digest(stats: dict) -> str:
    return hashlib.sha256(stats["url"].encode()).hexdigest()


def _open(browser, server, **context) -> object:
    page = browser.new_page(**context)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.on("request", lambda req: None if req.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:"))
            else errors.append(f"external request: {req.url}"))
    page.liqmap_errors = errors
    page.goto(server.url + "/")
    page.wait_for_function("document.body.dataset.firstDraw === '1'", timeout=15_000)
    page.wait_for_function("window.liqmap.realized !== null", timeout=10_000)
    return page


def test_heatmap_is_drawn_with_candles_and_legend(browser, server, output_dir):
    page = _open(browser, server, viewport={"width": 1400, "height": 820})
    stats = page.evaluate(CANVAS_STATS)
    assert stats["std"] > 20 and stats["colours"] > 200, stats["std"]  # a picture, not a blank canvas
    assert page.evaluate("performance.getEntriesByName('liqmap:first-draw').length") == 1
    api = httpx.get(f"{server.url}/api/heatmap", params={"symbol": "BTC", "range": "7d"}).json()
    as_of = datetime.fromtimestamp((api["times"][-1] + api["interval_ms"]) / 1000, tz=UTC)
    assert f"data as of {as_of:%Y-%m-%d %H:%M} UTC" in page.inner_text("#asof")
    assert float(page.inner_text("#last-price").replace(",", "")) == pytest.approx(api["last_price"], abs=0.006)
    legend = page.evaluate("(() => { const c = document.getElementById('legend');"
                           " return c.getContext('2d').getImageData(0, 0, c.width, 10).data.some(v => v > 100); })()")
    assert legend
    assert "Longs below" in page.inner_text("#side-stats")
    # The page's local-maximum cluster rule (util.js) picks the same levels as the API's (encode.py).
    page_clusters = page.evaluate("""async () => {
      // float64 cells (sparse JSON), so that both rules see the same numbers
      const get = async (side) => (await fetch(`/api/heatmap?symbol=BTC&range=7d&format=sparse&side=${side}`)).json();
      const [L, S] = [await get('long'), await get('short')];
      const B = L.price_edges.length - 1, k = L.times.length - 1, centers = new Float64Array(B);
      for (let b = 0; b < B; b++) centers[b] = 0.5 * (L.price_edges[b] + L.price_edges[b + 1]);
      const column = (sp) => { const out = new Float64Array(B); for (const [kk, b, v] of sp.cells) if (kk === k) out[b] = v; return out; };
      const m = { price: L.candles.close[k], centers, long: column(L), short: column(S) };
      return window.LiqmapUtil.localClusters(m);
    }""")
    api_clusters = httpx.get(f"{server.url}/api/liqmap", params={"symbol": "BTC", "range": "7d"}).json()["clusters"]
    for side in ("above", "below"):
        assert [c["bin"] for c in page_clusters[side]] == [c["bin"] for c in api_clusters[side]], side
    page.screenshot(path=str(output_dir / "browser-desktop.png"))
    assert page.liqmap_errors == []
    page.close()


def test_toggling_a_control_changes_the_request_and_the_picture(browser, server, output_dir):
    page = _open(browser, server, viewport={"width": 1400, "height": 820})
    before = _digest(page.evaluate(CANVAS_STATS))
    with page.expect_response(lambda r: "/api/heatmap" in r.url and "side=net" in r.url) as info:
        page.click("#side button[data-value='net']")
    assert info.value.status == 200
    page.wait_for_function("window.liqmap.data && window.liqmap.data.side === 'net'")
    page.wait_for_timeout(100)
    net = page.evaluate(CANVAS_STATS)
    assert _digest(net) != before and net["std"] > 10
    assert "side=net" in page.url  # the view is in the address (shareable)
    page.screenshot(path=str(output_dir / "browser-net.png"))
    with page.expect_response(lambda r: "/api/heatmap" in r.url and "range=30d" in r.url and "leverage=" in r.url):
        page.click("#range button[data-value='30d']")
        page.click("#leverage button:nth-child(2)")
    page.wait_for_function("window.liqmap.data && window.liqmap.data.view.range === '30d' "
                           "&& window.liqmap.data.view.leverage !== 'all'")
    page.wait_for_timeout(100)
    assert _digest(page.evaluate(CANVAS_STATS)) not in (before, _digest(net))
    assert page.evaluate("window.liqmap.data.K") == 720  # 30 days of hourly columns
    page.screenshot(path=str(output_dir / "browser-30d-leverage.png"))
    assert page.liqmap_errors == []
    page.close()


def test_hover_shows_tooltip_and_moves_the_liquidation_map(browser, server, output_dir):
    page = _open(browser, server, viewport={"width": 1400, "height": 820})
    box = page.locator("#heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.45)
    tip = page.locator("#tooltip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    for word in ("time", "price", "long+short", "cum. to price", "longs · shorts", "$", "UTC"):
        assert word in text
    k = page.evaluate("window.liqmap.hover.k")
    assert 0 < k < page.evaluate("window.liqmap.data.K") - 1
    assert "(hover)" in page.inner_text("#liqmap-title")
    # The page's cell equals the model's (the API's exact f32 grid, within the u16 quantisation), and the
    # tooltip's cumulative figure is the sum from that cell to the column's price bin.
    hover = page.evaluate("(() => { const s = window.liqmap, h = s.hover, d = s.data;"
                          " return {k: h.k, b: h.b, cell: d.grid[h.k * d.B + h.b], close: d.candles.close[h.k]}; })()")
    body = httpx.get(f"{server.url}/api/heatmap", params={"symbol": "BTC", "range": "7d", "encoding": "u16"}).json()
    exact = decode_array(httpx.get(f"{server.url}/api/heatmap",
                                   params={"symbol": "BTC", "range": "7d", "encoding": "f32"}).json()["grid"])
    assert abs(hover["cell"] - exact[hover["k"], hover["b"]]) <= body["grid"]["scale"] / 2 + 1e-3
    edges = np.asarray(body["price_edges"])
    price_bin = int(np.floor((hover["close"] - edges[0]) / (edges[-1] - edges[0]) * (len(edges) - 1)))
    lo, hi = sorted((hover["b"], price_bin))
    cumulative = exact[hover["k"], lo:hi + 1].sum()
    shown = text.split("cum. to price")[1].split("$")[1].split()[0]
    assert shown == _usd(cumulative) or shown == _usd(cumulative * (1 + 1e-4)) or shown == _usd(cumulative * (1 - 1e-4))
    page.screenshot(path=str(output_dir / "browser-hover.png"))
    page.close()


def test_phone_portrait_layout_and_pinch_zoom(browser, server, output_dir):
    page = _open(browser, server, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                 has_touch=True)
    chart = page.locator("#heatmap").bounding_box()
    side = page.locator("#liqmap").bounding_box()
    assert side["y"] >= chart["y"] + chart["height"] - 1  # stacked, not side by side
    assert chart["width"] >= 380 and chart["height"] > 300
    assert page.evaluate("document.documentElement.scrollWidth") <= 391  # no sideways scrolling
    assert page.evaluate(CANVAS_STATS)["std"] > 20
    page.tap("#menu-btn")  # the controls drawer (tests/browser/test_trader_screen.py checks every control)
    for selector in ("#range button", "#side button", "#symbol"):
        height = page.locator(selector).first.bounding_box()["height"]
        assert height >= 30, selector  # touch-sized controls
    width_before = page.evaluate("window.liqmap.view.x1 - window.liqmap.view.x0")
    # Pinch out with two touch pointers (pointer events, as a phone sends them).
    page.evaluate("""(() => {
      const c = document.getElementById('heatmap'), b = c.getBoundingClientRect(), cy = b.top + b.height / 2;
      const ev = (type, id, x) => c.dispatchEvent(new PointerEvent(type, {pointerId: id, pointerType: 'touch',
        clientX: x, clientY: cy, bubbles: true, isPrimary: id === 1}));
      const mid = b.left + b.width / 2;
      ev('pointerdown', 1, mid - 40); ev('pointerdown', 2, mid + 40);
      for (let s = 1; s <= 5; s++) { ev('pointermove', 1, mid - 40 - 20 * s); ev('pointermove', 2, mid + 40 + 20 * s); }
      ev('pointerup', 1, mid - 140); ev('pointerup', 2, mid + 140);
    })()""")
    width_after = page.evaluate("window.liqmap.view.x1 - window.liqmap.view.x0")
    assert width_after == pytest.approx(width_before * 80 / 280, rel=0.05)
    page.screenshot(path=str(output_dir / "browser-phone.png"))
    page.tap("#reset-view")  # a visible way back on a touch screen
    assert page.evaluate("window.liqmap.view.x1 - window.liqmap.view.x0") == width_before
    assert page.locator("#reset-view").is_hidden()
    assert page.liqmap_errors == []
    page.close()


def test_live_update_arrives_without_reload(browser, server, output_dir):
    page = _open(browser, server, viewport={"width": 1400, "height": 820})
    page.wait_for_function("document.getElementById('ws-state').dataset.socket === 'open'")
    page.wait_for_timeout(300)  # the subscription is sent right after the socket opens
    before = _digest(page.evaluate(CANVAS_STATS))
    k_before = page.evaluate("window.liqmap.data.K")
    last = page.evaluate("window.liqmap.data.times[window.liqmap.data.K - 1]")
    new_ts = last + 3_600_000
    records = new_bar_records(new_ts, oi_ts=new_ts + 3_600_000)
    page.evaluate("window.__sameDocument = true")
    r = httpx.post(f"{server.url}/api/records", json=records, headers={"X-Liqmap-Token": server.token}, timeout=10)
    assert r.status_code == 200, r.text
    page.wait_for_function(f"window.liqmap.data.times[window.liqmap.data.K - 1] === {new_ts}", timeout=10_000)
    page.wait_for_function("window.liqmap.realized.prints.length > 0", timeout=5_000)
    assert page.evaluate("window.liqmap.data.K") == k_before  # the 7-day window slid by one column
    as_of = datetime.fromtimestamp((new_ts + 3_600_000) / 1000, tz=UTC)
    assert f"data as of {as_of:%Y-%m-%d %H:%M} UTC" in page.inner_text("#asof")
    assert float(page.inner_text("#last-price").replace(",", "")) == 78100.0
    assert _digest(page.evaluate(CANVAS_STATS)) != before
    assert page.evaluate("window.__sameDocument === true")  # updated in place, no page reload
    # The columns that arrived over the socket equal the model's output at the new data version.
    exact = decode_array(httpx.get(f"{server.url}/api/heatmap",
                                   params={"symbol": "BTC", "range": "7d", "encoding": "f32"}).json()["grid"])
    page_grid = np.asarray(page.evaluate("Array.from(window.liqmap.data.grid)")).reshape(exact.shape)
    scale = np.abs(exact).max() / 65535
    assert np.abs(page_grid[-2:] - exact[-2:]).max() <= scale + 1e-3
    assert page.evaluate("window.liqmapStats.liveDraws") >= 1
    page.screenshot(path=str(output_dir / "browser-live.png"))
    assert page.liqmap_errors == []
    page.close()


def test_sensitivity_and_wheel_zoom_redraw_without_requests(browser, server):
    page = _open(browser, server, viewport={"width": 1200, "height": 760})
    heatmap_requests = "window.liqmapStats.requests.filter(r => r.url.startsWith('/api/heatmap')).length"
    requests = page.evaluate(heatmap_requests)
    vmax = page.evaluate("window.liqmap.vmax")
    before = _digest(page.evaluate(CANVAS_STATS))
    page.fill("#sens", "90")
    page.dispatch_event("#sens", "input")
    assert page.evaluate("window.liqmap.vmax") < vmax  # clipping at a lower percentile lowers the top colour
    assert "sens=90" in page.url
    box = page.locator("#heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    width = page.evaluate("window.liqmap.view.x1 - window.liqmap.view.x0")
    page.mouse.wheel(0, -300)
    page.wait_for_function(f"window.liqmap.view.x1 - window.liqmap.view.x0 < {width}")
    assert _digest(page.evaluate(CANVAS_STATS)) != before
    page.dblclick("#heatmap")
    assert page.evaluate("window.liqmap.view.x1 - window.liqmap.view.x0") == width
    assert page.evaluate(heatmap_requests) == requests  # all local, no refetch
    assert page.liqmap_errors == []
    page.close()
