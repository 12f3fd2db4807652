"""GET /api/accuracy on the shipped sample: the same figures as `liqmap evaluate` on the store, cached."""

from __future__ import annotations

import pytest

from liqmap.evaluate.runner import evaluate_store


def test_accuracy_reports_the_evaluation_of_the_store(client, store) -> None:
    body = client.get("/api/accuracy", params={"symbol": "BTC"}).json()
    assert body["available"] is True
    metrics = evaluate_store(store, symbol="BTC").to_json()
    assert body["period"]["bars"] == metrics["bars"]
    assert body["nowcast"]["rho_long"] == pytest.approx(metrics["model"]["rho_long"])
    assert body["nowcast"]["rho_baseline_short"] == pytest.approx(metrics["baselines"]["move_size_oi"]["rho_short"])
    assert body["calibration"]["calibration_daily_q50_long"] == pytest.approx(
        metrics["calibrated"]["calibration_daily_q50_long"])
    assert body["reach"]["long"]["ece"] == pytest.approx(metrics["reach"]["long"]["ece"])
    assert sum(body["reach"]["reliability"]["short"]["counts"]) == metrics["reach"]["short"]["level_bars"]
    hit, rnd = metrics["clusters"]["reach24h_long"], metrics["clusters"]["reach24h_random_same_distance_long"]
    assert f"{round(100 * hit)}%" in " ".join(body["sentences"]) and f"({round(100 * rnd)}%)" in " ".join(body["sentences"])
    assert body["bad_ticks"] == []
    assert client.get("/api/accuracy", params={"symbol": "BTC"}).json() == body  # cached: same answer


def test_accuracy_without_realized_liquidations_says_why(client, store) -> None:
    store.execute("DELETE FROM liquidation_bars")
    body = client.get("/api/accuracy", params={"symbol": "BTC"}).json()
    assert body["available"] is False and "realized liquidations" in body["reason"]
