"""Benchmark of the web page in real headless Chromium (Debian's /usr/bin/chromium). Prints figures.

    .venv/bin/python bench/bench_page.py [--loads 5] [--updates 5]

* first draw: `liqmap serve` on the demo data (shipped sample), a fresh page per load; the page sets the
  performance mark ``liqmap:first-draw`` when the heatmap is first drawn: its time since navigation start.
  The first load after the server starts is reported apart (it may include the model run).
* live redraw: new bars POSTed to the server; the page measures from the WebSocket message's arrival to
  the end of the redraw (``window.liqmapStats.lastLiveMs``); plus a plain redraw (hover) for scale.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from conftest import CHROMIUM, CHROMIUM_ARGS, Server, make_demo_db  # noqa: E402


def first_draw(page: Page, url: str) -> float:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    try:
        page.wait_for_function("document.body.dataset.firstDraw === '1'", timeout=20_000)
    except Exception:
        status = page.inner_text("#status")
        requests = page.evaluate("window.liqmapStats && window.liqmapStats.requests")
        raise RuntimeError(f"no first draw: status={status!r} errors={errors} requests={requests}") from None
    return float(page.evaluate("performance.getEntriesByName('liqmap:first-draw')[0].startTime"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--updates", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="liqmap-bench-page-"))
    server = None
    try:
        server = Server(make_demo_db(tmp / "demo.duckdb"), token="bench")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            loads = []
            for i in range(args.loads + 1):
                page = browser.new_page(viewport={"width": 1400, "height": 820})
                loads.append(first_draw(page, server.url + "/"))
                if i < args.loads:
                    page.close()
            first, rest = loads[0], loads[1:]
            print("first heatmap drawn after navigation (demo data, 7d view, 1400x820):")
            print(f"  first load after server start: {first:.0f} ms")
            print(f"  next {len(rest)} loads: median {statistics.median(rest):.0f} ms, max {max(rest):.0f} ms "
                  f"(target <= 1500 ms: {'ok' if statistics.median(rest) <= 1500 else 'MISSED'})")
            page.wait_for_function("document.getElementById('ws-state').dataset.socket === 'open'")
            page.wait_for_timeout(300)
            box = page.locator("#heatmap").bounding_box()
            assert box is not None, "#heatmap is not displayed"
            hover = []
            for j in range(10):
                page.mouse.move(box["x"] + 100 + 40 * j, box["y"] + box["height"] / 2)
                hover.append(page.evaluate("window.liqmapStats.lastDrawMs"))
            page.mouse.move(0, 0)
            live = []
            last = page.evaluate("window.liqmap.data.times[window.liqmap.data.K - 1]")
            for u in range(args.updates):
                ts = last + (u + 1) * 3_600_000
                before = page.evaluate("window.liqmapStats.liveDraws")
                price = 77_000 + 40 * u
                r = httpx.post(f"{server.url}/api/records", headers={"X-Liqmap-Token": "bench"}, timeout=30, json={
                    "bars": [{"exchange": "binance", "symbol": "BTC", "interval_ms": 3_600_000, "ts_event": ts,
                              "open": price, "high": price + 90, "low": price - 70, "close": price + 30,
                              "volume": 800}],
                    "open_interest": [{"exchange": "binance", "symbol": "BTC", "ts_event": ts + 3_600_000,
                                       "oi_usd": 8e9}],
                })
                r.raise_for_status()
                page.wait_for_function(f"window.liqmap.data.times[window.liqmap.data.K - 1] === {ts}", timeout=15_000)
                page.wait_for_function(f"window.liqmapStats.liveDraws > {before}", timeout=5_000)
                live.append(page.evaluate("window.liqmapStats.lastLiveMs"))
                time.sleep(0.3)
            print(f"redraw on hover: median {statistics.median(hover):.1f} ms")
            stats = page.evaluate("window.liqmapStats")
            print(f"live messages received: {stats['messages']}")
            merges = stats["liveMs"].get("heatmap", [])
            if merges:
                print(f"heatmap column merge + redraw: median {statistics.median(merges):.1f} ms over {len(merges)}")
            print(f"live update (WS message -> redrawn): median {statistics.median(live):.1f} ms, max {max(live):.1f} ms "
                  f"over {len(live)} updates (target <= 50 ms: {'ok' if statistics.median(live) <= 50 else 'MISSED'})")
            browser.close()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
