"""Real headless Chromium (Debian's /usr/bin/chromium) against a real `liqmap serve` on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "browser-test-token"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not installed (apt-get install chromium)")
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not os.path.exists(CHROMIUM):
                item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_demo_db(path: Path) -> Path:
    from liqmap.data.sample import sample_files
    from liqmap.ingest import import_file
    from liqmap.store import DuckDBStore

    with DuckDBStore(path) as store:
        for file in sample_files():
            import_file(store, file)
    return path


def new_bar_records(new_ts: int, *, oi_ts: int, liquidation: bool = True) -> dict[str, list[dict[str, object]]]:
    """A new Binance BTC 1h bar opening at ``new_ts`` (close 78,100, volume 2,500 BTC, 1,600 taker buys),
    open interest $8.2B at ``oi_ts`` and (optionally) a 25 BTC short liquidation two minutes in: the body of
    a ``POST /api/records`` that the live tests send."""
    records: dict[str, list[dict[str, object]]] = {
        "bars": [{"exchange": "binance", "symbol": "BTC", "interval_ms": 3_600_000, "ts_event": new_ts,
                  "open": 77030.3, "high": 78200.0, "low": 76900.0, "close": 78100.0, "volume": 2500.0,
                  "taker_buy_volume": 1600.0}],
        "open_interest": [{"exchange": "binance", "symbol": "BTC", "ts_event": oi_ts, "oi_usd": 8.2e9}],
    }
    if liquidation:
        records["liquidations"] = [{"exchange": "binance", "symbol": "BTC", "ts_event": new_ts + 120_000,
                                    "side": "short", "price": 78150.0, "quantity": 25.0}]
    return records


class Server:
    def __init__(self, db: Path, token: str | None = TOKEN) -> None:
        self.token = token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-c", "from liqmap.cli import main; main()", "serve", "--db", str(db),
                "--port", str(self.port)]
        if token:
            args += ["--token", token]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"liqmap serve exited: {self.proc.stdout.read() if self.proc.stdout else ''}")
            try:
                if httpx.get(f"{self.url}/api/meta", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("liqmap serve did not come up in 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = make_demo_db(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    srv = Server(db)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
