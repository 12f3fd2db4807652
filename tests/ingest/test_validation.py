"""The one record validation (liqmap.validation), for records and for import columns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqmap.types import Bar, Funding, MarginTier, MarkPrice, Trade
from liqmap.validation import column_problem, problem

T = 1_780_000_000_000


def bar(**kw: object) -> Bar:
    values: dict[str, object] = dict(exchange="bybit", symbol="BTC", interval_ms=60_000, ts_event=T, open=100.0,
                                     high=101.0, low=99.0, close=100.5, volume=3.0, ts_recv=T + 60_000)
    values.update(kw)
    return Bar(**values)  # type: ignore[arg-type]


def test_a_valid_record_passes_and_each_rule_names_its_field() -> None:
    assert problem(bar()) is None
    assert "high 98.0 < low 99.0" in (problem(bar(high=98.0, open=98.5, close=98.5)) or "")
    assert "outside [low" in (problem(bar(close=101.5)) or "")
    assert "volume=-1.0 must be >= 0" in (problem(bar(volume=-1.0)) or "")
    assert "price=inf is not finite" in (problem(Trade("binance", "BTC", T, T, float("inf"), 1.0, "buy", "1")) or "")
    assert "mark=-5.0 must be > 0" in (problem(MarkPrice("okx", "BTC", T, T, -5.0)) or "")
    assert "taker_side='up'" in (problem(Trade("binance", "BTC", T, T, 1.0, 1.0, "up", "1")) or "")  # type: ignore[arg-type]
    assert "price='1.0' is not a number" in (problem(Trade("binance", "BTC", T, T, "1.0", 1.0, "buy", "1")) or "")  # type: ignore[arg-type]
    assert problem(Funding("okx", "BTC", T + 8 * 3_600_000, T, -0.0003)) is None  # settles ahead: fine
    assert problem(MarginTier("okx", "BTC", 5, 1e6, float("inf"), 0.05, 1000.0, 10.0)) is None  # open cap


@pytest.mark.parametrize(("value", "unit"), [(T // 1000, "seconds"), (T * 1000, "microseconds"),
                                             (T * 1_000_000, "nanoseconds")])
def test_a_time_in_another_unit_is_named(value: int, unit: str) -> None:
    assert f"looks like {unit}, expected milliseconds" in (problem(bar(ts_event=value)) or "")


def test_columns_follow_the_same_rules() -> None:
    n = 3
    ok = dict(exchange="x", symbol="BTC", interval_ms=60_000, ts_event=np.array([T, T + 60_000, T + 120_000]),
              open=np.full(n, 100.0), high=np.full(n, 101.0), low=np.full(n, 99.0), close=np.full(n, 100.0),
              volume=np.array([1.0, np.nan, 2.0]), ts_recv=T)
    assert column_problem(Bar, ok) is None  # a missing volume is NULL, not an error
    seconds = {**ok, "ts_event": ok["ts_event"] // 1000}
    assert "row 0: ts_event=1780000000.0 looks like seconds" in (column_problem(Bar, seconds) or "")
    crossed = {**ok, "low": np.array([99.0, 102.0, 99.0])}
    assert "Bar row 1" in (column_problem(Bar, crossed) or "")
    infinite = {**ok, "close": np.array([100.0, 100.0, np.inf])}
    assert "row 2: close=inf" in (column_problem(Bar, infinite) or "")


SPECIAL = st.sampled_from([0.0, -0.0, -1.0, 1.0, 1e30, float("nan"), float("inf"), -float("inf")])


@given(st.one_of(SPECIAL, st.floats()), st.one_of(SPECIAL, st.floats()))
def test_record_and_column_rules_agree(price: float, quantity: float) -> None:
    """A trade passes as a record exactly when its one-row column batch passes."""
    record = Trade("binance", "BTC", T, T, price, quantity, "buy", "1")
    cols = dict(exchange="binance", symbol="BTC", ts_event=np.array([T]), ts_recv=T, price=np.array([price]),
                quantity=np.array([quantity]), taker_side="buy", trade_id="1")
    assert (problem(record) is None) == (column_problem(Trade, cols) is None)
