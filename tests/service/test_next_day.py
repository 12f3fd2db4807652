"""A new UTC day in a running server: the warm-up books at the midnight a live view's window moves to and
the next day's calibration fit view are built ahead (liqmap.service.views.Prefetch), so the last bar of a
day and the first of the next, pushed to WebSocket clients or asked for by a request, compute neither;
and the view they give equals a cold computation."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from liqmap.query import heatmap_for
from liqmap.service.params import parse_view

HOUR = 3_600_000
DAY = 24 * HOUR
TOKEN = {"X-Liqmap-Token": "secret-token"}


def _bar(ts: int, high: float = 77900.0, low: float = 76800.0) -> dict:
    """The hourly bar opening at ``ts`` and the OI at its end, as ``POST /api/records`` takes them."""
    return {
        "bars": [{"exchange": "binance", "symbol": "BTCUSDT", "interval_ms": HOUR, "ts_event": ts, "open": 77030.3,
                  "high": high, "low": low, "close": 77650.5, "volume": 1234.5, "taker_buy_volume": 700.0}],
        "open_interest": [{"exchange": "binance", "symbol": "BTC", "ts_event": ts + HOUR, "oi_usd": 8.1e9}],
    }


@pytest.fixture
def day_client(store) -> Iterator[tuple[object, int]]:
    """The app on the sample without its last two hourly bars (and their OI), and the midnight those bars
    lead to (the sample's last bar closes a day)."""
    from fastapi.testclient import TestClient

    from liqmap.service.app import create_app

    midnight = store.latest_ts("bars", exchange="binance", market="perp", interval_ms=HOUR) + HOUR
    assert midnight % DAY == 0
    store.delete("bars", start=midnight - 2 * HOUR)
    store.delete("open_interest", start=midnight - HOUR)
    app = create_app(store, token="secret-token", poll_interval=0.2, prewarm_views=False)
    with TestClient(app) as client:
        yield client, midnight


@pytest.mark.parametrize(("path", "wide"), [("websocket", False), ("request", False), ("websocket", True)])
def test_a_new_day_finds_its_books_and_fit_view_built_ahead(day_client, monkeypatch, path, wide, assert_same_usd):
    """``wide``: the day's last bar moves the view's price ladder (the state prepared ahead cannot be
    extended: a run from the books built ahead)."""
    import liqmap.warmbooks

    client, midnight = day_client
    ctx = client.app.state.liqmap
    splits: list[int] = []
    build = liqmap.warmbooks.build_books

    def counting_build(store_, exchanges, symbol, interval_ms, start, split, config):
        splits.append(split)
        return build(store_, exchanges, symbol, interval_ms, start, split, config)

    monkeypatch.setattr(liqmap.warmbooks, "build_books", counting_build)
    fits: list[int] = []
    compute = ctx.cache.compute_fn

    def recording(store_, key):
        if key.end is not None:  # a fit view (the live view itself has no end)
            fits.append(key.end)
        return compute(store_, key)

    ctx.cache.compute_fn = recording
    key = parse_view(symbol="BTC", exchanges=None, range_="7d", end=None, leverage=None, age=None, rows=None,
                     columns=None, tiers=ctx.config.leverage, labels=ctx.config.age_labels)
    params = {"symbol": "BTC", "range": "7d"}
    with client.websocket_connect("/api/stream") as ws:
        ws.receive_json()

        def step(ts: int, **prices: float) -> dict:
            """Write the bar opening at ``ts``; the calibration of the view at the new data."""
            assert client.post("/api/records", json=_bar(ts, **prices), headers=TOKEN).status_code == 200
            if path == "request":
                return client.get("/api/heatmap", params=params).json()["calibration"]
            for _ in range(20):
                message = ws.receive_json()
                if message["type"] == "update" and "heatmap" in message:
                    return message["heatmap"]["calibration"]
            raise AssertionError("no update with the view's columns")

        if path == "websocket":
            ws.send_text(json.dumps({"type": "subscribe", **params, "last_time": midnight - 3 * HOUR}))
            while ws.receive_json()["type"] != "subscribed":
                pass
        else:
            client.get("/api/heatmap", params=params)
        step(midnight - 2 * HOUR)  # the view an hour before its window moves to the next midnight
        ctx.cache.prefetch.wait(60)
        assert midnight - 7 * DAY in splits  # the books the window will start from, built ahead
        splits.clear()
        before = fits.copy()
        rebuilt, rebased = ctx.cache.live.rebuilt, ctx.cache.live.rebased
        # the day's last bar: the window starts at (midnight - 7 days)
        top = float(ctx.cache.get(key, ctx.version).price_edges[-1])  # 2 % above the window's highest high
        step(midnight - HOUR, **({"high": top * 1.02} if wide else {}))
        assert ctx.cache.live.rebuilt == rebuilt  # extended from the state prepared ahead
        assert ctx.cache.live.rebased == rebased + wide  # re-binned by a run from the books built ahead
        ctx.cache.prefetch.wait(60)
        # ahead, in the prefetch's thread: the next day's fit view (a 30-day view ending at the midnight) and
        # its books; none of the view's
        assert fits == [*before, midnight]
        assert splits == [midnight - 30 * DAY]
        splits.clear()
        cal = step(midnight)  # the next day's first bar: its calibration is fitted up to the midnight
        ctx.cache.prefetch.wait(60)
    assert splits == [] and fits == [*before, midnight]
    assert cal["fitted_on"][1] == midnight
    served = ctx.cache.get(key, ctx.version)
    cold = heatmap_for(ctx.store, key.query())
    assert int(served.times[-1]) == midnight
    np.testing.assert_array_equal(served.times, cold.times)
    np.testing.assert_array_equal(served.price_edges, cold.price_edges)
    assert_same_usd(served.long, cold.long)
    assert_same_usd(served.short, cold.short)
