"""The service side of calibrated USD, reach probabilities and bad-tick flags (``liqmap.calibrate``).

``calibration=auto`` (default) scales a view's USD by the view's calibration; ``calibration=none`` keeps
the model's raw USD. The fit needs the predicted days of the view's fit view (``liqmap.calibrate.fit_query``:
one per venues, symbol and UTC day of the view's last column), computed once per fit view and stored rows
it reads (:func:`fit_predicted`), and a read of the realized liquidations: calibrations are cached per
predicted days and realized rows.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any

import numpy as np
from fastapi import Query

from liqmap.analysis.calibration import FALLBACK, MODES, NONE, Calibration, scale_heatmap
from liqmap.lru import SingleFlightLRU
from liqmap.model.result import Heatmap, LiquidationMap
from liqmap.service.params import ParamError, ViewKey
from liqmap.types import DAY_MS

CalibrationQ = Annotated[
    str | None, Query(description="USD calibration: auto (default: fitted on realized liquidations) | none (raw model USD)",
                      json_schema_extra={"enum": ["", *MODES, "AUTO", "NONE"]})
]



def context_cache(ctx: Any, name: str, size: int = 256) -> SingleFlightLRU[Any]:
    """A cache kept on the service context (one per app, so two apps never share entries)."""
    caches: dict[str, SingleFlightLRU[Any]] = ctx.__dict__.setdefault("_trust_caches", {})
    if name not in caches:
        caches[name] = SingleFlightLRU(size, 1 << 30, lambda _: 1)
    return caches[name]


def parse_mode(value: str | None) -> str:
    mode = (value or "auto").lower()
    if mode not in MODES:
        raise ParamError("calibration", f"unknown calibration {value!r}", MODES)
    return mode


def view_calibration(ctx: Any, key: ViewKey, heatmap: Heatmap, mode: str = "auto") -> Calibration:
    """The calibration of the view ``key`` (whose heatmap is ``heatmap``; it depends on the heatmap's
    venues, symbol and last day only)."""
    return calibration_with(ctx, ctx.store, ctx.cache, heatmap, mode, latest=key.end is None)


def calibration_with(owner: Any, store: Any, cache: Any, heatmap: Heatmap, mode: str = "auto", *,
                     latest: bool = False) -> Calibration:
    """:func:`view_calibration` for any holder of a store and a heatmap cache (the service context, the
    live loop); results are cached on ``owner``, the fit views' predicted days on ``cache``. ``latest``: the
    view follows the latest data (:func:`prefetch_next_fit`)."""
    if mode == "none":
        return NONE
    from liqmap.calibrate import REALIZED_TABLES, calibration_on, has_realized

    if not has_realized(store, heatmap.symbol, heatmap.exchanges):
        return FALLBACK  # what the fit would give, without computing its fit view
    if latest:
        prefetch_next_fit(store, cache, heatmap)
    days, p_long, p_short = fit_predicted(store, cache, heatmap)
    # Keyed on everything the calibration depends on (not on the data version: a new bar changes neither
    # the complete days' predictions nor the realized rows, and the live loop asks at every new bar).
    realized = tuple(entry for entry in store.version() if entry[0] in REALIZED_TABLES)
    cache_key = (heatmap.symbol, heatmap.exchanges, int(heatmap.times[-1]) // DAY_MS, days.tobytes(),
                 p_long.tobytes(), p_short.tobytes(), realized)

    def compute() -> Calibration:
        return calibration_on(store, heatmap, days, p_long, p_short)

    cal: Calibration = context_cache(owner, "calibration").get(cache_key, compute)
    return cal


def fit_key(heatmap: Heatmap) -> ViewKey:
    """The :class:`ViewKey` of the fit view of the view whose heatmap is ``heatmap``
    (:func:`liqmap.calibrate.fit_query`; the service models with the default settings)."""
    from liqmap.calibrate import fit_query

    query = fit_query(heatmap)
    return ViewKey(**{f.name: getattr(query, f.name) for f in dataclasses.fields(ViewKey)})


def fit_predicted(store: Any, cache: Any, heatmap: Heatmap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The predicted days of ``heatmap``'s view (:func:`liqmap.calibrate.fit_days`), kept on ``cache`` (so
    the API and the live loop share them) per fit view and fingerprint of the stored rows its run reads
    (:func:`liqmap.warmbooks.fingerprint`: one count per table): new bars of the view's day change neither,
    so the fit view is computed once a day, and again only when rows before that day change."""
    from liqmap.calibrate import fit_days, fit_rows

    key = fit_key(heatmap)
    prints = fit_rows(store, key.query())
    days: tuple[np.ndarray, np.ndarray, np.ndarray] = context_cache(cache, "fit").get(
        (key, prints), lambda: fit_days(store, heatmap, lambda: cache.compute_fn(store, key)))
    return days


def prefetch_next_fit(store: Any, cache: Any, heatmap: Heatmap) -> None:
    """Once every venue of ``heatmap`` has its bars up to the next UTC midnight (the last bar of the day is
    in), compute the next day's fit view ahead (``cache.prefetch``: a thread, once per fit view): the first
    bar of the day then finds it ready instead of computing it on the way to the clients (a 30-day run,
    ~100-250 ms on five venues of 1-minute bars). Its run goes through ``cache.compute_fn`` (the compute
    gate); the view's warm-up books at a new midnight are built ahead the same way
    (:meth:`liqmap.service.views.HeatmapCache.prefetch_books`)."""
    from liqmap.calibrate import fit_day

    midnight = fit_day(heatmap) + DAY_MS
    ends: dict[str, int] = {}
    for row in store.series("bars"):
        if row["symbol"] == heatmap.symbol and row["exchange"] in heatmap.exchanges:
            end = int(row["last"]) + int(row["interval_ms"])
            ends[row["exchange"]] = max(ends.get(row["exchange"], end), end)
    if len(ends) < len(heatmap.exchanges) or min(ends.values()) < midnight:
        return
    tomorrow = dataclasses.replace(heatmap, times=np.array([midnight], dtype=np.int64))
    cache.prefetch.start(("fit", fit_key(tomorrow)), lambda: fit_predicted(store, cache, tomorrow))


def calibrated(ctx: Any, key: ViewKey, heatmap: Heatmap, mode: str = "auto") -> tuple[Heatmap, Calibration]:
    cal = view_calibration(ctx, key, heatmap, mode)
    return scale_heatmap(heatmap, cal), cal


def sigma_at(ctx: Any, heatmap: Heatmap, k: int) -> float:
    """Volatility per sqrt hour at column ``k`` (:func:`liqmap.calibrate.sigma_now`), cached."""
    from liqmap.calibrate import sigma_now

    key = (heatmap.symbol, heatmap.exchanges, int(heatmap.times[k]), heatmap.interval_ms, ctx.version)
    return float(context_cache(ctx, "sigma").get(key, lambda: sigma_now(ctx.store, heatmap, k)))


def reach_curves(snapshot: LiquidationMap, sigma: float) -> dict[str, Any]:
    """``sigma_per_sqrt_hour`` and, per price bin centre, P(touch within 4 h / 24 h) (None when unknown)."""
    from liqmap.analysis.reach import touch_probability

    if not math.isfinite(sigma):
        return {"sigma_per_sqrt_hour": None, "reach_4h": None, "reach_24h": None}
    centers = np.maximum(snapshot.price_centers, 1e-12)
    return {
        "sigma_per_sqrt_hour": sigma,
        "reach_4h": np.round(touch_probability(snapshot.price, centers, sigma, 4.0), 4).tolist(),
        "reach_24h": np.round(touch_probability(snapshot.price, centers, sigma, 24.0), 4).tolist(),
    }


def bad_ticks(heatmap: Heatmap) -> list[dict[str, object]]:
    """Bad ticks (clipped wicks) in the view's bars, as dicts: those its frames' cleaning clipped
    (:attr:`liqmap.model.result.Heatmap.bad_ticks`), no second read of the bars."""
    return [t.to_dict() for t in heatmap.bad_ticks]
