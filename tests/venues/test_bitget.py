"""Bitget parsers against Bitget's documented payloads (tests/fixtures/bitget/SOURCES.md), field by field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liqmap.errors import ParseError, RateLimitError, VenueError
from liqmap.types import Bar, Funding, Liquidation, MarginTier, MarkPrice, OpenInterest, Trade
from liqmap.venues import bitget
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "bitget"
RECV = 1_790_000_000_000


def raw(name: str) -> str:
    return (FIX / name).read_text()


def body(name: str) -> object:
    return json.loads(raw(name))


def ctx() -> ParseContext:
    return ParseContext("bitget")


def test_trade_snapshot_doc_example() -> None:
    first, second = bitget.parse_ws(raw("trade/ws_snapshot_doc.json"), RECV, ctx())
    assert isinstance(first, Trade)
    assert (first.exchange, first.symbol, first.venue_symbol) == ("bitget", "BTC", "BTCUSDT")
    assert (first.ts_event, first.ts_recv) == (1695716760565, RECV)
    assert (first.price, first.quantity, first.taker_side, first.trade_id) == (27000.5, 0.001, "buy", "1111111111")
    assert (second.ts_event, second.price, second.taker_side) == (1695716759514, 27000.0, "sell")


def test_ticker_gives_mark_funding_and_base_open_interest() -> None:
    c = ctx()
    mark, oi = bitget.parse_ws(raw("ticker/ws_snapshot_doc.json"), RECV, c)
    assert isinstance(mark, MarkPrice) and isinstance(oi, OpenInterest)
    assert mark.ts_event == 1695715383021  # the row's ts, not the envelope's
    assert (mark.mark, mark.index, mark.funding_rate, mark.next_funding_ts) == (27000.0, 25702.4, 0.00001,
                                                                                1695722400000)
    assert (oi.oi_base, oi.ts_event) == (929.502, 1695715383021)
    assert oi.oi_usd == pytest.approx(929.502 * 27000.0)
    assert c.state["mark"]["BTCUSDT"] == 27000.0  # remembered for the REST OI snapshot's USD value


def test_v3_liquidation_position_side_and_base_amount() -> None:
    (liq,) = bitget.parse_ws(raw("liquidation/ws_update_doc.json"), RECV, ctx())
    assert isinstance(liq, Liquidation)
    assert liq.side == "long"  # Bitget side is the position side: buy = a long position was liquidated
    assert (liq.ts_event, liq.price, liq.quantity) == (1736371332162, 89000.0, 37.722858)
    assert liq.usd == pytest.approx(89000.0 * 37.722858)
    assert (liq.symbol, liq.venue_symbol, liq.exchange) == ("BTC", "BTCUSDT", "bitget")


def test_v3_liquidation_sell_side_is_short_and_unwanted_symbols_dropped() -> None:
    frame = body("liquidation/ws_update_doc.json")
    frame["data"].append(dict(frame["data"][0], symbol="ETHUSDT", side="sell", price="3000", amount="2"))
    c = ctx()
    c.wanted = frozenset({"ETHUSDT"})
    (liq,) = bitget.parse_ws(json.dumps(frame), RECV, c)
    assert (liq.symbol, liq.side, liq.price, liq.quantity) == ("ETH", "short", 3000.0, 2.0)


def test_candles_emit_a_bar_once_a_later_candle_arrives() -> None:
    c = ctx()
    assert bitget.parse_ws(raw("candle/ws_snapshot_doc.json"), RECV, c) == []
    update = body("candle/ws_snapshot_doc.json")
    update["action"] = "update"
    update["data"] = [["1695728700000", "27000.5", "27010", "26990", "27001", "1.5", "40501.5", "40501.5"]]
    (bar,) = bitget.parse_ws(json.dumps(update), RECV, c)
    assert isinstance(bar, Bar)
    assert (bar.ts_event, bar.interval_ms) == (1695685500000, 12 * 3_600_000)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.quote_volume) == (
        27000.0, 27000.5, 27000.0, 27000.5, 0.057, 1539.0155)


@pytest.mark.parametrize("name", ["control/subscribe_ack_doc.json", "control/subscribe_ack_v3_doc.json",
                                  "control/pong.txt"])
def test_control_frames_yield_nothing(name: str) -> None:
    assert bitget.parse_ws(raw(name), RECV, ctx()) == []


def test_error_event_is_a_venue_error() -> None:
    with pytest.raises(VenueError) as err:
        bitget.parse_ws(raw("control/error_doc.json"), RECV, ctx())
    assert err.value.code == 30001


@pytest.mark.parametrize("payload", [
    "{not json",
    '{"action":"update","arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[{"symbol":"BTCUSDT",'
    '"side":"both","price":"1","amount":"1","ts":"1"}]}',
    '{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"trade","instId":"BTCUSDT"},'
    '"data":[{"ts":"1","price":"abc","size":"1","side":"buy","tradeId":"1"}]}',
    '{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"},"data":[{}]}',
    '{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"books","instId":"BTCUSDT"},"data":[]}',
])
def test_malformed_frames_raise_parse_error_with_payload(payload: str) -> None:
    with pytest.raises(ParseError) as err:
        bitget.parse_ws(payload, RECV, ctx())
    assert err.value.payload is not None


def test_subscribe_frames() -> None:
    args = [bitget.SPEC.channels["trades"].render("BTCUSDT"), bitget.SPEC.channels["klines"].render("BTCUSDT", "1m")]
    (frame,) = bitget.subscribe(args)
    assert json.loads(frame) == {"op": "subscribe", "args": [
        {"instType": "USDT-FUTURES", "channel": "trade", "instId": "BTCUSDT"},
        {"instType": "USDT-FUTURES", "channel": "candle1m", "instId": "BTCUSDT"}]}
    liq = bitget.SPEC.channels["liquidations"]
    assert (liq.endpoint, liq.per_symbol, liq.render()) == ("uta", False,
                                                           {"instType": "usdt-futures", "topic": "liquidation"})
    assert len(bitget.subscribe([liq.render()] * 45)) == 3


# -- REST ----------------------------------------------------------------------------------------


def test_rest_candles() -> None:
    first, second = bitget.parse_klines(body("rest/candles.json"), "BTCUSDT", RECV, ctx())
    assert (first.ts_event, first.open, first.high, first.low, first.close) == (1695835800000, 26210.5, 26210.5,
                                                                                26194.5, 26194.5)
    assert (first.volume, first.quote_volume, first.interval_ms) == (26.26, 687897.63, 60_000)
    assert first.low * first.volume <= first.quote_volume <= first.high * first.volume  # base-coin volume
    assert second.ts_event == 1695836100000


def test_rest_funding_history() -> None:
    newer, older = bitget.parse_funding(body("rest/history_fund_rate.json"), "BTCUSDT", RECV, ctx())
    assert isinstance(newer, Funding)
    assert (newer.ts_event, newer.rate) == (1695776400000, 0.0005)
    assert (older.ts_event, older.rate) == (1695715200000, 0.000013)


def test_rest_open_interest_uses_streamed_mark_for_usd() -> None:
    c = ctx()
    (oi,) = bitget.parse_open_interest(body("rest/open_interest.json"), "BTCUSDT", RECV, c)
    assert (oi.ts_event, oi.oi_base, oi.oi_usd) == (1695796781616, 34278.06, None)
    c.state["mark"] = {"BTCUSDT": 27000.0}
    (oi,) = bitget.parse_open_interest(body("rest/open_interest.json"), "BTCUSDT", RECV, c)
    assert oi.oi_usd == pytest.approx(34278.06 * 27000.0)


def test_rest_position_tiers() -> None:
    t1, t2 = bitget.parse_position_tiers(body("rest/query_position_lever.json"), "BTCUSDT", RECV, ctx())
    assert isinstance(t1, MarginTier)
    assert (t1.tier, t1.notional_floor, t1.notional_cap, t1.mmr, t1.maint_amount, t1.max_leverage) == (
        1, 0.0, 50000.0, 0.004, 0.0, 125.0)
    assert (t2.tier, t2.notional_floor, t2.notional_cap, t2.mmr, t2.max_leverage) == (2, 50000.0, 200000.0,
                                                                                      0.005, 100.0)


def test_rest_contracts_tick_from_price_place() -> None:
    (inst,) = bitget.parse_contracts(body("rest/contracts.json"), "BTCUSDT", RECV, ctx())
    assert (inst.symbol, inst.venue_symbol, inst.contract_size, inst.lot_size, inst.max_leverage) == (
        "BTC", "BTCUSDT", 1.0, 0.01, 125.0)
    assert inst.tick_size == pytest.approx(0.1)  # priceEndStep 1 x 10^-pricePlace(1)
    assert bitget.parse_contracts(body("rest/contracts.json"), "ETHUSDT", RECV, ctx()) == []


def test_rest_fills() -> None:
    sell, buy = bitget.parse_fills(body("rest/fills.json"), "BTCUSDT", RECV, ctx())
    assert (sell.trade_id, sell.ts_event, sell.price, sell.quantity, sell.taker_side) == (
        "1", 1627116776464, 29990.5, 0.0166, "sell")
    assert buy.taker_side == "buy"


def test_rest_errors() -> None:
    with pytest.raises(ParseError):
        bitget.parse_klines({"code": "00000"}, "BTCUSDT", RECV, ctx())
    with pytest.raises(VenueError) as err:
        bitget.check_response(400, {}, {"code": "40034", "msg": "Parameter does not exist", "data": None})
    with pytest.raises(VenueError) as err:
        bitget.check_response(200, {}, {"code": "40034", "msg": "Parameter does not exist", "data": None})
    assert err.value.code == "40034"
    with pytest.raises(RateLimitError):
        bitget.check_response(429, {"Retry-After": "2"}, {"code": "429", "msg": "Too Many Requests"})
    bitget.check_response(200, {}, body("rest/candles.json"))


def test_registered_in_the_venue_registry() -> None:
    from liqmap.venues.registry import available, get_spec

    assert "bitget" in available() and get_spec("bitget") is bitget.SPEC
