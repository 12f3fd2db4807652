"""API abuse limits: body size (real HTTP on 127.0.0.1), token before body, Host/Origin, concurrent new
views, distinct views per WebSocket connection, cache memory."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from fastapi.testclient import TestClient

from liqmap.commands.serve import serve_async
from liqmap.model.result import Heatmap
from liqmap.service.app import create_app
from liqmap.service.limits import Limits, default_hosts
from liqmap.service.params import ViewKey
from liqmap.store import DuckDBStore

TOKEN = "tok-123"


def fake_heatmap(_store: Any, key: ViewKey) -> Heatmap:
    """A zero heatmap of exactly the view's shape: its bytes are known without running the model."""
    k, b = key.max_columns, key.n_bins
    times = np.arange(k, dtype=np.int64) * 3_600_000 + 1_700_000_000_000
    ones = np.ones(k)
    return Heatmap(symbol=key.symbol, exchanges=("binance",), times=times,
                   price_edges=np.linspace(50_000.0, 60_000.0, b + 1), long=np.zeros((k, b)),
                   short=np.zeros((k, b)), swept_long=np.zeros(k), swept_short=np.zeros(k),
                   candles={"ts": times, "open": ones, "high": ones, "low": ones, "close": ones, "volume": ones},
                   interval_ms=3_600_000)


@dataclass
class Running:
    url: str
    port: int


CORS_ORIGIN = "https://dash.example"


@pytest.fixture
async def server() -> AsyncIterator[Running]:
    """Our server on 127.0.0.1 with a 1 KiB body limit, a token, the default host list and one --cors origin."""
    store = DuckDBStore(":memory:").open()
    started: dict[str, Any] = {}
    task = asyncio.create_task(serve_async(
        store, port=0, token=TOKEN, announce=False, limits=Limits(max_body_bytes=1024), cors_origins=(CORS_ORIGIN,),
        on_started=lambda url, srv: started.update(url=url, server=srv)))
    async with asyncio.timeout(15):
        while "url" not in started:
            await asyncio.sleep(0.02)
    url = str(started["url"])
    try:
        yield Running(url, int(url.rstrip("/").rsplit(":", 1)[1]))
    finally:
        started["server"].should_exit = True
        await task
        store.close()


async def _raw(port: int, head: bytes, chunks: list[bytes] = (), read_after_head: bool = True) -> bytes:  # type: ignore[assignment]
    """Send a request head (and optionally body chunks) on a raw socket; return what the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        for chunk in chunks:
            writer.write(chunk)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read(65536)
    finally:
        writer.close()


async def test_declared_oversized_body_is_refused_before_it_is_sent(server: Running) -> None:
    # 300 MB declared, not one byte of body sent: the answer can only come from the header check
    head = (f"POST /api/records HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Liqmap-Token: {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {300 << 20}\r\n\r\n").encode()
    answer = await _raw(server.port, head)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"larger than 1024 bytes" in answer


async def test_chunked_body_is_cut_once_it_passes_the_limit(server: Running) -> None:
    head = (f"POST /api/records HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Liqmap-Token: {TOKEN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    piece = b'{"bars": [' + b" " * 590  # 600 bytes per chunk: the second one passes 1024
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 2
    answer = await _raw(server.port, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413")


async def test_body_under_the_limit_still_works(server: Running) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers={"X-Liqmap-Token": TOKEN}) as client:
        response = await client.post("api/records", json={"bars": []})
    assert response.status_code == 200
    assert response.json()["written"] == {}


async def test_wrong_token_is_refused_without_reading_the_body(server: Running) -> None:
    # a small declared body that never arrives: a server reading it first would wait forever
    head = (f"POST /api/records HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Liqmap-Token: wrong\r\n"
            "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n").encode()
    answer = await _raw(server.port, head)
    assert answer.startswith(b"HTTP/1.1 401")
    assert b"missing or wrong token" in answer


async def test_host_header_is_checked(server: Running) -> None:
    async with httpx.AsyncClient() as client:
        ok = await client.get(f"{server.url}api/exchanges")
        evil = await client.get(f"{server.url}api/exchanges", headers={"Host": "attacker.example"})
        local = await client.get(f"{server.url}api/exchanges", headers={"Host": f"localhost:{server.port}"})
        v6 = await client.get(f"{server.url}api/exchanges", headers={"Host": f"[::1]:{server.port}"})
    assert (ok.status_code, local.status_code, v6.status_code) == (200, 200, 200)
    assert evil.status_code == 400
    assert "attacker.example" in evil.json()["detail"]


async def test_websocket_origin_is_checked(server: Running) -> None:
    ws_url = server.url.replace("http", "ws") + "api/stream"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url, origin="http://attacker.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with websockets.connect(ws_url, origin=f"http://127.0.0.1:{server.port}") as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv())["type"] == "hello"


async def test_state_changing_request_from_another_origin_is_refused(server: Running) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers={"X-Liqmap-Token": TOKEN}) as client:
        foreign = await client.post("api/cache/clear", headers={"Origin": "http://attacker.example"})
        same = await client.post("api/cache/clear", headers={"Origin": f"http://localhost:{server.port}"})
        cors = await client.post("api/cache/clear", headers={"Origin": CORS_ORIGIN})
    assert foreign.status_code == 403
    assert same.status_code == 200
    assert cors.status_code == 200  # a --cors origin may call the API


def test_default_hosts() -> None:
    assert default_hosts("0.0.0.0") == ("localhost", "127.0.0.1", "::1")
    assert default_hosts("192.168.1.5", ["Heatmap.LAN:8000", "[fe80::1]"]) == (
        "localhost", "127.0.0.1", "::1", "192.168.1.5", "heatmap.lan", "fe80::1")


@pytest.fixture
def memory_store() -> Iterator[DuckDBStore]:
    with DuckDBStore(":memory:") as store:
        yield store


def test_new_view_computations_are_bounded(memory_store: DuckDBStore) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(store: Any, key: ViewKey) -> Heatmap:
        entered.set()
        release.wait(30)
        return fake_heatmap(store, key)

    app = create_app(memory_store, compute=slow, prewarm_views=False,
                     limits=Limits(max_computations=1, compute_wait_s=0.2, retry_after_s=7))
    with TestClient(app) as client:
        first: dict[str, httpx.Response] = {}
        worker = threading.Thread(target=lambda: first.update(r=client.get("/api/heatmap?symbol=BTC&rows=100")))
        worker.start()
        assert entered.wait(30)
        busy = client.get("/api/heatmap?symbol=BTC&rows=200")
        release.set()
        worker.join(30)
        after = client.get("/api/heatmap?symbol=BTC&rows=200")
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "7"
    assert "1 new views are being computed" in busy.json()["detail"]
    assert first["r"].status_code == 200
    assert after.status_code == 200
    assert app.state.liqmap.compute_gate.refused == 1


def test_distinct_views_per_websocket_connection_are_bounded(memory_store: DuckDBStore) -> None:
    app = create_app(memory_store, compute=fake_heatmap, prewarm_views=False,
                     limits=Limits(max_views_per_connection=2))
    with TestClient(app) as client, client.websocket_connect("/api/stream") as ws:
        assert ws.receive_json()["type"] == "hello"
        replies = []
        for rows in (100, 200, 300, 100):
            ws.send_json({"type": "subscribe", "symbol": "BTC", "rows": rows})
            reply = ws.receive_json()
            while reply["type"] not in ("subscribed", "error"):
                reply = ws.receive_json()
            replies.append(reply)
    assert [r["type"] for r in replies] == ["subscribed", "subscribed", "error", "subscribed"]
    assert "already subscribed to 2 distinct views" in replies[2]["message"]
    assert replies[3]["view"]["rows"] == 100


def test_cache_memory_is_bounded_in_bytes(memory_store: DuckDBStore) -> None:
    budget = 16 << 20
    app = create_app(memory_store, compute=fake_heatmap, prewarm_views=False, limits=Limits(cache_bytes=budget))
    # each view: long + short 100 x 1000 float64, 100 times, 1001 edges (the cache's own accounting)
    per_view = 2 * 100 * 1000 * 8 + 100 * 8 + 1001 * 8
    with TestClient(app) as client:
        for i in range(10):
            response = client.get(f"/api/heatmap?symbol=BTC&rows=1000&columns=100&end={1_700_400_000_000 + i * 3_600_000}")
            assert response.status_code == 200, response.text
    stats = app.state.liqmap.cache.stats()
    kept = (budget // 2) // per_view
    assert stats["entries"] == kept == 5
    assert stats["bytes"] == kept * per_view


