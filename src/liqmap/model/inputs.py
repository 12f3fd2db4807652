"""Per-bar model inputs derived from one :class:`MarketFrame` (shared by the batch and streaming engines).

For bar ``t`` (docs/model.md gives the equations and the reasons):

* ``added[t]``   USD of new positions: ``max(oi[t] - oi_ref, 0)``, ``oi_ref`` = last finite OI before ``t``;
  0 when ``oi[t]`` is NaN or no earlier finite OI exists.
* ``log_keep[t]`` log of the factor applied to every outstanding position at bar ``t`` (after the sweep,
  before the additions): ``log(oi[t]/oi_ref)`` when OI fell and ``close_rule="proportional"``, plus the
  age decay ``-ln 2 * interval_h / half_life``.
* ``long_share[t]`` share of ``added[t]`` that is long (the rest is short).
* ``n_points[t]`` number of entry points ``J_t`` (1 unless the rule spreads entries, "range" or
  "triangular"; then
  ``min(entry_points, 1 + floor((high - low) / (entry_spacing * mid)))``), each with weight ``1/J_t``;
  :meth:`FrameInputs.entries` gives their prices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liqmap.errors import ConfigError
from liqmap.model.brackets import BracketBook, load_brackets
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.liquidation import check_leverage, level_ratio

MIN_KEEP = 1e-300
"""OI falling to zero would make the book factor exactly 0 (log -inf); it is floored here instead."""

FUNDING_SCALE = 1e-4


@dataclass(frozen=True, eq=False)
class FrameInputs:
    added: np.ndarray
    log_keep: np.ndarray
    long_share: np.ndarray
    n_points: np.ndarray
    """Entry points of each bar (int64)."""
    price: np.ndarray | None
    """The single entry price per bar (rules that do not spread entries), else None."""
    low: np.ndarray
    high: np.ndarray
    close: np.ndarray
    triangular: bool = False

    def entries(self, bars: np.ndarray, j: int) -> np.ndarray:
        """Entry prices ``(len(bars), j)`` of bars that all have ``n_points == j``."""
        if self.price is not None:
            result: np.ndarray = self.price[bars][:, None]
            return result
        if self.triangular:
            return triangular_entries(self.low[bars], self.high[bars], self.close[bars], j)
        return range_entries(self.low[bars], self.high[bars], j)

    def entry_rule(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The compiled kernels' entry rule (``kernel.ENTRY_*``) and its per-bar arrays ``(price, low,
        high, close)`` (contiguous float64; ``price`` is the close, unused, when the rule spreads entries):
        the kernels compute :meth:`entries` per bar with the same arithmetic."""
        from liqmap.model.kernel import ENTRY_PRICE, ENTRY_RANGE, ENTRY_TRIANGULAR

        low, high, close = (np.ascontiguousarray(a, dtype=np.float64) for a in (self.low, self.high, self.close))
        if self.price is not None:
            return ENTRY_PRICE, np.ascontiguousarray(self.price, dtype=np.float64), low, high, close
        return (ENTRY_TRIANGULAR if self.triangular else ENTRY_RANGE), close, low, high, close


SPREAD_RULES = ("range", "triangular")


def triangular_entries(low: np.ndarray, high: np.ndarray, close: np.ndarray, j: int) -> np.ndarray:
    """``j`` prices at the quantiles ``u_k = (k + 0.5) / j`` of the triangular distribution on [low, high]
    with mode ``c`` = the close, shape (N, j):

        x(u) = low + sqrt(u (high - low)(c - low))            for u < (c - low) / (high - low)
        x(u) = high - sqrt((1 - u)(high - low)(high - c))     otherwise

    (a flat bar: every point at its price)."""
    width = high - low
    c = np.minimum(np.maximum(close, low), high)
    u = (np.arange(j) + 0.5) / j
    with np.errstate(invalid="ignore", divide="ignore"):
        mode_at = np.where(width > 0, (c - low) / np.where(width > 0, width, 1.0), 0.0)
    left = low[:, None] + np.sqrt(u[None, :] * (width * (c - low))[:, None])
    right = high[:, None] - np.sqrt((1.0 - u[None, :]) * (width * (high - c))[:, None])
    result: np.ndarray = np.where(u[None, :] < mode_at[:, None], left, right)
    return result


def range_entries(low: np.ndarray, high: np.ndarray, j: int) -> np.ndarray:
    """``j`` equally spaced prices from low to high, shape (N, j); one point = the mid ``(h + l) / 2``."""
    if j == 1:
        mid: np.ndarray = ((high + low) / 2.0)[:, None]
        return mid
    steps = np.arange(j) / (j - 1)
    result: np.ndarray = low[:, None] + (high - low)[:, None] * steps[None, :]
    return result


def points_per_bar(config: ModelConfig, high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """``J_t``: 1 unless the rule spreads entries; then ``min(entry_points, 1 + floor((h - l) / (spacing * (h + l) / 2)))``."""
    n = len(high)
    if config.entry not in SPREAD_RULES:
        return np.ones(n, dtype=np.int64)
    j = config.entry_points
    spacing = float(config.entry_spacing)
    if j == 1 or spacing <= 0.0:
        return np.full(n, j, dtype=np.int64)
    fit = np.floor((high - low) / (spacing * (high + low) / 2.0))
    result: np.ndarray = np.clip(1.0 + fit, 1.0, float(j)).astype(np.int64)
    return result


def bar_points(config: ModelConfig, high: float, low: float) -> int:
    """:func:`points_per_bar` for one bar (same arithmetic, scalar)."""
    if config.entry not in SPREAD_RULES:
        return 1
    j = config.entry_points
    spacing = float(config.entry_spacing)
    if j == 1 or spacing <= 0.0:
        return j
    fit = math.floor((high - low) / (spacing * (high + low) / 2.0))
    return int(min(float(j), max(1.0, 1.0 + fit)))


def decay_log_factor(config: ModelConfig, interval_ms: int) -> float:
    if config.decay_half_life_hours is None:
        return 0.0
    return -math.log(2.0) * (interval_ms / 3_600_000.0) / config.decay_half_life_hours


def long_share(
    config: ModelConfig,
    open_: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    taker_buy_volume: np.ndarray,
    funding: np.ndarray,
) -> np.ndarray:
    """Long share of new OI per bar for ``config.side`` (docs/model.md, "Long/short split")."""
    n = len(close)
    if config.side == "symmetric":
        return np.full(n, 0.5)
    if config.side == "candle":
        return np.where(close > open_, 1.0, np.where(close < open_, 0.0, 0.5))
    tilt = np.zeros(n)
    if config.funding_tilt:
        tilt = config.funding_tilt * np.tanh(np.nan_to_num(funding, nan=0.0) / FUNDING_SCALE)
    if config.side == "funding":
        return np.clip(0.5 + tilt, 0.0, 1.0)
    # taker: blend the taker-buy share of volume with 0.5; unknown or zero volume -> 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        buy = taker_buy_volume / volume
    buy = np.where(np.isfinite(buy) & (volume > 0), np.clip(buy, 0.0, 1.0), 0.5)
    return np.clip((1.0 - config.taker_weight) * 0.5 + config.taker_weight * buy + tilt, 0.0, 1.0)


def entry_prices(
    config: ModelConfig,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    quote_volume: np.ndarray,
) -> np.ndarray:
    """Entry prices per bar, shape (N, J): J = ``entry_points`` for ``entry="range"`` (before the spacing
    rule of :func:`points_per_bar`), else 1."""
    typical = (high + low + close) / 3.0
    if config.entry == "close":
        price = close
    elif config.entry == "typical":
        price = typical
    elif config.entry == "ohlc4":
        price = (open_ + high + low + close) / 4.0
    elif config.entry == "vwap":
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = quote_volume / volume
        usable = np.isfinite(vwap) & (volume > 0) & (vwap >= low) & (vwap <= high)
        price = np.where(usable, vwap, typical)
    elif config.entry == "range":
        return range_entries(low, high, config.entry_points)
    elif config.entry == "triangular":
        return triangular_entries(low, high, close, config.entry_points)
    else:  # pragma: no cover - ModelConfig's Literal type
        raise ConfigError(f"entry: unknown rule {config.entry!r}")
    return np.asarray(price, dtype=np.float64)[:, None]


def oi_flows(config: ModelConfig, oi: np.ndarray, interval_ms: int, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(added, log_keep)`` per bar from the OI series (NaN bars add and remove nothing); ``ref``: the
    last finite OI strictly before each bar (:meth:`MarketFrame.oi_before`)."""
    n = len(oi)
    finite = np.isfinite(oi)
    valid = finite & np.isfinite(ref)
    delta = np.where(valid, oi - np.nan_to_num(ref), 0.0)
    added = np.maximum(delta, 0.0)
    log_keep = np.zeros(n)
    if config.close_rule == "proportional":
        falling = valid & (delta < 0) & (ref > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(falling, oi / np.where(ref > 0, ref, 1.0), 1.0)
        log_keep = np.log(np.maximum(ratio, MIN_KEEP))
    return added, log_keep + decay_log_factor(config, interval_ms)


def frame_inputs(config: ModelConfig, frame: MarketFrame) -> FrameInputs:
    added, log_keep = oi_flows(config, frame.oi_usd, frame.interval_ms, frame.oi_before())
    if config.turnover > 0:
        from liqmap.model.turnover import turnover_flows

        extra_added, extra_keep = turnover_flows(config, frame)
        added, log_keep = added + extra_added, log_keep + extra_keep
    share = long_share(config, frame.open, frame.close, frame.volume, frame.taker_buy_volume, frame.funding)
    quote = getattr(frame, "quote_volume", np.full(len(frame), np.nan))
    price = None
    if config.entry not in SPREAD_RULES:
        price = entry_prices(config, frame.open, frame.high, frame.low, frame.close, frame.volume, quote)[:, 0]
    return FrameInputs(
        added=added, log_keep=log_keep, long_share=share, n_points=points_per_bar(config, frame.high, frame.low),
        price=price, low=frame.low, high=frame.high, close=frame.close, triangular=config.entry == "triangular",
    )


def level_ratios(
    config: ModelConfig, exchange: str, symbol: str, brackets: BracketBook | None = None
) -> tuple[np.ndarray, str]:
    """Liquidation level / entry, shape (2, T) for (long, short) x leverage tiers, and its provenance.

    Uses ``config.flat_mmr`` when set; otherwise the bracket containing ``config.position_notional_usd``
    from ``brackets`` (live, preferred) or the shipped tables. A venue without a table falls back to
    Binance's table for the symbol (documented; the provenance string says so).
    """
    tiers = config.leverage
    notional = config.position_notional_usd
    if config.flat_mmr is not None:
        mmr, amount, max_lev = config.flat_mmr, 0.0, None
        note = f"{exchange}: flat mmr {config.flat_mmr:g}"
    else:
        book = load_brackets() if brackets is None else load_brackets().merged(brackets)
        table = book.find(exchange, symbol)
        note = ""
        if table is None:
            table = book.find("binance", symbol)
            if table is None:
                raise ConfigError(
                    f"brackets: no margin brackets for {exchange} {symbol} (nor Binance {symbol}); "
                    "pass brackets= from the venue's live risk tiers or set ModelConfig.flat_mmr"
                )
            note = f"{exchange}: no {exchange} table, using "
        bracket = table.bracket_for(notional)
        mmr, amount, max_lev = bracket.mmr, bracket.maint_amount, bracket.max_leverage
        note += f"{table.provenance}, bracket {bracket.tier} (mmr {mmr:g}, amount {amount:g}) at ${notional:,.0f}"
    for lev in tiers:
        over = max_lev is not None and lev > max_lev
        if over and config.above_max_leverage == "cap":
            continue
        check_leverage(lev, max_lev, where=f"{exchange} {symbol} at ${notional:,.0f} notional")
    ratios = np.empty((2, len(tiers)))
    for i, lev in enumerate(tiers):
        eff = min(lev, max_lev) if max_lev is not None else lev
        for s, side in enumerate(("long", "short")):
            ratios[s, i] = level_ratio(exchange, eff, side, mmr=mmr, maint_amount=amount, notional=notional)
    return ratios, note
