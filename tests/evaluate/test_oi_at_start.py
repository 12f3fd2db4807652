"""OI at a bar's start for B0 and the scored-bar mask: hourly bars, holes, bars finer than the OI series."""

from __future__ import annotations

import numpy as np

from liqmap.evaluate.baselines import move_size_oi, oi_at_start
from liqmap.model.frame import MarketFrame
from liqmap.types import HOUR_MS

NAN = np.nan


def frame(oi: list[float], interval_ms: int) -> MarketFrame:
    n = len(oi)
    price = np.full(n, 100.0)
    return MarketFrame(
        exchange="binance", symbol="BTC", interval_ms=interval_ms, ts=interval_ms * np.arange(n),
        open=price, high=price * 1.01, low=price * 0.98, close=price, volume=np.ones(n), oi_usd=np.asarray(oi),
    )


def test_hourly_bars_use_the_previous_bars_close_and_a_hole_leaves_the_next_bar_unscored() -> None:
    got = oi_at_start(frame([10.0, 20.0, NAN, 40.0, 50.0], HOUR_MS))
    np.testing.assert_array_equal(got, [NAN, 10.0, 20.0, NAN, 40.0])


def test_half_hour_bars_with_hourly_oi_take_the_value_of_the_last_full_hour() -> None:
    # OI known at the end of every second bar (the full hours), as with 30-minute klines and hourly OI.
    got = oi_at_start(frame([NAN, 10.0, NAN, 20.0, NAN, NAN, NAN, 40.0], HOUR_MS // 2))
    np.testing.assert_array_equal(got, [NAN, NAN, 10.0, 10.0, 20.0, 20.0, NAN, NAN])
    long_b0, short_b0 = move_size_oi(frame([NAN, 10.0, NAN, 20.0], HOUR_MS // 2))
    np.testing.assert_allclose(long_b0, [NAN, NAN, 0.2, 0.2])
    np.testing.assert_allclose(short_b0, [NAN, NAN, 0.1, 0.1])


def test_five_minute_bars_accept_a_value_up_to_55_minutes_old() -> None:
    oi = [NAN] * 14
    oi[0] = 7.0
    got = oi_at_start(frame(oi, 5 * 60_000))
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[1:13], [7.0] * 12)  # ages 0 .. 55 min
    assert np.isnan(got[13])  # 60 min old


def test_every_half_hour_bar_is_scored_with_hourly_oi() -> None:
    from liqmap.evaluate.dataset import EvalData
    from liqmap.evaluate.harness import scored_mask

    oi = [NAN if i % 2 == 0 else 1e6 + i for i in range(12)]
    data = EvalData(frame(oi, HOUR_MS // 2), np.ones(12), np.ones(12))
    mask = scored_mask(data, warmup_bars=0)
    np.testing.assert_array_equal(mask, [False, False] + [True] * 10)
