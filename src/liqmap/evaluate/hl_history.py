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
from datetime import datetime
from pathlib import Path
from typing import cast

import numpy as np

from liqmap.model.exact import leverage_mix
from liqmap.model.hl_replay import Fill, Ledger, LiquidationEvent, PricePath, rebuild


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
