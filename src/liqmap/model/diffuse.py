"""The diffuse layer: positions whose entries the bar-by-bar book cannot place.

The book holds positions opened during the modelled history (OI increases and turnover, at the bars'
prices). Part of the open interest is not like that: positions opened before the history, cross-margined
positions whose level moves with the account, hedges and other venues' flows that reach this OI. Their
levels are unknown; the model spreads them evenly around price. A share ``phi`` of the OI at the bar's
start, half long and half short, has liquidation levels uniform over a band of relative width ``delta``
below the bar's open (longs) and above it (shorts). Liquidated in bar ``t``:

    long_t  = phi * OI_ref * 0.5 * min(1, (open_t - low_t) / (delta * open_t))
    short_t = phi * OI_ref * 0.5 * min(1, (high_t - open_t) / (delta * open_t))

``OI_ref`` = the last finite OI before bar ``t`` (0 before the first), ``phi = ModelConfig.diffuse_share``,
``delta = ModelConfig.diffuse_band``. The layer is stationary (what it loses in a bar is replaced by
positions of the same unknown kind), so it has no state, and it is not drawn in the heatmap's columns (a
flat band carries no location); it is counted in ``swept_long/short``, in the oldest age bucket (these
positions predate the modelled history), spread over the tiers by their weights. The equations are ours;
the fit (on the first part of the data only) is in docs/model.md, "Defaults chosen by evidence".
"""

from __future__ import annotations

import numpy as np

from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame


def diffuse_swept(config: ModelConfig, frame: MarketFrame, tier_share: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(long, short) USD of the diffuse layer liquidated in each bar; ``tier_share`` = the selected tiers'
    share of the weights (1 without a tier filter)."""
    n = len(frame)
    phi = float(config.diffuse_share)
    if phi <= 0.0 or n == 0:
        return np.zeros(n), np.zeros(n)
    ref = np.nan_to_num(frame.oi_before(), nan=0.0)
    band = config.diffuse_band * frame.open
    down = np.minimum(1.0, (frame.open - frame.low) / band)
    up = np.minimum(1.0, (frame.high - frame.open) / band)
    half = phi * ref * 0.5 * tier_share
    return half * down, half * up
