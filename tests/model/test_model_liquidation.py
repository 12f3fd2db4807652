"""Liquidation prices: worked examples computed by hand, venue formula families, absurd leverage."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqmap.errors import ConfigError
from liqmap.model import (
    Bracket,
    ModelConfig,
    liq_price_mark_at_entry,
    liq_price_mark_at_liq,
    liquidation_price,
)
from liqmap.model.inputs import level_ratios
from liqmap.model.liquidation import level_ratio

NO_MM = Bracket(0, 0.0, float("inf"), 0.0, 0.0, 125.0)
BINANCE_BTC_FIRST = Bracket(1, 0.0, 50_000.0, 0.004, 0.0, 125.0)  # peers.md 5.7: (50k, 0.4%, 0)
PEERS_300K = Bracket(3, 250_000.0, 1_000_000.0, 0.01, 1_300.0, 50.0)  # peers.md 5.7: (1M, 1%, 1,300)

# (entry, leverage, side, liquidation price before maintenance margin) -- arithmetic by hand:
# 90,000 x (1 - 1/10) = 81,000; 90,000 x (1 - 1/25) = 86,400; 65,000 x (1 - 1/20) = 61,750;
# 4x is liquidated after a 25 % adverse move: 80,000 -> 60,000 (long) and 80,000 -> 100,000 (short).
NO_MM_EXAMPLES = [
    (90_000.0, 10.0, "long", 81_000.0),
    (90_000.0, 25.0, "long", 86_400.0),
    (65_000.0, 20.0, "long", 61_750.0),
    (80_000.0, 4.0, "long", 60_000.0),
    (80_000.0, 4.0, "short", 100_000.0),
    (90_000.0, 10.0, "short", 99_000.0),
]


@pytest.mark.parametrize(("entry", "leverage", "side", "expected"), NO_MM_EXAMPLES)
def test_worked_examples_without_maintenance_margin(entry: float, leverage: float, side: str, expected: float) -> None:
    assert float(liquidation_price("binance", entry, leverage, side, NO_MM)) == pytest.approx(expected, rel=1e-12)
    # every venue agrees when there is no maintenance margin
    assert float(liquidation_price("bybit", entry, leverage, side, NO_MM)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("entry", "leverage", "side", "before_mm"), NO_MM_EXAMPLES)
def test_binance_first_btc_bracket_divides_by_one_minus_mmr(
    entry: float, leverage: float, side: str, before_mm: float
) -> None:
    # mmr 0.4 %, cum 0: long LP = E(1 - 1/L) / 0.996, short LP = E(1 + 1/L) / 1.004, e.g. 81,000 / 0.996
    expected = before_mm / (0.996 if side == "long" else 1.004)
    got = float(liquidation_price("binance", entry, leverage, side, BINANCE_BTC_FIRST, notional=10_000.0))
    assert got == pytest.approx(expected, rel=1e-12)


def test_binance_first_bracket_headline_number() -> None:
    assert float(liquidation_price("binance", 90_000.0, 10.0, "long", BINANCE_BTC_FIRST)) == pytest.approx(
        81_325.301204819, rel=1e-11
    )


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        # Q = 300,000 / 90,000 = 3.3333 BTC, cum/Q = 1,300 / 3.3333 = 390
        # long:  (81,000 - 390) / (1 - 0.01) = 80,610 / 0.99 = 81,424.2424...
        ("long", 80_610.0 / 0.99),
        # short: (99,000 + 390) / (1 + 0.01) = 99,390 / 1.01 = 98,405.9406...
        ("short", 99_390.0 / 1.01),
    ],
)
def test_binance_higher_bracket_where_maintenance_amount_matters(side: str, expected: float) -> None:
    got = float(liquidation_price("binance", 90_000.0, 10.0, side, PEERS_300K, notional=300_000.0))
    assert got == pytest.approx(expected, rel=1e-12)
    # the same from the help-centre form LP = (WB + cum - s Q E) / (Q mmr - s Q), WB = N / L = 30,000
    s, q = (1.0, 3.3333333333333335) if side == "long" else (-1.0, 3.3333333333333335)
    assert got == pytest.approx((30_000 + 1_300 - s * q * 90_000) / (q * 0.01 - s * q), rel=1e-12)


def test_bybit_help_centre_example() -> None:
    # 1 BTC long at 20,000, 50x, mmr 0.5 %: IM 400, MM 100 -> LP = 20,000 - 300 = 19,700
    bracket = Bracket(1, 0.0, 2e6, 0.005, 0.0, 100.0)
    assert float(liquidation_price("bybit", 20_000.0, 50.0, "long", bracket, notional=20_000.0)) == pytest.approx(
        19_700.0, rel=1e-12
    )
    # Binance values maintenance at the liquidation price instead: 19,600 / 0.995
    assert float(liquidation_price("binance", 20_000.0, 50.0, "long", bracket)) == pytest.approx(19_600 / 0.995)


def test_bybit_deduction_moves_levels_away_from_entry() -> None:
    # IM = 10,000, MM = 100,000 x 1 % - 500 = 500 -> LP = 100,000 - 9,500 / 1 = 90,500
    got = liq_price_mark_at_entry(100_000.0, 10.0, "long", mmr=0.01, maint_amount=500.0, notional=100_000.0)
    assert float(got) == pytest.approx(90_500.0)
    got = liq_price_mark_at_entry(100_000.0, 10.0, "short", mmr=0.01, maint_amount=500.0, notional=100_000.0)
    assert float(got) == pytest.approx(109_500.0)


def test_hyperliquid_formula_reduces_to_the_binance_family() -> None:
    # Hyperliquid docs: liq = price - side * margin_available / Q / (1 - l * side), l = 1 / (2 * 40) = 1.25 %
    # 20x long, 1 BTC at 100,000: margin_available = 5,000 - 1,250 = 3,750 -> 100,000 - 3,750 / 0.9875
    expected = 100_000 - 3_750 / 0.9875
    got = liq_price_mark_at_liq(100_000.0, 20.0, "long", mmr=0.0125, notional=100_000.0)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(liquidation_price("hyperliquid", 100_000.0, 20.0, "long", Bracket(1, 0, 1e8, 0.0125, 0, 40))) == (
        pytest.approx(expected, rel=1e-12)
    )


def test_okx_fee_term_moves_the_level_towards_entry() -> None:
    plain = float(liq_price_mark_at_liq(100.0, 10.0, "long", mmr=0.005))
    with_fee = float(liq_price_mark_at_liq(100.0, 10.0, "long", mmr=0.005, fee=0.0005))
    assert with_fee == pytest.approx(90.0 / 0.9945) and with_fee > plain


@pytest.mark.parametrize("leverage", [1.0, 0.5, -3.0, float("nan")])
def test_leverage_at_or_below_one_is_refused(leverage: float) -> None:
    with pytest.raises(ConfigError, match="leverage"):
        liquidation_price("binance", 100.0, leverage, "long", NO_MM)


def test_leverage_above_the_bracket_maximum_is_refused() -> None:
    with pytest.raises(ConfigError, match="exceeds the maximum 100x"):
        liquidation_price("binance", 100.0, 125.0, "long", Bracket(2, 5e4, 6e5, 0.005, 50.0, 100.0))


def test_unknown_side_is_refused() -> None:
    with pytest.raises(ConfigError, match="side"):
        liquidation_price("binance", 100.0, 10.0, "up", NO_MM)


def test_maintenance_above_initial_margin_is_refused() -> None:
    with pytest.raises(ConfigError, match="liquidated at entry"):
        level_ratio("binance", 100.0, "long", mmr=0.02, maint_amount=0.0, notional=1e4)


TIERS = ModelConfig(
    leverage=(5.0, 10.0, 25.0, 50.0, 100.0),
    leverage_weights=(1.0, 1.0, 1.0, 1.0, 1.0),
    position_notional_usd=50_000.0,
    above_max_leverage="error",
)


def test_engine_tiers_above_the_venue_maximum_are_refused_or_capped() -> None:
    # Hyperliquid BTC: 40x maximum (mmr 1/80); the tiers include 50x and 100x
    with pytest.raises(ConfigError, match=r"50(\.0)?x exceeds the maximum 40x"):
        level_ratios(TIERS, "hyperliquid", "BTC")
    ratios, note = level_ratios(replace(TIERS, above_max_leverage="cap"), "hyperliquid", "BTC")
    forty = level_ratio("hyperliquid", 40.0, "long", mmr=1 / 80, maint_amount=0.0, notional=50_000.0)
    assert forty == pytest.approx((1 - 1 / 40) / (1 - 1 / 80))
    assert ratios[0, 3] == pytest.approx(forty)
    assert ratios[0, 4] == pytest.approx(forty)
    assert ratios[0, 1] == pytest.approx(0.9 / (1 - 1 / 80))
    assert "hyperliquid BTC" in note


def test_venue_without_a_shipped_table_falls_back_to_binance_and_says_so() -> None:
    ratios, note = level_ratios(TIERS, "bybit", "BTC")
    assert note.startswith("bybit: no bybit table, using binance BTCUSDT brackets")
    # Bybit formula family with Binance's 50k-600k bracket (mmr 0.5 %, cum 50):
    # 10x long = 1 - 0.1 + 0.005 - 50/50,000 = 0.904; short = 1 + 0.1 - 0.005 + 0.001 = 1.096
    assert ratios[0, 1] == pytest.approx(0.904)
    assert ratios[1, 1] == pytest.approx(1.096)


def test_binance_shipped_bracket_picked_by_position_notional() -> None:
    # 50,000 falls in [50k, 600k): mmr 0.5 %, cum 50 -> 10x long = (0.9 - 50/50,000) / 0.995
    ratios, _ = level_ratios(TIERS, "binance", "BTC")
    assert ratios[0, 1] == pytest.approx(0.899 / 0.995)
    small, note = level_ratios(replace(TIERS, position_notional_usd=10_000.0), "binance", "BTC")
    assert small[0, 1] == pytest.approx(0.9 / 0.996)
    assert "bracket 1 (mmr 0.004, amount 0)" in note


def test_flat_mmr_overrides_brackets() -> None:
    ratios, note = level_ratios(replace(TIERS, flat_mmr=0.0), "nowhere", "BTC")
    assert ratios[0].tolist() == pytest.approx([1 - 1 / lev for lev in TIERS.leverage])
    assert ratios[1].tolist() == pytest.approx([1 + 1 / lev for lev in TIERS.leverage])
    assert "flat mmr 0" in note


def test_symbol_without_any_table_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no margin brackets for bybit NOSUCHCOIN"):
        level_ratios(TIERS, "bybit", "NOSUCHCOIN")


@given(
    entry=st.floats(1e-3, 1e7),
    l1=st.floats(1.01, 150.0),
    l2=st.floats(1.01, 150.0),
    mmr_fraction=st.floats(0.0, 0.49),
    amount_fraction=st.floats(0.0, 0.3),
    exchange=st.sampled_from(["binance", "bybit", "okx", "gate", "bitget", "hyperliquid"]),
)
def test_levels_move_towards_entry_as_leverage_rises(
    entry: float, l1: float, l2: float, mmr_fraction: float, amount_fraction: float, exchange: str
) -> None:
    lo, hi = sorted((l1, l2))
    mmr = mmr_fraction / hi  # maintenance below half the initial margin, as real brackets keep it
    # a deduction below the maintenance margin at 100k notional (and below the initial margin)
    amount = amount_fraction * mmr * 1e5 * (1 - 1 / lo)
    bracket = Bracket(1, 0.0, float("inf"), mmr, amount, 200.0)
    long_lo, long_hi = (float(liquidation_price(exchange, entry, lev, "long", bracket, notional=1e5)) for lev in (lo, hi))
    short_lo, short_hi = (
        float(liquidation_price(exchange, entry, lev, "short", bracket, notional=1e5)) for lev in (lo, hi)
    )
    assert 0 < long_lo <= long_hi < entry < short_hi <= short_lo
