"""``liqmap serve``: the web page and the REST + WebSocket API (optionally with the collector in-process)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import click

from liqmap.commands.base import Command
from liqmap.commands.options import config_option, current_settings, db_option


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@click.command("serve", cls=Command)
@config_option("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. The default keeps the server private to this machine.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0 = any free).")
@click.option("--token", default=None, envvar="LIQMAP_TOKEN",
              help="Enable the state-changing endpoints, protected by this token (X-Liqmap-Token header). "
                   "Without it the API is read-only.")
@click.option("--collect", default=None, metavar="EXCHANGES",
              help="Run the live collector in this process for these exchanges (e.g. binance,bybit): DuckDB "
                   "allows one writing process, so the server and the collector share it.")
@click.option("--symbols", default="BTC", show_default=True, help="Symbols to collect with --collect.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--cors", "cors", multiple=True, metavar="ORIGIN",
              help="Let web pages from ORIGIN (e.g. https://dash.example) call the API; repeatable. Off by default.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="HOST",
              help="Also accept this Host/Origin (repeatable; '*' = any). Always accepted: localhost, 127.0.0.1, "
                   "[::1] and the --host address.")
@click.option("--max-body-mb", default=16.0, show_default=True, type=click.FloatRange(0.001, 1024),
              help="Largest request body (413 beyond).")
@click.option("--max-computations", default=2, show_default=True, type=click.IntRange(1, 64),
              help="New heatmap views computed at once (others wait briefly, then 503).")
@click.option("--cache-mb", default=512, show_default=True, type=click.IntRange(16, 1 << 20),
              help="Memory budget of the view caches.")
def serve_cmd(db_path: str | None, host: str, port: int, token: str | None, collect: str | None, symbols: str,
              log_level: str, cors: tuple[str, ...] = (), allow_hosts: tuple[str, ...] = (), max_body_mb: float = 16.0,
              max_computations: int = 2, cache_mb: int = 512) -> None:
    """Serve the heatmap page at http://HOST:PORT/ and the API (documented at /docs)."""
    from liqmap.errors import ConfigError
    from liqmap.service.limits import Limits, default_hosts
    from liqmap.store import open_store
    from liqmap.symbols import canonical
    from liqmap.venues.registry import check_exchange

    try:
        exchanges = [check_exchange(e) for e in _csv(collect)]
        coins = [canonical(s) for s in _csv(symbols) or ["BTC"]]
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    store = open_store(db_path)
    try:
        collector = None
        if exchanges:
            from liqmap.feed.collector import Collector

            collector = Collector(store, exchanges, coins)
        settings = current_settings()
        settings.export_alerts_env()
        limits = Limits(max_body_bytes=int(max_body_mb * (1 << 20)), max_computations=max_computations,
                        cache_bytes=cache_mb << 20, allowed_hosts=default_hosts(host, allow_hosts))
        run_server(store, host=host, port=port, token=token, collector=collector, log_level=log_level,
                   cors_origins=tuple(o for c in cors for o in _csv(c)), settings=settings, limits=limits)
    finally:
        store.close()


@contextlib.contextmanager
def _announce(store: Any, url: str) -> Iterator[str | None]:
    """While serving an embedded store file, say so beside it: read commands then ask this server."""
    from liqmap.store import DuckDBStore
    from liqmap.store.remote import announced

    if isinstance(store, DuckDBStore) and store.path != ":memory:":
        with announced(store.path, url.rstrip("/")) as key:
            yield key
    else:
        yield None


def run_server(store: Any, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
               collector: Any = None, log_level: str = "warning", cors_origins: tuple[str, ...] = (),
               settings: Any = None, limits: Any = None) -> None:
    """Run the server on an open store until interrupted (also used by ``liqmap demo``)."""
    import asyncio

    try:
        asyncio.run(serve_async(store, host=host, port=port, token=token, collector=collector, log_level=log_level,
                                cors_origins=cors_origins, settings=settings, limits=limits))
    except KeyboardInterrupt:  # Ctrl-C is the normal way to stop: a clean line, not click's "Aborted!"
        click.echo("\nliqmap stopped.")


async def serve_async(
    store: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    collector: Any = None,
    log_level: str = "warning",
    announce: bool = True,
    on_started: Callable[[str, Any], None] | None = None,
    cors_origins: tuple[str, ...] = (),
    settings: Any = None,
    limits: Any = None,
) -> None:
    """uvicorn and (when given) the collector in one event loop, until the server exits.

    ``on_started(url, server)`` is called once the socket is bound (tests set ``server.should_exit``).
    ``limits`` defaults to :class:`~liqmap.service.limits.Limits` with Host/Origin checked against
    :func:`~liqmap.service.limits.default_hosts` of ``host``."""
    import asyncio
    import contextlib
    import dataclasses

    import uvicorn

    from liqmap.service.app import create_app
    from liqmap.service.limits import Limits, default_hosts

    limits = limits or Limits()
    if limits.allowed_hosts is None:
        limits = dataclasses.replace(limits, allowed_hosts=default_hosts(host))
    limits = dataclasses.replace(limits, allowed_origins=(*limits.allowed_origins, *cors_origins))
    app = create_app(store, token=token, collector=collector, cors_origins=cors_origins, limits=limits)
    app.state.settings = settings  # liqmap.settings.Settings (for /healthz), None = defaults
    # No permessage-deflate: a live update frame (~5 KB, mostly base64 of quantised columns) would be
    # compressed once per client on the event loop (~15 ms per update at 200 clients) to save ~3 KB each.
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, ws_max_size=1 << 16,
                            ws_per_message_deflate=False, timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    collecting = asyncio.create_task(collector.run(), name="collector") if collector is not None else None
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            bound = server.servers[0].sockets[0].getsockname() if server.servers else (host, port)
            shown = "127.0.0.1" if bound[0] in ("0.0.0.0", "::") else bound[0]
            url = f"http://{shown}:{bound[1]}/"
            app.state.store_key = app.state.on_shutdown.enter_context(_announce(store, url))
            if announce:
                click.echo(f"liqmap serving on {url}  (API docs: {url}docs)" + ("" if token else "  [read-only]"))
            if on_started is not None:
                on_started(url, server)
        await serving
    finally:
        app.state.on_shutdown.close()
        if collecting is not None:
            collector.stop()
            try:
                await asyncio.wait_for(collecting, timeout=5)
            except (TimeoutError, asyncio.CancelledError, Exception):
                collecting.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await collecting
