"""CLI: ``liqmap backfill``, ``archive``, ``collect``, ``replay`` (thin: parse options, call liqmap.feed)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import click

from liqmap.commands.base import Command
from liqmap.commands.options import config_option, db_option


def _store(db_path: str | None):  # type: ignore[no-untyped-def]
    from liqmap.store import store_for

    return store_for(db_path)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@click.command("backfill", cls=Command)
@click.option("--exchange", "-e", required=True, help="binance, bybit, okx, ...")
@click.option("--symbol", "-s", required=True, help="BTC, ETH, ... (any spelling)")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=7.0, show_default=True)
@click.option("--kinds", default="klines,open_interest,funding", show_default=True,
              help="Comma-separated: klines, open_interest, funding.")
@click.option("--base-url", default=None, help="Override the venue's REST base URL (mirrors, tests).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@db_option
def backfill_cmd(exchange: str, symbol: str, days: float, kinds: str, base_url: str | None, no_progress: bool,
                 db_path: str | None) -> None:
    """Backfill history from an exchange's REST API (resumable, idempotent)."""
    from liqmap.feed.backfill import backfill
    from liqmap.venues.registry import get_spec

    spec = get_spec(exchange)
    if base_url:
        spec = spec.with_urls(rest=base_url)
    with _store(db_path) as store:
        result = asyncio.run(backfill(store, exchange, symbol, days=days, kinds=_split(kinds),  # type: ignore[arg-type]
                                      spec=spec, progress=not no_progress))
    for table, n in sorted(result.new_rows.items()):
        click.echo(f"{result.exchange} {result.symbol} {table}: {n} new rows")
    for note in result.skipped:
        click.echo(f"skipped: {note}")


@click.command("archive", cls=Command)
@click.option("--symbol", "-s", required=True)
@click.option("--kind", type=click.Choice(["klines", "metrics", "aggTrades"]), default="klines", show_default=True)
@click.option("--start", default=None, help="YYYY-MM-DD (or YYYY-MM with --monthly); not needed with --file.")
@click.option("--end", default=None, help="Inclusive; defaults to --start.")
@click.option("--monthly", is_flag=True, help="Monthly files (klines, aggTrades).")
@click.option("--interval", default="1m", show_default=True, help="Kline interval.")
@click.option("--base-url", default="https://data.binance.vision", show_default=True)
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Import already downloaded zip file(s) instead of downloading.")
@db_option
def archive_cmd(symbol: str, kind: str, start: str | None, end: str | None, monthly: bool, interval: str, base_url: str,
                files: tuple[str, ...], db_path: str | None) -> None:
    """Import bulk archives (data.binance.vision klines, metrics = OI, aggTrades)."""
    from liqmap.feed import archive

    if not files and not start:
        raise click.UsageError("give --start (the archive day or month to download) or --file (zips on disk)")
    with _store(db_path) as store:
        if files:
            for path in files:
                rows, new = archive.import_file(store, path, kind, symbol, interval=interval)  # type: ignore[arg-type]
                click.echo(f"{path}: {rows} rows, {new} new")
            return
        dates = archive.dates_between(start or "", end or start or "", monthly=monthly)
        result = asyncio.run(archive.import_range(store, kind, symbol, dates, base_url=base_url,  # type: ignore[arg-type]
                                                  interval=interval))
    click.echo(f"{len(result.files)} files, {result.rows} rows, {result.new_rows} new")
    for url in result.missing:
        click.echo(f"not published: {url}")


@click.command("collect", cls=Command)
@config_option("collect")
@click.option("--exchanges", default="binance,bybit,okx", show_default=True)
@click.option("--symbols", default="BTC,ETH", show_default=True)
@click.option("--channels", default="trades,liquidations,klines,mark,open_interest", show_default=True)
@click.option("--record", "record_dir", type=click.Path(file_okay=False), default=None,
              help="Also record every raw frame as JSONL in this directory.")
@click.option("--flush-ms", type=click.IntRange(min=10), default=50, show_default=True)
@click.option("--flush-every", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--venue-url", "venue_urls", multiple=True, metavar="NAME=REST_URL,WS_URL",
              help="Point a venue at other hosts (a mirror or a mock exchange), e.g. "
                   "binance=http://127.0.0.1:8080,ws://127.0.0.1:8080")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Serve Prometheus metrics (feeds, store writes) at http://METRICS_HOST:PORT/metrics; 0 = off.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Interface for --metrics-port.")
@click.option("--store-trades", is_flag=True,
              help="Also store every raw trade (off: trades only fill the bars' taker buy volume).")
@click.option("--journal", "journal_dir", type=click.Path(file_okay=False), default=None,
              help="Journal of raw frames replayed at the next start after a crash "
                   "[default: <db file>.journal; 'off' disables].")
@db_option
def collect_cmd(exchanges: str, symbols: str, channels: str, record_dir: str | None, flush_ms: int,
                flush_every: int, venue_urls: tuple[str, ...], metrics_port: int, metrics_host: str,
                db_path: str | None, store_trades: bool, journal_dir: str | None) -> None:
    """Collect live data from exchanges into the store until stopped (Ctrl-C / SIGTERM flush and exit)."""
    from liqmap.feed.collector import Collector
    from liqmap.feed.journal import Journal
    from liqmap.feed.record import Recorder
    from liqmap.feed.writer import BatchWriter

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    specs = {}
    for item in venue_urls:
        from liqmap.venues.registry import get_spec

        name, _, urls = item.partition("=")
        rest, _, ws = urls.partition(",")
        if not rest or not ws:
            raise click.BadParameter(f"{item!r}: expected NAME=REST_URL,WS_URL", param_hint="--venue-url")
        specs[name.strip().lower()] = get_spec(name).with_urls(rest=rest, ws=ws)

    async def main() -> None:
        with _store(db_path) as store:
            where = journal_dir or _default_journal(store, exchanges)
            collector = Collector(store, _split(exchanges), _split(symbols), channels=_split(channels), specs=specs,
                                  journal=Journal(where) if where != "off" else None,
                                  recorder=Recorder(record_dir) if record_dir else None, store_trades=store_trades,
                                  writer=BatchWriter(store, flush_every=flush_every, flush_ms=flush_ms,
                                                     quarantine_path=None if where == "off"
                                                     else Path(where) / "quarantine.jsonl"))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, collector.stop)
            stop_metrics = _metrics_server(collector, metrics_host, metrics_port)
            try:
                await collector.run()
            finally:
                stop_metrics()
            for name, health in collector.health.items():
                click.echo(f"{name}: {health.records} records, {health.reconnects} reconnects, "
                           f"{health.parse_errors} parse errors")

    asyncio.run(main())


def _default_journal(store: object, exchanges: str) -> str:
    """Beside an embedded store file; for a server store, in the user data dir, one folder per store and
    venue set (collectors of different venues never share one)."""
    path = getattr(store, "path", None)
    if path is not None:
        return "off" if path == ":memory:" else f"{path}.journal"
    import hashlib

    import platformdirs

    key = hashlib.sha1(f"{getattr(store, 'location', '')}|{','.join(sorted(_split(exchanges)))}".encode()).hexdigest()
    return str(Path(platformdirs.user_data_dir("liqmap", appauthor=False)) / "journal" / key[:16])


def _metrics_server(collector: object, host: str, port: int) -> Callable[[], None]:
    """Start the Prometheus endpoint of ``collect --metrics-port`` (a no-op stopper when off)."""
    if not port:
        return lambda: None
    from liqmap.metrics import collector_registry, serve_metrics

    try:
        return serve_metrics(collector_registry(collector), host, port)
    except OSError as exc:
        raise click.ClickException(f"--metrics-port {port}: cannot listen on {host}:{port}: {exc.strerror}") from exc


@click.command("replay", cls=Command)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@db_option
def replay_cmd(file: str, db_path: str | None) -> None:
    """Replay a recorded live session (JSONL) through the parsers into the store."""
    from liqmap.feed.record import replay

    with _store(db_path) as store:
        result = replay(file, store)
    written = ", ".join(f"{t} {n}" for t, n in sorted(result.written.items())) or "nothing new"
    click.echo(f"{result.frames} frames, {result.records} records, {result.parse_errors} parse errors, "
               f"{result.quarantined} refused by the store; new: {written}")
