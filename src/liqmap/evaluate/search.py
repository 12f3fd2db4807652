"""Choose model settings by evidence: a grid on the FIT period, the winner checked on the later TEST period.

* **Split**: the scored bars (after warm-up) are cut at one instant; fit = bars before it, test = bars
  from it on. Every variant runs the causal engine once over the whole series (a test bar's prediction
  uses only data before that bar, as in live use); only fit-bar scores choose the winner.
* **Objective** (fit bars only): the *worst side's* rank-correlation gain over B0,
  ``min(rho_long - rho_long(B0), rho_short - rho_short(B0))``, plus a small tie-break
  ``0.25 * mean(capture30_long, capture30_short)``. Worst side, because a heatmap must be right on both
  sides; rho first, because the heatmap's job is to rank where (and in which bars) liquidations happen.
* **Grid** (:func:`default_grid`): one-factor-at-a-time variations around the shipped defaults, plus a
  factorial over the factors that mattered most (leverage mix, entry spread, same-bar term and its range
  rule, diffuse layer).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from liqmap.errors import ConfigError, DataError
from liqmap.evaluate.dataset import EvalData
from liqmap.evaluate.harness import (
    baseline_predictions,
    config_summary,
    model_predictions,
    score,
    scored_mask,
)
from liqmap.model.config import ModelConfig

CAPTURE_TIEBREAK = 0.25


@dataclass
class Variant:
    name: str
    config: ModelConfig
    fit: dict[str, float]
    test: dict[str, float]
    objective: float


@dataclass
class SearchResult:
    split_ts: int
    fit_bars: int
    test_bars: int
    baselines_fit: dict[str, dict[str, float]]
    baselines_test: dict[str, dict[str, float]]
    variants: list[Variant]
    best: Variant
    seconds: float
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self, top: int = 15) -> dict[str, Any]:
        from liqmap.evaluate.harness import _clean, _iso

        ranked = sorted(self.variants, key=lambda v: -v.objective)
        report: dict[str, Any] = _clean(
            {
                "split": _iso(self.split_ts),
                "fit_bars": self.fit_bars,
                "test_bars": self.test_bars,
                "variants": len(self.variants),
                "skipped": self.skipped,
                "seconds": self.seconds,
                "objective": "min over sides of (rho - rho_B0) + 0.25 * mean capture30, on fit bars",
                "best": {
                    "name": self.best.name,
                    "config": config_summary(self.best.config),
                    "fit": self.best.fit,
                    "test": self.best.test,
                },
                "baselines": {"fit": self.baselines_fit, "test": self.baselines_test},
                "ranking": [
                    {"name": v.name, "objective": v.objective, "fit": _short(v.fit), "test": _short(v.test)}
                    for v in ranked[:top]
                ],
            }
        )
        return report


def _short(m: dict[str, float]) -> dict[str, float]:
    keys = ("rho_long", "rho_short", "capture30_long", "capture30_short", "calibration_long", "calibration_short")
    return {k: round(m[k], 4) for k in keys if k in m}


def objective(metrics: dict[str, float], b0: dict[str, float]) -> float:
    """See the module docstring; NaN scores rank last."""
    gain = min(metrics["rho_long"] - b0["rho_long"], metrics["rho_short"] - b0["rho_short"])
    value = gain + CAPTURE_TIEBREAK * 0.5 * (metrics["capture30_long"] + metrics["capture30_short"])
    return float(value) if np.isfinite(value) else float("-inf")


BASE = ModelConfig()
"""Centre of the grid: the shipped defaults (docs/model.md, "Defaults chosen by evidence")."""

LEVERAGE_MIXES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "oss5": ((5.0, 10.0, 25.0, 50.0, 100.0), (0.10, 0.20, 0.30, 0.25, 0.15)),
    "mid": ((10.0, 25.0, 50.0, 100.0, 125.0), (0.1, 0.2, 0.25, 0.25, 0.2)),
    "flat": ((10.0, 25.0, 50.0, 100.0, 125.0), (0.2, 0.2, 0.2, 0.2, 0.2)),
    "high": ((25.0, 50.0, 75.0, 100.0, 125.0), (0.1, 0.2, 0.2, 0.25, 0.25)),
    "top": ((50.0, 75.0, 100.0, 125.0), (0.2, 0.2, 0.3, 0.3)),
    "low": ((3.0, 5.0, 10.0, 20.0, 50.0), (0.2, 0.2, 0.3, 0.2, 0.1)),
    "bitmex60": ((10.0, 25.0, 50.0, 75.0, 125.0), (0.15, 0.2, 0.25, 0.2, 0.2)),
}


def default_grid(base: ModelConfig = BASE) -> list[tuple[str, ModelConfig]]:
    """About 150 named variants (see the module docstring)."""
    out: dict[str, ModelConfig] = {"base": base}

    def add(name: str, **changes: Any) -> None:
        with contextlib.suppress(ConfigError):
            out[name] = replace(base, **changes)

    for lev_name, (lev, w) in LEVERAGE_MIXES.items():
        add(f"lev={lev_name}", leverage=lev, leverage_weights=w)
    for k in (0.0, 0.02, 0.1, 0.2, 0.5):
        add(f"turnover={k:g}", turnover=k)
    for entry in ("close", "typical", "ohlc4", "vwap", "range", "triangular"):
        add(f"entry={entry}", entry=entry)
    for pts in (2, 3, 9, 13):
        add(f"entry_points={pts}", entry_points=pts)
    add("entry=range9", entry="range", entry_points=9)
    for spacing in (0.0, 0.002):
        add(f"entry_spacing={spacing:g}", entry_spacing=spacing)
    add("side=symmetric", side="symmetric")
    add("side=candle", side="candle")
    for tw in (0.25, 1.0):
        add(f"side=taker{tw:g}", taker_weight=tw)
    for tilt in (0.02, 0.05):
        add(f"funding_tilt={tilt:g}", funding_tilt=tilt)
    add("close=none", close_rule="none")
    for hl in (6.0, 24.0, 72.0, 168.0):
        add(f"decay={hl:g}h", decay_half_life_hours=hl)
    for notional in (50_000.0, 500_000.0):
        add(f"notional={notional:g}", position_notional_usd=notional, above_max_leverage="cap")
    for p in (0.0, 0.25, 0.5, 1.0):
        add(f"intrabar={p:g}", intrabar_path=p)
    for gamma in (0.0, 0.5, 1.5, 2.0):
        add(f"intrabar_range={gamma:g}", intrabar_range_exponent=gamma)
    add("flat_mmr=0", flat_mmr=0.0)
    add("flat_mmr=0.006", flat_mmr=0.006)
    # The diffuse layer: its share of OI and the width of its band (the density near price is share / band).
    for share, band in itertools.product((0.0, 0.0025, 0.005, 0.01, 0.02, 0.04), (0.01, 0.02, 0.05, 0.1)):
        if share == 0.0 and band != 0.05:
            continue
        add(f"diffuse={share:g}/{band:g}", diffuse_share=share, diffuse_band=band)
    # Factorial over the factors that mattered most: leverage mix x entry spread x intrabar x diffuse.
    for (lev_name, (lev, w)), (entry, pts), path, (share, band), gamma in itertools.product(
        (("mid", LEVERAGE_MIXES["mid"]), ("high", LEVERAGE_MIXES["high"])),
        (("range", 9), ("triangular", 9), ("triangular", 5)),
        (0.5, 0.75),
        ((0.0, 0.05), (0.005, 0.02), (0.01, 0.05)),
        (0.0, 1.0),
    ):
        add(
            f"lev={lev_name},{entry}{pts},intrabar={path:g},diffuse={share:g}/{band:g},range={gamma:g}",
            leverage=lev,
            leverage_weights=w,
            entry=entry,
            entry_points=pts,
            intrabar_path=path,
            diffuse_share=share,
            diffuse_band=band,
            intrabar_range_exponent=gamma,
        )
    return list(out.items())


def default_split(data: EvalData, warmup_bars: int, fit_share: float = 0.5) -> int:
    """Split instant: the bar at ``fit_share`` of the scored bars (time order)."""
    mask = scored_mask(data, warmup_bars=warmup_bars)
    scored_ts = data.ts[mask]
    if scored_ts.size < 20:
        raise DataError(f"only {scored_ts.size} scored bars: too few to split into fit and test")
    return int(scored_ts[int(fit_share * scored_ts.size)])


def run_search(
    data: EvalData,
    grid: Iterable[tuple[str, ModelConfig]] | None = None,
    *,
    warmup_days: float = 14.0,
    split_ts: int | None = None,
    n_bins: int = 50,
) -> SearchResult:
    """Run every variant over the whole series, score fit and test bars, pick the best on fit bars."""
    started = time.perf_counter()
    grid = list(default_grid() if grid is None else grid)
    if not grid:
        raise ConfigError("grid: no variants to search")
    warmup_bars = round(warmup_days * 86_400_000 / data.frame.interval_ms)
    split = default_split(data, warmup_bars) if split_ts is None else split_ts
    fit_mask = scored_mask(data, warmup_bars=warmup_bars, end=split)
    test_mask = scored_mask(data, warmup_bars=warmup_bars, start=split)
    if fit_mask.sum() < 10 or test_mask.sum() < 10:
        raise DataError(f"split leaves {int(fit_mask.sum())} fit and {int(test_mask.sum())} test bars (need >= 10)")
    realized = (data.realized_long, data.realized_short)
    base_preds = baseline_predictions(data.frame, n_bins=n_bins)
    base_fit = {k: score(p, realized, data.ts, fit_mask) for k, p in base_preds.items()}
    base_test = {k: score(p, realized, data.ts, test_mask) for k, p in base_preds.items()}
    variants = []
    skipped: dict[str, str] = {}
    for name, config in grid:
        try:
            pred = model_predictions(data.frame, config, n_bins=n_bins)
        except ConfigError as exc:  # an impossible combination (e.g. margin above 1/L): skip, say so
            skipped[name] = str(exc)
            continue
        fit = score(pred, realized, data.ts, fit_mask)
        test = score(pred, realized, data.ts, test_mask)
        variants.append(Variant(name, config, fit, test, objective(fit, base_fit["move_size_oi"])))
    if not variants:
        raise ConfigError(f"grid: every variant was impossible: {skipped}")
    best = max(variants, key=lambda v: v.objective)
    return SearchResult(
        split_ts=split,
        fit_bars=int(fit_mask.sum()),
        test_bars=int(test_mask.sum()),
        baselines_fit=base_fit,
        baselines_test=base_test,
        variants=variants,
        best=best,
        seconds=time.perf_counter() - started,
        skipped=skipped,
    )
