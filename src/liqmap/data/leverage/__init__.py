"""Leverage priors learned from real positions, shipped as versioned JSON files next to this module.

``hyperliquid-2023-04.json``: the notional-weighted leverage mix of Hyperliquid accounts rebuilt from the
exchange's public early-2023 fills and deposits (``liqmap.evaluate.hl_history.prior_document``; fit
2023-02-28..04-15, checked on 04-16..05-02). A live collector's fit (``liqmap positions --fit-prior``) writes
the same shape with its own date.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from liqmap.errors import ConfigError
from liqmap.model.config import ModelConfig

LEVERAGE_DIR = Path(__file__).resolve().parent
PRIORS: dict[str, str] = {"hyperliquid": "hyperliquid-2023-04.json"}


def load_prior(name: str) -> dict[str, Any]:
    """The prior document (``leverage``, ``weights``, ``long_share``, periods, source)."""
    try:
        file = PRIORS[name]
    except KeyError:
        raise ConfigError(f"unknown leverage prior {name!r}; known: {', '.join(sorted(PRIORS))}") from None
    doc: dict[str, Any] = json.loads((LEVERAGE_DIR / file).read_text())
    return doc


def with_prior(config: ModelConfig, name: str | None) -> ModelConfig:
    """``config`` with its leverage tiers and weights replaced by the named prior (None/"default": unchanged)."""
    if name is None or name in ("", "default"):
        return config
    doc = load_prior(name)
    return dataclasses.replace(config, leverage=tuple(float(x) for x in doc["leverage"]),
                               leverage_weights=tuple(float(x) for x in doc["weights"]))
