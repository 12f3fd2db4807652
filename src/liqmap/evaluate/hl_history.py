"""Hyperliquid's public early-2023 history (fills with accounts, deposits, 62 liquidations): loading, the
liquidation check of :mod:`liqmap.model.hl_replay`, and the leverage mix of the rebuilt accounts.

Files (Hyperliquid's historical-data repository, copied in tests/fixtures/hyperliquid_2023/):
``non_mm_trades.csv.gz`` (time, user, coin, side Bid/Ask, px, sz, crossed), ``non_mm_ledger_updates.csv``
(time, user, delta_usd), ``liquidations.csv`` (time, user, liquidated_ntl_pos, liquidated_account_value,
leverage_type). Times are ISO seconds (UTC).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from liqmap.errors import DataError
from liqmap.model.config import ModelConfig
from liqmap.model.engine import compute_heatmap
from liqmap.model.exact import compare, leverage_mix, mean_metrics, rebin
from liqmap.model.frame import MarketFrame
from liqmap.model.hl_margin import account_liquidation_prices
from liqmap.model.hl_replay import Account, Fill, Ledger, LiquidationEvent, PricePath, rebuild
from liqmap.model.result import Heatmap


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def load(folder: Path) -> tuple[list[Fill], list[Ledger], list[LiquidationEvent]]:
    with gzip.open(folder / "non_mm_trades.csv.gz", "rt", newline="") as fh:
        fills = [Fill(_ms(r["time"]), r["user"], r["coin"], float(r["sz"]) * (1.0 if r["side"] == "Bid" else -1.0),
                      float(r["px"])) for r in csv.DictReader(fh)]
    with open(folder / "non_mm_ledger_updates.csv", newline="") as fh:
        ledger = [Ledger(_ms(r["time"]), r["user"], float(r["delta_usd"])) for r in csv.DictReader(fh)]
    with open(folder / "liquidations.csv", newline="") as fh:
        events = [LiquidationEvent(_ms(r["time"]), r["user"], float(r["liquidated_ntl_pos"]),
                                   float(r["liquidated_account_value"]), r["leverage_type"])
                  for r in csv.DictReader(fh)]
    return fills, ledger, events


PRIOR_TIERS: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0, 20.0, 40.0)
MIN_LEVERAGE = 1.5
"""Positions of accounts levered below this are left out of the mix (they cannot be liquidated by any
plausible move; their notional share is reported as ``below_min_share``)."""


def account_leverage_mix(fills: list[Fill], ledger: list[Ledger], times: list[int],
                         tiers: tuple[float, ...] = PRIOR_TIERS, min_leverage: float = MIN_LEVERAGE,
                         ) -> dict[str, object]:
    """Notional-weighted effective leverage of the rebuilt accounts sampled at ``times`` (marks = last traded
    price). A position's leverage is its account's: ``sum |s_c| P_c / account value`` (cross; the files do
    not say which leverage setting each account chose), its weight ``|s| P``."""
    path = PricePath.of(fills)
    lev: list[float] = []
    notional: list[float] = []
    longs: list[bool] = []
    for t in times:
        for acct in rebuild(fills, ledger, t).values():
            if not acct.size:
                continue
            marks = {c: path.mark(c, t) or acct.entry[c] for c in acct.size}
            value = acct.value(marks)
            total = sum(abs(s) * marks[c] for c, s in acct.size.items())
            if value <= 0 or total <= 0:
                continue
            for c, s in acct.size.items():
                lev.append(total / value)
                notional.append(abs(s) * marks[c])
                longs.append(s > 0)
    lev_a, w_a = np.array(lev), np.array(notional)
    keep = lev_a >= min_leverage
    mix = leverage_mix(lev_a[keep], w_a[keep], np.array(longs, dtype=bool)[keep], tiers)
    mix["below_min_share"] = float(w_a[~keep].sum() / w_a.sum()) if w_a.sum() > 0 else None
    return mix


def prior_document(folder: Path, split: str = "2023-04-16") -> dict[str, object]:
    """The shipped ``hyperliquid`` leverage prior: fit on daily samples before ``split``, checked after it
    (``check``: the same mix on the later part; ``total_variation = sum |w_fit - w_check| / 2``)."""
    fills, ledger, _ = load(folder)
    day = 86_400_000
    first, cut = _ms("2023-02-28T00:00:00Z"), _ms(f"{split}T00:00:00Z")
    last = max(f.ts for f in fills)
    fit = account_leverage_mix(fills, ledger, list(range(first, cut, day)))
    check = account_leverage_mix(fills, ledger, list(range(cut, last + 1, day)))
    tv = 0.5 * float(np.abs(np.array(fit["weights"]) - np.array(check["weights"])).sum())
    return {"name": "hyperliquid", "version": "2023-04",
            "source": "Hyperliquid public 2023 fills + deposits (non-market-maker accounts), rebuilt per account "
                      "(liqmap.model.hl_replay); effective leverage = account notional / account value",
            "fit_period": ["2023-02-28", split], "check_period": [split, "2023-05-02"],
            "leverage": list(PRIOR_TIERS), "weights": [round(float(w), 4) for w in cast(list[float], fit["weights"])],
            "long_share": round(cast(float, fit["long_share"]), 4), "fit": fit, "check": check,
            "total_variation": round(tv, 4)}


def _hourly_candles(coin_fills: list[Fill], start: int, n: int) -> tuple[np.ndarray, ...]:
    """OHLC and volume (summed ``|size|``) of the fills in each hour from ``start``; an hour without fills
    repeats the last close with volume 0."""
    hour = 3_600_000
    o, h, lo, c, v = (np.full(n, np.nan) for _ in range(5))
    for f in coin_fills:
        k = (f.ts - start) // hour
        if np.isnan(o[k]):
            o[k] = h[k] = lo[k] = f.price
            v[k] = 0.0
        h[k], lo[k], c[k] = max(h[k], f.price), min(lo[k], f.price), f.price
        v[k] += abs(f.size)
    for k in range(n):
        if np.isnan(o[k]):
            o[k] = h[k] = lo[k] = c[k] = c[k - 1]
            v[k] = 0.0
    return o, h, lo, c, v


_Exact = tuple[np.ndarray, np.ndarray, np.ndarray]  # liquidation prices, position USD, is-long


def _exact_levels(accounts: dict[str, Account], coin: str, end: int, marks: dict[str, float],
                  mmr: float) -> _Exact:
    """Every account's ``coin`` position at ``end``: its cross-margin liquidation price
    (:func:`account_liquidation_prices`, max leverage ``1 / (2 mmr)``), USD value and side."""
    liq, usd, longs = [], [], []
    for user, a in accounts.items():
        if coin not in a.size:
            continue
        rows = a.snapshots(user, end, marks, "cross")
        for r, p in zip(rows, account_liquidation_prices(rows, default_max_leverage=1 / (2 * mmr)), strict=True):
            if r.symbol == coin and p is not None:
                liq.append(p)
                usd.append(r.position_value)
                longs.append(r.size > 0)
    return np.array(liq), np.array(usd), np.array(longs, dtype=bool)


def _replay_hours(fills: list[Fill], ledger: list[Ledger], coin: str, start: int, close: np.ndarray,
                  due: Callable[[int, int], bool], mmr: float) -> tuple[np.ndarray, dict[int, _Exact]]:
    """Fills and ledger updates in time order, hour by hour: the OI at each hour's end (rebuilt long size x
    close) and the exact levels at the hours ``k`` where ``due(k, end)``."""
    hour, n = 3_600_000, len(close)
    events: list[tuple[int, int, Fill | Ledger]] = sorted(
        [(f.ts, 1, f) for f in fills] + [(g.ts, 0, g) for g in ledger], key=lambda e: (e[0], e[1]))
    accounts: dict[str, Account] = {}
    marks: dict[str, float] = {}
    oi = np.zeros(n)
    exact_at: dict[int, _Exact] = {}
    i = 0
    for k in range(n):
        end = start + (k + 1) * hour
        while i < len(events) and events[i][0] < end:
            ts, _, ev = events[i]
            acct = accounts.setdefault(ev.user, Account())
            if isinstance(ev, Fill):
                acct.apply_fill(ev.coin, ev.size, ev.price, ts)
                marks[ev.coin] = ev.price
            else:
                acct.cash += ev.delta_usd
            i += 1
        oi[k] = sum(max(a.size.get(coin, 0.0), 0.0) for a in accounts.values()) * close[k]
        if due(k, end):
            exact_at[k] = _exact_levels(accounts, coin, end, marks, mmr)
    return oi, exact_at


def _compare_point(heat: Heatmap, k: int, exact: _Exact, price: float,
                   n_bins: int) -> dict[str, dict[str, float | None]]:
    """:func:`compare` of column ``k`` against the exact levels on ``n_bins`` bins over price +-30 %."""
    liq_a, usd_a, long_a = exact
    edges = np.linspace(price * 0.7, price * 1.3, n_bins + 1)
    ex_long, _ = np.histogram(liq_a[long_a], bins=edges, weights=usd_a[long_a])
    ex_short, _ = np.histogram(liq_a[~long_a], bins=edges, weights=usd_a[~long_a])
    est_long = rebin(heat.long[k], heat.price_edges, edges)
    est_short = rebin(heat.short[k], heat.price_edges, edges)
    return compare(est_long, est_short, ex_long.astype(float), ex_short.astype(float),
                   0.5 * (edges[:-1] + edges[1:]), price)


def estimate_vs_reconstruction(folder: Path, coin: str = "ETH", *, config: ModelConfig | None = None,
                               every_hours: int = 24, warmup_days: int = 14, n_bins: int = 200,
                               mmr: float = 0.0075, since: str | None = None) -> dict[str, Any]:
    """Estimate vs exact on real 2023 data: the model on hourly candles built from the coin's fills and the
    open interest of the rebuilt (non-market-maker) accounts, against those accounts' own liquidation levels.

    Candles: OHLC of the fills in each hour (an hour without fills repeats the last close, volume 0); volume
    = fills' size. OI at the end of each hour = sum of the rebuilt long sizes times the close (one side).
    Exact levels: :func:`account_liquidation_prices` of each account at the hour's marks (cross; ``mmr``).
    Compared every ``every_hours`` after ``warmup_days`` with :func:`liqmap.model.exact.compare` on a
    price +-30 % grid (only instants from ``since``, an ISO date, when given). MM accounts are missing from
    both sides: the comparison is like for like. ``oi_usd`` of the frame is returned for checks.
    """
    fills, ledger, _ = load(folder)
    hour = 3_600_000
    coin_fills = sorted((f for f in fills if f.coin == coin), key=lambda f: f.ts)
    if not coin_fills:
        raise DataError(f"no {coin} fills in {folder}")
    start = coin_fills[0].ts // hour * hour
    n = (coin_fills[-1].ts // hour * hour - start) // hour + 1
    o, h, lo, c, v = _hourly_candles(coin_fills, start, n)
    since_ms = None if since is None else _ms(f"{since}T00:00:00Z")

    def due(k: int, end: int) -> bool:
        return (since_ms is None or end > since_ms) and k >= warmup_days * 24 and (k + 1) % every_hours == 0

    oi, exact_at = _replay_hours(fills, ledger, coin, start, c, due, mmr)
    frame = MarketFrame("hyperliquid", coin, hour, start + hour * np.arange(n), o, h, lo, c, v, oi,
                        oi_source="rebuilt non-MM accounts (long side)")
    wide = np.linspace(float(lo.min()) / 2.0, float(h.max()) * 2.0, 4001)
    heat = compute_heatmap(frame, config or ModelConfig(), price_edges=wide)
    points: list[dict[str, Any]] = []
    for k, exact in exact_at.items():
        if not len(exact[0]):
            continue
        price = float(c[k])
        m = _compare_point(heat, k, exact, price, n_bins)
        points.append({"at": int(start + (k + 1) * hour), "price": price, "exact_usd": float(exact[1].sum()),
                       **m})
    mean = mean_metrics(points)
    return {"coin": coin, "points": points, "mean": mean, "bars": int(n), "start": int(start),
            "oi_usd": oi.tolist(), "close": c.tolist()}
