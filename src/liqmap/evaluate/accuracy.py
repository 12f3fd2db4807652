"""The accuracy panel's content: an evaluation's figures with their period and sample size, in plain words.

Input is :meth:`liqmap.evaluate.harness.Evaluation.to_json` (plus its reliability tables); output is a
JSON-ready dict whose ``sentences`` a page can print as they are. The magnet verdict compares the top
clusters' reach rate with random levels at the same distance, against the sampling error of that
difference: ``se = sqrt(p (1 - p) / n_eff)`` with ``n_eff`` = level-bars / horizon bars (overlapping
24 h windows are not independent; one window per horizon is the conservative count).
"""

from __future__ import annotations

import math
from typing import Any


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def magnet_verdict(reach: float, random: float, level_bars: int, horizon_bars: int) -> str:
    """``more`` / ``same`` / ``less``: top clusters reached more often, as often, or less often than
    random levels at the same distance (beyond 2 standard errors; module docstring)."""
    n_eff = max(1.0, level_bars / max(1, horizon_bars))
    p = min(max(random, 1e-6), 1 - 1e-6)
    se = math.sqrt(p * (1 - p) / n_eff)
    if reach - random > 2 * se:
        return "more"
    if random - reach > 2 * se:
        return "less"
    return "same"


def summarize(metrics: dict[str, Any], reliability: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plain-word accuracy from an evaluation's JSON (see module docstring)."""
    period = metrics.get("period", {})
    bars = int(metrics.get("bars", 0))
    span = f"{str(period.get('start', ''))[:10]} to {str(period.get('end', ''))[:10]}"
    minutes = int(period.get("interval_ms") or 3_600_000) // 60_000
    unit = "hour" if minutes == 60 else f"{minutes}-minute bar"
    model = metrics.get("model", {})
    base = metrics.get("baselines", {}).get("move_size_oi", {})
    sentences: list[str] = []
    out: dict[str, Any] = {"period": {"start": period.get("start"), "end": period.get("end"), "bars": bars,
                                      "interval_ms": period.get("interval_ms"),
                                      "realized_source": period.get("realized_source")}}

    nowcast = {f"{k}_{s}": v for s in ("long", "short") for k, v in
               (("rho", model.get(f"rho_{s}")), ("rho_baseline", base.get(f"rho_{s}")))}
    out["nowcast"] = {**nowcast, "bars": bars}
    for side in ("long", "short"):
        rho, rho_b = model.get(f"rho_{side}"), base.get(f"rho_{side}")
        if rho is not None and rho_b is not None:
            better = "better than" if rho - rho_b > 0.02 else "no better than" if rho - rho_b > -0.02 else "worse than"
            sentences.append(
                f"Ranking the {unit}s by {side}s liquidated ({span}, {bars} {unit}s): the model's rank correlation with "
                f"what was realized is {rho:.2f}, {better} the simple 'move size x open interest' rule ({rho_b:.2f})."
            )

    cal = metrics.get("calibrated", {})
    if cal:
        out["calibration"] = {k: cal.get(k) for k in (
            "calibration_daily_q10_long", "calibration_daily_q50_long", "calibration_daily_q90_long",
            "calibration_daily_q10_short", "calibration_daily_q50_short", "calibration_daily_q90_short")}
        out["calibration"]["method"] = cal.get("method")
        for side in ("long", "short"):
            q10, q50, q90 = (cal.get(f"calibration_daily_q{q}_{side}") for q in (10, 50, 90))
            sentences.append(
                f"Calibrated dollars, {side}s: on a typical day the exchanges reported {_num(q50)} x the calibrated "
                f"figure (1 = exact; 8 days in 10 between {_num(q10)} and {_num(q90)}), factor fitted only on earlier days."
            )

    reach = metrics.get("reach", {})
    if reach:
        out["reach"] = {"horizon_hours": reach.get("horizon_hours"), "levels": reach.get("levels"),
                        **{s: reach.get(s) for s in ("long", "short")}, "reliability": reliability or {}}
        for side in ("long", "short"):
            r = reach.get(side) or {}
            if not r:
                continue
            sentences.append(
                f"Reach probability, {side} levels ({r.get('level_bars')} level-{unit}s): when it said "
                f"{_pct(r.get('mean_probability'))} on average, price touched {_pct(r.get('touch_rate'))} of the levels "
                f"within {reach.get('horizon_hours', 24):g} h; calibration error {_num(r.get('ece'), 3)} "
                f"(0 = perfect), Brier {_num(r.get('brier'), 3)} vs {_num(r.get('brier_base_rate'), 3)} for one constant "
                "rate (lower is better)."
            )

    clusters = metrics.get("clusters", {})
    if clusters and reach:
        verdicts = {}
        for side in ("long", "short"):
            hit, rnd = clusters.get(f"reach24h_{side}"), clusters.get(f"reach24h_random_same_distance_{side}")
            r = reach.get(side) or {}
            if hit is None or rnd is None or not r:
                continue
            verdicts[side] = magnet_verdict(hit, rnd, int(r.get("level_bars", 0)), int(reach.get("horizon_bars", 24)))
            words = {"more": "more often than", "same": "about as often as", "less": "less often than"}[verdicts[side]]
            sentences.append(
                f"Bright bands as targets, {side}s: the 3 brightest {side} levels were reached within 24 h "
                f"{_pct(hit)} of the time, {words} random levels at the same distance ({_pct(rnd)})."
            )
        magnets = bool(verdicts) and all(v == "more" for v in verdicts.values())
        out["clusters"] = {**{k: v for k, v in clusters.items() if "reach24h" in k}, "verdict": verdicts,
                           "magnets": magnets}
        if verdicts and not magnets:
            sentences.append("On this data, bright bands are not magnets: price does not seek them out more than "
                             "any level at the same distance. Read them as where liquidations would happen if price "
                             "gets there, with the reach probability as the chance that it does.")
    out["sentences"] = sentences
    return out
