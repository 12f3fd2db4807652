"""Position turnover: traded volume replaces old positions with new ones at the bar's prices.

Open interest only shows the *net* change of positions. Much of a bar's volume opens new positions
while others close, leaving OI unchanged, yet it moves liquidation levels to the current price. With
``ModelConfig.turnover = k`` (0 = off) a share

    tau_t = min(TAU_MAX, k * V_t / OI_ref)

of the outstanding book closes in bar ``t`` (every position alike, like the proportional close rule)
and the same notional, ``tau_t * OI_t``, opens at the bar's entry prices, split by the side rule.
``V_t`` is the bar's quote volume in USD (``volume * (h + l + c) / 3`` where the quote volume is
unknown), ``OI_ref`` the last finite OI before ``t``. Bars with unknown OI or volume turn nothing over.

Why: on Binance BTCUSDT hourly data (docs/evaluation.md, docs/model.md) entries driven by OI increases alone rank the
bars' realized liquidations worse than "move size x OI"; adding turnover is the change that makes the
book beat it. ``k`` is the share of volume that is turnover (order of 0.1: hourly BTC volume is
~5-15 % of OI). The equations are ours; the evidence and the fit are in docs/model.md.
"""

from __future__ import annotations

import numpy as np

from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame

TAU_MAX = 0.9
"""At most this share of the book turns over in one bar (keeps log(1 - tau) finite)."""


def turnover_share(config: ModelConfig, frame: MarketFrame) -> np.ndarray:
    """``tau_t`` per bar (0 where off or unknown)."""
    n = len(frame)
    k = float(config.turnover)
    if k <= 0.0 or n == 0:
        return np.zeros(n)
    finite = np.isfinite(frame.oi_usd)
    ref = frame.oi_before()
    quote = getattr(frame, "quote_volume", np.full(n, np.nan))
    typical = (frame.high + frame.low + frame.close) / 3.0
    volume_usd = np.where(np.isfinite(quote), quote, frame.volume * typical)
    valid = finite & np.isfinite(ref) & (ref > 0) & np.isfinite(volume_usd) & (volume_usd > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(valid, k * volume_usd / np.where(ref > 0, ref, 1.0), 0.0)
    return np.clip(tau, 0.0, TAU_MAX)


def turnover_flows(config: ModelConfig, frame: MarketFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(extra_added, extra_log_keep)`` per bar: ``tau_t * OI_t`` opened, ``log(1 - tau_t)`` kept."""
    tau = turnover_share(config, frame)
    added = np.where(tau > 0, tau * np.nan_to_num(frame.oi_usd, nan=0.0), 0.0)
    return added, np.log1p(-tau)
