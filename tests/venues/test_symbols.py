import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqmap.errors import UnknownSymbolError
from liqmap.symbols import canonical
from liqmap.venues.registry import EXCHANGES, check_exchange, venue_symbol


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("BTC", "BTC"),
        ("btc", "BTC"),
        (" eth ", "ETH"),
        ("BTCUSDT", "BTC"),
        ("ethusdt", "ETH"),
        ("BTC-USDT-SWAP", "BTC"),
        ("SOL_USDT", "SOL"),
        ("BTC/USDT:USDT", "BTC"),
        ("BTC-USD", "BTC"),
        ("1000PEPEUSDT", "1000PEPE"),
        ("BTCUSDT.P", "BTC"),
        ("G", "G"),
        ("GUSDT", "G"),
        ("kPEPE", "1000PEPE"),
    ],
)
def test_canonical_accepts_every_venue_spelling(spelling: str, expected: str) -> None:
    assert canonical(spelling) == expected


@pytest.mark.parametrize("bad", ["", "   ", "BTC USDT", "€€€", "X" * 16])
def test_canonical_refuses_garbage_with_a_message_naming_it(bad: str) -> None:
    with pytest.raises(UnknownSymbolError) as info:
        canonical(bad)
    assert "symbol" in str(info.value)


@pytest.mark.parametrize(
    ("exchange", "name"),
    [
        ("binance", "BTCUSDT"),
        ("bybit", "BTCUSDT"),
        ("okx", "BTC-USDT-SWAP"),
        ("bitget", "BTCUSDT"),
        ("gate", "BTC_USDT"),
        ("hyperliquid", "BTC"),
        ("dydx", "BTC-USD"),
    ],
)
def test_venue_symbol_maps_user_vocabulary_to_instrument_names(exchange: str, name: str) -> None:
    assert venue_symbol(exchange, "btc") == name
    assert venue_symbol(exchange, "BTCUSDT") == name


def test_hyperliquid_thousand_coins_use_its_k_prefix() -> None:
    assert venue_symbol("hyperliquid", "1000PEPEUSDT") == "kPEPE"
    assert venue_symbol("binance", "kPEPE") == "1000PEPEUSDT"


def test_unknown_exchange_lists_the_accepted_ones() -> None:
    with pytest.raises(UnknownSymbolError, match="accepted: binance"):
        venue_symbol("kraken", "BTC")
    with pytest.raises(UnknownSymbolError, match="Kraken"):
        check_exchange("Kraken")
    assert check_exchange(" OKX ") == "okx"


@given(st.from_regex(r"[A-Z]{1,8}", fullmatch=True), st.sampled_from(EXCHANGES))
def test_venue_names_round_trip_to_the_base(base: str, exchange: str) -> None:
    # A base that itself ends in USDT/USDC is ambiguous by construction; those are not round-trippable.
    if base.endswith(("USDT", "USDC", "USD")):
        return
    assert canonical(venue_symbol(exchange, base)) == base
