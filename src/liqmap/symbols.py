"""One symbol vocabulary for users (``BTC``) mapped to each venue's instrument names.

liqmap covers USDT-margined linear perpetuals (USDC on Hyperliquid/dYdX). A user may type the base
asset (``btc``), a venue name (``BTCUSDT``, ``BTC-USDT-SWAP``, ``BTC_USDT``) or a ccxt unified name
(``BTC/USDT:USDT``); :func:`canonical` turns all of them into ``"BTC"``.
"""

from __future__ import annotations

import re

from liqmap.errors import UnknownSymbolError

EXCHANGES: tuple[str, ...] = ("binance", "bybit", "okx", "bitget", "gate", "hyperliquid", "dydx")

# Venue instrument name templates for the USDT (or USD) linear perpetual of a base asset.
_VENUE_TEMPLATES: dict[str, str] = {
    "binance": "{base}USDT",
    "bybit": "{base}USDT",
    "okx": "{base}-USDT-SWAP",
    "bitget": "{base}USDT",
    "gate": "{base}_USDT",
    "hyperliquid": "{base}",
    "dydx": "{base}-USD",
}

_BASE = re.compile(r"^[A-Z0-9]{1,15}$")
# Hyperliquid names 1000-multiplied coins with a lower-case k ("kPEPE" is the 1000PEPE of other venues).
_HYPERLIQUID_THOUSAND = re.compile(r"^k(?P<base>[A-Z0-9]+)$")
# Order matters: strip the longest decorations first.
_STRIP_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^(?P<base>[A-Z0-9]+)/(USDT|USDC|USD):(USDT|USDC|USD)$"),  # ccxt unified
    re.compile(r"^(?P<base>[A-Z0-9]+)-(USDT|USDC|USD)-SWAP$"),  # okx
    re.compile(r"^(?P<base>[A-Z0-9]+)[-_/](USDT|USDC|USD)$"),  # gate, dydx, plain pairs
    re.compile(r"^(?P<base>[A-Z0-9]+?)(USDT|USDC)(\.P|PERP)?$"),  # binance, bybit, bitget, tradingview
)


def canonical(symbol: str) -> str:
    """Return the user-vocabulary base asset for any accepted spelling of a perpetual.

    >>> canonical("btcusdt"), canonical("BTC-USDT-SWAP"), canonical("ETH_USDT"), canonical("sol")
    ('BTC', 'BTC', 'ETH', 'SOL')
    """
    stripped = symbol.strip()
    thousand = _HYPERLIQUID_THOUSAND.match(stripped)
    if thousand:
        return "1000" + thousand.group("base")
    text = stripped.upper()
    if not text:
        raise UnknownSymbolError("symbol is empty; expected e.g. BTC or BTCUSDT")
    for pattern in _STRIP_PATTERNS:
        match = pattern.match(text)
        if match:
            return match.group("base")
    if _BASE.match(text):
        return text
    raise UnknownSymbolError(
        f"unknown symbol {symbol!r}: expected a base asset (BTC) or a perpetual's instrument name "
        "(BTCUSDT, BTC-USDT-SWAP, BTC_USDT, BTC/USDT:USDT)"
    )


def venue_symbol(exchange: str, symbol: str) -> str:
    """Return ``exchange``'s instrument name for the perpetual of ``symbol`` (any accepted spelling)."""
    try:
        template = _VENUE_TEMPLATES[exchange]
    except KeyError:
        raise UnknownSymbolError(
            f"unknown exchange {exchange!r}; accepted: {', '.join(EXCHANGES)}"
        ) from None
    base = canonical(symbol)
    if exchange == "hyperliquid" and base.startswith("1000") and len(base) > 4:
        return "k" + base[4:]
    return template.format(base=base)


def check_exchange(exchange: str) -> str:
    """Return the exchange name normalised to lower case, or raise naming the accepted ones."""
    name = exchange.strip().lower()
    if name not in _VENUE_TEMPLATES:
        raise UnknownSymbolError(f"unknown exchange {exchange!r}; accepted: {', '.join(EXCHANGES)}")
    return name
