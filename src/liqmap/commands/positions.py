"""CLI: ``liqmap positions collect | coverage | fit-prior | history`` (Hyperliquid exact positions; thin)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import Any

import click

from liqmap.commands.base import Group
from liqmap.commands.options import db_option
from liqmap.store import Store


def _store(db_path: str | None, read_only: bool = False) -> Store:
    from liqmap.store import store_for

    return store_for(db_path, read_only=read_only)


@click.group("positions", cls=Group)
def positions_cmd() -> None:
    """Hyperliquid exact positions: collect account states, report coverage, fit the leverage prior."""


@positions_cmd.command("collect")
@click.option("--coins", default="BTC,ETH", show_default=True, help="Coins whose trades discover accounts.")
@click.option("--accounts", "accounts_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A file of 0x addresses (one a line) to track besides the discovered ones.")
@click.option("--weight-per-minute", type=click.FloatRange(min=1, max=1200), default=600.0, show_default=True,
              help="Share of Hyperliquid's 1,200 weight/minute/IP to spend (clearinghouseState weighs 2).")
@click.option("--duration", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Stop after this many seconds (0 = until Ctrl-C).")
@click.option("--venue-url", default=None, metavar="REST_URL,WS_URL",
              help="Point at other hosts (a mock on 127.0.0.1 in tests).")
@db_option
def collect(coins: str, accounts_file: str | None, weight_per_minute: float, duration: float,
            venue_url: str | None, db_path: str | None) -> None:
    """Discover accounts from live trades and poll their positions into the store until stopped."""
    from liqmap.feed.hl_positions import AccountQueue, PositionPoller, WeightBudget, read_account_list
    from liqmap.feed.rest import RestClient
    from liqmap.feed.ws import WsFeed
    from liqmap.venues import hyperliquid as hl

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = hl.SPEC
    if venue_url:
        rest_url, _, ws_url = venue_url.partition(",")
        if not rest_url or not ws_url:
            raise click.BadParameter(f"{venue_url!r}: expected REST_URL,WS_URL", param_hint="--venue-url")
        spec = spec.with_urls(rest=rest_url, ws=ws_url)
    wanted = [c.strip() for c in coins.split(",") if c.strip()]

    async def main() -> dict[str, object]:
        queue = AccountQueue()
        if accounts_file:
            for account in read_account_list(Path(accounts_file)):
                queue.add(account, from_list=True)
        with _store(db_path) as store:
            async with RestClient(spec) as rest:
                poller = PositionPoller(rest, queue, store.write, budget=WeightBudget(weight_per_minute),
                                        coins=wanted)
                feed = WsFeed(spec, "public", [{"type": "trades", "coin": c} for c in wanted])
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                if duration:
                    loop.call_later(duration, stop.set)
                try:
                    await poller.run(feed.frames(), stop)
                finally:
                    feed.stop()
            s = poller.stats
            return {"accounts": len(queue.entries), "discovered": s.discovered, "polls": s.polls, "rows": s.rows,
                    "rate_limited": s.rate_limited, "errors": s.errors}

    click.echo(json.dumps(asyncio.run(main())))


@positions_cmd.command("coverage")
@click.option("--max-age-hours", type=click.FloatRange(min=0, min_open=True), default=6.0, show_default=True)
@db_option
def coverage(max_age_hours: float, db_path: str | None) -> None:
    """Accounts tracked, share of Hyperliquid OI per coin explained, age of the oldest snapshot (JSON)."""
    from liqmap.exactmap import coverage as cover

    with _store(db_path, read_only=True) as store:
        click.echo(json.dumps(cover(store, max_age_ms=int(max_age_hours * 3_600_000))))


@positions_cmd.command("fit-prior")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the prior JSON here.")
@db_option
def fit_prior(out: str | None, db_path: str | None) -> None:
    """Fit the notional-weighted leverage mix and side skew of the tracked positions (dated JSON)."""
    from liqmap.exactmap import fit_prior as fit

    with _store(db_path, read_only=True) as store:
        text = json.dumps(fit(store), indent=1)
    if out:
        Path(out).write_text(text + "\n")
    click.echo(text)


@positions_cmd.command("history")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--window-hours", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option("--tolerance", type=click.FloatRange(min=0), default=0.005, show_default=True)
@click.option("--mmr", type=click.FloatRange(min=0, min_open=True, max=0.5), default=0.0075, show_default=True,
              help="Maintenance rate of the period (0.0075 fits the recorded 2023 state).")
@click.option("--compare", "compare_coin", default=None, metavar="COIN",
              help="Instead: estimate vs the rebuilt accounts' exact levels for COIN (model on 2023 candles/OI).")
@click.option("--since", default=None, help="With --compare: only instants from this ISO date (e.g. 2023-04-16).")
@click.option("--leverage-prior", type=click.Choice(["default", "hyperliquid"]), default="default",
              show_default=True, help="With --compare: the model's leverage mix.")
def history(folder: str, window_hours: float, tolerance: float, mmr: float, compare_coin: str | None,
            since: str | None, leverage_prior: str) -> None:
    """How many of Hyperliquid's 2023 liquidations our liquidation prices explain (FOLDER: the public files)."""
    from liqmap.evaluate.hl_history import load
    from liqmap.model.hl_replay import explain

    if compare_coin:
        from liqmap.data.leverage import with_prior
        from liqmap.evaluate.hl_history import estimate_vs_reconstruction
        from liqmap.model.config import ModelConfig

        result = estimate_vs_reconstruction(Path(folder), compare_coin, mmr=mmr, since=since,
                                            config=with_prior(ModelConfig(), leverage_prior))
        click.echo(json.dumps({"coin": result["coin"], "instants": len(result["points"]), "mean": result["mean"]}))
        return

    fills, ledger, events = load(Path(folder))
    rows = explain(fills, ledger, events, mmr_max_leverage=1 / (2 * mmr), window_ms=int(window_hours * 3_600_000),
                   tolerance=tolerance)
    close = sum(abs(r.rebuilt_notional / r.event.notional - 1) < 0.05 for r in rows)

    def value_ok(group: list[Any]) -> int:  # rebuilt account value within 2 % of notional of the reported one
        return sum(abs(r.value_at_event - r.event.account_value) < 0.02 * r.event.notional for r in group)

    hits = [r for r in rows if r.explained]
    misses = [r for r in rows if not r.explained]
    click.echo(json.dumps({"liquidations": len(rows), "explained": len(hits), "notional_within_5pct": close,
                           "value_within_2pct_explained": value_ok(hits), "value_within_2pct_missed": value_ok(misses),
                           "window_hours": window_hours, "tolerance": tolerance, "mmr": mmr}))
