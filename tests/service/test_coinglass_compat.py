"""Coinglass v4 liquidation family: one compatibility test per path, written from the reference
(/work/shared/reference/coinglass-api.md: paths, parameters, shapes and types field by field), with values
derived independently (SQL over the stored prints, the model through ``heatmap_for``), and the error
envelope (``code`` a non-zero string, ``msg`` text, HTTP 200 for business errors) on every path."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.query import HeatmapQuery, heatmap_for

P = "/api/futures/liquidation"
PATHS_AND_REQUIRED = [  # path, a valid request, the required parameter that is then left out
    (f"{P}/heatmap/model1", {"exchange": "Binance", "symbol": "BTCUSDT", "range": "3d"}, "exchange"),
    (f"{P}/aggregated-heatmap/model3", {"symbol": "BTC", "range": "3d"}, "symbol"),
    (f"{P}/map", {"exchange": "Binance", "symbol": "BTCUSDT", "range": "1d"}, "symbol"),
    (f"{P}/aggregated-map", {"symbol": "BTC", "range": "1d"}, "symbol"),
    (f"{P}/history", {"exchange": "Binance", "symbol": "BTCUSDT", "interval": "1h"}, "interval"),
    (f"{P}/aggregated-history", {"exchange_list": "Binance", "symbol": "BTC", "interval": "1h"}, "exchange_list"),
    (f"{P}/exchange-list", {"range": "24h"}, "range"),
    (f"{P}/v2/history", {"symbol": "BTC", "interval": "1h"}, "symbol"),
    (f"{P}/v3/aggregated-history", {"exchanges": "Binance", "symbol": "BTC", "interval": "1h"}, "interval"),
    (f"{P}/order", {"exchange": "Binance", "symbol": "BTC", "min_liquidation_amount": "0"}, "exchange"),
]


def _ok(r) -> object:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == "0" and body["msg"] == "success" and isinstance(body["code"], str)
    return body["data"]


def _is_cents(x: float) -> bool:
    return isinstance(x, float | int) and round(x, 2) == x


def _sql(store, sql: str, params=()) -> list[tuple]:
    return store.execute(sql, params)


@pytest.mark.parametrize("path,params,missing", PATHS_AND_REQUIRED)
def test_errors_come_in_the_envelope(client, path, params, missing):
    r = client.get(path, params={k: v for k, v in params.items() if k != missing})
    assert r.status_code == 200  # business errors: HTTP 200, the body's code tells (clients read it)
    body = r.json()
    assert body == {"code": "400", "msg": f"Required String parameter '{missing}' is not present"}
    # a wrong value: the envelope names the parameter
    r = client.get(path, params={**params, "symbol": "B@D"} if "symbol" in params else {**params, "range": "48h"})
    body = r.json()
    assert r.status_code == 200 and body["code"] == "400" and "parameter '" in body["msg"] and "data" not in body


def test_unknown_paths_and_wrong_types_keep_the_envelope(client):
    r = client.get(f"{P}/aggregated_heatmap/model1", params={"symbol": "BTC"})  # an old client's typo
    assert r.status_code == 404 and r.json() == {"code": "404", "msg": f"Endpoint not found: {P}/aggregated_heatmap/model1"}
    r = client.get(f"{P}/heatmap/model4", params={"exchange": "Binance", "symbol": "BTCUSDT"})
    assert r.status_code == 200 and r.json()["code"] == "400" and "'model'" in r.json()["msg"]
    r = client.get(f"{P}/history", params={"exchange": "Binance", "symbol": "BTCUSDT", "interval": "1h",
                                           "limit": "lots"})
    assert r.json()["code"] == "400" and "'limit'" in r.json()["msg"]
    r = client.get(f"{P}/heatmap/model1", params={"exchange": "FTX", "symbol": "BTCUSDT", "range": "3d"})
    assert r.json()["code"] == "400" and "'exchange'" in r.json()["msg"] and "Binance" in r.json()["msg"]
    # the native API keeps its own error body
    assert "detail" in client.get("/api/heatmap", params={"symbol": "BTC", "range": "48h"}).json()


def test_usdc_pairs_are_refused_not_answered_with_usdt_data(client):
    for symbol in ("BTCUSDC", "BTC-USDC", "BTCUSD_PERP"):
        body = client.get(f"{P}/heatmap/model2", params={"exchange": "Binance", "symbol": symbol, "range": "3d"}).json()
        assert body["code"] == "400" and "BTCUSDT" in body["msg"] and symbol in body["msg"]
    body = client.get(f"{P}/aggregated-heatmap/model1", params={"symbol": "BTCUSDC", "range": "3d"}).json()
    assert body["code"] == "400" and "base coin" in body["msg"]
    # Hyperliquid is USDC-margined: BTCUSDC is its pair (no Hyperliquid bars in the sample: no data, not a refusal)
    body = client.get(f"{P}/heatmap/model1", params={"exchange": "Hyperliquid", "symbol": "BTCUSDC", "range": "3d"}).json()
    assert body["code"] == "404"


def test_heatmap_models_serve_liqmaps_model_with_client_spellings(client, store):
    expected = heatmap_for(store, HeatmapQuery("BTC", exchanges=("binance",), range="3d"))
    bodies = [_ok(client.get(f"{P}/heatmap/model{n}", params={"exchange": "Binance", "symbol": "BTCUSDT",
                                                               "range": "3d"})) for n in (1, 2, 3)]
    assert bodies[0] == bodies[1] == bodies[2]
    # SnakeO sends `ex=` and no range (default 3d); heatmap_imbalancer sends `currency=` and `interval=`
    snake = _ok(client.get(f"{P}/heatmap/model1", params={"ex": "Binance", "symbol": "BTCUSDT"}))
    imbalancer = _ok(client.get(f"{P}/aggregated-heatmap/model2", params={"currency": "BTC", "interval": "3d"}))
    for data in (snake, imbalancer):
        assert data["liquidation_leverage_data"] == bodies[0]["liquidation_leverage_data"]
    data = bodies[0]
    assert set(data) == {"y_axis", "liquidation_leverage_data", "price_candlesticks", "update_time"}
    assert data["y_axis"] == sorted(data["y_axis"]) and all(_is_cents(p) for p in data["y_axis"])
    np.testing.assert_allclose(data["y_axis"], expected.price_centers, atol=0.005, rtol=0)
    # The Coinglass paths serve what the page shows: USD calibrated to realized liquidations (same factors as
    # the native API's `calibration` block for the view).
    cal = client.get("/api/heatmap", params={"symbol": "BTC", "exchanges": "binance", "range": "3d"}).json()
    grid = expected.long * cal["calibration"]["factor_long"] + expected.short * cal["calibration"]["factor_short"]
    for x, y, value in data["liquidation_leverage_data"]:
        assert isinstance(x, int) and isinstance(y, int) and _is_cents(value) and value > 0
        assert abs(value - grid[x, y]) <= 0.005 + 1e-9 * grid[x, y]
    for row in data["price_candlesticks"]:
        assert isinstance(row[0], int) and all(isinstance(v, str) for v in row[1:]) and len(row) == 6
    assert float(data["price_candlesticks"][-1][4]) == pytest.approx(expected.last_price)
    assert len(data["price_candlesticks"]) == len(expected.times)
    assert isinstance(data["update_time"], int)


def test_pair_map_is_the_latest_column_per_leverage_tier(client, store):
    data = _ok(client.get(f"{P}/map", params={"exchange": "Binance", "symbol": "BTCUSDT", "range": "1d"}))
    assert set(data) == {"data"} and isinstance(data["data"], dict)
    tiers = (25.0, 50.0, 75.0, 100.0, 125.0)
    expected: dict[tuple[float, int], float] = {}
    for tier in tiers:
        snap = heatmap_for(store, HeatmapQuery("BTC", exchanges=("binance",), range="24h", leverage=(tier,))).column()
        for b, value in enumerate(snap.long + snap.short):
            if round(value, 2) > 0:
                expected[(round(float(snap.price_centers[b]), 2), int(tier))] = value
    got = {}
    for key, rows in data["data"].items():
        for price, level, leverage, fourth in rows:
            assert float(key) == price and _is_cents(price) and _is_cents(level)
            assert isinstance(leverage, int) and fourth is None
            got[(price, leverage)] = level
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert abs(got[k] - v) <= 0.005 + 1e-9 * v


def test_coin_map_has_the_live_shape(client, store):
    data = _ok(client.get(f"{P}/aggregated-map", params={"symbol": "BTC", "range": "1d"}))
    (item,) = data["data"]  # one exchange with bars in the sample
    assert item["instrument"]["exName"] == "Binance"
    snap = heatmap_for(store, HeatmapQuery("BTC", exchanges=("binance",), range="24h")).column()
    assert data["last_price"] == pytest.approx(snap.price)
    values = snap.long + snap.short
    expected = {round(float(c), 2): v for c, v in zip(snap.price_centers, values, strict=True) if round(v, 2) > 0}
    got = {row[0]: row for rows in item["liqMapV2"].values() for row in rows}
    assert got.keys() == expected.keys()
    for price, (_, level, third, fourth) in got.items():
        assert abs(level - expected[price]) <= 0.005 + 1e-9 * expected[price] and third is None and fourth is None


def _history_sql(store, exchanges, step):
    rows = _sql(store, "SELECT ts_event - ts_event % ? AS t, side, sum(usd) FROM liquidations WHERE symbol = 'BTC' "
                       f"AND exchange IN ({','.join('?' * len(exchanges))}) GROUP BY t, side ORDER BY t",
                [step, *exchanges])
    out: dict[int, dict[str, float]] = {}
    for t, side, total in rows:
        out.setdefault(int(t), {"long": 0.0, "short": 0.0})[side] = total
    return out


def test_pair_history_sums_the_stored_prints(client, store):
    data = _ok(client.get(f"{P}/history", params={"exchange": "Binance", "symbol": "BTCUSDT", "interval": "5m"}))
    expected = _history_sql(store, ["binance"], 300_000)
    assert expected, "the sample holds Binance BTC prints"
    nonzero = {row["time"]: row for row in data if float(row["long_liquidation_usd"]) or float(row["short_liquidation_usd"])}
    assert nonzero.keys() == expected.keys()
    for t, row in nonzero.items():
        assert set(row) == {"time", "long_liquidation_usd", "short_liquidation_usd"} and isinstance(row["time"], int)
        assert isinstance(row["long_liquidation_usd"], str) and isinstance(row["short_liquidation_usd"], str)
        assert float(row["long_liquidation_usd"]) == pytest.approx(expected[t]["long"], abs=1e-5)
        assert float(row["short_liquidation_usd"]) == pytest.approx(expected[t]["short"], abs=1e-5)
    times = [row["time"] for row in data]
    assert times == list(range(times[0], times[-1] + 1, 300_000))  # empty buckets between prints are 0
    # limit keeps the newest buckets; camelCase times (SnakeO) are read too
    last = _ok(client.get(f"{P}/history", params={"exchange": "Binance", "symbol": "BTCUSDT", "interval": "5m",
                                                  "limit": 1}))
    assert last == data[-1:]
    after = _ok(client.get(f"{P}/history", params={"ex": "Binance", "symbol": "BTCUSDT", "interval": "5m",
                                                   "startTime": times[-1]}))
    assert after == data[-1:]


def test_coin_history_over_an_exchange_list(client, store):
    data = _ok(client.get(f"{P}/aggregated-history", params={"exchange_list": "Binance,OKX", "symbol": "BTC",
                                                             "interval": "1h"}))
    expected = _history_sql(store, ["binance", "okx"], 3_600_000)
    assert {row["time"] for row in data} == expected.keys()
    for row in data:
        assert set(row) == {"time", "aggregated_long_liquidation_usd", "aggregated_short_liquidation_usd"}
        assert isinstance(row["aggregated_long_liquidation_usd"], float)  # numbers here (strings in `history`)
        assert row["aggregated_long_liquidation_usd"] == pytest.approx(expected[row["time"]]["long"], abs=1e-5)
        assert row["aggregated_short_liquidation_usd"] == pytest.approx(expected[row["time"]]["short"], abs=1e-5)


def _window_sums(store, hours: float, **where: str):
    end = _sql(store, "SELECT max(ts_event) + 1 FROM liquidations")[0][0]
    clause = "".join(f" AND {k} = '{v}'" for k, v in where.items())
    rows = _sql(store, "SELECT symbol, exchange, side, sum(usd) FROM liquidations WHERE ts_event >= ? "
                       f"{clause} GROUP BY ALL", [end - int(hours * 3_600_000)])
    return rows


def test_coin_list_windows(client, store):
    data = _ok(client.get(f"{P}/coin-list", params={"ex": "Binance"}))
    fields = {f"{p}liquidation_usd_{w}" for p in ("", "long_", "short_") for w in ("24h", "12h", "4h", "1h")}
    assert all(set(row) == fields | {"symbol"} for row in data)
    by_coin = {row["symbol"]: row for row in data}
    for window in ("24h", "1h"):
        totals: dict[str, dict[str, float]] = {}
        for coin, _, side, total in _window_sums(store, float(window[:-1])):
            totals.setdefault(coin, {"long": 0.0, "short": 0.0})[side] += total
        for coin, sums in totals.items():
            row = by_coin[coin]
            assert row[f"long_liquidation_usd_{window}"] == round(sums["long"], 2)
            assert row[f"short_liquidation_usd_{window}"] == round(sums["short"], 2)
            assert all(_is_cents(v) for k, v in row.items() if k != "symbol")
    assert [r["liquidation_usd_24h"] for r in data] == sorted((r["liquidation_usd_24h"] for r in data), reverse=True)


def test_exchange_list_first_row_is_all_with_both_spellings(client, store):
    data = _ok(client.get(f"{P}/exchange-list", params={"range": "4h", "symbol": "BTC"}))
    assert data[0]["exchange"] == "All"
    long_sum = sum(t for _, _, side, t in _window_sums(store, 4, symbol="BTC") if side == "long")
    short_sum = sum(t for _, _, side, t in _window_sums(store, 4, symbol="BTC") if side == "short")
    for row in data:
        assert set(row) == {"exchange", "liquidation_usd", "long_liquidation_usd", "short_liquidation_usd",
                            "longLiquidation_usd", "shortLiquidation_usd"}
        assert row["longLiquidation_usd"] == row["long_liquidation_usd"]
    assert data[0]["long_liquidation_usd"] == round(long_sum, 2) and data[0]["short_liquidation_usd"] == round(short_sum, 2)
    assert [r["exchange"] for r in data[1:]] == ["Binance"]


def test_orders_are_the_stored_prints(client, store):
    data = _ok(client.get(f"{P}/order", params={"exchange": "Binance", "symbol": "ETH",
                                                "min_liquidation_amount": "1000"}))
    rows = _sql(store, "SELECT ts_event, side, price, usd FROM liquidations WHERE exchange = 'binance' AND "
                       "symbol = 'ETH' AND usd >= 1000 ORDER BY ts_event DESC")
    assert rows and len(data) == len(rows)
    for got, (ts, side, price, amount) in zip(data, rows, strict=True):
        assert got == {"exchange_name": "BINANCE", "symbol": "ETHUSDT", "base_asset": "ETH", "price": price,
                       "usd_value": round(amount, 2), "side": 2 if side == "long" else 1, "time": ts}
    # SnakeO leaves min_liquidation_amount out: every print
    everything = _ok(client.get(f"{P}/order", params={"ex": "Binance", "symbol": "ETH"}))
    assert len(everything) == _sql(store, "SELECT count(*) FROM liquidations WHERE symbol = 'ETH'")[0][0]


def test_max_pain_is_the_largest_level_each_side(client, store):
    (row,) = _ok(client.get(f"{P}/max-pain", params={"range": "24h"}))
    snap = heatmap_for(store, HeatmapQuery("BTC", range="24h")).column()
    centers = snap.price_centers
    below = np.where(centers <= snap.price, snap.long, 0.0)
    above = np.where(centers > snap.price, snap.short, 0.0)
    assert row == pytest.approx({
        "symbol": "BTC", "price": round(snap.price, 2),
        "long_max_pain_liq_level": round(below.max(), 2), "long_max_pain_liq_price": round(centers[below.argmax()], 2),
        "short_max_pain_liq_level": round(above.max(), 2), "short_max_pain_liq_price": round(centers[above.argmax()], 2),
    }, abs=0.0051)
    assert row["long_max_pain_liq_price"] < row["price"] < row["short_max_pain_liq_price"]
    assert client.get(f"{P}/max-pain", params={"range": "1y"}).json()["code"] == "400"


def test_older_history_paths(client, store):
    data = _ok(client.get(f"{P}/v2/history", params={"symbol": "BTC", "timeType": "1h"}))
    expected = _history_sql(store, ["binance"], 3_600_000)
    assert {row["t"] for row in data} == expected.keys()
    for row in data:
        assert set(row) == {"t", "longLiquidationUsd", "shortLiquidationUsd", "longVolUsd", "shortVolUsd"}
        assert row["longLiquidationUsd"] == row["longVolUsd"] == round(expected[row["t"]]["long"], 2)
        assert row["shortLiquidationUsd"] == row["shortVolUsd"] == round(expected[row["t"]]["short"], 2)
    v3 = _ok(client.get(f"{P}/v3/aggregated-history", params={"exchanges": "Binance", "symbol": "BTC", "interval": "1h"}))
    v4 = _ok(client.get(f"{P}/aggregated-history", params={"exchange_list": "Binance", "symbol": "BTC", "interval": "1h"}))
    assert v3 == v4 and v4
