"""The exact map from the store (I/O glue, like :mod:`liqmap.query`): Hyperliquid position snapshots ->
per-bin liquidation notional, its heatmap over time, coverage, and a leverage prior fitted on them.

A position counts at ``t`` when its latest snapshot (per account and coin) is at most ``max_age_ms`` old
(default 6 h: a full polling cycle of ~100k accounts at 300 states a minute); see docs/model.md,
"Exact positions (Hyperliquid)".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from liqmap.errors import ConfigError, DataError
from liqmap.model import exact
from liqmap.model.grid import default_edges
from liqmap.store import Store
from liqmap.symbols import canonical
from liqmap.types import HOUR_MS

EXCHANGE = "hyperliquid"
TABLE = "position_snapshots"
DEFAULT_MAX_AGE_MS = 6 * HOUR_MS


def snapshots(store: Store, symbol: str | None, start: int | None, end: int | None) -> dict[str, np.ndarray]:
    filters: dict[str, Any] = {"exchange": EXCHANGE}
    if symbol:
        filters["symbol"] = canonical(symbol)
    return store.read(TABLE, start=start, end=end, **filters)


def latest_open_interest(store: Store, at: int | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """(oi_base, mark) per symbol: Hyperliquid's latest OI snapshot and mark at or before ``at``."""
    oi = store.read("open_interest", end=None if at is None else at + 1, exchange=EXCHANGE,
                    columns=["symbol", "ts_event", "oi_base", "oi_usd"])
    base: dict[str, float] = {}
    mark: dict[str, float] = {}
    for sym, b, usd in zip(oi["symbol"], oi["oi_base"], oi["oi_usd"], strict=True):  # time order: last wins
        if b is not None and b > 0:
            base[str(sym)] = float(b)
            if usd is not None:
                mark[str(sym)] = float(usd) / float(b)
    return base, mark


def latest_ts(store: Store, symbol: str | None = None) -> int | None:
    filters: dict[str, Any] = {"exchange": EXCHANGE}
    if symbol:
        filters["symbol"] = canonical(symbol)
    return store.latest_ts(TABLE, **filters)


def coverage(store: Store, at: int | None = None, max_age_ms: int = DEFAULT_MAX_AGE_MS) -> dict[str, Any]:
    """Accounts tracked, share of Hyperliquid OI per coin the tracked positions explain, oldest snapshot age."""
    at = latest_ts(store) if at is None else at
    if at is None:
        return {"accounts": 0, "positions": 0, "without_liq": 0, "oi_share": {}, "oldest_age_ms": None, "at": None}
    cols = snapshots(store, None, at - max_age_ms, at + 1)
    oi_base, _ = latest_open_interest(store, at)
    return {**exact.coverage(cols, at, oi_base, max_age_ms), "at": at}


def exact_map(store: Store, symbol: str, *, at: int | None = None, n_bins: int = 200,
              low: float | None = None, high: float | None = None,
              max_age_ms: int = DEFAULT_MAX_AGE_MS) -> dict[str, Any]:
    """The liquidation map of the tracked positions at ``at`` (default: the latest snapshot)."""
    sym = canonical(symbol)
    at = latest_ts(store, sym) if at is None else at
    if at is None:
        raise DataError(f"no Hyperliquid position snapshots of {sym} in the store (run `liqmap positions collect`)")
    cols = snapshots(store, sym, at - max_age_ms, at + 1)
    pos = exact.open_positions(cols, at, max_age_ms)
    oi_base, marks = latest_open_interest(store, at)
    price = marks.get(sym) or (float(np.median(pos.notional / np.abs(pos.size))) if len(pos.size) else None)
    edges = _edges(pos, price, n_bins, low, high)
    long, short = exact.exact_liqmap(pos, edges)
    return {"symbol": sym, "exchange": EXCHANGE, "layer": "exact", "at": at, "price": price,
            "price_edges": edges.tolist(), "long_usd": long.tolist(), "short_usd": short.tolist(),
            "coverage": {**exact.coverage(cols, at, {sym: oi_base[sym]} if sym in oi_base else {}, max_age_ms)}}


def _edges(pos: exact.OpenPositions, price: float | None, n_bins: int, low: float | None,
           high: float | None) -> np.ndarray:
    if low is None or high is None:
        finite = pos.liq[np.isfinite(pos.liq)]
        ref = price if price is not None else (float(np.median(finite)) if len(finite) else 1.0)
        # +-30 % of price covers the levels that matter; positions beyond are counted, not drawn
        low = ref * 0.7 if low is None else low
        high = ref * 1.3 if high is None else high
    edges = default_edges(low, high, n_bins, pad=0.0)
    if not np.all(np.isfinite(edges)) or not np.all(np.diff(edges) > 0):
        raise ConfigError(f"price range {low:g}..{high:g} is too narrow or too wide for {n_bins} bins")
    return edges


def exact_heatmap(store: Store, symbol: str, *, start: int, end: int, columns: int = 96, n_bins: int = 200,
                  max_age_ms: int = DEFAULT_MAX_AGE_MS) -> dict[str, Any]:
    """The exact map at ``columns`` evenly spaced instants of ``[start, end]`` (one heatmap column each)."""
    sym = canonical(symbol)
    cols = snapshots(store, sym, start - max_age_ms, end + 1)
    if len(cols["ts_event"]) == 0:
        raise DataError(f"no Hyperliquid position snapshots of {sym} between {start} and {end}")
    times = np.linspace(start, end, max(1, columns)).astype(np.int64)
    last = exact.open_positions(cols, end, max_age_ms)
    _, marks = latest_open_interest(store, end)
    edges = _edges(last, marks.get(sym), n_bins, None, None)
    long, short = exact.exact_heatmap(cols, times, edges, max_age_ms)
    return {"symbol": sym, "exchange": EXCHANGE, "layer": "exact", "ts": times.tolist(),
            "price_edges": edges.tolist(), "long_usd": long.tolist(), "short_usd": short.tolist()}


def fit_prior(store: Store, at: int | None = None, tiers: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0, 20.0, 40.0),
              max_age_ms: int = DEFAULT_MAX_AGE_MS) -> dict[str, Any]:
    """The notional-weighted leverage mix of the tracked open positions, dated (the shipped prior's shape)."""
    at = latest_ts(store) if at is None else at
    if at is None:
        raise DataError("no Hyperliquid position snapshots in the store")
    pos = exact.open_positions(snapshots(store, None, at - max_age_ms, at + 1), at, max_age_ms)
    mix = exact.leverage_mix(pos.leverage, pos.notional, pos.is_long, tiers)
    date = datetime.fromtimestamp(at / 1000, tz=UTC).strftime("%Y-%m-%d")
    return {"name": "hyperliquid", "version": date, "source": "liqmap positions (live clearinghouseState)",
            "leverage": list(tiers), "weights": mix["weights"], "long_share": mix["long_share"], "fit": mix}
