"""One symbol vocabulary for users (``BTC``) mapped to each venue's instrument names.

liqmap covers USDT-margined linear perpetuals (USDC on Hyperliquid/dYdX). A user may type the base
asset (``btc``), a venue name (``BTCUSDT``, ``BTC-USDT-SWAP``, ``BTC_USDT``) or a ccxt unified name
(``BTC/USDT:USDT``); :func:`canonical` turns all of them into ``"BTC"``.

Venue-neutral and below the venues: the exchanges and their instrument names (``EXCHANGES``,
``venue_symbol``, ``check_exchange``) are venue facts and live in :mod:`liqmap.venues.registry`.
"""

from __future__ import annotations

import re

from liqmap.errors import UnknownSymbolError

_BASE = re.compile(r"^[A-Z0-9]{1,15}$")
# A lower-case k before an upper-case name is a 1000-multiplied coin ("kPEPE" = 1000PEPE, Hyperliquid's).
_THOUSAND = re.compile(r"^k(?P<base>[A-Z0-9]+)$")
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
    thousand = _THOUSAND.match(stripped)
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
