"""``liqmap levels``: the session plan (nearest clusters, stacks, asymmetry) for the latest snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from liqmap.commands.base import Command
from liqmap.commands.options import db_option, range_option


def _usd(value: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"${value / scale:,.1f}{unit}"
    return f"${value:,.0f}"


def _pct(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}%" if signed else f"{value:.1f}%"


def compute_plan(
    store: Any,
    *,
    symbol: str,
    exchanges: tuple[str, ...] | None,
    range_: str,
    within: float,
    growth_hours: float | None,
    fresh_age: str | None,
) -> Any:
    """Store -> heatmap (and its recent-positions twin) in calibrated USD -> ``(session plan, latest
    snapshot)``; clusters carry reach probabilities (``liqmap.calibrate``)."""
    from liqmap.analysis.calibration import scale_heatmap
    from liqmap.analysis.levels import plan_for_heatmap
    from liqmap.calibrate import calibrated_view, sigma_now
    from liqmap.query import HeatmapQuery, heatmap_for

    query = HeatmapQuery(symbol, exchanges=exchanges, range=range_)
    heatmap, calibration = calibrated_view(store, query, heatmap_for(store, query))
    fresh = None
    if fresh_age:
        fresh = scale_heatmap(heatmap_for(store, HeatmapQuery(symbol, exchanges=exchanges, range=range_,
                                                              ages=(fresh_age,))), calibration)
    plan = plan_for_heatmap(heatmap, within_pct=within, fresh=fresh, growth_hours=growth_hours,
                            sigma=sigma_now(store, heatmap), calibration=calibration.to_dict())
    return plan, heatmap.column(-1)


def format_plan(plan: Any) -> str:
    when = datetime.fromtimestamp(plan.ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"{plan.symbol}  {when}  price {plan.price:,.2f}  (clusters within {plan.within_pct:g}%)", ""]
    header = f"{'side':<6} {'from':>12} {'to':>12} {'peak':>12} {'USD':>10} {'share':>6} {'dist':>8} {'age':>6} {'24h':>8} {'P24h':>5}"
    lines += [header, "-" * len(header)]
    for c in sorted(plan.clusters, key=lambda c: -c.price_high):
        lines.append(
            f"{c.side:<6} {c.price_low:>12,.2f} {c.price_high:>12,.2f} {c.peak_price:>12,.2f} {_usd(c.usd):>10} "
            f"{c.share * 100:>5.1f}% {_pct(c.distance_pct):>8} {c.age or '-':>6} {_pct(c.growth_pct):>8} "
            f"{'-' if c.reach_24h is None else f'{c.reach_24h:.0%}':>5}"
        )
    if not plan.clusters:
        lines.append("(no clusters in range)")
    if plan.calibration:
        cal = plan.calibration
        lines.append(f"USD calibrated ({cal['source']}: x{cal['factor_long']:.3g} longs, x{cal['factor_short']:.3g} "
                     "shorts); P24h = chance price touches the near edge within 24 h")
    lines.append("")
    for label, c in (("nearest above", plan.nearest_above), ("nearest below", plan.nearest_below)):
        text = "none" if c is None else f"{c.peak_price:,.2f} ({_pct(c.distance_pct)}, {_usd(c.usd)} {c.side}s)"
        lines.append(f"{label:<14} {text}")
    for s in plan.stacks:
        lines.append(
            f"stack {s.side:<8} {s.price_low:,.2f} - {s.price_high:,.2f}: {len(s.clusters)} clusters, a move "
            f"through all liquidates {_usd(s.sweep_usd)} (cascade risk)"
        )
    a = plan.asymmetry
    lines.append(
        f"asymmetry ±{a.within_pct:g}%: shorts above {_usd(a.short_above)}, longs below {_usd(a.long_below)}, "
        f"bias {a.bias:+.2f} ({'up' if a.bias > 0.1 else 'down' if a.bias < -0.1 else 'balanced'})"
    )
    for conf in plan.confluence:
        lines.append(
            f"round number {conf.round_price:,.0f}{' (major)' if conf.major else ''} at the {conf.cluster.side} "
            f"cluster {conf.cluster.peak_price:,.2f}"
        )
    return "\n".join(lines)


@click.command("levels", cls=Command)
@click.option("--symbol", default="BTC", show_default=True, help="BTC, BTCUSDT, BTC-USDT-SWAP, ...")
@click.option("--exchanges", default=None, help="Comma-separated; default: all with data.")
@range_option()
@click.option("--within", default=10.0, show_default=True, type=float, help="Distance from price, in %.")
@click.option("--growth-hours", default=24.0, show_default=True, type=float, help="Growth look-back (0 = off).")
@click.option("--fresh-age", default="<4h", show_default=True, help="Age bucket counted as fresh ('' = off).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (for bots).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, allow_dash=True), is_flag=False, flag_value="-",
              default=None, help="The levels as CSV: to stdout, or to FILE with --csv FILE.")
@click.option("--pine", "pine_path", type=click.Path(dir_okay=False, allow_dash=True), is_flag=False,
              flag_value="-", default=None,
              help="A TradingView Pine Script v5 indicator drawing the levels: to stdout, or to FILE.")
@click.option("--entry", type=float, default=None, help="With --stop and --risk: size a position.")
@click.option("--stop", type=float, default=None, help="Stop price for --entry.")
@click.option("--risk", type=float, default=None, help="Risk budget in USD for --entry/--stop.")
@db_option
def levels_cmd(
    symbol: str, exchanges: str | None, range_: str, within: float, growth_hours: float, fresh_age: str,
    as_json: bool, csv_path: str | None, pine_path: str | None, entry: float | None, stop: float | None,
    risk: float | None, db_path: str | None,
) -> None:
    """Print the session plan: clusters near price, nearest above/below, stacks, asymmetry."""
    import json

    from liqmap.analysis.export import to_csv, to_json, to_pine
    from liqmap.analysis.sizing import plan_stop
    from liqmap.store import store_for

    sizing = (entry, stop, risk)
    if any(v is not None for v in sizing) and any(v is None for v in sizing):
        raise click.UsageError("--entry, --stop and --risk go together")
    names = tuple(x.strip() for x in exchanges.split(",") if x.strip()) if exchanges else None
    with store_for(db_path, read_only=True) as store:
        plan, snapshot = compute_plan(store, symbol=symbol, exchanges=names, range_=range_, within=within,
                            growth_hours=growth_hours or None, fresh_age=fresh_age or None)
    stop_plan = None
    if entry is not None and stop is not None and risk is not None:
        stop_plan = plan_stop(snapshot, plan.clusters, entry=entry, stop=stop, risk_usd=risk)
    to_stdout = False
    for target, text in ((csv_path, to_csv(plan) if csv_path else ""), (pine_path, to_pine(plan) if pine_path else "")):
        if target == "-":
            click.echo(text.rstrip("\n"))
            to_stdout = True
        elif target:
            Path(target).write_text(text, encoding="utf-8")
    if to_stdout:  # the export is the output: no table mixed into it
        return
    if as_json:
        data = json.loads(to_json(plan))
        if stop_plan is not None:
            data["stop_plan"] = stop_plan.to_dict()
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(format_plan(plan))
    if stop_plan is not None:
        click.echo(
            f"position {stop_plan.position} {stop_plan.quantity:,.6g} coin (notional {_usd(stop_plan.notional_usd)}) "
            f"for {_usd(stop_plan.risk_usd)} risk; stop {stop_plan.stop_distance_pct:.2f}% away is "
            f"{stop_plan.placement.replace('_', ' ')}, behind {_usd(stop_plan.depth_usd)} of liquidations"
        )
