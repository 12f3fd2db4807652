"""Human-readable output of an evaluation: a text table and a self-contained HTML report.

The HTML embeds its pictures as base64 PNGs (matplotlib, imported lazily): no CDN, no external file.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

from liqmap.evaluate.harness import Evaluation

ROWS: tuple[tuple[str, str], ...] = (
    ("rho_long", "Spearman rho, longs"),
    ("rho_short", "Spearman rho, shorts"),
    ("rho_daily_long", "rho of daily totals, longs"),
    ("rho_daily_short", "rho of daily totals, shorts"),
    ("capture30_long", "capture@30%, longs"),
    ("capture30_short", "capture@30%, shorts"),
    ("calibration_long", "realized / predicted, longs"),
    ("calibration_short", "realized / predicted, shorts"),
    ("calibration_daily_q50_long", "daily ratio median, longs"),
    ("calibration_daily_q50_short", "daily ratio median, shorts"),
)


def columns(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [("model", metrics["model"])]
    out += list(metrics.get("baselines", {}).items())
    return out


def text_table(metrics: dict[str, Any]) -> str:
    """A fixed-width table: one row per metric, one column per predictor."""
    cols = columns(metrics)
    width = max(14, *(len(name) + 2 for name, _ in cols))
    lines = [f"{'':32}" + "".join(f"{name:>{width}}" for name, _ in cols)]
    for key, label in ROWS:
        cells = "".join(f"{_fmt(m.get(key)):>{width}}" for _, m in cols)
        lines.append(f"{label:32}{cells}")
    period = metrics.get("period", {})
    lines.append("")
    lines.append(scored_line(metrics))
    lines.append(f"realized: {period.get('realized_source')}  prices: {period.get('price_source')}")
    lines.append(_perfect_line(metrics))
    clusters = metrics.get("clusters")
    if clusters:
        for side in ("long", "short"):
            lines.append(
                f"top-3 {side} clusters reached within 24h: {_fmt(clusters.get(f'reach24h_{side}'))} "
                f"(random levels at the same distance: {_fmt(clusters.get(f'reach24h_random_same_distance_{side}'))}); "
                f"realized {side} USD per bar when swept {_usd(clusters.get(f'realized_mean_sweep_bars_{side}'))} "
                f"vs other bars {_usd(clusters.get(f'realized_mean_other_bars_{side}'))}"
            )
    lines.extend(trust_lines(metrics))
    return "\n".join(lines)


def interval_text(ms: int | None) -> str:
    """A bar length in words: ``1 h``, ``30 min``, ``1 d``."""
    if not ms:
        return "unknown bars"
    minutes = ms / 60_000
    if minutes % 1440 == 0:
        return f"{minutes / 1440:g} d"
    return f"{minutes / 60:g} h" if minutes % 60 == 0 else f"{minutes:g} min"


def scored_line(metrics: dict[str, Any]) -> str:
    """What was scored: the number of bars, their length and the period (the issue's targets name both)."""
    period = metrics.get("period", {})
    return (f"bars scored: {metrics['bars']} bars of {interval_text(period.get('interval_ms'))}  "
            f"period: {period.get('start')} .. {period.get('end')}")


def trust_lines(metrics: dict[str, Any]) -> list[str]:
    """Calibrated ratios and the reach-probability scores, one line per side."""
    lines = []
    cal = metrics.get("calibrated") or {}
    reach = metrics.get("reach") or {}
    for side in ("long", "short"):
        if cal:
            lines.append(
                f"calibrated {side}s: realized / predicted {_fmt(cal.get(f'calibration_{side}'))}, daily "
                f"q10 / q50 / q90 {_fmt(cal.get(f'calibration_daily_q10_{side}'))} / "
                f"{_fmt(cal.get(f'calibration_daily_q50_{side}'))} / {_fmt(cal.get(f'calibration_daily_q90_{side}'))}"
            )
        r = reach.get(side)
        if r:
            lines.append(
                f"reach {side}s ({reach['horizon_hours']:g} h, {r['level_bars']} level-bars): Brier {_fmt(r['brier'])} "
                f"vs base rate {_fmt(r['brier_base_rate'])} vs distance only {_fmt(r['brier_distance_only'])}; "
                f"ECE {_fmt(r['ece'])}"
            )
    return lines


def _perfect_line(metrics: dict[str, Any]) -> str:
    perfect = metrics.get("perfect_ranking", {})
    return (
        f"capture@30 of a perfect ranking (realized ranking itself), the most any predictor can reach here: "
        f"long {_fmt(perfect.get('capture30_long'))}, short {_fmt(perfect.get('capture30_short'))}"
    )


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.3f}"


def _usd(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"${value / 1e6:,.2f}M"


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def scatter_png(evaluation: Evaluation) -> str:
    """Predicted vs realized per bar, log-log, model and B0, both sides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mask = evaluation.mask
    realized = (evaluation.data.realized_long, evaluation.data.realized_short)
    predictors = [("model", evaluation.model)]
    if "move_size_oi" in evaluation.baselines:
        predictors.append(("B0 move size x OI", evaluation.baselines["move_size_oi"]))
    fig, axes = plt.subplots(len(predictors), 2, figsize=(10, 4.2 * len(predictors)), squeeze=False)
    for row, (name, pred) in enumerate(predictors):
        for col, side in enumerate(("long", "short")):
            ax = axes[row][col]
            x = np.asarray(pred[col])[mask]
            y = realized[col][mask]
            ok = (x > 0) & (y > 0)
            ax.scatter(x[ok], y[ok], s=3, alpha=0.35)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(f"{name}: predicted {side} USD per bar")
            ax.set_ylabel(f"realized {side} USD per bar")
            ax.set_title(f"{name}, {side}s ({int((~ok).sum())} bars with a zero not shown)")
    fig.tight_layout()
    out = _png(fig)
    plt.close(fig)
    return out


def daily_png(evaluation: Evaluation) -> str:
    """Per-day totals: realized vs model vs B0 (each scaled to the realized total, to compare shapes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mask = evaluation.mask
    ts = evaluation.data.ts[mask]
    day = ts // 86_400_000
    days, index = np.unique(day, return_inverse=True)
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    dates = days.astype("datetime64[D]")
    for col, side in enumerate(("long", "short")):
        ax = axes[col]
        realized = np.bincount(index, weights=(evaluation.data.realized_long, evaluation.data.realized_short)[col][mask])
        ax.plot(dates, realized / 1e6, label="realized", color="black", lw=1.2)
        series = [("model", evaluation.model)]
        if "move_size_oi" in evaluation.baselines:
            series.append(("B0", evaluation.baselines["move_size_oi"]))
        for name, pred in series:
            values = np.bincount(index, weights=np.nan_to_num(np.asarray(pred[col])[mask]))
            scale = realized.sum() / values.sum() if values.sum() > 0 else 0.0
            ax.plot(dates, values * scale / 1e6, label=f"{name} x {scale:.3g}", lw=0.9)
        ax.set_ylabel(f"{side}s liquidated per day, $M")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out = _png(fig)
    plt.close(fig)
    return out


def reliability_png(evaluation: Evaluation) -> str:
    """Reliability diagram of the reach probability: observed touch rate vs mean predicted per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect")
    for side, table in evaluation.reliability.items():
        pred = np.asarray(table["mean_predicted"], dtype=float)
        obs = np.asarray(table["observed"], dtype=float)
        counts = np.asarray(table["counts"], dtype=float)
        ok = counts > 0
        ax.plot(pred[ok], obs[ok], marker="o", label=f"{side}s (ECE {table['ece']:.3f})")
    ax.set_xlabel("predicted P(touch within 24 h)")
    ax.set_ylabel("observed touch rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    out = _png(fig)
    plt.close(fig)
    return out


def html_report(evaluation: Evaluation) -> str:
    metrics = evaluation.to_json()
    cols = columns(metrics)
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in cols)
    body = "".join(
        f"<tr><td>{html.escape(label)}</td>" + "".join(f"<td>{_fmt(m.get(key))}</td>" for _, m in cols) + "</tr>"
        for key, label in ROWS
    )
    period = metrics["period"]
    cluster_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v) if isinstance(v, float) else html.escape(str(v))}</td></tr>"
        for k, v in (metrics.get("clusters") or {}).items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>liqmap evaluation</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>liqmap evaluation</h1>
<p>{html.escape(scored_line(metrics))};
realized: {html.escape(str(period['realized_source']))}; prices: {html.escape(str(period['price_source']))}.
Each bar's prediction uses data up to the bar's start plus its high and low (docs/evaluation.md).
{html.escape(_perfect_line(metrics))}.</p>
<table><tr><th></th>{head}</tr>{body}</table>
<h2>Predicted vs realized per bar</h2>
<img alt="scatter" src="data:image/png;base64,{scatter_png(evaluation)}">
<h2>Per day</h2>
<img alt="daily" src="data:image/png;base64,{daily_png(evaluation)}">
<h2>Top clusters</h2>
<table>{cluster_rows}</table>
<h2>Calibrated USD and reach probability</h2>
<p>{"<br>".join(html.escape(line) for line in trust_lines(metrics))}</p>
{f'<img alt="reliability" src="data:image/png;base64,{reliability_png(evaluation)}">' if evaluation.reliability else ""}
</body></html>
"""
