"""The liquidation model: pure numpy, no I/O, no clock (docs/model.md).

Public API: :class:`MarketFrame` in, :func:`compute_heatmap` (batch) or :class:`StreamingModel` (live)
out as :class:`Heatmap` / :class:`LiveColumn`; :class:`LiquidationMap` is one column's snapshot.
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
from liqmap.model.stream import LiveColumn, StreamingModel

__all__ = [
    "EXCHANGE_FAMILY",
    "Bracket",
    "BracketBook",
    "BracketTable",
    "Heatmap",
    "LiquidationMap",
    "LiveColumn",
    "MarketFrame",
    "ModelConfig",
    "StreamingModel",
    "check_leverage",
    "compute_heatmap",
    "level_ratio",
    "liq_price_mark_at_entry",
    "liq_price_mark_at_liq",
    "liquidation_price",
    "load_brackets",
    "maint_amounts_from_continuity",
]
