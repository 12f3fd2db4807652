"""``liqmap serve``: the web page and the REST + WebSocket API (optionally with the collector in-process)."""

from __future__ import annotations

import click

from liqmap.cli import db_option


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@click.command("serve")
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
def serve_cmd(db_path: str | None, host: str, port: int, token: str | None, collect: str | None, symbols: str,
              log_level: str) -> None:
    """Serve the heatmap page at http://HOST:PORT/ and the API (documented at /docs)."""
    from liqmap.errors import LiqmapError
    from liqmap.store import DuckDBStore

    try:
        store = DuckDBStore(db_path).open()
    except LiqmapError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        run_server(store, host=host, port=port, token=token, collect=_csv(collect), symbols=_csv(symbols),
                   log_level=log_level)
    finally:
        store.close()


def run_server(store: object, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
               collect: list[str] | None = None, symbols: list[str] | None = None, log_level: str = "warning",
               announce: bool = True) -> None:
    """Run uvicorn on an open store until interrupted (also used by ``liqmap demo``)."""
    import asyncio

    import uvicorn

    from liqmap.errors import ConfigError
    from liqmap.service.app import create_app
    from liqmap.symbols import canonical, check_exchange

    collector = None
    if collect:
        from liqmap.feed.collector import Collector

        try:
            exchanges = [check_exchange(e) for e in collect]
            coins = [canonical(s) for s in (symbols or ["BTC"])]
        except ConfigError as exc:
            raise click.BadParameter(str(exc)) from exc
        collector = Collector(store, exchanges, coins)  # type: ignore[arg-type]
    app = create_app(store, token=token, collector=collector)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, ws_max_size=1 << 16,
                            timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)

    async def main() -> None:
        tasks = []
        if collector is not None:
            tasks.append(asyncio.create_task(collector.run(), name="collector"))
        serving = asyncio.create_task(server.serve(), name="uvicorn")
        if announce:
            while not server.started and not serving.done():
                await asyncio.sleep(0.05)
            if server.started:
                bound = server.servers[0].sockets[0].getsockname() if server.servers else (host, port)
                shown = "127.0.0.1" if bound[0] in ("0.0.0.0", "::") else bound[0]
                click.echo(f"liqmap serving on http://{shown}:{bound[1]}/  (API docs: /docs)"
                           + ("" if token else "  [read-only]"), err=False)
        try:
            await serving
        finally:
            if collector is not None:
                collector.stop()
            for task in tasks:
                try:
                    await asyncio.wait_for(task, timeout=5)
                except (TimeoutError, asyncio.CancelledError, Exception):
                    task.cancel()

    asyncio.run(main())
