"""The API returns the model's numbers: every payload is checked against liqmap.query on the same store."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.model.config import ModelConfig
from liqmap.query import HeatmapQuery, candles_for, heatmap_for, realized_for
from liqmap.service.encode import decode_array


def _expected_grid(store, side: str, **kwargs):
    hm = heatmap_for(store, HeatmapQuery("BTC", side=side, **kwargs))
    if side == "net":
        return hm, hm.long - hm.short
    if side == "long":
        return hm, hm.long
    if side == "short":
        return hm, hm.short
    return hm, hm.long + hm.short


@pytest.mark.parametrize("side", ["both", "long", "short", "net"])
def test_grid_equals_model_output(client, store, side, assert_same_usd):
    r = client.get("/api/heatmap", params={"symbol": "btcusdt", "range": "7d", "side": side,
                                              "calibration": "none"})
    assert r.status_code == 200, r.text
    body = r.json()
    hm, expected = _expected_grid(store, side, range="7d")
    grid = decode_array(body["grid"])
    assert grid.shape == expected.shape
    assert_same_usd(grid, expected, f32=True)
    assert body["times"] == [int(t) for t in hm.times]
    np.testing.assert_array_equal(body["price_edges"], hm.price_edges)
    np.testing.assert_array_equal(body["candles"]["close"], hm.candles["close"])
    assert body["last_price"] == pytest.approx(hm.last_price)
    assert body["max_usd"] == pytest.approx(float(np.abs(expected).max()), rel=1e-12)


def test_filters_reach_the_model(client, store, assert_same_usd):
    config = ModelConfig()
    tiers = config.leverage[-2:]
    ages = config.age_labels[:1]
    r = client.get("/api/heatmap", params={"symbol": "BTC", "range": "3d",
                                           "leverage": ",".join(f"{x:g}x" for x in tiers),
                                           "age": ages[0], "rows": 200, "columns": 50,
                                           "calibration": "none"})
    assert r.status_code == 200, r.text
    hm = heatmap_for(store, HeatmapQuery("BTC", range="3d", leverage=tiers, ages=ages, n_bins=200,
                                         max_columns=50))
    grid = decode_array(r.json()["grid"])
    assert_same_usd(grid, hm.long + hm.short, f32=True)
    full = decode_array(client.get("/api/heatmap", params={"symbol": "BTC", "range": "3d", "rows": 200,
                                                            "columns": 50, "calibration": "none"}).json()["grid"])
    # A subset of tiers and ages holds at most what all of them hold, and here strictly less.
    assert (grid <= full + 1e-3).all() and grid.sum() < full.sum()


def test_u16_quantisation_is_within_half_a_step(client, store):
    body = client.get("/api/heatmap", params={"symbol": "BTC", "encoding": "u16", "side": "net",
                                              "sides": "true", "calibration": "none"}).json()
    _hm, expected = _expected_grid(store, "net", range="7d")
    grid = decode_array(body["grid"])
    assert body["grid"]["dtype"] == "int16"
    assert np.abs(grid - expected).max() <= body["grid"]["scale"] / 2 + 1e-6
    both = heatmap_for(store, HeatmapQuery("BTC"))
    long = decode_array(body["long"])
    assert body["long"]["dtype"] == "uint16"
    assert np.abs(long - both.long).max() <= body["long"]["scale"] / 2 + 1e-6


def test_coinglass_triples_map_back_to_the_same_cells(client, store, assert_same_usd):
    r = client.get("/api/heatmap", params={"symbol": "BTC", "range": "24h", "format": "coinglass",
                                           "calibration": "none"})
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == "0"
    data = body["data"]
    hm = heatmap_for(store, HeatmapQuery("BTC", range="24h"))
    grid = hm.long + hm.short
    # Coinglass rounds: prices and USD to 2 decimals (cells that round to $0.00 are left out)
    np.testing.assert_allclose(data["y_axis"], hm.price_centers, rtol=0, atol=0.005)
    assert all(round(p, 2) == p for p in data["y_axis"])
    rebuilt = np.zeros_like(grid)
    for x, y, usd in data["liquidation_leverage_data"]:
        assert round(usd, 2) == usd
        rebuilt[x, y] = usd
    np.testing.assert_allclose(rebuilt, grid, rtol=1e-9, atol=0.005 + 1e-9)
    assert len(data["liquidation_leverage_data"]) == int(np.count_nonzero(grid >= 0.005))
    rows = data["price_candlesticks"]
    assert [row[0] for row in rows] == [int(t) // 1000 for t in hm.candles["ts"]]
    np.testing.assert_allclose([float(row[4]) for row in rows], hm.candles["close"], rtol=1e-9)
    np.testing.assert_allclose([float(row[5]) for row in rows], hm.candles["volume"] * hm.candles["close"], rtol=1e-9)
    assert isinstance(data["update_time"], int)


def test_sparse_cells_equal_grid(client, store, assert_same_usd):
    body = client.get("/api/heatmap", params={"symbol": "BTC", "range": "12h", "format": "sparse",
                                              "side": "short", "calibration": "none"}).json()
    hm = heatmap_for(store, HeatmapQuery("BTC", range="12h", side="short"))
    rebuilt = np.zeros_like(hm.short)
    for k, b, usd in body["cells"]:
        rebuilt[k, b] = usd
    assert_same_usd(rebuilt, hm.short)


def test_bin_size_sets_the_row_count(client, store):
    body = client.get("/api/heatmap", params={"symbol": "BTC", "range": "7d", "bin": 100}).json()
    edges = np.asarray(body["price_edges"])
    span = edges[-1] - edges[0]
    assert len(edges) - 1 == int(np.ceil(span / 100))
    assert body["bin_size"] == pytest.approx(span / (len(edges) - 1))
    assert 100 * 0.9 < body["bin_size"] <= 100


def test_liqmap_is_the_models_column(client, store):
    hm = heatmap_for(store, HeatmapQuery("BTC", range="7d"))
    latest = client.get("/api/liqmap", params={"symbol": "BTC", "calibration": "none"}).json()
    snap = hm.column(-1)
    assert latest["ts"] == int(hm.times[-1]) and latest["column"] == len(hm.times) - 1
    np.testing.assert_allclose(latest["cum_long"], snap.cum_long)
    np.testing.assert_allclose(latest["cum_short"], snap.cum_short)
    assert latest["price"] == pytest.approx(snap.price)
    k = 40
    middle = client.get("/api/liqmap", params={"symbol": "BTC", "at": int(hm.times[k]) + 1,
                                                  "calibration": "none"}).json()
    assert middle["column"] == k
    np.testing.assert_allclose(middle["long"], hm.long[k])
    # Nearest clusters: local maxima on the right side of the price, nearest first.
    below = middle["clusters"]["below"]
    centers = hm.price_centers
    for c in below:
        assert c["price"] <= middle["price"]
        assert c["usd"] == pytest.approx(hm.long[k][c["bin"]])
        lo, hi = max(0, c["bin"] - 3), c["bin"] + 4
        # (1 - 1e-12): the server's numbers equal the fresh run's up to float rounding (cached warm-up)
        assert c["usd"] >= np.where(centers[lo:hi] <= middle["price"], hm.long[k][lo:hi], 0).max() * (1 - 1e-12)
    distances = [middle["price"] - c["price"] for c in below]
    assert distances == sorted(distances)


def test_candles_and_liquidations_match_the_store(client, store):
    body = client.get("/api/candles", params={"symbol": "BTC", "range": "24h"}).json()
    ts = body["candles"]["ts"]
    assert body["exchange"] == "binance" and body["market"] == "perp" and len(ts) == 24
    expected = candles_for(store, "BTC", ts[0], ts[-1] + 1, exchange="binance")
    np.testing.assert_array_equal(body["candles"]["high"], expected["high"])
    liq = client.get("/api/liquidations", params={"symbol": "BTC", "start": ts[0], "end": ts[-1] + 1}).json()
    realized = realized_for(store, "BTC", ts[0], ts[-1] + 1)
    (series,) = liq["bars"]
    assert series["exchange"] == "aggregate" and "coinglass" in series["coverage"]
    np.testing.assert_array_equal(series["long_usd"], realized.bars["long_usd"])
    np.testing.assert_array_equal(series["ts"], realized.bars["ts"])
    # The sample's raw prints are from 2024-08-17 (BTC among them).
    prints = client.get("/api/liquidations", params={"symbol": "BTC", "start": 1723852800000,
                                                     "end": 1723939200000}).json()["prints"]
    raw = realized_for(store, "BTC", 1723852800000, 1723939200000).prints
    assert [p[0] for p in prints] == [int(t) for t in raw["ts"]]
    assert [p[4] for p in prints] == pytest.approx(list(raw["usd"]))
    big = client.get("/api/liquidations", params={"symbol": "BTC", "start": 1723852800000,
                                                  "end": 1723939200000, "min_usd": 5000}).json()["prints"]
    assert all(p[4] >= 5000 for p in big) and len(big) == int((raw["usd"] >= 5000).sum())


def test_meta_and_exchanges_describe_the_store(client, store):
    meta = client.get("/api/meta").json()
    assert meta["symbols"] == [{"symbol": "BTC", "exchanges": ["binance"],
                                "latest": store.latest_ts("bars", symbol="BTC")}]
    assert meta["leverage"] == list(ModelConfig().leverage)
    assert meta["ages"] == list(ModelConfig().age_labels)
    assert meta["ranges"] == ["12h", "24h", "3d", "7d", "30d", "90d", "180d", "1y"]
    ex = {row["exchange"]: row for row in client.get("/api/exchanges").json()["exchanges"]}
    assert ex["binance"]["status"] == "offline"  # no collector in this process
    assert ex["binance"]["last_bar"] == store.latest_ts("bars", exchange="binance")
    assert ex["aggregate"]["last_liquidation_bar"] == store.latest_ts("liquidation_bars")


def test_repeated_views_come_from_the_cache(client):
    ctx = client.app.state.liqmap
    first = client.get("/api/heatmap", params={"symbol": "BTC", "range": "30d"}).json()
    misses = ctx.cache.misses
    second = client.get("/api/heatmap", params={"symbol": "BTC", "range": "30d", "side": "net"}).json()
    assert ctx.cache.misses == misses  # another side of the same view: no new model run
    assert second["times"] == first["times"]
    ctx.live.version += 1  # new data version: recomputed
    client.get("/api/heatmap", params={"symbol": "BTC", "range": "30d"})
    assert ctx.cache.misses == misses + 1


def test_default_view_is_computed_before_the_first_visitor(store):

    from fastapi.testclient import TestClient

    from liqmap.service.app import create_app

    with TestClient(create_app(store)) as c:
        ctx = c.app.state.liqmap
        assert ctx.prewarmed.wait(60)
        assert c.get("/api/meta").json()["prewarmed"] is True
        misses = ctx.cache.misses
        body = c.get("/api/heatmap", params={"symbol": "BTC"}).json()
        other = c.get("/api/heatmap", params={"symbol": "BTC", "range": "30d"}).json()
        assert ctx.cache.misses == misses and ctx.cache.hits >= 2  # served from the pre-computed views
    expected = heatmap_for(store, HeatmapQuery("BTC"))
    assert body["times"] == expected.times.tolist()
    assert other["times"] == heatmap_for(store, HeatmapQuery("BTC", range="30d")).times.tolist()


def test_cache_is_bounded_by_memory(store):
    from dataclasses import replace

    from liqmap.service.params import ViewKey
    from liqmap.service.views import HeatmapCache

    cache = HeatmapCache(store, size=64, max_bytes=3 << 20)
    key = ViewKey("BTC", None, "7d", None, None, None, 500, 1000)
    one = cache.get(key, 1)
    per_entry = one.long.nbytes + one.short.nbytes
    for rows in (400, 300, 200, 100, 50):
        cache.get(replace(key, n_bins=rows), 1)
    stats = cache.stats()
    assert stats["bytes"] <= 3 << 20 and stats["entries"] < 6
    assert per_entry > 1 << 20  # the first (largest) view was evicted, not the small recent ones
    assert cache.get(replace(key, n_bins=50), 1) is not None and cache.misses == 6


def test_coinglass_paths_are_drop_in(client):
    ours = client.get("/api/heatmap", params={"symbol": "BTC", "range": "3d", "format": "coinglass"}).json()
    pair = client.get("/api/futures/liquidation/heatmap/model2",
                      params={"exchange": "Binance", "symbol": "BTCUSDT", "range": "3d"}).json()
    coin = client.get("/api/futures/liquidation/aggregated-heatmap/model1", params={"symbol": "BTC"}).json()
    for other in (pair, coin):  # one exchange in the sample: the pair and the aggregate are the same cells
        assert other["code"] == "0"
        assert other["data"]["liquidation_leverage_data"] == ours["data"]["liquidation_leverage_data"]
        assert other["data"]["y_axis"] == ours["data"]["y_axis"]
        assert other["data"]["price_candlesticks"] == ours["data"]["price_candlesticks"]
