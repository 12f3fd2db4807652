"""Margin-bracket tables: shipped files, continuity of maintenance amounts, live refresh from MarginTier."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from liqmap.errors import ConfigError
from liqmap.model import Bracket, BracketBook, BracketTable, load_brackets, maint_amounts_from_continuity
from liqmap.model.brackets import shipped_files
from liqmap.model.config import ModelConfig
from liqmap.model.inputs import level_ratios
from liqmap.types import MarginTier


def test_shipped_files_name_their_source_and_date() -> None:
    names = shipped_files()
    assert {"binance-2024-10.json", "hyperliquid-2026-08.json", "bitget-2023-09.json", "gate-2023-05.json"} <= set(
        names
    )
    folder = resources.files("liqmap").joinpath("data", "tiers")
    for name in names:
        data = json.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        assert data["source"] and data["as_of"] == name.removesuffix(".json").split("-", 1)[1]


def test_binance_btc_first_brackets_match_the_published_values() -> None:
    table = load_brackets().find("binance", "BTCUSDT")
    assert table is not None and table.venue_symbol == "BTCUSDT"
    first, second = table.brackets[:2]
    # peers.md 5.7 / Binance: first BTC bracket 0.4 %, cum 0, 125x; the next 0.5 % with cum 50
    assert (first.floor, first.cap, first.mmr, first.maint_amount, first.max_leverage) == (0, 50_000, 0.004, 0, 125)
    assert (second.mmr, second.maint_amount, second.max_leverage) == (0.005, 50, 100)


def test_every_shipped_binance_table_satisfies_maintenance_continuity() -> None:
    # cum_n = cum_{n-1} + floor_n (mmr_n - mmr_{n-1}): an independent check of the compacted data
    book = load_brackets()
    tables = [t for (exchange, _), t in book.items() if exchange == "binance"]
    assert len(tables) > 300
    for table in tables:
        floors = [b.floor for b in table.brackets]
        mmrs = [b.mmr for b in table.brackets]
        expected = maint_amounts_from_continuity(floors, mmrs)
        got = [b.maint_amount for b in table.brackets]
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-6), table.venue_symbol
        assert [b.cap for b in table.brackets[:-1]] == floors[1:]


def test_continuity_rule_reproduces_the_help_centre_example() -> None:
    # 250,000 x (1 % - 0.5 %) + 50 = 1,300
    assert maint_amounts_from_continuity([0, 50_000, 250_000], [0.004, 0.005, 0.01]) == pytest.approx([0, 50, 1_300])


def test_hyperliquid_tables_follow_the_margin_tier_rules() -> None:
    btc = load_brackets().find("hyperliquid", "BTC")
    assert btc is not None
    # mmr = 1 / (2 x max leverage); deduction_1 = 150M x (1/40 - 1/80) = 1,875,000
    assert [b.mmr for b in btc.brackets] == pytest.approx([1 / 80, 1 / 40])
    assert [b.maint_amount for b in btc.brackets] == pytest.approx([0.0, 1_875_000.0])
    assert btc.bracket_for(2e8).max_leverage == 20


def _tiers(exchange: str = "bybit") -> list[MarginTier]:
    return [
        MarginTier(exchange, "BTC", 1, 0.0, 2_000_000.0, 0.005, 0.0, 100.0),
        MarginTier(exchange, "BTC", 2, 2_000_000.0, 4_000_000.0, 0.01, 10_000.0, 50.0),
    ]


def test_live_tiers_build_the_same_structure_and_round_trip() -> None:
    book = BracketBook.from_tiers(_tiers(), source="bybit /v5/market/risk-limit", as_of="2026-11-21")
    table = book["bybit", "BTCUSDT"]
    assert table.bracket_for(3e6) == Bracket(2, 2e6, 4e6, 0.01, 10_000.0, 50.0)
    assert table.bracket_for(1e9).tier == 2  # beyond the table: the last bracket
    assert sorted(BracketBook.from_tiers(book.to_tiers()).to_tiers(), key=lambda t: t.tier) == sorted(
        _tiers(), key=lambda t: t.tier
    )


def test_live_tiers_override_the_fallback_in_the_model() -> None:
    config = ModelConfig(leverage=(10.0,), leverage_weights=(1.0,), position_notional_usd=3e6)
    ratios, note = level_ratios(config, "bybit", "BTC", BracketBook.from_tiers(_tiers(), source="live", as_of="now"))
    # Bybit formula with mmr 1 %, deduction 10,000 at 3M notional: 1 - 0.1 + 0.01 - 10,000 / 3,000,000
    assert ratios[0, 0] == pytest.approx(0.91 - 1 / 300)
    assert "live" in note and "no bybit table" not in note


def test_impossible_tables_are_refused() -> None:
    with pytest.raises(ConfigError, match="not ordered"):
        BracketTable("x", "BTC", "BTCUSDT", (Bracket(2, 10.0, 20.0, 0.01, 0, 50), Bracket(1, 0.0, 10.0, 0.005, 0, 100)))
    with pytest.raises(ConfigError, match="impossible"):
        BracketTable("x", "BTC", "BTCUSDT", (Bracket(1, 0.0, 10.0, 1.5, 0, 50),))
    with pytest.raises(ConfigError, match="no margin brackets"):
        BracketTable("x", "BTC", "BTCUSDT", ())
    table = BracketTable("x", "BTC", "BTCUSDT", (Bracket(1, 0.0, 10.0, 0.01, 0, 50),))
    with pytest.raises(ConfigError, match="notional must be positive"):
        table.bracket_for(0.0)


def test_ccxt_tiers_convert_and_serialise_in_the_shipped_format() -> None:
    from liqmap.model.brackets import _parse_file, table_from_ccxt, table_to_json

    # peers.md 5.7 BTC brackets; the second market omits cum so continuity must supply 50 and 1,300
    tiers = [
        {"tier": 1, "minNotional": 0, "maxNotional": 50_000, "maintenanceMarginRate": 0.004, "maxLeverage": 125,
         "info": {"cum": "0.0"}},
        {"tier": 2, "minNotional": 50_000, "maxNotional": 250_000, "maintenanceMarginRate": 0.005,
         "maxLeverage": 100, "info": {"cum": "50.0"}},
        {"tier": 3, "minNotional": 250_000, "maxNotional": 1_000_000, "maintenanceMarginRate": 0.01,
         "maxLeverage": 50, "info": {"cum": "1300.0"}},
    ]
    with_cum = table_from_ccxt("binance", "BTC/USDT:USDT", tiers, source="test", as_of="2024-10")
    without = table_from_ccxt(
        "binance", "ETH/USDT:USDT", [{**t, "info": {}} for t in tiers], source="test", as_of="2024-10"
    )
    assert with_cum.venue_symbol == "BTCUSDT" and with_cum.symbol == "BTC"
    assert [b.maint_amount for b in without.brackets] == pytest.approx([0, 50, 1_300])
    text = table_to_json([with_cum, without], exchange="binance", source="test", as_of="2024-10")
    parsed = {t.venue_symbol: t for t in _parse_file(text, "test.json")}
    assert parsed["BTCUSDT"].to_rows() == with_cum.to_rows()
    assert parsed["ETHUSDT"].to_rows() == without.to_rows()
