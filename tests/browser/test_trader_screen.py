"""The trader's screen in real headless Chromium at 1440x900 and on a phone (390x844): every control
reachable and operable by touch, panels that draw the stored values, the live/stale indicator following
the data's age, price tag and crosshair on the axes, one long/short palette, PNG save, and a symbol with
candles but no open interest."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Server, make_demo_db, new_bar_records
from liqmap.render.style import LONG_COLOR, SHORT_COLOR

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
AVAX = Path(__file__).resolve().parents[1] / "fixtures" / "files" / "AVAXUSDT-1m-2026-06.csv.gz"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo data plus real AVAX 1m klines (Binance, 2026-06-01) with no open interest at all."""
    from liqmap.ingest import import_file
    from liqmap.store import DuckDBStore

    db = make_demo_db(tmp_path_factory.mktemp("trader") / "demo.duckdb")
    with DuckDBStore(db) as store:
        import_file(store, AVAX)
    srv = Server(db)
    yield srv
    srv.stop()


def _open(browser: Any, server: Server, query: str = "", clock: datetime | None = None, **context: Any) -> Any:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: None if req.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
            else errors.append(f"external request: {req.url}"))
    if clock is not None:
        page.clock.set_fixed_time(clock)
    page.liqmap_errors = errors
    page.goto(f"{server.url}/{query}")
    page.wait_for_function("document.body.dataset.firstDraw === '1'", timeout=20_000)
    return page


def _rgb(hex_colour: str) -> list[int]:
    n = int(hex_colour.lstrip("#"), 16)
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255]


def _pixel(page: Any, canvas: str, x: float, y: float) -> list[int]:
    """RGB of the canvas at CSS pixel (x, y)."""
    return page.evaluate(f"""(() => {{
      const c = document.getElementById('{canvas}'), s = c.width / c.clientWidth;
      return Array.from(c.getContext('2d').getImageData(Math.round({x} * s), Math.round({y} * s), 1, 1).data).slice(0, 3);
    }})()""")


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# ---------------------------------------------------------------- phone


def test_phone_every_control_reachable_and_operable_by_touch(browser, server, output_dir) -> None:
    page = _open(browser, server, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1  # no sideways page
    menu = page.locator("#menu-btn")
    box = menu.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 30
    assert "7d" in menu.inner_text()  # the button says what is shown
    assert not page.locator("#range button").first.is_visible()  # closed drawer: controls hidden, not off-screen
    page.tap("#menu-btn")
    assert menu.get_attribute("aria-expanded") == "true"
    controls = page.locator("#controls button, #controls select, #controls input")
    assert controls.count() >= 25
    for i in range(controls.count()):
        b = controls.nth(i).bounding_box()
        assert b is not None, i
        assert b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] + 0.5, (i, b)  # on screen, no hidden overflow
        assert b["height"] >= 30, (i, b)  # touch-sized
    page.screenshot(path=str(output_dir / "trader-phone-menu.png"))
    # Operable by touch: each segmented control answers a tap with its state.
    for group, param in (("side", "side"), ("range", "range")):
        values = page.eval_on_selector_all(f"#{group} button", "bs => bs.map(b => b.dataset.value)")
        for value in values[:5]:
            page.tap(f"#{group} button[data-value='{value}']")
            assert page.evaluate(f"window.liqmap.params.{param}") == value
            assert page.locator(f"#{group} button[data-value='{value}']").get_attribute("class") == "on"
    page.tap("#leverage button[data-value='25']")
    assert page.evaluate("window.liqmap.params.leverage") == ["25"]
    page.tap("#age button[data-value='<4h']")
    assert page.evaluate("window.liqmap.params.age") == ["<4h"]
    page.tap("#exchanges button[data-value='binance']")
    assert page.evaluate("window.liqmap.params.exchanges") == ["binance"]
    page.tap("#panel-toggles button[data-value='funding']")
    assert page.evaluate("window.liqmap.panels.funding") is False
    page.select_option("#bin", "100")
    assert page.evaluate("window.liqmap.params.bin") == "100"
    assert page.liqmap_errors == []
    page.context.close()


def test_phone_time_axis_and_panels(browser, server, output_dir) -> None:
    page = _open(browser, server, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page.wait_for_function("window.liqmap.panelReadout && Number.isFinite(window.liqmap.panelReadout.oi)")
    labels = page.evaluate("window.liqmap.timeLabels")
    assert len(labels) >= 5  # a 7-day window: a label per day, not two
    assert all(b - a == labels[1] - labels[0] for a, b in itertools.pairwise(labels))
    panels = page.locator("#panels").bounding_box()
    assert panels is not None and panels["width"] >= PHONE["width"] - 12 and panels["height"] >= 4 * 50
    page.screenshot(path=str(output_dir / "trader-phone.png"), full_page=True)
    assert page.liqmap_errors == []
    page.context.close()


# ---------------------------------------------------------------- desktop


def _newest_bar(server: Server) -> int:
    meta = httpx.get(f"{server.url}/api/meta", timeout=10).json()
    return next(s["latest"] for s in meta["symbols"] if s["symbol"] == "BTC")


def test_stale_indicator_follows_the_datas_age(browser, server) -> None:
    newest = _newest_bar(server)
    # 30 minutes after the newest bar opened, with the socket up: live (green).
    fresh = _open(browser, server, clock=datetime.fromtimestamp((newest + 30 * 60_000) / 1000, tz=UTC),
                  viewport=DESKTOP)
    fresh.wait_for_function("document.getElementById('ws-state').dataset.socket === 'open'")
    live = fresh.locator("#ws-state")
    assert live.get_attribute("data-state") == "live" and live.inner_text() == "● live"
    assert live.evaluate("e => getComputedStyle(e).color") == "rgb(57, 217, 138)"
    fresh.context.close()
    # 200 days later: stale, with the age in months (30-day months: floor(200 / 30) = 6).
    old = _open(browser, server, clock=datetime.fromtimestamp((newest + 200 * 86_400_000) / 1000, tz=UTC),
                viewport=DESKTOP)
    old.wait_for_function("document.getElementById('ws-state').dataset.socket === 'open'")
    stale = old.locator("#ws-state")
    assert stale.get_attribute("data-state") == "stale"
    assert stale.inner_text() == f"● stale · {math.floor(200 / 30)} months old"
    assert stale.evaluate("e => getComputedStyle(e).color") != "rgb(57, 217, 138)"
    # 3 hours after a 1h bar: two bars missing is already stale.
    old.context.close()
    late = _open(browser, server, clock=datetime.fromtimestamp((newest + 3 * 3_600_000) / 1000, tz=UTC),
                 viewport=DESKTOP)
    late.wait_for_function("document.getElementById('ws-state').dataset.state !== 'offline'")
    assert late.locator("#ws-state").inner_text() == "● stale · 3 hours old"
    late.context.close()


def test_desktop_panels_draw_the_stored_values(browser, server, output_dir) -> None:
    page = _open(browser, server, viewport=DESKTOP)
    page.wait_for_function("""window.liqmap.panelReadout && Number.isFinite(window.liqmap.panelReadout.oi)
      && Number.isFinite(window.liqmap.panelReadout.funding) && Number.isFinite(window.liqmap.panelReadout.volume)
      && window.liqmap.realized !== null""")
    readout = page.evaluate("window.liqmap.panelReadout")
    times = page.evaluate("window.liqmap.data.times")
    interval = page.evaluate("window.liqmap.data.interval")
    start, end = times[0], times[-1] + interval
    col_start, col_end = times[-1], times[-1] + interval  # the latest column (no hover)
    assert readout["ts"] == col_start
    params = {"symbol": "BTC", "exchanges": "all", "start": start, "end": end}

    def raw(kind: str) -> list[dict]:
        return httpx.get(f"{server.url}/api/series", params={**params, "kind": kind}, timeout=30).json()["series"]

    # OI: each exchange's last stored value before the column's end, summed over exchanges.
    oi = sum([v for t, v in zip(s["ts"], s["value"], strict=True) if t < col_end][-1] for s in raw("oi"))
    assert readout["oi"] == pytest.approx(oi, rel=1e-9)
    # Funding: the mean of the exchanges' last stored rates before the column's end.
    rates = [[v for t, v in zip(s["ts"], s["value"], strict=True) if t < col_end][-1] for s in raw("funding")]
    assert readout["funding"] == pytest.approx(sum(rates) / len(rates), rel=1e-9)
    # Volume in USD: volume x close of the bars opening in the column; CVD: the taker delta summed from the start.
    vol = raw("volume")
    assert readout["volume"] == pytest.approx(sum(v for s in vol for t, v in zip(s["ts"], s["value"], strict=True)
                                                  if col_start <= t < col_end), rel=1e-9)
    assert readout["cvd"] == pytest.approx(sum(d for s in vol for t, d in zip(s["ts"], s["delta"], strict=True)
                                               if start <= t < col_end and d is not None), rel=1e-9)
    # Realized liquidations per side: prints and per-bar aggregates in the column.
    rz = httpx.get(f"{server.url}/api/liquidations", params={**params, "limit": 3000}, timeout=30).json()
    long = sum(p[4] for p in rz["prints"] if col_start <= p[0] < col_end and p[2] == "long")
    short = sum(p[4] for p in rz["prints"] if col_start <= p[0] < col_end and p[2] == "short")
    for b in rz["bars"]:
        for t, lu, su in zip(b["ts"], b["long_usd"], b["short_usd"], strict=True):
            if col_start <= t < col_end:
                long, short = long + lu, short + su
    assert readout["liqLong"] == pytest.approx(long, rel=1e-9)
    assert readout["liqShort"] == pytest.approx(short, rel=1e-9)
    # Hovering a panel reads that column out, and the heatmap shares the x axis.
    box = page.locator("#panels").bounding_box()
    heat = page.locator("#heatmap").bounding_box()
    assert box["x"] == heat["x"] and box["width"] == heat["width"]
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + 30)
    k = page.evaluate("window.liqmap.panelReadout.k")
    assert 0 < k < len(times) - 1
    assert page.evaluate("window.liqmap.panelReadout.ts") == times[k]
    # Each panel is drawn: the liquidations strip holds pixels in exactly the long and the short colour.
    colours = page.evaluate("""(() => {
      const c = document.getElementById('panels'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set(); for (let i = 0; i < d.length; i += 4) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
      return Array.from(seen);
    })()""")
    assert ",".join(map(str, _rgb(LONG_COLOR))) in colours and ",".join(map(str, _rgb(SHORT_COLOR))) in colours
    # Toggling a panel removes its strip and says so in the URL.
    height = box["height"]
    page.click("#panel-toggles button[data-value='oi']")
    assert page.locator("#panels").bounding_box()["height"] < height
    assert "panels=funding%2Cvolume%2Cliqs" in page.url or "panels=funding,volume,liqs" in page.url
    assert page.liqmap_errors == []
    page.context.close()


def test_desktop_layout_price_tag_crosshair_and_palette(browser, server, output_dir) -> None:
    page = _open(browser, server, viewport=DESKTOP)
    page.wait_for_function("window.liqmap.realized !== null")
    # The stats panel does not wrap and its footnote is above the fold.
    lines = page.eval_on_selector_all("#side-stats > div", """ds => ds.map(d => ({h: d.getBoundingClientRect().height,
      over: d.scrollWidth > d.clientWidth, bottom: d.getBoundingClientRect().bottom}))""")
    assert len(lines) == 4
    assert all(line["h"] < 20 and not line["over"] for line in lines), lines
    assert lines[-1]["bottom"] <= DESKTOP["height"]
    # The chart screen fits the window (the heatmap whole without scrolling); the accuracy panel follows it,
    # at the fold (tests/browser/test_layout.py checks the layout at both sizes).
    screen = page.locator("#screen").bounding_box()
    heatmap = page.locator("#heatmap").bounding_box()
    assert screen["y"] == 0 and screen["height"] == DESKTOP["height"]
    assert heatmap["y"] + heatmap["height"] <= DESKTOP["height"]
    assert page.locator("#accuracy-panel").bounding_box()["y"] == DESKTOP["height"]
    # Current-price tag on the price axis, in the price colour.
    geo = page.evaluate("""(() => { const c = document.getElementById('heatmap'), v = window.liqmap.view;
      return {w: c.clientWidth, h: c.clientHeight, y0: v.y0, y1: v.y1, last: window.liqmap.data.lastPrice}; })()""")
    top, height = 8, geo["h"] - 8 - 24  # app.js MARGIN
    y_price = top + (1 - (geo["last"] - geo["y0"]) / (geo["y1"] - geo["y0"])) * height
    plot_right = geo["w"] - 68
    assert _pixel(page, "heatmap", plot_right + 8, y_price) == [245, 230, 66]
    # Crosshair: both lines, a price readout on the price axis and a time readout on the time axis.
    row = """(y) => { const c = document.getElementById('heatmap'), s = c.width / c.clientWidth;
      return Array.from(c.getContext('2d').getImageData(0, Math.round(y * s), c.width, 1).data); }"""
    col = """(x) => { const c = document.getElementById('heatmap'), s = c.width / c.clientWidth;
      return Array.from(c.getContext('2d').getImageData(Math.round(x * s), 0, 1, c.height).data); }"""
    hx, hy = round(geo["w"] * 0.3), round(height * 0.8)
    row_before, col_before = page.evaluate(row, hy), page.evaluate(col, hx)
    box = page.locator("#heatmap").bounding_box()
    page.mouse.move(box["x"] + hx, box["y"] + hy)
    page.wait_for_function("window.liqmap.hover !== null")
    row_after, col_after = page.evaluate(row, hy), page.evaluate(col, hx)
    changed_row = {i // 4 for i in range(0, len(row_after), 4) if row_after[i:i + 3] != row_before[i:i + 3]}
    changed_col = {i // 4 for i in range(0, len(col_after), 4) if col_after[i:i + 3] != col_before[i:i + 3]}
    scale = page.evaluate("document.getElementById('heatmap').width / document.getElementById('heatmap').clientWidth")
    assert len([x for x in changed_row if x < (hx - 40) * scale]) > 50  # the horizontal line, left of the pointer
    assert len([x for x in changed_row if (hx + 40) * scale < x < plot_right * scale]) > 50  # and right of it
    assert len([y for y in changed_col if y < (hy - 40) * scale]) > 50  # the vertical line above
    assert _pixel(page, "heatmap", plot_right + 30, hy) == [58, 45, 92]  # price readout tag
    assert _pixel(page, "heatmap", hx, geo["h"] - 24 + 4) == [58, 45, 92]  # time readout box
    # One palette: the page's long/short colours are the Python constants, and so are the net view's ends.
    assert page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--long').trim()") == LONG_COLOR
    assert page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--short').trim()") == SHORT_COLOR
    page.click("#side button[data-value='net']")
    page.wait_for_function("window.liqmap.data && window.liqmap.data.side === 'net'")
    legend_w = page.evaluate("document.getElementById('legend').clientWidth")
    assert _pixel(page, "legend", 4, 6) == _rgb(SHORT_COLOR)  # net < 0: short-heavy
    assert _pixel(page, "legend", legend_w - 5, 6) == _rgb(LONG_COLOR)  # net > 0: long-heavy
    assert page.liqmap_errors == []
    page.context.close()


def test_range_switch_clears_the_previous_bubbles_at_once(browser, server) -> None:
    page = _open(browser, server, viewport=DESKTOP)
    page.wait_for_function("window.liqmap.realized !== null")
    # Record, at every drawn view (the liqmap:view event), whether the bubbles belong to that view's window.
    page.evaluate("""window.__views = [];
      document.addEventListener('liqmap:view', (e) => { const r = window.liqmap.realized;
        window.__views.push({start: e.detail.start, range: e.detail.range, realized: r ? r.start : null}); });""")
    page.click("#range button[data-value='30d']")
    page.wait_for_function("window.liqmap.realized !== null && window.liqmap.params.range === '30d'"
                           " && window.liqmap.realized.start === window.liqmap.data.times[0]")
    views = page.evaluate("window.__views")
    after = [v for v in views if v["range"] == "30d"]
    assert after, views
    assert all(v["realized"] in (None, v["start"]) for v in after), views  # never the 7d bubbles on the 30d view
    assert page.liqmap_errors == []
    page.context.close()


def test_save_as_png_downloads_the_current_view(browser, server, tmp_path) -> None:
    page = _open(browser, server, viewport=DESKTOP, accept_downloads=True)
    with page.expect_download() as info:
        page.click("#save-png")
    download = info.value
    assert download.suggested_filename.startswith("liqmap-BTC-7d-") and download.suggested_filename.endswith(".png")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    sizes = page.evaluate("""['heatmap', 'panels', 'liqmap'].map(id => { const c = document.getElementById(id);
      return [c.width, c.height]; })""")
    assert width == sizes[0][0] + sizes[2][0]  # heatmap + liquidation map side by side
    assert height >= sizes[0][1] + sizes[1][1]  # heatmap over the panels (+ a title line)
    page.context.close()


def test_symbol_with_candles_but_no_oi_draws_candles_and_says_why(browser, server, output_dir) -> None:
    page = _open(browser, server, "?symbol=AVAX&range=24h", viewport=DESKTOP)
    page.wait_for_function("window.liqmap.candleOnly === true")
    note = page.inner_text("#status")
    assert "No open interest is stored for AVAX" in note and "needs OI" in note
    candles = httpx.get(f"{server.url}/api/candles", params={"symbol": "AVAX", "range": "24h"}, timeout=10).json()
    assert page.evaluate("window.liqmap.data.times") == candles["candles"]["ts"]
    assert page.evaluate("window.liqmap.data.lastPrice") == candles["candles"]["close"][-1]
    # The candles are drawn: both candle colours are on the chart.
    colours = page.evaluate("""(() => {
      const c = document.getElementById('heatmap'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set(); for (let i = 0; i < d.length; i += 4) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
      return Array.from(seen);
    })()""")
    assert "38,198,166" in colours and "239,83,112" in colours  # up and down candles (app.js COLORS.up/down)
    page.screenshot(path=str(output_dir / "trader-no-oi.png"))
    assert page.liqmap_errors == []
    page.context.close()


def test_panels_follow_live_updates(browser, server) -> None:
    """A new bar and open interest posted to the server reach the panels without a reload (last test of the
    module: it changes the server's data)."""
    page = _open(browser, server, viewport=DESKTOP)
    page.wait_for_function("document.getElementById('ws-state').dataset.socket === 'open'"
                           " && window.liqmap.panelReadout && Number.isFinite(window.liqmap.panelReadout.oi)")
    page.wait_for_timeout(300)  # the subscription is sent right after the socket opens
    last = page.evaluate("window.liqmap.data.times[window.liqmap.data.K - 1]")
    new_ts = last + 3_600_000
    records = new_bar_records(new_ts, oi_ts=new_ts + 1_800_000, liquidation=False)
    r = httpx.post(f"{server.url}/api/records", json=records, headers={"X-Liqmap-Token": server.token}, timeout=10)
    assert r.status_code == 200, r.text
    page.wait_for_function(f"window.liqmap.panelReadout && window.liqmap.panelReadout.ts === {new_ts}"
                           " && window.liqmap.panelReadout.oi === 8.2e9", timeout=20_000)
    readout = page.evaluate("window.liqmap.panelReadout")
    assert readout["volume"] == pytest.approx(2500.0 * 78100.0, rel=1e-12)
    oi = httpx.get(f"{server.url}/api/series", params={"symbol": "BTC", "kind": "oi", "range": "7d"}, timeout=10).json()
    assert [s["exchange"] for s in oi["series"]] == ["binance"]  # so the panel's sum is binance's new value
    assert page.liqmap_errors == []
    page.context.close()
