"""Record -> replay through the same parsers; the ``collect`` process flushes on SIGTERM; archives."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from feedkit import FIXTURES, FakeClock, ThreadedMock, vision_rows

from liqmap.cli import main
from liqmap.errors import MalformedFileError
from liqmap.feed.collector import Collector
from liqmap.feed.record import Recorder, read_recording, replay
from liqmap.feed.writer import BatchWriter
from liqmap.store import DuckDBStore
from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol, force_order_frame
from liqmap.testing.mock.server import MockExchange, Session, wait_for
from liqmap.venues.binance import SPEC

VENV_PY = sys.executable


def forceorder_rows() -> list[list[str]]:
    rows = list(csv.reader((FIXTURES / "binance" / "forceorder" / "forceorder_2024-08-17.csv").read_text().splitlines()))
    return [r for r in rows if r[0] in ("BTC", "ETH", "SOL")]


async def test_recorded_session_replays_to_identical_store(tmp_path: Path) -> None:
    rows = forceorder_rows()
    assert len(rows) == 11
    mock = MockExchange(BinanceDialect(symbols=[exchange_info_symbol(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]))
    mock.sessions.append(Session(frames=[force_order_frame(r) for r in rows] + ["garbage{"], after="hold"))
    live = DuckDBStore(":memory:").open()
    recorder = Recorder(tmp_path / "rec")
    async with mock:
        spec = SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        collector = Collector(live, ["binance"], ["BTC", "ETH", "SOL"], specs={"binance": spec},
                              channels=("liquidations",), recorder=recorder,
                              writer=BatchWriter(live, flush_every=10, flush_ms=20),
                              timing=FakeClock(int(rows[-1][10])).timing())
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: collector.health["binance"].parse_errors == 1)
        collector.stop()
        await task
    [path] = list((tmp_path / "rec").glob("binance-*.jsonl"))
    lines = list(read_recording(path))
    frames = [e for e in lines if e.rest is None]
    assert frames[0].venue == "binance" and json.loads(frames[0].raw) == {"result": None, "id": 1}  # the ack
    [instruments] = [e for e in lines if e.rest == "instruments"]  # REST bodies are recorded too
    assert {s["symbol"] for s in json.loads(instruments.raw)["symbols"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    replayed = DuckDBStore(":memory:").open()
    result = replay(path, replayed)
    assert result.parse_errors == 1 and result.written["liquidations"] == len(rows)
    assert result.written["instruments"] == 3
    a, b = live.read("liquidations"), replayed.read("liquidations")
    for column in ("ts_event", "ts_recv", "side", "price", "quantity", "usd", "symbol"):
        assert list(a[column]) == list(b[column])
    # idempotent: replaying again stores nothing new
    assert replay(path, replayed).written.get("liquidations", 0) == 0


def test_replay_cli_and_torn_last_line(tmp_path: Path) -> None:
    rows = forceorder_rows()[:5]
    path = tmp_path / "session.jsonl"
    lines = [json.dumps({"ts_recv": int(r[10]) + 5, "venue": "binance", "raw": force_order_frame(r)}) for r in rows]
    path.write_text("\n".join(lines) + '\n{"ts_recv": 1, "venue": "bin')  # killed mid-write
    db = tmp_path / "r.duckdb"
    result = CliRunner().invoke(main, ["replay", str(path), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "5 frames, 5 records, 0 parse errors" in result.output
    with DuckDBStore(db) as store:
        np.testing.assert_allclose(store.read("liquidations")["ts_recv"], sorted(int(r[10]) + 5 for r in rows))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n" + lines[0] + "\n")
    with pytest.raises(MalformedFileError) as info:
        list(read_recording(bad))
    assert info.value.line == 1


def test_collect_process_flushes_on_sigterm_and_records(tmp_path: Path) -> None:
    rows = forceorder_rows()
    mock = MockExchange(BinanceDialect(symbols=[exchange_info_symbol(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]))
    mock.default_session = Session(frames=[force_order_frame(r) for r in rows], after="hold")
    db, rec = tmp_path / "c.duckdb", tmp_path / "rec"
    with ThreadedMock(mock) as m:
        url = f"binance={m.http_url},{m.ws_url}"  # type: ignore[attr-defined]
        # long flush interval: the rows reach the store only through the SIGTERM flush
        proc = subprocess.Popen([VENV_PY, "-c", "from liqmap.cli import main; main()", "collect", "--exchanges", "binance", "--symbols",
                                 "BTC,ETH,SOL", "--channels", "liquidations", "--venue-url", url, "--record", str(rec),
                                 "--flush-ms", "600000", "--flush-every", "100000", "--db", str(db)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.time() + 20
        while time.time() < deadline:
            files = list(rec.glob("*.jsonl"))
            if files and len(files[0].read_text().splitlines()) >= len(rows) + 2:  # + the ack + the instruments body
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()[-2000:]
    with DuckDBStore(db, read_only=True) as store:
        liqs = store.read("liquidations")
    assert len(liqs["ts_event"]) == len(rows)
    assert liqs["usd"].sum() == pytest.approx(sum(float(r[6]) * float(r[9]) for r in rows))
    assert b"binance: " in out


def make_zip(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name.replace(".zip", ".csv"), text)
    return buffer.getvalue()


def test_archive_download_and_import_klines_metrics_aggtrades(tmp_path: Path) -> None:
    import http.server
    import threading

    kline_csv = (FIXTURES / "binance" / "vision" / "AVAXUSDT-1m-2026-06-head180.csv").read_text()
    day1 = "\n".join(kline_csv.splitlines()[:61])  # header + first hour
    day2 = "\n".join(kline_csv.splitlines()[61:121])  # an older, headerless file
    metrics = ("create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
               "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n"
               "2026-06-01 00:05:00,AVAXUSDT,1234567.5,11111111.25,1.1,1.2,1.3,0.9\n")
    agg_rows = [r for r in csv.reader((FIXTURES / "binance" / "forceorder" / "aggtrades_over_15k_2024-08-15_head2000.csv").read_text().splitlines())
                if r[1].strip() == "SOLUSDT"][:20]
    agg = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n" + "\n".join(
        f"{r[2].strip()},{r[3].strip()},{r[4].strip()},{r[2].strip()},{r[2].strip()},{r[5].strip()},{r[6].strip().lower()}"
        for r in agg_rows)
    files = {
        "/data/futures/um/daily/klines/AVAXUSDT/1m/AVAXUSDT-1m-2026-06-01.zip": make_zip("AVAXUSDT-1m-2026-06-01.zip", day1),
        "/data/futures/um/daily/klines/AVAXUSDT/1m/AVAXUSDT-1m-2026-06-02.zip": make_zip("AVAXUSDT-1m-2026-06-02.zip", day2),
        "/data/futures/um/daily/metrics/AVAXUSDT/AVAXUSDT-metrics-2026-06-01.zip": make_zip("m.zip", metrics),
        "/data/futures/um/daily/aggTrades/SOLUSDT/SOLUSDT-aggTrades-2024-08-15.zip": make_zip("a.zip", agg),
    }
    for path in list(files):
        files[path + ".CHECKSUM"] = f"{hashlib.sha256(files[path]).hexdigest()}  {path.rsplit('/', 1)[1]}".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            if body is not None:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    db = tmp_path / "a.duckdb"
    try:
        run = CliRunner().invoke
        r1 = run(main, ["archive", "-s", "AVAX", "--start", "2026-06-01", "--end", "2026-06-03", "--base-url", base,
                        "--db", str(db)])
        assert r1.exit_code == 0, r1.output
        assert "2 files, 120 rows, 120 new" in r1.output and "AVAXUSDT-1m-2026-06-03.zip" in r1.output
        r2 = run(main, ["archive", "-s", "AVAX", "--start", "2026-06-01", "--end", "2026-06-02", "--base-url", base,
                        "--db", str(db)])
        assert "120 rows, 0 new" in r2.output  # idempotent
        r3 = run(main, ["archive", "-s", "AVAX", "--kind", "metrics", "--start", "2026-06-01", "--base-url", base,
                        "--db", str(db)])
        assert r3.exit_code == 0, r3.output
        r4 = run(main, ["archive", "-s", "SOL", "--kind", "aggTrades", "--start", "2024-08-15", "--base-url", base,
                        "--db", str(db)])
        assert r4.exit_code == 0, r4.output
    finally:
        server.shutdown()
        server.server_close()
    rows = vision_rows(120)
    with DuckDBStore(db, read_only=True) as store:
        bars = store.read("bars", symbol="AVAX")
        assert list(bars["ts_event"]) == [int(r[0]) for r in rows]
        np.testing.assert_allclose(bars["taker_buy_volume"], [float(r[9]) for r in rows])
        oi = store.read("open_interest")
        assert list(oi["ts_event"]) == [1780272300000] and list(oi["oi_usd"]) == [11111111.25]
        trades = store.read("trades", symbol="SOL")
        np.testing.assert_allclose(sorted(trades["price"]), sorted(float(r[3]) for r in agg_rows))
        assert list(trades["taker_side"]) == ["sell" if r[6].strip() == "True" else "buy"
                                              for r in sorted(agg_rows, key=lambda r: int(r[5]))]


def test_killed_collector_loses_nothing_received_thanks_to_the_recording(tmp_path: Path) -> None:
    """SIGKILL skips every flush; the raw recording (flushed per frame) restores the store via replay."""
    rows = forceorder_rows()
    mock = MockExchange(BinanceDialect(symbols=[exchange_info_symbol(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]))
    mock.default_session = Session(frames=[force_order_frame(r) for r in rows], after="hold")
    db, rec = tmp_path / "k.duckdb", tmp_path / "rec"
    with ThreadedMock(mock) as m:
        url = f"binance={m.http_url},{m.ws_url}"  # type: ignore[attr-defined]
        proc = subprocess.Popen([VENV_PY, "-c", "from liqmap.cli import main; main()", "collect", "--exchanges",
                                 "binance", "--symbols", "BTC,ETH,SOL", "--channels", "liquidations", "--venue-url", url,
                                 "--record", str(rec), "--flush-ms", "600000", "--flush-every", "100000", "--db", str(db)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            files = list(rec.glob("*.jsonl"))
            if files and len(files[0].read_text().splitlines()) >= len(rows) + 2:  # + the ack + the instruments body
                break
            time.sleep(0.1)
        proc.kill()
        proc.wait(10)
    [recording] = list(rec.glob("*.jsonl"))
    result = CliRunner().invoke(main, ["replay", str(recording), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with DuckDBStore(db, read_only=True) as store:
        liqs = store.read("liquidations")
    assert len(liqs["ts_event"]) == len(rows)
    assert sorted(liqs["ts_event"]) == sorted(int(r[10]) for r in rows)


async def test_archive_checksum_mismatch_and_malformed_rows_are_refused(tmp_path: Path) -> None:
    from liqmap.errors import DataError
    from liqmap.feed import archive

    good = make_zip("AVAXUSDT-1m-2026-06-01.zip", "1780272000000,8.9810,8.9820,8.9710,8.9740,17315,1780272059999,"
                    "155466.8640,397,7701,69159.0090,0\n")
    bad_row = make_zip("x.zip", "1780272000000,8.98,not-a-number\n")

    from aiohttp import web

    async def serve(request: web.Request) -> web.Response:
        if request.path.endswith(".CHECKSUM"):
            return web.Response(text="0" * 64 + "  AVAXUSDT-1m-2026-06-01.zip")
        return web.Response(body=good)

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    store = DuckDBStore(":memory:").open()
    try:
        with pytest.raises(DataError, match="sha256"):
            await archive.import_range(store, "klines", "AVAX", ["2026-06-01"], base_url=f"http://127.0.0.1:{port}",
                                       progress=False)
    finally:
        await runner.cleanup()
    assert store.latest_ts("bars") is None  # nothing imported from a file that failed its checksum
    with pytest.raises(MalformedFileError) as info:
        archive.import_archive(store, "klines", "AVAX", bad_row, "x.zip")
    assert info.value.line == 1
    with pytest.raises(MalformedFileError):
        archive.import_archive(store, "klines", "AVAX", b"not a zip", "y.zip")
