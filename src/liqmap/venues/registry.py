"""String -> venue module. Each module exposes ``SPEC: VenueSpec`` (see :mod:`liqmap.venues._spec`).

Modules are imported lazily on first use. To add a venue, add one line to ``VENUES``.
"""

from __future__ import annotations

import importlib

from liqmap.errors import ConfigError
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


def get_spec(name: str) -> VenueSpec:
    """The :class:`VenueSpec` of exchange ``name`` (case-insensitive)."""
    key = name.strip().lower()
    try:
        module_name = VENUES[key]
    except KeyError:
        raise ConfigError(f"no connector for exchange {name!r}; available: {', '.join(sorted(VENUES))}") from None
    spec = importlib.import_module(module_name).SPEC
    if not isinstance(spec, VenueSpec):
        raise TypeError(f"{module_name}.SPEC is not a VenueSpec")
    return spec


def available() -> list[str]:
    return sorted(VENUES)
