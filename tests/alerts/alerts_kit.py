"""Test helpers: a real HTTP webhook receiver on 127.0.0.1 and the shipped sample replayed bar by bar."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

HOUR_MS = 3_600_000


def ms(text: str) -> int:
    return int(np.datetime64(text, "ms").astype(np.int64))


@dataclass
class Receiver:
    """Records every POST; ``fail_first`` paths answer 500 to the first request carrying a given body."""

    fail_first: set[str] = field(default_factory=set)
    status_for: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def accepted(self, path: str) -> list[dict[str, Any]]:
        return [body for p, status, body in self.requests if p == path and status == 200]

    def handle(self, path: str, raw: bytes) -> int:
        body = json.loads(raw or b"{}")
        with self._lock:
            if path in self.status_for:
                status = self.status_for[path]
            elif path in self.fail_first and (path, raw.decode()) not in self._seen:
                self._seen.add((path, raw.decode()))
                status = 500
            else:
                status = 200
            self.requests.append((path, status, body))
        return status


def start_receiver(receiver: Receiver) -> Receiver:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = receiver.handle(self.path, raw)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def sample_store() -> Any:
    """A memory store holding the shipped sample's Binance perp klines and Coinglass regime (OI)."""
    from liqmap.data.sample import SAMPLE_DIR
    from liqmap.ingest.registry import import_file
    from liqmap.store import DuckDBStore

    store = DuckDBStore(":memory:").open()
    for name in ("BTCUSDT-1h-futures.csv.gz", "BTC_regime_1h.csv.gz"):
        import_file(store, SAMPLE_DIR / name, ts_recv=0)
    return store


EDGES = np.arange(50_000.0, 110_001.0, 100.0)
_REPLAYS: dict[tuple[int, int, int], tuple[Any, Any, int]] = {}
WARMUP_START = ms("2026-01-05")


def replay_bars(store: Any, start: int, end: int) -> tuple[Any, Iterator[tuple[Any, float, float]]]:
    """The batch engine's per-bar columns from ``WARMUP_START`` (30 days of warm-up before ``start``); yields
    ``(snapshot, high, low)`` per bar of ``[start - 1 bar, end)`` (the first is the baseline the rules start
    from). Column ``k`` is the book at the end of bar ``k``, as the live server's snapshot after that bar."""
    from liqmap.ingest.frames import load_frame
    from liqmap.model import ModelConfig, compute_heatmap

    key = (id(store), start, end)
    if key not in _REPLAYS:
        frame = load_frame(store, "binance", "BTC", WARMUP_START, end, HOUR_MS)
        heatmap = compute_heatmap([frame], ModelConfig(), price_edges=EDGES)
        _REPLAYS[key] = (frame, heatmap, int(np.searchsorted(frame.ts, start)) - 1)
    frame, heatmap, first = _REPLAYS[key]

    def bars() -> Iterator[tuple[Any, float, float]]:
        for i in range(first, len(frame)):
            yield heatmap.column(i), float(frame.high[i]), float(frame.low[i])

    return frame, bars()


class ApiServer:
    """Our FastAPI app served by uvicorn on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, store: Any, token: str | None) -> None:
        import uvicorn

        from liqmap.service.app import create_app

        app = create_app(store, token=token, poll_interval=60.0)
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("API server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
