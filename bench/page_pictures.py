"""The README's pictures of the web page, taken in real headless Chromium (Debian's /usr/bin/chromium) from
`liqmap serve` on the demo data (the shipped sample). Prints what it wrote.

    .venv/bin/python bench/page_pictures.py [--out docs/img]

* page.png: a desktop window, 1366x900, the chart screen with the pointer on a past column (tooltip,
  crosshair, the liquidation map of that column); the accuracy panel starts just below this picture.
* page-phone.png: a phone, 390x844 at device scale 2, the first screen (heatmap, panels, legend).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from conftest import CHROMIUM, CHROMIUM_ARGS, Server, make_demo_db  # noqa: E402

DESKTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 900}}
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
                         "has_touch": True}


def settled_page(browser: Any, url: str, context: dict[str, Any]) -> Any:
    """A page with the heatmap, the realized prints, the reach curves and the accuracy panel all drawn."""
    page = browser.new_context(**context).new_page()
    page.goto(url)
    page.wait_for_function("document.body.dataset.firstDraw === '1'", timeout=20_000)
    page.wait_for_function("window.liqmap.realized !== null && window.liqmapReachLayer"
                           " && window.liqmapReachLayer.drawn", timeout=60_000)
    page.wait_for_selector("#acc-sentences", timeout=60_000)
    page.wait_for_timeout(300)
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="liqmap-pictures-") as tmp, sync_playwright() as pw:
        server = Server(make_demo_db(Path(tmp) / "demo.duckdb"), token=None)
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = settled_page(browser, server.url + "/", DESKTOP)
            box = page.locator("#heatmap").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.74, box["y"] + box["height"] * 0.55)
            page.wait_for_selector("#tooltip:not([hidden])")
            page.screenshot(path=str(args.out / "page.png"))
            page = settled_page(browser, server.url + "/", PHONE)
            page.screenshot(path=str(args.out / "page-phone.png"))
            browser.close()
        finally:
            server.stop()
    for name in ("page.png", "page-phone.png"):
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
