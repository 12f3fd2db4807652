"""``GET /api/series`` returns the stored rows (independently read from the store here) and
``GET /api/palette.css`` the Python palette."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.render.style import LONG_COLOR, SHORT_COLOR

START, END = 1_779_321_600_000, 1_779_580_800_000  # 2026-05-21 00:00 .. 2026-05-24 00:00 UTC


def test_open_interest_and_funding_are_the_stored_rows(client, store) -> None:
    for kind, table, column in (("oi", "open_interest", "oi_usd"), ("funding", "funding", "rate")):
        body = client.get("/api/series", params={"symbol": "BTCUSDT", "kind": kind, "start": START, "end": END}).json()
        assert body["symbol"] == "BTC" and body["kind"] == kind
        rows = store.read(table, start=START, end=END, symbol="BTC")
        names = sorted(set(rows["exchange"].astype(str)))
        assert [s["exchange"] for s in body["series"]] == names
        for s in body["series"]:
            mine = rows["exchange"].astype(str) == s["exchange"]
            values = rows[column][mine].astype(float)
            keep = np.isfinite(values)
            assert s["ts"] == rows["ts_event"][mine][keep].astype(int).tolist()
            assert s["value"] == pytest.approx(values[keep].tolist(), rel=1e-12)


def test_volume_in_usd_with_taker_delta(client, store) -> None:
    body = client.get("/api/series", params={"symbol": "BTC", "kind": "volume", "start": START, "end": END}).json()
    (series,) = [s for s in body["series"] if s["exchange"] == "binance"]
    bars = store.read("bars", start=START, end=END, symbol="BTC", exchange="binance", market="perp",
                      interval_ms=3_600_000)
    assert series["ts"] == bars["ts_event"].astype(int).tolist() and len(series["ts"]) == 72
    close, vol, buy = (bars[c].astype(float) for c in ("close", "volume", "taker_buy_volume"))
    assert series["value"] == pytest.approx((vol * close).tolist(), rel=1e-12)
    assert series["delta"] == pytest.approx(((buy - (vol - buy)) * close).tolist(), rel=1e-12)


def test_unknown_kind_is_refused_and_palette_is_the_python_one(client) -> None:
    assert client.get("/api/series", params={"symbol": "BTC", "kind": "gamma"}).status_code in (400, 422)
    css = client.get("/api/palette.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert f"--long: {LONG_COLOR};" in css.text and f"--short: {SHORT_COLOR};" in css.text
