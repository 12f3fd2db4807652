"""The exact map: real positions (Hyperliquid snapshots) binned by their liquidation price (pure numpy).

Input is the column dict of the ``position_snapshots`` table (``store.read``). A position counts at time
``t`` when its latest snapshot at or before ``t`` (per account and coin) is open (``size != 0``) and no
older than ``max_age_ms``; its USD notional ``|size| * mark`` lands in the price bin of its liquidation
price (the exchange's ``liquidationPx``; positions without one are counted in coverage, not in the map).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Columns = Mapping[str, NDArray[np.generic]]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class OpenPositions:
    """The tracked open positions at one instant (one entry per account and coin)."""

    account: NDArray[np.str_]
    symbol: NDArray[np.str_]
    ts: NDArray[np.int64]
    size: FloatArray
    notional: FloatArray
    liq: FloatArray
    """Liquidation price; NaN where the exchange reports none."""
    leverage: FloatArray
    margin_type: NDArray[np.str_]

    @property
    def is_long(self) -> NDArray[np.bool_]:
        return self.size > 0


def _floats(values: NDArray[np.generic]) -> FloatArray:
    """Floats with None -> NaN (store columns of nullable doubles may come back as objects)."""
    arr = np.asarray(values)
    if arr.dtype == object:
        arr = np.array([np.nan if v is None else v for v in arr.ravel()], dtype=np.float64).reshape(arr.shape)
    return np.asarray(arr, dtype=np.float64)


@dataclass(frozen=True)
class SnapshotTable:
    """The snapshot columns prepared once (sorted by time, one integer code per account and coin), so
    that the open positions at many instants cost one vectorised pass each."""

    ts: NDArray[np.int64]
    key: NDArray[np.int64]
    account: NDArray[np.str_]
    symbol: NDArray[np.str_]
    size: FloatArray
    mark: FloatArray
    liq: FloatArray
    leverage: FloatArray
    margin_type: NDArray[np.str_]

    @classmethod
    def of(cls, cols: Columns) -> SnapshotTable:
        ts = np.asarray(cols["ts_event"], dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        account = np.asarray(cols["account"]).astype(str)[order]
        symbol = np.asarray(cols["symbol"]).astype(str)[order]
        _, acc_code = np.unique(account, return_inverse=True)
        sym_names, sym_code = np.unique(symbol, return_inverse=True)
        key = acc_code.reshape(-1).astype(np.int64) * len(sym_names) + sym_code.reshape(-1)
        return cls(ts[order], key, account, symbol,
                   _floats(np.asarray(cols["size"])[order]), _floats(np.asarray(cols["mark_price"])[order]),
                   _floats(np.asarray(cols["liquidation_price"])[order]),
                   _floats(np.asarray(cols["leverage"])[order]), np.asarray(cols["margin_type"]).astype(str)[order])

    def at(self, t: int, max_age_ms: int | None = None) -> OpenPositions:
        """Latest row per (account, symbol) with ``t - max_age_ms <= ts <= t``, open ones only."""
        hi = int(np.searchsorted(self.ts, t, side="right"))
        lo = int(np.searchsorted(self.ts, t - max_age_ms, side="left")) if max_age_ms is not None else 0
        codes = self.key[lo:hi][::-1]
        _, first = np.unique(codes, return_index=True)
        idx = np.sort(hi - 1 - first)
        idx = idx[self.size[idx] != 0]
        size = self.size[idx]
        return OpenPositions(self.account[idx], self.symbol[idx], self.ts[idx], size, np.abs(size) * self.mark[idx],
                             self.liq[idx], self.leverage[idx], self.margin_type[idx])


def open_positions(cols: Columns, at: int, max_age_ms: int | None = None) -> OpenPositions:
    """Latest snapshot per (account, symbol) at or before ``at``; closed (size 0) and stale ones dropped."""
    return SnapshotTable.of(cols).at(at, max_age_ms)


def exact_liqmap(pos: OpenPositions, edges: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(long, short) USD per price bin ``[edges[i], edges[i+1])`` of the positions' liquidation prices.

    ``long[i] = sum(notional_k for long k with edges[i] <= liq_k < edges[i+1])``; same for shorts.
    Positions without a liquidation price or outside the edges are not drawn.
    """
    has = np.isfinite(pos.liq)
    out = []
    for side in (pos.is_long, ~pos.is_long):
        sel = has & side
        hist, _ = np.histogram(pos.liq[sel], bins=edges, weights=pos.notional[sel])
        out.append(hist.astype(np.float64))
    return out[0], out[1]


def exact_heatmap(cols: Columns, times: NDArray[np.int64], edges: FloatArray,
                  max_age_ms: int | None = None) -> tuple[FloatArray, FloatArray]:
    """(long, short) of shape ``(len(times), len(edges) - 1)``: :func:`exact_liqmap` at every time."""
    long = np.zeros((len(times), len(edges) - 1))
    short = np.zeros_like(long)
    table = SnapshotTable.of(cols)
    for k, t in enumerate(times):
        long[k], short[k] = exact_liqmap(table.at(int(t), max_age_ms), edges)
    return long, short


def coverage(cols: Columns, at: int, oi_base: Mapping[str, float], max_age_ms: int | None = None,
             ) -> dict[str, object]:
    """What the tracked positions cover at ``at``.

    ``accounts``: distinct accounts with a snapshot (open or flat) in the window; ``positions``: open ones;
    ``oi_share[symbol] = sum(|size|) / 2 / open_interest`` (HL's ``openInterest`` counts one side, the
    tracked longs and shorts both: each contract appears once as a long and once as a short);
    ``oldest_age_ms``: ``at`` minus the oldest latest-snapshot time among tracked accounts;
    ``without_liq``: open positions whose liquidation price is null.
    """
    ts = np.asarray(cols["ts_event"], dtype=np.int64)
    keep = ts <= at
    if max_age_ms is not None:
        keep &= ts >= at - max_age_ms
    accounts, inverse = np.unique(np.asarray(cols["account"]).astype(str)[keep], return_inverse=True)
    latest = np.full(len(accounts), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, inverse.reshape(-1), ts[keep])
    pos = open_positions(cols, at, max_age_ms)
    share: dict[str, float] = {}
    for sym, oi in oi_base.items():
        if oi > 0:
            share[sym] = float(np.abs(pos.size[pos.symbol == sym]).sum() / 2.0 / oi)
    return {"accounts": len(accounts), "positions": len(pos.size),
            "without_liq": int(np.count_nonzero(~np.isfinite(pos.liq))),
            "oi_share": share,
            "oldest_age_ms": int(at - latest.min()) if len(latest) else None}


def leverage_mix(leverage: FloatArray, notional: FloatArray, is_long: NDArray[np.bool_],
                 tiers: tuple[float, ...]) -> dict[str, object]:
    """Notional-weighted leverage distribution on ``tiers`` and the long share of notional.

    Each position's notional goes to the nearest tier in log-leverage (``argmin |ln L - ln tier|``);
    ``weights[j] = sum(notional at tier j) / sum(notional)``; ``long_share = long notional / all``.
    """
    lev = np.asarray(leverage, dtype=np.float64)
    w = np.asarray(notional, dtype=np.float64)
    ok = np.isfinite(lev) & (lev > 0) & np.isfinite(w) & (w > 0)
    lev, w, longs = lev[ok], w[ok], np.asarray(is_long)[ok]
    grid = np.log(np.asarray(tiers, dtype=np.float64))
    nearest = np.abs(np.log(lev)[:, None] - grid[None, :]).argmin(axis=1)
    total = float(w.sum())
    weights = np.bincount(nearest, weights=w, minlength=len(tiers)) / total if total > 0 else np.zeros(len(tiers))
    return {"tiers": list(tiers), "weights": [float(x) for x in weights],
            "long_share": float(w[longs].sum() / total) if total > 0 else None,
            "median_leverage": float(np.median(lev)) if len(lev) else None,
            "notional_usd": total, "positions": len(lev)}


def compare(est_long: FloatArray, est_short: FloatArray, ex_long: FloatArray, ex_short: FloatArray,
            centers: FloatArray, price: float) -> dict[str, dict[str, float | None]]:
    """Estimate vs exact per side on one price grid.

    ``corr``: Pearson correlation of the per-bin USD; ``wasserstein``: the 1-D earth-mover distance between the
    two normalised distributions, ``W1 = sum_i |F_est(i) - F_exact(i)| * width_i`` with ``F`` the CDFs over the
    bins (in price units; also as a fraction of ``price``); ``within_2pct``/``within_5pct``: share of each
    distribution's USD whose bin centre lies within 2 % / 5 % of ``price``.
    """
    widths = np.gradient(centers) if len(centers) > 1 else np.ones(1)
    near2 = np.abs(centers / price - 1.0) <= 0.02
    near5 = np.abs(centers / price - 1.0) <= 0.05
    out: dict[str, dict[str, float | None]] = {}
    for side, est, ex in (("long", est_long, ex_long), ("short", est_short, ex_short)):
        se, sx = float(est.sum()), float(ex.sum())
        corr = float(np.corrcoef(est, ex)[0, 1]) if est.std() > 0 and ex.std() > 0 else None
        w1 = float(np.sum(np.abs(np.cumsum(est) / se - np.cumsum(ex) / sx) * widths)) if se > 0 and sx > 0 else None
        out[side] = {"corr": corr, "wasserstein": w1,
                     "wasserstein_rel": w1 / price if w1 is not None else None,
                     "est_within_2pct": float(est[near2].sum() / se) if se > 0 else None,
                     "exact_within_2pct": float(ex[near2].sum() / sx) if sx > 0 else None,
                     "est_within_5pct": float(est[near5].sum() / se) if se > 0 else None,
                     "exact_within_5pct": float(ex[near5].sum() / sx) if sx > 0 else None}
    return out


def rebin(values: FloatArray, edges_from: FloatArray, edges_to: FloatArray) -> FloatArray:
    """Mass per bin moved onto other edges, spread evenly inside each source bin:
    ``out[j] = F(edges_to[j+1]) - F(edges_to[j])`` with ``F`` the piecewise-linear cumulative sum of ``values``
    over ``edges_from`` (mass outside ``edges_from`` is 0; outside ``edges_to`` it is dropped)."""
    cum = np.concatenate(([0.0], np.cumsum(np.asarray(values, dtype=np.float64))))
    return np.diff(np.interp(edges_to, edges_from, cum, left=0.0, right=float(cum[-1])))


COMPARE_KEYS = ("corr", "wasserstein_rel", "est_within_2pct", "exact_within_2pct", "est_within_5pct",
                "exact_within_5pct")


def mean_metrics(points: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per side and metric of :func:`compare`, the mean over ``points`` (None values skipped)."""
    out: dict[str, dict[str, float | None]] = {}
    for side in ("long", "short"):
        out[side] = {}
        for key in COMPARE_KEYS:
            vals = [p[side][key] for p in points if p[side][key] is not None]
            out[side][key] = float(np.mean(vals)) if vals else None
    return out
