"""The measurement: per-bar predictions of the model and the baselines, scored on the same bars.

For bar ``t`` every predictor may use data up to the bar's start plus the bar's own open, high and low
(the move being predicted). The model's prediction is ``Heatmap.swept_long/short[t]`` from one engine
run with one column per bar (the book as of the bar's start, swept by the bar's low / high, plus the
expected same-bar liquidations of positions opened inside the bar): the same numbers the served heatmap
shows. The engine is causal, so one run over the whole series gives every bar's prediction without
look-ahead.

Scored bars: after the warm-up, inside ``[start, end)``, with a realized value and with OI known at the
bar's start (B0 needs it), identical for every predictor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liqmap.analysis.calibration import FALLBACK, WINDOW_DAYS, trailing_factors
from liqmap.errors import ConfigError, DataError
from liqmap.evaluate import baselines
from liqmap.evaluate.clusters import cluster_stats
from liqmap.evaluate.dataset import EvalData
from liqmap.evaluate.metrics import capture, score_side
from liqmap.evaluate.reach import reach_block
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.result import Heatmap

BASELINE_NAMES: tuple[str, ...] = ("move_size_oi", "fixed_tier", "candle_colour")

CANDLE_COLOUR = ModelConfig(
    leverage=baselines.FIXED_TIER_LEVERAGE,
    leverage_weights=baselines.FIXED_TIER_WEIGHTS,
    entry="close",
    side="candle",
    close_rule="proportional",
    decay_half_life_hours=None,
    position_notional_usd=50_000.0,
    turnover=0.0,
    intrabar_path=0.0,
    diffuse_share=0.0,
    above_max_leverage="cap",
)
"""The candle-colour model (all new OI to the candle's side, fixed tier weights, entry at the close)."""

Pair = tuple[np.ndarray, np.ndarray]


def run_model(frame: MarketFrame, config: ModelConfig, *, n_bins: int = 200) -> Heatmap:
    """One engine run with one column per bar."""
    from liqmap.model.engine import compute_heatmap

    heatmap = compute_heatmap([frame], config, n_bins=n_bins, max_columns=None)
    if heatmap.swept_long.shape != (len(frame),):
        raise DataError(f"engine returned {heatmap.swept_long.shape[0]} columns for {len(frame)} bars")
    return heatmap


def model_predictions(frame: MarketFrame, config: ModelConfig, *, n_bins: int = 200) -> Pair:
    return heatmap_predictions(run_model(frame, config, n_bins=n_bins))


def heatmap_predictions(heatmap: Heatmap) -> Pair:
    """The model's per-bar prediction is the engine's ``swept_long/short``: the book's sweep plus the
    same-bar term (:mod:`liqmap.model.intrabar`), exactly what the heatmap served by the API shows."""
    return (
        np.asarray(heatmap.swept_long, dtype=np.float64).copy(),
        np.asarray(heatmap.swept_short, dtype=np.float64).copy(),
    )


def baseline_predictions(frame: MarketFrame, *, n_bins: int = 200) -> dict[str, Pair]:
    return {
        "move_size_oi": baselines.move_size_oi(frame),
        "fixed_tier": baselines.fixed_tier(frame),
        "candle_colour": model_predictions(frame, CANDLE_COLOUR, n_bins=n_bins),
    }


def scored_mask(
    data: EvalData, *, warmup_bars: int, start: int | None = None, end: int | None = None
) -> np.ndarray:
    """Bars scored: past the warm-up, in ``[start, end)``, realized known, OI known at the bar's start."""
    if warmup_bars < 0:
        raise ConfigError(f"warmup: must be >= 0 bars, got {warmup_bars}")
    ts = data.ts
    mask = np.isfinite(data.realized_long) & np.isfinite(data.realized_short)
    mask &= np.isfinite(baselines.oi_at_start(data.frame))
    mask[:warmup_bars] = False
    if start is not None:
        mask &= ts >= start
    if end is not None:
        mask &= ts < end
    result: np.ndarray = mask
    return result


def score(pred: Pair, realized: Pair, ts: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """All metrics of one predictor on the masked bars, both sides."""
    out: dict[str, float] = {}
    for i, side in enumerate(("long", "short")):
        p = np.nan_to_num(pred[i][mask], nan=0.0)
        out.update(score_side(p, realized[i][mask], ts[mask], side))
    return out


def perfect_ranking(realized: Pair, mask: np.ndarray) -> dict[str, float]:
    """capture@30 of the realized series ranking itself: the most any predictor can capture on these bars
    (less than 1 whenever realized USD is spread over more than 30 % of the bars)."""
    return {
        f"capture30_{side}": capture(realized[i][mask], realized[i][mask]) for i, side in enumerate(("long", "short"))
    }


@dataclass
class Evaluation:
    """Everything one evaluation produced (predictions kept for the report's plots)."""

    data: EvalData
    mask: np.ndarray
    config: ModelConfig
    model: Pair
    baselines: dict[str, Pair]
    metrics: dict[str, Any] = field(default_factory=dict)
    reliability: dict[str, Any] = field(default_factory=dict)
    """Reach-probability reliability tables per side (for the HTML report)."""

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = _clean(self.metrics)
        return result

    def reliability_json(self) -> dict[str, Any]:
        return _clean(self.reliability)  # type: ignore[no-any-return]


def evaluate(
    data: EvalData,
    config: ModelConfig | None = None,
    *,
    warmup_days: float = 14.0,
    start: int | None = None,
    end: int | None = None,
    with_baselines: bool = True,
    with_clusters: bool = True,
    n_bins: int = 200,
) -> Evaluation:
    """Score the model (and the baselines) on the same bars; see the module docstring."""
    config = config or ModelConfig()
    frame = data.frame
    warmup_bars = round(warmup_days * 86_400_000 / frame.interval_ms)
    mask = scored_mask(data, warmup_bars=warmup_bars, start=start, end=end)
    if mask.sum() < 10:
        raise DataError(
            f"only {int(mask.sum())} bars to score (need >= 10): widen the period, shorten --warmup-days, or "
            "import realized liquidations covering the bars"
        )
    heatmap = run_model(frame, config, n_bins=n_bins)
    model = heatmap_predictions(heatmap)
    realized = (data.realized_long, data.realized_short)
    base = baseline_predictions(frame, n_bins=n_bins) if with_baselines else {}
    metrics: dict[str, Any] = {
        "bars": int(mask.sum()),
        "model": score(model, realized, data.ts, mask),
        "baselines": {name: score(pair, realized, data.ts, mask) for name, pair in base.items()},
        "perfect_ranking": perfect_ranking(realized, mask),
        "period": {
            "start": _iso(int(data.ts[mask][0])),
            "end": _iso(int(data.ts[mask][-1]) + frame.interval_ms),
            "interval_ms": frame.interval_ms,
            "warmup_bars": warmup_bars,
            "frame_start": _iso(int(data.ts[0])),
            "realized_source": data.realized_source,
            "price_source": frame.price_source,
            "oi_source": frame.oi_source,
        },
        "config": config_summary(config),
    }
    metrics["calibrated"] = calibrated_scores(model, realized, data.ts, mask)
    reliability_tables: dict[str, Any] = {}
    if with_clusters:
        metrics["clusters"] = cluster_stats(heatmap, frame, mask, data.realized_long, data.realized_short)
        metrics["reach"], reliability_tables = reach_block(heatmap, frame, mask, sigma=data.sigma)
    if data.prints_long is not None and data.prints_short is not None:
        metrics["prints"] = _prints_scores(data, mask, model, base)
    return Evaluation(data, mask, config, model, base, metrics, reliability_tables)


def calibrated_scores(model: Pair, realized: Pair, ts: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """The model's ``calibration_*`` keys after the trailing calibration (``liqmap.analysis.calibration``):
    each bar's prediction times the factor fitted on the days before its own day (realized series of this
    evaluation; the fallback factor where fewer than 3 earlier days exist). Rank metrics are unchanged."""
    f_long, f_short = trailing_factors(ts, model, realized)
    calibrated = (model[0] * f_long, model[1] * f_short)
    scores = score(calibrated, realized, ts, mask)
    out: dict[str, Any] = {k: v for k, v in scores.items() if k.startswith(("calibration", "predicted_usd"))}
    out["method"] = (f"median daily realized / predicted over the {WINDOW_DAYS} days before each bar's day, per side "
                     f"(fallback {FALLBACK.factor_long:g} / {FALLBACK.factor_short:g})")
    out["factor_long_range"] = [float(np.min(f_long[mask])), float(np.max(f_long[mask]))]
    out["factor_short_range"] = [float(np.min(f_short[mask])), float(np.max(f_short[mask]))]
    return out


def _prints_scores(data: EvalData, mask: np.ndarray, model: Pair, base: dict[str, Pair]) -> dict[str, Any]:
    """The same scores against the store's own liquidation prints, on the bars those prints cover."""
    assert data.prints_long is not None and data.prints_short is not None
    has = (data.prints_long + data.prints_short) > 0
    covered = np.zeros(len(data), dtype=bool)
    if has.any():
        first, last = np.flatnonzero(has)[[0, -1]]
        covered[first : last + 1] = True
    sub = mask & covered
    out: dict[str, Any] = {"bars": int(sub.sum())}
    if sub.sum() >= 3:
        prints = (data.prints_long, data.prints_short)
        out["model"] = score(model, prints, data.ts, sub)
        out["baselines"] = {name: score(pair, prints, data.ts, sub) for name, pair in base.items()}
    return out


def config_summary(config: ModelConfig) -> dict[str, Any]:
    from dataclasses import asdict

    result: dict[str, Any] = _clean(asdict(config))
    return result


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


Predictor = Callable[[MarketFrame], Pair]
