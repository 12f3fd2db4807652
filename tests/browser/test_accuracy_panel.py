"""The accuracy panel (accuracy.js) in real headless Chromium: it prints what /api/accuracy and the
calibration block say, says so when bright bands are not magnets, and the tooltip gains P(touch)."""

from __future__ import annotations

import httpx


def test_accuracy_panel_says_what_the_api_measured(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.wait_for_selector("#acc-sentences", timeout=60_000)
    accuracy = httpx.get(f"{server.url}/api/accuracy", params={"symbol": "BTC"}, timeout=60).json()
    text = page.inner_text("#acc-sentences")
    for sentence in accuracy["sentences"]:
        assert sentence in text
    assert ("bright bands are not magnets" in text) == (not accuracy["clusters"]["magnets"])
    cal = httpx.get(f"{server.url}/api/liqmap", params={"symbol": "BTC", "range": "7d"}).json()["calibration"]
    cal_text = page.inner_text("#acc-calibration")
    factor_long, factor_short = cal["factor_long"], cal["factor_short"]
    assert f"× {factor_long:.3g} for longs" in cal_text and f"× {factor_short:.3g} for shorts" in cal_text
    ticks = httpx.get(f"{server.url}/api/liqmap", params={"symbol": "BTC", "range": "7d"}).json()["bad_ticks"]
    assert ticks == [] and "No implausible wicks" in page.inner_text("#acc-bad-ticks")
    levels = page.inner_text("#acc-levels")
    clusters = httpx.get(f"{server.url}/api/clusters", params={"symbol": "BTC", "range": "7d"}).json()["clusters"]
    assert f"{round(100 * clusters[0]['reach_24h'])}%" in levels
    # the heatmap tooltip carries the reach line once accuracy.js has its curves
    page.wait_for_function("document.body.dataset.firstDraw === '1'", timeout=15_000)
    box = page.locator("#heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("#tooltip:not([hidden])", timeout=5_000)
    assert "P(touch from now)" in page.inner_text("#tooltip")
    assert errors == []
    page.close()
