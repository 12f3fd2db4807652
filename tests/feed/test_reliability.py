"""Feed reliability: supervised frame handling, a bad record never costs a good one (writer and replay),
Retry-After caps, quiet duplicate logging. Real collector, real parsers, mock exchange on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from feedkit import FakeClock

from liqmap.errors import StoreError
from liqmap.feed.collector import Collector
from liqmap.feed.record import replay
from liqmap.feed.rest import RETRY_AFTER_MAX_S, RETRY_AFTER_MIN_S, RestClient, capped_retry_after
from liqmap.feed.timing import Backoff
from liqmap.feed.writer import BatchWriter
from liqmap.store import DuckDBStore
from liqmap.testing.mock.binance import BinanceDialect, exchange_info_symbol
from liqmap.testing.mock.server import Fault, MockExchange, Session, wait_for
from liqmap.types import Trade
from liqmap.venues._spec import ParseContext
from liqmap.venues.binance import SPEC

T0 = 1_780_000_000_000


def agg_trade(trade_id: int, ts: int | float, price: str, qty: str, maker: bool) -> str:
    return json.dumps({"stream": "avaxusdt@aggTrade", "data": {
        "e": "aggTrade", "E": 1_780_000_000_500, "a": trade_id, "s": "AVAXUSDT", "p": price, "q": qty,
        "f": trade_id, "l": trade_id, "T": ts, "m": maker}})


def trades_sent(n: int) -> list[tuple[int, int, float, float]]:
    """(id, ts, price, qty) of n distinct trades."""
    return [(i, T0 + 1000 * i, round(9.0 + 0.001 * i, 3), float(i % 7 + 1)) for i in range(1, n + 1)]


async def test_an_unexpected_parser_exception_is_counted_and_later_frames_are_stored() -> None:
    """A parser bug outside the guard (RuntimeError on the 3rd frame) costs that frame only."""
    sent = trades_sent(8)
    mock = MockExchange(BinanceDialect(symbols=[exchange_info_symbol("AVAXUSDT", "0.001", "1")]))
    mock.sessions.append(Session(frames=[agg_trade(i, ts, str(p), str(q), False) for i, ts, p, q in sent]))
    seen = {"n": 0}

    def flaky(raw: str | bytes, ts_recv: int, ctx: ParseContext) -> list:  # type: ignore[type-arg]
        seen["n"] += "aggTrade" in str(raw)  # data frames only (the subscribe ack comes first)
        if seen["n"] == 3 and "aggTrade" in str(raw):
            raise RuntimeError("injected parser bug")
        return SPEC.parse_ws(raw, ts_recv, ctx)

    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        object.__setattr__(spec, "parse_ws", flaky)  # bypass the guard: a bug the contract did not foresee
        collector = Collector(store, ["binance"], ["AVAX"], specs={"binance": spec}, channels=("trades",),
                              store_trades=True, writer=BatchWriter(store, flush_every=10, flush_ms=10),
                              timing=FakeClock(T0).timing(), backoff=lambda: Backoff(base_s=0.01, cap_s=0.05))
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: store.latest_ts("trades") == sent[-1][1])
        collector.stop()
        await task
    trades = store.read("trades")
    expected = [s for k, s in enumerate(sent) if k != 2]
    assert list(trades["trade_id"]) == [str(i) for i, *_ in expected]
    np.testing.assert_allclose(trades["price"], [p for _, _, p, _ in expected])
    health = collector.health["binance"]
    assert health.errors == 1 and "RuntimeError: injected parser bug" in (health.last_error or "")
    assert health.reconnects == 0  # the connection carried on


class RejectingStore(DuckDBStore):
    """A store that refuses any write containing one specific trade (a row valid for validation but not
    for the store, e.g. a constraint the integrator's backend adds)."""

    def __init__(self, bad_trade_id: str) -> None:
        super().__init__(":memory:")
        self.bad = bad_trade_id
        self.calls = 0

    def write_columns(self, table, cols):  # type: ignore[no-untyped-def]
        self.calls += 1
        if table == "trades" and self.bad in list(cols["trade_id"]):
            raise StoreError(f"constraint violated by trade {self.bad}")
        return super().write_columns(table, cols)


def trade(i: int, ts: int, price: float, qty: float) -> Trade:
    return Trade("binance", "AVAX", ts, ts + 5, price, qty, "buy" if i % 2 else "sell", str(i), "AVAXUSDT")


async def test_writer_bisects_a_failing_batch_and_quarantines_only_the_bad_record(tmp_path: Path) -> None:
    sent = trades_sent(100)
    store = RejectingStore("37").open()
    quarantine = tmp_path / "quarantine.jsonl"
    writer = BatchWriter(store, flush_every=1000, flush_ms=10, quarantine_path=quarantine)
    published: list[str] = []
    writer.subscribe(lambda batch: published.extend(r.trade_id for r in batch))  # type: ignore[union-attr]
    await writer.start()
    writer.put([trade(*s) for s in sent])
    await writer.close()
    good = [str(i) for i, *_ in sent if i != 37]
    assert sorted(store.read("trades")["trade_id"], key=int) == good
    assert sorted(published, key=int) == good  # the live hook sees exactly what was stored
    assert writer.quarantined == 1 and writer.written == {"trades": 99}
    [entry] = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert entry["record"]["trade_id"] == "37" and entry["record"]["price"] == 9.037
    assert "constraint violated by trade 37" in entry["error"]
    assert store.calls <= 2 + 2 * 7 + 2  # bisection: O(log n) writes, not one per record


def recording(tmp_path: Path, frames: list[str]) -> Path:
    path = tmp_path / "binance-1.jsonl"
    path.write_text("".join(json.dumps({"ts_recv": T0 + 200_000, "venue": "binance", "raw": f}) + "\n"
                            for f in frames))
    return path


def test_replay_keeps_the_99_good_trades_around_a_1e30_timestamp(tmp_path: Path) -> None:
    sent = trades_sent(100)
    frames = [agg_trade(i, 1e30 if i == 50 else ts, str(p), str(q), True) for i, ts, p, q in sent]
    store = DuckDBStore(":memory:").open()
    result = replay(recording(tmp_path, frames), store)
    assert sorted(store.read("trades")["trade_id"], key=int) == [str(i) for i, *_ in sent if i != 50]
    assert result.parse_errors == 1


def test_replay_salvages_a_batch_the_store_refuses(tmp_path: Path) -> None:
    sent = trades_sent(100)
    frames = [agg_trade(i, ts, str(p), str(q), True) for i, ts, p, q in sent]
    store = RejectingStore("5").open()
    result = replay(recording(tmp_path, frames), store)
    assert sorted(store.read("trades")["trade_id"], key=int) == [str(i) for i, *_ in sent if i != 5]
    assert result.quarantined == 1 and result.written == {"trades": 99}


@pytest.mark.parametrize(("header", "expected"), [
    ("1e9", RETRY_AFTER_MAX_S), ("0.2", RETRY_AFTER_MIN_S), ("7", 7.0), ("301", RETRY_AFTER_MAX_S),
    ("inf", None), ("-inf", None), ("nan", None), ("-5", None), ("soon", None), ("", None),
])
async def test_retry_after_is_capped_and_nonsense_falls_back_to_backoff(header: str, expected: float | None) -> None:
    """Through the real REST client against the mock: a 429 with that Retry-After, then success. The
    client's sleep is the capped value, or the backoff's first delay (0.5 s base, no jitter) for nonsense."""
    mock = MockExchange(BinanceDialect(open_interest={"symbol": "AVAXUSDT", "openInterest": "10",
                                                      "time": T0}))
    mock.rest_faults["/fapi/v1/openInterest"] = [Fault(429, {"Retry-After": header})]
    clock = FakeClock(T0)
    async with mock:
        spec = SPEC.with_urls(rest=mock.http_url)
        async with RestClient(spec, timing=clock.timing(), backoff=Backoff(base_s=0.5, jitter=0.0)) as rest:
            body, _ = await rest.request("/fapi/v1/openInterest", {"symbol": "AVAXUSDT"})
    assert body["openInterest"] == "10"
    assert clock.sleeps == [expected if expected is not None else 0.5]


def test_capped_retry_after_bounds() -> None:
    backoff = Backoff(base_s=2.0, jitter=0.0)
    assert capped_retry_after(1e9, backoff) == 300.0
    assert capped_retry_after(float("inf"), backoff) == 2.0
    assert capped_retry_after(-1.0, backoff) == 4.0  # the backoff advanced: nonsense never hammers


async def test_duplicates_are_not_logged_with_payloads_at_info(caplog: pytest.LogCaptureFixture) -> None:
    frame = agg_trade(1, T0 + 1000, "9.1", "1", False)
    collector = Collector(DuckDBStore(":memory:"), ["binance"], ["AVAX"], channels=("trades",), store_trades=True)
    venue = collector.venues["binance"]
    with caplog.at_level(logging.INFO, logger="liqmap.feed.collector"):
        for _ in range(50):
            collector.handle(venue, frame, T0 + 2000)
    assert venue.health.duplicates == 49
    assert not [r for r in caplog.records if "aggTrade" in r.getMessage()]


async def test_without_store_trades_the_trades_table_stays_empty_and_bars_carry_taker_buy_volume() -> None:
    """Bybit klines carry no taker buy volume: the collector sums it from the trades it receives (a trade
    pushed just after its bar's kline included, thanks to the hold). The first (partially covered) minute
    stays NULL; the next two equal the sums computed here from the trades sent."""
    from feedkit import vision_rows

    from liqmap.testing.mock import bybit as mbybit
    from liqmap.venues import bybit

    rows = vision_rows(3)
    t0 = int(rows[0][0])
    minute = 60_000
    sent = [(t0 + 20_000, "Buy", "8.98", "3.5"), (t0 + 50_000, "Sell", "8.97", "2"),
            (t0 + minute + 1_000, "Buy", "8.99", "1.25"), (t0 + minute + 2_000, "Sell", "8.96", "4"),
            (t0 + minute + 59_000, "Buy", "9.01", "0.5"),
            (t0 + 2 * minute + 30_000, "Sell", "9.00", "7")]
    late = (t0 + minute + 59_900, "Buy", "9.02", "0.125")  # pushed after its bar's kline: still counted
    frames = []
    for m in range(3):
        frames += [mbybit.trade_frame("AVAXUSDT", ts, side, p, q, f"t{ts}") for ts, side, p, q in sent
                   if t0 + m * minute <= ts < t0 + (m + 1) * minute]
        frames.append(mbybit.kline_frame("AVAXUSDT", rows[m]))
        if m == 1:
            frames.append(mbybit.trade_frame("AVAXUSDT", *late, "late"))
    sent.append(late)
    mock = MockExchange(mbybit.BybitDialect(instruments=[mbybit.instrument("AVAXUSDT")]))
    mock.sessions.append(Session(frames=frames))
    store = DuckDBStore(":memory:").open()
    async with mock:
        spec = bybit.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        collector = Collector(store, ["bybit"], ["AVAX"], specs={"bybit": spec}, channels=("trades", "klines"),
                              writer=BatchWriter(store, flush_every=50, flush_ms=10), timing=FakeClock(t0).timing(),
                              gap_backfill=False, taker_grace_s=0.3)
        task = asyncio.create_task(collector.run())
        await wait_for(lambda: store.latest_ts("bars") == int(rows[2][0]))
        collector.stop()
        await task
    assert len(store.read("trades")["ts_event"]) == 0
    bars = store.read("bars", exchange="bybit", symbol="AVAX")
    expected = [sum(float(q) for ts, side, _p, q in sent
                    if side == "Buy" and t0 + m * minute <= ts < t0 + (m + 1) * minute) for m in (1, 2)]
    assert expected == [1.875, 0.0]
    assert np.isnan(bars["taker_buy_volume"][0])  # the first minute was not fully covered by the stream
    np.testing.assert_allclose(bars["taker_buy_volume"][1:], expected)


class LockedStore(DuckDBStore):
    """A store refusing every write while ``locked`` (a held file lock)."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.locked = True

    def write_columns(self, table, cols):  # type: ignore[no-untyped-def]
        if self.locked:
            raise StoreError("database is locked")
        return super().write_columns(table, cols)


async def test_a_journal_segment_is_deleted_only_once_its_records_are_stored(tmp_path: Path) -> None:
    from liqmap.feed.journal import Journal

    journal = Journal(tmp_path / "j", rotate_ms=0)
    assert journal.open() == []
    store = LockedStore().open()
    writer = BatchWriter(store, flush_ms=10_000)
    writer.checkpoint = journal.checkpoint
    frame = agg_trade(1, T0 + 1000, "9.1", "2", False)
    journal.write("binance", frame, T0 + 2000)
    writer.put([trade(1, T0 + 1000, 9.1, 2.0)])
    await writer.flush()  # the store is locked: the batch is kept, and so is the segment
    [segment] = list((tmp_path / "j").glob("journal-*.jsonl"))
    assert json.loads(segment.read_text())["raw"] == frame
    store.locked = False
    await writer.flush()
    assert list(store.read("trades")["trade_id"]) == ["1"]
    assert not list((tmp_path / "j").glob("journal-*.jsonl"))
