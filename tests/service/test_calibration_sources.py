"""Which realized series calibrates a view (liqmap.calibrate.calibration_for): prints when a week of them
exists, Coinglass bars otherwise (a day of prints does not override them), the sample fallback without either."""

from __future__ import annotations

import dataclasses
from statistics import median

import numpy as np
import pytest

from liqmap.analysis.calibration import FALLBACK
from liqmap.calibrate import FIT_BINS, calibration_for, fit_query, predicted_days
from liqmap.query import HeatmapQuery, heatmap_for
from liqmap.types import Liquidation

DAY = 86_400_000


def _prints(heatmap, days: int, usd_per_day: float) -> list[Liquidation]:
    """One long and one short print of ``usd_per_day`` each on each of the ``days`` days before the last."""
    last_day = int(heatmap.times[-1]) // DAY * DAY
    out = []
    for i in range(1, days + 1):
        t = last_day - i * DAY + 3_600_000
        out += [Liquidation("binance", "BTC", t, t, "long", 77_000.0, usd_per_day / 77_000.0, usd_per_day),
                Liquidation("binance", "BTC", t + 1, t + 1, "short", 77_000.0, usd_per_day / 77_000.0, usd_per_day)]
    return out


def test_a_week_of_prints_wins_and_a_day_does_not(store) -> None:
    view = heatmap_for(store, HeatmapQuery("BTC", range="7d"))
    fit = heatmap_for(store, fit_query(view))
    assert calibration_for(store, view, fit).source == "coinglass"
    store.write(_prints(view, 1, 1e6))
    assert calibration_for(store, view, fit).source == "coinglass"
    store.write(_prints(view, 7, 1e6))
    cal = calibration_for(store, view, fit)
    assert cal.source == "prints"
    # $1M a day realized against the model's daily sums of the same 7 days
    last_day = int(view.times[-1]) // DAY * DAY
    daily = _daily_swept(fit)
    assert cal.factor_long == pytest.approx(median(1e6 / daily[last_day - i * DAY] for i in range(1, 8)))


def test_no_realized_liquidations_gives_the_sample_fallback(store) -> None:
    store.execute("DELETE FROM liquidation_bars")
    view = heatmap_for(store, HeatmapQuery("BTC", range="7d"))
    fit = heatmap_for(store, fit_query(view))
    assert calibration_for(store, view, fit) is FALLBACK


def test_the_service_cache_follows_the_realized_rows(store) -> None:
    """The service keeps calibrations across data versions (a new bar changes nothing they read), keyed on
    the predicted days and the realized tables' data version: new prints give the new calibration."""
    from liqmap.service.calibration import calibration_with
    from liqmap.service.params import ViewKey
    from liqmap.service.views import HeatmapCache

    class Owner:
        pass

    owner, cache = Owner(), HeatmapCache(store)
    key = ViewKey(symbol="BTC", exchanges=None, range="7d", end=None, leverage=None, ages=None, n_bins=500,
                  max_columns=1000)
    view = cache.get(key, 1)
    fit = heatmap_for(store, fit_query(view))
    # the service's fit view continues from its warm-up books: the same up to float rounding
    assert _same(calibration_with(owner, store, cache, view), calibration_for(store, view, fit))
    store.write(_prints(view, 7, 1e6))
    cal = calibration_with(owner, store, cache, view)
    assert cal.source == "prints" and _same(cal, calibration_for(store, view, fit))


def _same(a, b) -> bool:
    return (a.source, a.fitted_on, a.days) == (b.source, b.fitted_on, b.days) and (
        (a.factor_long, a.factor_short) == pytest.approx((b.factor_long, b.factor_short), rel=1e-9))


def test_views_ending_the_same_day_share_one_fit_view_and_calibration(store) -> None:
    """End hour, range, bins and columns do not move the calibration: one fit view per venues, symbol and
    day (computed once), one factor; the day before has another fit view, fitted on days one earlier."""
    from liqmap.service.calibration import calibration_with, context_cache, fit_key
    from liqmap.service.params import ViewKey
    from liqmap.service.views import HeatmapCache

    class Owner:
        pass

    cache = HeatmapCache(store)
    latest = heatmap_for(store, HeatmapQuery("BTC", range="7d"))
    day = int(latest.times[-1]) // DAY * DAY
    store.write(_prints(latest, 20, 1e6))
    keys = [ViewKey(symbol="BTC", exchanges=None, range=r, end=day + h * 3_600_000, leverage=None, ages=None,
                    n_bins=bins, max_columns=cols)
            for r, h, bins, cols in (("7d", 5, 500, 1000), ("24h", 13, 200, 300), ("30d", 23, 900, 50),
                                     ("3d", 1, 500, 1000))]
    views = [cache.get(key, 1) for key in keys]
    assert all(int(v.times[-1]) // DAY * DAY == day for v in views)
    assert len({fit_key(v) for v in views}) == 1 and fit_key(views[0]).end == day
    cals = [calibration_with(Owner(), store, cache, v) for v in views]
    fits = context_cache(cache, "fit")
    assert fits.misses == 1  # one fit view for the four views
    assert cals[0].source == "prints" and cals[0].fitted_on == (day - 7 * DAY, day)
    assert all(cal == cals[0] for cal in cals[1:])
    fit = heatmap_for(store, fit_query(views[0]))
    assert _same(cals[0], calibration_for(store, views[0], fit))
    # the day before: its own fit view, fitted on the 7 days before it
    before = cache.get(dataclasses.replace(keys[0], end=day - 3_600_000), 1)
    previous = calibration_with(Owner(), store, cache, before)
    assert fits.misses == 2 and fit_key(before).end == day - DAY
    assert previous.fitted_on == (day - 8 * DAY, day - DAY)
    assert (previous.factor_long, previous.factor_short) != (cals[0].factor_long, cals[0].factor_short)
    daily = _daily_swept(heatmap_for(store, fit_query(before)))
    assert previous.factor_long == pytest.approx(median(1e6 / daily[day - i * DAY] for i in range(2, 9)))


def _daily_swept(fit) -> dict[int, float]:
    daily: dict[int, float] = {}
    for t, lo in zip(fit.times, fit.swept_long, strict=True):
        daily[int(t) // DAY * DAY] = daily.get(int(t) // DAY * DAY, 0.0) + lo
    return daily


def test_the_fit_view_is_one_column_per_bar_ending_at_the_days_midnight(store) -> None:
    view = heatmap_for(store, HeatmapQuery("BTC", range="24h", end=1_779_000_000_000, n_bins=300, max_columns=20))
    fit = heatmap_for(store, fit_query(view))
    day = 1_779_000_000_000 // DAY * DAY
    assert int(fit.times[-1]) + fit.interval_ms == day
    assert int(fit.times[0]) == day - 30 * DAY
    assert np.all(np.diff(fit.times) == fit.interval_ms)  # a column per bar: none straddles a midnight
    assert fit.long.shape[1] == FIT_BINS


def test_without_realized_rows_the_fit_view_is_not_computed(store) -> None:
    """No prints and no liquidation bars of the view's venues (or "aggregate"): the calibration is the fallback,
    as the fit on the 30-day view gives, and the service does not compute that view."""
    from liqmap.calibrate import calibrated_view, has_realized
    from liqmap.service.calibration import calibration_with, context_cache
    from liqmap.service.params import ViewKey
    from liqmap.service.views import HeatmapCache

    class Owner:
        pass

    key = ViewKey(symbol="BTC", exchanges=None, range="7d", end=None, leverage=None, ages=None, n_bins=500,
                  max_columns=1000)
    cache = HeatmapCache(store)
    view = cache.get(key, 1)
    assert has_realized(store, view.symbol, view.exchanges)
    store.execute("DELETE FROM liquidation_bars")
    store.execute("DELETE FROM liquidations")
    assert not has_realized(store, view.symbol, view.exchanges)
    fit = heatmap_for(store, fit_query(view))
    assert calibration_for(store, view, fit) is FALLBACK  # the fit's own answer
    assert calibration_with(Owner(), store, cache, view) is FALLBACK
    assert cache.misses == 1 and context_cache(cache, "fit").misses == 0  # the 7-day view only
    assert calibrated_view(store, HeatmapQuery("BTC", range="7d"), view)[1] is FALLBACK
    store.write(_prints(view, 1, 1e6))  # one day of prints: a source to try again (too few days: fallback)
    assert has_realized(store, view.symbol, view.exchanges)
    assert calibration_with(Owner(), store, cache, view) is calibration_for(store, view, fit) is FALLBACK
    assert context_cache(cache, "fit").misses == 1  # the fit view


def test_api_and_cli_give_one_calibration_per_day(client, store) -> None:
    """GET /api/heatmap's calibration block and the CLI's (``calibrated_view``: pictures, levels) are the
    same for every view ending the same day, and move at the day boundary."""
    from liqmap.calibrate import calibrated_view

    latest = heatmap_for(store, HeatmapQuery("BTC", range="7d"))
    day = int(latest.times[-1]) // DAY * DAY
    store.write(_prints(latest, 20, 1e6))

    def api(range_: str, end: int, rows: int, columns: int) -> dict:
        params = {"symbol": "BTC", "range": range_, "end": end, "rows": rows, "columns": columns}
        return client.get("/api/heatmap", params=params).json()["calibration"]

    def cli(range_: str, end: int, rows: int, columns: int) -> dict:
        query = HeatmapQuery("BTC", range=range_, end=end, n_bins=rows, max_columns=columns)
        return calibrated_view(store, query, heatmap_for(store, query))[1].to_dict()

    same_day = [api("7d", day + 2 * 3_600_000, 500, 1000), api("24h", day + 20 * 3_600_000, 120, 48),
                cli("3d", day + 9 * 3_600_000, 300, 200), cli("30d", day + 23 * 3_600_000, 500, 1000)]
    assert same_day[0]["source"] == "prints" and same_day[0]["fitted_on"] == [day - 7 * DAY, day]
    for other in same_day[1:]:
        assert {**other, "factor_long": 0, "factor_short": 0} == {**same_day[0], "factor_long": 0, "factor_short": 0}
        assert (other["factor_long"], other["factor_short"]) == pytest.approx(
            (same_day[0]["factor_long"], same_day[0]["factor_short"]), rel=1e-9)
    earlier = [api("7d", day, 500, 1000), cli("24h", day - 3_600_000, 200, 100)]  # last columns in the day before
    assert earlier[0]["fitted_on"] == earlier[1]["fitted_on"] == [day - 8 * DAY, day - DAY]
    assert earlier[0]["factor_long"] == pytest.approx(earlier[1]["factor_long"], rel=1e-9)
    assert earlier[0]["factor_long"] != pytest.approx(same_day[0]["factor_long"], rel=1e-6)


def test_the_next_days_fit_view_is_computed_ahead_once_the_day_is_complete(store) -> None:
    """A view of the latest data whose bars reach the next midnight starts that day's fit view in a thread,
    so the day's first bar finds it computed; a view with an ``end`` starts nothing."""
    from liqmap.service.calibration import calibration_with, fit_predicted
    from liqmap.service.params import ViewKey
    from liqmap.service.views import HeatmapCache

    class Owner:
        pass

    cache = HeatmapCache(store)
    key = ViewKey(symbol="BTC", exchanges=None, range="24h", end=None, leverage=None, ages=None, n_bins=500,
                  max_columns=1000)
    view = cache.get(key, 1)
    midnight = int(view.times[-1]) // DAY * DAY + DAY
    assert int(view.times[-1]) + view.interval_ms == midnight  # the sample's last bar closes the day
    calibration_with(Owner(), store, cache, view)  # not the latest data: nothing ahead
    assert cache.prefetch.started == 0
    calibration_with(Owner(), store, cache, view, latest=True)
    cache.prefetch.wait(60)
    assert cache.prefetch.started == 1

    def no_compute(store_, key_):
        raise AssertionError(f"computed {key_}")

    cache.compute_fn = no_compute
    tomorrow = dataclasses.replace(view, times=np.array([midnight]))
    days, p_long, _ = fit_predicted(store, cache, tomorrow)
    assert days[-1] == midnight - DAY and days[0] == midnight - 30 * DAY
    assert p_long == pytest.approx(predicted_days(tomorrow, heatmap_for(store, fit_query(tomorrow)))[1], rel=1e-9)
