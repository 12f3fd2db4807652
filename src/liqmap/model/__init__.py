"""The liquidation model: pure numpy, no I/O, no clock (docs/model.md).

Public API: :class:`MarketFrame` in, :func:`compute_heatmap` out as :class:`Heatmap`;
:class:`LiquidationMap` is one column's snapshot. Live views continue a warm book bar by bar
(:func:`liqmap.model.engine.warm_book`, :func:`liqmap.model.engine.advance_book`); the per-bar
:mod:`liqmap.model.reference` is the test oracle.
Liquidation prices per venue formula family and the margin-bracket tables are exported too.
"""

from liqmap.model.brackets import (
    Bracket,
    BracketBook,
    BracketTable,
    load_brackets,
    maint_amounts_from_continuity,
)
from liqmap.model.config import ModelConfig
from liqmap.model.engine import compute_heatmap
from liqmap.model.frame import MarketFrame
from liqmap.model.liquidation import (
    EXCHANGE_FAMILY,
    check_leverage,
    level_ratio,
    liq_price_mark_at_entry,
    liq_price_mark_at_liq,
    liquidation_price,
)
from liqmap.model.result import Heatmap, LiquidationMap

__all__ = [
    "EXCHANGE_FAMILY",
    "Bracket",
    "BracketBook",
    "BracketTable",
    "Heatmap",
    "LiquidationMap",
    "MarketFrame",
    "ModelConfig",
    "check_leverage",
    "compute_heatmap",
    "level_ratio",
    "liq_price_mark_at_entry",
    "liq_price_mark_at_liq",
    "liquidation_price",
    "load_brackets",
    "maint_amounts_from_continuity",
]
