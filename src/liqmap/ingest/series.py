"""Reads of stored series for views: candles and realized liquidations (re-exported by :mod:`liqmap.query`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from liqmap.errors import DataError
from liqmap.ingest.frames import available_intervals, read_bars
from liqmap.store import Store
from liqmap.symbols import canonical
from liqmap.venues.registry import check_exchange

NOT_PRICED: tuple[str, ...] = ("aggregate",)
"""Pseudo-exchanges holding aggregates (Coinglass) rather than one venue's market."""


def candles_for(
    store: Store,
    symbol: str,
    start: int,
    end: int,
    *,
    exchange: str = "binance",
    interval_ms: int | None = None,
) -> dict[str, Any]:
    """OHLCV of ``exchange``'s bars opening in ``[start, end)``: arrays ``ts, open, high, low, close,
    volume`` plus ``market`` ("perp", or "spot" when only spot bars exist) and ``interval_ms``.
    ``interval_ms=None`` picks the finest stored interval."""
    coin = canonical(symbol)
    exchange = check_exchange(exchange)
    if interval_ms is None:
        stored = available_intervals(store, exchange, coin)
        choices = stored.get("perp") or stored.get("spot")
        if not choices:
            raise DataError(f"no bars stored for {exchange} {coin}")
        interval_ms = choices[0]
    bars, market = read_bars(store, exchange, coin, start, end, interval_ms)
    return {
        "ts": bars["ts_event"].astype(np.int64),
        "open": bars["open"].astype(float),
        "high": bars["high"].astype(float),
        "low": bars["low"].astype(float),
        "close": bars["close"].astype(float),
        "volume": bars["volume"].astype(float),
        "market": market,
        "interval_ms": interval_ms,
    }


@dataclass(frozen=True, eq=False)
class Realized:
    """Realized liquidations in a window.

    * ``prints``: single liquidation orders (``ts, exchange, side, price, quantity, usd``), one per event
      the exchange reported (Binance sends at most one per symbol per second: an undercount).
    * ``bars``: per-bar totals (``ts, long_usd, short_usd, exchange, coverage``) at ``interval_ms``;
      ``exchange="aggregate"`` rows are Coinglass sums over several venues (``coverage`` says which).
    """

    symbol: str
    prints: dict[str, np.ndarray]
    bars: dict[str, np.ndarray]
    interval_ms: int | None


def realized_for(
    store: Store,
    symbol: str,
    start: int,
    end: int,
    *,
    exchanges: Sequence[str] | None = None,
    interval_ms: int | None = None,
) -> Realized:
    """Realized liquidations of ``symbol`` in ``[start, end)``.

    ``exchanges=None`` takes every source; otherwise prints from those exchanges and bars from those plus
    the ``aggregate`` series (whose coverage is reported with it). Bars are at ``interval_ms`` when that
    interval is stored, else at the finest stored interval.
    """
    coin = canonical(symbol)
    wanted = None if exchanges is None else {check_exchange(e) for e in exchanges}
    prints = store.read(
        "liquidations",
        start=start,
        end=end,
        symbol=coin,
        columns=["ts_event", "exchange", "side", "price", "quantity", "usd"],
    )
    if wanted is not None:
        keep = np.isin(prints["exchange"].astype(str), list(wanted))
        prints = {k: v[keep] for k, v in prints.items()}
    prints = {("ts" if k == "ts_event" else k): v for k, v in prints.items()}
    stored = [int(i) for i in store.distinct("liquidation_bars", "interval_ms", start=start, end=end, symbol=coin)]
    chosen = (interval_ms if interval_ms in stored else stored[0]) if stored else None
    bars = store.read(
        "liquidation_bars",
        start=start,
        end=end,
        symbol=coin,
        interval_ms=chosen,
        columns=["ts_event", "long_usd", "short_usd", "exchange", "coverage"],
    )
    if wanted is not None:
        keep = np.isin(bars["exchange"].astype(str), [*wanted, *NOT_PRICED])
        bars = {k: v[keep] for k, v in bars.items()}
    bars = {("ts" if k == "ts_event" else k): v for k, v in bars.items()}
    if chosen is None:
        bars = {k: v[:0] for k, v in bars.items()}
    return Realized(coin, prints, bars, chosen)
