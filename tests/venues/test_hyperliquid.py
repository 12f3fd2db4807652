"""Hyperliquid parsers against documented/recorded payloads (tests/fixtures/hyperliquid/SOURCES.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from liqmap.errors import ParseError, VenueError
from liqmap.types import HOUR_MS, Bar, Funding, Instrument, MarginTier, MarkPrice, OpenInterest, Trade
from liqmap.venues import hyperliquid as hl
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "hyperliquid"
RECV = 1_781_416_944_000


def raw(name: str) -> str:
    return (FIX / name).read_text()


def body(name: str) -> object:
    return json.loads(raw(name))


def ctx() -> ParseContext:
    return ParseContext("hyperliquid")


def test_trade_aggressor_side_and_coin_units() -> None:
    (t,) = hl.parse_ws(raw("trades/ws_btc.json"), RECV, ctx())
    assert isinstance(t, Trade)
    assert (t.exchange, t.symbol, t.venue_symbol) == ("hyperliquid", "BTC", "BTC")
    assert (t.ts_event, t.ts_recv) == (1781416943647, RECV)
    assert (t.price, t.quantity, t.taker_side, t.trade_id) == (64411.0, 0.31377, "buy", "828642708897583")
    (p,) = hl.parse_ws(raw("trades/ws_purr_recorded.json"), RECV, ctx())
    assert (p.symbol, p.taker_side, p.price, p.quantity, p.ts_event) == ("PURR", "sell", 0.27899, 40.0,
                                                                          1736985608767)


def test_active_asset_ctx_mark_funding_oi_stamped_at_receive_time() -> None:
    mark, oi = hl.parse_ws(raw("active_asset_ctx/ws_btc.json"), RECV, ctx())
    assert isinstance(mark, MarkPrice) and isinstance(oi, OpenInterest)
    assert (mark.ts_event, mark.ts_recv) == (RECV, RECV)  # HL contexts carry no time
    assert (mark.mark, mark.index, mark.funding_rate) == (64405.0, 64429.0, 0.0000125)
    assert mark.next_funding_ts == 1_781_420_400_000  # next full hour after RECV
    assert mark.next_funding_ts % HOUR_MS == 0 and 0 < mark.next_funding_ts - RECV <= HOUR_MS
    assert oi.oi_base == 32227.66018
    assert oi.oi_usd == pytest.approx(32227.66018 * 64405.0)
    mark2, oi2 = hl.parse_ws(raw("active_asset_ctx/ws_render_tardis.json"), RECV, ctx())
    assert (mark2.symbol, mark2.mark, oi2.oi_base) == ("RENDER", 4.919, 231067.2)


def test_candle_channel_emits_closed_bars_only() -> None:
    c = ctx()
    assert hl.parse_ws(raw("candle/ws_candle.json"), RECV, c) == []
    nxt = body("candle/ws_candle.json")
    nxt["data"].update({"t": 1681924500000, "T": 1681925399999, "o": "29258.0", "n": 3})
    (bar,) = hl.parse_ws(json.dumps(nxt), RECV, c)
    assert isinstance(bar, Bar)
    assert (bar.ts_event, bar.interval_ms, bar.trades) == (1681923600000, 15 * 60_000, 189)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (29295.0, 29309.0, 29250.0, 29258.0, 0.98639)


@pytest.mark.parametrize("name", ["control/subscription_response_doc.json", "control/pong_doc.json"])
def test_control_frames_yield_nothing(name: str) -> None:
    assert hl.parse_ws(raw(name), RECV, ctx()) == []


def test_error_channel_is_a_venue_error() -> None:
    with pytest.raises(VenueError, match="Invalid subscription"):
        hl.parse_ws(raw("control/error.json"), RECV, ctx())


@pytest.mark.parametrize("payload", [
    "[1, 2",
    '{"data": []}',
    '{"channel":"trades","data":[{"coin":"BTC","side":"X","px":"1","sz":"1","time":1,"tid":1}]}',
    '{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"1","time":1,"tid":1}]}',
    '{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"markPx":"oops","openInterest":"1","funding":"0"}}}',
    '{"channel":"l2Book","data":{}}',
])
def test_malformed_frames_raise_parse_error_with_payload(payload: str) -> None:
    with pytest.raises(ParseError) as err:
        hl.parse_ws(payload, RECV, ctx())
    assert err.value.payload is not None


def test_subscribe_frames_one_per_subscription() -> None:
    args = [hl.SPEC.channels["trades"].render("BTC"), hl.SPEC.channels["klines"].render("ETH", "1m")]
    assert [json.loads(f) for f in hl.subscribe(args)] == [
        {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}},
        {"method": "subscribe", "subscription": {"type": "candle", "coin": "ETH", "interval": "1m"}}]


# -- REST ----------------------------------------------------------------------------------------


def test_candle_snapshot() -> None:
    (bar,) = hl.parse_candles(body("rest/candle_snapshot_sdk.json"), "BTC", RECV, ctx())
    assert (bar.ts_event, bar.open, bar.close, bar.volume, bar.trades, bar.venue_symbol) == (
        1681923600000, 29295.0, 29258.0, 0.98639, 189, "BTC")


def test_funding_history_is_hourly() -> None:
    (f,) = hl.parse_funding(body("rest/funding_history_doc.json"), "ETH", RECV, ctx())
    assert isinstance(f, Funding)
    assert (f.symbol, f.ts_event, f.rate, f.interval_hours) == ("ETH", 1683849600076, -0.00022196, 1.0)


def test_instruments_from_meta_doc() -> None:
    instruments = {i.venue_symbol: i for i in hl.parse_instruments(body("rest/meta_doc.json"), "", RECV, ctx())}
    assert set(instruments) == {"BTC", "ETH", "HPOS"}  # LOOM is delisted
    btc = instruments["BTC"]
    assert isinstance(btc, Instrument)
    assert (btc.contract_size, btc.max_leverage, btc.quote) == (1.0, 50.0, "USDC")
    assert btc.lot_size == pytest.approx(1e-5)  # szDecimals 5
    assert btc.tick_size == pytest.approx(0.1)  # at most 6 - 5 price decimals
    assert instruments["HPOS"].tick_size == pytest.approx(1e-6) and instruments["HPOS"].lot_size == 1.0


def test_margin_tiers_from_mainnet_tables_follow_hl_formula() -> None:
    tiers = hl.parse_margin_tables(body("rest/meta_mainnet_tables.json"), "", RECV, ctx())
    by_symbol: dict[str, list[MarginTier]] = {}
    for t in tiers:
        by_symbol.setdefault(t.symbol, []).append(t)
    t1, t2 = by_symbol["BTC"]
    assert (t1.tier, t1.notional_floor, t1.notional_cap, t1.mmr, t1.maint_amount, t1.max_leverage) == (
        1, 0.0, 150_000_000.0, 0.0125, 0.0, 40.0)  # 1 / (2 x 40)
    assert (t2.tier, t2.notional_floor, t2.mmr, t2.max_leverage) == (2, 150_000_000.0, 0.025, 20.0)
    assert math.isinf(t2.notional_cap)
    assert t2.maint_amount == pytest.approx(150_000_000 * (0.025 - 0.0125))  # = 1.875M
    n = t2.notional_floor  # continuity of MM = N x mmr - deduction at the boundary
    assert n * t1.mmr - t1.maint_amount == pytest.approx(n * t2.mmr - t2.maint_amount)
    (hpos,) = by_symbol["HPOS"]  # marginTableId 3 < 50 and not listed: one tier at 3x
    assert (hpos.mmr, hpos.max_leverage, hpos.notional_floor) == (pytest.approx(1 / 6), pytest.approx(3.0), 0.0)
    eth = by_symbol["ETH"]
    assert [t.max_leverage for t in eth] == [25.0, 15.0]


def test_margin_tiers_without_table_id_use_asset_max_leverage() -> None:
    tiers = hl.parse_margin_tables(body("rest/meta_doc.json"), "BTC", RECV, ctx())
    assert [(t.tier, t.mmr, t.max_leverage) for t in tiers] == [(1, 0.01, 50.0)]


def test_meta_and_asset_ctxs_open_interest_snapshot() -> None:
    mark, oi = hl.parse_asset_ctxs(body("rest/meta_and_asset_ctxs_sdk.json"), "BTC", RECV, ctx())
    assert (mark.mark, mark.index, mark.funding_rate, mark.ts_event) == (28429.3, 28445.0, -0.0000886, RECV)
    assert (oi.oi_base, oi.ts_event) == (0.22168, RECV)
    assert oi.oi_usd == pytest.approx(0.22168 * 28429.3)
    with pytest.raises(ParseError, match="differ in length"):
        hl.parse_asset_ctxs([{"universe": [{"name": "BTC"}]}, []], "", RECV, ctx())


def test_clearinghouse_state_positions_with_exchange_liquidation_price() -> None:
    assert hl.parse_clearinghouse_state(body("rest/clearinghouse_state_sdk.json"), "0xa", RECV) == []  # szi 0
    (pos,) = hl.parse_clearinghouse_state(body("rest/clearinghouse_state_position.json"), "0xa", RECV)
    assert (pos.symbol, pos.account, pos.size, pos.entry_price, pos.liquidation_price) == ("BTC", "0xa", 0.5,
                                                                                           43000.0, 38500.0)
    assert (pos.leverage, pos.margin_type, pos.margin_used, pos.position_value) == (2.5, "cross", 4312.5, 21625.0)
    assert (pos.mark_price, pos.equity, pos.maintenance, pos.max_leverage) == (43250.0, 10250.75, 800.0, 20.0)
    assert pos.ts_event == RECV  # "time": 0 -> the receive time
    with pytest.raises(ParseError):
        hl.parse_clearinghouse_state({"error": "bad user"}, "0xa", RECV)


def test_clearinghouse_state_isolated_null_and_vanished_positions() -> None:
    (iso,) = hl.parse_clearinghouse_state(body("rest/clearinghouse_state_doc_isolated.json"), "0xb", RECV)
    # isolated equity = rawUsd + szi * mark = -95.059824 + 100.02765 (= the documented marginUsed)
    assert iso.margin_type == "isolated" and iso.equity == pytest.approx(4.967826)
    assert (iso.ts_event, iso.maintenance) == (1708622398623, None)
    rows = hl.parse_clearinghouse_state(body("rest/clearinghouse_state_sdk_2023.json"), "0xc", RECV)
    assert sum(r.liquidation_price is None for r in rows) == 7  # ETH MATIC SOL AVAX BNB LTC ARB: null
    assert all(r.maintenance is None and r.equity == 1182.312496 for r in rows)  # 2023: no crossMaintenance
    # an account that no longer holds BTC and DOGE: one flat row each, stamped at the answer's time
    flat = hl.parse_clearinghouse_state(body("rest/clearinghouse_state_doc_isolated.json"), "0xb", RECV,
                                        held=["ETH", "BTC", "DOGE"])
    assert [(r.symbol, r.size) for r in flat] == [("ETH", 0.0335), ("BTC", 0.0), ("DOGE", 0.0)]
    odd = {"assetPositions": [{"position": {"coin": "xyz:XYZ100", "szi": "1"}}], "time": 5}
    assert hl.parse_clearinghouse_state(odd, "0xd", RECV) == []  # builder-dex coin: not ours
    with pytest.raises(ParseError):
        hl.parse_clearinghouse_state({"assetPositions": [{"position": {"coin": "BTC", "szi": "x"}}]}, "0xd", RECV)


def test_trade_accounts_name_both_sides() -> None:
    (t,) = hl.trade_accounts(raw("trades/ws_btc.json"))
    assert t.users == ("0xe9bee85af94c8234270523992447e631d27d2146", "0xf9109ada2f73c62e9889b45453065f0d99260a2d")
    assert (t.coin, t.ts, t.notional) == ("BTC", 1781416943647, pytest.approx(64411.0 * 0.31377))
    assert hl.trade_accounts(raw("active_asset_ctx/ws_btc.json")) == []
    assert hl.trade_accounts('{"channel":"trades","data":[{"coin":"BTC","px":"1","sz":"2","time":3}]}')[0].users == ()


def test_request_bodies() -> None:
    assert hl.candle_body("BTC", 1, 2, 5000) == {"type": "candleSnapshot",
                                                  "req": {"coin": "BTC", "interval": "1m", "startTime": 1,
                                                          "endTime": 2}}
    assert hl.funding_body("ETH", 3, 4, 500) == {"type": "fundingHistory", "coin": "ETH", "startTime": 3,
                                                  "endTime": 4}
    assert hl.SPEC.history["klines"].method == "POST" and hl.SPEC.history["klines"].path == "/info"


def test_registered_in_the_venue_registry() -> None:
    from liqmap.venues.registry import available, get_spec

    assert "hyperliquid" in available() and get_spec("hyperliquid") is hl.SPEC
