"""Assemble a model :class:`~liqmap.model.frame.MarketFrame` from stored series.

``load_frame(store, exchange, symbol, start, end, interval_ms)`` takes the bars opening in
``[start, end)`` and aligns the other series to them:

* prices: the exchange's **perpetual** bars; if none exist in the window, its **spot** bars
  (``price_source="spot"``: Coinglass regime prices are Binance spot, ~0.05 % from the perp);
* ``oi_usd[i]``: open interest at the **end** of bar i, i.e. the last OI observation in
  ``(ts[i], ts[i] + interval]`` (``oi_base × close`` when only the coin amount is stored); NaN where
  there is none, and the model then adds or removes nothing for that bar;
* ``funding[i]``: the latest funding rate known by the end of bar i (settlements or samples), carried
  forward for at most :data:`FUNDING_MAX_AGE_MS`; NaN before the first;
* ``taker_buy_volume`` and ``quote_volume`` from the bars (NaN where the source has none).

Bars are read at ``interval_ms`` or, when only finer bars are stored (1m vision files), resampled from
the coarsest finer interval that divides it, complete buckets only.

Gaps: the model needs contiguous bars. By default a gap inside the window raises
:class:`~liqmap.errors.BadSeriesError` naming it; ``on_gap="latest"`` instead returns the latest
contiguous run (the caller decides whether that still covers what it needs).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from liqmap.errors import BadSeriesError, DataError
from liqmap.model.badticks import BadTick, clean_frame
from liqmap.model.frame import MarketFrame
from liqmap.store import Store
from liqmap.symbols import canonical
from liqmap.types import DAY_MS

FUNDING_MAX_AGE_MS = DAY_MS
GapPolicy = Literal["raise", "latest"]
_BAR_COLUMNS = ["ts_event", "open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume"]


def exchanges_with_bars(
    store: Store, symbol: str, start: int | None = None, end: int | None = None
) -> list[str]:
    """Exchanges holding bars (perp or spot) of ``symbol`` overlapping ``[start, end)``."""
    coin = canonical(symbol)
    if start is None and end is None:
        return sorted({str(row["exchange"]) for row in store.series("bars") if row["symbol"] == coin})
    return [str(e) for e in store.distinct("bars", "exchange", start=start, end=end, symbol=coin)]


def available_intervals(store: Store, exchange: str, symbol: str) -> dict[str, list[int]]:
    """``{"perp": [intervals...], "spot": [...]}`` of stored bars, finest first."""
    coin = canonical(symbol)
    out: dict[str, list[int]] = {"perp": [], "spot": []}
    for row in sorted(store.series("bars"), key=lambda r: r["interval_ms"]):
        if row["exchange"] == exchange and row["symbol"] == coin:
            out.setdefault(str(row["market"]), []).append(int(row["interval_ms"]))
    return out


def read_bars(
    store: Store,
    exchange: str,
    symbol: str,
    start: int,
    end: int,
    interval_ms: int,
    *,
    stored: dict[str, list[int]] | None = None,
) -> tuple[dict[str, np.ndarray], str]:
    """Bars opening in ``[start, end)`` at ``interval_ms`` and their market ("perp" or "spot").

    Perpetual bars are preferred; spot bars are the fallback. When no bars of ``interval_ms`` are stored
    but finer bars that divide it are (e.g. 1m vision files for a 1h view), those are resampled; only
    complete buckets are kept (an incomplete hour is a gap, not a short bar). ``stored`` is
    :func:`available_intervals` when the caller already has it (it is a scan of the bars table).
    """
    coin = canonical(symbol)
    if stored is None:
        stored = available_intervals(store, exchange, coin)
    for market in ("perp", "spot"):
        if interval_ms in stored.get(market, []):
            bars = store.read(
                "bars",
                start=start,
                end=end,
                columns=_BAR_COLUMNS,
                exchange=exchange,
                symbol=coin,
                market=market,
                interval_ms=interval_ms,
            )
            if len(bars["ts_event"]):
                return bars, market
        finer = [i for i in stored.get(market, []) if i < interval_ms and interval_ms % i == 0]
        if finer:
            bars = store.resample_bars(
                start=start,
                end=end,
                interval_ms=interval_ms,
                source_interval_ms=max(finer),
                exchange=exchange,
                symbol=coin,
                market=market,
            )
            if len(bars["ts_event"]):
                return {name: bars[name] for name in _BAR_COLUMNS}, market
    return {name: np.empty(0) for name in _BAR_COLUMNS}, "perp"


def _contiguous(bars: dict[str, np.ndarray], exchange: str, coin: str, interval_ms: int,
                on_gap: GapPolicy) -> dict[str, np.ndarray]:
    """The bars without a gap: refused with the first gap named (``on_gap="raise"``) or only the bars after
    the last gap."""
    ts = bars["ts_event"].astype(np.int64)
    gaps = np.flatnonzero(np.diff(ts) != interval_ms)
    if not gaps.size:
        return bars
    if on_gap == "raise":
        g = int(gaps[0])
        raise BadSeriesError(
            f"{exchange} {coin}: {gaps.size} gap(s) in the bars; the first after ts={int(ts[g])} "
            f"(next bar at {int(ts[g + 1])}); choose a window without gaps"
        )
    first = int(gaps[-1]) + 1
    return {k: v[first:] for k, v in bars.items()}


def _oi_at_bar_ends(store: Store, exchange: str, coin: str, ts: np.ndarray, ends: np.ndarray,
                    close: np.ndarray) -> np.ndarray:
    """OI in USD at each bar's end: the last value stamped in ``(ts, end]`` (``oi_usd``, else ``oi_base x
    close``), NaN where none."""
    oi = store.read(
        "open_interest",
        start=int(ts[0]) + 1,
        end=int(ends[-1]) + 1,
        columns=["ts_event", "oi_usd", "oi_base"],
        exchange=exchange,
        symbol=coin,
    )
    if not len(oi["ts_event"]):
        return np.full(len(ts), np.nan)
    value = np.where(np.isfinite(oi["oi_usd"].astype(float)), oi["oi_usd"].astype(float), np.nan)
    oi_ts = oi["ts_event"].astype(np.int64)
    j = np.searchsorted(oi_ts, ends, side="right") - 1
    inside = (j >= 0) & (oi_ts[np.clip(j, 0, None)] > ts)
    picked = value[np.clip(j, 0, None)]
    base = oi["oi_base"].astype(float)[np.clip(j, 0, None)]
    picked = np.where(np.isfinite(picked), picked, base * close)
    return np.where(inside, picked, np.nan)


def _funding_at_bar_ends(store: Store, exchange: str, coin: str, ts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The funding rate in force at each bar's end: the last one stamped at or before it and at most
    ``FUNDING_MAX_AGE_MS`` old, NaN otherwise."""
    fund = store.read(
        "funding",
        start=int(ts[0]) - FUNDING_MAX_AGE_MS,
        end=int(ends[-1]) + 1,
        columns=["ts_event", "rate"],
        exchange=exchange,
        symbol=coin,
    )
    if not len(fund["ts_event"]):
        return np.full(len(ts), np.nan)
    f_ts = fund["ts_event"].astype(np.int64)
    j = np.searchsorted(f_ts, ends, side="right") - 1
    fresh = (j >= 0) & (ends - f_ts[np.clip(j, 0, None)] <= FUNDING_MAX_AGE_MS)
    return np.where(fresh, fund["rate"].astype(float)[np.clip(j, 0, None)], np.nan)


def load_frame(
    store: Store,
    exchange: str,
    symbol: str,
    start: int,
    end: int,
    interval_ms: int,
    *,
    on_gap: GapPolicy = "raise",
    stored: dict[str, list[int]] | None = None,
) -> MarketFrame:
    """Bars opening in ``[start, end)`` of ``exchange``/``symbol`` with OI and funding aligned (see module doc).
    ``stored``: :func:`available_intervals` when the caller already has it."""
    return load_flagged_frame(store, exchange, symbol, start, end, interval_ms, on_gap=on_gap, stored=stored)[0]


def load_flagged_frame(
    store: Store,
    exchange: str,
    symbol: str,
    start: int,
    end: int,
    interval_ms: int,
    *,
    on_gap: GapPolicy = "raise",
    stored: dict[str, list[int]] | None = None,
) -> tuple[MarketFrame, list[BadTick]]:
    """:func:`load_frame` and the wicks its cleaning clipped (:func:`liqmap.model.badticks.clean_frame`)."""
    coin = canonical(symbol)
    if stored is None:
        stored = available_intervals(store, exchange, coin)
    bars, price_source = read_bars(store, exchange, coin, start, end, interval_ms, stored=stored)
    if len(bars["ts_event"]) == 0:
        raise DataError(
            f"no {interval_ms // 60_000}m bars of {exchange} {coin} in the window; stored bar intervals "
            f"(minutes): perp {[i // 60_000 for i in stored['perp']]}, spot {[i // 60_000 for i in stored['spot']]}"
        )
    bars = _contiguous(bars, exchange, coin, interval_ms, on_gap)
    # asarray: the store's columns are already int64 / float64 (astype would copy each one)
    ts = np.asarray(bars["ts_event"], dtype=np.int64)
    ends = ts + interval_ms
    close = np.asarray(bars["close"], dtype=np.float64)
    frame = MarketFrame(
        exchange=exchange,
        symbol=coin,
        interval_ms=interval_ms,
        ts=ts,
        open=np.asarray(bars["open"], dtype=np.float64),
        high=np.asarray(bars["high"], dtype=np.float64),
        low=np.asarray(bars["low"], dtype=np.float64),
        close=close,
        volume=np.asarray(bars["volume"], dtype=np.float64),
        oi_usd=_oi_at_bar_ends(store, exchange, coin, ts, ends, close),
        taker_buy_volume=np.asarray(bars["taker_buy_volume"], dtype=np.float64),
        quote_volume=np.asarray(bars["quote_volume"], dtype=np.float64),
        funding=_funding_at_bar_ends(store, exchange, coin, ts, ends),
        price_source=price_source,
        oi_source=f"{exchange} open_interest at bar end",
    )
    # Implausible wicks (a x10 print) are clipped before any model sees them (liqmap.model.badticks).
    return clean_frame(frame)
