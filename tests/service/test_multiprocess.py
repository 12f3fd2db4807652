"""liqmap as a service on one PostgreSQL: three collectors (one per venue, two symbols each) on mock exchanges,
two server replicas with WebSocket clients, CLI readers, for over a minute; one collector and one server are
killed with SIGKILL mid-run and restarted.

What must hold: every bar the mocks sent is stored exactly once after recovery (the restarted collector
backfills over REST what it missed); every WebSocket client on both replicas receives every bar of its symbol
(a client of the killed replica reconnects with ``bars_since`` and gets what it missed); the CLI's inventory
agrees with what the servers report. Liquidation prints (which no venue serves again) sent while every process
is up are stored exactly once, and no print is ever stored twice. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from liqmap.store.postgres_store import PostgresStore
from liqmap.testing.mock import binance as mb
from liqmap.testing.mock import bybit as mby
from liqmap.testing.mock import okx as mo
from liqmap.testing.mock.server import MockExchange
from support.pgserver import free_port

SYMBOLS = ("BTC", "ETH")
PRICES = {"BTC": 60_000.0, "ETH": 3_000.0}
TICK_S = 0.5  # one closed one-minute bar per symbol and venue every half second of wall time
RUN_S = 64.0
MINUTE = 60_000
CONFIG = Path(__file__).parents[2] / "deploy" / "liqmap.toml"


@dataclass
class Venue:
    """A mock exchange whose REST answers each symbol with its own bars (as the venues do)."""

    name: str
    dialect: Any
    venue_symbols: dict[str, str]
    klines: dict[str, list[list[Any]]] = field(default_factory=lambda: defaultdict(list))
    mock: MockExchange | None = None

    def frame(self, coin: str, row: list[Any]) -> str:
        symbol = self.venue_symbols[coin]
        text_row = [str(v) for v in row]
        if self.name == "binance":
            return mb.kline_frame(symbol, text_row)
        if self.name == "bybit":
            return mby.kline_frame(symbol, text_row)
        return mo.candle_frame(symbol, text_row, self.dialect.contract_size)

    def liquidation(self, coin: str, ts: int, price: float) -> str:
        symbol = self.venue_symbols[coin]
        if self.name == "binance":
            row = [symbol.removesuffix("USDT"), "SELL", "LIMIT", "IOC", "0.5", f"{price}", f"{price}", "FILLED",
                   "0.5", "0.5", str(ts), f"{0.5 * price}"]
            return mb.force_order_frame(row)
        if self.name == "bybit":
            return mby.liquidation_frame(symbol, ts, "Buy", f"{price}", "0.5")
        return mo.liquidation_frame(symbol, ts, "sell", f"{price}", "50")


def _venues() -> list[Venue]:
    binance = mb.BinanceDialect(symbols=[mb.exchange_info_symbol("BTCUSDT"), mb.exchange_info_symbol("ETHUSDT")])
    bybit = mby.BybitDialect(instruments=[mby.instrument("BTCUSDT"), mby.instrument("ETHUSDT")])
    okx = mo.OkxDialect(instruments=[mo.instrument("BTC-USDT-SWAP"), mo.instrument("ETH-USDT-SWAP")])
    return [
        Venue("binance", binance, {"BTC": "BTCUSDT", "ETH": "ETHUSDT"}),
        Venue("bybit", bybit, {"BTC": "BTCUSDT", "ETH": "ETHUSDT"}),
        Venue("okx", okx, {"BTC": "BTC-USDT-SWAP", "ETH": "ETH-USDT-SWAP"}),
    ]


class PerSymbolRest:
    """Wraps a dialect so that its kline endpoint serves only the requested symbol's rows."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.ws_paths = venue.dialect.ws_paths

    def is_subscribe(self, text: str) -> bool:
        return bool(self.venue.dialect.is_subscribe(text))

    def on_client_text(self, text: str) -> list[str]:
        return list(self.venue.dialect.on_client_text(text))

    def rest(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, dict[str, str], Any]:
        wanted = params.get("symbol") or params.get("instId")
        coin = next((c for c, s in self.venue.venue_symbols.items() if s == wanted), None)
        self.venue.dialect.klines = list(self.venue.klines[coin]) if coin else []
        return self.venue.dialect.rest(method, path, params, body)  # type: ignore[no-any-return]


def _liqmap(*args: str) -> list[str]:
    return [sys.executable, "-m", "liqmap", *args]


def _collector(url: str, venue: Venue, journals: Path) -> subprocess.Popen[bytes]:
    """deploy/'s command line (`collect --config FILE --exchanges VENUE`), pointed at this test's store and mock."""
    assert venue.mock is not None
    return subprocess.Popen(
        _liqmap("collect", "--config", str(CONFIG), "--exchanges", venue.name, "--db", url,
                "--symbols", ",".join(SYMBOLS),
                "--channels", "klines,liquidations", "--flush-ms", "50", "--journal", str(journals / venue.name),
                "--venue-url", f"{venue.name}={venue.mock.http_url},{venue.mock.ws_url}"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _server(url: str, port: int) -> subprocess.Popen[bytes]:
    """deploy/'s command line (`serve --config FILE --host H --port P`), on this test's store and loopback."""
    return subprocess.Popen(_liqmap("serve", "--config", str(CONFIG), "--host", "127.0.0.1", "--port", str(port),
                                    "--db", url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class WsClient:
    port: int
    symbol: str
    got: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    reconnects: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with websockets.connect(f"ws://127.0.0.1:{self.port}/api/stream", open_timeout=2) as ws:
                    newest = max((ts for (_, ts) in self.got), default=None)
                    subscribe: dict[str, Any] = {"type": "subscribe", "symbol": self.symbol, "range": "24h"}
                    if newest is not None:
                        subscribe["bars_since"] = newest - 5 * MINUTE  # a little overlap: ids make it idempotent
                    await ws.send(json.dumps(subscribe))
                    while not stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                            for series in message.get("bars", []) if message.get("type") == "update" else []:
                                if series["symbol"] == self.symbol:
                                    for row in series["bars"]:
                                        self.got[(series["exchange"], int(row[0]))] += 1
            except (OSError, websockets.WebSocketException, TimeoutError):
                self.reconnects += 1
                await asyncio.sleep(0.2)


async def _wait_until(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, f"{what}: not reached within {timeout_s} s"
        await asyncio.sleep(0.5)


def _stored_bars(url: str) -> dict[tuple[str, str], list[int]]:
    with PostgresStore(url) as store:
        rows = store.read("bars", columns=["exchange", "symbol", "ts_event"], interval_ms=MINUTE)
    out: dict[tuple[str, str], list[int]] = defaultdict(list)
    for exchange, symbol, ts in zip(rows["exchange"], rows["symbol"], rows["ts_event"].tolist(), strict=True):
        out[(str(exchange), str(symbol))].append(int(ts))
    return out


async def test_collectors_servers_and_cli_share_one_postgres(pg_url: str, tmp_path: Path) -> None:
    venues = _venues()
    for venue in venues:
        venue.mock = MockExchange(PerSymbolRest(venue))
        await venue.mock.start()
    ports = [free_port(), free_port()]
    collectors = {v.name: _collector(pg_url, v, tmp_path) for v in venues}
    servers = [_server(pg_url, port) for port in ports]
    stop = asyncio.Event()
    clients = [WsClient(port, symbol) for port in ports for symbol in SYMBOLS]
    sent_bars: dict[tuple[str, str], list[int]] = defaultdict(list)
    sent_prints: list[tuple[str, str, int, float, float]] = []  # (venue, coin, ts, time sent, price)
    outages: list[tuple[float, float]] = []
    cli_runs: list[subprocess.CompletedProcess[str]] = []
    first = (int(time.time() * 1000) // MINUTE - 180) * MINUTE
    try:
        for port in ports:
            await _wait_until(lambda p=port: _answers(p), 60, f"server on {port}")
        client_tasks = [asyncio.create_task(c.run(stop)) for c in clients]
        async def subscribed() -> bool:
            return all(v.mock is not None and v.mock.connections >= 1 and v.mock.received for v in venues)

        await _wait_until(subscribed, 60, "every collector subscribed")

        async def feed() -> None:
            started = time.monotonic()
            minute = 0
            while time.monotonic() - started < RUN_S:
                ts = first + minute * MINUTE
                for venue in venues:
                    for coin in SYMBOLS:
                        p = PRICES[coin] * (1 + 0.001 * ((minute * 7) % 11 - 5))
                        row = mb.kline_row(ts, p, p * 1.002, p * 0.998, p * 1.0005, 3.0 + minute)
                        venue.klines[coin].append(row)
                        sent_bars[(venue.name, coin)].append(ts)
                        assert venue.mock is not None
                        await venue.mock.push(venue.frame(coin, row))
                        if minute % 5 == 2:
                            price = round(p * 0.99, 1)
                            sent_prints.append((venue.name, coin, ts + 1234, time.monotonic(), price))
                            await venue.mock.push(venue.liquidation(coin, ts + 1234, price))
                minute += 1
                await asyncio.sleep(TICK_S)

        async def chaos() -> None:
            await asyncio.sleep(18)
            collectors["bybit"].send_signal(signal.SIGKILL)
            down = time.monotonic()
            await asyncio.to_thread(collectors["bybit"].wait, 10)  # reaped, not left as a zombie
            await asyncio.sleep(4)  # bars go on: the restarted collector must fetch them over REST
            # and bars keep closing while it starts: those between its start-up REST read and its subscription
            # come from the second read it makes once its stream flows
            collectors["bybit"] = _collector(pg_url, venues[1], tmp_path)
            outages.append((down, time.monotonic() + 3))
            await asyncio.sleep(10)
            servers[0].send_signal(signal.SIGKILL)
            down = time.monotonic()
            await asyncio.to_thread(servers[0].wait, 10)
            await asyncio.sleep(4)
            servers[0] = _server(pg_url, ports[0])
            outages.append((down, time.monotonic() + 3))

        async def cli_readers() -> None:
            while not stop.is_set():
                done = await asyncio.to_thread(subprocess.run, _liqmap("inventory", "--db", pg_url),
                                               capture_output=True, text=True, timeout=60)
                cli_runs.append(done)
                await asyncio.sleep(3)

        readers = asyncio.create_task(cli_readers())
        await asyncio.gather(feed(), chaos())

        # Recovery: everything sent is stored, and every client has every bar of its symbol.
        async def all_stored() -> bool:
            stored = await asyncio.to_thread(_stored_bars, pg_url)
            return all(sorted(stored.get(k, [])) == v for k, v in sent_bars.items())

        await _wait_until(all_stored, 60, "every sent bar stored")

        def client_complete(client: WsClient) -> bool:
            return all((venue, ts) in client.got for (venue, coin), tss in sent_bars.items() if coin == client.symbol
                       for ts in tss)

        async def clients_complete() -> bool:
            return all(client_complete(c) for c in clients)

        await _wait_until(clients_complete, 60, "every client has every bar")
        stop.set()
        await asyncio.gather(*client_tasks, readers)

        stored = _stored_bars(pg_url)
        for key, tss in sent_bars.items():
            assert stored[key] == tss, key  # each exactly once, in order (the key makes a second copy impossible)
        assert sum(len(v) for v in sent_bars.values()) >= 6 * int(RUN_S / TICK_S) * 0.9
        assert clients[0].reconnects >= 1 and clients[1].reconnects >= 1  # their replica was killed

        with PostgresStore(pg_url) as store:
            prints = store.read("liquidations", columns=["exchange", "symbol", "ts_event", "price"])
        stored_prints = list(zip(prints["exchange"], prints["symbol"], prints["ts_event"].tolist(),
                                 prints["price"].tolist(), strict=True))
        assert len(stored_prints) == len(set(stored_prints))
        sent_keys = {(v, c, ts, price) for v, c, ts, _, price in sent_prints}
        assert set(stored_prints) <= sent_keys
        calm = {(v, c, ts, price) for v, c, ts, at, price in sent_prints
                if not any(a <= at <= b for a, b in outages)}
        assert calm <= set(stored_prints)

        # The CLI readers ran throughout, and what they print agrees with what the servers serve.
        assert cli_runs and all(run.returncode == 0 for run in cli_runs), [r.stderr for r in cli_runs][-1:]
        final = subprocess.run(_liqmap("inventory", "--db", pg_url), capture_output=True, text=True, timeout=60)
        for port in ports:
            meta = httpx.get(f"http://127.0.0.1:{port}/api/meta", timeout=10).json()
            for entry in meta["symbols"]:
                for exchange in entry["exchanges"]:
                    assert any(line.split()[:2] == ["bars", exchange] and entry["symbol"] in line.split()
                               for line in final.stdout.splitlines())
            candles = httpx.get(f"http://127.0.0.1:{port}/api/candles",
                                params={"symbol": "ETH", "exchange": "okx", "limit": 100000}, timeout=30).json()
            assert candles["candles"]["ts"][-1] == sent_bars[("okx", "ETH")][-1]
    finally:
        stop.set()
        for process in [*collectors.values(), *servers]:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in [*collectors.values(), *servers]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        for venue in venues:
            if venue.mock is not None:
                await venue.mock.close()


async def _answers(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{port}/api/meta", timeout=2)).status_code == 200
    except httpx.HTTPError:
        return False

