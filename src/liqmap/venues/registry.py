"""String -> venue module. Each module exposes ``SPEC: VenueSpec`` (see :mod:`liqmap.venues._spec`).

The one list of exchanges: :data:`EXCHANGES` is ``tuple(VENUES)``, and every venue fact
(instrument names included) lives in the venue's module. Modules are imported lazily on first use. To add
a venue, write ``liqmap/venues/<name>.py`` with its ``SPEC`` and add one line to ``VENUES``.

This module imports no venue code (nor :mod:`liqmap.venues._spec` at run time); :func:`venue_symbol`
loads the one venue it is asked about. The user vocabulary below it (:func:`liqmap.symbols.canonical`)
names no venue.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from liqmap.errors import ConfigError, UnknownSymbolError

if TYPE_CHECKING:
    from liqmap.venues._spec import VenueSpec

VENUES: dict[str, str] = {
    "binance": "liqmap.venues.binance",
    "bybit": "liqmap.venues.bybit",
    "okx": "liqmap.venues.okx",
    "bitget": "liqmap.venues.bitget",
    "gate": "liqmap.venues.gate",
    "hyperliquid": "liqmap.venues.hyperliquid",
    "dydx": "liqmap.venues.dydx",
}
EXCHANGES: tuple[str, ...] = tuple(VENUES)
"""Every exchange liqmap has a venue module for, in the registry's order."""


def get_spec(name: str) -> VenueSpec:
    """The :class:`VenueSpec` of exchange ``name`` (case-insensitive). Every registered module's ``SPEC``
    is a VenueSpec named as its key (tests/feed/test_spec_conformance.py checks them all)."""
    key = name.strip().lower()
    try:
        module_name = VENUES[key]
    except KeyError:
        raise ConfigError(f"no connector for exchange {name!r}; available: {', '.join(sorted(VENUES))}") from None
    return cast("VenueSpec", importlib.import_module(module_name).SPEC)


def available() -> list[str]:
    return sorted(VENUES)


def venue_symbol(exchange: str, symbol: str) -> str:
    """Return ``exchange``'s instrument name for the perpetual of ``symbol`` (any accepted spelling), as
    the venue's spec declares it (``VenueSpec.instruments``)."""
    return get_spec(check_exchange(exchange)).venue_symbol(symbol)


def check_exchange(exchange: str) -> str:
    """Return the exchange name normalised to lower case, or raise naming the accepted ones."""
    name = exchange.strip().lower()
    if name not in VENUES:
        raise UnknownSymbolError(f"unknown exchange {exchange!r}; accepted: {', '.join(VENUES)}")
    return name
