"""A bounded chaos session (seconds) against the mock exchange, through the real collector: dropped, stalled
and closed connections, poison frames (hostile mutations of real frames), duplicates, out-of-order prints,
429/418 with absurd Retry-After. Sent versus stored: every valid liquidation exactly once, no poison
stored, every fault counted. The kill -9 loop lives in test_restart_recovery (real subprocesses)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
from feedkit import FakeClock, liquidation_print, vision_rows

from liqmap.feed.collector import Collector
from liqmap.feed.timing import Backoff
from liqmap.feed.writer import BatchWriter
from liqmap.store import DuckDBStore
from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol
from liqmap.testing.mock.server import Fault, MockExchange, Session, wait_for
from liqmap.venues.binance import SPEC

MIN = 60_000


def poison(k: int, ts: int) -> list[str]:
    """Hostile versions of the forceOrder frame of print k: each is refused or (where the parser does not
    need the field) decodes to print k itself; none may stop the feed."""
    good = json.loads(liquidation_print(k, ts))
    out = []
    for path, value in [(("data", "o"), []), (("data", "o", "T"), 1e30), (("data", "o", "p"), "inf"),
                        (("data", "o", "ap"), "-1"), (("data", "o", "q"), {"x": 1}), (("data", "o", "T"), "nan"),
                        (("data", "o", "S"), None), (("data",), "[" * 900)]:
        frame = json.loads(json.dumps(good))
        node = frame
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        out.append(json.dumps(frame))
    out.append('{"stream":"avaxusdt@forceOrder","data":' + "[" * 900 + "]" * 900 + "}")
    out.append("\x00\xff not json")
    return out


async def test_chaos_session_stores_every_valid_print_exactly_once() -> None:
    rows = vision_rows(10)
    t0 = int(rows[0][0])
    ts = [t0 + 1000 * k + 3 for k in range(16)]
    sent = {ts[k]: k for k in range(16)}
    mock = MockExchange(BinanceDialect(
        klines=[[int(r[0]), *r[1:6], int(r[6]), r[7], int(r[8]), *r[9:]] for r in rows],
        symbols=[exchange_info_symbol("AVAXUSDT", "0.001", "1")], symbol="AVAXUSDT"))
    mock.sessions = [
        Session(frames=[liquidation_print(k, ts[k]) for k in range(0, 4)] + poison(0, ts[0]), after="drop"),
        Session(frames=[liquidation_print(k, ts[k]) for k in range(4, 7)], after="stall"),
        Session(frames=[liquidation_print(k, ts[k]) for k in (4, 5, 6, 9, 7, 8, 3)], after="close"),  # dups, late
        Session(frames=[liquidation_print(k, ts[k]) for k in range(10, 16)] + poison(10, ts[10])[:3], after="hold"),
    ]
    mock.rest_faults["/fapi/v1/klines"] = [Fault(429, {"Retry-After": "1e9"}), Fault(418, {"Retry-After": "inf"}),
                                           Fault(429, {"Retry-After": "-3"}), Fault(429, {"Retry-After": "x"})]
    clock = FakeClock(t0 + 20_000)
    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        collector = Collector(store, ["binance"], ["AVAX"], specs={"binance": spec},
                              channels=("liquidations", "klines"), writer=BatchWriter(store, flush_ms=10),
                              timing=clock.timing(), backoff=lambda: Backoff(base_s=0.01, cap_s=0.05),
                              stale_after_s=0.3)
        task = asyncio.create_task(asyncio.wait_for(collector.run(), 60))
        total = sum(len(session.frames) for session in mock.sessions)
        await wait_for(lambda: store.latest_ts("liquidations") == ts[15] and mock.frames_sent >= total, 30)
        await asyncio.sleep(0.2)
        collector.stop()
        await task
    liqs = store.read("liquidations")
    assert sorted(liqs["ts_event"]) == sorted(sent)  # 0 lost, 0 duplicated, no poison row
    by_ts = dict(zip(liqs["ts_event"], liqs["quantity"], strict=True))
    np.testing.assert_allclose([by_ts[t] for t in ts], [10 + k for k in range(16)])
    health = collector.health["binance"]
    assert health.reconnects == 3  # drop, stall, close
    assert health.duplicates >= 4  # 4, 5, 6 and 3 again (+ poison frames that decode to a sent print)
    assert health.out_of_order >= 1
    # refused for sure: o=[], T=1e30, T="nan", S=null, data a string, 900-deep, not JSON; o=[], T=1e30 again
    # (p="inf", ap="-1", q={...} may decode to the same valid print as liquidation 0: a duplicate at most)
    assert health.parse_errors + health.invalid_records >= 9
    assert health.errors == 0  # every poison frame was a ParseError, nothing escaped the contract
    # Retry-After: 1e9 became 300 s; inf, negative and garbage became backoff delays (< 300 s)
    assert 300.0 in clock.sleeps and all(s <= 300.0 for s in clock.sleeps)
