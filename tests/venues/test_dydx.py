"""dYdX v4 indexer parsers against recorded shapes (tests/fixtures/dydx/SOURCES.md), field by field."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from liqmap.errors import ParseError, VenueError
from liqmap.types import Bar, Liquidation, MarkPrice, OpenInterest, Trade
from liqmap.venues import dydx
from liqmap.venues._spec import ParseContext

FIX = Path(__file__).parents[1] / "fixtures" / "dydx"
RECV = 1_724_371_300_000
T_57_627 = 1_724_371_257_627  # 2024-08-23T00:00:57.627Z


def raw(name: str) -> str:
    return (FIX / name).read_text()


def body(name: str) -> object:
    return json.loads(raw(name))


def ctx(wanted: set[str] | None = None) -> ParseContext:
    return ParseContext("dydx", wanted=frozenset(wanted) if wanted is not None else None)


def test_iso_times() -> None:
    assert dydx.iso_ms("2024-08-23T00:00:57.627Z") == T_57_627
    assert dydx.ms_iso(T_57_627) == "2024-08-23T00:00:57.627Z"
    with pytest.raises(ParseError):
        dydx.iso_ms("yesterday")


def test_liquidated_trade_is_a_trade_and_a_liquidation() -> None:
    trade, liq = dydx.parse_ws(raw("v4_trades/ws_channel_data_tardis.json"), RECV, ctx())
    assert isinstance(trade, Trade) and isinstance(liq, Liquidation)
    assert (trade.symbol, trade.venue_symbol, trade.ts_event, trade.ts_recv) == ("BTC", "BTC-USD", T_57_627, RECV)
    assert (trade.price, trade.quantity, trade.taker_side, trade.trade_id) == (60392.0, 0.0001, "buy",
                                                                               "0165e6170000000200000002")
    assert liq.side == "short"  # the liquidation order bought: a short was closed
    assert (liq.ts_event, liq.price, liq.quantity, liq.price_kind) == (T_57_627, 60392.0, 0.0001, "fill")
    assert liq.usd == pytest.approx(6.0392)


def test_deleveraged_trades_are_not_liquidations() -> None:
    records = dydx.parse_ws(raw("v4_trades/ws_channel_data_mixed.json"), RECV, ctx())
    trades = [r for r in records if isinstance(r, Trade)]
    liqs = [r for r in records if isinstance(r, Liquidation)]
    assert [t.trade_id[-1] for t in trades] == ["1", "2", "3"]
    assert [(x.side, x.quantity, x.price) for x in liqs] == [("long", 0.35, 60371.0)]  # SELL = long closed


def test_markets_snapshot_then_updates() -> None:
    c = ctx({"BTC-USD"})
    mark, oi = dydx.parse_ws(raw("v4_markets/ws_subscribed_tardis.json"), RECV, c)
    assert isinstance(mark, MarkPrice) and isinstance(oi, OpenInterest)
    assert (mark.mark, mark.funding_rate, mark.ts_event) == (60387.51779, 0.00001351666666666667, RECV)
    assert (oi.oi_base, oi.ts_event) == (648.2389, RECV)
    assert oi.oi_usd == pytest.approx(648.2389 * 60387.51779)
    (oracle,) = dydx.parse_ws(raw("v4_markets/ws_channel_data_oracle.json"), RECV + 5, c)
    assert (oracle.mark, oracle.ts_event) == (60401.25, RECV + 5)  # one clock for the whole channel
    mark2, oi2 = dydx.parse_ws(raw("v4_markets/ws_channel_data_trading.json"), RECV + 9, c)
    assert (oi2.oi_base, mark2.funding_rate) == (650.0012, 0.0000125)
    assert oi2.oi_usd == pytest.approx(650.0012 * 60401.25)  # latest oracle price
    assert dydx.parse_ws(raw("v4_markets/ws_subscribed_tardis.json"), RECV, ctx({"ETH-USD"})) == []


def test_control_and_error_frames() -> None:
    assert dydx.parse_ws(raw("control/connected.json"), RECV, ctx()) == []
    with pytest.raises(VenueError, match="Invalid subscribe"):
        dydx.parse_ws(raw("control/error.json"), RECV, ctx())


@pytest.mark.parametrize("payload", [
    "nope",
    '{"type":"channel_data","channel":"v4_trades","id":"BTC-USD","contents":{"trades":[{"id":"1","size":"1",'
    '"price":"1","side":"LONG","createdAt":"2024-08-23T00:00:57.627Z","type":"LIMIT"}]}}',
    '{"type":"channel_data","channel":"v4_trades","id":"BTC-USD","contents":{}}',
    '{"type":"channel_data","channel":"v4_orderbook","id":"BTC-USD","contents":{}}',
])
def test_malformed_frames_raise_parse_error_with_payload(payload: str) -> None:
    with pytest.raises(ParseError) as err:
        dydx.parse_ws(payload, RECV, ctx())
    assert err.value.payload is not None


def test_subscribe_frames() -> None:
    frames = dydx.subscribe([dydx.SPEC.channels["trades"].render("BTC-USD"), dydx.SPEC.channels["tickers"].render()])
    assert [json.loads(f) for f in frames] == [
        {"type": "subscribe", "channel": "v4_trades", "id": "BTC-USD", "batched": False},
        {"type": "subscribe", "channel": "v4_markets", "batched": False}]


def test_rest_candles_bars_and_open_interest_history() -> None:
    newer, older = dydx.parse_candles(body("rest/candles.json"), "BTC-USD", RECV, ctx())
    assert isinstance(newer, Bar)
    assert (older.ts_event, older.open, older.high, older.low, older.close) == (1_724_371_200_000, 60380.0, 60398.0,
                                                                                60371.0, 60392.0)
    assert (older.volume, older.quote_volume, older.trades, older.interval_ms) == (0.8811, 53206.9914, 41, 60_000)
    assert older.low * older.volume <= older.quote_volume <= older.high * older.volume
    oi_new, oi_old = dydx.parse_candle_open_interest(body("rest/candles.json"), "BTC-USD", RECV, ctx())
    assert (oi_old.ts_event, oi_old.oi_base) == (1_724_371_200_000, 647.9012)
    assert oi_new.oi_usd == pytest.approx(648.2389 * 60392)


def test_rest_funding_trades_instruments_margin_and_oi() -> None:
    (f,) = dydx.parse_funding(body("rest/historical_funding.json"), "BTC-USD", RECV, ctx())
    assert (f.ts_event, f.rate, f.interval_hours) == (1_724_371_200_360, 0.00001351666666666667, 1.0)
    trade, liq = dydx.parse_trades(body("rest/trades.json"), "BTC-USD", RECV, ctx())
    assert (trade.trade_id, liq.side) == ("0165e6170000000200000002", "short")
    (inst,) = dydx.parse_instruments(body("rest/perpetual_markets.json"), "", RECV, ctx())
    assert (inst.venue_symbol, inst.tick_size, inst.lot_size, inst.contract_size, inst.quote) == (
        "BTC-USD", 1.0, 0.0001, 1.0, "USD")
    assert inst.max_leverage == pytest.approx(20.0)
    (tier,) = dydx.parse_margin(body("rest/perpetual_markets.json"), "BTC-USD", RECV, ctx())
    assert (tier.mmr, tier.maint_amount, tier.notional_floor) == (0.03, 0.0, 0.0)
    assert math.isinf(tier.notional_cap) and tier.max_leverage == pytest.approx(20.0)
    (oi,) = dydx.parse_open_interest(body("rest/perpetual_markets.json"), "BTC-USD", RECV, ctx())
    assert (oi.oi_base, oi.ts_event) == (648.2389, RECV)
    with pytest.raises(ParseError):
        dydx.parse_candles({"errors": [{"msg": "bad"}]}, "BTC-USD", RECV, ctx())


def test_request_builders() -> None:
    assert dydx.candle_params("BTC-USD", T_57_627, T_57_627 + 1000, 100) == {
        "resolution": "1MIN", "fromISO": "2024-08-23T00:00:57.627Z", "toISO": "2024-08-23T00:00:58.627Z",
        "limit": 100}
    assert dydx.funding_params("BTC-USD", 0, T_57_627, 100) == {"effectiveBeforeOrAt": "2024-08-23T00:00:57.627Z",
                                                                "limit": 100}
    assert dydx.SPEC.history["funding"].path.format(venue_symbol="BTC-USD") == "/v4/historicalFunding/BTC-USD"


def test_registered_in_the_venue_registry() -> None:
    from liqmap.venues.registry import available, get_spec

    assert "dydx" in available() and get_spec("dydx") is dydx.SPEC
