"""``liqmap alerts add/list/remove/history/run``: manage alert rules and run the live loop."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from liqmap.commands.base import Group
from liqmap.commands.options import db_option, range_option


def _store(db_path: str | None, *, read_only: bool = False) -> Any:
    from liqmap.store import store_for

    return store_for(db_path, read_only=read_only)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _require_data(store: Any, symbol: str) -> None:
    """A rule on a symbol without bars in the store would never fire: refuse it, naming what is there."""
    held = sorted({str(r["symbol"]) for r in store.inventory() if r["table"] == "bars"})
    if symbol not in held:
        raise click.ClickException(
            f"no data for {symbol} in {store.path} (symbols with bars: {', '.join(held) or 'none'}); "
            f"import or collect {symbol} first (liqmap import / backfill / collect), then add the rule"
        )


@click.group("alerts", cls=Group)
def alerts_cmd() -> None:
    """Manage and run alert rules (stored in the database; a TOML file can add more at run time)."""


@alerts_cmd.command("add")
@click.option("--type", "type_", required=True,
              type=click.Choice(["cluster_forms", "cluster_usd", "cluster_vanishes", "price_near", "sweep", "reach"]))
@click.option("--symbol", default="BTC", show_default=True)
@click.option("--id", "rule_id", default=None, help="Rule id (default: derived from the rule).")
@click.option("--sides", default=None, help="long, short or long,short (default both).")
@click.option("--exchanges", default=None, help="Comma-separated exchange set the rule watches.")
@click.option("--within", "within_pct", type=float, default=None, help="Distance from price, in %.")
@click.option("--usd", type=float, default=None, help="cluster_usd: the threshold in USD.")
@click.option("--min-usd", type=float, default=None, help="Ignore clusters smaller than this.")
@click.option("--direction", type=click.Choice(["up", "down", "both"]), default=None, help="cluster_usd crossing.")
@click.option("--reverse", "reverse_pct", type=float, default=None, help="sweep: alert only on a reversal of this %.")
@click.option("--reverse-bars", type=int, default=None, help="sweep: ... within this many bars (default 3).")
@click.option("--probability", type=float, default=None, help="reach: P(touch) threshold, 0-1 (e.g. 0.6).")
@click.option("--horizon-hours", type=click.Choice(["4", "24"]), default=None, help="reach: horizon (default 24).")
@click.option("--cooldown", "cooldown_minutes", type=float, default=None, help="Minutes (default 60).")
@click.option("--notify", multiple=True, help="Target URL (apprise or http(s) webhook); repeatable.")
@click.option("--replace", is_flag=True, help="Replace a rule with the same id.")
@db_option
def add_cmd(type_: str, symbol: str, rule_id: str | None, sides: str | None, exchanges: str | None,
            within_pct: float | None, usd: float | None, min_usd: float | None, direction: str | None,
            reverse_pct: float | None, reverse_bars: int | None, probability: float | None,
            horizon_hours: str | None, cooldown_minutes: float | None,
            notify: tuple[str, ...], replace: bool, db_path: str | None) -> None:
    """Add a rule (validated: an impossible rule is refused naming the field)."""
    import time

    from liqmap.alerts.storage import AlertStore
    from liqmap.alerts.targets import TargetPolicy
    from liqmap.analysis.rules import parse_rule

    spec: dict[str, Any] = {"type": type_, "symbol": symbol}
    for name, value in (("id", rule_id), ("sides", sides), ("exchanges", exchanges), ("within_pct", within_pct),
                        ("usd", usd), ("min_usd", min_usd), ("direction", direction), ("reverse_pct", reverse_pct),
                        ("reverse_bars", reverse_bars), ("probability", probability),
                        ("horizon_hours", None if horizon_hours is None else float(horizon_hours)),
                        ("cooldown_minutes", cooldown_minutes)):
        if value is not None:
            spec[name] = value
    if notify:
        spec["notify"] = list(notify)
    rule = parse_rule(spec)
    TargetPolicy().check_all(rule.notify, resolve_hosts=False)  # addresses: checked by the delivering loop
    with _store(db_path) as store:
        _require_data(store, rule.symbol)
        saved = AlertStore(store).save_rule(rule, int(time.time() * 1000), replace=replace)
    if not saved:
        raise click.ClickException(f"a rule with id {rule.id!r} exists; use --replace or another --id")
    click.echo(f"added {rule.id}: {json.dumps(rule.to_dict(), sort_keys=True)}")


@alerts_cmd.command("list")
@click.option("--symbol", default=None)
@click.option("--json", "as_json", is_flag=True)
@db_option
def list_cmd(symbol: str | None, as_json: bool, db_path: str | None) -> None:
    """List the stored rules."""
    from liqmap.alerts.storage import AlertStore
    from liqmap.symbols import canonical

    with _store(db_path, read_only=True) as store:
        rules = AlertStore(store).rules(canonical(symbol) if symbol else None)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rules], indent=2))
        return
    if not rules:
        click.echo("no rules")
    for r in rules:
        extra = {k: v for k, v in r.to_dict().items() if k not in ("id", "type", "symbol")}
        click.echo(f"{r.id:<28} {r.type:<17} {r.symbol:<6} {json.dumps(extra, sort_keys=True)}")


@alerts_cmd.command("remove")
@click.argument("rule_id")
@db_option
def remove_cmd(rule_id: str, db_path: str | None) -> None:
    """Remove the rule RULE_ID."""
    from liqmap.alerts.storage import AlertStore

    with _store(db_path) as store:
        removed = AlertStore(store).remove_rule(rule_id)
    if not removed:
        raise click.ClickException(f"no rule with id {rule_id!r} (see: liqmap alerts list)")
    click.echo(f"removed {rule_id}")


@alerts_cmd.command("history")
@click.option("--symbol", default=None)
@click.option("--rule", "rule_id", default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@db_option
def history_cmd(symbol: str | None, rule_id: str | None, limit: int, as_json: bool, db_path: str | None) -> None:
    """Show stored alerts, newest first."""
    from liqmap.alerts.storage import AlertStore
    from liqmap.symbols import canonical

    with _store(db_path, read_only=True) as store:
        rows = AlertStore(store).history(symbol=canonical(symbol) if symbol else None, rule_id=rule_id,
                                         limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    for r in rows:
        click.echo(f"{_when(r.ts)}  {r.status:<10} {r.rule_id:<24} {r.message}")


@alerts_cmd.command("run")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML file with [delivery] targets and [[rules]] (added to the stored rules).")
@click.option("--symbol", "symbols", multiple=True, help="Symbols to watch (default: those of the rules).")
@click.option("--exchanges", default=None, help="Comma-separated exchange set (default: all with data).")
@range_option("3d", help="Heatmap view the rules read.")
@click.option("--bar", type=click.Choice(["1m", "5m", "15m", "30m", "1h", "4h", "1d"]), default=None,
              help="Evaluate on every bar of this size (default: the finest giving <= 1000 bars in --range).")
@click.option("--notify", multiple=True, help="Extra target URL for every rule; repeatable.")
@click.option("--interval", type=float, default=30.0, show_default=True, help="Seconds between polls.")
@click.option("--once", is_flag=True, help="Poll once and exit (cron style).")
@click.option("--replay", is_flag=True, help="Evaluate every column of the window, not just new ones.")
@db_option
def run_cmd(config_path: str | None, symbols: tuple[str, ...], exchanges: str | None, range_: str,
            bar: str | None, notify: tuple[str, ...], interval: float, once: bool, replay: bool, db_path: str | None) -> None:
    """Evaluate the rules on every new bar in the store and deliver the alerts.

    The database file can be written by one process only: to alert while `liqmap serve` runs on the
    same file, start the server with LIQMAP_ALERTS=1 (or =FILE.toml) instead (docs/analysis.md)."""
    from liqmap.alerts.config import AlertsConfig, load_config
    from liqmap.alerts.engine import Dispatch
    from liqmap.alerts.live import AlertService
    from liqmap.symbols import canonical

    names = tuple(x.strip() for x in exchanges.split(",") if x.strip()) if exchanges else None
    bar_ms = None if bar is None else {"m": 60_000, "h": 3_600_000, "d": 86_400_000}[bar[-1]] * int(bar[:-1])

    def show(d: Dispatch) -> None:
        click.echo(f"{_when(d.alert.ts)}  {d.status:<10} {d.alert.rule_id:<24} {d.alert.message}")

    config = load_config(config_path) if config_path else AlertsConfig()
    store = _store(db_path).open()
    try:
        service = AlertService(store, config=config, symbols=tuple(sorted({canonical(s) for s in symbols})),
                               exchanges=names, range=range_, interval_ms=bar_ms, replay=replay,
                               extra_targets=notify, on_dispatch=show)
        rules = service.rules()
        ids = [r.id for r in rules]
        clash = sorted({i for i in ids if ids.count(i) > 1})
        if clash:
            raise click.ClickException(f"{config_path}: rule id {clash[0]!r} is also a stored rule")
        if not rules:
            raise click.ClickException("no rules: add one with `liqmap alerts add` or pass --config FILE")
        watch = service.symbols or sorted({r.symbol for r in rules})
        click.echo(f"{len(rules)} rule(s) on {', '.join(watch)}; "
                   + ("one poll" if once else f"polling every {interval:g}s"), err=True)
        if once:
            service.round()
            return
        try:
            service.run(interval)
        except KeyboardInterrupt:
            service.stop()
    finally:
        store.close()
