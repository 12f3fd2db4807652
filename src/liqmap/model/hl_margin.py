"""Hyperliquid liquidation prices from first principles (pure).

Hyperliquid docs, "Trading > Liquidations" (also quoted in /work/shared/reference/exchanges.md §6.4)::

    liq_price = price - side * margin_available / position_size / (1 - l * side)
    l = 1 / MAINTENANCE_LEVERAGE            side = +1 long, -1 short, position_size = |szi|
    margin_available (cross)    = account_value - maintenance_margin_required   (all cross positions)
    margin_available (isolated) = isolated_margin - maintenance_margin_required (this position)

and "Trading > Margining" / "Margin tiers": the maintenance margin is half the initial margin at the asset's
max leverage, ``mmr = 1 / (2 * max_leverage)``, so ``MAINTENANCE_LEVERAGE = 2 * max_leverage`` and
``l = mmr``. ``price`` is the current mark. Derivation (why the other cross positions are "held at mark"):
the account is liquidated when its value falls to its maintenance requirement,
``A + q (p - P) = M + l |q| (p - P)`` with the other positions' marks unchanged; solving for ``p`` gives the
formula above with ``margin_available = A - M``.

Tiered tables (a notional above a tier's lower bound) change ``l`` only for positions of more than $100M
on today's tables; this module uses the asset's first tier (``max_leverage``), the same simplification the
docs' formula makes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from liqmap.types import PositionSnapshot


def maintenance_rate(max_leverage: float) -> float:
    """``mmr = 1 / (2 * max_leverage)`` (HL docs, "Margin tiers": half the initial margin at max leverage)."""
    return 1.0 / (2.0 * max_leverage)


def liquidation_price(mark: float, size: float, margin_available: float, mmr: float) -> float | None:
    """``p = mark - side * margin_available / |size| / (1 - mmr * side)`` (HL docs, "Liquidations").

    None when there is no position or no positive price at which it would be liquidated (a long whose
    margin covers its whole value: the exchange then reports a null ``liquidationPx`` as well).
    """
    if size == 0:
        return None
    side = 1.0 if size > 0 else -1.0
    price = mark - side * margin_available / abs(size) / (1.0 - mmr * side)
    return price if price > 0 else None


def account_liquidation_prices(rows: Sequence[PositionSnapshot], *,
                               max_leverage: Mapping[str, float] | None = None,
                               default_max_leverage: float = 50.0) -> list[float | None]:
    """Our liquidation price of every open position of ONE account snapshot, in ``rows`` order.

    Cross: ``margin_available = account_value - maintenance`` where ``maintenance`` is the reported
    ``crossMaintenanceMarginUsed`` or, when the answer carries none, the sum of ``position_value * mmr`` over
    the account's cross positions. Isolated: ``equity - position_value * mmr`` of the position alone.
    ``mmr`` per coin from the position's ``maxLeverage`` (else ``max_leverage[symbol]``, else the default).
    """
    levs = max_leverage or {}

    def mmr_of(r: PositionSnapshot) -> float:
        return maintenance_rate(r.max_leverage or levs.get(r.symbol, default_max_leverage))

    cross = [r for r in rows if r.margin_type == "cross" and r.size != 0]
    summed = sum(r.position_value * mmr_of(r) for r in cross)
    out: list[float | None] = []
    for r in rows:
        mmr = mmr_of(r)
        if r.margin_type == "cross":
            available = r.equity - (r.maintenance if r.maintenance is not None else summed)
        else:
            available = r.equity - r.position_value * mmr
        out.append(liquidation_price(r.mark_price, r.size, available, mmr))
    return out


def matches(ours: float | None, exchange: float | None, rel_tol: float = 1e-4) -> bool:
    """Both None (no liquidation price), or equal within ``rel_tol`` of the exchange's price."""
    if ours is None or exchange is None:
        return ours is None and exchange is None
    return abs(ours - exchange) <= rel_tol * abs(exchange)
