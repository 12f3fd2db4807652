"""Live updates over WS /api/stream: a new bar written to the store reaches subscribed clients as one
``update`` frame carrying the bars and the heatmap columns equal to the model's output at the new data
version."""

from __future__ import annotations

import asyncio
import json

import pytest

from liqmap.query import HeatmapQuery, heatmap_for
from liqmap.service.encode import decode_array
from liqmap.service.hub import Hub

HOUR = 3_600_000


def _receive_until(ws, kind: str, limit: int = 20) -> dict:
    for _ in range(limit):
        message = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind!r} message in {limit}")


def _last_bar(store) -> int:
    """The sample's newest perpetual hourly bar."""
    return store.latest_ts("bars", exchange="binance", market="perp", interval_ms=HOUR)


def _new_bar_records(last_bar: int) -> dict:
    ts = last_bar + HOUR
    return {
        "bars": [{"exchange": "binance", "symbol": "BTCUSDT", "interval_ms": HOUR, "ts_event": ts, "open": 77030.3,
                  "high": 77900.0, "low": 76800.0, "close": 77650.5, "volume": 1234.5, "taker_buy_volume": 700.0}],
        "open_interest": [{"exchange": "binance", "symbol": "BTC", "ts_event": ts + HOUR, "oi_usd": 8.1e9}],
        "liquidations": [{"exchange": "binance", "symbol": "BTC", "ts_event": ts + 60_000, "side": "short",
                          "price": 77800.0, "quantity": 2.0}],
    }


def test_new_bar_reaches_subscribers_as_model_columns(client, store, assert_same_usd):
    LAST_BAR = _last_bar(store)
    before = heatmap_for(store, HeatmapQuery("BTC", range="24h"))
    assert int(before.times[-1]) == LAST_BAR
    with client.websocket_connect("/api/stream") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "24h", "side": "both",
                                 "encoding": "f32", "last_time": LAST_BAR}))
        subscribed = _receive_until(ws, "subscribed")
        assert subscribed["view"]["range"] == "24h"
        r = client.post("/api/records", json=_new_bar_records(LAST_BAR), headers={"X-Liqmap-Token": "secret-token"})
        assert r.status_code == 200, r.text
        frame = _receive_until(ws, "update")  # one frame of the new data version: bars, prints, columns
    assert frame["data_version"] == r.json()["data_version"]
    (bars,) = frame["bars"]
    assert (bars["exchange"], bars["symbol"], bars["interval_ms"]) == ("binance", "BTC", HOUR)
    assert bars["bars"][-1] == [LAST_BAR + HOUR, 77030.3, 77900.0, 76800.0, 77650.5, 1234.5]
    (prints,) = frame["liquidations"]
    assert prints["prints"] == [[LAST_BAR + HOUR + 60_000, "binance", "short", 77800.0, 2 * 77800.0]]
    assert frame["liquidation_bars"] == []
    update = frame["heatmap"]
    after = heatmap_for(store, HeatmapQuery("BTC", range="24h"))
    assert int(after.times[-1]) == LAST_BAR + HOUR
    assert update["times"] == [LAST_BAR, LAST_BAR + HOUR]
    assert update["window_start"] == int(after.times[0])
    grid = decode_array(update["grid"])
    # pushed columns carry the same calibrated USD as GET /api/heatmap (docs/api.md "Which dollars")
    cal = update["calibration"]
    assert cal == client.get("/api/heatmap", params={"symbol": "BTC", "range": "24h"}).json()["calibration"]
    expected = after.long * cal["factor_long"] + after.short * cal["factor_short"]
    assert_same_usd(grid, expected[-2:], f32=True)
    assert update["candles"]["close"][-1] == 77650.5


def test_reload_when_the_price_ladder_changes(client, store):
    first = client.get("/api/heatmap", params={"symbol": "BTC", "range": "12h"}).json()
    with client.websocket_connect("/api/stream") as ws:
        ws.receive_json()
        ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "12h",
                                 "last_time": first["times"][-1], "edges": first["price_edges_hash"]}))
        _receive_until(ws, "subscribed")
        records = _new_bar_records(_last_bar(store))
        records["bars"][0]["high"] = 99000.0  # far outside the window's range: a new price ladder
        client.post("/api/records", json=records, headers={"X-Liqmap-Token": "secret-token"})
        assert _receive_until(ws, "update")["reload"]["reason"] == "price ladder changed"


def test_bad_subscriptions_get_errors_not_disconnects(client):
    with client.websocket_connect("/api/stream") as ws:
        ws.receive_json()
        ws.send_text("not json")
        assert "not JSON" in ws.receive_json()["message"]
        ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "side": "up"}))
        assert "parameter 'side'" in ws.receive_json()["message"]
        ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "rows": 10**9}))
        assert "parameter 'rows'" in ws.receive_json()["message"]
        ws.send_text(json.dumps([1, 2]))
        assert ws.receive_json()["type"] == "error"
        ws.send_text("x" * 10000)
        assert "longer" in ws.receive_json()["message"]
        ws.send_bytes(b"\x00\x01")
        assert "binary" in ws.receive_json()["message"]
        ws.send_text(json.dumps({"type": "ping"}))
        assert ws.receive_json()["type"] == "pong"


class _SlowSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


@pytest.mark.asyncio
async def test_slow_client_is_bounded_and_told_to_resync():
    hub = Hub(max_queue=8)
    slow, fast = hub.add(_SlowSocket()), hub.add(_SlowSocket())
    pump = asyncio.create_task(hub.pump(fast))
    for i in range(30):
        hub.publish({"type": "bars", "i": i})
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert [json.loads(t)["i"] for t in fast.ws.sent] == list(range(30))  # never held back by the slow one
    queued = []
    while not slow.queue.empty():
        queued.append(json.loads(slow.queue.get_nowait()))
    assert len(queued) <= 8
    assert {"type": "resync", "reason": "client fell behind"} in queued
    assert queued[-1] == {"type": "bars", "i": 29}  # the newest is kept
    assert queued[0]["type"] == "resync"
    kept = [m["i"] for m in queued[1:]]
    assert kept == list(range(30 - len(kept), 30))  # a consecutive run of the newest messages
    assert slow.dropped >= 30 - len(kept)
    pump.cancel()


def test_a_venue_that_commits_late_is_still_pushed(client, store):
    """Collectors of several venues commit out of order: an okx bar older than the newest binance bar,
    stored after it, still reaches the clients (new rows are tracked per series, not per table)."""
    last = _last_bar(store)
    token = {"X-Liqmap-Token": "secret-token"}
    bar = {"symbol": "BTCUSDT", "interval_ms": HOUR, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 3.0}
    with client.websocket_connect("/api/stream") as ws:
        ws.receive_json()
        ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "24h"}))
        _receive_until(ws, "subscribed")
        client.post("/api/records", json={"bars": [{**bar, "exchange": "binance", "ts_event": last + 2 * HOUR}]},
                    headers=token)
        assert _receive_until(ws, "update")["bars"][-1]["bars"][-1][0] == last + 2 * HOUR
        client.post("/api/records", json={"bars": [{**bar, "exchange": "okx", "ts_event": last + HOUR}]}, headers=token)
        (late,) = _receive_until(ws, "update")["bars"]
    assert late["exchange"] == "okx" and late["bars"] == [[last + HOUR, 1.0, 2.0, 0.5, 1.5, 3.0]]


def test_each_update_carries_the_new_rows_of_the_tables_written(client, store):
    """A bar alone, then a print alone: each update carries the rows written since the previous one and
    empty sections for the tables not written (their rows are not read again)."""
    last = _last_bar(store)
    token = {"X-Liqmap-Token": "secret-token"}
    records = _new_bar_records(last)
    with client.websocket_connect("/api/stream") as ws:
        ws.receive_json()
        ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "24h"}))
        _receive_until(ws, "subscribed")
        client.post("/api/records", json={"bars": records["bars"]}, headers=token)
        first = _receive_until(ws, "update")
        client.post("/api/records", json={"liquidations": records["liquidations"]}, headers=token)
        second = _receive_until(ws, "update")
    assert [entry["bars"][-1][0] for entry in first["bars"]] == [last + HOUR]
    assert first["liquidations"] == [] and first["liquidation_bars"] == []
    assert second["bars"] == [] and second["liquidation_bars"] == []
    assert second["liquidations"] == [{"symbol": "BTC",
                                       "prints": [[last + HOUR + 60_000, "binance", "short", 77800.0, 155600.0]]}]


def test_a_reconnecting_client_gets_the_bars_it_missed(client, store):
    """``bars_since`` in a subscription: the bars stored after the client's newest one come at once."""
    last = _last_bar(store)
    token = {"X-Liqmap-Token": "secret-token"}
    bar = {"exchange": "okx", "symbol": "BTCUSDT", "interval_ms": HOUR, "open": 1.0, "high": 2.0, "low": 0.5,
           "close": 1.5, "volume": 3.0}
    client.post("/api/records", json={"bars": [{**bar, "ts_event": last + k * HOUR} for k in (1, 2, 3)]},
                headers=token)
    with client.websocket_connect("/api/stream") as ws:
        ws.receive_json()
        ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "24h", "bars_since": last + HOUR}))
        _receive_until(ws, "subscribed")
        (missed,) = _receive_until(ws, "update")["bars"]
    assert missed["exchange"] == "okx" and [row[0] for row in missed["bars"]] == [last + 2 * HOUR, last + 3 * HOUR]


def test_one_frame_per_view_shared_by_its_clients(client, store):
    """Clients of one view get the same ``update`` text (serialised once); a client that subscribed to
    nothing gets the records of the version without columns."""
    last = _last_bar(store)
    with client.websocket_connect("/api/stream") as a, client.websocket_connect("/api/stream") as b, \
            client.websocket_connect("/api/stream") as idle:
        for ws in (a, b):
            ws.receive_json()
            ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "24h", "last_time": last}))
            _receive_until(ws, "subscribed")
        idle.receive_json()
        r = client.post("/api/records", json=_new_bar_records(last), headers={"X-Liqmap-Token": "secret-token"})
        texts = []
        for ws in (a, b):
            while json.loads(text := ws.receive_text())["type"] != "update":
                pass
            texts.append(text)
        plain = _receive_until(idle, "update")
    assert texts[0] == texts[1]
    frame = json.loads(texts[0])
    assert frame["data_version"] == plain["data_version"] == r.json()["data_version"]
    assert frame["heatmap"]["times"] == [last, last + HOUR]
    assert "heatmap" not in plain and plain["bars"] == frame["bars"] and plain["liquidations"] == frame["liquidations"]


def test_live_bars_of_one_day_compute_its_fit_view_once(client, store):
    """The calibration's fit view depends on the day of the view's last column only: five live bars of a day
    compute that day's fit view once (for the API and the live loop; ahead of the day's first bar, once
    the day before is complete), and nothing per bar."""
    ctx = client.app.state.liqmap
    computed: list = []
    compute = ctx.cache.compute_fn

    def recording(store_, key):
        computed.append(key)
        return compute(store_, key)

    ctx.cache.compute_fn = recording
    last = _last_bar(store)
    midnight = last + HOUR
    assert midnight % (24 * HOUR) == 0  # the first new bar opens a day
    with client.websocket_connect("/api/stream") as ws:
        ws.receive_json()
        ws.send_text(json.dumps({"type": "subscribe", "symbol": "BTC", "range": "24h", "last_time": last}))
        _receive_until(ws, "subscribed")
        calibrations = []
        for i in range(5):
            records = _new_bar_records(last + i * HOUR)
            r = client.post("/api/records", json=records, headers={"X-Liqmap-Token": "secret-token"})
            assert r.status_code == 200, r.text
            frame = _receive_until(ws, "update")
            assert frame["heatmap"]["times"][-1] == last + (i + 1) * HOUR
            calibrations.append(frame["heatmap"]["calibration"])
            if i == 0:
                after_first = len(computed)
    api = client.get("/api/heatmap", params={"symbol": "BTC", "range": "24h"}).json()["calibration"]
    fits = [key for key in computed if key.end is not None]  # the live view itself: end None, every bar
    assert [key.end for key in fits if key.end == midnight] == [midnight]  # the new day's fit view, once
    assert [key for key in computed[after_first:] if key.end is not None] == []  # none at the later bars
    assert all(cal == calibrations[0] for cal in calibrations) and api == calibrations[0]
    assert calibrations[0]["fitted_on"][1] == midnight  # fitted on the days before the new one


@pytest.mark.parametrize("side", ["both", "net", "long"])
def test_column_update_scales_the_sent_columns_as_the_whole_view(side):
    """The live frame scales only the columns it sends: the same payload as scaling the whole heatmap with
    the calibration first (what GET /api/heatmap serves), bit for bit."""
    import numpy as np

    from liqmap.analysis.calibration import Calibration, scale_heatmap
    from liqmap.model.result import Heatmap
    from liqmap.service.live import column_update

    rng = np.random.default_rng(7)
    times = np.arange(6, dtype=np.int64) * HOUR
    heatmap = Heatmap(symbol="BTC", exchanges=("binance",), times=times, price_edges=np.linspace(100.0, 110.0, 5),
                      long=rng.random((6, 4)) * 1e6, short=rng.random((6, 4)) * 1e6, swept_long=rng.random(6),
                      swept_short=rng.random(6), candles={"ts": times, "close": 100 + rng.random(6)}, interval_ms=HOUR)
    cal = Calibration(source="prints", factor_long=0.37, factor_short=1.9)
    for encoding in ("u16", "f32"):
        new = column_update(heatmap, side=side, encoding=encoding, last_time=4 * HOUR, edges_hash=None,
                            calibration=cal)["heatmap"]
        old = column_update(scale_heatmap(heatmap, cal), side=side, encoding=encoding, last_time=4 * HOUR,
                            edges_hash=None)["heatmap"]
        new.pop("update_time"), old.pop("update_time")
        assert new == old
        assert new["times"] == [4 * HOUR, 5 * HOUR]
        assert new["long"]["shape"] == [2, 4]
        if encoding == "f32":
            np.testing.assert_array_equal(decode_array(new["long"]), (heatmap.long[4:] * 0.37).astype(np.float32))
    assert column_update(heatmap, side=side, encoding="u16", last_time=4 * HOUR + 1, edges_hash=None) == {
        "reload": {"reason": "view changed shape"}}
