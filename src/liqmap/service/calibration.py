"""The service side of calibrated USD, reach probabilities and bad-tick flags (``liqmap.calibrate``).

``calibration=auto`` (default) scales a view's USD by the view's calibration; ``calibration=none`` keeps
the model's raw USD. Results are cached per (view, data version): the fit needs a 30-day full-book heatmap
(itself in the heatmap cache) and a read of the realized liquidations.
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
    """The calibration of the view ``key`` (whose heatmap is ``heatmap``), cached per data version."""
    return calibration_with(ctx, ctx.store, ctx.cache, ctx.version, key, heatmap, mode)


def calibration_with(owner: Any, store: Any, cache: Any, version: int, key: ViewKey, heatmap: Heatmap,
                     mode: str = "auto") -> Calibration:
    """:func:`view_calibration` for any holder of a store and a heatmap cache (the service context, the
    live loop); results are cached on ``owner``."""
    if mode == "none":
        return NONE
    from liqmap.calibrate import FIT_RANGE, REALIZED_TABLES, calibration_on, has_realized, predicted_days

    if not has_realized(store, heatmap.symbol, heatmap.exchanges):
        return FALLBACK  # what the fit would give, without computing its 30-day full-book heatmap
    fit_key = dataclasses.replace(key, range=FIT_RANGE, leverage=None, ages=None)
    days, p_long, p_short = predicted_days(heatmap, cache.get(fit_key, version))
    # Keyed on everything the calibration depends on (not on the data version: a new bar changes neither
    # the complete days' predictions nor the realized rows, and the live loop asks at every new bar).
    realized = tuple(entry for entry in store.version() if entry[0] in REALIZED_TABLES)
    cache_key = (heatmap.symbol, heatmap.exchanges, int(heatmap.times[-1]) // DAY_MS, days.tobytes(),
                 p_long.tobytes(), p_short.tobytes(), realized)

    def compute() -> Calibration:
        return calibration_on(store, heatmap, days, p_long, p_short)

    cal: Calibration = context_cache(owner, "calibration").get(cache_key, compute)
    return cal


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
