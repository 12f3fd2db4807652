"""Venue facts live in venues/: the exchange list is the registry's, instrument names are each spec's."""

from __future__ import annotations

import dataclasses
import sys
import types

import pytest

from liqmap.errors import UnknownSymbolError
from liqmap.venues import registry
from liqmap.venues._spec import InstrumentNames
from liqmap.venues.registry import EXCHANGES, VENUES, check_exchange, get_spec, venue_symbol


def test_the_exchange_list_is_the_registry() -> None:
    assert EXCHANGES == tuple(VENUES) == ("binance", "bybit", "okx", "bitget", "gate", "hyperliquid", "dydx")


@pytest.mark.parametrize(
    ("exchange", "template", "prefix"),
    [("binance", "{base}USDT", None), ("bybit", "{base}USDT", None), ("okx", "{base}-USDT-SWAP", None),
     ("bitget", "{base}USDT", None), ("gate", "{base}_USDT", None), ("hyperliquid", "{base}", "k"),
     ("dydx", "{base}-USD", None)],
)
def test_each_spec_declares_its_instrument_names(exchange: str, template: str, prefix: str | None) -> None:
    assert get_spec(exchange).instruments == InstrumentNames(template, thousand_prefix=prefix)


def test_each_spec_declares_its_title() -> None:
    assert [get_spec(name).title for name in EXCHANGES] == [
        "Binance", "Bybit", "OKX", "Bitget", "Gate", "Hyperliquid", "dYdX"]


def test_instrument_names() -> None:
    names = InstrumentNames("{base}", thousand_prefix="k")
    assert (names.of("PEPE"), names.of("1000PEPE"), names.of("1000")) == ("PEPE", "kPEPE", "1000")
    assert InstrumentNames("{base}-USDT-SWAP").of("1000PEPE") == "1000PEPE-USDT-SWAP"
    assert get_spec("gate").venue_symbol("eth-usdt") == "ETH_USDT"
    with pytest.raises(ValueError, match=r"has no \{base\}"):
        InstrumentNames("BTCUSDT")


def test_adding_a_venue_is_one_module_and_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("liqmap_test_kraken")
    module.SPEC = dataclasses.replace(  # type: ignore[attr-defined]
        get_spec("binance"), name="kraken", title="Kraken", instruments=InstrumentNames("PF_{base}USD"))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with pytest.raises(UnknownSymbolError, match="accepted: binance, bybit"):
        check_exchange("Kraken")
    monkeypatch.setitem(registry.VENUES, "kraken", module.__name__)
    assert check_exchange(" Kraken ") == "kraken"
    assert venue_symbol("kraken", "btcusdt") == "PF_BTCUSD"
    assert get_spec("KRAKEN").venue_symbol("ETH") == "PF_ETHUSD"
