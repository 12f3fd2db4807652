"""Feed benchmark: parse + normalise + store throughput, and live end-to-end latency through the mock.

1. Throughput on a replayed recording: the real ``!forceOrder@arr`` rows and ``@aggTrade`` rows in
   tests/fixtures expanded (fresh ids/times) to ~200k frames, fed through ``binance.parse_ws`` and
   the feed's columnar writer into a DuckDB file (batches of 20,000 as ``liqmap replay`` writes; the live
   writer flushes smaller batches every 50 ms). Time is split into
   JSON decoding, normalisation (the rest of the parser) and the store. Target: >= 50,000 messages/s.
2. Latency: the mock exchange on 127.0.0.1 pushes closed 1m kline frames over a real WebSocket; the real
   collector receives, parses, batches and stores them; latency = mock send -> the writer's hook after the
   store write (what wakes the server's live loop; the live view's step and the fan-out to WebSocket
   clients are measured through the real server by bench_api.py, part 2). Prints median and p99.

Run: ``.venv/bin/python bench/bench_feed.py [--messages 200000] [--bars 200]``
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from liqmap.types import Record

T = TypeVar("T")

FIX = Path(__file__).parents[1] / "tests" / "fixtures" / "binance"


def build_frames(n: int) -> list[str]:
    """~10 % liquidations, 90 % trades, unique keys, from the recorded rows."""
    from liqmap.testing.mock.binance import force_order_frame

    liq_rows = [r for name in ("forceorder_2024-08-17.csv", "forceorder_2024-08-18.csv")
                for r in csv.reader((FIX / "forceorder" / name).read_text().splitlines())
                if len(r[0]) >= 2 and not r[0].endswith("USDT")]
    trade_rows = list(csv.reader((FIX / "forceorder" / "aggtrades_over_15k_2024-08-15_head2000.csv").read_text().splitlines()))
    frames: list[str] = []
    i = 0
    while len(frames) < n:
        if i % 10 == 0:
            r = list(liq_rows[(i // 10) % len(liq_rows)])
            r[10] = str(int(r[10]) + i)  # distinct event time -> distinct key
            frames.append(force_order_frame(r))
        else:
            r = trade_rows[i % len(trade_rows)]
            symbol = r[1].strip()
            event = {"e": "aggTrade", "E": int(r[0]) + i, "a": 10_000_000 + i, "s": symbol, "p": r[3].strip(),
                     "q": r[4].strip(), "f": i, "l": i, "T": int(r[5]) + i, "m": r[6].strip() == "True"}
            frames.append(json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": event}, separators=(",", ":")))
        i += 1
    return frames


def throughput(n: int, batch: int) -> None:
    from liqmap.feed.writer import write_records
    from liqmap.store import DuckDBStore
    from liqmap.venues import binance
    from liqmap.venues._spec import ParseContext, load_json

    frames = build_frames(n)
    # Wall time and CPU time (process_time) are both shown: on a shared, loaded machine wall time
    # includes waiting for a core; CPU time is what one core spends (DuckDB threads included).
    def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - w, time.process_time() - c

    def decode_all() -> None:  # decoded objects are not kept (as in the parser), so GC stays comparable
        for f in frames:
            load_json(f)

    _, w_json, c_json = timed(decode_all)
    ctx = ParseContext("binance")

    def parse_all() -> list[Record]:
        out: list[Record] = []
        for f in frames:
            out.extend(binance.parse_ws(f, 1_723_900_000_000, ctx))
        return out

    records, w_parse, c_parse = timed(parse_all)

    def guarded_all() -> None:  # the feed's real entry point: the same parser + liqmap.validation
        for f in frames:
            binance.SPEC.parse_ws(f, 1_723_900_000_000, ctx)

    _, w_guard, c_guard = timed(guarded_all)
    with tempfile.TemporaryDirectory() as tmp, DuckDBStore(Path(tmp) / "bench.duckdb") as store:
        def store_all() -> None:
            for i in range(0, len(records), batch):
                write_records(store, records[i : i + batch])

        _, w_store, c_store = timed(store_all)
        stored = store.execute("SELECT (SELECT count(*) FROM trades) + (SELECT count(*) FROM liquidations)")[0][0]

    n = len(frames)
    print(f"throughput: {n:,} messages -> {len(records):,} records ({stored:,} rows stored, batches of {batch:,})")
    print(f"  {'':16} {'wall s':>8} {'cpu s':>8} {'share(cpu)':>10}")
    c_total, w_total = c_parse + c_store, w_parse + w_store
    for name, w, c in (("json decode", w_json, c_json), ("normalise", w_parse - w_json, c_parse - c_json),
                       ("store (DuckDB)", w_store, c_store)):
        print(f"  {name:16} {w:8.3f} {c:8.3f} {c / c_total:10.1%}")
    print(f"  parse+normalise  {n / w_parse:10,.0f} msg/s wall  {n / c_parse:10,.0f} msg/s cpu")
    print(f"  + validation     {n / w_guard:10,.0f} msg/s wall  {n / c_guard:10,.0f} msg/s cpu   "
          f"(spec.parse_ws: guard + liqmap.validation cost {c_guard / c_parse - 1:+.0%} cpu over the bare parser)")
    print(f"  end to end       {n / w_total:10,.0f} msg/s wall  {n / c_total:10,.0f} msg/s cpu   "
          f"(target >= 50,000 single core: {'OK' if n / c_total >= 50_000 else 'MISSED'})")


async def latency(n_bars: int, interval_s: float) -> None:
    from liqmap.feed.collector import Collector
    from liqmap.feed.writer import BatchWriter
    from liqmap.store import DuckDBStore
    from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol, kline_frame
    from liqmap.testing.mock.server import MockExchange
    from liqmap.types import Bar
    from liqmap.venues.binance import SPEC

    rows = list(csv.reader((FIX / "vision" / "AVAXUSDT-1m-2026-06-head180.csv").read_text().splitlines()))[1:]
    rows = (rows * (n_bars // len(rows) + 1))[:n_bars]
    sent: dict[int, float] = {}
    done: dict[int, float] = {}
    target = "writer hook (the rows are in the store; the server's live view step is bench_api's part 2)"

    def on_records(records: Sequence[Record]) -> None:
        for r in records:
            if isinstance(r, Bar):
                done[r.ts_event] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp, DuckDBStore(Path(tmp) / "lat.duckdb") as store:
        async with MockExchange(BinanceDialect(symbols=[exchange_info_symbol("AVAXUSDT")])) as mock:
            spec = SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
            collector = Collector(store, ["binance"], ["AVAX"], specs={"binance": spec}, channels=("klines",),
                                  writer=BatchWriter(store), gap_backfill=False)
            collector.writer.subscribe(on_records)
            task = asyncio.create_task(collector.run())
            while mock.connections == 0 or not mock._sockets:  # subscribed and holding
                await asyncio.sleep(0.01)
            base = int(rows[0][0])
            for i, r in enumerate(rows):
                ts = base + i * 60_000  # distinct bars even when rows repeat
                shifted = [str(ts), *r[1:6], str(ts + 59_999), *r[7:]]
                frame = kline_frame("AVAXUSDT", shifted)
                sent[ts] = time.perf_counter()
                await mock.push(frame)
                await asyncio.sleep(interval_s)
            deadline = time.perf_counter() + 5
            while len(done) < len(sent) and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            collector.stop()
            await task
    lat = sorted((done[k] - sent[k]) * 1000 for k in sent if k in done)
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    print(f"latency: {len(lat)}/{len(sent)} bars, mock send -> parsed -> stored -> {target}")
    print(f"  median {statistics.median(lat):6.1f} ms   p99 {p99:6.1f} ms   max {lat[-1]:6.1f} ms   "
          f"(writer flush every {BatchWriter(store).flush_ms} ms; target median <= 100 ms: "
          f"{'OK' if statistics.median(lat) <= 100 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--bars", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20_000, help="records per store write (replay uses 20,000)")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between pushed bars")
    parser.add_argument("--profile", action="store_true", help="cProfile the parse step")
    args = parser.parse_args()
    throughput(args.messages, args.batch)
    if args.profile:
        import cProfile
        import pstats

        from liqmap.venues import binance
        from liqmap.venues._spec import ParseContext

        frames, ctx = build_frames(50_000), ParseContext("binance")
        with cProfile.Profile() as prof:
            for f in frames:
                binance.parse_ws(f, 0, ctx)
        pstats.Stats(prof).sort_stats("tottime").print_stats(8)
    asyncio.run(latency(args.bars, args.interval))


if __name__ == "__main__":
    main()
