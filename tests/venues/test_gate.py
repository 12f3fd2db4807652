"""Gate.io parsers against recorded/documented payloads (tests/fixtures/gate/SOURCES.md), field by field.

Expected values are computed from the payload text and Gate's documented units (contracts x
quanto_multiplier, seconds vs ms), not copied from parser output.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from liqmap.errors import ParseError, RateLimitError, VenueError
from liqmap.types import Bar, Funding, Instrument, Liquidation, MarginTier, MarkPrice, OpenInterest, Trade
from liqmap.venues import gate
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "gate"
RECV = 1_790_000_000_000


def raw(name: str) -> str:
    return (FIX / name).read_text()


def body(name: str) -> object:
    return json.loads(raw(name))


def ctx(**sizes: float) -> ParseContext:
    instruments = {v: Instrument("gate", v.split("_")[0], v, s, 0.1, s) for v, s in sizes.items()}
    return ParseContext("gate", instruments=instruments)


def test_trade_doc_example_applies_quanto_multiplier_and_sign() -> None:
    (t,) = gate.parse_ws(raw("trades/ws_update_doc.json"), RECV, ctx(BTC_USD=0.0001))
    assert isinstance(t, Trade)
    assert (t.exchange, t.symbol, t.venue_symbol) == ("gate", "BTC", "BTC_USD")
    assert t.ts_event == 1545136464123  # create_time_ms, not the envelope time
    assert t.ts_recv == RECV
    assert t.price == 96.4
    assert t.quantity == pytest.approx(108 * 0.0001)  # |size| contracts x multiplier
    assert t.taker_side == "sell"  # negative size: the taker sold
    assert t.trade_id == "27753479"


def test_trade_btc_usdt_recorded_shape() -> None:
    (t,) = gate.parse_ws(raw("trades/ws_update_btc_usdt.json"), RECV, ctx(BTC_USDT=0.0001))
    assert t.ts_event == 1790359195732
    assert t.quantity == pytest.approx(0.0003)
    assert (t.price, t.taker_side, t.trade_id) == (83746.9, "sell", "842235619")


def test_trade_without_contract_metadata_is_a_parse_error_not_a_guess() -> None:
    with pytest.raises(ParseError, match="no instrument metadata"):
        gate.parse_ws(raw("trades/ws_update_btc_usdt.json"), RECV, ctx())


def test_ticker_gives_mark_funding_and_oi_in_base_and_usd() -> None:
    mark, oi = gate.parse_ws(raw("tickers/ws_update_doc.json"), RECV, ctx(BTC_USD=0.0001))
    assert isinstance(mark, MarkPrice) and isinstance(oi, OpenInterest)
    assert mark.ts_event == 1541659086123  # envelope time_ms
    assert (mark.mark, mark.index, mark.funding_rate) == (118.35, 118.36, -0.000114)
    assert oi.ts_event == 1541659086123
    assert oi.oi_base == pytest.approx(73648 * 0.0001)
    assert oi.oi_usd == pytest.approx(73648 * 0.0001 * 118.35)


@pytest.mark.parametrize("name", ["ws_update_2026_decimal.json", "ws_update_2026_integer.json"])
def test_public_liquidates_batched_2026_format(name: str) -> None:
    rows = json.loads(raw(f"public_liquidates/{name}"))["result"]
    liqs = gate.parse_ws(raw(f"public_liquidates/{name}"), RECV, ctx(BTC_USDT=0.0001))
    assert len(liqs) == 2
    for liq, row in zip(liqs, rows, strict=True):
        assert isinstance(liq, Liquidation)
        assert liq.side == "long"  # negative order size = a forced sell = a long was liquidated
        assert liq.ts_event == row["time"]  # already ms since 2026-08-20
        assert liq.price == float(row["price"])
        assert liq.quantity == pytest.approx(abs(float(row["size"])) * 0.0001)
        assert liq.usd == pytest.approx(liq.price * liq.quantity)
        assert liq.price_kind == "order"
        assert (liq.symbol, liq.venue_symbol) == ("BTC", "BTC_USDT")


def test_public_liquidates_old_format_time_in_seconds() -> None:
    (liq,) = gate.parse_ws(raw("public_liquidates/ws_update_pre2026.json"), RECV, ctx(BTC_USDT=0.0001))
    assert liq.ts_event == 1541486601 * 1000
    assert liq.quantity == pytest.approx(124 * 0.0001)


def test_public_liquidates_positive_size_is_a_short() -> None:
    frame = json.loads(raw("public_liquidates/ws_update_pre2026.json"))
    frame["result"][0]["size"] = 7
    (liq,) = gate.parse_ws(json.dumps(frame), RECV, ctx(BTC_USDT=0.0001))
    assert liq.side == "short"


def test_public_liquidates_all_subscription_filters_unwanted_contracts() -> None:
    c = ctx(BTC_USDT=0.0001)
    c.wanted = frozenset({"ETH_USDT"})
    assert gate.parse_ws(raw("public_liquidates/ws_update_2026_decimal.json"), RECV, c) == []


def test_candles_emit_only_closed_bars() -> None:
    c = ctx(FRONT_USDT=1.0)
    first = raw("candlesticks/ws_update_recorded.json")
    assert gate.parse_ws(first, RECV, c) == []  # forming candle kept, not emitted
    nxt = json.loads(first)
    nxt["result"][0].update({"t": 1684930200, "o": "0.1702", "v": 12})
    (bar,) = gate.parse_ws(json.dumps(nxt), RECV + 60_000, c)  # a later candle closes the kept one
    assert isinstance(bar, Bar)
    assert (bar.ts_event, bar.interval_ms, bar.venue_symbol) == (1684930140_000, 60_000, "FRONT_USDT")
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (0.1701, 0.1701, 0.1701, 0.1701, 0.0)
    closed = json.loads(first)
    closed["result"][0].update({"t": 1684930260, "w": True, "v": 3})
    (flagged,) = gate.parse_ws(json.dumps(closed), RECV, ctx(FRONT_USDT=10.0))
    assert flagged.ts_event == 1684930260_000 and flagged.volume == pytest.approx(30.0)


@pytest.mark.parametrize("name", ["control/subscribe_ack_recorded.json", "control/pong_doc.json",
                                  "control/upgrade_doc.json"])
def test_control_frames_yield_nothing(name: str) -> None:
    assert gate.parse_ws(raw(name), RECV, ctx()) == []


def test_subscribe_error_is_a_venue_error() -> None:
    with pytest.raises(VenueError) as err:
        gate.parse_ws(raw("control/subscribe_error_doc.json"), RECV, ctx())
    assert err.value.code == 2


@pytest.mark.parametrize("payload", [
    "not json",
    '{"channel":"futures.trades","event":"update","result":[{"id":1,"size":"x","create_time":1,"price":"1",'
    '"contract":"BTC_USDT"}]}',
    '{"channel":"futures.public_liquidates","event":"update","result":[{"price":"215.1","time":1}]}',
    '{"channel":"futures.nope","event":"update","result":[]}',
])
def test_malformed_frames_raise_parse_error_with_payload(payload: str) -> None:
    with pytest.raises(ParseError) as err:
        gate.parse_ws(payload, RECV, ctx(BTC_USDT=0.0001))
    assert err.value.payload is not None


def test_subscribe_frames_group_contracts_per_channel() -> None:
    args = [gate.SPEC.channels["trades"].render("BTC_USDT"), gate.SPEC.channels["trades"].render("ETH_USDT"),
            gate.SPEC.channels["klines"].render("BTC_USDT", "1m")]
    frames = [json.loads(f) for f in gate.subscribe(args)]
    assert {"channel": "futures.candlesticks", "event": "subscribe", "payload": ["1m", "BTC_USDT"]}.items() \
        <= frames[0].items()
    assert frames[1]["payload"] == ["BTC_USDT", "ETH_USDT"] and frames[1]["channel"] == "futures.trades"
    assert all(isinstance(f["time"], int) for f in frames)


# -- REST ----------------------------------------------------------------------------------------


def test_contracts_give_multiplier_tick_and_leverage() -> None:
    instruments = {i.venue_symbol: i for i in gate.parse_contracts(body("rest/contracts.json"), "", RECV, ctx())}
    assert set(instruments) == {"BTC_USDT", "ZEC_USDT", "SC_USDT"}
    btc = instruments["BTC_USDT"]
    assert (btc.symbol, btc.contract_size, btc.tick_size, btc.lot_size, btc.max_leverage, btc.quote) == \
        ("BTC", 0.0001, 0.1, 0.0001, 125.0, "USDT")
    assert instruments["SC_USDT"].contract_size == 100.0
    assert [i.venue_symbol for i in gate.parse_contracts(body("rest/contracts.json"), "ZEC_USDT", RECV, ctx())] \
        == ["ZEC_USDT"]


def test_candlesticks_rest_volume_in_base_matches_quote_sum() -> None:
    (bar,) = gate.parse_klines(body("rest/candlesticks.json"), "BTC_USDT", RECV, ctx(BTC_USDT=0.0001))
    assert bar.ts_event == 1783851300_000
    assert (bar.open, bar.high, bar.low, bar.close) == (63913.2, 63913.3, 63855.4, 63855.4)
    assert bar.volume == pytest.approx(151.4198)
    assert bar.quote_volume == 9673040.06
    # independent check of the unit: base volume x a price inside the bar's range ~ quote volume
    assert bar.low * bar.volume <= bar.quote_volume <= bar.high * bar.volume


def test_contract_stats_open_interest() -> None:
    (oi,) = gate.parse_contract_stats(body("rest/contract_stats.json"), "X_USDT", RECV, ctx(X_USDT=10.0))
    assert oi.ts_event == 1674057000_000
    assert oi.oi_base == pytest.approx(28_517_250)
    assert oi.oi_usd == 9872386.7775
    assert oi.oi_usd == pytest.approx(oi.oi_base * 0.34619)  # the row's mark price: units agree


def test_funding_history() -> None:
    (f,) = gate.parse_funding(body("rest/funding_rate.json"), "BTC_USDT", RECV, ctx())
    assert isinstance(f, Funding)
    assert (f.ts_event, f.rate, f.symbol) == (1543968000_000, 0.000157, "BTC")


def test_liq_orders_position_size_sign_and_fill_price() -> None:
    (liq,) = gate.parse_liq_orders(body("rest/liq_orders.json"), "BTC_USDT", RECV, ctx(BTC_USDT=0.0001))
    assert liq.side == "short"  # negative position size; fill below the buy order's limit
    assert liq.ts_event == 1696736132_000
    assert (liq.price, liq.price_kind) == (28070.0, "average")
    assert liq.quantity == pytest.approx(0.0165)
    assert liq.usd == pytest.approx(0.0165 * 28070)


def test_risk_limit_tiers_are_contiguous_and_deduction_keeps_mm_continuous() -> None:
    tiers = gate.parse_risk_limit_tiers(body("rest/risk_limit_tiers.json"), "ZTX_USDT", RECV, ctx())
    assert all(isinstance(t, MarginTier) for t in tiers)
    assert [(t.tier, t.notional_floor, t.notional_cap) for t in tiers] == [
        (1, 0.0, 20000.0), (2, 20000.0, 30000.0), (3, 30000.0, 50000.0), (4, 50000.0, 70000.0),
        (5, 70000.0, 100000.0)]
    assert (tiers[1].mmr, tiers[1].maint_amount, tiers[1].max_leverage) == (0.013, 60.0, 40.0)
    for lower, upper in itertools.pairwise(tiers):  # MM = N x mmr - deduction is continuous
        n = upper.notional_floor
        assert n * lower.mmr - lower.maint_amount == pytest.approx(n * upper.mmr - upper.maint_amount)


def test_rest_ticker_open_interest_snapshot() -> None:
    (oi,) = gate.parse_ticker_open_interest(body("rest/tickers.json"), "BTC_USDT", RECV, ctx(BTC_USDT=0.0001))
    assert (oi.ts_event, oi.ts_recv) == (RECV, RECV)
    assert oi.oi_base == pytest.approx(3232.3904)
    assert oi.oi_usd == pytest.approx(3232.3904 * 6534)


def test_rest_bodies_that_are_not_lists_raise_parse_error() -> None:
    for parser in (gate.parse_klines, gate.parse_funding, gate.parse_contract_stats, gate.parse_liq_orders):
        with pytest.raises(ParseError):
            parser({"label": "INVALID_PARAM_VALUE"}, "BTC_USDT", RECV, ctx(BTC_USDT=0.0001))


def test_request_builders_use_seconds_and_window_limits() -> None:
    assert gate.kline_params("BTC_USDT", 1_700_000_000_000, 1_700_000_059_999, 1999) == {
        "contract": "BTC_USDT", "interval": "1m", "from": 1_700_000_000, "to": 1_700_000_059}
    assert gate.contract_stats_params("BTC_USDT", 0, 3 * 300_000, 100)["limit"] == 4
    # a window starting 1 ms after a point must not ask from that point's second (it would use up the limit)
    assert gate.contract_stats_params("BTC_USDT", 300_001, 600_000, 100) == {
        "contract": "BTC_USDT", "interval": "5m", "from": 301, "limit": 1}
    with pytest.raises(ParseError):
        gate.liq_orders_params("BTC_USDT", 0, 3_600_001)


def test_check_response_classifies_errors() -> None:
    with pytest.raises(RateLimitError):
        gate.check_response(429, {}, {"label": "TOO_MANY_REQUESTS", "message": "Request Rate limit Exceeded"})
    with pytest.raises(VenueError) as err:
        gate.check_response(400, {}, {"label": "CONTRACT_NOT_FOUND", "message": "Contract not found"})
    assert err.value.code == "CONTRACT_NOT_FOUND"
    gate.check_response(200, {}, [])


def test_registered_in_the_venue_registry() -> None:
    from liqmap.venues.registry import available, get_spec

    assert "gate" in available() and get_spec("gate") is gate.SPEC
