"""``liqmap evaluate``: the model against realized liquidations, beside the baselines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from liqmap.commands.base import Command
from liqmap.commands.options import db_option


def _iso_ms(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date/time (e.g. 2026-03-01 or 2026-03-01T12:00)",
                                 param_hint=name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@click.command("evaluate", cls=Command)
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON (no table, no HTML).")
@click.option("--start", default=None, help="First scored bar (ISO, UTC). Default: data start + warm-up.")
@click.option("--end", default=None, help="End of the scored period (ISO, UTC, exclusive). Default: data end.")
@click.option("--warmup-days", type=click.FloatRange(min=0), default=14.0, show_default=True,
              help="History the model sees before the first scored bar.")
@click.option("--symbol", default="BTC", show_default=True, help="Symbol to evaluate.")
@click.option("--exchange", default="binance", show_default=True, help="Venue whose bars and OI feed the model.")
@click.option("--interval", "interval_min", type=click.IntRange(min=1), default=60, show_default=True,
              help="Bar length in minutes. Finer stored klines are resampled to it and finer realized liquidation "
                   "bars summed into it (an incomplete bar is not scored).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the HTML report to this FILE (table mode only; none is written unasked).")
@click.option("--search", "run_grid", is_flag=True,
              help="Run the grid search instead: fit on the first half of the scored bars, test on the rest.")
@click.option("--exact", "vs_exact", is_flag=True,
              help="Estimate vs exact instead: the model on Hyperliquid's candles/OI against the tracked positions "
                   "(liqmap positions collect); JSON over the day before --end.")
@click.option("--leverage-prior", type=click.Choice(["default", "hyperliquid"]), default="default",
              show_default=True, help="Leverage mix: the default 25x-125x tiers or the one learned from real "
                                      "Hyperliquid positions (src/liqmap/data/leverage).")
def evaluate_cmd(files: tuple[str, ...], db_path: str | None, as_json: bool, start: str | None, end: str | None,
                 warmup_days: float, symbol: str, exchange: str, interval_min: int, html_path: str | None,
                 run_grid: bool, vs_exact: bool, leverage_prior: str) -> None:
    """Score the model's per-bar liquidation predictions against realized liquidations.

    FILES (any format `liqmap import` reads) are imported into a temporary in-memory store; without
    FILES the store (--db) is used. Reports Spearman rho, capture@30% and calibration per side for the
    model and the baselines on the same bars, and how the heatmap's top clusters behaved.
    """
    from liqmap.evaluate.runner import evaluate_store, import_into, load_for_evaluation
    from liqmap.store import DuckDBStore, store_for

    start_ms, end_ms = _iso_ms(start, "--start"), _iso_ms(end, "--end")
    interval_ms = interval_min * 60_000
    store = DuckDBStore(":memory:") if files else store_for(db_path, read_only=True)
    with store:
        if files:
            import_into(store, files)
        from liqmap.data.leverage import with_prior
        from liqmap.model.config import ModelConfig

        config = with_prior(ModelConfig(), leverage_prior)
        if vs_exact:
            from liqmap.evaluate.exact import estimate_vs_exact

            click.echo(json.dumps(estimate_vs_exact(store, symbol, end=end_ms, config=config), indent=2))
            return
        if run_grid:
            from liqmap.evaluate.search import run_search

            data, score_start = load_for_evaluation(store, symbol=symbol, exchange=exchange,
                                                    interval_ms=interval_ms, start=start_ms, end=end_ms,
                                                    warmup_days=warmup_days)
            warmup = 0.0 if score_start is not None else warmup_days
            from liqmap.commands.progress import working

            with working("grid search"):
                result = run_search(data, warmup_days=warmup)
            click.echo(json.dumps(result.to_json(), indent=2))
            return
        from liqmap.commands.progress import working

        with working(f"evaluating {symbol} on {exchange}"):
            evaluation = evaluate_store(store, symbol=symbol, exchange=exchange, interval_ms=interval_ms,
                                        start=start_ms, end=end_ms, warmup_days=warmup_days, config=config)
    if as_json:
        click.echo(json.dumps(evaluation.to_json(), indent=2))
        return
    from liqmap.evaluate.report import html_report, text_table

    click.echo(text_table(evaluation.to_json()))
    if html_path:
        Path(html_path).write_text(html_report(evaluation), encoding="utf-8")
        click.echo(f"HTML report: {html_path}")
