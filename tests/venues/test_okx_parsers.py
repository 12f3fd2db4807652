"""OKX v5 parsers on documented examples and a recorded instrument, with contract sizes applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liqmap.errors import ParseError, RateLimitError, VenueError
from liqmap.types import Instrument, Liquidation, OpenInterest, Trade
from liqmap.venues import okx
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "okx"
RECV = 1_800_000_000_000


def load(name: str) -> str:
    return (FIX / name).read_text()


def ctx_with(*instruments: tuple[str, float]) -> ParseContext:
    c = ParseContext("okx")
    for vsym, size in instruments:
        c.instruments[vsym] = Instrument("okx", vsym.split("-")[0], vsym, size, 0.1, size)
    return c


def test_instrument_recorded_ctval() -> None:
    [inst] = okx.parse_instruments(json.loads(load("rest/instrument_cryptofeed_2022.json")), "", RECV, ParseContext("okx"))
    assert inst == Instrument("okx", "BTC", "BTC-USDT-SWAP", 0.01, 0.1, 0.01, 125.0, "USDT")


def test_liquidation_doc_buy_order_is_short_in_coins_at_bankruptcy_price() -> None:
    c = ctx_with(("IOST-USDT-SWAP", 1000.0))  # IOST-USDT-SWAP ctVal is 1000 IOST
    [liq] = okx.parse_ws(load("ws/liquidation_orders_doc.json"), RECV, c)
    assert liq == Liquidation("okx", "IOST", 1692266434010, RECV, "short", 0.007831, 13000.0,
                              pytest.approx(13000 * 0.007831), "bankruptcy", "IOST-USDT-SWAP")


def test_liquidation_unknown_contract_size_is_parse_error_and_unwanted_is_skipped() -> None:
    with pytest.raises(ParseError):
        okx.parse_ws(load("ws/liquidation_orders_doc.json"), RECV, ParseContext("okx"))
    c = ParseContext("okx", wanted=frozenset({"BTC-USDT-SWAP"}))
    assert okx.parse_ws(load("ws/liquidation_orders_doc.json"), RECV, c) == []


def test_open_interest_doc_uses_coin_and_usd_columns() -> None:
    [oi] = okx.parse_ws(load("ws/open_interest_doc.json"), RECV, ParseContext("okx"))
    assert oi == OpenInterest("okx", "BTC", 1743041250440, RECV, 22161.1301000000309, 1939251795.54769270396321,
                              "BTC-USDT-SWAP")
    # independent check of the unit: oiCcy = oi x ctVal (0.01 BTC)
    assert oi.oi_base == pytest.approx(2216113.01000000309 * 0.01)


def test_trades_contracts_to_coin() -> None:
    msg = json.loads(load("ws/trades_doc.json"))
    msg["arg"]["instId"] = msg["data"][0]["instId"] = "BTC-USDT-SWAP"  # the doc example is spot
    [t] = okx.parse_ws(json.dumps(msg), RECV, ctx_with(("BTC-USDT-SWAP", 0.01)))
    assert t == Trade("okx", "BTC", 1630048897897, RECV, 42219.9, pytest.approx(0.0012060306), "buy", "130639474",
                      "BTC-USDT-SWAP")


def test_funding_rate_state_is_attached_to_next_mark_price() -> None:
    c = ParseContext("okx")
    assert okx.parse_ws(load("ws/funding_rate_doc.json"), RECV, c) == []
    mark_msg = {"arg": {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},
                "data": [{"instType": "SWAP", "instId": "BTC-USDT-SWAP", "markPx": "84000.5", "ts": "1743588687000"}]}
    [m] = okx.parse_ws(json.dumps(mark_msg), RECV, c)
    assert (m.mark, m.funding_rate, m.next_funding_ts, m.ts_event) == (84000.5, 0.0000182221218054, 1743609600000,
                                                                       1743588687000)
    # the doc example is a dated future, not a perpetual: a ParseError (counted, skipped), not a crash
    with pytest.raises(ParseError):
        okx.parse_ws(load("ws/mark_price_doc.json"), RECV, ParseContext("okx"))


def test_candle_only_confirmed_volume_in_base() -> None:
    assert okx.parse_ws(load("ws/candle_doc.json"), RECV, ParseContext("okx")) == []
    msg = json.loads(load("ws/candle_doc.json"))
    msg["data"][0][8] = "1"
    msg["arg"]["channel"] = "candle1m"
    [bar] = okx.parse_ws(json.dumps(msg), RECV, ParseContext("okx"))
    assert (bar.interval_ms, bar.ts_event, bar.open, bar.close, bar.volume, bar.quote_volume) == (
        60_000, 1597026383085, 8533.02, 8548.26, 529.5858061, 529.5858061)


def test_control_and_error_frames() -> None:
    c = ParseContext("okx")
    assert okx.parse_ws("pong", RECV, c) == []
    assert okx.parse_ws(load("ws/subscribe_ack_doc.json"), RECV, c) == []
    with pytest.raises(VenueError) as info:
        okx.parse_ws(load("ws/error_doc.json"), RECV, c)
    assert info.value.code == "60018"
    with pytest.raises(ParseError):
        okx.parse_ws('{"arg":{"channel":"books"},"data":[]}', RECV, c)


def test_rest_history_docs() -> None:
    [oi] = okx.parse_oi_history(json.loads(load("rest/oi_history_doc.json")), "BTC-USDT-SWAP", RECV, ParseContext("okx"))
    assert (oi.ts_event, oi.oi_base, oi.oi_usd) == (1701417600000, 111.0, 8888888.0)
    [f] = okx.parse_funding(json.loads(load("rest/funding_history_doc.json")), "BTC-USD-SWAP", RECV, ParseContext("okx"))
    assert (f.ts_event, f.rate) == (1703059200000, 0.0000746572360545)  # realizedRate, not the predicted rate


def test_position_tiers_contracts_to_usd() -> None:
    c = ctx_with(("BTC-USDT-SWAP", 0.01))
    c.state["mark"] = {"BTC-USDT-SWAP": 50000.0}
    body = {"code": "0", "msg": "", "data": [
        {"tier": "1", "minSz": "0", "maxSz": "2000", "mmr": "0.004", "imr": "0.008", "maxLever": "125",
         "instFamily": "BTC-USDT", "instId": "", "uly": "BTC-USDT"}]}
    [t] = okx.parse_position_tiers(body, "BTC-USDT-SWAP", RECV, c)
    assert (t.notional_floor, t.notional_cap, t.mmr, t.maint_amount, t.max_leverage) == (0.0, 1_000_000.0, 0.004, 0.0, 125.0)


def test_response_codes() -> None:
    with pytest.raises(RateLimitError):
        okx.check_response(429, {}, {"code": "50011", "msg": "Rate limit reached"})
    with pytest.raises(RateLimitError):
        okx.check_response(200, {}, {"code": "50011", "msg": "Rate limit reached"})
    with pytest.raises(VenueError):
        okx.check_response(200, {}, {"code": "51001", "msg": "Instrument ID does not exist"})
