"""The config file drives real processes: ``liqmap collect`` (its /metrics on --metrics-port, against the
mock exchange on 127.0.0.1) and ``liqmap serve`` (its port and its /healthz policy)."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from liqmap.store import DuckDBStore
from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol, force_order_frame
from liqmap.testing.mock.server import MockExchange, Session

TESTS = Path(__file__).parents[1]
sys.path.insert(0, str(TESTS / "feed"))
from feedkit import ThreadedMock  # noqa: E402

CLI = [sys.executable, "-c", "from liqmap.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LIQMAP_")} | {"PYTHONUNBUFFERED": "1"}


def test_collect_from_config_serves_its_metrics(tmp_path: Path) -> None:
    rows = [r for r in csv.reader((TESTS / "fixtures" / "binance" / "forceorder" / "forceorder_2024-08-17.csv").read_text().splitlines())
            if r[0] in ("BTC", "ETH")]
    mock = MockExchange(BinanceDialect(symbols=[exchange_info_symbol(s) for s in ("BTCUSDT", "ETHUSDT")]))
    mock.default_session = Session(frames=[force_order_frame(r) for r in rows], after="hold")
    db, port = tmp_path / "c.duckdb", free_port()
    with ThreadedMock(mock) as m:
        config = tmp_path / "liqmap.toml"
        config.write_text(f'[store]\ndb = "{db}"\n[collect]\nexchanges = ["binance"]\nsymbols = ["BTC", "ETH"]\n'
                          f'channels = ["liquidations"]\nvenue_urls = ["binance={m.http_url},{m.ws_url}"]\n'  # type: ignore[attr-defined]
                          f"metrics_port = {port}\nflush_ms = 20\n")
        proc = subprocess.Popen([*CLI, "collect", "--config", str(config)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env())
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            key = ("liqmap_feed_records_total", (("exchange", "binance"),))
            deadline = time.monotonic() + 30
            scraped: dict = {}
            while time.monotonic() < deadline and scraped.get(key, 0) < len(rows):
                with contextlib.suppress(httpx.HTTPError):  # not listening yet
                    scraped = scrape(url)
                time.sleep(0.1)
            while time.monotonic() < deadline and scraped.get(("liqmap_store_write_records_total", ()), 0) < len(rows):
                scraped = scrape(url)
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert scraped[key] == len(rows)
    assert scraped[("liqmap_feed_connected", (("exchange", "binance"),))] == 1
    assert scraped[("liqmap_feed_errors_total", (("exchange", "binance"), ("kind", "parse")))] == 0
    # instruments are written by the same writer, so the store saw the prints and more
    assert scraped[("liqmap_store_write_records_total", ())] >= len(rows)
    assert scraped[("liqmap_store_write_seconds_count", ())] >= 1
    with DuckDBStore(db, read_only=True) as store:
        assert len(store.read("liquidations")["ts_event"]) == len(rows)


def test_serve_takes_port_and_health_policy_from_the_config(tmp_path: Path) -> None:
    db, port = tmp_path / "s.duckdb", free_port()
    with DuckDBStore(db):
        pass
    config = tmp_path / "liqmap.toml"
    config.write_text(f'[store]\ndb = "{db}"\n[serve]\nport = {port}\n[health]\nexchanges = ["binance", "okx"]\n'
                      'stale_after = "10m"\n')
    proc = subprocess.Popen([*CLI, "serve"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env() | {"LIQMAP_CONFIG": str(config), "LIQMAP_HEALTH_EXCHANGES": "okx"})
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline and response is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert response is not None
    assert response.status_code == 503
    body = response.json()
    assert (body["source"], body["stale_after_ms"]) == ("store", 600_000)
    # the environment overrode the file's exchanges; the empty store has no row for okx
    assert [(f["exchange"], f["table"], f["last_ts"], f["status"]) for f in body["feeds"]] == [
        ("okx", "bars", None, "stale")]
