"""Which realized series calibrates a view (liqmap.calibrate.calibration_for): prints when a week of them
exists, Coinglass bars otherwise (a day of prints does not override them), the sample fallback without either."""

from __future__ import annotations

import dataclasses
from statistics import median

import pytest

from liqmap.analysis.calibration import FALLBACK
from liqmap.calibrate import calibration_for
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
    fit = heatmap_for(store, HeatmapQuery("BTC", range="30d"))
    assert calibration_for(store, view, fit).source == "coinglass"
    store.write(_prints(view, 1, 1e6))
    assert calibration_for(store, view, fit).source == "coinglass"
    store.write(_prints(view, 7, 1e6))
    cal = calibration_for(store, view, fit)
    assert cal.source == "prints"
    # $1M a day realized against the model's daily sums of the same 7 days
    last_day = int(view.times[-1]) // DAY * DAY
    daily = {}
    for t, lo in zip(fit.times, fit.swept_long, strict=True):
        daily[int(t) // DAY * DAY] = daily.get(int(t) // DAY * DAY, 0.0) + lo
    assert cal.factor_long == pytest.approx(median(1e6 / daily[last_day - i * DAY] for i in range(1, 8)))


def test_no_realized_liquidations_gives_the_sample_fallback(store) -> None:
    store.execute("DELETE FROM liquidation_bars")
    view = heatmap_for(store, HeatmapQuery("BTC", range="7d"))
    fit = heatmap_for(store, HeatmapQuery("BTC", range="30d"))
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
    fit = cache.get(dataclasses.replace(key, range="30d"), 1)  # the service's own fit view
    assert calibration_with(owner, store, cache, 1, key, view) == calibration_for(store, view, fit)
    store.write(_prints(view, 7, 1e6))
    cal = calibration_with(owner, store, cache, 1, key, view)
    assert cal.source == "prints" and cal == calibration_for(store, view, fit)


def test_without_realized_rows_the_fit_view_is_not_computed(store) -> None:
    """No prints and no liquidation bars of the view's venues (or "aggregate"): the calibration is the fallback,
    as the fit on the 30-day view gives, and the service does not compute that view."""
    from liqmap.calibrate import calibrated_view, has_realized
    from liqmap.service.calibration import calibration_with
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
    fit = heatmap_for(store, HeatmapQuery("BTC", range="30d"))
    assert calibration_for(store, view, fit) is FALLBACK  # the fit's own answer
    assert calibration_with(Owner(), store, cache, 1, key, view) is FALLBACK
    assert cache.misses == 1  # the 7-day view only
    assert calibrated_view(store, HeatmapQuery("BTC", range="7d"), view)[1] is FALLBACK
    store.write(_prints(view, 1, 1e6))  # one day of prints: a source to try again (too few days: fallback)
    assert has_realized(store, view.symbol, view.exchanges)
    assert calibration_with(Owner(), store, cache, 1, key, view) is calibration_for(store, view, fit) is FALLBACK
    assert cache.misses == 2  # the fit view
