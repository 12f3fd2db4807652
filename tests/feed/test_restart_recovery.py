"""Restarts without holes: kill -9 a real ``liqmap collect`` subprocess again and again against the mock
exchange; at each start the journal of raw frames is replayed and each series is backfilled over REST from
its newest stored row. Sent versus stored: nothing lost, nothing duplicated, values as sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from feedkit import ThreadedMock, liquidation_print, vision_rows

from liqmap.store import DuckDBStore
from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol, kline_frame
from liqmap.testing.mock.server import Fault, MockExchange, Session

MIN = 60_000


def recent_rows(n: int) -> list[list[str]]:
    """Real AVAX 1m rows re-timed to the last ``n`` closed minutes (the subprocess runs on the wall clock)."""
    last_open = (time.time_ns() // 1_000_000) // MIN * MIN - MIN
    first = last_open - (n - 1) * MIN
    out = []
    for i, row in enumerate(vision_rows(n)):
        t = first + i * MIN
        out.append([str(t), *row[1:6], str(t + MIN - 1), *row[7:]])
    return out


def collect(url: str, db: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "from liqmap.cli import main; main()", "collect", "--exchanges",
                             "binance", "--symbols", "AVAX", "--channels", "liquidations,klines",
                             "--venue-url", url, "--db", str(db), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_until(condition, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout_s
    while not condition():
        assert time.time() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_kill_9_loop_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    kills = 4
    rows = recent_rows(40)
    t_first = int(rows[0][0])
    # per run: 3 liquidations (one repeated from the previous run: a duplicate) and the WS bars of a slice;
    # the bars between the slices reach the store only through the startup REST backfill
    sessions, liqs_sent = [], {}
    for run in range(kills + 1):
        frames = []
        for k in range(3 * run, 3 * run + 3):
            ts = t_first + k * 1000 + 7
            liqs_sent[ts] = k
            frames.append(liquidation_print(k, ts))
        if run:
            frames.append(liquidation_print(3 * run - 1, t_first + (3 * run - 1) * 1000 + 7))  # duplicate
        frames += [kline_frame("AVAXUSDT", r) for r in rows[run * 8: run * 8 + 2]]
        sessions.append(Session(frames=frames, after="hold"))
    dialect = BinanceDialect(klines=[[int(r[0]), *r[1:6], int(r[6]), r[7], int(r[8]), *r[9:]] for r in rows],
                             symbols=[exchange_info_symbol("AVAXUSDT", "0.001", "1")], symbol="AVAXUSDT")
    mock = MockExchange(dialect)
    mock.sessions = list(sessions)  # popped per connection
    # absurd Retry-After on the first REST calls: the backoff delay instead (1e9 is capped to 300 s,
    # tested in test_reliability: too long for this test)
    mock.rest_faults["/fapi/v1/klines"] = [Fault(429, {"Retry-After": "inf"}), Fault(418, {"Retry-After": "-5"}),
                                           Fault(429, {"Retry-After": "soon"})]
    db = tmp_path / "c.duckdb"
    with ThreadedMock(mock) as m:
        url = f"binance={m.http_url},{m.ws_url}"  # type: ignore[attr-defined]
        sent_before = 0
        for run in range(kills + 1):
            # a long flush interval: nothing reaches the store by the batch writer before the kill
            proc = collect(url, db, "--flush-ms", "600000", "--flush-every", "100000")
            expected = sent_before + len(sessions[run].frames)
            wait_until(lambda e=expected: mock.frames_sent >= e)  # type: ignore[misc]
            sent_before = expected
            time.sleep(0.5)  # received and journaled
            if run < kills:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                if proc.stderr:
                    proc.stderr.close()
            else:
                # the last run: wait for the startup backfill to reach the newest bar, then a clean stop
                wait_until(lambda: any(p == "/fapi/v1/klines" and int(q.get("endTime", 0)) >= int(rows[-1][0])
                                       for p, q in mock.rest_calls))
                time.sleep(1.0)
                proc.send_signal(signal.SIGTERM)
                _, err = proc.communicate(timeout=30)
                assert proc.returncode == 0, err.decode()[-2000:]
    assert not list((tmp_path / "c.duckdb.journal").glob("*.jsonl"))  # a clean stop leaves no segment
    with DuckDBStore(db, read_only=True) as store:
        liqs = store.read("liquidations")
        bars = store.read("bars", exchange="binance", symbol="AVAX")
    assert sorted(liqs["ts_event"]) == sorted(liqs_sent)  # 0 lost, 0 duplicated
    by_ts = dict(zip(liqs["ts_event"], liqs["quantity"], strict=True))
    np.testing.assert_allclose([by_ts[ts] for ts in sorted(liqs_sent)], [10 + liqs_sent[ts] for ts in sorted(liqs_sent)])
    first_ws = int(rows[0][0])
    expected_bars = [r for r in rows if int(r[0]) >= first_ws]
    assert list(bars["ts_event"]) == [int(r[0]) for r in expected_bars]  # no hole: REST filled between runs
    np.testing.assert_allclose(bars["close"], [float(r[4]) for r in expected_bars])
    calls = [p for p, _q in mock.rest_calls if p == "/fapi/v1/klines"]
    assert len(calls) >= 3
