"""Bybit v5 parsers on the documented examples (bybit-exchange/docs), value by value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liqmap.errors import ParseError, RateLimitError, VenueError
from liqmap.types import Bar, Liquidation, MarkPrice, OpenInterest, Trade
from liqmap.venues import bybit
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "bybit"
RECV = 1_800_000_000_000


def load(name: str) -> str:
    return (FIX / name).read_text()


def test_all_liquidation_doc_sell_is_short_liquidated_at_bankruptcy_price() -> None:
    [liq] = bybit.parse_ws(load("ws/allLiquidation_doc.json"), RECV, ParseContext("bybit"))
    assert liq == Liquidation("bybit", "ROSE", 1739502302929, RECV, "short", 0.04499, 20000.0,
                              pytest.approx(899.8), "bankruptcy", "ROSEUSDT")


def test_all_liquidation_buy_is_long_and_batches_are_kept_whole() -> None:
    msg = json.loads(load("ws/allLiquidation_doc.json"))
    msg["data"] = [dict(msg["data"][0], S="Buy"), dict(msg["data"][0], T=1739502302999, v="5")]
    liqs = bybit.parse_ws(json.dumps(msg), RECV, ParseContext("bybit"))
    assert [(x.side, x.quantity, x.ts_event) for x in liqs] == [("long", 20000.0, 1739502302929),
                                                               ("short", 5.0, 1739502302999)]


def test_public_trade_doc() -> None:
    [t] = bybit.parse_ws(load("ws/publicTrade_doc.json"), RECV, ParseContext("bybit"))
    assert t == Trade("bybit", "BTC", 1672304486865, RECV, 16578.5, 0.001, "buy",
                      "20f43950-d8dd-5b31-9112-a178eb6023af", "BTCUSDT")


def test_tickers_snapshot_then_delta_merge_and_one_sided_oi() -> None:
    ctx = ParseContext("bybit")
    mark, oi = bybit.parse_ws(load("ws/tickers_snapshot_doc.json"), RECV, ctx)
    assert mark == MarkPrice("bybit", "BTC", 1760325052630, RECV, 66666.6, 115418.19, -0.005, 1760342400000, "BTCUSDT")
    # documented as both sides: one side is half
    assert oi == OpenInterest("bybit", "BTC", 1760325052630, RECV, 492373.72 / 2, 32824881841.75 / 2, "BTCUSDT")
    # 100 ms later: merged into the state, but not emitted (at most one record per second)
    early = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1760325052730,
             "data": {"symbol": "BTCUSDT", "fundingRate": "-0.004", "markPrice": "66668.00"}}
    assert bybit.parse_ws(json.dumps(early), RECV, ctx) == []
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1760325053630,
             "data": {"symbol": "BTCUSDT", "markPrice": "66670.10"}, "cs": 9532239430}
    [mark2] = bybit.parse_ws(json.dumps(delta), RECV, ctx)
    # fields absent from the delta keep their last values (the funding rate from the unemitted delta)
    assert (mark2.mark, mark2.index, mark2.funding_rate, mark2.ts_event) == (66670.1, 115418.19, -0.004, 1760325053630)
    delta2 = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1760325053830,
              "data": {"symbol": "BTCUSDT", "openInterest": "492400", "singleOpenInterest": "246200"}}
    [oi2] = bybit.parse_ws(json.dumps(delta2), RECV, ctx)
    assert oi2.oi_base == 246200.0


def test_kline_only_confirmed() -> None:
    assert bybit.parse_ws(load("ws/kline_doc_open.json"), RECV, ParseContext("bybit")) == []
    msg = json.loads(load("ws/kline_doc_open.json"))
    msg["data"][0]["confirm"] = True
    [bar] = bybit.parse_ws(json.dumps(msg), RECV, ParseContext("bybit"))
    assert bar == Bar("bybit", "BTC", 300_000, 1672324800000, 16649.5, 16677.0, 16608.0, 16677.0, 2.081, RECV,
                      34666.4005, None, None, "perp", "BTCUSDT")


def test_control_frames_and_errors() -> None:
    ctx = ParseContext("bybit")
    assert bybit.parse_ws(load("ws/subscribe_ack_doc.json"), RECV, ctx) == []
    assert bybit.parse_ws(load("ws/pong_doc.json"), RECV, ctx) == []
    with pytest.raises(VenueError):
        bybit.parse_ws('{"success":false,"ret_msg":"handler not found,topic:liquidation.BTCUSDT","op":"subscribe"}',
                       RECV, ctx)
    for bad in ("", "{}", '{"topic":"nope.BTCUSDT","data":[]}',
                '{"topic":"allLiquidation.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Up","v":"1","p":"1"}]}'):
        with pytest.raises(ParseError):
            bybit.parse_ws(bad, RECV, ctx)


def test_rest_docs_examples() -> None:
    ctx = ParseContext("bybit")
    [bar] = bybit.parse_klines(json.loads(load("rest/kline_doc.json")), "BTCUSDT", RECV, ctx)
    assert (bar.ts_event, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.quote_volume) == (
        1670608800000, 17071.0, 17073.0, 17027.0, 17055.5, 268611.0, 15.74462667)
    [oi] = bybit.parse_oi_history(json.loads(load("rest/open_interest_doc.json")), "BTCUSDT", RECV, ctx)
    assert (oi.ts_event, oi.oi_base) == (1780963200000, 31955346.0)  # singleOpenInterest preferred
    # the doc example is the USDC perp ETHPERP; the record takes the requested instrument's names
    [f] = bybit.parse_funding(json.loads(load("rest/funding_history_doc.json")), "ETHUSDT", RECV, ctx)
    assert (f.symbol, f.venue_symbol, f.ts_event, f.rate) == ("ETH", "ETHUSDT", 1672041600000, 0.0001)
    [inst] = bybit.parse_instruments(json.loads(load("rest/instruments_doc.json")), "", RECV, ctx)
    assert (inst.venue_symbol, inst.contract_size, inst.tick_size, inst.lot_size, inst.max_leverage) == (
        "BTCUSDT", 1.0, 0.1, 0.001, 100.0)


def test_risk_limit_tiers_floor_is_previous_cap() -> None:
    body = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [
        {"id": 2, "symbol": "BTCUSDT", "riskLimitValue": "4000000", "maintenanceMargin": "0.01", "initialMargin": "0.02",
         "isLowestRisk": 0, "maxLeverage": "50.00", "mmDeduction": "10000"},
        {"id": 1, "symbol": "BTCUSDT", "riskLimitValue": "2000000", "maintenanceMargin": "0.005",
         "initialMargin": "0.01", "isLowestRisk": 1, "maxLeverage": "100.00", "mmDeduction": ""}]}}
    t1, t2 = bybit.parse_risk_limit(body, "BTCUSDT", RECV, ParseContext("bybit"))
    assert (t1.tier, t1.notional_floor, t1.notional_cap, t1.mmr, t1.maint_amount) == (1, 0.0, 2e6, 0.005, 0.0)
    # Bybit's deduction rule: riskLimit_{n-1} * (MMR_n - MMR_{n-1}) + ded_{n-1} = 2e6 * 0.005 = 10000
    assert (t2.notional_floor, t2.notional_cap, t2.maint_amount) == (2e6, 4e6, 2e6 * (0.01 - 0.005))


def test_response_check_classifies() -> None:
    with pytest.raises(RateLimitError) as info:
        bybit.check_response(403, {}, "access too frequent")
    assert info.value.retry_after == 600.0
    with pytest.raises(RateLimitError):
        bybit.check_response(200, {}, {"retCode": 10006, "retMsg": "Too many visits!"})
    with pytest.raises(VenueError):
        bybit.check_response(200, {}, {"retCode": 10001, "retMsg": "params error"})
    bybit.check_response(200, {}, {"retCode": 0})
