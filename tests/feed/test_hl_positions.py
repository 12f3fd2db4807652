"""The Hyperliquid position collector against a mock ``/info`` + WebSocket on 127.0.0.1 serving recorded
payloads (tests/fixtures/hyperliquid/SOURCES.md): discovery from trades, priority, the weight budget, 429
backoff, vanished accounts, idempotent storage and coverage."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from feedkit import FIXTURES, FakeClock

from liqmap.feed.hl_positions import AccountQueue, PositionPoller, WeightBudget, read_account_list
from liqmap.feed.rest import RestClient
from liqmap.feed.timing import Backoff
from liqmap.feed.ws import WsFeed
from liqmap.model import exact
from liqmap.store import DuckDBStore
from liqmap.testing.mock.hyperliquid import EMPTY_STATE, HyperliquidDialect
from liqmap.testing.mock.server import Fault, MockExchange, Session, wait_for
from liqmap.venues import hyperliquid as hl

HL = FIXTURES / "hyperliquid"
T0 = 1_781_416_944_000
BUYER, SELLER = "0xe9bee85af94c8234270523992447e631d27d2146", "0xf9109ada2f73c62e9889b45453065f0d99260a2d"
ISO = "0x00000000000000000000000000000000000000aa"


def fixture(name: str) -> object:
    return json.loads((HL / name).read_text())


def asset_ctxs() -> list[object]:
    """metaAndAssetCtxs with BTC and ETH (the SDK example's fields; OI chosen for round coverage shares)."""
    ctx = {"dayNtlVlm": "1.0", "funding": "0.0000125", "markPx": "43250.0", "openInterest": "2.5",
           "oraclePx": "43240.0", "prevDayPx": "43000.0"}
    return [{"universe": [{"name": "BTC", "szDecimals": 5}, {"name": "ETH", "szDecimals": 4}]},
            [ctx, {**ctx, "markPx": "2985.9", "openInterest": "0.335"}]]


def test_priority_largest_and_most_recent_first_and_no_hammering() -> None:
    q = AccountQueue(half_life_ms=3_600_000, min_revisit_ms=60_000)
    q.add_trade("0xA", T0, 1_000.0)
    q.add_trade("0xb", T0 - 3_600_000, 1_500.0)   # bigger but an hour older: 750 effective
    q.add_trade("0xc", T0, 50_000.0)
    assert q.due(T0, 3) == ["0xc", "0xa", "0xb"]
    q.polled("0xc", T0, 50_000.0, ("BTC",))
    assert q.due(T0 + 1_000, 3) == ["0xa", "0xb"]           # never-polled first; 0xc not again within 60 s
    assert q.due(T0 + 61_000, 1) == ["0xa"]
    q.polled("0xa", T0 + 61_000, 0.0, ())
    q.polled("0xb", T0 + 61_000, 0.0, ())
    assert q.due(T0 + 122_000, 3)[0] == "0xc"                # the largest position leads the revisits


def test_vanished_account_is_forgotten_unless_listed(tmp_path: object) -> None:
    q = AccountQueue(min_revisit_ms=1_000, forget_after_empty=2)
    q.add_trade("0xa", T0, 10.0)
    q.add("0xb", from_list=True)
    for k in (1, 2):
        q.polled("0xa", T0 + k * 10_000, 0.0, ())
        q.polled("0xb", T0 + k * 10_000, 0.0, ())
    assert sorted(q.entries) == ["0xb"]


def test_account_list_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "accounts.txt"
    path.write_text(f"# watch\n{BUYER.upper().replace('0X', '0x')}\n\n{SELLER}  # big one\n")
    assert read_account_list(path) == [BUYER, SELLER]
    path.write_text("0x12\n")
    with pytest.raises(Exception, match="not an account"):
        read_account_list(path)


async def test_weight_budget_spends_at_most_the_share_per_minute() -> None:
    clock = FakeClock(T0)
    budget = WeightBudget(per_minute=600, timing=clock.timing())
    for _ in range(600):  # 600 states of weight 2 = 1,200 weight at 600/min
        await budget.take(2)
    elapsed_min = (clock.t - T0) / 60_000
    # the first 600 weight is the full bucket; the other 600 needs one more minute of refill
    assert elapsed_min == pytest.approx(1.0, abs=0.01)
    budget.pause(30)
    before = clock.t
    await budget.take(2)
    assert clock.t - before >= 30_000


async def test_collector_discovers_polls_stores_and_reports_coverage() -> None:
    states = {BUYER: [fixture("rest/clearinghouse_state_position.json"),   # BTC long 0.5, liq 38500
                      fixture("rest/clearinghouse_state_sdk.json")],       # then: no position any more
              SELLER: fixture("rest/clearinghouse_state_doc_isolated.json")}  # ETH isolated long, liq 2866.27
    dialect = HyperliquidDialect(states=states, asset_ctxs=asset_ctxs())
    frames = [(HL / "trades" / "ws_btc.json").read_text(), (HL / "trades" / "ws_purr_recorded.json").read_text()]
    mock = MockExchange(dialect)
    mock.sessions = [Session(frames=frames, after="hold")]
    clock = FakeClock(T0)
    async with mock:
        with DuckDBStore(":memory:") as store:
            spec = hl.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
            rest = RestClient(spec, timing=clock.timing(), backoff=Backoff(base_s=0.01, cap_s=0.01), max_attempts=1)
            queue = AccountQueue(min_revisit_ms=600_000)  # one poll each in the run below
            queue.add(ISO, from_list=True)  # from a list file: an address that never traded -> empty state
            poller = PositionPoller(rest, queue, store.write, timing=clock.timing(), coins={"BTC"},
                                    backoff=Backoff(base_s=7.0, cap_s=7.0, jitter=0.0))
            feed = WsFeed(spec, "public", [{"type": "trades", "coin": "BTC"}])
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(feed.frames(), stop, batch=10, idle_s=0.01))
            await wait_for(lambda: dialect.calls.get("clearinghouseState", 0) >= 3, timeout_s=30)
            stop.set()
            feed.stop()
            await asyncio.wait_for(task, 5)
            await rest.aclose()
            # the PURR trade is filtered out by coins={"BTC"}: only the BTC trade's two accounts were discovered
            assert poller.stats.discovered == 2 and set(queue.entries) == {BUYER, SELLER, ISO}
            cols = store.read("position_snapshots")
            assert sorted(zip(cols["account"], cols["symbol"], cols["size"], strict=True)) == [
                (BUYER, "BTC", 0.5), (SELLER, "ETH", 0.0335)]
            assert store.read("open_interest", exchange="hyperliquid")["oi_base"].tolist() == [2.5, 0.335]
            again = store.write(hl.parse_clearinghouse_state(states[SELLER], SELLER, T0))
            assert again.get("position_snapshots", 0) == 0  # idempotent by (exchange, account, symbol, ts_event)
            at = int(max(cols["ts_event"]))
            cov = exact.coverage(cols, at, poller.stats.oi_base)
            # BTC: 0.5 / 2 / 2.5; ETH: 0.0335 / 2 / 0.335
            assert cov["oi_share"] == {"BTC": pytest.approx(0.1), "ETH": pytest.approx(0.05)}
            long, short = exact.exact_liqmap(exact.open_positions(cols, at), np.array([2800.0, 2900.0, 38000.0, 39000.0]))
            assert long.tolist() == [pytest.approx(100.02765), 0.0, pytest.approx(21625.0)] and short.sum() == 0

            # second round: the buyer closed everything -> a flat BTC row; a 429 first pauses the poller
            mock.rest_faults["/info"] = [Fault(429, {}, None)]
            before = clock.t
            await poller.poll_account(BUYER)
            assert poller.stats.rate_limited == 1 and clock.t - before < 1_000  # paused, not waited out here
            rows = await poller.poll_account(BUYER)
            assert clock.t - before >= 7_000  # the budget waited out the 7 s backoff
            assert [(r.symbol, r.size) for r in rows] == [("BTC", 0.0)]
            cols = store.read("position_snapshots")
            later = exact.open_positions(cols, int(max(cols["ts_event"])))
            assert list(later.account) == [SELLER]
            await rest.aclose()


def test_mock_serves_empty_state_for_unknown_users() -> None:
    status, _, body = HyperliquidDialect().rest("POST", "/info", {}, {"type": "clearinghouseState", "user": "0x1"})
    assert status == 200 and body == EMPTY_STATE
    assert HyperliquidDialect().rest("POST", "/info", {}, {"type": "nope"})[0] == 422


def test_positions_cli_collects_then_reports_coverage_and_prior(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner
    from feedkit import ThreadedMock

    from liqmap.cli import main

    dialect = HyperliquidDialect(states={BUYER: fixture("rest/clearinghouse_state_position.json")},
                                 asset_ctxs=asset_ctxs())
    mock = MockExchange(dialect)
    mock.sessions = [Session(frames=[(HL / "trades" / "ws_btc.json").read_text()], after="hold")]
    db = tmp_path / "hl.duckdb"
    with ThreadedMock(mock) as m:
        url = f"{m.http_url},{m.ws_url}"  # type: ignore[attr-defined]
        result = CliRunner().invoke(main, ["positions", "collect", "--coins", "BTC", "--venue-url", url,
                                           "--duration", "4", "--db", str(db)])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output.strip().splitlines()[-1])
    assert stats["discovered"] == 2 and stats["polls"] >= 2 and stats["rate_limited"] == 0
    cov = json.loads(CliRunner().invoke(main, ["positions", "coverage", "--db", str(db)]).output)
    # the buyer's 0.5 BTC of 2.5 BTC OI (counted on both sides: 0.5 / 2 / 2.5); the seller holds nothing
    assert cov["oi_share"]["BTC"] == pytest.approx(0.1) and cov["positions"] == 1
    prior = json.loads(CliRunner().invoke(main, ["positions", "fit-prior", "--db", str(db)]).output)
    assert prior["long_share"] == 1.0 and prior["weights"][1] == pytest.approx(1.0)  # one long at 2.5x -> 3x tier


async def test_odd_answers_are_counted_and_polling_goes_on() -> None:
    bad = {"assetPositions": [{"position": {"coin": "BTC", "szi": "not a number"}}]}
    dialect = HyperliquidDialect(states={BUYER: bad, SELLER: {"status": "err", "response": "unknown user"}},
                                 asset_ctxs=[{"universe": []}, [{"markPx": "1"}]])  # contexts != universe
    clock = FakeClock(T0)
    async with MockExchange(dialect) as mock:
        spec = hl.SPEC.with_urls(rest=mock.http_url, ws=mock.ws_url)
        async with RestClient(spec, timing=clock.timing(), max_attempts=1) as rest:
            written: list[object] = []
            queue = AccountQueue()
            for account in (BUYER, SELLER, ISO):
                queue.add(account, from_list=True)
            poller = PositionPoller(rest, queue, written.extend, timing=clock.timing())
            assert await poller.refresh_open_interest() == []
            assert await poller.poll_due(10) == 1  # only ISO's (empty) state parsed
    # malformed state (ParseError), venue error envelope (VenueError), malformed metaAndAssetCtxs
    assert poller.stats.errors == 3 and written == [] and poller.stats.oi_base == {}
