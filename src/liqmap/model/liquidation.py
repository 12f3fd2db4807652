"""Liquidation price of one isolated, one-way linear (USDT-margined) position, vectorised.

Notation: ``E`` entry price, ``L`` leverage, ``N = |Q| E`` position notional (USD), ``Q`` size in base coin,
``mmr`` maintenance-margin rate and ``a`` maintenance amount (Binance ``cum``, deduction elsewhere) of the
position's bracket, ``f`` an optional liquidation/taker fee rate. Isolated wallet balance ``WB = N / L``.

Two formula families cover the venues, because they differ in *where* the maintenance margin is valued:

* **Maintenance valued at the liquidation price** (:func:`liq_price_mark_at_liq`): Binance, Gate, OKX,
  Hyperliquid, dYdX. Liquidation when ``WB + Q(P - E) = Q P mmr - a`` (long):

      long  LP = [E (1 - 1/L) - a/Q] / (1 - mmr - f)
      short LP = [E (1 + 1/L) + a/Q] / (1 + mmr + f)

  Binance help centre "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts" (isolated: TMM = 0,
  UPNL = 0): ``LP = (WB + cum - side Q E) / (Q MMR - side Q)``; gist highfestiva/b71e76f5. Gate: derived from
  ``MM = notional x maintenance_rate - deduction``. OKX: same with no deduction plus taker fee ``f``
  (help centre "Tiered maintenance margin ratio rules"; derived). Hyperliquid:
  ``liq = price - side * margin_available / Q / (1 - side / maintenance_leverage)`` with
  ``margin_available = N/L - (N mmr - a)`` reduces exactly to the same expression
  (docs trading/liquidations). dYdX v4: ``p' = (e - s p) / (|s| MMF - s)`` likewise.

* **Maintenance valued at entry** (:func:`liq_price_mark_at_entry`): Bybit, Bitget. Bybit help centre
  "Liquidation Price (USDT Contract)": ``LP = E - (IM - MM)/Q`` (long), ``E + (IM - MM)/Q`` (short) with
  ``IM = N/L`` and ``MM = N mmr - a``:

      long  LP = E (1 - 1/L + mmr) - a/Q
      short LP = E (1 + 1/L - mmr) + a/Q

  Bitget: the same structure with no deduction (derived; exchanges reference section 4.5).

Because ``a/Q = a E / N``, every level is the entry price times a ratio that depends only on leverage,
side and bracket: :func:`level_ratio`. The engine computes that ratio once per (exchange, tier, side).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from liqmap.errors import ConfigError
from liqmap.model.brackets import Bracket

Family = Literal["mark_at_liq", "mark_at_entry"]

EXCHANGE_FAMILY: dict[str, Family] = {
    "binance": "mark_at_liq",
    "gate": "mark_at_liq",
    "okx": "mark_at_liq",
    "hyperliquid": "mark_at_liq",
    "dydx": "mark_at_liq",
    "bybit": "mark_at_entry",
    "bitget": "mark_at_entry",
}
"""Formula family per venue (see module docstring). Unknown venues use ``mark_at_liq``."""


def _side_sign(side: str | np.ndarray) -> np.ndarray:
    if isinstance(side, str):
        if side not in ("long", "short"):
            raise ConfigError(f"side: must be 'long' or 'short', got {side!r}")
        return np.asarray(1.0 if side == "long" else -1.0)
    sign = np.asarray(side, dtype=np.float64)
    if not np.isin(sign, (1.0, -1.0)).all():
        raise ConfigError("side: numeric sides must be +1 (long) or -1 (short)")
    return sign


def check_leverage(leverage: float | np.ndarray, max_leverage: float | None = None, where: str = "") -> None:
    """Raise :class:`ConfigError` for leverage <= 1x or above the bracket/exchange maximum."""
    lev = np.asarray(leverage, dtype=np.float64)
    label = f" ({where})" if where else ""
    if (~np.isfinite(lev) | (lev <= 1.0)).any():
        bad = lev[~np.isfinite(lev) | (lev <= 1.0)].ravel()[0]
        raise ConfigError(f"leverage: {bad}x is impossible{label}; leverage must be > 1x")
    if max_leverage is not None and (lev > max_leverage * (1 + 1e-12)).any():
        bad = lev[lev > max_leverage * (1 + 1e-12)].ravel()[0]
        raise ConfigError(f"leverage: {bad}x exceeds the maximum {max_leverage:g}x{label}")


def liq_price_mark_at_liq(
    entry: float | np.ndarray,
    leverage: float | np.ndarray,
    side: str | np.ndarray,
    *,
    mmr: float | np.ndarray = 0.0,
    maint_amount: float | np.ndarray = 0.0,
    notional: float | np.ndarray = 1.0,
    fee: float = 0.0,
    max_leverage: float | None = None,
) -> np.ndarray:
    """``LP = [E (1 - s/L) - s a E/N] / (1 - s (mmr + f))`` with ``s = +1`` long, ``-1`` short.

    Binance/Gate/OKX/Hyperliquid/dYdX isolated one-way (module docstring gives the sources).
    ``notional`` (USD) only matters through the maintenance amount ``a`` (``a/|Q| = a E / N``).
    """
    check_leverage(leverage, max_leverage)
    s = _side_sign(side)
    e = np.asarray(entry, dtype=np.float64)
    lev = np.asarray(leverage, dtype=np.float64)
    amount_per_price = np.asarray(maint_amount, dtype=np.float64) / np.asarray(notional, dtype=np.float64)
    return e * ((1.0 - s / lev) - s * amount_per_price) / (1.0 - s * (np.asarray(mmr) + fee))


def liq_price_mark_at_entry(
    entry: float | np.ndarray,
    leverage: float | np.ndarray,
    side: str | np.ndarray,
    *,
    mmr: float | np.ndarray = 0.0,
    maint_amount: float | np.ndarray = 0.0,
    notional: float | np.ndarray = 1.0,
    max_leverage: float | None = None,
) -> np.ndarray:
    """``LP = E (1 - s/L + s mmr) - s a E/N`` with ``s = +1`` long, ``-1`` short (Bybit, Bitget).

    Bybit help centre "Liquidation Price (USDT Contract)": ``LP = E -/+ (IM - MM)/Q``, ``IM = N/L``,
    ``MM = N mmr - a``. Example there: 1 BTC long at 20,000, 50x, mmr 0.5% -> 19,700.
    """
    check_leverage(leverage, max_leverage)
    s = _side_sign(side)
    e = np.asarray(entry, dtype=np.float64)
    lev = np.asarray(leverage, dtype=np.float64)
    amount_per_price = np.asarray(maint_amount, dtype=np.float64) / np.asarray(notional, dtype=np.float64)
    result: np.ndarray = e * (1.0 - s / lev + s * np.asarray(mmr)) - s * e * amount_per_price
    return result


def liquidation_price(
    exchange: str,
    entry: float | np.ndarray,
    leverage: float | np.ndarray,
    side: str | np.ndarray,
    bracket: Bracket | None = None,
    *,
    notional: float | np.ndarray = 1.0,
    fee: float = 0.0,
) -> np.ndarray:
    """Liquidation price on ``exchange`` with the maintenance terms of ``bracket`` (None: no maintenance).

    Leverage above ``bracket.max_leverage`` raises :class:`ConfigError`.
    """
    mmr = bracket.mmr if bracket else 0.0
    amount = bracket.maint_amount if bracket else 0.0
    max_lev = bracket.max_leverage if bracket else None
    family = EXCHANGE_FAMILY.get(exchange.lower(), "mark_at_liq")
    if family == "mark_at_entry":
        return liq_price_mark_at_entry(
            entry, leverage, side, mmr=mmr, maint_amount=amount, notional=notional, max_leverage=max_lev
        )
    return liq_price_mark_at_liq(
        entry, leverage, side, mmr=mmr, maint_amount=amount, notional=notional, fee=fee, max_leverage=max_lev
    )


def level_ratio(
    exchange: str, leverage: float, side: str, *, mmr: float, maint_amount: float, notional: float
) -> float:
    """Liquidation price / entry price for one (exchange, leverage, side, bracket): levels scale with entry."""
    bracket = Bracket(0, 0.0, float("inf"), mmr, maint_amount, float("inf"))
    ratio = float(liquidation_price(exchange, 1.0, leverage, side, bracket, notional=notional))
    wrong_side = ratio >= 1.0 if side == "long" else ratio <= 1.0
    if not ratio > 0 or wrong_side:
        raise ConfigError(
            f"leverage: {leverage:g}x {side} on {exchange} with mmr {mmr:g} would be liquidated at entry "
            f"(liquidation/entry = {ratio:.4f}); maintenance margin exceeds the initial margin 1/{leverage:g}"
        )
    return ratio
