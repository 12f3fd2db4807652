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


def account_leverage_mix(fills: list[Fill], ledger: list[Ledger], times: list[int],
                         tiers: tuple[float, ...]) -> dict[str, object]:
    """Notional-weighted effective leverage (account notional / account value, cross) of every rebuilt
    account holding positions, sampled at ``times`` (marks = last traded price), on ``tiers``."""
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
    return leverage_mix(np.array(lev), np.array(notional), np.array(longs), tiers)
