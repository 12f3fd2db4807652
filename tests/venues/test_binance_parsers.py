"""Binance parsers on real payloads (documented examples, public recordings, our forceOrder recordings)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from liqmap.errors import ParseError, VenueError
from liqmap.testing.mock.binance import force_order_frame
from liqmap.types import Bar, Funding, Liquidation, MarkPrice, OpenInterest, Trade
from liqmap.venues import binance
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "binance"
RECV = 1_700_000_000_000


def ctx() -> ParseContext:
    return ParseContext("binance")


def test_force_order_recorded_bbgo_sell_means_long_liquidated() -> None:
    raw = (FIX / "ws" / "forceOrder_bbgo_2023.json").read_text()
    [liq] = binance.parse_ws(raw, RECV, ctx())
    assert liq == Liquidation("binance", "BTC", 1695714031881, RECV, "long", 26245.10, 0.115,
                              pytest.approx(26245.10 * 0.115), "average", "BTCUSDT")


def test_force_order_doc_example_and_array_form() -> None:
    raw = (FIX / "ws" / "forceOrder_doc.json").read_text()
    [liq] = binance.parse_ws(raw, RECV, ctx())
    assert (liq.symbol, liq.side, liq.price, liq.quantity, liq.usd, liq.ts_event) == (
        "BTC", "long", 9910.0, 0.014, pytest.approx(138.74), 1568014460893)
    assert binance.parse_ws(f"[{raw},{raw}]", RECV, ctx()) == [liq, liq]


def test_force_order_rows_from_recording_roundtrip_field_by_field() -> None:
    rows = list(csv.reader((FIX / "forceorder" / "forceorder_2024-08-17.csv").read_text().splitlines()))
    assert len(rows) == 456
    for row in rows[:50]:
        [liq] = binance.parse_ws(force_order_frame(row), RECV, ctx())
        assert liq.symbol == row[0]
        assert liq.venue_symbol == row[0] + "USDT"
        assert liq.side == {"SELL": "long", "BUY": "short"}[row[1]]
        assert liq.price == float(row[6]) and liq.price_kind == "average"
        assert liq.quantity == float(row[9])
        assert liq.ts_event == int(row[10]) and liq.ts_recv == RECV
        assert liq.usd == pytest.approx(float(row[6]) * float(row[9]))
        # the recording's usd_size is order price x original quantity: an independent check of p and q
        assert float(row[11]) == pytest.approx(float(row[5]) * float(row[4]), rel=1e-9)


def test_force_order_first_recorded_row_partial_fill() -> None:
    # RARE,BUY,LIMIT,IOC,4421,0.2226588,0.2185000,FILLED,3750,4421,1723895903305,...
    row = next(csv.reader((FIX / "forceorder" / "forceorder_2024-08-17.csv").read_text().splitlines()))
    [liq] = binance.parse_ws(force_order_frame(row, combined=False), RECV, ctx())
    assert (liq.symbol, liq.side, liq.price, liq.quantity, liq.ts_event) == ("RARE", "short", 0.2185, 4421.0,
                                                                           1723895903305)


def test_agg_trade_recorded_taker_buy() -> None:
    [trade] = binance.parse_ws((FIX / "ws" / "aggTrade_cryptofeed_2021.json").read_text(), RECV, ctx())
    assert trade == Trade("binance", "CTK", 1626992741421, RECV, 1.011, 10.0, "buy", "16599292", "CTKUSDT")


def test_mark_price_doc_example() -> None:
    c = ctx()
    [mark] = binance.parse_ws((FIX / "ws" / "markPriceUpdate_doc.json").read_text(), RECV, c)
    assert mark == MarkPrice("binance", "BTC", 1562305380000, RECV, 11185.87786614, 11784.62659091, 0.0003,
                             1562306400000, "BTCUSDT")
    assert c.state["mark"]["BTCUSDT"] == 11185.87786614


def test_open_kline_is_not_stored_closed_kline_is() -> None:
    raw = (FIX / "ws" / "kline_cryptofeed_2021_open.json").read_text()
    assert binance.parse_ws(raw, RECV, ctx()) == []
    closed = json.loads(raw)
    closed["data"]["k"]["x"] = True  # the same bar once closed (derived from the recording)
    [bar] = binance.parse_ws(json.dumps(closed), RECV, ctx())
    assert bar == Bar("binance", "CTK", 60_000, 1626992700000, 1.01, 1.011, 1.01, 1.011, 3917.0, RECV,
                      3957.899, 1729.0, 48, "perp", "CTKUSDT")


def test_ack_is_control_error_is_venue_error_garbage_is_parse_error() -> None:
    assert binance.parse_ws('{"result":null,"id":1}', RECV, ctx()) == []
    with pytest.raises(VenueError):
        binance.parse_ws('{"error":{"code":2,"msg":"Invalid request"},"id":1}', RECV, ctx())
    for bad in ("not json", "[1,2]", "42", '{"e":"weird"}', '{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","S":"X"}}',
                '{"e":"aggTrade","s":"BTCUSDT","p":"abc","q":"1","T":1,"m":true,"a":1}'):
        with pytest.raises(ParseError) as info:
            binance.parse_ws(bad, RECV, ctx())
        assert info.value.payload is not None


def test_rest_klines_doc_example() -> None:
    [bar] = binance.parse_klines(json.loads((FIX / "rest" / "klines_doc.json").read_text()), "BTCUSDT", RECV, ctx())
    assert (bar.ts_event, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        1499040000000, 0.0163479, 0.8, 0.015758, 0.015771, 148976.11427815)
    assert (bar.quote_volume, bar.trades, bar.taker_buy_volume) == (2434.19055334, 308, 1756.87402397)


def test_rest_oi_history_string_timestamp_and_funding_and_current_oi() -> None:
    [oi] = binance.parse_oi_history(json.loads((FIX / "rest" / "openInterestHist_doc.json").read_text()),
                                    "BTCUSDT", RECV, ctx())
    assert oi == OpenInterest("binance", "BTC", 1583127900000, RECV, 20403.637, 150570784.07809979, "BTCUSDT")
    [f] = binance.parse_funding(json.loads((FIX / "rest" / "fundingRate_doc.json").read_text()), "BTCUSDT", RECV, ctx())
    assert f == Funding("binance", "BTC", 1570608000000, RECV, -0.0375, None, "BTCUSDT")
    c = ctx()
    c.state["mark"] = {"BTCUSDT": 10000.0}
    [cur] = binance.parse_open_interest(json.loads((FIX / "rest" / "openInterest_doc.json").read_text()),
                                        "BTCUSDT", RECV, c)
    assert (cur.ts_event, cur.oi_base, cur.oi_usd) == (1589437530011, 10659.509, pytest.approx(106595090.0))
